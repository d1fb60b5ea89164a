"""OrderExecutionManager.execute_trade: pre-flight, idempotent submission, retries, storage.

The exchange here is a small hand-written fake with observable state (its orders, its calls),
scripted failures per method, and fills the test applies by hand.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs
import pytest
from returns.result import Failure, Result, Success

from adapters.memory.clock import FakeClock
from adapters.memory.repository import InMemoryRepository
from execution_core.config import ExecutionConfig
from execution_core.domain.enums import (
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TradingState,
)
from execution_core.domain.events import (
    AlertRaised,
    Event,
    OrderCreated,
    OrderSubmitted,
    ProposalRefused,
    TradingStateChanged,
)
from execution_core.domain.instruments import Instrument, default_instruments
from execution_core.domain.orders import Order
from execution_core.domain.proposals import TradeProposal
from execution_core.ports import (
    Amendment,
    Balance,
    CircuitBreakerStatus,
    ExchangeFailure,
    FailureKind,
    OrderReport,
    Placement,
    ReportedStatus,
    RetryClass,
    RiskAlert,
)
from execution_core.service.manager import OrderExecutionManager
from execution_core.service.tracker import PositionTracker

TIMEOUT = ExchangeFailure(
    kind=FailureKind.TRANSPORT, retry=RetryClass.OUTCOME_UNKNOWN, code="timeout"
)
BUSY = ExchangeFailure(kind=FailureKind.UNAVAILABLE, retry=RetryClass.RETRY, code="EService:Busy")
NO_FUNDS = ExchangeFailure(
    kind=FailureKind.INSUFFICIENT_FUNDS, retry=RetryClass.NEVER, code="EOrder:Insufficient funds"
)


@attrs.define
class Scripted:
    failure: ExchangeFailure
    executes: bool = False


class FakeExchange:
    """An exchange in a few dictionaries. Orders rest until the test fills them."""

    def __init__(self, *, usdt: str = "100000", btc: str = "10") -> None:
        self.prices: dict[str, Decimal] = {"BTC/USDT": Decimal(45000), "XRP/USDT": Decimal("0.5")}
        self.reports: dict[str, OrderReport] = {}
        self.by_client_id: dict[str, str] = {}
        self.sent: list[Order] = []
        self.calls: Counter[str] = Counter()
        self.scripts: dict[str, list[Scripted]] = {}
        self.amendments: list[Amendment] = []
        self.switch: list[int] = []
        self.funds = {"USDT": Decimal(usdt), "BTC": Decimal(btc), "XRP": Decimal(100000)}
        self._ids = itertools.count(1)

    def fail_next(self, method: str, failure: ExchangeFailure, *, executes: bool = False) -> None:
        self.scripts.setdefault(method, []).append(Scripted(failure, executes))

    def _scripted(self, method: str) -> Scripted | None:
        self.calls[method] += 1
        queue = self.scripts.get(method)
        return queue.pop(0) if queue else None

    # ------------------------------------------------------------ test controls
    def fill(
        self, order: Order | str, quantity: str, price: str | None = None, fee: str = "0"
    ) -> None:
        exchange_id = order if isinstance(order, str) else self.by_client_id[order.client_order_id]
        report = self.reports[exchange_id]
        filled = report.filled_size + Decimal(quantity)
        cost = report.filled_cost + Decimal(quantity) * Decimal(
            price or report.limit_price or report.trigger_price or 0
        )
        status = ReportedStatus.CLOSED if filled == report.size else report.status
        self.reports[exchange_id] = attrs.evolve(
            report,
            filled_size=filled,
            filled_cost=cost,
            fee=report.fee + Decimal(fee),
            status=status,
        )

    def close(self, exchange_id: str, status: ReportedStatus = ReportedStatus.CANCELED) -> None:
        self.reports[exchange_id] = attrs.evolve(self.reports[exchange_id], status=status)

    def open_reports(self) -> list[OrderReport]:
        return [r for r in self.reports.values() if not r.is_closed]

    # ------------------------------------------------------------ the port
    async def place_order(self, order: Order) -> Result[Placement, ExchangeFailure]:
        await asyncio.sleep(0)  # a real exchange answers later: let other coroutines run
        script = self._scripted("place_order")
        if script is not None and not script.executes:
            return Failure(script.failure)
        exchange_id = f"X-{next(self._ids)}"
        self.sent.append(order)
        self.by_client_id[order.client_order_id] = exchange_id
        self.reports[exchange_id] = OrderReport(
            exchange_order_id=exchange_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            status=ReportedStatus.OPEN,
            size=order.size,
            filled_size=Decimal(0),
            filled_cost=Decimal(0),
            fee=Decimal(0),
            limit_price=order.price,
            trigger_price=order.trigger_price,
        )
        if script is not None:
            return Failure(script.failure)
        return Success(
            Placement(exchange_order_id=exchange_id, client_order_id=order.client_order_id)
        )

    async def amend_order(
        self, order: Order, amendment: Amendment
    ) -> Result[None, ExchangeFailure]:
        script = self._scripted("amend_order")
        if script is not None:
            return Failure(script.failure)
        self.amendments.append(amendment)
        exchange_id = order.exchange_order_id or ""
        report = self.reports[exchange_id]
        self.reports[exchange_id] = attrs.evolve(
            report,
            size=amendment.size or report.size,
            limit_price=amendment.price or report.limit_price,
            trigger_price=amendment.trigger_price or report.trigger_price,
        )
        return Success(None)

    async def cancel_order(self, order: Order) -> Result[None, ExchangeFailure]:
        await asyncio.sleep(0)  # the answer comes later: let other coroutines run
        script = self._scripted("cancel_order")
        if script is not None:
            return Failure(script.failure)
        report = self.reports.get(order.exchange_order_id or "")
        if report is None or report.is_closed:
            return Failure(
                ExchangeFailure(
                    kind=FailureKind.UNKNOWN_ORDER,
                    retry=RetryClass.NEVER,
                    code="EOrder:Unknown order",
                )
            )
        self.close(report.exchange_order_id)
        return Success(None)

    async def cancel_all(self) -> Result[int, ExchangeFailure]:
        self.calls["cancel_all"] += 1
        open_ids = [r.exchange_order_id for r in self.open_reports()]
        for exchange_id in open_ids:
            self.close(exchange_id)
        return Success(len(open_ids))

    async def cancel_all_after(self, timeout_seconds: int) -> Result[None, ExchangeFailure]:
        script = self._scripted("cancel_all_after")
        if script is not None:
            return Failure(script.failure)
        self.switch.append(timeout_seconds)
        return Success(None)

    async def order_status(
        self, exchange_order_ids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        script = self._scripted("order_status")
        if script is not None:
            return Failure(script.failure)
        return Success({i: self.reports[i] for i in exchange_order_ids if i in self.reports})

    async def find_order(self, client_order_id: str) -> Result[OrderReport | None, ExchangeFailure]:
        script = self._scripted("find_order")
        if script is not None:
            return Failure(script.failure)
        exchange_id = self.by_client_id.get(client_order_id)
        return Success(None if exchange_id is None else self.reports[exchange_id])

    async def open_orders(self) -> Result[Sequence[OrderReport], ExchangeFailure]:
        self.calls["open_orders"] += 1
        return Success(self.open_reports())

    async def balances(self) -> Result[Mapping[str, Balance], ExchangeFailure]:
        script = self._scripted("balances")
        if script is not None:
            return Failure(script.failure)
        held: dict[str, Decimal] = {}
        for report in self.open_reports():
            remaining = report.size - report.filled_size
            if report.side is OrderSide.BUY and report.limit_price is not None:
                hold = remaining * report.limit_price * Decimal("1.004")
                held["USDT"] = held.get("USDT", Decimal(0)) + hold
            elif report.side is OrderSide.SELL and report.trigger_price is None:
                base = report.symbol.split("/")[0]
                held[base] = held.get(base, Decimal(0)) + remaining
        return Success(
            {
                asset: Balance(
                    asset=asset, total=amount, available=amount - held.get(asset, Decimal(0))
                )
                for asset, amount in self.funds.items()
            }
        )

    async def instruments(self) -> Result[Sequence[Instrument], ExchangeFailure]:
        self.calls["instruments"] += 1
        return Success(list(default_instruments().by_symbol.values()))

    async def reference_price(self, symbol: str) -> Result[Decimal, ExchangeFailure]:
        script = self._scripted("reference_price")
        if script is not None:
            return Failure(script.failure)
        return Success(self.prices[symbol])


class FakeRiskEngine:
    def __init__(self) -> None:
        self.breaker = CircuitBreakerStatus(active=False)
        self.exposures: list[dict[str, Decimal]] = []

    async def circuit_breaker(self) -> CircuitBreakerStatus:
        return self.breaker

    async def update_exposures(self, exposures: Mapping[str, Decimal]) -> None:
        self.exposures.append(dict(exposures))

    async def drain_alerts(self) -> Sequence[RiskAlert]:
        return ()


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.published.extend(events)


@attrs.define
class World:
    manager: OrderExecutionManager
    exchange: FakeExchange
    repository: InMemoryRepository
    clock: FakeClock
    risk: FakeRiskEngine
    publisher: FakePublisher
    tracker: PositionTracker

    def stored(self, kind: type[object]) -> list[object]:
        return [s.event for s in self.repository.events if isinstance(s.event, kind)]


def world(config: ExecutionConfig | None = None, **funds: str) -> World:
    clock = FakeClock()
    exchange = FakeExchange(**funds)
    repository = InMemoryRepository()
    risk = FakeRiskEngine()
    publisher = FakePublisher()
    ids = (f"o-{n}" for n in itertools.count(1))
    config = config or ExecutionConfig()
    tracker = PositionTracker(
        repository=repository, clock=clock, config=config, risk_engine=risk, publisher=publisher
    )
    manager = OrderExecutionManager(
        exchange=exchange,
        repository=repository,
        clock=clock,
        config=config,
        risk_engine=risk,
        publisher=publisher,
        tracker=tracker,
        id_factory=lambda: next(ids),
    )
    return World(manager, exchange, repository, clock, risk, publisher, tracker)


LIMIT_BUY = TradeProposal("BTC/USDT", "buy", 4500, entry_price=45000)


# --------------------------------------------------------------------------- the happy path
async def test_a_limit_proposal_is_stored_pending_then_submitted_then_placed_and_accepted() -> None:
    w = world()
    result = await w.manager.execute_trade(LIMIT_BUY)
    assert result.success
    assert result.status is OrderStatus.OPEN
    assert result.order is not None
    assert result.order.exchange_order_id == "X-1"
    assert result.order.size == Decimal("0.1")
    kinds = [s.event.kind for s in w.repository.events]
    assert kinds[:3] == ["order_created", "order_submitted", "order_accepted"]
    created = w.stored(OrderCreated)[0]
    assert isinstance(created, OrderCreated)
    assert created.order.status is OrderStatus.PENDING
    assert created.order.client_order_id == result.client_order_id
    assert w.exchange.sent[0].status is OrderStatus.SUBMITTED
    assert [e.kind for e in w.publisher.published][:3] == kinds[:3]


async def test_slippage_protection_activation() -> None:
    """Review §5.4 #3 (CRITICAL-3): a market proposal goes out as a limit IOC at the cap."""
    w = world()
    result = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 450))
    sent = w.exchange.sent[0]
    assert result.success
    assert sent.order_type is OrderType.MARKET
    assert sent.time_in_force is TimeInForce.IOC
    assert sent.price == Decimal("45225.0")  # 45000 x 1.005
    assert sent.reference_price == Decimal(45000)
    sell = await w.manager.execute_trade(TradeProposal("BTC/USDT", "sell", 450))
    assert sell.order is not None
    assert sell.order.price == Decimal("44775.0")  # 45000 x 0.995


