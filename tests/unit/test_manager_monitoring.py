"""Monitoring and reconciliation: one batched poll, timeouts, GTD expiry, restarts, unknown
orders, failures in background work (SAFETY-3), the heartbeat.

Runs against the SimulatedExchange with a FakeClock.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from returns.result import Result

from adapters.memory.clock import FakeClock
from adapters.memory.engine_types import EngineConfig
from adapters.memory.faults import SERVICE_UNAVAILABLE, TIMEOUT, timeout
from adapters.memory.repository import InMemoryRepository
from adapters.memory.simulated import SimulatedExchange
from execution_core.config import ExecutionConfig
from execution_core.domain.enums import OrderSide, OrderStatus, OrderType
from execution_core.domain.events import AlertRaised, Event, OrderNeedsReconciliation
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import PositionChange
from execution_core.domain.proposals import TradeProposal
from execution_core.domain.trailing import TrailingStop
from execution_core.ports import (
    CircuitBreakerStatus,
    ExchangeFailure,
    OrderReport,
    ReportedStatus,
    RiskAlert,
    UnitOfWork,
)
from execution_core.service.manager import OrderExecutionManager
from execution_core.service.tracker import PositionTracker


class FakeRiskEngine:
    async def circuit_breaker(self) -> CircuitBreakerStatus:
        return CircuitBreakerStatus(active=False)

    async def update_exposures(self, exposures: Mapping[str, Decimal]) -> None:
        del exposures

    async def drain_alerts(self) -> Sequence[RiskAlert]:
        return ()


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.published.extend(events)

    def alerts(self) -> list[AlertRaised]:
        return [e for e in self.published if isinstance(e, AlertRaised)]

    def marked(self) -> list[str]:
        return [e.order_id for e in self.published if isinstance(e, OrderNeedsReconciliation)]


@attrs.define
class World:
    manager: OrderExecutionManager
    exchange: SimulatedExchange
    repository: InMemoryRepository
    clock: FakeClock
    publisher: FakePublisher
    tracker: PositionTracker
    config: ExecutionConfig

    def restart(self) -> World:
        """A new manager over the same store and exchange (the process restarted)."""
        return build(self.config, self.exchange, self.repository, self.clock)


def build(
    config: ExecutionConfig,
    exchange: SimulatedExchange,
    repository: InMemoryRepository,
    clock: FakeClock,
) -> World:
    publisher = FakePublisher()
    tracker = PositionTracker(
        repository=repository, clock=clock, config=config, publisher=publisher
    )
    ids = (f"o-{n}" for n in itertools.count(1))
    manager = OrderExecutionManager(
        exchange=exchange,
        repository=repository,
        clock=clock,
        config=config,
        risk_engine=FakeRiskEngine(),
        publisher=publisher,
        tracker=tracker,
        id_factory=lambda: f"{id(manager)}-{next(ids)}",
    )
    return World(manager, exchange, repository, clock, publisher, tracker, config)


def world(
    config: ExecutionConfig | None = None,
    *,
    exchange_type: type[SimulatedExchange] = SimulatedExchange,
) -> World:
    clock = FakeClock()
    exchange = exchange_type(clock=clock, config=EngineConfig(hold_untriggered=False))
    exchange.deposit("USDT", 1_000_000)
    exchange.set_price("BTC/USDT", 45000)
    exchange.set_price("XRP/USDT", "0.5")
    return build(config or ExecutionConfig(), exchange, InMemoryRepository(), clock)


def resting_buy(size_usd: int = 4400, price: int = 44000) -> TradeProposal:
    """A limit buy below the market: it rests."""
    return TradeProposal("BTC/USDT", "buy", size_usd, entry_price=price)


# --------------------------------------------------------------------------- the poll
async def test_one_poll_makes_exactly_one_status_call_for_every_open_order() -> None:
    w = world()
    for n in range(50):
        result = await w.manager.execute_trade(resting_buy(size_usd=44, price=44000 - n))
        assert result.success
    before = w.exchange.calls["order_status"]
    summary = await w.manager.poll_once()
    assert w.exchange.calls["order_status"] - before == 1
    assert summary.status_calls == 1
    assert summary.reports == 50
    assert w.exchange.calls["find_order"] == 0


async def test_a_poll_with_nothing_open_calls_the_exchange_not_at_all() -> None:
    w = world()
    summary = await w.manager.poll_once()
    assert summary.status_calls == 0
    assert sum(w.exchange.calls.values()) == 0


async def test_a_failed_status_poll_raises_an_alert_and_the_next_poll_recovers() -> None:
    w = world()
    result = await w.manager.execute_trade(resting_buy())
    w.exchange.faults.next_status(SERVICE_UNAVAILABLE)
    failed = await w.manager.poll_once()
    assert failed.failures == 1
    assert any("order status poll failed" in a.message for a in w.publisher.alerts())
    w.exchange.set_price("BTC/USDT", 43900)  # the resting buy fills
    await w.manager.poll_once()
    order = w.manager.get_order(result.order_id or "")
    assert order is not None
    assert order.status is OrderStatus.FILLED


# --------------------------------------------------------------------------- timeouts
async def test_order_monitoring_timeout_behavior() -> None:
    """Review §5.4 #12 / DESIGN-2: a limit order's remainder is cancelled after 600 s, not 1 h."""
    w = world()
    result = await w.manager.execute_trade(resting_buy())
    order_id = result.order_id or ""
    w.clock.advance(599)
    await w.manager.poll_once()
    assert w.exchange.calls["cancel_order"] == 0
    w.clock.advance(2)
    summary = await w.manager.poll_once()
    assert summary.timeouts == 1
    assert w.exchange.calls["cancel_order"] == 1
    await w.manager.poll_once()  # the exchange's final report settles it
    order = w.manager.get_order(order_id)
    assert order is not None
    assert order.status is OrderStatus.CANCELLED
    assert order.reason == "timeout"
    assert w.manager.open_orders() == []


