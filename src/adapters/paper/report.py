"""The paper run's report: what happened, in numbers, and invariants checked against the exchange.

`build_report` reads the run's end state from the ports only (the repository's events, orders,
fills and positions; the manager's and tracker's books; the paper engine's own records as the
exchange's truth) and returns a `PaperReport`, a frozen value; `format_report` prints it.

The invariants (each a line of the report; the run fails when one breaks):

1. every proposal is accounted for: executed (it reached the exchange) or refused, with a
   reason; exactly one exchange order per executed proposal, none for a refused one;
2. every exchange trade is stored exactly once as a fill (the stored fills are the trades);
3. every position's size is its entry fills minus its exit fills (from the stored fills, net of
   a fee charged in base), and the book's open positions are the store's;
4. no open position without a stop: each has an open stop-loss order at the exchange for its
   whole size, unless it is dust below the exchange minimum that an alert reported;
5. nothing left behind: no order of a closed position is still open, and the manager's open
   orders are exactly the exchange's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs
from returns.result import Result, Success

from adapters.memory.simulated import SimulatedExchange
from adapters.paper.market import Bar
from execution_core.config import ExecutionConfig
from execution_core.domain.enums import FeeCurrency, OrderRole, OrderSide, OrderStatus
from execution_core.domain.events import AlertRaised, OrderCreated, PositionClosed, StopMoved
from execution_core.domain.numbers import ZERO
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import Position
from execution_core.domain.proposals import TradeProposal, client_order_id_for
from execution_core.ports import Repository
from execution_core.service.manager import OrderExecutionManager
from execution_core.service.results import ExecutionResult, PollSummary
from execution_core.service.tracker import ModifyFailure, PositionTracker

VALUATION_QUOTE: Final = "USDT"
_ROLES: Final = (OrderRole.ENTRY, OrderRole.STOP_LOSS, OrderRole.TAKE_PROFIT, OrderRole.EXIT)
_STATUSES: Final = tuple(OrderStatus)


# --------------------------------------------------------------------------- what the run records
@attrs.define(kw_only=True)
class RunRecord:
    """The run as it goes: the wired service, the proposals and their results, what it saw."""

    config_seed: int
    proposals_requested: int
    tick_seconds: float
    started_at: datetime
    manager: OrderExecutionManager
    tracker: PositionTracker
    exchange: SimulatedExchange
    repository: Repository
    execution: ExecutionConfig
    start_balances: Mapping[str, Decimal]
    start_prices: Mapping[str, Decimal]
    finished_at: datetime | None = None
    ticks: int = 0
    proposals: list[tuple[TradeProposal, ExecutionResult]] = attrs.field(factory=list)
    polls: list[PollSummary] = attrs.field(factory=list)
    status_calls: list[int] = attrs.field(factory=list)
    """Per monitoring pass: the `order_status` calls the exchange counted during it."""
    triggers: Counter[str] = attrs.field(factory=Counter)
    snapshots: int = 0
    trailing_results: list[tuple[str, Result[Position, ModifyFailure]]] = attrs.field(factory=list)
    lows: dict[str, Decimal] = attrs.field(factory=dict)
    highs: dict[str, Decimal] = attrs.field(factory=dict)
    closes: dict[str, Decimal] = attrs.field(factory=dict)

    def observe(self, bar: Bar) -> None:
        """Keep the range and last close of `bar`'s symbol."""
        symbol = bar.symbol
        self.lows[symbol] = min(self.lows.get(symbol, bar.low), bar.low)
        self.highs[symbol] = max(self.highs.get(symbol, bar.high), bar.high)
        self.closes[symbol] = bar.close


# --------------------------------------------------------------------------- the report
@attrs.frozen(kw_only=True)
class PriceLine:
    """One symbol's path over the run."""

    symbol: str
    start: Decimal
    end: Decimal
    low: Decimal
    high: Decimal