async def test_minimum_order_size_validation() -> None:
    """Review §5.4 #1 (CRITICAL-1): below the minimum nothing is stored and nothing is sent."""
    w = world()
    result = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 4, entry_price=45000))
    assert not result.success
    assert result.reason == "below_minimum_size"
    assert result.error_message is not None
    assert "0.0001" in result.error_message
    assert w.exchange.calls["place_order"] == 0
    assert await w.repository.load_open_orders() == []
    assert [s.event.kind for s in w.repository.events] == ["proposal_refused"]
    assert w.manager.statistics().refusals_by_reason == {"below_minimum_size": 1}


async def test_an_unknown_symbol_is_refused_with_a_typed_reason() -> None:
    w = world()
    result = await w.manager.execute_trade(TradeProposal("DOGE/USDT", "buy", 100))
    assert result.reason == "unknown_symbol"
    assert w.exchange.calls["place_order"] == 0


async def test_a_market_proposal_without_a_reference_price_is_refused_not_sized_in_usd() -> None:
    w = world(ExecutionConfig.from_mapping({"retry": {"max_attempts": 1}}))
    w.exchange.fail_next("reference_price", BUSY)
    result = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 450))
    assert result.reason == "missing_price"
    assert w.exchange.calls["place_order"] == 0


# --------------------------------------------------------------------------- pre-flight
@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("halted", "trading_not_allowed"),
        ("reducing", "trading_not_allowed"),
        ("circuit_breaker", "circuit_breaker_active"),
        ("poor", "insufficient_balance"),
        ("daily_loss", "above_maximum"),
    ],
)
async def test_pre_flight_check_failures(setup: str, reason: str) -> None:
    """Review §5.4 #14 (SAFETY-1): every pre-flight refusal stores nothing and sends nothing."""
    w = world(usdt="4500") if setup == "poor" else world()
    if setup == "halted":
        await w.manager.set_trading_state(TradingState.HALTED, reason="test")
    elif setup == "reducing":
        await w.manager.set_trading_state(TradingState.REDUCING, reason="test")
    elif setup == "circuit_breaker":
        w.risk.breaker = CircuitBreakerStatus(active=True, reason="drawdown 8%")
    elif setup == "daily_loss":
        # a position deep under water at a fresh price: today's loss is beyond the limit
        await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 9000, entry_price=45000))
        w.exchange.fill(w.exchange.sent[0], "0.2", "45000")
        await w.manager.poll_once()
        w.tracker.update_price("BTC/USDT", Decimal(39000))
    placed_before = w.exchange.calls["place_order"]
    result = await w.manager.execute_trade(LIMIT_BUY)
    assert not result.success
    assert result.reason == reason
    assert result.refusal is not None
    assert w.exchange.calls["place_order"] == placed_before
    refused = w.stored(ProposalRefused)
    assert refused
    assert isinstance(refused[-1], ProposalRefused)
    assert refused[-1].code == reason
    if setup == "poor":
        assert "4518" in (result.error_message or "")  # 4500 + 0.4% taker fee
    if setup == "circuit_breaker":
        assert "drawdown 8%" in (result.error_message or "")