async def test_an_ioc_remainder_ends_cancelled_with_its_fill_on_the_position() -> None:
    w = world()
    w.exchange.set_liquidity("BTC/USDT", per_update=Decimal("0.004"))
    result = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 450))
    await w.manager.poll_once()
    order = w.manager.get_order(result.order_id or "")
    assert order is not None
    assert order.status is OrderStatus.CANCELLED
    assert order.filled_size == Decimal("0.004")
    position = w.tracker.get(order.id)
    assert position is not None
    assert position.size == Decimal("0.004")


class StaleFirstReport(SimulatedExchange):
    """Its first status report shows every order still open and unfilled (a late report)."""

    stale = True

    async def order_status(
        self, exchange_order_ids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        answer = await super().order_status(exchange_order_ids)
        if not self.stale:
            return answer
        self.stale = False
        return answer.map(
            lambda found: {
                i: attrs.evolve(r, status=ReportedStatus.OPEN, filled_size=Decimal(0), trades=())
                for i, r in found.items()
            }
        )


async def test_an_ioc_order_still_reported_open_after_the_first_poll_is_cancelled() -> None:
    w = world(exchange_type=StaleFirstReport)
    result = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 450))
    await w.manager.poll_once()
    assert w.exchange.calls["cancel_order"] == 1
    await w.manager.poll_once()
    order = w.manager.get_order(result.order_id or "")
    assert order is not None
    assert order.status is OrderStatus.FILLED  # it had filled: the cancel lost the race


async def test_an_untriggered_stop_is_never_timed_out() -> None:
    w = world()
    await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 450, stop_loss=44000))
    await w.manager.poll_once()
    stops = [o for o in w.manager.open_orders() if o.order_type is OrderType.STOP_LOSS]
    assert len(stops) == 1
    w.clock.advance(10 * 3600)
    await w.manager.poll_once()
    assert w.exchange.calls["cancel_order"] == 0
    assert w.manager.get_order(stops[0].id) == stops[0]


async def test_a_gtd_order_expires_at_the_exchange_and_the_poll_records_it() -> None:
    config = ExecutionConfig.from_mapping({"orders": {"limit_order_timeout_seconds": "none"}})
    w = world(config)
    result = await w.manager.execute_trade(resting_buy())
    assert result.order is not None
    assert result.order.expires_at == w.clock.now() + timedelta(hours=1)
    w.clock.advance(3601)
    w.exchange.sync()
    await w.manager.poll_once()
    order = w.manager.get_order(result.order_id or "")
    assert order is not None
    assert order.status is OrderStatus.EXPIRED