@attrs.frozen(kw_only=True)
class PositionLine:
    """One position at the end: sizes, levels, and P&L net of fees (in its quote currency)."""

    id: str
    symbol: str
    quote: str
    side: str
    opened_size: Decimal
    size: Decimal
    entry_price: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    trailing: bool
    stop_trailed: bool
    """Whether the stop ever moved by trailing (a `StopMoved` with reason "trailing")."""
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    """At the last price, net of the entry fees and the estimated exit fee; None when closed."""
    last_price: Decimal
    close_reason: str | None

    @property
    def is_open(self) -> bool:
        """Whether the position still holds something."""
        return self.close_reason is None


@attrs.frozen(kw_only=True)
class PnlLine:
    """One symbol's positions: how many, and their P&L net of fees in the symbol's quote."""

    symbol: str
    quote: str
    opened: int
    closed: int
    realized: Decimal
    unrealized: Decimal

    @property
    def total(self) -> Decimal:
        """Realized + unrealized."""
        return self.realized + self.unrealized


@attrs.frozen(kw_only=True)
class BalanceLine:
    """One asset at the start and at the end of the run."""

    asset: str
    start: Decimal
    end: Decimal
    available: Decimal


@attrs.frozen(kw_only=True)
class Invariant:
    """One checked rule: whether it held, and what was checked or what broke."""

    name: str
    ok: bool
    detail: str


@attrs.frozen(kw_only=True)
class PaperReport:
    """Everything the report prints, as values (deterministic per seed, but `wall_seconds`)."""

    seed: int
    proposals_requested: int
    proposals_generated: int
    executed: int
    refused: Mapping[str, int]
    ticks: int
    simulated_seconds: float
    prices: tuple[PriceLine, ...]
    orders: Mapping[str, Mapping[str, int]]
    """Per role, per status: how many orders ended there."""
    entry_fills: int
    exit_fills: int
    fees: Mapping[str, Decimal]
    positions: tuple[PositionLine, ...]
    pnl: tuple[PnlLine, ...]
    closes: Mapping[str, int]
    balances: tuple[BalanceLine, ...]
    equity_start: Decimal | None
    equity_end: Decimal | None
    alerts: Mapping[str, int]
    """Per `source/severity`."""
    alert_examples: Mapping[str, str]
    """Per `source/severity`: the first message."""
    triggers: Mapping[str, int]
    snapshots: int
    trailing_attached: int
    trailing_refused: tuple[str, ...]
    polls: int
    status_calls_per_pass: Mapping[int, int]
    """How many monitoring passes made 0, 1, 2, ... `order_status` calls (the exchange's count)."""
    invariants: tuple[Invariant, ...]
    wall_seconds: float = attrs.field(default=0.0, eq=False)

    @property
    def ok(self) -> bool:
        """Whether every invariant held."""
        return all(invariant.ok for invariant in self.invariants)

    @property
    def open_positions(self) -> tuple[PositionLine, ...]:
        """The positions still open at the end."""
        return tuple(p for p in self.positions if p.is_open)

    @property
    def closed_positions(self) -> tuple[PositionLine, ...]:
        """The positions closed during the run."""
        return tuple(p for p in self.positions if not p.is_open)


# --------------------------------------------------------------------------- building it
@attrs.frozen(kw_only=True)
class _Stored:
    """What the repository holds: every order (from its OrderCreated event) and its fills."""

    orders: tuple[Order, ...]
    fills: Mapping[str, tuple[Fill, ...]]
    alerts: tuple[AlertRaised, ...]
    close_reasons: Mapping[str, str]
    trailed: frozenset[str]
    positions: Mapping[str, Position]


