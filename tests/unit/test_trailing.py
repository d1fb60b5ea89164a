from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from execution_core.domain.enums import PositionSide
from execution_core.domain.events import StopMoved, TrailingStopActivated
from execution_core.domain.positions import InvalidPosition, Position
from execution_core.domain.refusals import AboveMaximum, BelowMinimum, InvalidValue
from execution_core.domain.trailing import TrailingStop, trail_stop

T1 = datetime(2026, 1, 5, 12, 1, tzinfo=UTC)
REVIEW_TRAIL = TrailingStop(activation_pct=1, distance_pct="1.5")


def review_long(stop_loss: int) -> Position:
    """CRITICAL-8's position: entry 45000, activation at 1% profit, distance 1.5%."""
    return Position(
        "BTC/USDT", "long", 1, 45_000, id="P1", stop_loss=stop_loss, trailing=REVIEW_TRAIL
    )


def test_the_reviews_trail_replaces_44500_with_the_tighter_candidate() -> None:
    # 45450 x (1 - 0.015) = 44768.25. The review and design.md print 44748.25 (an arithmetic
    # slip); either way the candidate is tighter than 44500 for a long, so it replaces it.
    trailed = review_long(44_500).trail(45_450)
    assert trailed.stop_loss == Decimal("44768.25")
    assert trailed.stop_loss > Decimal(44_500)
    assert trailed.trailing is not None
    assert trailed.trailing.active
    assert trailed.trailing.extreme == Decimal(45_450)


def test_the_reviews_manual_stop_of_44900_stays_because_the_trail_would_loosen_it() -> None:
    trailed = review_long(44_900).trail(45_450)
    assert trailed.stop_loss == Decimal(44_900)
    assert trailed.trailing is not None
    assert trailed.trailing.active


def test_the_trail_does_nothing_before_the_activation_profit() -> None:
    position = review_long(44_500)
    assert position.trail("45449.99") == position


def test_a_position_without_a_trailing_configuration_never_trails() -> None:
    position = Position("BTC/USDT", "long", 1, 45_000, stop_loss=44_500)
    assert position.trail(60_000) == position


def test_the_stop_follows_new_highs_and_never_loosens_on_a_pullback() -> None:
    position = review_long(44_500).trail(45_450).trail(46_000)
    assert position.stop_loss == Decimal(46_000) * Decimal("0.985")
    pulled_back = position.trail(45_100)
    assert pulled_back.stop_loss == position.stop_loss


def test_a_trailed_stop_may_lock_in_profit_above_the_entry() -> None:
    position = review_long(44_500).trail(47_000)
    assert position.stop_loss == Decimal("46295.000")
    assert position.stop_loss > position.entry_price


def test_a_manual_stop_above_the_high_water_mark_is_still_refused() -> None:
    position = review_long(44_500).trail(47_000)
    refusal = position.modify(stop_loss=47_100).failure()
    assert (refusal.field, refusal.limit) == ("stop_loss", Decimal(47_000))


def test_a_short_trail_mirrors_the_long() -> None:
    short = Position(
        "BTC/USDT",
        "short",
        1,
        45_000,
        stop_loss=45_500,
        trailing=TrailingStop(activation_pct=1, distance_pct="1.5"),
    )
    trailed = short.trail(44_550)
    assert trailed.stop_loss == Decimal(44_550) * Decimal("1.015")
    assert trailed.trail(44_900).stop_loss == trailed.stop_loss
    assert trailed.trail(44_000).stop_loss == Decimal(44_000) * Decimal("1.015")


def test_a_short_manual_stop_tighter_than_the_trail_stays() -> None:
    short = Position(
        "BTC/USDT",
        "short",
        1,
        45_000,
        stop_loss=45_100,
        trailing=TrailingStop(activation_pct=1, distance_pct="1.5"),
    )
    assert short.trail(44_550).stop_loss == Decimal(45_100)


