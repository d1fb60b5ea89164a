from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execution_core.domain.enums import PositionSide
from execution_core.domain.positions import Position
from execution_core.domain.trailing import TrailingStop

ENTRY = Decimal(45_000)

paths = st.lists(st.decimals(min_value=40_000, max_value=52_000, places=2), max_size=60)
stop_offsets = st.none() | st.decimals(min_value="0.05", max_value=3, places=2)
"""The manual stop's distance from the entry in percent (None: no manual stop)."""
activations = st.decimals(min_value=0, max_value=5, places=2)
distances = st.decimals(min_value="0.1", max_value=10, places=2)
ticks = st.none() | st.sampled_from([Decimal("0.1"), Decimal(1), Decimal(10)])


def opened(
    side: PositionSide, activation: Decimal, distance: Decimal, offset: Decimal | None
) -> Position:
    move = None if offset is None else ENTRY * offset / 100
    stop = None if move is None else ENTRY - move if side is PositionSide.LONG else ENTRY + move
    return Position(
        "BTC/USDT",
        side,
        1,
        ENTRY,
        stop_loss=stop,
        trailing=TrailingStop(activation_pct=activation, distance_pct=distance),
    )


@given(
    side=st.sampled_from(PositionSide),
    activation=activations,
    distance=distances,
    offset=stop_offsets,
    path=paths,
    tick=ticks,
)
def test_a_trailing_stop_never_loosens_along_any_price_path(
    *,
    side: PositionSide,
    activation: Decimal,
    distance: Decimal,
    offset: Decimal | None,
    path: list[Decimal],
    tick: Decimal | None,
) -> None:
    position = opened(side, activation, distance, offset)
    long = side is PositionSide.LONG
    for price in path:
        before = position.stop_loss
        position = position.trail(price, tick_size=tick)
        after = position.stop_loss
        if before is not None:
            assert after is not None
            assert after >= before if long else after <= before
        trailing = position.trailing
        assert trailing is not None
        if trailing.active:
            assert trailing.extreme is not None
            assert after is not None
            # never at or past the best price seen: it would fire at once
            assert after < trailing.extreme if long else after > trailing.extreme


@given(
    side=st.sampled_from(PositionSide),
    activation=activations,
    distance=distances,
    offset=st.decimals(min_value="0.05", max_value=3, places=2),
    path=paths,
)
def test_the_stop_is_the_tightest_of_the_manual_stop_and_every_candidate(
    *,
    side: PositionSide,
    activation: Decimal,
    distance: Decimal,
    offset: Decimal,
    path: list[Decimal],
) -> None:
    position = opened(side, activation, distance, offset)
    long = side is PositionSide.LONG
    threshold = position.trailing.activation_price(side, ENTRY) if position.trailing else ENTRY
    expected = position.stop_loss
    assert expected is not None
    best: Decimal | None = None
    for price in path:
        position = position.trail(price)
        if best is None and ((price >= threshold) if long else (price <= threshold)):
            best = price
        elif best is not None:
            best = max(best, price) if long else min(best, price)
        if best is not None:
            factor = 1 - distance / 100 if long else 1 + distance / 100
            candidate = best * factor
            expected = max(expected, candidate) if long else min(expected, candidate)
        assert position.stop_loss == expected
