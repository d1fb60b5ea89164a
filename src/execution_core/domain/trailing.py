"""Trailing stops: opt-in per position, and they only ever tighten.

Rule: once the price has moved `activation_pct` percent in the position's favour from the entry,
the stop trails the best price seen since (the high-water mark of a long, the low-water mark of a
short) at `distance_pct` percent. For a long the candidate is `high_water x (1 - distance)` and
the stop becomes `max(current_stop, candidate)`; for a short the candidate is
`low_water x (1 + distance)` and the stop becomes `min(current_stop, candidate)`. A candidate
looser than the current stop is ignored, so a manual stop tighter than the trail is kept.

The review's example (CRITICAL-8): entry 45000, stop 44500, activation 1%, distance 1.5%, the
price reaches 45450. The candidate is 45450 x 0.985 = 44768.25 (the review and design.md print
44748.25, an arithmetic slip; either way it is TIGHTER than 44500 for a long), so it replaces
44500; with a manual stop of 44900 the stop stays 44900.

>>> trailing = TrailingStop(activation_pct=1, distance_pct="1.5")
>>> trail_stop(PositionSide.LONG, Decimal(45000), Decimal(44500), trailing, Decimal(45450)).stop
Decimal('44768.250')
>>> trail_stop(PositionSide.LONG, Decimal(45000), Decimal(44900), trailing, Decimal(45450)).stop
Decimal('44900')

`activation_pct` and `distance_pct` are price moves in percent, not returns on margin: leverage
does not change where a stop sits.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

import attrs
from returns.result import Failure, Result, Success

from execution_core.domain.enums import PositionSide
from execution_core.domain.numbers import HUNDRED, ONE, ZERO, DecimalLike, InvalidNumber, to_decimal
from execution_core.domain.refusals import AboveMaximum, BelowMinimum, InvalidValue, Refusal


def _activation(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="activation_pct")


def _distance(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="distance_pct")


def _optional_extreme(value: DecimalLike | None) -> Decimal | None:
    return None if value is None else to_decimal(value, field="extreme")


@attrs.frozen(kw_only=True)
class TrailingStop:
    """A position's trailing-stop configuration and state.

    `active` turns true when the activation profit is reached; `extreme` is then the best price
    seen since (highest for a long, lowest for a short). Both are None/False before activation.
    """

    activation_pct: Decimal = attrs.field(converter=_activation)
    distance_pct: Decimal = attrs.field(converter=_distance)
    active: bool = False
    extreme: Decimal | None = attrs.field(default=None, converter=_optional_extreme)

    def __attrs_post_init__(self) -> None:
        refusal = _config_refusal("", self.activation_pct, self.distance_pct)
        if refusal is not None:
            raise ValueError(f"TrailingStop{refusal.message}")
        if self.active != (self.extreme is not None):
            msg = f"TrailingStop: active={self.active} needs extreme set iff active"
            raise ValueError(msg)
        if self.extreme is not None and self.extreme <= ZERO:
            msg = f"TrailingStop.extreme must be > 0 (got {self.extreme})"
            raise ValueError(msg)

    @classmethod
    def create(
        cls, activation_pct: DecimalLike, distance_pct: DecimalLike, *, symbol: str = ""
    ) -> Result[TrailingStop, Refusal]:
        """A fresh (inactive) trailing stop, or the refusal naming the bad field.

        >>> TrailingStop.create(1, 0, symbol="BTC/USDT").failure().message
        'BTC/USDT: trailing.distance_pct must be > 0 (got 0)'
        """
        try:
            activation = to_decimal(activation_pct, field="trailing.activation_pct")
            distance = to_decimal(distance_pct, field="trailing.distance_pct")
        except InvalidNumber as error:
            return Failure(
                InvalidValue(
                    symbol=symbol, field=error.field, actual=str(error.value), reason=error.reason
                )
            )
        refusal = _config_refusal(symbol, activation, distance)
        if refusal is not None:
            return Failure(refusal)
        return Success(cls(activation_pct=activation, distance_pct=distance))

    def activation_price(self, side: PositionSide, entry_price: Decimal) -> Decimal:
        """The price at which the stop starts to trail.

        >>> TrailingStop(activation_pct=1, distance_pct=1).activation_price(
        ...     PositionSide.SHORT, Decimal(45000)
        ... )
        Decimal('44550.00')
        """
        move = self.activation_pct / HUNDRED
        return entry_price * (ONE + move if side is PositionSide.LONG else ONE - move)

    def candidate(self, side: PositionSide) -> Decimal | None:
        """The stop the trail asks for now (None before activation), before any tick rounding."""
        if self.extreme is None:
            return None
        distance = self.distance_pct / HUNDRED
        return self.extreme * (ONE - distance if side is PositionSide.LONG else ONE + distance)


MAX_DISTANCE_PCT: Final = HUNDRED


def _config_refusal(symbol: str, activation: Decimal, distance: Decimal) -> Refusal | None:
    if activation < ZERO:
        return BelowMinimum(
            symbol=symbol, field="trailing.activation_pct", limit=ZERO, actual=activation
        )
    if distance <= ZERO:
        return InvalidValue(
            symbol=symbol, field="trailing.distance_pct", actual=distance, reason="must be > 0"
        )
    if distance >= MAX_DISTANCE_PCT:
        return AboveMaximum(
            symbol=symbol,
            field="trailing.distance_pct",
            limit=MAX_DISTANCE_PCT,
            actual=distance,
        )
    return None


@attrs.frozen(kw_only=True)
class Trail:
    """The outcome of one trailing step: the stop and trailing state after it."""

    stop: Decimal | None
    trailing: TrailingStop
    activated: bool = False
    """True when this step activated the trail."""
    moved: bool = False
    """True when this step changed the stop."""


def trail_stop(
    side: PositionSide,
    entry_price: Decimal,
    stop: Decimal | None,
    trailing: TrailingStop,
    price: Decimal,
    *,
    tick_size: Decimal | None = None,
) -> Trail:
    """Move the stop for one observed `price`; it never loosens.

    With `tick_size`, the candidate is rounded to the tick toward the market (a long's up, a
    short's down: tighter), but never onto or past the high/low-water mark.

    >>> trail = TrailingStop(activation_pct=0, distance_pct=2)
    >>> step = trail_stop(PositionSide.SHORT, Decimal(100), None, trail, Decimal(90))
    >>> step.stop, step.activated, step.moved
    (Decimal('91.80'), True, True)
    >>> trail_stop(PositionSide.SHORT, Decimal(100), step.stop, step.trailing, Decimal(95)).stop
    Decimal('91.80')
    """
    if price <= ZERO:
        msg = f"price must be > 0 (got {price})"
        raise ValueError(msg)
    long = side is PositionSide.LONG
    extreme = trailing.extreme
    activated = False
    if extreme is None:
        threshold = trailing.activation_price(side, entry_price)
        if (price < threshold) if long else (price > threshold):
            return Trail(stop=stop, trailing=trailing)
        activated = True
        extreme = price
    elif (price <= extreme) if long else (price >= extreme):
        return Trail(stop=stop, trailing=trailing)
    else:
        extreme = price
    state = TrailingStop(
        activation_pct=trailing.activation_pct,
        distance_pct=trailing.distance_pct,
        active=True,
        extreme=extreme,
    )
    candidate = state.candidate(side)
    assert candidate is not None  # noqa: S101 - an active trail always has an extreme
    if tick_size is not None:
        candidate = _round_toward_market(candidate, extreme, tick_size, long=long)
    if stop is None or (candidate > stop if long else candidate < stop):
        return Trail(stop=candidate, trailing=state, activated=activated, moved=True)
    return Trail(stop=stop, trailing=state, activated=activated)


def _round_toward_market(value: Decimal, extreme: Decimal, tick: Decimal, *, long: bool) -> Decimal:
    if tick <= ZERO:
        msg = f"tick_size must be > 0 (got {tick})"
        raise ValueError(msg)
    steps = value / tick
    tight = steps.to_integral_value(ROUND_CEILING if long else ROUND_FLOOR) * tick
    if (tight < extreme) if long else (tight > extreme):
        return tight
    return steps.to_integral_value(ROUND_FLOOR if long else ROUND_CEILING) * tick
