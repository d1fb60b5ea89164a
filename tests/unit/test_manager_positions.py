"""Fills onto positions: partial fills, contingent SL/TP orders (OCO), closes, dust, kill switch.

Runs the manager against the SimulatedExchange (Kraken-like paper engine) with a FakeClock.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs
from returns.result import Success

from adapters.memory.clock import FakeClock
from adapters.memory.engine_types import EngineConfig
from adapters.memory.faults import kraken_error, timeout
from adapters.memory.repository import InMemoryRepository
from adapters.memory.simulated import SimulatedExchange
from execution_core.config import ExecutionConfig
from execution_core.domain.enums import OrderRole, OrderStatus, OrderType, TradingState
from execution_core.domain.events import AlertRaised, Event, PositionClosed
from execution_core.domain.orders import Order
from execution_core.domain.proposals import TradeProposal
from execution_core.ports import CircuitBreakerStatus, RiskAlert
from execution_core.service.manager import OrderExecutionManager
from execution_core.service.tracker import PositionTracker


class FakeRiskEngine:
    def __init__(self) -> None:
        self.exposures: list[dict[str, Decimal]] = []

    async def circuit_breaker(self) -> CircuitBreakerStatus:
        return CircuitBreakerStatus(active=False)

    async def update_exposures(self, exposures: Mapping[str, Decimal]) -> None:
        self.exposures.append(dict(exposures))

    async def drain_alerts(self) -> Sequence[RiskAlert]:
        return ()


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.published.extend(events)

    def alerts(self, source: str | None = None) -> list[AlertRaised]:
        return [
            e
            for e in self.published
            if isinstance(e, AlertRaised) and (source is None or e.source == source)
        ]


@attrs.define
class World:
    manager: OrderExecutionManager
    exchange: SimulatedExchange
    repository: InMemoryRepository
    clock: FakeClock
    risk: FakeRiskEngine
    publisher: FakePublisher
    tracker: PositionTracker

    def linked(self, position_id: str) -> list[Order]:
        return [o for o in self.manager.open_orders() if o.position_id == position_id]

    def role(self, position_id: str, role: OrderRole) -> Order | None:
        found = [o for o in self.linked(position_id) if o.role is role]
        return found[0] if found else None


def world(
    config: ExecutionConfig | None = None, *, hold_untriggered: bool = False, btc: str = "0"
) -> World:
    """A paper exchange at BTC 45000 with 100,000 USDT; untriggered stops hold no funds."""
    clock = FakeClock()
    exchange = SimulatedExchange(
        clock=clock, config=EngineConfig(hold_untriggered=hold_untriggered)
    )
    exchange.deposit("USDT", 100000)
    if Decimal(btc):
        exchange.deposit("BTC", btc)
    exchange.set_price("BTC/USDT", 45000)
    repository = InMemoryRepository()
    risk = FakeRiskEngine()
    publisher = FakePublisher()
    config = config or ExecutionConfig()
    tracker = PositionTracker(
        repository=repository, clock=clock, config=config, risk_engine=risk, publisher=publisher
    )
    ids = (f"o-{n}" for n in itertools.count(1))
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


PROTECTED_BUY = TradeProposal(
    "BTC/USDT", "buy", 4500, entry_price=45000, stop_loss=44000, take_profit=47000
)


async def open_position(w: World, proposal: TradeProposal = PROTECTED_BUY) -> str:
    result = await w.manager.execute_trade(proposal)
    assert result.success
    await w.manager.poll_once()
    assert result.order_id is not None
    return result.order_id


# --------------------------------------------------------------------------- partial fills
async def test_partial_fill_scenarios() -> None:
    """Review §5.4 #2 and CRITICAL-2: 0.07 of 0.1 BTC -> a 0.07 position, SL/TP of 0.07,
    exposure 3,150; the rest fills -> 0.1, SL/TP amended (not replaced) to 0.1, exposure 4,500."""
    w = world()
    w.exchange.set_liquidity("BTC/USDT", per_update=Decimal("0.07"))
    position_id = await open_position(w)

    position = w.tracker.get(position_id)
    assert position is not None
    assert position.size == Decimal("0.07")
    stop = w.role(position_id, OrderRole.STOP_LOSS)
    target = w.role(position_id, OrderRole.TAKE_PROFIT)
    assert stop is not None
    assert target is not None
    assert (stop.size, stop.trigger_price) == (Decimal("0.07"), Decimal(44000))
    assert (target.size, target.trigger_price) == (Decimal("0.07"), Decimal(47000))
    assert w.risk.exposures[-1] == {"BTC/USDT": Decimal(3150)}
    entry = w.manager.get_order(position_id)
    assert entry is not None
    assert entry.status is OrderStatus.PARTIALLY_FILLED

    w.exchange.set_price("BTC/USDT", 45000)  # the remaining 0.03 fills
    await w.manager.poll_once()
    position = w.tracker.get(position_id)
    assert position is not None
    assert position.size == Decimal("0.1")
    assert w.risk.exposures[-1] == {"BTC/USDT": Decimal(4500)}
    stop = w.role(position_id, OrderRole.STOP_LOSS)
    target = w.role(position_id, OrderRole.TAKE_PROFIT)
    assert stop is not None
    assert target is not None
    assert (stop.size, target.size) == (Decimal("0.1"), Decimal("0.1"))
    assert w.exchange.calls["amend_order"] == 2
    assert w.exchange.calls["place_order"] == 3  # entry, stop, target: resized, never replaced
    assert w.exchange.calls["cancel_order"] == 0


async def test_a_market_entry_that_fills_at_once_opens_the_position_on_the_next_poll() -> None:
    w = world()
    result = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 450))
    summary = await w.manager.poll_once()
    assert summary.status_calls == 1
    order = w.manager.get_order(result.order_id or "")
    assert order is not None
    assert order.status is OrderStatus.FILLED
    position = w.tracker.get(order.id)
    assert position is not None
    assert position.size == Decimal("0.01")
    assert position.entry_price == Decimal(45000)


# --------------------------------------------------------------------------- OCO
async def test_a_stop_loss_fill_closes_the_position_and_cancels_the_take_profit() -> None:
    w = world()
    position_id = await open_position(w)
    target = w.role(position_id, OrderRole.TAKE_PROFIT)
    assert target is not None
    w.exchange.set_price("BTC/USDT", 43900)  # through the stop
    await w.manager.poll_once()
    position = w.tracker.get(position_id)
    assert position is not None
    assert not position.is_open
    cancelled = w.manager.get_order(target.id)
    assert cancelled is not None
    await w.manager.poll_once()  # the cancel's final report
    cancelled = w.manager.get_order(target.id)
    assert cancelled is not None
    assert cancelled.status is OrderStatus.CANCELLED
    assert w.linked(position_id) == []
    assert w.exchange.engine.open_order_count() == 0


async def test_a_partial_take_profit_fill_shrinks_the_stop_to_what_is_left() -> None:
    # other BTC in the account: the paper engine checks an amendment's funds in full even
    # when it shrinks an untriggered stop that holds nothing
    w = world(btc="1")
    position_id = await open_position(w)
    w.exchange.set_liquidity("BTC/USDT", per_update=Decimal("0.04"))
    w.exchange.set_price("BTC/USDT", 47100)  # reaches the target; only 0.04 trades
    await w.manager.poll_once()
    position = w.tracker.get(position_id)
    assert position is not None
    assert position.size == Decimal("0.06")
    stop = w.role(position_id, OrderRole.STOP_LOSS)
    assert stop is not None
    assert stop.remaining_size == Decimal("0.06")
    target = w.role(position_id, OrderRole.TAKE_PROFIT)
    assert target is not None
    assert target.filled_size == Decimal("0.04")


async def test_on_kraken_spot_the_take_profit_is_watched_when_the_stop_holds_the_base() -> None:
    w = world(hold_untriggered=True)
    position_id = await open_position(w)
    assert w.role(position_id, OrderRole.STOP_LOSS) is not None
    assert w.role(position_id, OrderRole.TAKE_PROFIT) is None
    assert any("watched" in a.message for a in w.publisher.alerts("contingent"))
    w.exchange.set_price("BTC/USDT", 47000)
    await w.manager.poll_once()  # the monitor sees the target and exits
    await w.manager.poll_once()  # the exit's fill
    position = w.tracker.get(position_id)
    assert position is not None
    assert not position.is_open
    closed = [e for e in w.publisher.published if isinstance(e, PositionClosed)]
    assert [c.reason for c in closed] == ["exit"]
    assert w.exchange.engine.open_order_count() == 0


# --------------------------------------------------------------------------- closes
async def test_position_closure_with_active_contingent_orders() -> None:
    """Review §5.4 #18: closing cancels the stop and the target first; nothing is left behind."""
    w = world()
    position_id = await open_position(w)
    stop = w.role(position_id, OrderRole.STOP_LOSS)
    target = w.role(position_id, OrderRole.TAKE_PROFIT)
    assert stop is not None
    assert target is not None

    result = await w.manager.close_position(position_id, reason="manual")
    assert result.success
    assert result.order is not None
    assert result.order.role is OrderRole.EXIT
    assert result.order.order_type is OrderType.MARKET
    assert result.order.size == Decimal("0.1")
    for order_id in (stop.id, target.id):
        cancelled = w.manager.get_order(order_id)
        assert cancelled is not None
        assert cancelled.status is OrderStatus.CANCELLED
    await w.manager.poll_once()
    position = w.tracker.get(position_id)
    assert position is not None
    assert not position.is_open
    assert w.linked(position_id) == []
    assert w.exchange.engine.open_order_count() == 0