async def _stored(repository: Repository, position_ids: Iterable[str]) -> _Stored:
    orders: list[Order] = []
    alerts: list[AlertRaised] = []
    reasons: dict[str, str] = {}
    trailed: set[str] = set()
    for stored in await repository.load_events():
        event = stored.event
        if isinstance(event, OrderCreated):
            order = await repository.load_order(event.order.id)
            orders.append(order if order is not None else event.order)
        elif isinstance(event, AlertRaised):
            alerts.append(event)
        elif isinstance(event, PositionClosed):
            reasons[event.position_id] = event.reason
        elif isinstance(event, StopMoved) and event.reason == "trailing":
            trailed.add(event.position_id)
    fills = {order.id: tuple(await repository.load_fills(order.id)) for order in orders}
    positions: dict[str, Position] = {}
    for position_id in position_ids:
        position = await repository.load_position(position_id)
        if position is not None:
            positions[position_id] = position
    return _Stored(
        orders=tuple(orders),
        fills=fills,
        alerts=tuple(alerts),
        close_reasons=reasons,
        trailed=frozenset(trailed),
        positions=positions,
    )


async def build_report(record: RunRecord) -> PaperReport:
    """The report of a finished run (see the module docstring for the invariants)."""
    manager = record.manager
    instruments = manager.instruments.by_symbol
    executed = [(p, r) for p, r in record.proposals if r.success]
    refused = Counter(_refusal_reason(r) for _, r in record.proposals if not r.success)
    entry_ids = [r.order_id for _, r in executed if r.order_id is not None]
    stored = await _stored(record.repository, entry_ids)
    closes = dict(record.closes) or dict(record.start_prices)

    orders: dict[str, Counter[str]] = {str(role): Counter() for role in _ROLES}
    for order in stored.orders:
        orders[str(order.role)][str(order.status)] += 1
    entry_fills = exit_fills = 0
    fees: dict[str, Decimal] = {}
    roles = {order.id: order.role for order in stored.orders}
    for order_id, fills in stored.fills.items():
        for fill in fills:
            if roles[order_id] is OrderRole.ENTRY:
                entry_fills += 1
            else:
                exit_fills += 1
            instrument = instruments[fill.symbol]
            asset = instrument.quote if fill.fee_currency is FeeCurrency.QUOTE else instrument.base
            fees[asset] = fees.get(asset, ZERO) + fill.fee

    lines = tuple(
        _position_line(position, record, stored, instruments[position.symbol].quote, closes)
        for position in stored.positions.values()
    )
    pnl = tuple(
        _pnl_line(symbol, lines, instruments[symbol].quote) for symbol in record.start_prices
    )
    balances = await _balances(record)
    invariants = await _invariants(record, stored, executed)
    trailing_ok = sum(1 for _, result in record.trailing_results if isinstance(result, Success))
    trailing_refused = tuple(
        f"{position_id}: {result.failure()}"
        for position_id, result in record.trailing_results
        if not isinstance(result, Success)
    )
    simulated = 0.0
    if record.finished_at is not None:
        simulated = (record.finished_at - record.started_at).total_seconds()
    return PaperReport(
        seed=record.config_seed,
        proposals_requested=record.proposals_requested,
        proposals_generated=len(record.proposals),
        executed=len(executed),
        refused=dict(sorted(refused.items())),
        ticks=record.ticks,
        simulated_seconds=simulated,
        prices=tuple(
            PriceLine(
                symbol=symbol,
                start=start,
                end=closes.get(symbol, start),
                low=record.lows.get(symbol, start),
                high=record.highs.get(symbol, start),
            )
            for symbol, start in record.start_prices.items()
        ),
        orders={role: dict(counts) for role, counts in orders.items()},
        entry_fills=entry_fills,
        exit_fills=exit_fills,
        fees=dict(sorted(fees.items())),
        positions=lines,
        pnl=pnl,
        closes=dict(sorted(Counter(p.close_reason for p in lines if p.close_reason).items())),
        balances=balances,
        equity_start=_equity({b.asset: b.start for b in balances}, record.start_prices),
        equity_end=_equity({b.asset: b.end for b in balances}, closes),
        alerts=dict(sorted(Counter(f"{a.source}/{a.severity}" for a in stored.alerts).items())),
        alert_examples=_first_messages(stored.alerts),
        triggers=dict(sorted(record.triggers.items())),
        snapshots=record.snapshots,
        trailing_attached=trailing_ok,
        trailing_refused=trailing_refused,
        polls=len(record.polls),
        status_calls_per_pass=dict(sorted(Counter(record.status_calls).items())),
        invariants=invariants,
    )


