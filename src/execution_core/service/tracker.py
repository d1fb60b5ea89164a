"""`PositionTracker`: the book of open positions, valued only at fresh prices.

Rules (docs/position-tracker.md has the walk-through, docs/dev/service-design.md the contract):
- Positions come from fills. `apply_entry_fill` / `apply_exit_fill` are synchronous state
  changes without I/O; the manager commits the returned `PositionChange` together with its order
  change in one unit of work. A position's id is its entry order's id. An exit never flips a
  position: an exit fill larger than the open size (it happened at the exchange: a stop racing
  its cancel after the take-profit filled) closes the position and the excess is reported as a
  critical `AlertRaised` (an oversell), never booked.
- Instruments (ticks, fee rates) are the ones given at construction until `set_instruments`
  replaces them with the exchange's live ones (the manager calls it once it has loaded them).
- Sizes are what was filled, never what was intended; the exposure per symbol is
  `filled size x entry price` in quote and goes to the risk engine (`publish_exposures`).
- A stale or missing price never produces a snapshot or a P&L figure: it produces a `PriceStale`
  event (stored and published). There is no fallback price.
- Stops only tighten when they trail; the exchange stop is amended (`OrderControl.amend_stop`)
  only when the book's stop moved, with a `StopMoved` event.
- Stop-loss beats take-profit when one price reaches both (design.md §2 Triggers). Triggers are
  found through a `TriggerIndex`, so a price tick costs what the positions it reaches cost, not
  what the open positions cost.
- Risk alerts (close / reduce / halt) drained from the risk engine are acted on through
  `OrderControl` and recorded (`RiskAlertActedOn`, or `AlertRaised` when they could not be).

Runtime policy (design.md §4): the book (positions, index, aggregates, price cache) changes only
in synchronous code between awaits, so every read-modify-write is atomic without a lock; I/O
(commit, publish, exchange calls) comes after the change. Two locks guard ORDER, never the
book: one per position for the stop / take-profit amendments sent to the exchange (see
`_push_levels`), and one for the tracker's own commits (see `_commit_lock`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final, TypeAlias, assert_never

import attrs
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from execution_core.config import ExecutionConfig
from execution_core.domain.enums import (
    LiquidityRole,
    OrderRole,
    OrderSide,
    PositionSide,
    TriggerKind,
)
from execution_core.domain.events import (
    AlertRaised,
    Event,
    PositionSnapshotTaken,
    PriceStale,
    RiskAlertActedOn,
    StopMoved,
    TakeProfitMoved,
    TriggerFired,
)
from execution_core.domain.fees import DEFAULT_EXIT_FEE_RATE
from execution_core.domain.instruments import Instrument, Instruments, default_instruments
from execution_core.domain.numbers import ONE, ZERO, DecimalLike, InvalidNumber, to_decimal
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import (
    UNCHANGED,
    Keep,
    Position,
    PositionChange,
)
from execution_core.domain.refusals import AboveMaximum, InvalidValue, Refusal
from execution_core.domain.rounding import is_multiple, round_stop_loss, round_take_profit
from execution_core.domain.trailing import TrailingStop
from execution_core.domain.triggers import Trigger, TriggerIndex
from execution_core.ports import (
    Clock,
    EventPublisher,
    ExchangeFailure,
    PositionSnapshot,
    Repository,
    RiskAction,
    RiskAlert,
    RiskEngine,
    UnitOfWork,
)
from execution_core.service.price_cache import PriceCache
from execution_core.service.results import ExecutionResult, OrderControl

_log = logging.getLogger(__name__)

SOURCE: Final = "position_tracker"
"""`AlertRaised.source` of the tracker's alerts."""
OVERSELL_SOURCE: Final = "positions"
"""`AlertRaised.source` of an exit fill beyond its position: the source the manager gives the
alerts of the fills the book could not apply, so that an operator finds them all in one place."""
RECENTLY_CLOSED: Final = 1024
"""How many closed positions stay in memory, for a late entry fill racing the close."""

ModifyFailure: TypeAlias = Refusal | ExchangeFailure
"""Why `modify_position` did not change the position: the core refused, or the exchange did."""
AmendResult: TypeAlias = Result[None, ExchangeFailure | Refusal]


# --------------------------------------------------------------------------- values
@attrs.frozen(kw_only=True)
class DailyPnl:
    """Today's P&L: realized by today's exits plus unrealized at fresh prices (quote amounts).

    `stale` names the symbols with open positions but no fresh price: they are left out of
    `unrealized`, never valued at a guessed price.
    """

    realized: Decimal
    unrealized: Decimal
    stale: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal:
        """`realized + unrealized`."""
        return self.realized + self.unrealized


