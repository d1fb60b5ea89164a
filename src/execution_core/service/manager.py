# Rules of this module (design.md §2 and §4, docs/dev/service-design.md):
# - One event loop. In-memory state changes only in synchronous code between awaits, through
#   `_put` (the book, the statistics, the reservations, the deadlines move together); I/O
#   follows: commit (retried) -> publish.
# - An order is committed PENDING before anything is sent and SUBMITTED before `place_order` is
#   awaited. A placement whose outcome is unknown is resolved by `find_order(client id)` BEFORE
#   any retry: one proposal never creates two exchange orders.
# - A refused proposal stores no order and sends nothing: only its `ProposalRefused` event.
# - Every fill reaches the position in the same unit of work as the order change, and the
#   position's stop-loss / take-profit orders follow the filled size.
"""`OrderExecutionManager`: trade proposals in, exchange orders out, fills onto positions.

See docs/execution-service.md for how a bot uses it and docs/dev/service-design.md for the
contract with the `PositionTracker`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Final, Protocol, TypeAlias

import attrs
from returns.result import Failure, Result, Success

from execution_core.config import DustPolicy, ExecutionConfig
from execution_core.domain import order_states
from execution_core.domain.enums import (
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
    TradingState,
)
from execution_core.domain.events import (
    AlertRaised,
    Event,
    OrderCancelled,
    OrderCreated,
    OrderNeedsReconciliation,
    ProposalRefused,
    TradingStateChanged,
)
from execution_core.domain.instruments import Instrument, Instruments, default_instruments
from execution_core.domain.numbers import ONE, ZERO
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import Position, PositionChange
from execution_core.domain.proposals import TradeProposal, client_order_id_for, plan_order
from execution_core.domain.refusals import (
    BelowMinimumSize,
    InvalidValue,
    MissingPrice,
    Refusal,
    TradingNotAllowed,
)
from execution_core.domain.risk import RiskSnapshot, check_pre_trade
from execution_core.domain.rounding import (
    capped_price,
    floor_to_step,
    round_stop_loss,
    round_take_profit,
)
from execution_core.domain.trailing import TrailingStop
from execution_core.ports import (
    Amendment,
    Clock,
    EventPublisher,
    Exchange,
    ExchangeFailure,
    FailureKind,
    OrderReport,
    Placement,
    ReportedStatus,
    Repository,
    RetryClass,
    RiskEngine,
    UnitOfWork,
)
from execution_core.service.order_book import OrderBook
from execution_core.service.reconcile import (
    OrderUpdate,
    order_from_report,
    reconcile,
    reconcile_order,
)
from execution_core.service.results import (
    ExecutionResult,
    KillSwitchResult,
    OrderControl,
    PollSummary,
    ReconciliationSummary,
)
from execution_core.service.retry import Pacer, RetryPolicy, is_retryable
from execution_core.service.statistics import ExecutionStatistics, StatisticsSnapshot
from execution_core.service.tasks import OrderTaskError, SupervisedLoop
from execution_core.service.tracker import PositionTracker

_ENTRY: Final = OrderRole.ENTRY
_EXIT: Final = OrderRole.EXIT
_STOP: Final = OrderRole.STOP_LOSS
_TARGET: Final = OrderRole.TAKE_PROFIT
_PENDING: Final = OrderStatus.PENDING
_BUY: Final = OrderSide.BUY
_IOC: Final = TimeInForce.IOC
_HALTED: Final = TradingState.HALTED
_ACTIVE: Final = TradingState.ACTIVE
SETTLE_POLLS: Final = 3
"""How many more passes a cancelled or expired order is polled for a fill reported late."""
_SETTLING: Final = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED})
_STILL_OPEN: Final = frozenset({ReportedStatus.OPEN, ReportedStatus.PENDING})
_SAFE_TO_REPEAT: Final = frozenset({RetryClass.RETRY, RetryClass.WAIT, RetryClass.OUTCOME_UNKNOWN})

OrderResult: TypeAlias = Result[Order, ExchangeFailure | Refusal]
"""An order after a change, or why the change was refused (by us or by the exchange)."""


class PositionBook(Protocol):
    """What the manager needs of the `PositionTracker` (docs/dev/service-design.md)."""

    def attach(self, orders: OrderControl) -> None:
        """Give the tracker the manager to act through."""
        ...

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
        """Open or increase the order's position (synchronous; the manager commits it)."""
        ...

    def apply_exit_fill(
        self, order: Order, fill: Fill, *, at: datetime
    ) -> Result[PositionChange, Refusal]:
        """Reduce or close the order's position (synchronous; never flips)."""
        ...

    def get(self, position_id: str) -> Position | None:
        """One position by id."""
        ...

    def open_positions(self) -> Sequence[Position]:
        """Every open position."""
        ...

    def exposures(self) -> Mapping[str, Decimal]:
        """Filled exposure per symbol, in quote."""
        ...

    def daily_pnl(self) -> Decimal:
        """Today's realized + unrealized P&L."""
        ...

    def load(self, positions: Sequence[Position]) -> None:
        """Positions from the repository, at start."""
        ...

    def set_instruments(self, instruments: Instruments) -> None:
        """The exchange's live instrument rules (fees, ticks), once `start` loaded them."""
        ...

    def fresh_price(self, symbol: str) -> Decimal | None:
        """The last price of `symbol` while it is fresh."""
        ...

    async def publish_exposures(self) -> None:
        """Push the exposures to the risk engine."""
        ...


# Outcomes of one placement, after the unknown ones were looked up.
@attrs.frozen
class _Placed:
    placement: Placement


@attrs.frozen
class _Found:
    report: OrderReport


@attrs.frozen
class _Again:
    failure: ExchangeFailure


@attrs.frozen
class _Refused:
    failure: ExchangeFailure


@attrs.frozen
class _Unresolved:
    failure: ExchangeFailure
    lookup: ExchangeFailure


_Outcome: TypeAlias = _Placed | _Found | _Again | _Refused | _Unresolved


def _again(outcome: _Outcome) -> bool:
    return isinstance(outcome, _Again)


def _safe_to_repeat(result: Result[object, ExchangeFailure]) -> bool:
    """Cancels and amends are idempotent (absolute values): even an unknown outcome may repeat."""
    return isinstance(result, Failure) and result.failure().retry in _SAFE_TO_REPEAT


def _default_id() -> str:
    # The service layer's one source of randomness; pass `id_factory` for deterministic ids.
    return str(uuid.uuid4())


