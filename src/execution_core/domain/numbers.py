"""The one Decimal policy: every price, size, fee and rate enters the core through `to_decimal`.

Floats are converted through `str()` so that `0.1` becomes `Decimal("0.1")`, not the binary
expansion; NaN, infinities and negative zero are refused because no price, size or fee can be one.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final, TypeAlias

DecimalLike: TypeAlias = Decimal | int | str | float

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)
HUNDRED: Final = Decimal(100)


class InvalidNumber(ValueError):
    """A value that cannot be a price, size, fee or rate; names the field and the value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason} (got {value!r})")


def to_decimal(value: DecimalLike, *, field: str = "value") -> Decimal:
    """Convert `value` to a finite Decimal, refusing NaN, infinities and negative zero.

    >>> to_decimal(0.1)
    Decimal('0.1')
    >>> to_decimal("45000.5", field="price")
    Decimal('45000.5')
    >>> to_decimal("NaN", field="price")
    Traceback (most recent call last):
    ...
    execution_core.domain.numbers.InvalidNumber: price: must be a finite number (got 'NaN')
    """
    if type(value) is Decimal and value.is_finite() and value:
        # The common case, a finite non-zero Decimal, in one test (zeros take the full path,
        # which refuses -0).
        return value
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise InvalidNumber(field, value, "must be a number, not a bool")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = _parse(str(value), field, value)
    elif isinstance(value, str):
        result = _parse(value.strip(), field, value)
    else:
        raise InvalidNumber(
            field, value, f"must be Decimal, int, str or float, not {type(value).__name__}"
        )
    if not result.is_finite():
        raise InvalidNumber(field, value, "must be a finite number")
    if result.is_zero() and result.is_signed():
        raise InvalidNumber(field, value, "negative zero is not a number we accept")
    return result


def to_optional_decimal(value: DecimalLike | None, *, field: str = "value") -> Decimal | None:
    """`to_decimal` that lets `None` through (an absent stop, take-profit or price)."""
    return None if value is None else to_decimal(value, field=field)


def _parse(text: str, field: str, original: object) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidNumber(field, original, "is not a decimal number") from None
