"""Rounding to the exchange's steps, always in the safe direction.

The rule, for every value we send: never trade more than asked, never at a worse price than
asked, and never protect less than asked.

| value                           | buy / long                 | sell / short               |
|---------------------------------|----------------------------|----------------------------|
| size (to the lot)               | down                       | down                       |
| limit price (to the tick)       | down                       | up                         |
| market slippage cap / floor     | ref x (1 + s), down        | ref x (1 - s), up          |
| stop-loss trigger               | up (toward the market)     | down (toward the market)   |
| take-profit trigger             | down (toward the entry)    | up (toward the entry)      |

Rounding is exact Decimal arithmetic: a step that is a power of ten (0.1, 0.00000001) uses one
`quantize`; any other step (0.25, 5) goes through an integral number of steps. Whether a step is a
power of ten is worked out once per step value and cached.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

from execution_core.domain.enums import OrderSide, PositionSide
from execution_core.domain.numbers import HUNDRED, ONE, ZERO

_QUANTIZERS: dict[Decimal, Decimal | None] = {}
_CACHE_LIMIT: Final = 4096
_BUY: Final = OrderSide.BUY  # a global lookup is cheaper than an enum attribute


def _quantizer(step: Decimal) -> Decimal | None:
    """`10**e` when `step` is a power of ten <= 1 (then one `quantize` rounds), else None."""
    try:
        return _QUANTIZERS[step]
    except KeyError:
        pass
    if not step > ZERO:
        msg = f"a rounding step must be > 0 (got {step})"
        raise ValueError(msg)
    normal = step.normalize()
    exponent = normal.as_tuple().exponent
    assert isinstance(exponent, int)  # noqa: S101 - a finite Decimal has an int exponent
    quantizer = ONE.scaleb(exponent) if normal.as_tuple().digits == (1,) and exponent <= 0 else None
    if len(_QUANTIZERS) >= _CACHE_LIMIT:
        _QUANTIZERS.clear()
    _QUANTIZERS[step] = quantizer
    return quantizer


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` that is <= `value`.

    >>> floor_to_step(Decimal("45000.07"), Decimal("0.1"))
    Decimal('45000.0')
    >>> floor_to_step(Decimal("10.7"), Decimal("0.25"))
    Decimal('10.50')
    """
    quantizer = _quantizer(step)
    if quantizer is not None:
        return value.quantize(quantizer, ROUND_FLOOR)
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of `step` that is >= `value`.

    >>> ceil_to_step(Decimal("45000.01"), Decimal("0.1"))
    Decimal('45000.1')
    >>> ceil_to_step(Decimal("10.6"), Decimal("0.25"))
    Decimal('10.75')
    """
    quantizer = _quantizer(step)
    if quantizer is not None:
        return value.quantize(quantizer, ROUND_CEILING)
    return (value / step).to_integral_value(ROUND_CEILING) * step


def round_size(size: Decimal, lot_size: Decimal) -> Decimal:
    """A size rounded DOWN to the lot step: never trade more than asked.

    >>> round_size(Decimal("0.000123456789"), Decimal("0.00000001"))
    Decimal('0.00012345')
    """
    return floor_to_step(size, lot_size)


def round_limit_price(price: Decimal, side: OrderSide, tick_size: Decimal) -> Decimal:
    """A limit price rounded to the tick: a buy DOWN, a sell UP (never a worse price).

    >>> round_limit_price(Decimal("45000.07"), OrderSide.BUY, Decimal("0.1"))
    Decimal('45000.0')
    >>> round_limit_price(Decimal("45000.07"), OrderSide.SELL, Decimal("0.1"))
    Decimal('45000.1')
    """
    if side is _BUY:
        return floor_to_step(price, tick_size)
    return ceil_to_step(price, tick_size)


def slippage_factor(side: OrderSide, slippage_pct: Decimal) -> Decimal:
    """The multiplier of the reference price: 1 + s for a buy's cap, 1 - s for a sell's floor.

    `slippage_pct` is in percent (0.5 means 0.5 %).

    >>> slippage_factor(OrderSide.BUY, Decimal("0.5"))
    Decimal('1.005')
    >>> slippage_factor(OrderSide.SELL, Decimal("0.5"))
    Decimal('0.995')
    """
    fraction = slippage_pct / HUNDRED
    return ONE + fraction if side is _BUY else ONE - fraction


def capped_price(reference: Decimal, side: OrderSide, factor: Decimal, tick: Decimal) -> Decimal:
    """`reference x factor` rounded toward the reference (see `slippage_cap`).

    This is `slippage_cap` with the factor precomputed, for the planning hot path.
    """
    if side is _BUY:
        return floor_to_step(reference * factor, tick)
    return ceil_to_step(reference * factor, tick)


def slippage_cap(
    reference: Decimal, side: OrderSide, slippage_pct: Decimal, tick_size: Decimal
) -> Decimal:
    """The worst price a protected market order accepts, rounded toward the reference (stricter).

    A buy is capped at `ref x (1 + s)` rounded DOWN; a sell is floored at `ref x (1 - s)` rounded
    UP; `s = slippage_pct / 100`. The review's numbers (CRITICAL-3):

    >>> slippage_cap(Decimal(45000), OrderSide.BUY, Decimal("0.5"), Decimal("0.1"))
    Decimal('45225.0')
    >>> slippage_cap(Decimal(45000), OrderSide.SELL, Decimal("0.5"), Decimal("0.1"))
    Decimal('44775.0')
    >>> slippage_cap(Decimal("0.52347"), OrderSide.BUY, Decimal("0.5"), Decimal("0.00001"))
    Decimal('0.52608')
    """
    return capped_price(reference, side, slippage_factor(side, slippage_pct), tick_size)


def round_stop_loss(trigger: Decimal, position: PositionSide, tick_size: Decimal) -> Decimal:
    """A stop-loss trigger rounded toward the market (tighter): a long's UP, a short's DOWN.

    >>> round_stop_loss(Decimal("44499.97"), PositionSide.LONG, Decimal("0.1"))
    Decimal('44500.0')
    >>> round_stop_loss(Decimal("45500.03"), PositionSide.SHORT, Decimal("0.1"))
    Decimal('45500.0')
    """
    if position is PositionSide.LONG:
        return ceil_to_step(trigger, tick_size)
    return floor_to_step(trigger, tick_size)


def round_take_profit(trigger: Decimal, position: PositionSide, tick_size: Decimal) -> Decimal:
    """A take-profit trigger rounded toward the entry: a long's DOWN, a short's UP.

    >>> round_take_profit(Decimal("46000.09"), PositionSide.LONG, Decimal("0.1"))
    Decimal('46000.0')
    >>> round_take_profit(Decimal("43999.91"), PositionSide.SHORT, Decimal("0.1"))
    Decimal('44000.0')
    """
    if position is PositionSide.LONG:
        return floor_to_step(trigger, tick_size)
    return ceil_to_step(trigger, tick_size)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether `value` is a whole number of `step`s (on the lot or the tick).

    >>> tick = Decimal("0.1")
    >>> is_multiple(Decimal("45000.1"), tick), is_multiple(Decimal("45000.05"), tick)
    (True, False)
    """
    return (value % step).is_zero()


def tidy(value: Decimal) -> Decimal:
    """The same number without trailing zeros, never in exponent notation (for messages).

    >>> tidy(Decimal("451.8000000000000")), tidy(Decimal("0.00005000")), tidy(Decimal("4.5E+2"))
    (Decimal('451.8'), Decimal('0.00005'), Decimal('450'))
    """
    normal = value.normalize()
    if normal.as_tuple().exponent > 0:  # type: ignore[operator]  # finite: an int exponent
        return normal.quantize(ONE)
    return normal
