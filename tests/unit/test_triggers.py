from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from execution_core.domain.enums import PositionSide, TriggerKind
from execution_core.domain.events import TriggerFired
from execution_core.domain.positions import Position
from execution_core.domain.trailing import TrailingStop
from execution_core.domain.triggers import (
    Trigger,
    TriggerIndex,
    check_bar_triggers,
    check_sl_tp_triggers,
    trigger_on_bar,
    trigger_on_price,
)

T1 = datetime(2026, 1, 5, 12, 1, tzinfo=UTC)
SL, TP = TriggerKind.STOP_LOSS, TriggerKind.TAKE_PROFIT


def long_position(pid: str = "L1", stop: int = 44_500, target: int = 46_000) -> Position:
    return Position("BTC/USDT", "long", 1, 45_000, id=pid, stop_loss=stop, take_profit=target)


def short_position(pid: str = "S1", stop: int = 45_500, target: int = 44_000) -> Position:
    return Position("BTC/USDT", "short", 1, 45_000, id=pid, stop_loss=stop, take_profit=target)


def kind(trigger: Trigger | None) -> TriggerKind | None:
    return None if trigger is None else trigger.kind


# --------------------------------------------------------------------------- one position
@pytest.mark.parametrize(
    ("price", "expected"),
    [(44_400, SL), (44_500, SL), (44_501, None), (45_999, None), (46_000, TP), (47_000, TP)],
)
def test_a_long_fires_its_stop_at_or_below_and_its_target_at_or_above(
    price: int, expected: TriggerKind | None
) -> None:
    assert kind(trigger_on_price(long_position(), Decimal(price))) == expected


@pytest.mark.parametrize(
    ("price", "expected"),
    [(45_600, SL), (45_500, SL), (45_499, None), (44_001, None), (44_000, TP), (43_000, TP)],
)
def test_a_short_fires_its_stop_at_or_above_and_its_target_at_or_below(
    price: int, expected: TriggerKind | None
) -> None:
    assert kind(trigger_on_price(short_position(), Decimal(price))) == expected


def test_a_bar_crossing_both_levels_of_a_long_reports_the_stop_loss() -> None:
    trigger = trigger_on_bar(long_position(), low=Decimal(44_000), high=Decimal(46_500))
    assert trigger == Trigger(
        position_id="L1", symbol="BTC/USDT", kind=SL, level=Decimal(44_500), price=Decimal(44_000)
    )


def test_a_bar_crossing_both_levels_of_a_short_reports_the_stop_loss() -> None:
    trigger = trigger_on_bar(short_position(), low=Decimal(43_000), high=Decimal(46_000))
    assert trigger is not None
    assert (trigger.kind, trigger.level, trigger.price) == (SL, Decimal(45_500), Decimal(46_000))


def test_a_bar_reaching_only_the_target_reports_the_target_at_the_bar_extreme() -> None:
    trigger = trigger_on_bar(long_position(), low=Decimal(45_000), high=Decimal(46_100))
    assert trigger is not None
    assert (trigger.kind, trigger.price) == (TP, Decimal(46_100))


def test_a_stop_trailed_above_the_target_still_has_priority_on_one_price() -> None:
    trailing = TrailingStop(activation_pct=0, distance_pct=1, active=True, extreme=47_000)
    trailed = Position(
        "BTC/USDT",
        "long",
        1,
        45_000,
        id="L1",
        stop_loss=46_100,
        take_profit=46_000,
        trailing=trailing,
    )
    assert kind(trigger_on_price(trailed, Decimal(46_050))) == SL
    assert fired(index_of(trailed).on_price("BTC/USDT", Decimal(46_050))) == [("L1", SL)]


def test_a_position_without_levels_never_fires() -> None:
    assert (
        trigger_on_bar(Position("BTC/USDT", "long", 1, 45_000), low=Decimal(1), high=Decimal(10**6))
        is None
    )


def test_a_closed_position_never_fires() -> None:
    closed = long_position().close(46_000, at=T1).unwrap().position
    assert trigger_on_price(closed, Decimal(40_000)) is None


def test_a_bar_with_its_low_above_its_high_is_a_bug() -> None:
    with pytest.raises(ValueError, match="low 2 is above its high 1"):
        trigger_on_bar(long_position(), low=Decimal(2), high=Decimal(1))


def test_check_sl_tp_triggers_reports_one_trigger_per_position_that_fires() -> None:
    positions = [long_position("L1"), long_position("L2", stop=44_000), short_position("S1")]
    triggers = check_sl_tp_triggers(positions, Decimal(44_200))
    assert [(t.position_id, t.kind) for t in triggers] == [("L1", SL)]
    bar = check_bar_triggers(positions, low=Decimal(43_900), high=Decimal(45_600))
    assert [(t.position_id, t.kind) for t in bar] == [("L1", SL), ("L2", SL), ("S1", SL)]