async def test_position_limit_boundary_conditions() -> None:
    """Review §5.4 #10: exactly at the per-symbol exposure limit is allowed, above it is not."""
    config = ExecutionConfig.from_mapping({"risk": {"max_position_notional": 9000}})
    w = world(config)
    first = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 4500, entry_price=45000))
    at_limit = await w.manager.execute_trade(
        TradeProposal("BTC/USDT", "buy", 4500, entry_price=45000)
    )
    above = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 100, entry_price=45000))
    assert first.success
    assert at_limit.success  # 4500 + 4500 = 9000 = the limit
    assert not above.success
    assert above.reason == "above_maximum"
    assert above.refusal is not None
    assert above.refusal.field == "exposure"
    assert above.refusal.limit == Decimal(9000)


# --------------------------------------------------------------------------- idempotence
async def test_an_accepted_then_timed_out_placement_is_found_by_client_id_not_sent_twice() -> None:
    w = world()
    w.exchange.fail_next("place_order", TIMEOUT, executes=True)
    result = await w.manager.execute_trade(LIMIT_BUY)
    assert result.success
    assert result.status is OrderStatus.OPEN
    assert result.order is not None
    assert result.order.exchange_order_id == "X-1"
    assert len(w.exchange.sent) == 1
    assert w.exchange.calls["find_order"] == 1
    assert w.exchange.calls["place_order"] == 1


