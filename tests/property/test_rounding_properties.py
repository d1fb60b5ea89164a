from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execution_core.domain.enums import OrderSide, PositionSide
from execution_core.domain.rounding import (
    is_multiple,
    round_limit_price,
    round_size,
    round_stop_loss,
    round_take_profit,
    slippage_cap,
)

# Kraken's steps are powers of ten; the generic path (0.25, 5) is covered too.
steps = st.sampled_from(
    [
        Decimal("0.00000001"),
        Decimal("0.00001"),
        Decimal("0.01"),
        Decimal("0.1"),
        Decimal(1),
        Decimal(10),
        Decimal("0.25"),
        Decimal("0.5"),
        Decimal(5),
        Decimal("0.0003"),
    ]
)
values = st.decimals(
    min_value=Decimal("0.00000001"),
    max_value=Decimal(10_000_000),
    places=10,
    allow_nan=False,
    allow_infinity=False,
)
sides = st.sampled_from(list(OrderSide))
positions = st.sampled_from(list(PositionSide))
slippages = st.decimals(min_value=Decimal(0), max_value=Decimal(10), places=3)


@given(values, steps)
def test_rounding_a_size_never_increases_it_and_loses_less_than_one_lot(
    size: Decimal, lot: Decimal
) -> None:
    rounded = round_size(size, lot)
    assert rounded <= size
    assert size - rounded < lot
    assert is_multiple(rounded, lot)


@given(values, steps, sides)
def test_rounding_a_limit_price_never_worsens_it(
    price: Decimal, tick: Decimal, side: OrderSide
) -> None:
    rounded = round_limit_price(price, side, tick)
    if side is OrderSide.BUY:
        assert rounded <= price  # a buyer never pays more than asked
    else:
        assert rounded >= price  # a seller never receives less than asked
    assert abs(rounded - price) < tick
    assert is_multiple(rounded, tick)


@given(values, steps, sides)
def test_rounding_is_idempotent(price: Decimal, tick: Decimal, side: OrderSide) -> None:
    once = round_limit_price(price, side, tick)
    assert round_limit_price(once, side, tick) == once
    assert round_size(round_size(price, tick), tick) == round_size(price, tick)


@given(values, steps, sides, slippages)
def test_the_slippage_cap_is_never_looser_than_the_configured_slippage(
    reference: Decimal, tick: Decimal, side: OrderSide, slippage_pct: Decimal
) -> None:
    cap = slippage_cap(reference, side, slippage_pct, tick)
    fraction = slippage_pct / 100
    if side is OrderSide.BUY:
        exact = reference * (1 + fraction)
        assert cap <= exact
    else:
        exact = reference * (1 - fraction)
        assert cap >= exact
    assert abs(cap - exact) < tick
    assert is_multiple(cap, tick)


@given(values, steps, positions)
def test_a_stop_loss_only_ever_tightens_when_rounded(
    trigger: Decimal, tick: Decimal, position: PositionSide
) -> None:
    rounded = round_stop_loss(trigger, position, tick)
    if position is PositionSide.LONG:
        assert rounded >= trigger  # closer to a market above the long's stop
    else:
        assert rounded <= trigger
    assert abs(rounded - trigger) < tick
    assert is_multiple(rounded, tick)


@given(values, steps, positions)
def test_a_take_profit_only_ever_moves_toward_the_entry_when_rounded(
    trigger: Decimal, tick: Decimal, position: PositionSide
) -> None:
    rounded = round_take_profit(trigger, position, tick)
    if position is PositionSide.LONG:
        assert rounded <= trigger
    else:
        assert rounded >= trigger
    assert abs(rounded - trigger) < tick
    assert is_multiple(rounded, tick)
