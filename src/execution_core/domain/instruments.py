"""Instruments: what the exchange allows for one pair (minimums, tick, lot, fees, leverage).

The built-in defaults come from the review's configuration (BTC/USDT min 0.0001 BTC, XRP/USDT and
XRP/BTC min 10 XRP) and Kraken's AssetPairs (kraken-api.md §6). The Kraken adapter replaces them
with live AssetPairs data at start. Fee rates are fractions (0.0025), not percent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType

import attrs
from returns.result import Failure, Result, Success

from execution_core.domain.enums import SymbolStatus
from execution_core.domain.numbers import ONE, ZERO
from execution_core.domain.refusals import UnknownSymbol


def _positive(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    del instance
    if value <= ZERO:
        msg = f"Instrument.{attribute.name} must be > 0 (got {value})"
        raise ValueError(msg)


def _non_negative(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    del instance
    if value < ZERO:
        msg = f"Instrument.{attribute.name} must be >= 0 (got {value})"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class Instrument:
    """One tradable pair and the exchange's rules for it."""

    symbol: str
    exchange_symbol: str
    base: str
    quote: str
    min_size: Decimal = attrs.field(validator=_positive)
    min_cost: Decimal = attrs.field(validator=_non_negative)
    tick_size: Decimal = attrs.field(validator=_positive)
    lot_size: Decimal = attrs.field(validator=_positive)
    maker_fee: Decimal = attrs.field(validator=_non_negative)
    taker_fee: Decimal = attrs.field(validator=_non_negative)
    max_leverage: Decimal = attrs.field(default=Decimal(5), validator=_positive)
    status: SymbolStatus = SymbolStatus.ONLINE

    @max_leverage.validator
    def _at_least_one(self, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
        if value < ONE:
            msg = f"Instrument.{attribute.name} must be >= 1 (got {value})"
            raise ValueError(msg)

    @property
    def price_decimals(self) -> int:
        """Decimals of a price on this pair (Kraken `pair_decimals`), from the tick size."""
        return _decimals(self.tick_size)

    @property
    def size_decimals(self) -> int:
        """Decimals of a volume on this pair (Kraken `lot_decimals`), from the lot step."""
        return _decimals(self.lot_size)


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # noqa: S101 - a finite Decimal has an int exponent
    return max(0, -exponent)


# Kraken's current entry fee tier (kraken-api.md §11): 0.25% maker, 0.40% taker.
_ENTRY_MAKER = Decimal("0.0025")
_ENTRY_TAKER = Decimal("0.0040")

BTC_USDT = Instrument(
    symbol="BTC/USDT",
    exchange_symbol="XBTUSDT",
    base="BTC",
    quote="USDT",
    min_size=Decimal("0.0001"),
    min_cost=Decimal("0.5"),
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.00000001"),
    maker_fee=_ENTRY_MAKER,
    taker_fee=_ENTRY_TAKER,
)
XRP_USDT = Instrument(
    symbol="XRP/USDT",
    exchange_symbol="XRPUSDT",
    base="XRP",
    quote="USDT",
    min_size=Decimal(10),
    min_cost=Decimal("0.5"),
    tick_size=Decimal("0.00001"),
    lot_size=Decimal("0.00000001"),
    maker_fee=_ENTRY_MAKER,
    taker_fee=_ENTRY_TAKER,
)
# XRP/BTC's costmin and tick are UNCERTAIN in kraken-api.md §6: 8 price decimals (tick 1e-8) as in
# the captures we have, and a cost minimum of 0.00002 BTC (the usual XBT-quoted costmin). The
# Kraken adapter overwrites both from AssetPairs.
XRP_BTC = Instrument(
    symbol="XRP/BTC",
    exchange_symbol="XXRPXXBT",
    base="XRP",
    quote="BTC",
    min_size=Decimal(10),
    min_cost=Decimal("0.00002"),
    tick_size=Decimal("0.00000001"),
    lot_size=Decimal("0.00000001"),
    maker_fee=_ENTRY_MAKER,
    taker_fee=_ENTRY_TAKER,
)


def _frozen_mapping(items: Mapping[str, Instrument]) -> Mapping[str, Instrument]:
    return MappingProxyType(dict(items))


@attrs.frozen
class Instruments:
    """An immutable lookup of instruments by symbol; an unknown symbol is a typed refusal."""

    by_symbol: Mapping[str, Instrument] = attrs.field(converter=_frozen_mapping)

    @classmethod
    def of(cls, instruments: Iterable[Instrument]) -> Instruments:
        """Index `instruments` by their symbol."""
        index: dict[str, Instrument] = {i.symbol: i for i in instruments}
        return cls(index)

    def get(self, symbol: str) -> Result[Instrument, UnknownSymbol]:
        """The instrument for `symbol`, or `UnknownSymbol` naming the known ones."""
        instrument = self.by_symbol.get(symbol)
        if instrument is None:
            return Failure(UnknownSymbol(symbol=symbol, known=tuple(sorted(self.by_symbol))))
        return Success(instrument)

    def replace(self, instrument: Instrument) -> Instruments:
        """A copy with `instrument` added or replaced (live exchange data over defaults)."""
        index = dict(self.by_symbol)
        index[instrument.symbol] = instrument
        return Instruments(index)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.by_symbol

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.by_symbol.values())

    def __len__(self) -> int:
        return len(self.by_symbol)


def default_instruments() -> Instruments:
    """BTC/USDT, XRP/USDT and XRP/BTC with the review's minimums and Kraken's tick, lot and cost.

    >>> default_instruments().get("BTC/USDT").unwrap().min_size
    Decimal('0.0001')
    >>> default_instruments().get("DOGE/USDT").failure().message
    'DOGE/USDT: unknown symbol (known: BTC/USDT, XRP/BTC, XRP/USDT)'
    """
    return Instruments.of((BTC_USDT, XRP_USDT, XRP_BTC))