async def test_a_lost_placement_that_never_arrived_is_sent_again_with_the_same_client_id() -> None:
    w = world()
    w.exchange.fail_next("place_order", TIMEOUT, executes=False)
    result = await w.manager.execute_trade(LIMIT_BUY)
    assert result.success
    assert w.exchange.calls["place_order"] == 2
    assert w.exchange.calls["find_order"] == 1
    assert len(w.exchange.sent) == 1
    assert w.manager.statistics().retries == 1


async def test_an_unresolvable_placement_stays_submitted_and_the_monitor_finds_it_later() -> None:
    w = world(ExecutionConfig.from_mapping({"retry": {"max_attempts": 2}}))
    w.exchange.fail_next("place_order", TIMEOUT, executes=True)
    w.exchange.fail_next("find_order", TIMEOUT)
    w.exchange.fail_next("find_order", TIMEOUT)
    result = await w.manager.execute_trade(LIMIT_BUY)
    assert not result.success
    assert result.reason == "outcome_unknown"
    assert result.status is OrderStatus.SUBMITTED
    assert w.exchange.calls["place_order"] == 1  # never sent again while unresolved
    assert any(e.kind == "order_needs_reconciliation" for e in w.publisher.published)
    await w.manager.poll_once()
    order = w.manager.get_order(result.order_id or "")
    assert order is not None
    assert order.status is OrderStatus.OPEN
    assert order.exchange_order_id == "X-1"
    assert len(w.exchange.sent) == 1