class _SymbolBook:
    """Running sums over one symbol's open positions: exposure and linear P&L terms.

    A position's unrealized P&L net of fees is `sign x (p - entry) x size - fees - size x p x
    rate`, linear in the price `p`; summed over positions it is `p x (S - R) - C - F` with
    `S = sum(sign x size)`, `C = sum(sign x entry x size)`, `F = sum(entry fees)` and
    `R = sum(size x rate)`. Keeping these sums makes `daily_pnl` and `exposures` cost the number
    of symbols, not of positions. A position's terms are recomputed identically when it leaves,
    and the book is dropped with its last position, so nothing drifts.
    """

    __slots__ = ("count", "entry_fees", "exposure", "fee_weight", "signed_cost", "signed_size")

    def __init__(self) -> None:
        self.count = 0
        self.exposure = ZERO
        self.signed_size = ZERO
        self.signed_cost = ZERO
        self.entry_fees = ZERO
        self.fee_weight = ZERO

    def add(self, position: Position) -> None:
        cost = position.entry_price * position.size
        self.count += 1
        self.exposure += cost
        self.entry_fees += position.entry_fees
        self.fee_weight += position.size * position.exit_fee_rate
        if position.side is PositionSide.LONG:
            self.signed_size += position.size
            self.signed_cost += cost
        else:
            self.signed_size -= position.size
            self.signed_cost -= cost

    def remove(self, position: Position) -> None:
        cost = position.entry_price * position.size
        self.count -= 1
        self.exposure -= cost
        self.entry_fees -= position.entry_fees
        self.fee_weight -= position.size * position.exit_fee_rate
        if position.side is PositionSide.LONG:
            self.signed_size -= position.size
            self.signed_cost -= cost
        else:
            self.signed_size += position.size
            self.signed_cost += cost

    def unrealized(self, price: Decimal) -> Decimal:
        return price * (self.signed_size - self.fee_weight) - self.signed_cost - self.entry_fees


def _same_terms(old: Position, new: Position) -> bool:
    """Whether `new` contributes to its symbol's sums exactly as `old` did (a level change)."""
    return (
        old.size == new.size
        and old.entry_price == new.entry_price
        and old.entry_fees == new.entry_fees
        and old.exit_fee_rate == new.exit_fee_rate
        and old.side is new.side
    )


_EXIT_REASONS: Final = {
    OrderRole.STOP_LOSS: "stop_loss",
    OrderRole.TAKE_PROFIT: "take_profit",
    OrderRole.EXIT: "exit",
    OrderRole.ENTRY: "exit",
}