def _first_messages(alerts: Iterable[AlertRaised]) -> dict[str, str]:
    first: dict[str, str] = {}
    for alert in alerts:
        first.setdefault(f"{alert.source}/{alert.severity}", alert.message)
    return dict(sorted(first.items()))


def _refusal_reason(result: ExecutionResult) -> str:
    """The stable code, with the field a core refusal names (`above_maximum (exposure)`)."""
    reason = result.reason or "unknown"
    refusal = result.refusal
    field = getattr(refusal, "field", "") if refusal is not None else ""
    return f"{reason} ({field})" if field else reason


def _pnl_line(symbol: str, lines: Sequence[PositionLine], quote: str) -> PnlLine:
    mine = [line for line in lines if line.symbol == symbol]
    return PnlLine(
        symbol=symbol,
        quote=quote,
        opened=len(mine),
        closed=sum(1 for line in mine if not line.is_open),
        realized=sum((line.realized_pnl for line in mine), ZERO),
        unrealized=sum((line.unrealized_pnl or ZERO for line in mine), ZERO),
    )


def _position_line(
    position: Position,
    record: RunRecord,
    stored: _Stored,
    quote: str,
    closes: Mapping[str, Decimal],
) -> PositionLine:
    current = record.tracker.get(position.id)
    if current is not None and current.is_open:
        position = current  # the book's levels (a trailed stop) are the latest
    last = closes.get(position.symbol, position.entry_price)
    unrealized = position.calculate_pnl(last)[0] if position.is_open else None
    reason = None if position.is_open else stored.close_reasons.get(position.id, "closed")
    return PositionLine(
        id=position.id,
        symbol=position.symbol,
        quote=quote,
        side=str(position.side),
        opened_size=position.size + position.exited_quantity,
        size=position.size,
        entry_price=position.entry_price,
        stop_loss=position.stop_loss,
        take_profit=position.take_profit,
        trailing=position.trailing is not None,
        stop_trailed=position.id in stored.trailed,
        realized_pnl=position.realized_pnl,
        unrealized_pnl=unrealized,
        last_price=last,
        close_reason=reason,
    )


async def _balances(record: RunRecord) -> tuple[BalanceLine, ...]:
    answer = await record.exchange.balances()
    held = answer.unwrap()
    assets = sorted(set(record.start_balances) | set(held))
    return tuple(
        BalanceLine(
            asset=asset,
            start=record.start_balances.get(asset, ZERO),
            end=held[asset].total if asset in held else ZERO,
            available=held[asset].available if asset in held else ZERO,
        )
        for asset in assets
    )


def _equity(amounts: Mapping[str, Decimal], prices: Mapping[str, Decimal]) -> Decimal | None:
    """The account's value in USDT at `prices`; None when an asset has no USDT price."""
    total = ZERO
    for asset, amount in amounts.items():
        if asset == VALUATION_QUOTE:
            total += amount
            continue
        price = prices.get(f"{asset}/{VALUATION_QUOTE}")
        if price is None:
            if amount:
                return None
            continue
        total += amount * price
    return total


# --------------------------------------------------------------------------- invariants
async def _invariants(
    record: RunRecord,
    stored: _Stored,
    executed: Sequence[tuple[TradeProposal, ExecutionResult]],
) -> tuple[Invariant, ...]:
    engine = record.exchange.engine
    exchange_orders = {**engine.closed_orders(), **engine.open_orders()}
    return (
        _accounted(record, exchange_orders.values(), executed),
        _trades_stored(record, stored),
        _sizes(record, stored),
        await _book_matches_store(record),
        _stops(record, stored),
        _nothing_left(record, stored),
    )


