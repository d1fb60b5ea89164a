from __future__ import annotations

from decimal import Decimal

import pytest

from execution_core.domain.enums import OrderSide, PositionSide
from execution_core.domain.rounding import (
    ceil_to_step,
    floor_to_step,
    is_multiple,
    round_limit_price,
    round_size,
    round_stop_loss,
    round_take_profit,
    slippage_cap,
    slippage_factor,
    tidy,
)

TICK = Decimal("0.1")
LOT = Decimal("0.00000001")


def test_a_size_rounds_down_to_the_lot_never_up() -> None:
    assert round_size(Decimal("0.000123456789"), LOT) == Decimal("0.00012345")
    assert round_size(Decimal("0.999999999"), LOT) == Decimal("0.99999999")


def test_a_size_already_on_the_lot_is_unchanged() -> None:
    assert round_size(Decimal("0.0001"), LOT) == Decimal("0.0001")


def test_a_buy_limit_rounds_down_to_the_tick() -> None:
    assert round_limit_price(Decimal("45000.07"), OrderSide.BUY, TICK) == Decimal("45000.0")


def test_a_sell_limit_rounds_up_to_the_tick() -> None:
    assert round_limit_price(Decimal("45000.01"), OrderSide.SELL, TICK) == Decimal("45000.1")


def test_a_limit_price_on_the_tick_is_unchanged_for_either_side() -> None:
    price = Decimal("0.52347")
    tick = Decimal("0.00001")
    assert round_limit_price(price, OrderSide.BUY, tick) == price
    assert round_limit_price(price, OrderSide.SELL, tick) == price


def test_a_protected_market_buy_at_45000_is_capped_at_45225() -> None:
    cap = slippage_cap(Decimal(45000), OrderSide.BUY, Decimal("0.5"), TICK)
    assert cap == Decimal("45225.0")
    assert str(cap) == "45225.0"


def test_a_protected_market_sell_at_45000_is_floored_at_44775() -> None:
    assert slippage_cap(Decimal(45000), OrderSide.SELL, Decimal("0.5"), TICK) == Decimal("44775.0")


def test_the_slippage_cap_rounds_toward_the_reference_price() -> None:
    # 45000.3 x 1.005 = 45225.3015 -> down; 45000.3 x 0.995 = 44775.2985 -> up.
    reference = Decimal("45000.3")
    assert slippage_cap(reference, OrderSide.BUY, Decimal("0.5"), TICK) == Decimal("45225.3")
    assert slippage_cap(reference, OrderSide.SELL, Decimal("0.5"), TICK) == Decimal("44775.3")


def test_the_slippage_factor_is_one_plus_or_minus_the_percentage() -> None:
    assert slippage_factor(OrderSide.BUY, Decimal("0.5")) == Decimal("1.005")
    assert slippage_factor(OrderSide.SELL, Decimal(2)) == Decimal("0.98")


def test_a_long_stop_loss_rounds_up_toward_the_market() -> None:
    assert round_stop_loss(Decimal("44499.97"), PositionSide.LONG, TICK) == Decimal("44500.0")


def test_a_short_stop_loss_rounds_down_toward_the_market() -> None:
    assert round_stop_loss(Decimal("45500.03"), PositionSide.SHORT, TICK) == Decimal("45500.0")


def test_a_long_take_profit_rounds_down_toward_the_entry() -> None:
    assert round_take_profit(Decimal("46000.09"), PositionSide.LONG, TICK) == Decimal("46000.0")


def test_a_short_take_profit_rounds_up_toward_the_entry() -> None:
    assert round_take_profit(Decimal("43999.91"), PositionSide.SHORT, TICK) == Decimal("44000.0")


def test_steps_that_are_not_powers_of_ten_round_to_whole_steps() -> None:
    assert floor_to_step(Decimal("10.7"), Decimal("0.25")) == Decimal("10.50")
    assert ceil_to_step(Decimal("10.6"), Decimal("0.25")) == Decimal("10.75")
    assert floor_to_step(Decimal(47), Decimal(5)) == Decimal(45)
    assert ceil_to_step(Decimal(41), Decimal(5)) == Decimal(45)


def test_a_step_of_ten_or_more_is_handled() -> None:
    assert floor_to_step(Decimal(45678), Decimal(10)) == Decimal(45670)
    assert ceil_to_step(Decimal(45671), Decimal(10)) == Decimal(45680)


def test_a_step_that_is_not_positive_is_a_bug() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        floor_to_step(Decimal(1), Decimal(0))
    with pytest.raises(ValueError, match="must be > 0"):
        ceil_to_step(Decimal(1), Decimal("-0.1"))


def test_is_multiple_tells_whether_a_value_is_on_the_step() -> None:
    assert is_multiple(Decimal("45000.1"), TICK)
    assert not is_multiple(Decimal("45000.05"), TICK)
    assert is_multiple(Decimal("10.50"), Decimal("0.25"))


def test_tidy_drops_trailing_zeros_without_exponent_notation() -> None:
    assert str(tidy(Decimal("451.8000000000000"))) == "451.8"
    assert str(tidy(Decimal("0.00005000"))) == "0.00005"
    assert str(tidy(Decimal("4.5E+2"))) == "450"
    assert str(tidy(Decimal("45000.0"))) == "45000"