# --------------------------------------------------------------------------- restarts
async def test_a_restart_applies_the_fills_it_missed_and_opens_the_position() -> None:
    w = world()
    result = await w.manager.execute_trade(
        TradeProposal("BTC/USDT", "buy", 4400, entry_price=44000, stop_loss=43000)
    )
    w.exchange.set_price("BTC/USDT", 43900)  # fills while the process is down
    again = w.restart()
    summary = await again.manager.start(run_loops=False)
    assert summary.updated == 1
    order = again.manager.get_order(result.order_id or "")
    assert order is not None
    assert order.status is OrderStatus.FILLED
    position = again.tracker.get(order.id)
    assert position is not None
    assert position.size == Decimal("0.1")
    stored = await w.repository.load_fills(order.id)
    assert [f.quantity for f in stored] == [Decimal("0.1")]


async def test_a_restart_finds_an_order_whose_placement_answer_was_lost() -> None:
    w = world(ExecutionConfig.from_mapping({"retry": {"max_attempts": 1}}))
    w.exchange.faults.next_place(TIMEOUT)  # accepted, answer lost
    w.exchange.faults.next_find(TIMEOUT)  # and the lookup fails too
    result = await w.manager.execute_trade(resting_buy())
    assert result.status is OrderStatus.SUBMITTED
    again = w.restart()
    await again.manager.start(run_loops=False)
    order = again.manager.get_order(result.order_id or "")
    assert order is not None
    assert order.status is OrderStatus.OPEN
    assert order.exchange_order_id is not None
    assert w.exchange.engine.open_order_count() == 1  # one exchange order, never two


async def test_a_stored_order_the_exchange_never_saw_is_cancelled_as_never_reached() -> None:
    w = world(ExecutionConfig.from_mapping({"retry": {"max_attempts": 1}}))
    w.exchange.faults.next_place(timeout(executes=False))  # lost before it arrived
    w.exchange.faults.next_find(TIMEOUT)
    result = await w.manager.execute_trade(resting_buy())
    assert result.status is OrderStatus.SUBMITTED
    await w.manager.poll_once()  # the lookup now answers: no such order
    order = w.manager.get_order(result.order_id or "")
    assert order is not None
    assert order.status is OrderStatus.CANCELLED
    assert order.reason == "never reached the exchange"


async def test_an_order_the_exchange_does_not_know_any_more_is_resolved_and_reported() -> None:
    w = world()
    result = await w.manager.execute_trade(resting_buy())
    stored = await w.repository.load_order(result.order_id or "")
    assert stored is not None
    ghost = attrs.evolve(
        stored, id="ghost", client_order_id="ghost-cid", exchange_order_id="OGHOST"
    )
    await w.repository.commit(UnitOfWork(orders=(ghost,)))
    again = w.restart()
    summary = await again.manager.start(run_loops=False)
    assert summary.looked_up == 1
    resolved = again.manager.get_order("ghost")
    assert resolved is not None
    assert resolved.status is OrderStatus.CANCELLED
    assert "ghost" in again.publisher.marked()
    assert any(a.severity == "critical" and "ghost" in a.message for a in again.publisher.alerts())


# --------------------------------------------------------------------------- unknown orders
async def stranger(w: World) -> str:
    """An order placed on the account by someone else."""
    order = Order(
        id="theirs",
        client_order_id="3f2b8c1e-9d4a-4f6b-8c2d-1e5f7a9b0c3d",
        symbol="XRP/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal(100),
        price=Decimal("0.4"),
    )
    placed = await w.exchange.place_order(order)
    return placed.unwrap().exchange_order_id


@pytest.mark.parametrize("policy", ["report", "cancel", "adopt"])
async def test_reconcile_handles_unknown_exchange_orders_by_the_configured_policy(
    policy: str,
) -> None:
    w = world(ExecutionConfig.from_mapping({"reconciliation": {"unknown_order_policy": policy}}))
    exchange_id = await stranger(w)
    summary = await w.manager.reconcile()
    assert summary.unknown == 1
    assert any(exchange_id in a.message for a in w.publisher.alerts())
    still_open = w.exchange.engine.open_order_count() == 1
    adopted = w.manager.get_order(f"adopted:{exchange_id}")
    if policy == "report":
        assert still_open
        assert adopted is None
    elif policy == "cancel":
        assert not still_open
        assert summary.cancelled == 1
    else:
        assert still_open
        assert adopted is not None
        assert adopted.status is OrderStatus.OPEN
        assert adopted.exchange_order_id == exchange_id