def test_the_trail_sets_a_stop_where_there_was_none() -> None:
    position = Position(
        "BTC/USDT", "long", 1, 100, trailing=TrailingStop(activation_pct=0, distance_pct=2)
    )
    assert position.trail(100).stop_loss == Decimal(98)


def test_the_trail_rounds_toward_the_market_on_the_tick() -> None:
    rounded = review_long(44_500).trail(45_450, tick_size=Decimal("0.1"))
    assert rounded.stop_loss == Decimal("44768.3")


def test_tick_rounding_never_puts_the_stop_on_the_high_water_mark() -> None:
    tiny = TrailingStop(activation_pct=0, distance_pct="0.001")
    step = trail_stop(
        PositionSide.LONG, Decimal(100), None, tiny, Decimal(100), tick_size=Decimal(1)
    )
    assert step.stop == Decimal(99)


def test_trail_with_events_reports_activation_and_the_move() -> None:
    change = review_long(44_500).trail_with_events(45_450, at=T1)
    assert change.events == (
        TrailingStopActivated(position_id="P1", price=Decimal(45_450), at=T1),
        StopMoved(
            position_id="P1",
            old=Decimal(44_500),
            new=Decimal("44768.25"),
            reason="trailing",
            at=T1,
        ),
    )


def test_trail_with_events_reports_activation_only_when_the_stop_stays() -> None:
    change = review_long(44_900).trail_with_events(45_450, at=T1)
    assert change.events == (TrailingStopActivated(position_id="P1", price=Decimal(45_450), at=T1),)


def test_trail_with_events_reports_nothing_when_nothing_changes() -> None:
    position = review_long(44_500).trail(46_000)
    change = position.trail_with_events(45_000, at=T1)
    assert change.position == position
    assert change.events == ()


def test_a_closed_position_does_not_trail() -> None:
    closed = review_long(44_500).close(45_000, at=T1).unwrap().position
    assert closed.trail(50_000) == closed


def test_the_trailing_configuration_is_validated() -> None:
    assert TrailingStop.create(-1, 1, symbol="BTC/USDT").failure() == BelowMinimum(
        symbol="BTC/USDT", field="trailing.activation_pct", limit=Decimal(0), actual=Decimal(-1)
    )
    assert TrailingStop.create(1, 0, symbol="BTC/USDT").failure() == InvalidValue(
        symbol="BTC/USDT", field="trailing.distance_pct", actual=Decimal(0), reason="must be > 0"
    )
    assert TrailingStop.create(1, 100, symbol="BTC/USDT").failure() == AboveMaximum(
        symbol="BTC/USDT", field="trailing.distance_pct", limit=Decimal(100), actual=Decimal(100)
    )
    assert TrailingStop.create("1", "1.5").unwrap() == REVIEW_TRAIL
    with pytest.raises(ValueError, match=r"trailing.distance_pct must be > 0"):
        TrailingStop(activation_pct=1, distance_pct=0)


def test_an_active_trail_needs_its_water_mark() -> None:
    with pytest.raises(ValueError, match="extreme set iff active"):
        TrailingStop(activation_pct=1, distance_pct=1, active=True)


def test_a_trailing_position_is_validated_against_its_water_mark() -> None:
    active = TrailingStop(activation_pct=1, distance_pct=1, active=True, extreme=46_000)
    assert Position("BTC/USDT", "long", 1, 45_000, stop_loss=45_500, trailing=active).is_open
    with pytest.raises(InvalidPosition, match="below the trailing high-water mark 46000"):
        Position("BTC/USDT", "long", 1, 45_000, stop_loss=46_000, trailing=active)


def test_trailing_can_be_switched_on_for_an_open_position() -> None:
    position = Position("BTC/USDT", "long", 1, 45_000, stop_loss=44_500)
    enabled = position.modify(trailing=REVIEW_TRAIL).unwrap()
    assert enabled.trail(45_450).stop_loss == Decimal("44768.25")