def _accounted(
    record: RunRecord,
    exchange_orders: Iterable[object],
    executed: Sequence[tuple[TradeProposal, ExecutionResult]],
) -> Invariant:
    name = "every proposal accounted for"
    generated = len(record.proposals)
    refused = generated - len(executed)
    placed = Counter(getattr(info, "cl_ord_id", None) for info in exchange_orders)
    problems: list[str] = []
    if record.manager.statistics().proposals != generated:
        problems.append(
            f"the manager counted {record.manager.statistics().proposals} proposals, "
            f"the run made {generated}"
        )
    for proposal, result in record.proposals:
        key = proposal.proposal_id or ""
        count = placed[client_order_id_for(key)]
        expected = 1 if result.success else 0
        if count != expected:
            problems.append(f"{key}: {count} exchange orders (expected {expected})")
    if problems:
        return Invariant(name=name, ok=False, detail="; ".join(problems[:5]))
    return Invariant(
        name=name,
        ok=True,
        detail=(
            f"{generated} = {len(executed)} executed + {refused} refused; one exchange order per "
            "executed proposal, none for a refused one"
        ),
    )


def _trades_stored(record: RunRecord, stored: _Stored) -> Invariant:
    name = "every fill stored exactly once"
    trades = {trade.txid for trade in record.exchange.engine.trades_history()}
    fills = [fill.trade_id for fills in stored.fills.values() for fill in fills]
    unique = set(fills)
    problems: list[str] = []
    if len(unique) != len(fills):
        problems.append(f"{len(fills) - len(unique)} fills stored twice")
    if missing := trades - unique:
        problems.append(f"exchange trades not stored: {sorted(missing)[:5]}")
    if extra := unique - trades:
        problems.append(f"stored fills the exchange never made: {sorted(extra)[:5]}")
    if problems:
        return Invariant(name=name, ok=False, detail="; ".join(problems))
    return Invariant(
        name=name,
        ok=True,
        detail=f"{len(fills)} stored fills = the exchange's {len(trades)} trades",
    )


def _sizes(record: RunRecord, stored: _Stored) -> Invariant:
    name = "position size = entry fills - exit fills"
    expected: dict[str, Decimal] = {}
    for order in stored.orders:
        position_id = order.position_id or (order.id if order.role is OrderRole.ENTRY else None)
        if position_id is None:
            continue
        for fill in stored.fills.get(order.id, ()):
            if order.role is OrderRole.ENTRY:
                base_fee = fill.fee if fill.fee_currency is FeeCurrency.BASE else ZERO
                received = fill.quantity - base_fee if fill.side is OrderSide.BUY else fill.quantity
                expected[position_id] = expected.get(position_id, ZERO) + received
            else:
                expected[position_id] = expected.get(position_id, ZERO) - fill.quantity
    problems = []
    for position_id, size in sorted(expected.items()):
        position = stored.positions.get(position_id) or record.tracker.get(position_id)
        actual = ZERO if position is None else position.size
        if actual != size:
            problems.append(f"{position_id}: size {actual}, fills say {size}")
    if problems:
        return Invariant(name=name, ok=False, detail="; ".join(problems[:5]))
    return Invariant(name=name, ok=True, detail=f"{len(expected)} positions checked")


async def _book_matches_store(record: RunRecord) -> Invariant:
    name = "the book's open positions are the store's"
    book = {p.id: p.size for p in record.tracker.open_positions()}
    store = {p.id: p.size for p in await record.repository.load_open_positions()}
    if book != store:
        differ = sorted(k for k in book.keys() | store.keys() if book.get(k) != store.get(k))
        return Invariant(name=name, ok=False, detail=f"they differ on {differ[:5]}")
    return Invariant(name=name, ok=True, detail=f"{len(book)} open positions in both")