# --------------------------------------------------------------------------- SAFETY-3
class BrokenTracker(PositionTracker):
    """A tracker whose next entry fill blows up (a bug somewhere below the monitor)."""

    broken = 1

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
        if self.broken:
            self.broken -= 1
            raise RuntimeError("tracker exploded")
        return super().apply_entry_fill(
            order, fill, at=at, stop_loss=stop_loss, take_profit=take_profit, trailing=trailing
        )


async def test_a_failure_in_background_work_is_recorded_published_and_the_order_marked() -> None:
    w = world()
    tracker = BrokenTracker(repository=w.repository, clock=w.clock, config=w.config)
    manager = OrderExecutionManager(
        exchange=w.exchange,
        repository=w.repository,
        clock=w.clock,
        config=w.config,
        publisher=w.publisher,
        tracker=tracker,
    )
    result = await manager.execute_trade(TradeProposal("BTC/USDT", "buy", 450))
    summary = await manager.poll_once()
    assert summary.failures == 1
    order_id = result.order_id or ""
    assert w.publisher.marked() == [order_id]
    assert any("tracker exploded" in a.message for a in w.publisher.alerts())
    stored_alerts = [s.event for s in w.repository.events if isinstance(s.event, AlertRaised)]
    assert any("tracker exploded" in a.message for a in stored_alerts)
    # the fill was not lost: the order was stored as it was before it, and the next pass
    # brings it to the position exactly once
    await manager.poll_once()
    position = tracker.get(order_id)
    assert position is not None
    assert position.size == Decimal("0.01")
    assert [f.quantity for f in await w.repository.load_fills(order_id)] == [Decimal("0.01")]


class RaisingOnce(SimulatedExchange):
    """Its second status call raises (an adapter bug: an exception instead of a Failure)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status_calls = 0
        self.fourth = asyncio.Event()

    async def order_status(
        self, exchange_order_ids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        self.status_calls += 1
        if self.status_calls == 4:
            self.fourth.set()
        if self.status_calls == 2:  # the loop's first pass (start's reconcile made the first)
            raise ConnectionResetError("adapter bug: raised instead of returning a Failure")
        return await super().order_status(exchange_order_ids)


async def test_the_monitor_loop_survives_a_failing_pass_and_keeps_polling() -> None:
    w = world(exchange_type=RaisingOnce)
    exchange = w.exchange
    assert isinstance(exchange, RaisingOnce)
    await w.manager.execute_trade(resting_buy())
    await w.manager.start(run_loops=True)
    await exchange.fourth.wait()
    await w.manager.stop()
    assert any("adapter bug" in a.message for a in w.publisher.alerts())
    assert exchange.status_calls >= 4


# --------------------------------------------------------------------------- heartbeat
async def test_the_heartbeat_re_arms_the_dead_mans_switch_and_stop_disarms_it() -> None:
    config = ExecutionConfig.from_mapping(
        {"heartbeat": {"dead_mans_switch_seconds": 60, "refresh_interval_seconds": 20}}
    )
    w = world(config)
    await w.manager.heartbeat()
    assert w.exchange.engine.dead_mans_switch() == w.clock.now() + timedelta(seconds=60)
    await w.manager.start(run_loops=True)
    await asyncio.sleep(0)
    await w.manager.stop()
    assert w.exchange.calls["cancel_all_after"] >= 2
    assert w.exchange.engine.dead_mans_switch() is None


async def test_a_heartbeat_that_cannot_re_arm_raises_a_critical_alert() -> None:
    config = ExecutionConfig.from_mapping(
        {
            "heartbeat": {"dead_mans_switch_seconds": 60, "refresh_interval_seconds": 20},
            "retry": {"max_attempts": 1},
        }
    )
    w = world(config)
    w.exchange.faults.next_call("cancel_all_after", SERVICE_UNAVAILABLE)
    await w.manager.heartbeat()
    critical = [a for a in w.publisher.alerts() if a.severity == "critical"]
    assert len(critical) == 1
    assert "dead man's switch" in critical[0].message