async def test_a_partial_close_shrinks_the_stop_and_target_before_the_exit() -> None:
    w = world()
    position_id = await open_position(w)
    result = await w.manager.close_position(position_id, fraction=Decimal("0.5"), reason="trim")
    assert result.success
    assert result.order is not None
    assert result.order.size == Decimal("0.05")
    await w.manager.poll_once()
    position = w.tracker.get(position_id)
    assert position is not None
    assert position.size == Decimal("0.05")
    stop = w.role(position_id, OrderRole.STOP_LOSS)
    target = w.role(position_id, OrderRole.TAKE_PROFIT)
    assert stop is not None
    assert target is not None
    assert (stop.size, target.size) == (Decimal("0.05"), Decimal("0.05"))
    assert w.exchange.calls["cancel_order"] == 0


async def test_closing_an_unknown_position_is_refused() -> None:
    w = world()
    result = await w.manager.close_position("nope", reason="manual")
    assert not result.success
    assert result.reason == "invalid_value"


# --------------------------------------------------------------------------- levels
async def test_moving_the_stop_amends_the_exchange_order_in_place() -> None:
    w = world()
    position_id = await open_position(w)
    stop = w.role(position_id, OrderRole.STOP_LOSS)
    assert stop is not None
    moved = await w.tracker.modify_position(position_id, stop_loss=Decimal(44500))
    assert isinstance(moved, Success)
    amended = w.manager.get_order(stop.id)
    assert amended is not None
    assert amended.trigger_price == Decimal(44500)
    assert amended.exchange_order_id == stop.exchange_order_id
    assert w.exchange.calls["amend_order"] == 1
    assert w.exchange.calls["cancel_order"] == 0
    info = w.exchange.engine.order(stop.exchange_order_id or "")
    assert info is not None
    assert info.price == Decimal(44500)  # a stop-loss trigger travels in `price`