def _stops(record: RunRecord, stored: _Stored) -> Invariant:
    name = "no open position without a stop"
    engine = record.exchange.engine
    instruments = record.manager.instruments.by_symbol
    dust_reported = {alert.message.split()[1] for alert in stored.alerts if alert.source == "dust"}
    problems: list[str] = []
    dust: list[str] = []
    protected = 0
    open_orders = record.manager.open_orders()
    for position in record.tracker.open_positions():
        stops = [
            o for o in open_orders if o.position_id == position.id and o.role is OrderRole.STOP_LOSS
        ]
        resting = [
            o
            for o in stops
            if o.exchange_order_id is not None
            and (info := engine.order(o.exchange_order_id)) is not None
            and info.is_open
        ]
        if resting and sum(o.remaining_size for o in resting) == position.size:
            protected += 1
            continue
        minimum = record.execution.min_size(instruments[position.symbol])
        if position.size < minimum and position.id in dust_reported:
            dust.append(position.id)
            continue
        if resting:
            size = sum(o.remaining_size for o in resting)
            problems.append(
                f"{position.id}: the stop sells {size}, the position holds {position.size}"
            )
            continue
        why = [
            alert.message
            for alert in stored.alerts
            if alert.severity == "critical" and position.id in alert.message
        ]
        why = [message for message in why if "stop" in message] or why
        reported = f" (reported: {why[-1]})" if why else " (no alert said so)"
        problems.append(f"{position.id} ({position.symbol} {position.size}) has no stop{reported}")
    if problems:
        return Invariant(name=name, ok=False, detail="; ".join(problems[:5]))
    detail = f"{protected} open positions, each with a resting stop for its whole size"
    if dust:
        detail += f"; {len(dust)} below the exchange minimum, kept and reported (dust)"
    return Invariant(name=name, ok=True, detail=detail)


def _nothing_left(record: RunRecord, stored: _Stored) -> Invariant:
    name = "nothing left behind"
    del stored
    tracker = record.tracker
    problems: list[str] = []
    book = record.manager.open_orders()
    for order in book:
        position_id = order.position_id
        if order.role is OrderRole.ENTRY or position_id is None:
            continue
        position = tracker.get(position_id)
        if position is None or not position.is_open:
            problems.append(f"{order.role} order {order.id} of closed position {position_id}")
    ours = {o.exchange_order_id for o in book if o.exchange_order_id is not None}
    unacknowledged = [o.id for o in book if o.exchange_order_id is None]
    theirs = set(record.exchange.engine.open_orders())
    if unacknowledged:
        problems.append(f"orders without an exchange id: {unacknowledged[:5]}")
    if ours != theirs:
        problems.append(
            f"open at the exchange only: {sorted(theirs - ours)[:5]}; "
            f"open in the book only: {sorted(ours - theirs)[:5]}"
        )
    if problems:
        return Invariant(name=name, ok=False, detail="; ".join(problems[:5]))
    return Invariant(
        name=name,
        ok=True,
        detail=f"no order of a closed position is open; the book's {len(ours)} open orders are "
        "the exchange's",
    )


# --------------------------------------------------------------------------- printing
def format_report(report: PaperReport, *, all_positions: bool = False) -> str:
    """The report as text (see docs/paper-trading.md for a walk-through)."""
    sections = [
        _header(report),
        _activity(report),
        _positions(report, all_positions=all_positions),
        _accounts(report),
        _checks(report),
    ]
    return "\n\n".join(sections)


