"""`to_decimal`, the one Decimal policy, and the shared sign constants."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution_core.domain.enums import MINUS_ONE, PLUS_ONE, OrderSide, PositionSide
from execution_core.domain.numbers import InvalidNumber, to_decimal


class _MyDecimal(Decimal):
    """A Decimal subclass: not the exact type the fast path looks for."""


def test_a_finite_decimal_is_returned_as_it_is() -> None:
    price = Decimal("45000.50")

    assert to_decimal(price, field="price") is price


@pytest.mark.parametrize("value", ["0", "0.000", "0E+3"])
def test_a_positive_zero_decimal_is_accepted_with_its_exponent(value: str) -> None:
    result = to_decimal(Decimal(value))

    assert result.as_tuple() == Decimal(value).as_tuple()


@pytest.mark.parametrize("value", ["-0", "-0.00", "-0E-5"])
def test_a_negative_zero_decimal_is_refused(value: str) -> None:
    with pytest.raises(InvalidNumber, match="negative zero") as error:
        to_decimal(Decimal(value), field="size")

    assert error.value.field == "size"


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_a_decimal_that_is_not_finite_is_refused(value: str) -> None:
    with pytest.raises(InvalidNumber, match="must be a finite number") as error:
        to_decimal(Decimal(value), field="price")

    assert error.value.field == "price"


def test_a_decimal_subclass_is_checked_and_kept() -> None:
    price = _MyDecimal("45000")

    assert to_decimal(price) is price
    with pytest.raises(InvalidNumber, match="finite"):
        to_decimal(_MyDecimal("NaN"))


def test_other_spellings_still_convert() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(" 7 ") == Decimal(7)
    assert to_decimal(3) == Decimal(3)
    with pytest.raises(InvalidNumber, match="not a bool"):
        to_decimal(True)


def test_signs_are_the_shared_constants_plus_and_minus_one() -> None:
    assert (Decimal(1), Decimal(-1)) == (PLUS_ONE, MINUS_ONE)
    assert OrderSide.BUY.sign is PLUS_ONE
    assert OrderSide.SELL.sign is MINUS_ONE
    assert PositionSide.LONG.sign is PLUS_ONE
    assert PositionSide.SHORT.sign is MINUS_ONE
    assert str(OrderSide.SELL.sign) == "-1"
