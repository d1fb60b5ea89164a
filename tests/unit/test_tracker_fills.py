"""PositionTracker: positions from entry and exit fills, exposures, daily realized P&L."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

from execution_core.domain.enums import FeeCurrency, OrderRole, OrderSide, PositionSide
from execution_core.domain.events import (
    AlertRaised,
    PositionClosed,
    PositionIncreased,
    PositionOpened,
    PositionReduced,
)
from execution_core.domain.positions import Position
from execution_core.domain.refusals import InvalidValue

sys.path.insert(0, str(Path(__file__).parent))  # the tracker's shared fakes live beside this file
from test_tracker_fakes import (
    BTC,
    T0,
    World,
    exit_order,
    fill,
    make_world,
    open_long,
    open_short,
    order,
)


@pytest.fixture
def world() -> World:
    return make_world()


# --------------------------------------------------------------------------- entries
def test_an_entry_fill_opens_a_position_named_after_its_entry_order(world: World) -> None:
    entry = order("p1", size="0.1")
    change = world.tracker.apply_entry_fill(
        entry,
        fill(entry, "0.1", 45_000, fee="18"),
        at=T0,
        stop_loss=Decimal(44_500),
        take_profit=Decimal(46_000),
    )
    position = change.position
    assert (position.id, position.side, position.size, position.entry_price) == (
        "p1",
        PositionSide.LONG,
        Decimal("0.1"),
        Decimal(45_000),
    )
    assert (position.stop_loss, position.take_profit, position.entry_fees) == (
        Decimal(44_500),
        Decimal(46_000),
        Decimal(18),
    )
    assert position.exit_fee_rate == Decimal("0.0040")  # the instrument's taker rate
    assert isinstance(change.events[0], PositionOpened)
    assert world.tracker.get("p1") == position
    assert world.tracker.index.levels("p1") == (Decimal(44_500), Decimal(46_000))


def test_an_entry_order_with_a_position_id_adds_to_that_position(world: World) -> None:
    open_long(world, "p1")
    more = order("o2", size="0.05", position_id="p1")
    change = world.tracker.apply_entry_fill(more, fill(more, "0.05", 45_300), at=T0)
    assert change.position.id == "p1"
    assert change.position.size == Decimal("0.15")
    assert len(world.tracker) == 1


async def test_a_partial_fill_opens_the_filled_size_and_reports_that_exposure(
    world: World,
) -> None:
    # The review's partial-fill scenario, tracker side: 0.07 of 0.1 BTC filled at 45,000.
    entry = order("p1", size="0.1")
    change = world.tracker.apply_entry_fill(entry, fill(entry, "0.07", 45_000), at=T0)
    assert change.position.size == Decimal("0.07")
    assert world.tracker.exposures() == {BTC: Decimal(3150)}
    await world.tracker.publish_exposures()
    assert world.risk.last_exposures == {BTC: Decimal(3150)}
    # The rest fills later at 45,100: the exposure follows the filled size and the VWAP.
    change = world.tracker.apply_entry_fill(entry, fill(entry, "0.03", 45_100), at=T0)
    assert (change.position.size, change.position.entry_price) == (
        Decimal("0.10"),
        Decimal(45_030),
    )
    assert isinstance(change.events[0], PositionIncreased)
    await world.tracker.publish_exposures()
    assert world.risk.exposures == [{BTC: Decimal(3150)}, {BTC: Decimal(4503)}]


def test_a_later_entry_fill_keeps_the_levels_the_position_has(world: World) -> None:
    entry = order("p1", size="0.1")
    world.tracker.apply_entry_fill(
        entry, fill(entry, "0.05", 45_000), at=T0, stop_loss=Decimal(44_500)
    )
    change = world.tracker.apply_entry_fill(
        entry, fill(entry, "0.05", 45_000), at=T0, stop_loss=Decimal(44_000)
    )
    assert change.position.stop_loss == Decimal(44_500)


def test_a_fee_charged_in_base_is_not_part_of_the_position(world: World) -> None:
    entry = order("p1", size="0.1")
    change = world.tracker.apply_entry_fill(
        entry, fill(entry, "0.1", 45_000, fee="0.0004", fee_currency=FeeCurrency.BASE), at=T0
    )
    assert change.position.size == Decimal("0.0996")
    assert change.position.entry_fees == Decimal("18.0000")


def test_a_fill_below_a_longs_stop_opens_the_position_without_that_stop_and_alerts(
    world: World,
) -> None:
    # A buy limit at 45,000 filled at 44,400 after a gap: the planned stop 44,500 is above it.
    entry = order("p1", size="0.1")
    change = world.tracker.apply_entry_fill(
        entry,
        fill(entry, "0.1", 44_400),
        at=T0,
        stop_loss=Decimal(44_500),
        take_profit=Decimal(46_000),
    )
    assert change.position.size == Decimal("0.1")
    assert (change.position.stop_loss, change.position.take_profit) == (None, Decimal(46_000))
    alerts = [e for e in change.events if isinstance(e, AlertRaised)]
    assert len(alerts) == 1
    assert alerts[0].severity == "critical"
    assert "stop_loss dropped" in alerts[0].message


def test_an_increase_that_moves_the_entry_past_the_stop_drops_the_stop_and_alerts(
    world: World,
) -> None:
    open_long(world, "p1", size="0.01", price=45_000, stop_loss="44900", take_profit=None)
    more = order("o2", size="0.1", position_id="p1")
    change = world.tracker.apply_entry_fill(more, fill(more, "0.1", 44_800), at=T0)
    assert change.position.size == Decimal("0.11")
    assert change.position.stop_loss is None
    assert world.tracker.index.levels("p1") is None
    assert any(isinstance(e, AlertRaised) for e in change.events)


def test_an_entry_fill_on_the_wrong_side_of_its_position_is_a_bug(world: World) -> None:
    open_long(world, "p1")
    wrong = order("o2", side=OrderSide.SELL, position_id="p1")
    with pytest.raises(ValueError, match="does not add to position p1"):
        world.tracker.apply_entry_fill(wrong, fill(wrong, "0.1", 45_000), at=T0)
    assert world.tracker.get("p1").size == Decimal("0.1")  # type: ignore[union-attr]


# --------------------------------------------------------------------------- exits
def test_an_exit_fill_reduces_the_position_and_realizes_pnl_net_of_fees(world: World) -> None:
    open_long(world, "p1", size="0.2", fee="36")
    out = exit_order("p1", size="0.1")
    change = world.tracker.apply_exit_fill(out, fill(out, "0.1", 46_000, fee="18.4"), at=T0)
    reduced = change.unwrap()
    # 1,000 x 0.1 - 18.4 exit fee - 18 (half the entry fees)
    assert reduced.realized_pnl == Decimal("63.6")
    assert reduced.position.size == Decimal("0.1")
    assert isinstance(reduced.events[0], PositionReduced)
    assert world.tracker.exposures() == {BTC: Decimal("4500.0")}
    assert world.tracker.daily_pnl_detail().realized == Decimal("63.6")


def test_an_exit_fill_beyond_the_open_size_closes_the_position_and_reports_the_excess(
    world: World,
) -> None:
    # The take-profit sold 0.05 of 0.1; the stop, racing its cancel, then sells 0.1: the
    # exchange sold 0.05 BTC that no position holds. The book applies 0.05 and says so.
    open_long(world, "p1", size="0.1", fee="18")
    target = exit_order("p1", size="0.1", role=OrderRole.TAKE_PROFIT)
    world.tracker.apply_exit_fill(target, fill(target, "0.05", 46_000), at=T0)
    stop = exit_order("p1", size="0.1", role=OrderRole.STOP_LOSS, order_id="sl-1")
    oversized = fill(stop, "0.1", 44_000, fee="17.6")
    change = world.tracker.apply_exit_fill(stop, oversized, at=T0).unwrap()
    position = change.position
    assert (position.is_open, position.size, position.exited_quantity) == (
        False,
        Decimal(0),
        Decimal("0.1"),
    )
    # the applied half: -1,000 x 0.05, half the fill's fee (8.8), the rest of the entry fees (9)
    assert change.realized_pnl == Decimal("-67.8")
    assert position.realized_pnl == Decimal("-26.8")  # after 50 - 9 on the target
    reduced, closed, alert = change.events
    assert isinstance(reduced, PositionReduced)
    assert reduced.quantity == Decimal("0.05")
    assert isinstance(closed, PositionClosed)
    assert closed.reason == "stop_loss"
    assert isinstance(alert, AlertRaised)
    assert (alert.source, alert.severity) == ("positions", "critical")
    assert oversized.trade_id in alert.message
    assert "sl-1" in alert.message
    assert "0.05 BTC beyond it" in alert.message
    assert world.tracker.open_positions() == []
    assert world.tracker.exposures() == {}
    assert world.tracker.daily_pnl_detail().realized == Decimal("-26.8")


def test_an_exit_fill_beyond_a_short_never_flips_it_into_a_long(world: World) -> None:
    open_short(world, "s1")
    cover = exit_order("s1", side=OrderSide.BUY, size="0.3")
    change = world.tracker.apply_exit_fill(cover, fill(cover, "0.3", 44_000), at=T0).unwrap()
    assert (change.position.side, change.position.size) == (PositionSide.SHORT, Decimal(0))
    assert not change.position.is_open
    (alert,) = [e for e in change.events if isinstance(e, AlertRaised)]
    assert "bought 0.2 BTC beyond it" in alert.message
    assert world.tracker.open_positions() == []


def test_an_oversized_exit_fill_with_a_base_fee_applies_the_fee_pro_rata(world: World) -> None:
    open_long(world, "p1", size="0.1")
    out = exit_order("p1", size="0.2")
    # 0.1996 delivered + 0.0004 base fee = 0.2 taken from the account: half of it is ours
    sold = fill(out, "0.1996", 46_000, fee="0.0004", fee_currency=FeeCurrency.BASE)
    change = world.tracker.apply_exit_fill(out, sold, at=T0).unwrap()
    assert not change.position.is_open
    # 1,000 x 0.1 - half the fee (0.0002 x 46,000 = 9.2)
    assert change.realized_pnl == Decimal("90.8")
    (alert,) = [e for e in change.events if isinstance(e, AlertRaised)]
    assert "sold 0.1000 BTC beyond it" in alert.message


def test_an_exit_order_without_a_position_id_is_refused(world: World) -> None:
    open_long(world, "p1")
    stray = order("x1", side=OrderSide.SELL, role=OrderRole.EXIT)
    result = world.tracker.apply_exit_fill(stray, fill(stray, "0.1", 46_000), at=T0)
    assert isinstance(result.failure(), InvalidValue)
    assert result.failure().field == "position_id"


def test_an_exit_for_an_unknown_position_is_refused(world: World) -> None:
    out = exit_order("nope")
    result = world.tracker.apply_exit_fill(out, fill(out, "0.1", 46_000), at=T0)
    assert result.failure().message == "BTC/USDT: position_id names no open position (got nope)"


def test_an_exit_fill_on_the_entry_side_is_refused(world: World) -> None:
    open_long(world, "p1")
    wrong = exit_order("p1", side=OrderSide.BUY)
    result = world.tracker.apply_exit_fill(wrong, fill(wrong, "0.05", 46_000), at=T0)
    assert result.failure().field == "fill.side"
    assert world.tracker.get("p1").size == Decimal("0.1")  # type: ignore[union-attr]


def test_the_last_exit_closes_the_position_and_removes_it_from_the_book(world: World) -> None:
    open_long(world, "p1")
    open_short(world, "s1")
    out = exit_order("p1", role=OrderRole.STOP_LOSS)
    change = world.tracker.apply_exit_fill(out, fill(out, "0.1", 44_500), at=T0).unwrap()
    closed = [e for e in change.events if isinstance(e, PositionClosed)]
    assert closed[0].reason == "stop_loss"
    assert [p.id for p in world.tracker.open_positions()] == ["s1"]
    assert "p1" not in world.tracker.index
    assert world.tracker.exposures() == {BTC: Decimal("4500.0")}  # the short's, gross
    closed_position = world.tracker.get("p1")
    assert closed_position is not None
    assert not closed_position.is_open


def test_a_symbol_without_positions_has_no_exposure_entry(world: World) -> None:
    open_long(world, "p1")
    out = exit_order("p1")
    world.tracker.apply_exit_fill(out, fill(out, "0.1", 45_500), at=T0)
    assert world.tracker.exposures() == {}


def test_a_late_entry_fill_after_a_close_reopens_the_position_with_its_history(
    world: World,
) -> None:
    entry = order("p1", size="0.1")
    world.tracker.apply_entry_fill(entry, fill(entry, "0.06", 45_000), at=T0)
    out = exit_order("p1", size="0.06")
    world.tracker.apply_exit_fill(out, fill(out, "0.06", 46_000), at=T0)
    # The entry order's remainder fills, racing its cancel.
    change = world.tracker.apply_entry_fill(entry, fill(entry, "0.04", 45_500), at=T0)
    position = change.position
    assert (position.size, position.entry_price) == (Decimal("0.04"), Decimal(45_500))
    assert position.exited_quantity == Decimal("0.06")
    assert position.entered_quantity == Decimal("0.10")  # entries - exits = size
    assert position.realized_pnl == Decimal("60.00")
    assert world.tracker.exposures() == {BTC: Decimal("1820.00")}


# --------------------------------------------------------------------------- load, P&L day
def test_loading_stored_positions_fills_the_book_and_the_index(world: World) -> None:
    stored = [
        Position(BTC, "long", "0.1", 45_000, id="a", stop_loss=44_000, take_profit=47_000),
        Position(BTC, "short", "0.2", 45_000, id="b", stop_loss=46_000),
        Position(BTC, "long", 0, 45_000, id="gone", closed_at=T0),
    ]
    world.tracker.load(stored)
    assert sorted(p.id for p in world.tracker.open_positions()) == ["a", "b"]
    assert world.tracker.index.levels("b") == (Decimal(46_000), None)
    assert world.tracker.exposures() == {BTC: Decimal("13500.0")}
    assert world.tracker.get("gone") == stored[2]


def test_a_stored_position_without_an_id_is_a_bug(world: World) -> None:
    with pytest.raises(ValueError, match="needs an id"):
        world.tracker.load([Position(BTC, "long", "0.1", 45_000)])


def test_realized_pnl_counts_for_the_utc_day_it_was_realized(world: World) -> None:
    open_long(world, "p1", size="0.2")
    out = exit_order("p1", size="0.2")
    world.tracker.apply_exit_fill(out, fill(out, "0.1", 46_000), at=T0)
    assert world.tracker.daily_pnl() == Decimal(100)  # no fresh price: nothing unrealized
    world.clock.advance(12 * 3600)  # past midnight UTC
    assert world.tracker.daily_pnl_detail().realized == Decimal(0)
    world.tracker.apply_exit_fill(
        out, fill(out, "0.1", 44_000, at=world.clock.now()), at=world.clock.now()
    )
    assert world.tracker.daily_pnl_detail().realized == Decimal(-100)


def test_a_base_fee_on_a_later_entry_fill_is_not_part_of_the_position(world: World) -> None:
    open_long(world, "p1", size="0.1")
    more = order("o2", size="0.1", position_id="p1")
    fee = fill(more, "0.1", 45_000, fee="0.0004", fee_currency=FeeCurrency.BASE)
    change = world.tracker.apply_entry_fill(more, fee, at=T0)
    assert change.position.size == Decimal("0.1996")