def _header(report: PaperReport) -> str:
    minutes = report.simulated_seconds / 60
    out = [
        f"paper run: seed {report.seed}, {report.ticks} ticks, {minutes:.1f} simulated minutes",
        "",
        "prices",
        _table(
            ["symbol", "start", "end", "change", "low", "high"],
            [
                [
                    p.symbol,
                    _num(p.start),
                    _num(p.end),
                    f"{(p.end - p.start) / p.start * 100:+.2f}%",
                    _num(p.low),
                    _num(p.high),
                ]
                for p in report.prices
            ],
        ),
    ]
    return "\n".join(out)


def _activity(report: PaperReport) -> str:
    refused = sum(report.refused.values())
    out = [
        (
            f"proposals: {report.proposals_generated} made (of {report.proposals_requested} "
            f"allowed), {report.executed} executed, {refused} refused"
        ),
        *(f"  refused {reason}: {count}" for reason, count in report.refused.items()),
        "",
        "orders by role and final status",
    ]
    statuses = [s for s in _STATUSES if any(report.orders[r].get(str(s)) for r in report.orders)]
    out.append(
        _table(
            ["role", *(str(s) for s in statuses), "total"],
            [
                [role, *(str(counts.get(str(s), 0)) for s in statuses), str(sum(counts.values()))]
                for role, counts in report.orders.items()
            ],
        )
    )
    fees = ", ".join(f"{_money(fee, asset)} {asset}" for asset, fee in report.fees.items())
    triggers = ", ".join(f"{kind} {count}" for kind, count in report.triggers.items())
    per_pass = ", ".join(
        f"{calls} call{'' if calls == 1 else 's'} in {passes}"
        for calls, passes in report.status_calls_per_pass.items()
    )
    out += [
        "",
        (
            f"fills: {report.entry_fills + report.exit_fills} ({report.entry_fills} entry, "
            f"{report.exit_fills} exit); fees paid: {fees or 'none'}"
        ),
        f"levels reached (TriggerFired): {triggers or 'none'}",
        f"trailing stops switched on: {report.trailing_attached}"
        + (f", refused: {len(report.trailing_refused)}" if report.trailing_refused else ""),
        *(f"  {refusal}" for refusal in report.trailing_refused),
        f"monitor: {report.polls} passes; order_status calls per pass: {per_pass}",
        f"position snapshots taken: {report.snapshots}",
    ]
    return "\n".join(out)


def _positions(report: PaperReport, *, all_positions: bool) -> str:
    closed = report.closed_positions
    trailed = sum(1 for p in closed if p.stop_trailed and p.close_reason == "stop_loss")
    out = [
        (
            f"positions: {len(report.positions)} opened, {len(closed)} closed, "
            f"{len(report.open_positions)} open"
        ),
    ]
    for reason, count in report.closes.items():
        note = f" ({trailed} of them after trailing)" if reason == "stop_loss" and trailed else ""
        out.append(f"  closed by {reason}: {count}{note}")
    out += [
        "",
        "P&L net of fees, in each pair's quote currency (realized: exits so far; unrealized: what",
        "is open, at the last price, after the estimated exit fee)",
    ]
    rows = [
        [
            line.symbol,
            str(line.opened),
            str(line.closed),
            str(line.opened - line.closed),
            _money(line.realized, line.quote, sign=True),
            _money(line.unrealized, line.quote, sign=True),
            _money(line.total, line.quote, sign=True),
            line.quote,
        ]
        for line in report.pnl
    ]
    for quote in dict.fromkeys(line.quote for line in report.pnl):
        mine = [line for line in report.pnl if line.quote == quote]
        if len(mine) > 1:
            realized = sum((line.realized for line in mine), ZERO)
            unrealized = sum((line.unrealized for line in mine), ZERO)
            rows.append(
                [
                    f"all {quote} pairs",
                    str(sum(line.opened for line in mine)),
                    str(sum(line.closed for line in mine)),
                    str(sum(line.opened - line.closed for line in mine)),
                    _money(realized, quote, sign=True),
                    _money(unrealized, quote, sign=True),
                    _money(realized + unrealized, quote, sign=True),
                    quote,
                ]
            )
    out.append(
        _table(["symbol", "opened", "closed", "open", "realized", "unrealized", "total", ""], rows)
    )
    listed = report.positions if all_positions else report.open_positions
    if listed:
        out += [
            "",
            "all positions" if all_positions else "open positions",
            _table(
                [
                    "position",
                    "symbol",
                    "side",
                    "size",
                    "entry",
                    "stop",
                    "target",
                    "last",
                    "realized",
                    "unrealized",
                    "state",
                ],
                [_position_row(p) for p in listed],
            ),
        ]
    return "\n".join(out)