async def test_modify_order_amends_a_resting_limit_order_instead_of_replacing_it() -> None:
    """Review DESIGN-3: one amend call, same ids, no cancel and no second placement."""
    w = world()
    result = await w.manager.execute_trade(
        TradeProposal("BTC/USDT", "buy", 4400, entry_price=44000)
    )
    modified = await w.manager.modify_order(result.order_id or "", price=Decimal(44100))
    assert isinstance(modified, Success)
    order = modified.unwrap()
    assert order.price == Decimal(44100)
    assert result.order is not None
    assert order.exchange_order_id == result.order.exchange_order_id
    assert w.exchange.calls["amend_order"] == 1
    assert w.exchange.calls["place_order"] == 1
    assert w.exchange.calls["cancel_order"] == 0


# --------------------------------------------------------------------------- dust
async def test_a_remainder_below_the_minimum_is_kept_and_reported_under_the_keep_policy() -> None:
    w = world()
    w.exchange.set_liquidity("BTC/USDT", per_update=Decimal("0.00005"))
    position_id = await open_position(w)
    assert w.role(position_id, OrderRole.STOP_LOSS) is None  # 0.00005 < 0.0001: not yet
    assert w.publisher.alerts("dust") == []  # the entry may still fill
    cancelled = await w.manager.cancel_order(position_id)
    assert isinstance(cancelled, Success)
    assert cancelled.unwrap().status is OrderStatus.CANCELLED
    dust = w.publisher.alerts("dust")
    assert len(dust) == 1
    assert "below the minimum order size 0.0001" in dust[0].message
    assert "kept" in dust[0].message
    position = w.tracker.get(position_id)
    assert position is not None
    assert position.is_open
    assert position.size == Decimal("0.00005")


