"""PositionTracker: closes through the manager, risk alerts acted on, exposures to the engine."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

from execution_core.domain.events import AlertRaised, RiskAlertActedOn
from execution_core.ports import RiskAction, RiskAlert

sys.path.insert(0, str(Path(__file__).parent))  # the tracker's shared fakes live beside this file
from test_tracker_fakes import (
    BTC,
    World,
    exit_order,
    fill,
    make_world,
    open_long,
    open_short,
    order,
)

XRP = "XRP/USDT"


@pytest.fixture
def world() -> World:
    world = make_world()
    open_long(world, "p1")
    open_short(world, "s1")
    entry = order("x1", size="100", symbol=XRP)
    world.tracker.apply_entry_fill(entry, fill(entry, "100", "0.5"), at=world.clock.now())
    return world


# --------------------------------------------------------------------------- close_position
async def test_close_position_sends_the_close_to_the_manager(world: World) -> None:
    result = await world.tracker.close_position("p1", fraction=Decimal("0.5"), reason="take half")
    assert result.success
    assert world.orders.closes == [("p1", Decimal("0.5"), "take half")]
    # The book changes when the exit fills come back, not before.
    assert world.tracker.get("p1").size == Decimal("0.1")  # type: ignore[union-attr]


@pytest.mark.parametrize("fraction", ["0", "1.5", "-0.1"])
async def test_a_close_fraction_outside_zero_to_one_is_refused(world: World, fraction: str) -> None:
    result = await world.tracker.close_position("p1", fraction=fraction)
    assert (result.success, result.reason) == (False, "invalid_value")
    assert result.refusal is not None
    assert result.refusal.field == "fraction"
    assert world.orders.closes == []


async def test_closing_an_unknown_position_is_refused(world: World) -> None:
    result = await world.tracker.close_position("nope")
    assert (result.success, result.reason) == (False, "invalid_value")
    assert world.orders.closes == []


async def test_without_a_manager_a_close_cannot_be_sent() -> None:
    world = make_world(attach=False)
    open_long(world, "p1")
    result = await world.tracker.close_position("p1")
    assert (result.success, result.reason) == (False, "no_order_control")


# --------------------------------------------------------------------------- risk alerts
async def test_a_close_alert_closes_the_named_position_and_is_recorded(world: World) -> None:
    world.risk.queued = [RiskAlert(action=RiskAction.CLOSE, reason="drawdown", position_id="p1")]
    events = await world.tracker.process_risk_alerts()
    assert world.orders.closes == [("p1", Decimal(1), "risk_close: drawdown")]
    expected = RiskAlertActedOn(
        action="close", target="p1", reason="drawdown", at=world.clock.now()
    )
    assert events == [expected]
    assert world.stored(RiskAlertActedOn) == [expected]
    assert world.publisher.events == [expected]


async def test_a_reduce_alert_closes_its_fraction(world: World) -> None:
    world.risk.queued = [
        RiskAlert(
            action=RiskAction.REDUCE, reason="exposure", position_id="s1", fraction=Decimal("0.25")
        )
    ]
    await world.tracker.process_risk_alerts()
    assert world.orders.closes == [("s1", Decimal("0.25"), "risk_reduce: exposure")]
    assert [e.action for e in world.stored(RiskAlertActedOn)] == ["reduce"]


async def test_an_alert_naming_a_symbol_closes_every_position_of_that_symbol(
    world: World,
) -> None:
    world.risk.queued = [RiskAlert(action=RiskAction.CLOSE, reason="volatility", symbol=BTC)]
    await world.tracker.process_risk_alerts()
    assert sorted(pid for pid, _, _ in world.orders.closes) == ["p1", "s1"]
    assert sorted(e.target for e in world.stored(RiskAlertActedOn)) == ["p1", "s1"]


async def test_an_alert_naming_no_target_closes_every_open_position(world: World) -> None:
    world.risk.queued = [RiskAlert(action=RiskAction.CLOSE, reason="breaker")]
    await world.tracker.process_risk_alerts()
    assert sorted(pid for pid, _, _ in world.orders.closes) == ["p1", "s1", "x1"]


async def test_a_halt_alert_halts_trading(world: World) -> None:
    world.risk.queued = [RiskAlert(action=RiskAction.HALT, reason="daily loss limit")]
    events = await world.tracker.process_risk_alerts()
    assert world.orders.halts == ["daily loss limit"]
    assert events == [
        RiskAlertActedOn(
            action="halt", target="all", reason="daily loss limit", at=world.clock.now()
        )
    ]


async def test_an_alert_for_no_open_position_raises_a_warning(world: World) -> None:
    world.risk.queued = [RiskAlert(action=RiskAction.CLOSE, reason="x", position_id="gone")]
    (event,) = await world.tracker.process_risk_alerts()
    assert isinstance(event, AlertRaised)
    assert (event.severity, event.message) == (
        "warning",
        "risk alert close gone: no open position",
    )
    assert world.orders.closes == []


async def test_a_close_that_fails_raises_a_critical_alert(world: World) -> None:
    world.orders.fail_closes = True
    world.risk.queued = [RiskAlert(action=RiskAction.CLOSE, reason="x", position_id="p1")]
    (event,) = await world.tracker.process_risk_alerts()
    assert isinstance(event, AlertRaised)
    assert event.severity == "critical"
    assert "insufficient_funds" in event.message
    assert world.stored(RiskAlertActedOn) == []


async def test_a_reduce_alert_with_a_fraction_above_one_is_not_acted_on(world: World) -> None:
    world.risk.queued = [
        RiskAlert(action=RiskAction.REDUCE, reason="x", position_id="p1", fraction=Decimal(2))
    ]
    (event,) = await world.tracker.process_risk_alerts()
    assert isinstance(event, AlertRaised)
    assert "fraction" in event.message
    assert world.orders.closes == []


async def test_without_a_manager_a_risk_alert_is_reported_not_dropped() -> None:
    world = make_world(attach=False)
    world.risk.queued = [RiskAlert(action=RiskAction.HALT, reason="x")]
    (event,) = await world.tracker.process_risk_alerts()
    assert isinstance(event, AlertRaised)
    assert event.severity == "critical"
    assert world.stored(AlertRaised) == [event]


async def test_alerts_are_drained_once(world: World) -> None:
    world.risk.queued = [RiskAlert(action=RiskAction.HALT, reason="x")]
    await world.tracker.process_risk_alerts()
    assert await world.tracker.process_risk_alerts() == []
    assert world.orders.halts == ["x"]


async def test_the_risk_loop_acts_on_alerts_every_poll_interval(world: World) -> None:
    world.risk.queued = [RiskAlert(action=RiskAction.HALT, reason="x")]
    await world.tracker.run_risk_alerts(rounds=2)
    assert world.clock.sleeps == [5.0, 5.0]  # monitoring.poll_interval_seconds
    assert world.orders.halts == ["x"]


# --------------------------------------------------------------------------- exposures
async def test_exposures_follow_fills_to_the_risk_engine(world: World) -> None:
    await world.tracker.publish_exposures()
    assert world.risk.last_exposures == {BTC: Decimal("9000.0"), XRP: Decimal("50.0")}
    out = exit_order("p1")
    world.tracker.apply_exit_fill(out, fill(out, "0.1", 45_500), at=world.clock.now())
    assert world.tracker.exposures_changed
    await world.tracker.publish_exposures()
    assert world.risk.last_exposures == {BTC: Decimal("4500.0"), XRP: Decimal("50.0")}
    assert not world.tracker.exposures_changed


async def test_the_risk_loop_pushes_exposures_only_when_they_changed(world: World) -> None:
    await world.tracker.run_risk_alerts(rounds=2)
    assert len(world.risk.exposures) == 1