def _accounts(report: PaperReport) -> str:
    out = [
        "balances",
        _table(
            ["asset", "start", "end", "change", "available"],
            [
                [
                    b.asset,
                    _money(b.start, b.asset),
                    _money(b.end, b.asset),
                    _money(b.end - b.start, b.asset, sign=True),
                    _money(b.available, b.asset),
                ]
                for b in report.balances
            ],
        ),
    ]
    if report.equity_start is not None and report.equity_end is not None:
        change = report.equity_end - report.equity_start
        out.append(
            f"equity in {VALUATION_QUOTE} at the prices of the moment: "
            f"{_money(report.equity_start, VALUATION_QUOTE)} -> "
            f"{_money(report.equity_end, VALUATION_QUOTE)} "
            f"({_money(change, VALUATION_QUOTE, sign=True)}; the price moves of every asset "
            "held count here, not only the positions)"
        )
    out += ["", f"alerts: {sum(report.alerts.values())}"]
    for key, count in report.alerts.items():
        out.append(f"  {key}: {count}, e.g. {_shorten(report.alert_examples.get(key, ''))}")
    return "\n".join(out)


def _checks(report: PaperReport) -> str:
    out = ["invariants"]
    for invariant in report.invariants:
        mark = "ok  " if invariant.ok else "FAIL"
        out.append(f"  {mark} {invariant.name}: {invariant.detail}")
    verdict = "all invariants hold" if report.ok else "AN INVARIANT BROKE"
    out += [f"result: {verdict}", f"(wall time {report.wall_seconds:.2f} s)"]
    return "\n".join(out)


def _shorten(text: str, width: int = 150) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _position_row(p: PositionLine) -> list[str]:
    return [
        p.id,
        p.symbol,
        p.side,
        _num(p.size if p.is_open else p.opened_size),
        _num(p.entry_price),
        "-" if p.stop_loss is None else _num(p.stop_loss) + (" (trailing)" if p.trailing else ""),
        "-" if p.take_profit is None else _num(p.take_profit),
        _num(p.last_price),
        _money(p.realized_pnl, p.quote, sign=True),
        "-" if p.unrealized_pnl is None else _money(p.unrealized_pnl, p.quote, sign=True),
        "open" if p.is_open else f"closed: {p.close_reason}",
    ]


_PLACES: Final = {"USDT": 2, "USD": 2, "BTC": 8, "XRP": 4}


def _money(value: Decimal, asset: str, *, sign: bool = False) -> str:
    places = _PLACES.get(asset, 8)
    text = f"{value:{'+' if sign else ''},.{places}f}"
    return "+0." + "0" * places if sign and text.lstrip("+-").strip("0.,") == "" else text


_FINEST: Final = Decimal("1E-10")


def _num(value: Decimal) -> str:
    """A price or size as the exchange writes it (an average price cut at 10 decimals)."""
    if value.as_tuple().exponent < _FINEST.as_tuple().exponent:  # type: ignore[operator]  # finite
        value = value.quantize(_FINEST)
    return f"{value:f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    all_rows = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  " + "  ".join([first, *rest]).rstrip()

    rule = "  " + "  ".join("-" * w for w in widths)
    return "\n".join([line(all_rows[0]), rule, *(line(r) for r in all_rows[1:])])