async def test_a_retryable_refusal_is_retried_with_backoff_and_a_final_one_rejects() -> None:
    w = world()
    w.exchange.fail_next("place_order", BUSY)
    retried = await w.manager.execute_trade(LIMIT_BUY)
    assert retried.success
    assert w.exchange.calls["place_order"] == 2
    assert w.clock.sleeps  # backed off on the clock
    w.exchange.fail_next("place_order", NO_FUNDS)
    rejected = await w.manager.execute_trade(
        TradeProposal("BTC/USDT", "buy", 450, entry_price=45000)
    )
    assert not rejected.success
    assert rejected.reason == "insufficient_funds"
    assert rejected.status is OrderStatus.REJECTED
    assert w.exchange.calls["place_order"] == 3
    assert w.manager.statistics().refusals_by_reason == {"insufficient_funds": 1}


async def test_the_same_proposal_id_twice_creates_one_order() -> None:
    w = world()
    proposal = attrs.evolve(LIMIT_BUY, proposal_id="bot-7/42")
    first = await w.manager.execute_trade(proposal)
    second = await w.manager.execute_trade(proposal)
    assert first.success
    assert second.reason == "duplicate_proposal"
    assert second.order_id == first.order_id
    assert len(w.exchange.sent) == 1


# --------------------------------------------------------------------------- concurrency
async def test_concurrent_order_placement_and_cancellation() -> None:
    """Review §5.4 #7: concurrent proposals never overdraw the balance; cancels race safely."""
    config = ExecutionConfig.from_mapping({"risk": {"max_position_notional": 100000}})
    w = world(config, usdt="10000")  # enough for two orders of 4500 (+ fees), not three
    results = await asyncio.gather(*(w.manager.execute_trade(LIMIT_BUY) for _ in range(5)))
    placed = [r for r in results if r.success]
    refused = [r for r in results if not r.success]
    assert len(placed) == 2
    assert {r.reason for r in refused} == {"insufficient_balance"}
    assert len(w.exchange.sent) == 2
    cancels = await asyncio.gather(
        *(w.manager.cancel_order(r.order_id or "") for r in placed for _ in range(2))
    )
    assert all(isinstance(c, Success) for c in cancels)
    for r in placed:
        order = w.manager.get_order(r.order_id or "")
        assert order is not None
        assert order.status is OrderStatus.CANCELLED
    assert w.manager.open_orders() == []


# --------------------------------------------------------------------------- storage
async def test_database_failure_recovery() -> None:
    """Review §5.4 #9: a failing store is retried; one that stays down stops trading safely."""
    w = world()
    w.repository.fail_next_commits(2)
    recovered = await w.manager.execute_trade(LIMIT_BUY)
    assert recovered.success
    assert len(w.exchange.sent) == 1
    assert (await w.repository.load_order(recovered.order_id or "")) is not None

    w.repository.fail_next_commits(3)  # every attempt of the PENDING commit
    down = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 450, entry_price=45000))
    assert not down.success
    assert down.reason == "storage_unavailable"
    assert len(w.exchange.sent) == 1  # nothing was sent
    assert w.manager.get_order(down.order_id or "") is None  # nothing half-written in memory
    assert w.manager.statistics().orders_by_status == {OrderStatus.OPEN: 1}

    # a fill whose commit fails is kept and stored with the next commit: nothing is lost
    w.exchange.fill(w.exchange.sent[0], "0.1", "45000")
    w.repository.fail_next_commits(3)
    await w.manager.poll_once()
    assert await w.repository.load_fills(recovered.order_id or "") == []
    await w.manager.set_trading_state(TradingState.REDUCING, reason="after the outage")
    fills = await w.repository.load_fills(recovered.order_id or "")
    assert [f.quantity for f in fills] == [Decimal("0.1")]
    kinds = [s.event.kind for s in w.repository.events]
    assert kinds.index("order_filled") < kinds.index("trading_state_changed")
    assert any(
        isinstance(e, AlertRaised) and e.source == "repository" for e in w.publisher.published
    )