def test_a_trigger_becomes_a_trigger_fired_event() -> None:
    trigger = trigger_on_price(long_position(), Decimal(44_400))
    assert trigger is not None
    assert trigger.event(T1) == TriggerFired(
        position_id="L1", trigger=SL, level=Decimal(44_500), price=Decimal(44_400), at=T1
    )


# --------------------------------------------------------------------------- the index
def index_of(*positions: Position) -> TriggerIndex:
    index = TriggerIndex()
    for position in positions:
        index.add(position)
    return index


def fired(triggers: list[Trigger]) -> list[tuple[str, TriggerKind]]:
    return [(t.position_id, t.kind) for t in triggers]


def test_the_index_fires_nothing_between_the_levels() -> None:
    index = index_of(long_position(), short_position())
    assert index.on_price("BTC/USDT", Decimal(45_000)) == []


def test_the_index_fires_long_stops_and_short_targets_on_a_fall() -> None:
    index = index_of(long_position("L1"), long_position("L2", stop=43_000), short_position("S1"))
    assert fired(index.on_price("BTC/USDT", Decimal(44_000))) == [("L1", SL), ("S1", TP)]


def test_the_index_fires_short_stops_and_long_targets_on_a_rise() -> None:
    index = index_of(long_position("L1"), short_position("S1"), short_position("S2", stop=47_000))
    assert fired(index.on_price("BTC/USDT", Decimal(46_000))) == [("S1", SL), ("L1", TP)]


def test_the_index_reports_the_stop_when_a_bar_crosses_both_levels() -> None:
    index = index_of(long_position("L1"), short_position("S1"))
    triggers = index.on_bar("BTC/USDT", low=Decimal(43_000), high=Decimal(47_000))
    assert fired(triggers) == [("L1", SL), ("S1", SL)]
    assert triggers[0] == Trigger(
        position_id="L1", symbol="BTC/USDT", kind=SL, level=Decimal(44_500), price=Decimal(43_000)
    )


def test_the_index_lists_fired_levels_in_the_order_a_moving_price_meets_them() -> None:
    index = index_of(
        long_position("far", stop=43_000), long_position("near", stop=44_800), long_position("mid")
    )
    assert fired(index.on_price("BTC/USDT", Decimal(42_000))) == [
        ("near", SL),
        ("mid", SL),
        ("far", SL),
    ]


def test_the_index_keeps_symbols_apart() -> None:
    index = index_of(long_position())
    assert index.on_price("XRP/USDT", Decimal(1)) == []


def test_updating_a_position_moves_its_levels() -> None:
    index = index_of(long_position())
    moved = long_position().modify(stop_loss=44_900).unwrap()
    index.update(moved)
    assert index.levels("L1") == (Decimal(44_900), Decimal(46_000))
    assert fired(index.on_price("BTC/USDT", Decimal(44_850))) == [("L1", SL)]


def test_removing_a_position_stops_its_triggers() -> None:
    index = index_of(long_position("L1"), long_position("L2"))
    assert index.remove("L1") is True
    assert index.remove("L1") is False
    assert fired(index.on_price("BTC/USDT", Decimal(44_000))) == [("L2", SL)]
    assert len(index) == 1
    assert "L1" not in index


def test_positions_with_the_same_level_are_kept_and_removed_by_id() -> None:
    index = index_of(long_position("A"), long_position("B"), long_position("C"))
    index.remove("B")
    assert fired(index.on_price("BTC/USDT", Decimal(44_500))) == [("C", SL), ("A", SL)]


def test_a_closed_position_leaves_the_index_on_update() -> None:
    index = index_of(long_position())
    index.update(long_position().close(46_000, at=T1).unwrap().position)
    assert len(index) == 0
    assert index.on_price("BTC/USDT", Decimal(40_000)) == []


def test_a_position_without_levels_is_not_indexed() -> None:
    index = index_of(Position("BTC/USDT", "long", 1, 45_000, id="bare"))
    assert "bare" not in index


def test_adding_a_position_twice_is_a_bug() -> None:
    index = index_of(long_position())
    with pytest.raises(ValueError, match="already indexed"):
        index.add(long_position())


def test_a_position_without_an_id_cannot_be_indexed() -> None:
    with pytest.raises(ValueError, match="non-empty id"):
        TriggerIndex().add(Position("BTC/USDT", "long", 1, 45_000, stop_loss=44_000))


def test_a_level_keeps_firing_until_its_owner_moves_or_removes_it() -> None:
    index = index_of(long_position())
    assert fired(index.on_price("BTC/USDT", Decimal(44_000))) == [("L1", SL)]
    assert fired(index.on_price("BTC/USDT", Decimal(44_000))) == [("L1", SL)]


def test_set_levels_indexes_a_position_without_a_position_object() -> None:
    index = TriggerIndex()
    index.set_levels("X", "XRP/USDT", PositionSide.SHORT, stop_loss=Decimal(3), take_profit=None)
    assert fired(index.on_price("XRP/USDT", Decimal(3))) == [("X", SL)]
    index.set_levels("X", "XRP/USDT", PositionSide.SHORT, stop_loss=None, take_profit=None)
    assert "X" not in index