async def test_a_remainder_below_the_minimum_is_closed_or_reported_under_the_close_policy() -> None:
    config = ExecutionConfig.from_mapping({"partial_fills": {"dust_policy": "close"}})
    w = world(config)
    w.exchange.set_liquidity("BTC/USDT", per_update=Decimal("0.00005"))
    position_id = await open_position(w)
    await w.manager.cancel_order(position_id)
    dust = w.publisher.alerts("dust")
    assert len(dust) == 1
    # Kraken refuses an order below its minimum: the dust is reported, never silently kept
    assert "refused to close it" in dust[0].message
    assert "Order minimum" in dust[0].message


# --------------------------------------------------------------------------- kill switch
async def test_the_kill_switch_halts_cancels_everything_and_can_flatten() -> None:
    w = world()
    position_id = await open_position(w)
    resting = await w.manager.execute_trade(
        TradeProposal("BTC/USDT", "buy", 4400, entry_price=44000)
    )
    assert resting.success
    outcome = await w.manager.cancel_all(flatten=True, reason="operator")
    assert w.manager.trading_state is TradingState.HALTED
    assert outcome.cancelled == 3  # the resting entry, the stop, the target
    assert [c.success for c in outcome.closes] == [True]
    await w.manager.poll_once()
    position = w.tracker.get(position_id)
    assert position is not None
    assert not position.is_open
    assert w.manager.open_orders() == []
    assert w.exchange.engine.open_order_count() == 0
    refused = await w.manager.execute_trade(TradeProposal("BTC/USDT", "buy", 450))
    assert refused.reason == "trading_not_allowed"


async def test_halt_through_order_control_keeps_positions_and_sends_nothing_new() -> None:
    w = world()
    position_id = await open_position(w)
    await w.manager.halt("risk engine")
    assert w.manager.trading_state is TradingState.HALTED
    assert w.exchange.engine.open_order_count() == 0
    position = w.tracker.get(position_id)
    assert position is not None
    assert position.is_open
    # the position has lost its stop to the kill switch: once the cancelled stop has settled
    # (a fill may race its cancel), that is reported, not hidden
    for _ in range(4):
        await w.manager.poll_once()
    assert any("has no stop_loss order" in a.message for a in w.publisher.alerts("contingent"))


async def test_with_the_take_profit_watched_only_the_stop_rests_and_the_target_still_closes() -> (
    None
):
    w = world()
    manager = OrderExecutionManager(
        exchange=w.exchange,
        repository=w.repository,
        clock=w.clock,
        config=ExecutionConfig(),
        tracker=w.tracker,
        take_profit_at_exchange=False,
    )
    result = await manager.execute_trade(PROTECTED_BUY)
    await manager.poll_once()
    position_id = result.order_id or ""
    roles = [o.role for o in manager.open_orders() if o.position_id == position_id]
    assert roles == [OrderRole.STOP_LOSS]
    w.exchange.set_price("BTC/USDT", 47000)
    await manager.poll_once()  # the target is reached: a protected exit, the stop cancelled first
    await manager.poll_once()
    position = w.tracker.get(position_id)
    assert position is not None
    assert not position.is_open
    assert w.exchange.engine.open_order_count() == 0


async def test_a_refused_stop_is_reported_once_and_tried_again_until_it_rests() -> None:
    w = world()
    w.exchange.faults.at_call("place_order", 2, kraken_error("EOrder:Insufficient funds"))
    position_id = await open_position(w, attrs.evolve(PROTECTED_BUY, take_profit=None))
    # the stop's first placement was refused: reported once, and tried again in the same pass
    unprotected = [a for a in w.publisher.alerts("contingent") if a.severity == "critical"]
    assert len(unprotected) == 1
    assert "has no stop_loss order" in unprotected[0].message
    assert "keeps trying" in unprotected[0].message
    stop = w.role(position_id, OrderRole.STOP_LOSS)
    assert stop is not None
    assert stop.size == Decimal("0.1")
    assert w.exchange.calls["place_order"] == 3  # entry, refused stop, stop
    assert any("has its stop-loss order again" in a.message for a in w.publisher.alerts())


async def test_an_amendment_whose_answers_were_all_lost_is_read_back_not_forgotten() -> None:
    w = world()
    position_id = await open_position(w)
    stop = w.role(position_id, OrderRole.STOP_LOSS)
    assert stop is not None
    w.exchange.faults.next_amend(timeout(executes=True), times=3)  # applied, answers lost
    moved = await w.tracker.modify_position(position_id, stop_loss=Decimal(44500))
    assert isinstance(moved, Success)
    amended = w.manager.get_order(stop.id)
    assert amended is not None
    assert amended.trigger_price == Decimal(44500)
    info = w.exchange.engine.order(stop.exchange_order_id or "")
    assert info is not None
    assert info.price == Decimal(44500)
