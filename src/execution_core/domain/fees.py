"""Trading fees: maker/taker rates by 30-day volume tier, and what a fee does to a fill.

Rates are fractions (0.0040 is 0.40%). A tier applies from its `volume` (30-day USD volume,
inclusive) up to the next tier's. A fee is `notional x rate`, never rounded here: the exchange
reports the fee it actually charged on each fill, and that reported amount is what positions book.

A fee is charged in quote (Kraken's default on both sides, `fciq`) or in base (`fcib`). A base fee
comes out of the base received on a buy and on top of the base delivered on a sell, so it changes
the base quantity the fill moves; a quote fee changes the quote amount instead.

>>> KRAKEN_LEGACY_SPOT_FEES.fee(10_000, "taker")
Decimal('26.0000')
>>> KRAKEN_SPOT_FEES.rates_for(25_000)
FeeTier(volume=Decimal('10000'), maker=Decimal('0.0020'), taker=Decimal('0.0035'))
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Final

import attrs

from execution_core.domain.enums import FeeCurrency, LiquidityRole, OrderSide
from execution_core.domain.numbers import ZERO, DecimalLike, to_decimal


def _volume(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="volume")


def _maker(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="maker")


def _taker(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="taker")


MAX_FEE_RATE: Final = Decimal("0.1")
"""Rates are fractions below 10%: a larger one is almost surely a percent typed as a fraction."""


def _rate_in_range(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    del instance
    if not ZERO <= value < MAX_FEE_RATE:
        msg = (
            f"FeeTier.{attribute.name} must be a fraction in [0, {MAX_FEE_RATE}) "
            f"(got {value}; 0.40% is 0.0040)"
        )
        raise ValueError(msg)


def _non_negative(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    del instance
    if value < ZERO:
        msg = f"FeeTier.{attribute.name} must be >= 0 (got {value})"
        raise ValueError(msg)


@attrs.frozen
class FeeTier:
    """The maker and taker rates from a 30-day USD `volume` upwards."""

    volume: Decimal = attrs.field(converter=_volume, validator=_non_negative)
    maker: Decimal = attrs.field(converter=_maker, validator=_rate_in_range)
    taker: Decimal = attrs.field(converter=_taker, validator=_rate_in_range)

    def rate(self, role: LiquidityRole | str) -> Decimal:
        """The rate for a fill that added (maker) or took (taker) liquidity."""
        return self.maker if LiquidityRole(role) is LiquidityRole.MAKER else self.taker


def _tiers(value: Iterable[FeeTier]) -> tuple[FeeTier, ...]:
    return tuple(value)


@attrs.frozen
class FeeSchedule:
    """Volume tiers, lowest first; the first starts at volume 0.

    >>> schedule = FeeSchedule.flat(maker="0.0016", taker="0.0026")
    >>> schedule.fee(10_000, LiquidityRole.TAKER)
    Decimal('26.0000')
    >>> schedule.fee(10_000, "maker")
    Decimal('16.0000')
    """

    tiers: tuple[FeeTier, ...] = attrs.field(converter=_tiers)
    _volumes: tuple[Decimal, ...] = attrs.field(init=False, repr=False, eq=False)

    @tiers.validator
    def _check_tiers(
        self, attribute: attrs.Attribute[tuple[FeeTier, ...]], tiers: tuple[FeeTier, ...]
    ) -> None:
        del attribute
        if not tiers:
            raise ValueError("FeeSchedule.tiers must not be empty")
        if tiers[0].volume != ZERO:
            msg = f"FeeSchedule.tiers must start at volume 0 (got {tiers[0].volume})"
            raise ValueError(msg)
        for lower, upper in itertools.pairwise(tiers):
            if upper.volume <= lower.volume:
                msg = (
                    "FeeSchedule.tiers must have strictly increasing volumes "
                    f"(got {lower.volume} then {upper.volume})"
                )
                raise ValueError(msg)

    @_volumes.default
    def _volumes_default(self) -> tuple[Decimal, ...]:
        return tuple(tier.volume for tier in self.tiers)

    @classmethod
    def flat(cls, *, maker: DecimalLike, taker: DecimalLike) -> FeeSchedule:
        """One tier for every volume (an instrument's rates, or a test's)."""
        return cls((FeeTier(ZERO, maker, taker),))

    def rates_for(self, volume_30d: DecimalLike = ZERO) -> FeeTier:
        """The tier that applies at a 30-day USD volume (a tier's lower bound is inclusive)."""
        volume = to_decimal(volume_30d, field="volume_30d")
        if volume < ZERO:
            msg = f"volume_30d must be >= 0 (got {volume})"
            raise ValueError(msg)
        return self.tiers[bisect.bisect_right(self._volumes, volume) - 1]

    def rate(self, role: LiquidityRole | str, volume_30d: DecimalLike = ZERO) -> Decimal:
        """The fee rate (a fraction) for `role` at a 30-day volume."""
        return self.rates_for(volume_30d).rate(role)

    def fee(
        self,
        notional: DecimalLike,
        role: LiquidityRole | str,
        volume_30d: DecimalLike = ZERO,
    ) -> Decimal:
        """The fee in quote on `notional` (quantity x price, in quote): `notional x rate`.

        >>> KRAKEN_SPOT_FEES.fee("4500", "taker")
        Decimal('18.0000')
        >>> KRAKEN_SPOT_FEES.fee("4500", "taker", volume_30d=60_000)
        Decimal('10.8000')
        """
        amount = to_decimal(notional, field="notional")
        if amount < ZERO:
            msg = f"notional must be >= 0 (got {amount})"
            raise ValueError(msg)
        return amount * self.rate(role, volume_30d)

    def charge(
        self,
        quantity: DecimalLike,
        price: DecimalLike,
        role: LiquidityRole | str,
        *,
        currency: FeeCurrency | str = FeeCurrency.QUOTE,
        volume_30d: DecimalLike = ZERO,
    ) -> FeeCharge:
        """The fee on a fill of `quantity` at `price`, charged in quote or in base.

        A base fee is `quantity x rate` in base; its quote value is that times the price.

        >>> KRAKEN_SPOT_FEES.charge("0.1", 45_000, "taker", currency="base")
        FeeCharge(amount=Decimal('0.00040'), currency=<FeeCurrency.BASE: 'base'>)
        """
        qty = to_decimal(quantity, field="quantity")
        px = to_decimal(price, field="price")
        if qty < ZERO or px <= ZERO:
            msg = f"quantity must be >= 0 and price > 0 (got {qty} at {px})"
            raise ValueError(msg)
        rate = self.rate(role, volume_30d)
        if FeeCurrency(currency) is FeeCurrency.BASE:
            return FeeCharge(qty * rate, FeeCurrency.BASE)
        return FeeCharge(qty * px * rate, FeeCurrency.QUOTE)


@attrs.frozen
class FeeCharge:
    """A fee amount and the currency it was charged in."""

    amount: Decimal
    currency: FeeCurrency = FeeCurrency.QUOTE

    def in_quote(self, price: Decimal) -> Decimal:
        """The fee valued in quote (a base fee at the fill price)."""
        return self.amount if self.currency is FeeCurrency.QUOTE else self.amount * price


def base_moved(side: OrderSide | str, quantity: DecimalLike, fee: FeeCharge) -> Decimal:
    """The base quantity a fill actually moves: received on a buy, delivered on a sell.

    A base fee reduces what a buy receives and adds to what a sell delivers; a quote fee does not
    touch the base.

    >>> base_moved("buy", "0.1", FeeCharge(Decimal("0.0004"), FeeCurrency.BASE))
    Decimal('0.0996')
    >>> base_moved("sell", "0.1", FeeCharge(Decimal("0.0004"), FeeCurrency.BASE))
    Decimal('0.1004')
    >>> base_moved("buy", "0.1", FeeCharge(Decimal("18"), FeeCurrency.QUOTE))
    Decimal('0.1')
    """
    qty = to_decimal(quantity, field="quantity")
    base_fee = fee.amount if fee.currency is FeeCurrency.BASE else ZERO
    return qty - base_fee if OrderSide(side) is OrderSide.BUY else qty + base_fee


def quote_moved(
    side: OrderSide | str, quantity: DecimalLike, price: DecimalLike, fee: FeeCharge
) -> Decimal:
    """The quote amount a fill actually moves: paid on a buy, received on a sell.

    >>> quote_moved("buy", "0.1", 45_000, FeeCharge(Decimal("18"), FeeCurrency.QUOTE))
    Decimal('4518.0')
    >>> quote_moved("sell", "0.1", 45_000, FeeCharge(Decimal("18"), FeeCurrency.QUOTE))
    Decimal('4482.0')
    """
    notional = to_decimal(quantity, field="quantity") * to_decimal(price, field="price")
    quote_fee = fee.amount if fee.currency is FeeCurrency.QUOTE else ZERO
    return notional + quote_fee if OrderSide(side) is OrderSide.BUY else notional - quote_fee


def _schedule(*rows: tuple[int, str, str]) -> FeeSchedule:
    return FeeSchedule(tuple(FeeTier(volume, maker, taker) for volume, maker, taker in rows))


KRAKEN_SPOT_FEES: Final = _schedule(
    (0, "0.0025", "0.0040"),
    (10_000, "0.0020", "0.0035"),
    (50_000, "0.0014", "0.0024"),
    (100_000, "0.0012", "0.0022"),
    (250_000, "0.0010", "0.0020"),
    (500_000, "0.0008", "0.0018"),
    (1_000_000, "0.0006", "0.0016"),
    (2_500_000, "0.0004", "0.0014"),
    (5_000_000, "0.0002", "0.0012"),
    (10_000_000, "0.0000", "0.0010"),
)
"""Kraken Pro spot, the current schedule (kraken-api.md §11, AssetPairs ~2025-11).

Live rates come from AssetPairs `fees`/`fees_maker` and the account tier from TradeVolume;
this is the default until the adapter has read them.
"""

KRAKEN_LEGACY_SPOT_FEES: Final = _schedule(
    (0, "0.0016", "0.0026"),
    (50_000, "0.0014", "0.0024"),
    (100_000, "0.0012", "0.0022"),
    (250_000, "0.0010", "0.0020"),
    (500_000, "0.0008", "0.0018"),
    (1_000_000, "0.0006", "0.0016"),
    (2_500_000, "0.0004", "0.0014"),
    (5_000_000, "0.0002", "0.0012"),
    (10_000_000, "0.0000", "0.0010"),
)
"""Kraken's older schedule (0.16% / 0.26% entry tier), the one the review's configuration used."""

DEFAULT_EXIT_FEE_RATE: Final = KRAKEN_SPOT_FEES.tiers[0].taker
"""The rate a position's estimated exit fee uses unless configured: the entry-tier taker rate."""