# --------------------------------------------------------------------------- the tracker
class PositionTracker:
    """Owns the open positions (by id), their `TriggerIndex` and the price cache.

    Build it with the ports; the manager attaches itself (`attach`) so that the tracker can
    amend stops and close positions. Without an attached `OrderControl` the tracker is a book
    (a notebook, a backtest): levels change in the book only, and a close or a risk alert that
    needs the manager is refused or reported as an `AlertRaised`.
    """

    def __init__(
        self,
        *,
        repository: Repository,
        clock: Clock,
        config: ExecutionConfig | None = None,
        instruments: Instruments | None = None,
        risk_engine: RiskEngine | None = None,
        publisher: EventPublisher | None = None,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._config = config or ExecutionConfig()
        self._instruments = instruments or default_instruments()
        self._risk_engine = risk_engine
        self._publisher = publisher
        self._orders: OrderControl | None = None
        self._prices = PriceCache(
            clock, max_age_seconds=self._config.positions.price_staleness_seconds
        )
        self._positions: dict[str, Position] = {}
        self._books: dict[str, _SymbolBook] = {}
        self._index = TriggerIndex()
        self._trailing: dict[str, dict[str, None]] = {}
        # Insertion-ordered (a dict, not a set): trailing amendments go out in the same order
        # whatever the hash seed, so a seeded run replays exactly.
        """Per symbol, the ids of the open positions with a trailing configuration."""
        self._fired: dict[str, dict[str, tuple[TriggerKind, Decimal]]] = {}
        """Per symbol, the levels the last price reached: a level fires once per crossing."""
        self._closed: dict[str, Position] = {}
        self._realized_day: date | None = None
        self._realized_today = ZERO
        self._exposures_dirty = False
        self._pending: list[UnitOfWork] = []
        """Units not yet committed, oldest first (a failed commit stays here: nothing is lost)."""
        self._commit_lock = asyncio.Lock()
        """Guards the commit of `_pending`: one flow commits at a time, in order, so that two
        flows recording at once never store the same unit twice nor out of order."""
        # Exchange-side levels (see `_push_levels`): what the exchange last accepted from us,
        # and the positions whose exchange stop lags the book after a failed amendment.
        self._amend_locks: dict[str, asyncio.Lock] = {}
        self._exchange_stop: dict[str, Decimal] = {}
        self._exchange_take_profit: dict[str, Decimal] = {}
        self._unsynced: set[str] = set()

    def attach(self, orders: OrderControl) -> None:
        """Let the tracker drive `orders` (the manager attaches itself at construction)."""
        self._orders = orders

    @property
    def instruments(self) -> Instruments:
        """The instruments the tracker rounds levels and estimates exit fees with."""
        return self._instruments

    def set_instruments(self, instruments: Instruments) -> None:
        """Use `instruments` from now on: the exchange's live rules, once the manager loaded them.

        Levels are rounded to their ticks, and positions opened from now on estimate their exit
        fee at their rates (unless `positions.exit_fee_rate` fixes it). A position already open
        keeps the rate it was opened with, as it was stored.
        """
        self._instruments = instruments

    # ----------------------------------------------------------------------- reads
    @property
    def prices(self) -> PriceCache:
        """The price cache (read it; feed it through `update_price`)."""
        return self._prices

    @property
    def index(self) -> TriggerIndex:
        """The trigger index over the open positions' levels (read-only use)."""
        return self._index

    def get(self, position_id: str) -> Position | None:
        """The open position with this id, else a recently closed one, else None."""
        return self._positions.get(position_id) or self._closed.get(position_id)

    def open_positions(self) -> Sequence[Position]:
        """Every open position."""
        return list(self._positions.values())

    def __len__(self) -> int:
        return len(self._positions)

    def exposures(self) -> Mapping[str, Decimal]:
        """Per symbol with open positions: the sum of filled size x entry price, in quote."""
        return {symbol: book.exposure for symbol, book in self._books.items()}

    def daily_pnl(self) -> Decimal:
        """Realized today + unrealized at fresh prices, net of fees (see `daily_pnl_detail`)."""
        return self.daily_pnl_detail().total

    def daily_pnl_detail(self) -> DailyPnl:
        """Today's realized and unrealized P&L, and the symbols left out for want of a price.

        "Today" is the UTC date of the Clock. Unrealized P&L is net of the entry fees paid and
        of the estimated exit fee, like `Position.calculate_pnl`.
        """
        realized = self._realized_today if self._realized_day == self._today() else ZERO
        unrealized = ZERO
        stale: list[str] = []
        for symbol, book in self._books.items():
            price = self._prices.fresh(symbol)
            if price is None:
                stale.append(symbol)
            else:
                unrealized += book.unrealized(price)
        return DailyPnl(realized=realized, unrealized=unrealized, stale=tuple(stale))

    def fresh_price(self, symbol: str) -> Decimal | None:
        """The cached price of `symbol` if it is fresh, else None."""
        return self._prices.fresh(symbol)

    # ----------------------------------------------------------------------- fills, no I/O
    def apply_entry_fill(
        self,
        order: Order,
        fill: Fill,
        *,
        at: datetime,
        stop_loss: Decimal | None = None,
        take_profit: Decimal | None = None,
        trailing: TrailingStop | None = None,
    ) -> PositionChange:
        """Open or increase the position of an entry order by one fill (no I/O).

        The position id is `order.position_id or order.id`. A new position takes the levels
        given here; an existing one keeps its own (they may have been modified since). Size is
        net of a fee charged in base; entry price is the VWAP. A fill always lands in the book
        (it happened at the exchange): a level the actual entry price makes invalid (a long's
        stop above a gap-down fill) is dropped, with a critical `AlertRaised` in the change's
        events. A fill on the wrong side or symbol of its position is a bug (ValueError).
        """
        position_id = order.position_id or order.id
        current = self._positions.get(position_id)
        if current is None:
            change = self._open(position_id, order, fill, at, stop_loss, take_profit, trailing)
            self._install(None, change.position)
            return change
        if fill.symbol != current.symbol or fill.side is not current.side.entry_side:
            msg = (
                f"entry fill {fill.trade_id} ({fill.side} {fill.symbol}) does not add to "
                f"position {position_id} ({current.side} {current.symbol})"
            )
            raise ValueError(msg)
        change = self._increase(current, fill, at)
        self._install(current, change.position)
        return change

    def apply_exit_fill(
        self, order: Order, fill: Fill, *, at: datetime
    ) -> Result[PositionChange, Refusal]:
        """Reduce or close the position `order.position_id` names by one fill (no I/O).

        Refused, and the book unchanged: no position id, no such open position, a fill on the
        entry side. Realized P&L is net of the exit fee and of the entry fees' share; it counts
        for `daily_pnl` on the UTC date of `at`.

        A fill larger than the open size happened at the exchange all the same (two exits racing,
        e.g. the stop filling during its cancel after the take-profit filled): the open size is
        applied (the position closes; the fill's fee is counted pro rata for that part) and the
        excess, base the exchange sold beyond the position, is reported by a critical
        `AlertRaised` (source `positions`) in the change's events. A position never flips.
        """
        position_id = order.position_id
        if position_id is None:
            return Failure(
                InvalidValue(
                    symbol=order.symbol,
                    field="position_id",
                    actual=order.id,
                    reason="is not set on the exit order",
                )
            )
        position = self._positions.get(position_id)
        if position is None:
            return Failure(_no_open_position(order.symbol, position_id))
        if fill.side is not position.side.exit_side:
            return Failure(
                InvalidValue(
                    symbol=position.symbol,
                    field="fill.side",
                    actual=str(fill.side),
                    reason=f"does not reduce the {position.side} position {position_id}",
                )
            )
        result = position.apply_fill(fill, reason=_EXIT_REASONS[order.role])
        if not is_successful(result):
            refusal = result.failure()
            if not (isinstance(refusal, AboveMaximum) and refusal.field == "quantity"):
                return result
            result = Success(self._oversized_exit(position, order, fill, refusal, at))
        change = result.unwrap()
        self._install(position, change.position)
        self._book_realized(change.realized_pnl, at)
        return result

    def load(self, positions: Iterable[Position]) -> None:
        """Add stored positions to the book (at start); an id already held is replaced.

        Closed positions are remembered only for a late entry fill. Call `publish_exposures`
        afterwards so that the risk engine starts from the loaded book.
        """
        for position in positions:
            if not position.id:
                msg = f"a stored position needs an id ({position.symbol} {position.side})"
                raise ValueError(msg)
            if position.is_open:
                self._install(self._positions.get(position.id), position)
            else:
                self._remember_closed(position)

    # ----------------------------------------------------------------------- prices
    def update_price(self, symbol: str, price: DecimalLike) -> None:
        """Record the current price of `symbol`, stamped with the Clock's time."""
        self._prices.update(symbol, price)

    # ----------------------------------------------------------------------- levels
    async def modify_position(
        self,
        position_id: str,
        *,
        stop_loss: DecimalLike | Keep | None = UNCHANGED,
        take_profit: DecimalLike | Keep | None = UNCHANGED,
        trailing: TrailingStop | Keep | None = UNCHANGED,
    ) -> Result[Position, ModifyFailure]:
        """Move a position's stop-loss and/or take-profit, at the exchange too.

        Levels are rounded to the instrument's tick in the safe direction (a stop toward the
        market, a take-profit toward the entry), then validated as at creation; with a fresh
        price, a level the market has already crossed is refused (it would fire at once).
        Removing a level (None) is refused: a position is never left without its stop, and the
        exchange order is moved, not cancelled. `trailing` switches a trailing stop on or off.

        The book changes first, then the exchange order is amended. A level whose amendment
        fails goes back to its old value (unless something else moved it meanwhile) and the
        exchange's failure is returned; a level that was amended stays moved, and is recorded.
        """
        position = self._positions.get(position_id)
        if position is None:
            return Failure(_no_open_position("", position_id))
        levels = self._rounded_levels(position, stop_loss, take_profit)
        if not is_successful(levels):
            return Failure(levels.failure())
        stop, target = levels.unwrap()
        modified = position.modify_with_events(
            at=self._clock.now(),
            stop_loss=stop,
            take_profit=target,
            trailing=trailing,
            current_price=self._prices.fresh(position.symbol),
            reason="manual",
        )
        if not is_successful(modified):
            return Failure(modified.failure())
        change = modified.unwrap()
        new = change.position
        if new == position:
            return Success(position)
        self._install(position, new)
        stop_failure, target_failure = await self._push_levels(
            position_id,
            stop=new.stop_loss != position.stop_loss,
            take_profit=new.take_profit != position.take_profit,
        )
        if stop_failure is not None:
            self._revert_level(position_id, "stop_loss", old=position.stop_loss, new=new.stop_loss)
        if target_failure is not None:
            self._revert_level(
                position_id, "take_profit", old=position.take_profit, new=new.take_profit
            )
        kept = [
            event
            for event in change.events
            if not (isinstance(event, StopMoved) and stop_failure is not None)
            and not (isinstance(event, TakeProfitMoved) and target_failure is not None)
        ]
        current = self._current(new)
        await self._record(kept, positions=(current,))
        failure = stop_failure or target_failure
        if failure is not None:
            return Failure(failure)
        return Success(current)

    def _rounded_levels(
        self,
        position: Position,
        stop_loss: DecimalLike | Keep | None,
        take_profit: DecimalLike | Keep | None,
    ) -> Result[tuple[Decimal | Keep, Decimal | Keep], Refusal]:
        symbol = position.symbol
        if stop_loss is None or take_profit is None:
            field = "stop_loss" if stop_loss is None else "take_profit"
            return Failure(
                InvalidValue(
                    symbol=symbol,
                    field=field,
                    actual=None,
                    reason="cannot be removed: move it instead (a position keeps its protection)",
                )
            )
        tick = self._tick(symbol)
        side = position.side
        try:
            stop = (
                UNCHANGED
                if stop_loss is UNCHANGED
                else _rounded(to_decimal(stop_loss, field="stop_loss"), tick, side, stop=True)
            )
            target = (
                UNCHANGED
                if take_profit is UNCHANGED
                else _rounded(to_decimal(take_profit, field="take_profit"), tick, side, stop=False)
            )
        except InvalidNumber as error:
            return Failure(
                InvalidValue(
                    symbol=symbol, field=error.field, actual=str(error.value), reason=error.reason
                )
            )
        return Success((stop, target))

    def _revert_level(
        self, position_id: str, field: str, *, old: Decimal | None, new: Decimal | None
    ) -> None:
        """Put a level back to `old` if the book still holds `new` (nothing else moved it)."""
        current = self._positions.get(position_id)
        if current is None or getattr(current, field) != new:
            return
        restored = (
            current.modify(stop_loss=old)
            if field == "stop_loss"
            else current.modify(take_profit=old)
        )
        if is_successful(restored):
            self._install(current, restored.unwrap())

    # ----------------------------------------------------------------------- closes
    async def close_position(
        self, position_id: str, *, fraction: DecimalLike = ONE, reason: str = "manual"
    ) -> ExecutionResult:
        """Close `fraction` (0 < fraction <= 1) of a position through the manager's exit order.

        The book changes when the exit fills arrive (`apply_exit_fill`), not here.
        """
        position = self._positions.get(position_id)
        if position is None:
            return ExecutionResult.refused(_no_open_position("", position_id))
        checked = _fraction(position.symbol, fraction)
        if not is_successful(checked):
            return ExecutionResult.refused(checked.failure())
        orders = self._orders
        if orders is None:
            return ExecutionResult(
                success=False,
                reason="no_order_control",
                error_message="no order manager is attached to the position tracker",
            )
        return await orders.close_position(position_id, fraction=checked.unwrap(), reason=reason)

    # ----------------------------------------------------------------------- snapshots
    async def take_snapshots(self) -> Sequence[PositionSnapshot]:
        """Value every open position at its fresh price; store and publish the snapshots.

        A symbol without a fresh price gets one `PriceStale` event and no snapshot.
        """
        now = self._clock.now()
        checks: dict[str, Decimal | PriceStale] = {}
        snapshots: list[PositionSnapshot] = []
        events: list[Event] = []
        for position in self._positions.values():
            symbol = position.symbol
            check = checks.get(symbol)
            if check is None:
                check = checks[symbol] = self._prices.check(symbol)
            if isinstance(check, PriceStale):
                continue
            pnl, pnl_pct = position.calculate_pnl(check)
            snapshots.append(
                PositionSnapshot(
                    position_id=position.id,
                    symbol=symbol,
                    price=check,
                    size=position.size,
                    unrealized_pnl=pnl,
                    unrealized_pnl_pct=pnl_pct,
                    at=now,
                )
            )
            events.append(
                PositionSnapshotTaken(
                    position_id=position.id,
                    price=check,
                    unrealized_pnl=pnl,
                    unrealized_pnl_pct=pnl_pct,
                    at=now,
                )
            )
        stale = [check for check in checks.values() if isinstance(check, PriceStale)]
        await self._record([*stale, *events], snapshots=snapshots)
        return snapshots

    # ----------------------------------------------------------------------- trailing
    async def update_trailing_stops(self, prices: Mapping[str, DecimalLike]) -> Sequence[Event]:
        """Trail the stops of positions with a trailing configuration at these prices.

        `prices` are current observations: they also refresh the price cache. A stop only ever
        tightens (design.md §2 Trailing); each move is a `StopMoved` event (reason "trailing")
        and an amendment of the exchange stop. An amendment that fails leaves the tighter stop
        in the book, raises an `AlertRaised` and is retried on the next call.
        Returns the events recorded.
        """
        now = self._clock.now()
        events: list[Event] = []
        changed: list[Position] = []
        moved: list[str] = []
        for symbol, raw in prices.items():
            price = self._prices.update(symbol, raw).price
            ids = self._trailing.get(symbol)
            if not ids:
                continue
            tick = self._tick(symbol)
            for position_id in tuple(ids):
                position = self._positions[position_id]
                change = position.trail_with_events(price, at=now, tick_size=tick)
                new = change.position
                if new is position:
                    continue
                self._install(position, new)
                changed.append(new)
                events.extend(change.events)
                if new.stop_loss != position.stop_loss:
                    moved.append(position_id)
        moved_ids = set(moved)
        retry = sorted(pid for pid in self._unsynced if pid not in moved_ids)
        await self._record(events, positions=changed)
        alerts: list[Event] = []
        for position_id in [*moved, *retry]:
            failure, _ = await self._push_levels(position_id, stop=True, take_profit=False)
            if failure is None:
                self._unsynced.discard(position_id)
                continue
            if position_id in self._positions:
                self._unsynced.add(position_id)
            alerts.append(
                self._alert(
                    "warning",
                    f"position {position_id}: the exchange stop was not moved to the trailed "
                    f"stop ({failure}); the book keeps the tighter stop and the amendment is "
                    "retried on the next update",
                )
            )
        await self._record(alerts)
        return [*events, *alerts]

    # ----------------------------------------------------------------------- triggers
    async def check_sl_tp_triggers(
        self, prices: Mapping[str, DecimalLike], *, close: bool = False
    ) -> Sequence[TriggerFired]:
        """Report the stop-loss / take-profit levels these prices reach, stop-loss first.

        `prices` are current observations: they also refresh the price cache. A level fires once
        per crossing: it is reported on the first price that reaches it and again only after a
        price that did not. Each report is a `TriggerFired` event, stored and published. When one
        price reaches both levels of a position, only its stop-loss is reported.

        The resting exchange orders are what close positions; with `close=True` the tracker also
        asks the manager to close each position whose level fired (use it where no protective
        order rests at the exchange: an exit racing the exchange's own stop could double it).
        """
        fired: list[Trigger] = []
        index = self._index
        prices_cache = self._prices
        for symbol, raw in prices.items():
            price = prices_cache.update(symbol, raw).price
            reached = index.on_price(symbol, price)
            before = self._fired.get(symbol)
            if not reached:
                if before:
                    del self._fired[symbol]
                continue
            now_fired: dict[str, tuple[TriggerKind, Decimal]] = {}
            for trigger in reached:
                key = (trigger.kind, trigger.level)
                now_fired[trigger.position_id] = key
                if before is None or before.get(trigger.position_id) != key:
                    fired.append(trigger)
            self._fired[symbol] = now_fired
        if not fired:
            return ()
        at = self._clock.now()
        events = [trigger.event(at) for trigger in fired]
        extra: list[Event] = []
        if close:
            extra = await self._close_triggered(fired)
        await self._record([*events, *extra])
        return events

    async def _close_triggered(self, fired: Sequence[Trigger]) -> list[Event]:
        alerts: list[Event] = []
        for trigger in fired:
            if trigger.position_id not in self._positions:
                continue
            result = await self.close_position(trigger.position_id, reason=str(trigger.kind))
            if not result.success:
                alerts.append(
                    self._alert(
                        "critical",
                        f"position {trigger.position_id}: {trigger.kind} at {trigger.level} "
                        f"fired but the close failed ({result.reason}: {result.error_message})",
                    )
                )
        return alerts

    # ----------------------------------------------------------------------- risk engine
    async def process_risk_alerts(self) -> Sequence[Event]:
        """Drain the risk engine's alerts and act on each; returns the events recorded.

        CLOSE closes, REDUCE closes `fraction` of, the position the alert names, or every open
        position of its symbol, or (naming neither) every open position. HALT halts trading.
        Each action taken is a `RiskAlertActedOn` event; an alert that could not be acted on
        (no such position, a failed close, no manager attached) is a critical `AlertRaised`.
        """
        risk_engine = self._risk_engine
        if risk_engine is None:
            return ()
        alerts = await risk_engine.drain_alerts()
        events: list[Event] = []
        for alert in alerts:
            events.extend(await self._act_on(alert))
        await self._record(events)
        return events

    async def _act_on(self, alert: RiskAlert) -> list[Event]:
        orders = self._orders
        action = alert.action
        if orders is None:
            return [self._alert("critical", f"risk alert {action} not acted on: no manager")]
        match action:
            case RiskAction.HALT:
                await orders.halt(alert.reason)
                return [self._acted(alert, "all")]
            case RiskAction.CLOSE | RiskAction.REDUCE:
                pass
            case _:  # pragma: no cover - exhaustive
                assert_never(action)
        fraction = ONE
        if action is RiskAction.REDUCE:
            checked = _fraction(alert.symbol or "", alert.fraction)
            if not is_successful(checked):
                return [self._alert("critical", f"risk alert reduce refused: {checked.failure()}")]
            fraction = checked.unwrap()
        targets = self._targets(alert)
        if not targets:
            target = alert.position_id or alert.symbol or "all"
            return [self._alert("warning", f"risk alert {action} {target}: no open position")]
        events: list[Event] = []
        for position_id in targets:
            if position_id not in self._positions:
                continue  # closed while an earlier close was awaited
            result = await orders.close_position(
                position_id, fraction=fraction, reason=f"risk_{action}: {alert.reason}"
            )
            if result.success:
                events.append(self._acted(alert, position_id))
            else:
                events.append(
                    self._alert(
                        "critical",
                        f"risk alert {action} {position_id} failed: "
                        f"{result.reason}: {result.error_message}",
                    )
                )
        return events

    def _targets(self, alert: RiskAlert) -> list[str]:
        if alert.position_id is not None:
            return [alert.position_id] if alert.position_id in self._positions else []
        if alert.symbol is not None:
            return [p.id for p in self._positions.values() if p.symbol == alert.symbol]
        return list(self._positions)

    def _acted(self, alert: RiskAlert, target: str) -> RiskAlertActedOn:
        return RiskAlertActedOn(
            action=str(alert.action), target=target, reason=alert.reason, at=self._clock.now()
        )

    async def publish_exposures(self) -> None:
        """Send the filled exposure per symbol to the risk engine (after every change).

        The manager calls this after committing a change `apply_entry_fill` / `apply_exit_fill`
        returned; the tracker's loops call it too when the book changed since the last push.
        """
        self._exposures_dirty = False
        if self._risk_engine is None:
            return
        try:
            await self._risk_engine.update_exposures(self.exposures())
        except BaseException:
            self._exposures_dirty = True
            raise

    @property
    def exposures_changed(self) -> bool:
        """Whether the exposures changed since they were last published."""
        return self._exposures_dirty

    # ----------------------------------------------------------------------- loops
    async def run_snapshots(self, *, rounds: int | None = None) -> None:
        """Every `positions.snapshot_interval_seconds` on the Clock: snapshots (+ exposures).

        A failure is recorded and published as `AlertRaised`; the loop keeps running. Runs until
        cancelled, or for `rounds` rounds.
        """
        await self._loop(
            "snapshots",
            self._config.positions.snapshot_interval_seconds,
            self._snapshot_round,
            rounds,
        )

    async def run_risk_alerts(
        self, *, interval_seconds: float | None = None, rounds: int | None = None
    ) -> None:
        """Every `interval_seconds` (default `monitoring.poll_interval_seconds`): act on alerts."""
        interval = interval_seconds or self._config.monitoring.poll_interval_seconds
        await self._loop("risk_alerts", interval, self._risk_round, rounds)

    async def _snapshot_round(self) -> None:
        await self.take_snapshots()
        if self._exposures_dirty:
            await self.publish_exposures()

    async def _risk_round(self) -> None:
        await self.process_risk_alerts()
        if self._exposures_dirty:
            await self.publish_exposures()

    async def _loop(
        self,
        name: str,
        interval: float,
        step: Callable[[], Awaitable[None]],
        rounds: int | None,
    ) -> None:
        done = 0
        while rounds is None or done < rounds:
            await self._clock.sleep(interval)
            try:
                await step()
            except Exception as error:  # noqa: BLE001 - a loop failure is recorded, never lost
                await self._report_failure(name, error)
            done += 1

    async def _report_failure(self, name: str, error: Exception) -> None:
        alert = self._alert("error", f"{name} round failed: {type(error).__name__}: {error}")
        try:
            await self._record([alert])
        except Exception:  # noqa: BLE001 - the store or the bus is failing: the log is what is left
            _log.exception("position tracker: could not record the failure of %s", name)

    # ----------------------------------------------------------------------- the book
    def _install(self, old: Position | None, new: Position) -> None:
        """Replace `old` by `new` in every structure the tracker keeps (the one place it does)."""
        position_id = new.id
        symbol = new.symbol
        if old is not None and new.is_open and _same_terms(old, new):
            self._positions[position_id] = new
        else:
            book = self._books.get(symbol)
            if book is None:
                book = self._books[symbol] = _SymbolBook()
            if old is not None:
                book.remove(old)
            if new.is_open:
                book.add(new)
                self._positions[position_id] = new
            else:
                self._positions.pop(position_id, None)
            if book.count == 0:
                del self._books[symbol]
            self._exposures_dirty = True
        if not new.is_open:
            self._forget(position_id, symbol)
            self._remember_closed(new)
            return
        self._index.update(new)
        if new.trailing is not None:
            self._trailing.setdefault(symbol, {})[position_id] = None
        elif old is not None and old.trailing is not None:
            self._discard_trailing(symbol, position_id)

    def _forget(self, position_id: str, symbol: str) -> None:
        self._index.remove(position_id)
        self._discard_trailing(symbol, position_id)
        fired = self._fired.get(symbol)
        if fired is not None:
            fired.pop(position_id, None)
        self._exchange_stop.pop(position_id, None)
        self._exchange_take_profit.pop(position_id, None)
        self._unsynced.discard(position_id)
        self._amend_locks.pop(position_id, None)

    def _discard_trailing(self, symbol: str, position_id: str) -> None:
        ids = self._trailing.get(symbol)
        if ids is not None:
            ids.pop(position_id, None)
            if not ids:
                del self._trailing[symbol]

    def _remember_closed(self, position: Position) -> None:
        self._closed.pop(position.id, None)
        self._closed[position.id] = position
        if len(self._closed) > RECENTLY_CLOSED:
            del self._closed[next(iter(self._closed))]

    def _current(self, position: Position) -> Position:
        return self._positions.get(position.id) or self._closed.get(position.id) or position

    def _book_realized(self, amount: Decimal, at: datetime) -> None:
        day = _utc_date(at)
        if self._realized_day is None or day > self._realized_day:
            self._realized_day = day
            self._realized_today = ZERO
        if day == self._realized_day:
            self._realized_today += amount

    def _today(self) -> date:
        return _utc_date(self._clock.now())

    # ----------------------------------------------------------------------- opening
    def _open(  # noqa: PLR0917 - private; the entry fill's parts, in the caller's order
        self,
        position_id: str,
        order: Order,
        fill: Fill,
        at: datetime,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        trailing: TrailingStop | None,
    ) -> PositionChange:
        alerts: list[Event] = []
        levels: dict[str, Decimal | None] = {"stop_loss": stop_loss, "take_profit": take_profit}
        instrument = self._instrument(fill.symbol)
        max_leverage = self._config.risk.max_leverage
        if instrument is not None:
            max_leverage = min(max_leverage, instrument.max_leverage)
        for _ in range(3):
            result = Position.open_from_fills(
                (fill,),
                id=position_id,
                leverage=order.leverage,
                stop_loss=levels["stop_loss"],
                take_profit=levels["take_profit"],
                exit_fee_rate=self._exit_fee_rate(instrument),
                max_leverage=max_leverage,
                trailing=trailing,
            )
            if is_successful(result):
                change = result.unwrap()
                break
            refusal = result.failure()
            if levels.get(refusal.field) is None:
                msg = f"entry fill {fill.trade_id} cannot open position {position_id}: {refusal}"
                raise ValueError(msg)
            alerts.append(self._dropped_level(position_id, refusal, at))
            levels[refusal.field] = None
        else:  # pragma: no cover - two levels, each dropped at most once
            msg = f"position {position_id}: levels kept failing"
            raise AssertionError(msg)
        previous = self._closed.pop(position_id, None)
        if previous is not None:
            change = _reopened(previous, change)
        if not alerts:
            return change
        return PositionChange(position=change.position, events=(*change.events, *alerts))

    def _increase(self, position: Position, fill: Fill, at: datetime) -> PositionChange:
        alerts: list[Event] = []
        for _ in range(3):
            result = position.apply_fill(fill)
            if is_successful(result):
                change = result.unwrap()
                break
            refusal = result.failure()
            field = refusal.field
            if field not in {"stop_loss", "take_profit"}:
                msg = f"entry fill {fill.trade_id} cannot add to position {position.id}: {refusal}"
                raise ValueError(msg)
            alerts.append(self._dropped_level(position.id, refusal, at))
            position = (
                attrs.evolve(position, stop_loss=None)
                if field == "stop_loss"
                else attrs.evolve(position, take_profit=None)
            )
        else:  # pragma: no cover - two levels, each dropped at most once
            msg = f"position {position.id}: levels kept failing"
            raise AssertionError(msg)
        if not alerts:
            return change
        return PositionChange(
            position=change.position,
            realized_pnl=change.realized_pnl,
            events=(*change.events, *alerts),
        )

    def _dropped_level(self, position_id: str, refusal: Refusal, at: datetime) -> AlertRaised:
        return AlertRaised(
            source=SOURCE,
            severity="critical",
            message=(
                f"position {position_id}: {refusal.field} dropped at the actual entry "
                f"({refusal.message}); the position has no {refusal.field} until it is set again"
            ),
            at=at,
        )

    def _oversized_exit(
        self, position: Position, order: Order, fill: Fill, refusal: AboveMaximum, at: datetime
    ) -> PositionChange:
        """Close `position` with the part of an exit `fill` it holds; report the excess.

        The applied part is the open size, at the fill's price, paying the fill's fee pro rata;
        the rest of the fill is named in a critical `AlertRaised` and changes no position.
        """
        moved = abs(fill.base_delta)  # what the fill took from the account, base fee included
        size = position.size
        closed = position.reduce(
            size,
            fill.price,
            at=fill.timestamp,
            fee=fill.fee_in_quote * size / moved,
            reason=_EXIT_REASONS[order.role],
        )
        if not is_successful(closed):  # pragma: no cover - apply_fill validated the fill
            msg = f"exit fill {fill.trade_id} cannot close position {position.id}: {closed}"
            raise AssertionError(msg)
        change = closed.unwrap()
        instrument = self._instrument(position.symbol)
        base = position.symbol if instrument is None else instrument.base
        traded = "sold" if fill.side is OrderSide.SELL else "bought"
        alert = AlertRaised(
            source=OVERSELL_SOURCE,
            severity="critical",
            message=(
                f"fill {fill.trade_id} of order {order.id}: {refusal.message} of position "
                f"{position.id}: {size} applied (the position is closed); the exchange "
                f"{traded} {moved - size} {base} beyond it, which no position holds: the "
                "account and the book now differ by that much, check the account"
            ),
            at=at,
        )
        return PositionChange(
            position=change.position,
            realized_pnl=change.realized_pnl,
            events=(*change.events, alert),
        )

    def _instrument(self, symbol: str) -> Instrument | None:
        return self._instruments.by_symbol.get(symbol)

    def _tick(self, symbol: str) -> Decimal | None:
        instrument = self._instruments.by_symbol.get(symbol)
        return None if instrument is None else instrument.tick_size

    def _exit_fee_rate(self, instrument: Instrument | None) -> Decimal:
        configured = self._config.positions.exit_fee_rate
        if configured is not None:
            return configured
        if instrument is None:
            return DEFAULT_EXIT_FEE_RATE
        if self._config.positions.exit_fee_role is LiquidityRole.MAKER:
            return instrument.maker_fee
        return instrument.taker_fee

    # ----------------------------------------------------------------------- exchange levels
    async def _push_levels(
        self, position_id: str, *, stop: bool, take_profit: bool
    ) -> tuple[ExchangeFailure | Refusal | None, ExchangeFailure | Refusal | None]:
        """Bring the exchange's stop / take-profit of a position to the book's.

        Returns the failure of each (None: amended, already there, or nothing to do).

        The lock guards the ORDER of the amendments sent for this one position: without it, a
        trailing amendment and a manual one awaited at the same time could reach the exchange in
        the other order and leave it with the older level. Inside the lock the book's CURRENT
        level is sent (not the one the caller saw), so whoever goes last converges the exchange
        on the book. The book itself is never changed under the lock.
        """
        orders = self._orders
        if orders is None:
            return None, None
        lock = self._amend_locks.get(position_id)
        if lock is None:
            lock = self._amend_locks[position_id] = asyncio.Lock()
        async with lock:
            stop_failure = await self._push_one(orders, position_id, stop=True) if stop else None
            target_failure = (
                await self._push_one(orders, position_id, stop=False) if take_profit else None
            )
        return stop_failure, target_failure

    async def _push_one(
        self, orders: OrderControl, position_id: str, *, stop: bool
    ) -> ExchangeFailure | Refusal | None:
        position = self._positions.get(position_id)
        if position is None:
            return None
        level = position.stop_loss if stop else position.take_profit
        sent = self._exchange_stop if stop else self._exchange_take_profit
        if level is None or sent.get(position_id) == level:
            return None
        if stop:
            result: AmendResult = await orders.amend_stop(position_id, level)
        else:
            result = await orders.amend_take_profit(position_id, level)
        if not is_successful(result):
            return result.failure()
        if position_id in self._positions:
            sent[position_id] = level
        return None

    # ----------------------------------------------------------------------- recording
    async def _record(
        self,
        events: Sequence[Event],
        *,
        positions: Sequence[Position] = (),
        snapshots: Sequence[PositionSnapshot] = (),
    ) -> None:
        """Commit (earlier failed units first), then publish. A failed commit is kept and raised.

        A kept unit's position rows are replaced by the book's current values when it is retried,
        so a late retry never stores an older position over a newer one.
        """
        unit = UnitOfWork(
            events=tuple(events), positions=tuple(positions), snapshots=tuple(snapshots)
        )
        if unit:
            self._pending.append(unit)
        if not self._pending:
            return
        published: list[Event] = []
        async with self._commit_lock:
            while self._pending:
                head = self._pending[0]
                if head.positions:
                    current = tuple(self._current(p) for p in head.positions)
                    head = attrs.evolve(head, positions=current)
                await self._repository.commit(head)
                self._pending.pop(0)
                published.extend(head.events)
        if published and self._publisher is not None:
            await self._publisher.publish(published)

    def _alert(self, severity: str, message: str) -> AlertRaised:
        return AlertRaised(source=SOURCE, severity=severity, message=message, at=self._clock.now())


# --------------------------------------------------------------------------- helpers
def _no_open_position(symbol: str, position_id: str) -> InvalidValue:
    return InvalidValue(
        symbol=symbol, field="position_id", actual=position_id, reason="names no open position"
    )


def _fraction(symbol: str, fraction: DecimalLike) -> Result[Decimal, Refusal]:
    try:
        value = to_decimal(fraction, field="fraction")
    except InvalidNumber as error:
        return Failure(
            InvalidValue(
                symbol=symbol, field="fraction", actual=str(error.value), reason=error.reason
            )
        )
    if not ZERO < value <= ONE:
        return Failure(
            InvalidValue(
                symbol=symbol, field="fraction", actual=value, reason="must be > 0 and <= 1"
            )
        )
    return Success(value)


def _rounded(value: Decimal, tick: Decimal | None, side: PositionSide, *, stop: bool) -> Decimal:
    """`value` on the tick in the safe direction; a value already on it is kept as written."""
    if tick is None or value <= ZERO or is_multiple(value, tick):
        return value  # a non-positive level is refused by the validation that follows
    return round_stop_loss(value, side, tick) if stop else round_take_profit(value, side, tick)


def _utc_date(at: datetime) -> date:
    return at.date() if at.tzinfo is None else at.astimezone(UTC).date()


def _reopened(previous: Position, change: PositionChange) -> PositionChange:
    """A late entry fill on a closed position opens it again, keeping its exit history."""
    fresh = change.position
    position = Position(
        fresh.symbol,
        fresh.side,
        fresh.size,
        fresh.entry_price,
        id=fresh.id,
        leverage=fresh.leverage,
        stop_loss=fresh.stop_loss,
        take_profit=fresh.take_profit,
        entry_fees=fresh.entry_fees,
        realized_pnl=previous.realized_pnl,
        exit_fee_rate=fresh.exit_fee_rate,
        max_leverage=fresh.max_leverage,
        trailing=fresh.trailing,
        exited_quantity=previous.exited_quantity,
        exit_value=previous.exit_value,
        opened_at=previous.opened_at,
    )
    return PositionChange(position=position, events=change.events)