# --------------------------------------------------------------------------- trading state
async def test_each_trading_state_change_is_an_event_and_a_repeat_is_not() -> None:
    w = world()
    await w.manager.set_trading_state(TradingState.REDUCING, reason="drawdown")
    await w.manager.set_trading_state(TradingState.REDUCING, reason="again")
    await w.manager.set_trading_state(TradingState.ACTIVE, reason="recovered")
    changes = w.stored(TradingStateChanged)
    assert [(c.old, c.new) for c in changes if isinstance(c, TradingStateChanged)] == [
        (TradingState.ACTIVE, TradingState.REDUCING),
        (TradingState.REDUCING, TradingState.ACTIVE),
    ]


async def test_statistics_count_orders_refusals_fills_fees_and_latency() -> None:
    w = world()
    ok = await w.manager.execute_trade(LIMIT_BUY)
    await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 1, entry_price=45000))
    w.exchange.fill(w.exchange.sent[0], "0.1", "45000", fee="18")
    await w.manager.poll_once()
    stats = w.manager.statistics()
    assert stats.proposals == 2
    assert stats.refusals_by_reason == {"below_minimum_size": 1}
    assert stats.fills == 1
    assert stats.fees == {"USDT": Decimal(18)}
    assert stats.filled_notional == {"USDT": Decimal("4500.0")}
    assert stats.latency.count == 1
    assert stats.orders_by_status[OrderStatus.FILLED] == 1
    assert ok.order_id is not None


async def test_an_order_is_submitted_in_the_store_before_it_reaches_the_exchange() -> None:
    w = world()
    seen: list[OrderStatus | None] = []
    place = w.exchange.place_order

    async def spy(order: Order) -> Result[Placement, ExchangeFailure]:
        stored = await w.repository.load_order(order.id)
        seen.append(None if stored is None else stored.status)
        return await place(order)

    w.exchange.place_order = spy  # type: ignore[method-assign]
    await w.manager.execute_trade(LIMIT_BUY)
    assert seen == [OrderStatus.SUBMITTED]
    assert [s.event.kind for s in w.repository.events][:2] == [
        OrderCreated.kind,
        OrderSubmitted.kind,
    ]


async def test_an_entry_order_carries_its_position_id_and_role() -> None:
    w = world()
    result = await w.manager.execute_trade(LIMIT_BUY)
    assert result.order is not None
    assert result.order.role is OrderRole.ENTRY
    assert result.order.position_id == result.order.id


async def test_the_same_proposal_sent_concurrently_creates_one_exchange_order() -> None:
    w = world()
    proposal = attrs.evolve(LIMIT_BUY, proposal_id="bot-7/43")
    first, second = await asyncio.gather(
        w.manager.execute_trade(proposal), w.manager.execute_trade(proposal)
    )
    assert first.order_id == second.order_id == "bot-7/43"
    assert {first.reason, second.reason} == {None, "duplicate_proposal"}
    assert len(w.exchange.sent) == 1


async def test_concurrent_cancels_of_one_order_send_one_request_and_agree() -> None:
    w = world()
    placed = await w.manager.execute_trade(LIMIT_BUY)
    first, second = await asyncio.gather(
        w.manager.cancel_order(placed.order_id or ""), w.manager.cancel_order(placed.order_id or "")
    )
    assert isinstance(first, Success)
    assert isinstance(second, Success)
    assert first.unwrap().status is second.unwrap().status is OrderStatus.CANCELLED
    assert w.exchange.calls["cancel_order"] == 1