class OrderExecutionManager:
    """Executes trade proposals on an `Exchange` and keeps the orders and positions in step.

    Construct it with the ports (in-memory adapters in tests and notebooks, Kraken and SQL in
    production), `await start()` it, then `await execute_trade(proposal)`. The monitor polls the
    exchange every `monitoring.poll_interval_seconds`; `poll_once()` runs one pass by hand.

    `take_profit_at_exchange=False` keeps only the stop-loss resting at the exchange and has the
    monitor close a position at its take-profit. Two resting orders linked by the manager (an
    emulated one-cancels-other) can both execute between two polls, or a fill can race the
    sibling's cancel; the excess sale is refused by the book and reported, never applied. With
    one resting order that race does not exist.
    """

    def __init__(  # noqa: PLR0915 - every collaborator and piece of state, in one place
        self,
        *,
        exchange: Exchange,
        repository: Repository,
        clock: Clock,
        config: ExecutionConfig,
        risk_engine: RiskEngine | None = None,
        publisher: EventPublisher | None = None,
        tracker: PositionBook | None = None,
        instruments: Instruments | None = None,
        id_factory: Callable[[], str] | None = None,
        take_profit_at_exchange: bool = True,
    ) -> None:
        self._exchange = exchange
        self._take_profit_at_exchange = take_profit_at_exchange
        self._repository = repository
        self._clock = clock
        self._config = config
        self._risk_engine = risk_engine
        self._publisher = publisher
        self._instruments = instruments if instruments is not None else default_instruments()
        if tracker is None:
            tracker = PositionTracker(
                repository=repository,
                clock=clock,
                config=config,
                instruments=self._instruments,
                risk_engine=risk_engine,
                publisher=publisher,
            )
        self._tracker: PositionBook = tracker
        self._new_id = id_factory or _default_id
        self._book = OrderBook()
        self._stats = ExecutionStatistics()
        self._retry = RetryPolicy(config.retry, clock)
        self._pacer = Pacer(config.rate_limit, clock)
        self._trading_state = _ACTIVE
        self._executing: dict[str, asyncio.Future[ExecutionResult]] = {}
        """Proposal ids being executed: a concurrent repeat waits for the first one's answer."""
        self._cancel_calls: dict[str, asyncio.Future[OrderResult]] = {}
        self._in_flight: set[str] = set()
        """Orders whose placement is being awaited: the monitor leaves them alone."""
        self._reservations: dict[str, tuple[str, Decimal]] = {}
        self._reserved: dict[str, Decimal] = {}
        """Funds promised to orders the exchange has not acknowledged yet, per asset."""
        self._entry_exposure: dict[str, Decimal] = {}
        self._pending_exposure: dict[str, Decimal] = {}
        """Notional of the unfilled remainder of open entry orders, per order and per symbol."""
        self._deadlines: list[tuple[datetime, int, str]] = []
        self._sequence = itertools.count()
        self._cancelling: dict[str, str] = {}
        """Orders whose cancel the exchange accepted, and why: the final report settles them."""
        self._closing: set[str] = set()
        self._in_close: set[str] = set()
        """Positions being closed: their contingent orders are not re-placed meanwhile."""
        self._dust_reported: dict[str, Decimal] = {}
        self._watched_targets: dict[str, None] = {}
        # Insertion-ordered (not a set): watched exits go out in the same order whatever the
        # hash seed, so a seeded run replays exactly.
        """Positions whose take-profit the exchange could not hold beside the stop (Kraken spot
        holds the base for an untriggered stop): the monitor closes them at the target."""
        self._backlog: deque[UnitOfWork] = deque()
        """Units of work the repository refused: committed, in order, before any newer one."""
        self._unprotected: dict[str, None] = {}
        """Positions whose stop the exchange refused: each pass tries again (reported once)."""
        self._resync: dict[str, None] = {}
        """Positions whose stop and target the next pass sizes again (an exit ended)."""
        self._settling: dict[str, int] = {}
        """Orders cancelled or expired lately, still polled a few times for fills reported late."""
        self._needs_reconcile = False
        self._handling: str | None = None
        self._monitor: SupervisedLoop | None = None
        self._heartbeat: SupervisedLoop | None = None
        tracker.attach(self)

    # ======================================================================= public API
    @property
    def trading_state(self) -> TradingState:
        """ACTIVE, REDUCING (exits only) or HALTED (nothing goes out)."""
        return self._trading_state

    @property
    def instruments(self) -> Instruments:
        """The instrument rules in use (live from the exchange after `start`)."""
        return self._instruments

    def get_order(self, order_id: str) -> Order | None:
        """An order by id, open or in the in-memory history."""
        return self._book.get(order_id)

    def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        """An order by client order id, open or in the in-memory history."""
        return self._book.by_client_id(client_order_id)

    def open_orders(self) -> list[Order]:
        """Every order not in a terminal status."""
        return self._book.open_orders()

    def statistics(self) -> StatisticsSnapshot:
        """Orders by status, refusals by reason, fills, fees, latency."""
        return self._stats.snapshot()

    async def start(self, *, run_loops: bool = True) -> ReconciliationSummary:
        """Load instruments and the stored book, reconcile with the exchange, start the loops.

        `run_loops=False` loads and reconciles only: drive `poll_once()` and `heartbeat()` by
        hand (tests, notebooks).
        """
        live = await self._exchange.instruments()
        if isinstance(live, Success):
            instruments = self._instruments
            for instrument in live.unwrap():
                instruments = instruments.replace(instrument)
            self._instruments = instruments
            self._tracker.set_instruments(instruments)
        for order in await self._repository.load_open_orders():
            self._put(order)
            self._schedule(order)
        self._tracker.load(await self._repository.load_open_positions())
        await self._tracker.publish_exposures()
        summary = await self.reconcile()
        if not run_loops:
            return summary
        self._monitor = SupervisedLoop(
            name="order-monitor",
            interval=self._config.monitoring.poll_interval_seconds,
            body=self.poll_once,
            clock=self._clock,
            on_failure=self._on_task_failure,
        )
        self._monitor.start()
        if self._config.heartbeat.timeout is not None:
            self._heartbeat = SupervisedLoop(
                name="heartbeat",
                interval=self._config.heartbeat.interval,
                body=self.heartbeat,
                clock=self._clock,
                on_failure=self._on_task_failure,
            )
            self._heartbeat.start()
        return summary

    async def stop(self) -> None:
        """Stop the loops; disarm the dead man's switch (a deliberate stop keeps the orders)."""
        for loop in (self._monitor, self._heartbeat):
            if loop is not None:
                await loop.stop()
        if self._heartbeat is not None:
            self._heartbeat = None
            await self._exchange.cancel_all_after(0)
        self._monitor = None

    # ----------------------------------------------------------------------- execute
    async def execute_trade(self, proposal: TradeProposal) -> ExecutionResult:
        """Pre-flight, plan, store, pace and place one proposal (see the module rules).

        A proposal with a `proposal_id` is executed once: a repeat, even a concurrent one, is
        answered with the first one's order (`reason="duplicate_proposal"`).
        """
        key = proposal.proposal_id
        if key is None:
            return await self._execute(proposal)
        running = self._executing.get(key)
        if running is not None:
            return _as_duplicate(await asyncio.shield(running), key)
        future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
        self._executing[key] = future  # before any await: the check and the claim are one step
        try:
            existing = self._book.get(key) or await self._repository.load_order(key)
            if existing is not None:
                self._stats.proposal()
                result = _as_duplicate(
                    ExecutionResult.of_order(
                        existing, success=existing.status is not OrderStatus.REJECTED
                    ),
                    key,
                )
            else:
                result = await self._execute(proposal)
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._executing[key]
        future.set_result(result)
        return result

    async def _execute(self, proposal: TradeProposal) -> ExecutionResult:  # noqa: PLR0911 - one return per pre-flight refusal, in the documented order
        started = self._clock.monotonic()
        self._stats.proposal()
        symbol = proposal.symbol
        state = self._trading_state
        if state is not _ACTIVE:
            return await self._refuse(
                TradingNotAllowed(
                    symbol=symbol, field="trading_state", limit=state.value, actual="entry"
                )
            )
        looked_up = self._instruments.get(symbol)
        if isinstance(looked_up, Failure):
            return await self._refuse(looked_up.failure())
        instrument = looked_up.unwrap()
        reference: Decimal | None = None
        if proposal.entry_price is None:
            quoted = await self._retry.call(
                lambda: self._exchange.reference_price(symbol), is_retryable
            )
            if isinstance(quoted, Failure):
                return await self._refuse(MissingPrice(symbol=symbol), detail=str(quoted.failure()))
            reference = quoted.unwrap()
        else:
            reference = self._tracker.fresh_price(symbol)
        now = self._clock.now()
        planned = plan_order(
            proposal,
            instrument,
            self._config,
            reference_price=reference,
            order_id=proposal.proposal_id or self._new_id(),
            now=now,
        )
        if isinstance(planned, Failure):
            return await self._refuse(planned.failure())
        order = planned.unwrap()
        snapshot = await self._risk_snapshot(instrument)
        if isinstance(snapshot, Failure):
            failure = snapshot.failure()
            return await self._refuse_failure(symbol, failure)
        # From here to the reservation nothing awaits: the check and the reservation are one step.
        checked = check_pre_trade(order, instrument, snapshot.unwrap(), self._config)
        if isinstance(checked, Failure):
            return await self._refuse(checked.failure())
        # The order carries its stop-loss and take-profit (rounded by `plan_order`): they reach
        # the position its first fill opens even after a restart reloaded it from the store.
        order = attrs.evolve(order, position_id=order.id)
        self._reserve(order, instrument)
        return await self._send(order, started=started)

    # ----------------------------------------------------------------------- monitor
    async def poll_once(self) -> PollSummary:  # noqa: C901, PLR0912 - the pass's steps, in order
        """One monitoring pass: ONE batched status call, lookups, timeouts and expiries."""
        now = self._clock.now()
        reports = updated = failures = 0
        status_calls = 0
        vanished: list[Order] = []
        ids = self._book.open_exchange_ids()
        settling = {
            order.exchange_order_id: order
            for order_id in self._settling
            if (order := self._book.get(order_id)) is not None and order.exchange_order_id
        }
        ids.extend(settling)
        if ids:
            status_calls = 1
            answer = await self._exchange.order_status(ids)
            if isinstance(answer, Failure):
                await self._alert(
                    "monitor", "error", f"order status poll failed: {answer.failure()}"
                )
                failures += 1
            else:
                found = answer.unwrap()
                reports = len(found)
                for exchange_id in ids:
                    order = self._book.open_by_exchange_id(exchange_id)
                    if order is None:
                        order = settling.get(exchange_id)
                        if order is None:
                            continue
                        order = self._book.get(order.id) or order
                    if order.id in self._in_flight:
                        continue
                    report = found.get(exchange_id)
                    if report is None:
                        if order.status.is_open:
                            vanished.append(order)
                        continue
                    if (
                        report.filled_size == order.filled_size
                        and report.status in _STILL_OPEN
                        and order.status is not _PENDING
                    ):
                        continue  # nothing new: the common case, without building an update
                    changed = await self._guarded(order.id, self._apply_report(order, report, now))
                    if changed is None:
                        failures += 1
                    elif changed:
                        updated += 1
                for position_id in dict.fromkeys(self._count_down_settling(settling.values())):
                    await self._guarded(position_id, self._sync_contingent(position_id))
        lookups = [
            order for order in self._book.unacknowledged() if order.id not in self._in_flight
        ]
        lookups.extend(vanished)
        for order in lookups:
            if await self._guarded(order.id, self._resolve_by_lookup(order)) is None:
                failures += 1
        timeouts = await self._expire_due(self._clock.now())
        resync, self._resync = self._resync, {}
        if self._trading_state is not _HALTED:
            for position_id in self._unprotected:
                resync[position_id] = None
        for position_id in resync:
            await self._guarded(position_id, self._sync_contingent(position_id))
        await self._watch_targets()
        if self._needs_reconcile:
            await self.reconcile()
        return PollSummary(
            status_calls=status_calls,
            reports=reports,
            updated=updated,
            lookups=len(lookups),
            timeouts=timeouts,
            failures=failures,
        )

    def _count_down_settling(self, polled: Iterable[Order]) -> list[str]:
        """One more report seen for each settling order; the positions whose orders settled."""
        settled: list[str] = []
        for order in polled:
            left = self._settling.get(order.id)
            if left is None:
                continue
            if left <= 1:
                del self._settling[order.id]
                if order.position_id is not None:
                    settled.append(order.position_id)
            else:
                self._settling[order.id] = left - 1
        return settled

    async def heartbeat(self) -> None:
        """Re-arm the exchange's dead man's switch (cancel everything unless called again)."""
        timeout = self._config.heartbeat.timeout
        if timeout is None:
            return
        armed = await self._retry.call(
            lambda: self._exchange.cancel_all_after(timeout), _safe_to_repeat
        )
        if isinstance(armed, Failure):
            await self._alert(
                "heartbeat",
                "critical",
                f"the dead man's switch could not be re-armed ({armed.failure()}); "
                f"the exchange cancels every order when the last {timeout} s run out",
            )

    # ----------------------------------------------------------------------- reconcile
    async def reconcile(self) -> ReconciliationSummary:
        """Bring the book in line with the exchange (at start and on demand)."""
        now = self._clock.now()
        listed = await self._retry.call(self._exchange.open_orders, is_retryable)
        if isinstance(listed, Failure):
            error = f"open orders could not be read: {listed.failure()}"
            await self._alert("reconciliation", "error", error)
            self._needs_reconcile = True
            return ReconciliationSummary(error=error)
        ids = [
            order.exchange_order_id
            for order in self._book.open_orders()
            if order.exchange_order_id is not None and order.id not in self._in_flight
        ]
        reports: Mapping[str, OrderReport] = {}
        if ids:
            answer = await self._retry.call(lambda: self._exchange.order_status(ids), is_retryable)
            if isinstance(answer, Failure):
                error = f"order status could not be read: {answer.failure()}"
                await self._alert("reconciliation", "error", error)
                self._needs_reconcile = True
                return ReconciliationSummary(error=error)
            reports = answer.unwrap()
        stored = [o for o in self._book.open_orders() if o.id not in self._in_flight]
        stored.extend(self._book.history())
        plan = reconcile(
            stored,
            reports,
            listed.unwrap(),
            at=now,
            unknown_order_policy=self._config.reconciliation.unknown_order_policy,
        )
        self._needs_reconcile = False
        if plan.events:
            self._stats.alert()
            await self._store(plan.events)
        for update in plan.updates:
            await self._guarded(update.order.id, self._apply_update(update))
        for adopted in plan.adopted:
            created = OrderCreated(order=adopted.previous, at=now)
            self._put(adopted.previous)
            await self._store((created,), orders=(adopted.previous,))
            await self._guarded(adopted.order.id, self._apply_update(adopted))
        cancelled = 0
        for report in plan.to_cancel:
            target = self._book.by_client_id(report.client_order_id or "") or order_from_report(
                report
            )
            target = attrs.evolve(target, exchange_order_id=report.exchange_order_id)
            done = await self._cancel_at_exchange(target, "reconciliation")
            cancelled += isinstance(done, Success)
        for order in plan.lookups:
            await self._guarded(order.id, self._resolve_by_lookup(order))
        # Whatever happened while we were not looking, every open position gets its stop and
        # target sized to what it holds (and a closed one loses its leftovers).
        await self._sync_all_contingent()
        return ReconciliationSummary(
            updated=len(plan.updates),
            looked_up=len(plan.lookups),
            unknown=len(plan.unknown),
            cancelled=cancelled,
            adopted=len(plan.adopted),
        )

    async def _sync_all_contingent(self) -> None:
        positions = {position.id: None for position in self._tracker.open_positions()}
        for order in self._book.open_orders():
            if order.role is not _ENTRY and order.position_id is not None:
                positions[order.position_id] = None
        for position_id in positions:
            await self._guarded(position_id, self._sync_contingent(position_id))

    # ----------------------------------------------------------------------- order control
    async def modify_order(  # noqa: PLR0911 - one return per refusal
        self,
        order_id: str,
        *,
        size: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderResult:
        """Amend a resting order in place at the exchange (not cancel-and-replace: DESIGN-3)."""
        order = self._book.get(order_id)
        if order is None:
            return Failure(_unknown_order(order_id))
        checked = order_states.amend(
            order, size=size, price=price, trigger_price=trigger_price, at=self._clock.now()
        )
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        if not checked.unwrap().events:
            return Success(order)
        if order.exchange_order_id is None:
            return Failure(
                InvalidValue(
                    symbol=order.symbol,
                    field="exchange_order_id",
                    actual=None,
                    reason="is not known yet: the order's placement is unresolved",
                )
            )
        await self._pacer.before_amend(order.symbol, self._age(order))
        amendment = Amendment(size=size, price=price, trigger_price=trigger_price)
        sent = await self._retry.call(
            lambda: self._exchange.amend_order(order, amendment), _safe_to_repeat
        )
        if isinstance(sent, Failure):
            failure = sent.failure()
            if not failure.outcome_unknown or not await self._amendment_took_effect(
                order, amendment, failure
            ):
                return Failure(failure)
        current = self._book.get(order_id) or order
        amended = order_states.amend(
            current, size=size, price=price, trigger_price=trigger_price, at=self._clock.now()
        )
        if isinstance(amended, Failure):
            # The order moved meanwhile (a fill took it past the new size); the next report
            # tells what the exchange made of the amendment.
            self._needs_reconcile = True
            return Failure(amended.failure())
        transition = amended.unwrap()
        self._put(transition.order)
        await self._store(transition.events, orders=(transition.order,))
        return Success(transition.order)

    async def _amendment_took_effect(
        self, order: Order, amendment: Amendment, failure: ExchangeFailure
    ) -> bool:
        """Whether an amendment whose every answer was lost is in force at the exchange.

        Read from the order's report: True when it shows every amended value. When the report
        cannot be read either, the order is marked for reconciliation and False is returned
        (the caller keeps the old values and says the amendment failed).
        """
        exchange_id = order.exchange_order_id or ""
        answer = await self._retry.call(
            lambda: self._exchange.order_status([exchange_id]), is_retryable
        )
        report = answer.unwrap().get(exchange_id) if isinstance(answer, Success) else None
        if report is None:
            self._needs_reconcile = True
            message = (
                f"amendment {amendment} of order {order.id}: every answer was lost ({failure}) "
                "and the order could not be read; the exchange may hold the new values"
            )
            await self._flag(order.id, "amend", "error", message)
            return False
        return (
            (amendment.size is None or report.size == amendment.size)
            and (amendment.price is None or report.limit_price == amendment.price)
            and (amendment.trigger_price is None or report.trigger_price == amendment.trigger_price)
        )

    async def cancel_order(self, order_id: str, *, reason: str = "user requested") -> OrderResult:
        """Cancel an order; the exchange's final report (with any late fill) settles it.

        Concurrent cancels of one order send one request and get the same answer.
        """
        running = self._cancel_calls.get(order_id)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[OrderResult] = asyncio.get_running_loop().create_future()
        self._cancel_calls[order_id] = future
        try:
            result = await self._cancel_once(order_id, reason)
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._cancel_calls[order_id]
        future.set_result(result)
        return result

    async def _cancel_once(  # noqa: PLR0911 - one return per case of the order's whereabouts
        self, order_id: str, reason: str
    ) -> OrderResult:
        order = self._book.get(order_id)
        if order is None:
            return Failure(_unknown_order(order_id))
        if order.status.is_terminal:
            return Success(order)
        if order.exchange_order_id is None:
            if order.id in self._in_flight:
                return Failure(
                    InvalidValue(
                        symbol=order.symbol,
                        field="status",
                        actual=order.status.value,
                        reason="is being placed; cancel it once the exchange has answered",
                    )
                )
            if order.status is _PENDING:
                await self._cancel_locally(order, reason)
                return Success(self._book.get(order_id) or order)
            await self._resolve_by_lookup(order)
            order = self._book.get(order_id) or order
            if order.status.is_terminal or order.exchange_order_id is None:
                return Success(order)
        if order.id not in self._cancelling:  # an accepted cancel is not sent again
            cancelled = await self._cancel_at_exchange(order, reason)
            if isinstance(cancelled, Failure):
                return Failure(cancelled.failure())
        await self._refresh((order,))
        return Success(self._book.get(order_id) or order)

    async def cancel_all(
        self, *, flatten: bool = False, reason: str = "kill switch"
    ) -> KillSwitchResult:
        """Kill switch: HALTED, cancel every order at the exchange, optionally close positions."""
        await self.set_trading_state(_HALTED, reason=reason)
        answer = await self._retry.call(self._exchange.cancel_all, _safe_to_repeat)
        error = None
        count = 0
        if isinstance(answer, Failure):
            error = f"cancel all failed: {answer.failure()}"
            await self._alert("kill-switch", "critical", error)
        else:
            count = answer.unwrap()
            for order in self._book.open_orders():
                if order.id not in self._in_flight:
                    self._cancelling.setdefault(order.id, reason)
        for order in self._book.unacknowledged():
            if order.status is _PENDING and order.id not in self._in_flight:
                await self._cancel_locally(order, reason)
        await self._refresh(tuple(o for o in self._book.open_orders() if o.exchange_order_id))
        closes: list[ExecutionResult] = []
        if flatten:
            for position in list(self._tracker.open_positions()):
                result = await self._close(position.id, fraction=ONE, reason="flatten", forced=True)
                closes.append(result)
        return KillSwitchResult(cancelled=count, closes=tuple(closes), error=error)

    async def set_trading_state(self, state: TradingState, *, reason: str = "manual") -> None:
        """Move the kill switch (ACTIVE / REDUCING / HALTED); each move is an event."""
        old = self._trading_state
        if old is state:
            return
        self._trading_state = state
        await self._store(
            (TradingStateChanged(old=old, new=state, reason=reason, at=self._clock.now()),)
        )

    # ----------------------------------------------------------------------- OrderControl
    async def amend_stop(
        self, position_id: str, stop_loss: Decimal
    ) -> Result[None, ExchangeFailure | Refusal]:
        """Move the position's exchange stop to `stop_loss` (placed if it has none yet)."""
        return await self._amend_level(position_id, _STOP, stop_loss)

    async def amend_take_profit(
        self, position_id: str, take_profit: Decimal
    ) -> Result[None, ExchangeFailure | Refusal]:
        """Move the position's exchange take-profit to `take_profit` (placed if it has none)."""
        return await self._amend_level(position_id, _TARGET, take_profit)

    async def close_position(
        self, position_id: str, *, fraction: Decimal = ONE, reason: str
    ) -> ExecutionResult:
        """Close `fraction` of a position with a protected market exit (full: SL/TP cancelled)."""
        return await self._close(position_id, fraction=fraction, reason=reason, forced=False)

    async def halt(self, reason: str) -> None:
        """Kill switch without flattening: HALTED and every open order cancelled."""
        await self.cancel_all(flatten=False, reason=reason)

    # ======================================================================= internals
    # ----------------------------------------------------------------------- state in memory
    def _put(self, order: Order) -> None:
        """Replace `order` in memory: the book, the statistics, exposure, reservations."""
        previous = self._book.put(order)
        self._stats.order_status(None if previous is None else previous.status, order.status)
        order_id = order.id
        if order.role is _ENTRY:
            self._track_entry_exposure(order)
        if order_id in self._reservations and (
            order.exchange_order_id is not None or order.status.is_terminal
        ):
            asset, amount = self._reservations.pop(order_id)
            self._reserved[asset] -= amount
        if order.status.is_terminal:
            self._cancelling.pop(order_id, None)
            if order.role is _EXIT and order.position_id is not None:
                # However it ended (filled, cancelled, never arrived), the close is over: the
                # position gets its protection back on the next pass if anything is left.
                self._closing.discard(order.position_id)
                self._resync[order.position_id] = None
            if order.status in _SETTLING and order.exchange_order_id is not None:
                if previous is None or not previous.status.is_terminal:
                    self._settling[order_id] = SETTLE_POLLS
            else:
                self._settling.pop(order_id, None)

    def _track_entry_exposure(self, order: Order) -> None:
        old = self._entry_exposure.pop(order.id, ZERO)
        new = ZERO
        if not order.status.is_terminal:
            price = order.reference_price if order.reference_price is not None else order.price
            if price is not None:
                new = order.remaining_size * price
        if new:
            self._entry_exposure[order.id] = new
        if old != new:
            symbol = order.symbol
            self._pending_exposure[symbol] = self._pending_exposure.get(symbol, ZERO) + new - old

    def _reserve(self, order: Order, instrument: Instrument) -> None:
        price = order.price if order.price is not None else order.reference_price
        if price is None:
            return
        if order.side is _BUY:
            fee = instrument.maker_fee if order.post_only else instrument.taker_fee
            asset, amount = instrument.quote, order.size * price * (ONE + fee)
        else:
            asset, amount = instrument.base, order.size
        self._reservations[order.id] = (asset, amount)
        self._reserved[asset] = self._reserved.get(asset, ZERO) + amount

    def _forget(self, order: Order) -> None:
        """Undo `_put` of an order whose creation could not be stored (it never existed)."""
        self._book.discard(order.id)
        self._stats.order_status(order.status, None)
        self._release(order.id)
        exposure = self._entry_exposure.pop(order.id, ZERO)
        if exposure:
            self._pending_exposure[order.symbol] -= exposure

    def _release(self, order_id: str) -> None:
        reservation = self._reservations.pop(order_id, None)
        if reservation is not None:
            asset, amount = reservation
            self._reserved[asset] -= amount

    def _schedule(self, order: Order) -> None:
        deadline: datetime | None = None
        timeout = self._timeout_for(order)
        if timeout is not None and order.created_at is not None:
            deadline = order.created_at + timedelta(seconds=timeout)
        expires = order.expires_at
        if expires is not None and (deadline is None or expires < deadline):
            deadline = expires
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, next(self._sequence), order.id))

    def _timeout_for(self, order: Order) -> float | None:
        orders = self._config.orders
        if order.time_in_force is _IOC:
            return orders.ioc_order_timeout_seconds
        if order.order_type.is_triggered:
            return orders.stop_order_timeout_seconds
        return orders.limit_order_timeout_seconds

    def _age(self, order: Order) -> float:
        # Kraken prices an amend or cancel by the time since the order was created OR LAST
        # AMENDED. The order's last change (`updated_at`) is never older than that, so the
        # cost estimated from it is never below Kraken's: the pacer errs on the safe side.
        since = order.updated_at or order.created_at
        if since is None:
            return 0.0
        return (self._clock.now() - since).total_seconds()

    # ----------------------------------------------------------------------- storing
    async def _persist(self, unit: UnitOfWork, *, keep_on_failure: bool = True) -> bool:
        """Commit `unit` after any older unit the store refused; False if it is not stored.

        With `keep_on_failure`, a unit that could not be stored stays queued (nothing that was
        acknowledged is lost); without, it is dropped (its change is being rolled back).
        """
        backlog = self._backlog
        backlog.append(unit)
        while backlog:
            try:
                await self._retry.call_raising(partial(self._repository.commit, backlog[0]))
            except Exception as error:  # noqa: BLE001 - a store failure is reported, not raised
                if not keep_on_failure and backlog and backlog[-1] is unit:
                    backlog.pop()
                self._stats.alert()
                alert = AlertRaised(
                    source="repository",
                    severity="critical",
                    message=(
                        f"commit failed after {self._retry.max_attempts} attempts "
                        f"({type(error).__name__}: {error}); {len(backlog)} change(s) queued"
                    ),
                    at=self._clock.now(),
                )
                backlog.append(UnitOfWork(events=(alert,)))
                await self._publish((alert,))
                return False
            backlog.popleft()
        return True

    async def _publish(self, events: Sequence[Event]) -> None:
        publisher = self._publisher
        if publisher is None or not events:
            return
        try:
            await publisher.publish(events)
        except Exception as error:  # noqa: BLE001 - a dead subscriber must not stop trading
            self._stats.alert()
            self._backlog.append(
                UnitOfWork(
                    events=(
                        AlertRaised(
                            source="publisher",
                            severity="error",
                            message=f"publishing failed: {type(error).__name__}: {error}",
                            at=self._clock.now(),
                        ),
                    )
                )
            )

    async def _store(
        self,
        events: Sequence[Event],
        *,
        orders: tuple[Order, ...] = (),
        fills: tuple[Fill, ...] = (),
        positions: tuple[Position, ...] = (),
    ) -> bool:
        unit = UnitOfWork(events=tuple(events), orders=orders, fills=fills, positions=positions)
        stored = await self._persist(unit)
        await self._publish(unit.events)
        return stored

    async def _flag(
        self,
        order_id: str,
        source: str,
        severity: str,
        message: str,
        *,
        alert: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Mark an order for reconciliation and raise the alert that says why, in one unit."""
        self._stats.alert()
        now = at or self._clock.now()
        await self._store(
            (
                OrderNeedsReconciliation(order_id=order_id, reason=message, at=now),
                AlertRaised(source=source, severity=severity, message=alert or message, at=now),
            )
        )

    async def _alert(self, source: str, severity: str, message: str) -> None:
        self._stats.alert()
        await self._store(
            (AlertRaised(source=source, severity=severity, message=message, at=self._clock.now()),)
        )

    # ----------------------------------------------------------------------- refusing
    async def _refuse(self, refusal: Refusal, *, detail: str | None = None) -> ExecutionResult:
        message = refusal.message if detail is None else f"{refusal.message} ({detail})"
        self._stats.refusal(refusal.code)
        await self._store(
            (
                ProposalRefused(
                    symbol=refusal.symbol, code=refusal.code, message=message, at=self._clock.now()
                ),
            )
        )
        return ExecutionResult(
            success=False, reason=refusal.code, error_message=message, refusal=refusal
        )

    async def _refuse_failure(self, symbol: str, failure: ExchangeFailure) -> ExecutionResult:
        code = failure.kind.value
        self._stats.refusal(code)
        message = f"{symbol}: the pre-flight checks could not read the account: {failure}"
        await self._store(
            (ProposalRefused(symbol=symbol, code=code, message=message, at=self._clock.now()),)
        )
        return ExecutionResult(success=False, reason=code, error_message=message)

    # ----------------------------------------------------------------------- pre-flight
    async def _risk_snapshot(self, instrument: Instrument) -> Result[RiskSnapshot, ExchangeFailure]:
        breaker_active = False
        breaker_reason = ""
        if self._risk_engine is not None:
            breaker = await self._risk_engine.circuit_breaker()
            breaker_active, breaker_reason = breaker.active, breaker.reason
        answer = await self._retry.call(self._exchange.balances, is_retryable)
        if isinstance(answer, Failure):
            return Failure(answer.failure())
        held = answer.unwrap()
        reserved = self._reserved
        balances: dict[str, Decimal] = {}
        for asset in (instrument.base, instrument.quote):
            balance = held.get(asset)
            available = ZERO if balance is None else balance.available
            balances[asset] = available - reserved.get(asset, ZERO)
        exposures: dict[str, Decimal] = dict(self._pending_exposure)
        for symbol, value in self._tracker.exposures().items():
            exposures[symbol] = exposures.get(symbol, ZERO) + value
        daily = self._tracker.daily_pnl()
        rates = await self._valuation_rates(exposures, instrument)
        total = ZERO
        for symbol, value in exposures.items():
            known = self._instruments.by_symbol.get(symbol)
            rate = rates.get(known.quote) if known is not None else None
            if rate is not None:
                total += value * rate
        return Success(
            RiskSnapshot(
                trading_state=self._trading_state,
                circuit_breaker_active=breaker_active,
                circuit_breaker_reason=breaker_reason,
                daily_realized_pnl=daily,
                balances=balances,
                exposures=exposures,
                total_exposure=total,
                valuation_rates=rates,
            )
        )

    async def _valuation_rates(
        self, exposures: Mapping[str, Decimal], instrument: Instrument
    ) -> dict[str, Decimal]:
        """USD and USDT at par; another quote (BTC) at its fresh USDT price when there is one."""
        rates = {"USD": ONE, "USDT": ONE}
        quotes = {instrument.quote}
        for symbol in exposures:
            known = self._instruments.by_symbol.get(symbol)
            if known is not None:
                quotes.add(known.quote)
        for quote in quotes - rates.keys():
            pair = f"{quote}/USDT"
            price = self._tracker.fresh_price(pair)
            if price is None and pair in self._instruments:
                quoted = await self._exchange.reference_price(pair)
                price = quoted.unwrap() if isinstance(quoted, Success) else None
            if price is not None:
                rates[quote] = price
        return rates

    # ----------------------------------------------------------------------- sending
    async def _send(
        self,
        order: Order,
        *,
        started: float | None = None,
        forced: bool = False,
    ) -> ExecutionResult:
        """PENDING -> commit -> SUBMITTED -> commit -> pace -> place (resolving unknowns)."""
        now = self._clock.now()
        self._put(order)
        created = OrderCreated(order=order, at=now)
        if not await self._persist(
            UnitOfWork(events=(created,), orders=(order,)), keep_on_failure=False
        ):
            self._forget(order)
            return _storage_failure(order, "nothing was stored nor sent")
        submitted = order_states.submit(order, at=now).unwrap()
        sent = submitted.order
        self._put(sent)
        self._in_flight.add(order.id)
        try:
            if not await self._persist(
                UnitOfWork(events=submitted.events, orders=(sent,)), keep_on_failure=False
            ):
                await self._cancel_locally(sent, "not sent: the store is unavailable")
                return _storage_failure(sent, "the order was not sent")
            await self._publish((created, *submitted.events))
            self._schedule(sent)
            await self._pacer.before_place(order.symbol)
            outcome = await self._place(sent)
        finally:
            self._in_flight.discard(order.id)
        if started is not None:
            self._stats.latency(self._clock.monotonic() - started)
        return await self._settle(sent, outcome, forced=forced)

    async def _place(self, order: Order) -> _Outcome:
        attempts = 0

        async def attempt() -> _Outcome:
            nonlocal attempts
            attempts += 1
            placed = await self._exchange.place_order(order)
            if isinstance(placed, Success):
                return _Placed(placed.unwrap())
            failure = placed.failure()
            if failure.outcome_unknown:
                # Never send again before asking whether the first one arrived.
                looked = await self._retry.call(
                    lambda: self._exchange.find_order(order.client_order_id), is_retryable
                )
                if isinstance(looked, Failure):
                    return _Unresolved(failure, looked.failure())
                report = looked.unwrap()
                if report is not None:
                    return _Found(report)
                return _Again(failure)  # it never arrived: sending it again is safe
            if failure.retry is RetryClass.NEVER:
                return _Refused(failure)
            return _Again(failure)

        outcome = await self._retry.call(attempt, _again)
        if attempts > 1:
            self._stats.retry(attempts - 1)
        return outcome

    async def _settle(self, order: Order, outcome: _Outcome, *, forced: bool) -> ExecutionResult:
        now = self._clock.now()
        current = self._book.get(order.id) or order
        match outcome:
            case _Placed(placement):
                accepted = order_states.accept(
                    current, exchange_order_id=placement.exchange_order_id, at=now
                )
                if isinstance(accepted, Failure):
                    refusal = accepted.failure()
                    self._needs_reconcile = True
                    await self._store(
                        (
                            OrderNeedsReconciliation(
                                order_id=order.id, reason=refusal.message, at=now
                            ),
                        )
                    )
                else:
                    transition = accepted.unwrap()
                    self._put(transition.order)
                    await self._store(transition.events, orders=(transition.order,))
            case _Found(report):
                await self._guarded(
                    order.id, self._apply_update(reconcile_order(current, report, at=now))
                )
            case _Refused(failure) | _Again(failure):
                rejected = order_states.reject(
                    current, code=failure.kind.value, message=str(failure), at=now
                )
                self._stats.refusal(failure.kind.value)
                if isinstance(rejected, Success):
                    transition = rejected.unwrap()
                    self._put(transition.order)
                    await self._store(transition.events, orders=(transition.order,))
                final = self._book.get(order.id) or current
                return ExecutionResult.of_order(
                    final, success=False, reason=failure.kind.value, message=str(failure)
                )
            case _Unresolved(failure, lookup):
                message = (
                    f"placement outcome unknown ({failure}) and the lookup failed ({lookup}); "
                    "the order stays SUBMITTED until the monitor finds it"
                )
                await self._flag(order.id, "placement", "error", message, at=now)
                return ExecutionResult.of_order(
                    current, success=False, reason=RetryClass.OUTCOME_UNKNOWN.value, message=message
                )
        final = self._book.get(order.id) or current
        if (
            self._trading_state is _HALTED
            and not forced
            and final.status.is_open
            and final.id not in self._cancelling
        ):
            # The kill switch went off while this order was on its way: take it back.
            await self._cancel_at_exchange(final, "trading halted while the order was sent")
        return ExecutionResult.of_order(final, success=True)

    # ----------------------------------------------------------------------- reports
    async def _guarded(self, order_id: str, work: Awaitable[object]) -> object | None:
        """Run work about one order; a failure marks it for reconciliation and returns None."""
        self._handling = order_id
        try:
            result = await work
        except Exception as error:  # noqa: BLE001 - reported as an alert, the pass goes on
            await self._order_failure(order_id, error)
            return None
        finally:
            self._handling = None
        return result if result is not None else False

    async def _apply_report(self, order: Order, report: OrderReport, now: datetime) -> bool:
        update = reconcile_order(order, report, at=now)
        reason = self._cancelling.get(order.id)
        if reason is not None and update.order.status is OrderStatus.CANCELLED:
            update = _with_cancel_reason(update, reason)
        if not update.changed:
            return False
        await self._apply_update(update)
        return True

    async def _apply_update(self, update: OrderUpdate) -> None:  # noqa: C901 - commit, then the follow-ups
        """Commit an order change with its fills and position changes; then follow up.

        Each fill reaches the position exactly once: if passing fill k to the tracker fails,
        the order is stored as it was before fill k (the next report brings k again) and the
        failure is raised as an `OrderTaskError` naming the order.
        """
        tracker = self._tracker
        positions: dict[str, Position] = {}
        position_events: list[Event] = []
        failed: Exception | None = None
        if update.fills:
            now = self._clock.now()
            instrument = self._instruments.by_symbol.get(update.order.symbol)
            for index, fill in enumerate(update.fills):
                holder = update.after_fill[index]
                try:
                    change = self._position_change(tracker, holder, fill, now)
                except Exception as error:  # noqa: BLE001 - stored up to here, then reported
                    update = update.truncated(index)
                    failed = error
                    break
                if instrument is not None:
                    self._stats.fill(fill, base=instrument.base, quote=instrument.quote)
                if isinstance(change, Failure):
                    message = (
                        f"fill {fill.trade_id} of order {holder.id}: {change.failure().message}"
                    )
                    self._stats.alert()
                    self._needs_reconcile = True
                    position_events.append(
                        OrderNeedsReconciliation(order_id=holder.id, reason=message, at=now)
                    )
                    position_events.append(
                        AlertRaised(
                            source="positions", severity="critical", message=message, at=now
                        )
                    )
                    continue
                applied = change.unwrap()
                positions[applied.position.id] = applied.position
                position_events.extend(applied.events)
        order = update.order
        self._put(order)
        await self._store(
            (*update.events, *position_events),
            orders=(order,),
            fills=update.fills,
            positions=tuple(positions.values()),
        )
        if positions:
            await tracker.publish_exposures()
        if failed is not None:
            raise OrderTaskError(order.id, failed)
        position_id = order.position_id or (order.id if order.role is _ENTRY else None)
        if position_id is None:
            return
        if order.status.is_terminal and order.role is _EXIT:
            self._closing.discard(position_id)
        if positions or order.status.is_terminal:
            await self._sync_contingent(position_id)

    def _position_change(
        self, tracker: PositionBook, order: Order, fill: Fill, now: datetime
    ) -> Result[PositionChange, Refusal]:
        if order.role is _ENTRY:
            # The levels travel with the order (persisted with it), not in this process.
            return Success(
                tracker.apply_entry_fill(
                    order, fill, at=now, stop_loss=order.stop_loss, take_profit=order.take_profit
                )
            )
        return tracker.apply_exit_fill(order, fill, at=now)

    async def _resolve_by_lookup(self, order: Order) -> bool:
        """Find an order the batch did not cover by its client id (open AND closed orders)."""
        looked = await self._retry.call(
            lambda: self._exchange.find_order(order.client_order_id), is_retryable
        )
        if isinstance(looked, Failure):
            self._needs_reconcile = True
            return False
        report = looked.unwrap()
        current = self._book.get(order.id) or order
        if current.status.is_terminal or current.id in self._in_flight:
            return False
        if report is not None:
            return await self._apply_report(current, report, self._clock.now())
        if current.exchange_order_id is None:
            reason = "never sent" if current.status is _PENDING else "never reached the exchange"
            await self._cancel_locally(current, reason)
            return True
        message = (
            f"order {current.id} ({current.exchange_order_id}) is unknown to the exchange: "
            "marked cancelled; check the account"
        )
        await self._flag(current.id, "monitor", "critical", message)
        await self._cancel_locally(current, "vanished at the exchange")
        return True

    async def _refresh(self, orders: Sequence[Order]) -> None:
        """One targeted status call for `orders`, each report applied."""
        ids = [o.exchange_order_id for o in orders if o.exchange_order_id is not None]
        if not ids:
            return
        answer = await self._retry.call(lambda: self._exchange.order_status(ids), is_retryable)
        if isinstance(answer, Failure):
            self._needs_reconcile = True
            return
        found = answer.unwrap()
        now = self._clock.now()
        for exchange_id in ids:
            order = self._book.open_by_exchange_id(exchange_id)
            report = found.get(exchange_id)
            if order is not None and report is not None:
                await self._guarded(order.id, self._apply_report(order, report, now))

    async def _expire_due(self, now: datetime) -> int:
        """Cancel the remainder of every open order past its timeout or GTD expiry."""
        deadlines = self._deadlines
        later: list[tuple[datetime, int, str]] = []
        count = 0
        while deadlines and deadlines[0][0] <= now:
            entry = heapq.heappop(deadlines)
            order = self._book.get(entry[2])
            if order is None or order.status.is_terminal or order.id in self._cancelling:
                continue
            if order.exchange_order_id is None or order.id in self._in_flight:
                later.append(entry)  # not at the exchange yet (or unresolved): next pass
                continue
            expired = order.expires_at is not None and order.expires_at <= now
            reason = "expired (GTD)" if expired else "timeout"
            await self._guarded(order.id, self._cancel_at_exchange(order, reason))
            count += 1
        for entry in later:
            heapq.heappush(deadlines, entry)
        return count

    # ----------------------------------------------------------------------- cancelling
    async def _cancel_at_exchange(self, order: Order, reason: str) -> Result[None, ExchangeFailure]:
        self._pacer.on_cancel(order.symbol, self._age(order))
        done = await self._retry.call(lambda: self._exchange.cancel_order(order), _safe_to_repeat)
        if isinstance(done, Success):
            self._cancelling[order.id] = reason
            return done
        failure = done.failure()
        if failure.kind is FailureKind.UNKNOWN_ORDER:
            # Already closed at the exchange: its final report will say how.
            self._cancelling[order.id] = reason
        return done

    async def _cancel_locally(self, order: Order, reason: str) -> None:
        """Cancel an order that is not at the exchange (never sent, or never arrived)."""
        current = self._book.get(order.id) or order
        cancelled = order_states.cancel(current, reason=reason, at=self._clock.now())
        if isinstance(cancelled, Success):
            transition = cancelled.unwrap()
            self._put(transition.order)
            await self._store(transition.events, orders=(transition.order,))
        self._release(order.id)

    async def _cancel_quietly(self, order: Order, reason: str) -> None:
        """Cancel an order of ours as a follow-up; a failure is an alert, not an exception."""
        if order.id in self._cancelling or order.status.is_terminal:
            return
        if order.exchange_order_id is None:
            if order.status is _PENDING and order.id not in self._in_flight:
                await self._cancel_locally(order, reason)
            return
        done = await self._cancel_at_exchange(order, reason)
        if isinstance(done, Failure) and done.failure().kind is not FailureKind.UNKNOWN_ORDER:
            await self._alert(
                "contingent", "error", f"order {order.id} could not be cancelled: {done.failure()}"
            )

    async def _order_failure(self, order_id: str, error: BaseException) -> None:
        self._needs_reconcile = True
        message = f"{type(error).__name__}: {error}"
        await self._flag(
            order_id,
            "monitor",
            "error",
            message,
            alert=f"handling order {order_id} failed: {message}",
        )

    async def _on_task_failure(self, name: str, error: Exception) -> None:
        order_id = error.order_id if isinstance(error, OrderTaskError) else self._handling
        self._needs_reconcile = True
        if order_id is not None:
            await self._order_failure(order_id, error)
            return
        await self._alert(name, "error", f"{name} failed: {type(error).__name__}: {error}")

    # ----------------------------------------------------------------------- contingent orders
    async def _sync_contingent(self, position_id: str) -> None:  # noqa: C901, PLR0912 - one rule per branch
        """Size the position's stop-loss and take-profit orders to what is open (OCO).

        The target size of each is the position's size minus what open exit orders are about
        to take; a closed position has none; a dust remainder follows the dust policy.
        """
        tracker = self._tracker
        if position_id in self._closing or position_id in self._in_close:
            return
        position = tracker.get(position_id)
        linked = self._book.open_for_position(position_id)
        if position is None or not position.is_open:
            # The trade is over: its protective and exit orders go, and so does whatever of
            # its entry has not filled yet (a late entry fill would reopen it unprotected).
            entry = self._book.get(position_id)
            if entry is not None and entry.role is _ENTRY and entry.status.is_open:
                linked.append(entry)
            for order in linked:
                await self._cancel_quietly(order, "position closed")
            self._dust_reported.pop(position_id, None)
            self._watched_targets.pop(position_id, None)
            self._unprotected.pop(position_id, None)
            return
        instrument = self._instruments.by_symbol.get(position.symbol)
        if instrument is None:
            return
        exiting = sum((o.remaining_size for o in linked if o.role is _EXIT), ZERO)
        target = position.size - exiting
        minimum = self._config.min_size(instrument)
        entry = self._book.get(position_id)
        entry_open = entry is not None and entry.status.is_open
        for role, level in ((_STOP, position.stop_loss), (_TARGET, position.take_profit)):
            existing = self._book.open_for_position_with_role(position_id, role)
            if existing is not None and existing.exchange_order_id is None:
                continue  # still being placed: the next report resizes it
            if level is None or target <= ZERO:
                if existing is not None:
                    await self._cancel_quietly(existing, "nothing left to protect")
                continue
            if role is _TARGET and existing is None and not self._take_profit_at_exchange:
                self._watched_targets[position_id] = None
            watched = role is _TARGET and position_id in self._watched_targets
            if target < minimum or (existing is None and watched):
                continue
            if existing is None:
                await self._place_contingent(position, instrument, role, level, target)
            elif existing.id not in self._cancelling:
                wanted = existing.filled_size + target
                if wanted != existing.size:
                    resized = await self.modify_order(existing.id, size=wanted)
                    if (
                        isinstance(resized, Failure)
                        and role is _STOP
                        and _short_of_funds(resized.failure())
                        and await self._free_funds_for_stops(position.symbol)
                    ):
                        resized = await self.modify_order(existing.id, size=wanted)
                    if isinstance(resized, Failure):
                        await self._resize_failed(position_id, existing, target, resized.failure())
                    elif role is _STOP and position_id in self._unprotected:
                        del self._unprotected[position_id]
        if ZERO < target < minimum and not entry_open:
            await self._handle_dust(position, instrument, target, minimum)

    async def _resize_failed(
        self, position_id: str, order: Order, target: Decimal, failure: ExchangeFailure | Refusal
    ) -> None:
        """Report a stop or target that could not follow the position; a stop is retried."""
        if order.role is _STOP:
            if position_id in self._unprotected:
                return  # reported already; each pass tries again
            self._unprotected[position_id] = None
        await self._alert(
            "contingent",
            "critical" if order.role is _STOP else "error",
            f"{order.role} order {order.id} of position {position_id} could not be resized to "
            f"{target}: {failure}" + ("; the monitor keeps trying" if order.role is _STOP else ""),
        )

    async def _place_contingent(
        self,
        position: Position,
        instrument: Instrument,
        role: OrderRole,
        level: Decimal,
        size: Decimal,
    ) -> None:
        now = self._clock.now()
        order_id = self._new_id()
        tick = instrument.tick_size
        trigger = (
            round_stop_loss(level, position.side, tick)
            if role is _STOP
            else round_take_profit(level, position.side, tick)
        )
        order = Order(
            id=order_id,
            client_order_id=client_order_id_for(order_id),
            symbol=position.symbol,
            side=position.side.exit_side,
            order_type=OrderType.STOP_LOSS if role is _STOP else OrderType.TAKE_PROFIT,
            size=size,
            trigger_price=trigger,
            reduce_only=True,
            role=role,
            position_id=position.id,
            parent_order_id=position.id,
            created_at=now,
            updated_at=now,
        )
        checked = check_pre_trade(
            order,
            instrument,
            RiskSnapshot(trading_state=self._trading_state),
            self._config,
            is_exit=True,
        )
        if isinstance(checked, Failure):
            await self._alert(
                "contingent",
                "critical",
                f"position {position.id} has no {role} order: {checked.failure().message}",
            )
            return
        result = await self._send(order)
        if (
            not result.success
            and role is _STOP
            and result.reason == FailureKind.INSUFFICIENT_FUNDS.value
            and await self._free_funds_for_stops(position.symbol)
        ):
            order_id = self._new_id()
            order = attrs.evolve(order, id=order_id, client_order_id=client_order_id_for(order_id))
            result = await self._send(order)
        if (
            not result.success
            and role is _TARGET
            and result.reason == FailureKind.INSUFFICIENT_FUNDS.value
            and self._book.open_for_position_with_role(position.id, _STOP) is not None
        ):
            # Kraken spot holds the base for the untriggered stop: the target cannot rest beside
            # it. The monitor watches the target instead and exits when the price reaches it.
            self._watched_targets[position.id] = None
            await self._alert(
                "contingent",
                "info",
                f"position {position.id}: the take-profit {trigger} is watched by the monitor "
                "(the exchange holds the position for its stop-loss); a protected market exit "
                "closes the position when the reference price reaches it",
            )
            return
        if not result.success:
            if role is _STOP:
                if position.id in self._unprotected:
                    return  # reported already; the monitor keeps trying
                self._unprotected[position.id] = None
            await self._alert(
                "contingent",
                "critical",
                f"position {position.id} has no {role} order: {result.error_message}"
                + ("; the monitor keeps trying" if role is _STOP else ""),
            )
        elif role is _STOP and position.id in self._unprotected:
            del self._unprotected[position.id]
            await self._alert(
                "contingent", "info", f"position {position.id} has its stop-loss order again"
            )

    async def _free_funds_for_stops(self, symbol: str) -> bool:
        """Stops come first: resting take-profits on `symbol` give their funds back.

        An exchange that holds funds for untriggered orders (Kraken spot) may have funded a
        take-profit from the base of another position, leaving that position's stop without
        funds. Those take-profits are cancelled and watched by the monitor instead. False when
        there was none to cancel.
        """
        targets = [
            o
            for o in self._book.open_orders()
            if o.symbol == symbol
            and o.role is _TARGET
            and o.exchange_order_id is not None
            and o.id not in self._cancelling
        ]
        if not targets:
            return False
        for target in targets:
            if target.position_id is not None:
                self._watched_targets[target.position_id] = None
            await self._cancel_quietly(target, "its funds are needed for a stop-loss")
        await self._refresh(targets)
        await self._alert(
            "contingent",
            "warning",
            f"{symbol}: take-profit orders {', '.join(o.id for o in targets)} cancelled to fund "
            "stop-losses; their targets are watched by the monitor",
        )
        return True

    async def _handle_dust(
        self, position: Position, instrument: Instrument, size: Decimal, minimum: Decimal
    ) -> None:
        """A remainder below the exchange minimum: never stranded silently (dust policy)."""
        if self._dust_reported.get(position.id) == size:
            return
        self._dust_reported[position.id] = size
        for order in self._book.open_for_position(position.id):
            if order.role is not _EXIT:
                await self._cancel_quietly(order, "dust: below the exchange minimum")
        policy = self._config.partial_fills.dust_policy
        prefix = (
            f"position {position.id} ({position.symbol}) holds {size}, below the minimum "
            f"order size {minimum}"
        )
        if policy is DustPolicy.KEEP:
            await self._alert("dust", "warning", f"{prefix}: kept, unprotected (dust policy keep)")
            return
        result = await self._exit(position, instrument, size, reason="dust", forced=False)
        if result.success:
            await self._alert("dust", "warning", f"{prefix}: closing it (dust policy close)")
        else:
            await self._alert(
                "dust",
                "warning",
                f"{prefix}: the exchange refused to close it ({result.error_message}); kept",
            )

    async def _amend_level(
        self, position_id: str, role: OrderRole, level: Decimal
    ) -> Result[None, ExchangeFailure | Refusal]:
        tracker = self._tracker
        position = tracker.get(position_id)
        if position is None or not position.is_open:
            return Failure(_unknown_position(position_id))
        instrument = self._instruments.by_symbol.get(position.symbol)
        if instrument is None:
            return Failure(self._instruments.get(position.symbol).failure())
        tick = instrument.tick_size
        trigger = (
            round_stop_loss(level, position.side, tick)
            if role is _STOP
            else round_take_profit(level, position.side, tick)
        )
        existing = self._book.open_for_position_with_role(position_id, role)
        if existing is None and role is _TARGET and position_id in self._watched_targets:
            return Success(None)  # the monitor reads the tracker's level
        if existing is None:
            exiting = sum(
                (
                    o.remaining_size
                    for o in self._book.open_for_position(position_id)
                    if o.role is _EXIT
                ),
                ZERO,
            )
            target = position.size - exiting
            closing = position_id in self._closing or position_id in self._in_close
            if not closing and target >= self._config.min_size(instrument):
                await self._place_contingent(position, instrument, role, trigger, target)
            return Success(None)
        amended = await self.modify_order(existing.id, trigger_price=trigger)
        if isinstance(amended, Failure):
            return Failure(amended.failure())
        return Success(None)

    async def _watch_targets(self) -> int:
        """Close the positions whose watched take-profit the reference price has reached."""
        if not self._watched_targets:
            return 0
        by_symbol: dict[str, list[Position]] = {}
        for position_id in list(self._watched_targets):
            position = self._tracker.get(position_id)
            if position is None or not position.is_open:
                self._watched_targets.pop(position_id, None)
                continue
            by_symbol.setdefault(position.symbol, []).append(position)
        closed = 0
        for symbol, positions in by_symbol.items():
            quoted = await self._exchange.reference_price(symbol)
            if isinstance(quoted, Failure):
                continue  # the next pass looks again
            price = quoted.unwrap()
            for position in positions:
                target = position.take_profit
                if target is None or position.id in self._closing or position.id in self._in_close:
                    continue
                long = position.side is PositionSide.LONG
                if (price >= target) if long else (price <= target):
                    result = await self._guarded(
                        position.id, self.close_position(position.id, reason="take_profit")
                    )
                    closed += 1
                    if isinstance(result, ExecutionResult) and _refused_for_good(result):
                        # Sending the same exit every pass would not change the answer.
                        self._watched_targets.pop(position.id, None)
                        await self._alert(
                            "contingent",
                            "critical",
                            f"position {position.id}: its take-profit {target} was reached but "
                            f"the exit was refused ({result.error_message}); the target is no "
                            "longer watched",
                        )
        return closed

    # ----------------------------------------------------------------------- closing
    async def _close(  # noqa: C901, PLR0911, PLR0912 - full and partial closes share the checks
        self, position_id: str, *, fraction: Decimal, reason: str, forced: bool
    ) -> ExecutionResult:
        tracker = self._tracker
        position = tracker.get(position_id)
        if position is None or not position.is_open:
            return await self._refuse(_unknown_position(position_id))
        looked_up = self._instruments.get(position.symbol)
        if isinstance(looked_up, Failure):
            return await self._refuse(looked_up.failure())
        instrument = looked_up.unwrap()
        if not ZERO < fraction <= ONE:
            return await self._refuse(
                InvalidValue(
                    symbol=position.symbol,
                    field="fraction",
                    actual=fraction,
                    reason="must be above 0 and at most 1",
                )
            )
        minimum = self._config.min_size(instrument)
        quantity = floor_to_step(position.size * fraction, instrument.lot_size)
        if position.size - quantity < minimum:
            fraction = ONE  # what would be left could not be traded: close it all
        # `_in_close` holds while this call runs: what it cancels and what ends meanwhile must
        # not bring the stop back under it. `_closing` holds until its exit order has ended.
        self._in_close.add(position_id)
        self._closing.add(position_id)
        try:
            if fraction == ONE:
                blocker = await self._clear_for_full_close(position_id, reason)
            else:
                blocker = await self._resize_for_exit(position, quantity)
            position = tracker.get(position_id)
            if blocker is None and (position is None or not position.is_open):
                self._closing.discard(position_id)
                return ExecutionResult(
                    success=True,
                    reason="already_closed",
                    error_message=f"position {position_id} closed before the exit was sent",
                )
            if blocker is not None or position is None:
                self._closing.discard(position_id)
                self._in_close.discard(position_id)
                await self._sync_contingent(position_id)
                message = f"position {position_id} was not closed: {blocker}"
                await self._alert("close", "error", message)
                return ExecutionResult(
                    success=False, reason="contingent_orders_busy", error_message=message
                )
            if fraction == ONE:
                quantity = position.size
            if quantity < minimum:
                self._closing.discard(position_id)
                await self._handle_dust(position, instrument, quantity, minimum)
                return await self._refuse(
                    BelowMinimumSize(symbol=position.symbol, limit=minimum, actual=quantity)
                )
            result = await self._exit(position, instrument, quantity, reason=reason, forced=forced)
        except BaseException:
            self._closing.discard(position_id)
            raise
        finally:
            self._in_close.discard(position_id)
        exit_order = result.order
        if exit_order is None or exit_order.status.is_terminal:
            self._closing.discard(position_id)
            await self._sync_contingent(position_id)
        return result

    async def _clear_for_full_close(self, position_id: str, reason: str) -> str | None:
        """Cancel every order of the position before its exit; why not, if one stays open.

        A stop that filled while it was being cancelled is applied first (the final reports),
        so the exit is sized to what is really left.
        """
        linked = self._book.open_for_position(position_id)
        entry = self._book.get(position_id)
        if entry is not None and entry.role is _ENTRY and entry.status.is_open:
            linked.append(entry)  # what has not filled of the entry is not wanted any more
        for order in linked:
            await self._cancel_quietly(order, f"closing the position: {reason}")
        await self._refresh(linked)
        still = [o.id for o in self._book.open_for_position(position_id)]
        if entry is not None and (self._book.get(entry.id) or entry).status.is_open:
            still.append(entry.id)
        if still:
            return f"its orders {', '.join(still)} could not be cancelled yet"
        return None

    async def _resize_for_exit(self, position: Position, quantity: Decimal) -> str | None:
        """Shrink the stop and target to what the exit leaves; why not, if one cannot be."""
        linked = self._book.open_for_position(position.id)
        exiting = sum((o.remaining_size for o in linked if o.role is _EXIT), ZERO)
        remaining = position.size - exiting - quantity
        if remaining < ZERO:
            return f"open exits already take {exiting} of its {position.size}"
        for role in (_STOP, _TARGET):
            existing = self._book.open_for_position_with_role(position.id, role)
            if existing is None:
                continue
            if existing.exchange_order_id is None:
                return f"its {role} order {existing.id} is still being placed"
            wanted = existing.filled_size + remaining
            if wanted != existing.size:
                resized = await self.modify_order(existing.id, size=wanted)
                if isinstance(resized, Failure):
                    return (
                        f"its {role} order {existing.id} could not be resized: {resized.failure()}"
                    )
        return None

    async def _exit(
        self,
        position: Position,
        instrument: Instrument,
        quantity: Decimal,
        *,
        reason: str,
        forced: bool,
    ) -> ExecutionResult:
        """A slippage-protected market exit (limit IOC at the cap) of `quantity`."""
        symbol = position.symbol
        quoted = await self._retry.call(
            lambda: self._exchange.reference_price(symbol), is_retryable
        )
        if isinstance(quoted, Failure):
            return await self._refuse(MissingPrice(symbol=symbol), detail=str(quoted.failure()))
        reference = quoted.unwrap()
        side = position.side.exit_side
        orders = self._config.orders
        factor = orders.buy_cap_factor if side is _BUY else orders.sell_floor_factor
        now = self._clock.now()
        order_id = self._new_id()
        order = Order(
            id=order_id,
            client_order_id=client_order_id_for(order_id),
            symbol=symbol,
            side=side,
            order_type=OrderType.MARKET,
            size=quantity,
            price=capped_price(reference, side, factor, instrument.tick_size),
            time_in_force=_IOC,
            reference_price=reference,
            reduce_only=True,
            role=_EXIT,
            position_id=position.id,
            parent_order_id=position.id,
            created_at=now,
            updated_at=now,
            reason=reason,
        )
        if not forced:
            checked = check_pre_trade(
                order,
                instrument,
                RiskSnapshot(trading_state=self._trading_state),
                self._config,
                is_exit=True,
            )
            if isinstance(checked, Failure):
                return await self._refuse(checked.failure())
        return await self._send(order, forced=forced)


# --------------------------------------------------------------------------- helpers
def _as_duplicate(result: ExecutionResult, proposal_id: str) -> ExecutionResult:
    """The first execution's answer, given to a repeat of its proposal."""
    if result.order is None:
        return result  # refused before any order existed: the repeat is refused alike
    return attrs.evolve(
        result,
        reason="duplicate_proposal",
        error_message=f"proposal {proposal_id} was already executed",
    )


def _refused_for_good(result: ExecutionResult) -> bool:
    """An exit the exchange refused with a final answer (funds, minimum), not a passing one."""
    return not result.success and result.status is OrderStatus.REJECTED


def _short_of_funds(failure: ExchangeFailure | Refusal) -> bool:
    return isinstance(failure, ExchangeFailure) and failure.kind is FailureKind.INSUFFICIENT_FUNDS


def _unknown_order(order_id: str) -> InvalidValue:
    return InvalidValue(symbol="", field="order_id", actual=order_id, reason="is not a known order")


def _unknown_position(position_id: str) -> InvalidValue:
    return InvalidValue(
        symbol="", field="position_id", actual=position_id, reason="is not an open position"
    )


def _storage_failure(order: Order, what: str) -> ExecutionResult:
    return ExecutionResult(
        success=False,
        order_id=order.id,
        client_order_id=order.client_order_id,
        status=None,
        reason="storage_unavailable",
        error_message=f"the repository refused the order's record: {what}",
    )


def _with_cancel_reason(update: OrderUpdate, reason: str) -> OrderUpdate:
    """The update with our own reason for a cancel we asked for (not the exchange's wording)."""
    events = tuple(
        attrs.evolve(event, reason=reason) if isinstance(event, OrderCancelled) else event
        for event in update.events
    )
    return attrs.evolve(update, order=attrs.evolve(update.order, reason=reason), events=events)


_conforms: type[OrderControl] = OrderExecutionManager
