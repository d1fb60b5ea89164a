"""Last prices with the Clock's timestamps and a staleness limit (review DESIGN-4).

Rule: a price may value a position (a snapshot, a P&L figure, a trigger decision) only while it
is fresh, that is at most `max_age_seconds` old (`config.positions.price_staleness_seconds`,
60 s by default; exactly at the limit is still fresh). A stale or missing price is never replaced
by a fallback (the reviewed code fell back to the entry price and showed 0% P&L): the caller gets
`None`, or from `check` a `PriceStale` event to record.

Age is measured on the Clock's monotonic time, so a wall-clock step cannot make an old price look
fresh; the wall time (`Clock.now`) is kept for the records.

>>> from adapters.memory.clock import FakeClock
>>> clock = FakeClock()
>>> cache = PriceCache(clock, max_age_seconds=60)
>>> _ = cache.update("BTC/USDT", "45000")
>>> clock.advance(60)
>>> cache.fresh("BTC/USDT")
Decimal('45000')
>>> clock.advance(1)
>>> cache.fresh("BTC/USDT") is None
True
>>> cache.check("BTC/USDT").age_seconds
Decimal('61.000')
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from execution_core.domain.events import PriceStale
from execution_core.domain.numbers import ZERO, DecimalLike, InvalidNumber, to_decimal
from execution_core.ports import Clock

DEFAULT_MAX_AGE_SECONDS: Final = 60.0
_MILLISECOND: Final = Decimal("0.001")


@attrs.frozen(kw_only=True)
class Quote:
    """One symbol's last price, when it arrived (wall time) and its monotonic stamp."""

    symbol: str
    price: Decimal
    at: datetime
    stamp: float
    """`Clock.monotonic()` when the price arrived: the age is measured from here."""


class PriceCache:
    """The last price of each symbol, stamped by the Clock when it arrives.

    Mutable and owned by one `PositionTracker`; it is changed only from synchronous code.
    """

    __slots__ = ("_clock", "_max_age", "_quotes")

    def __init__(self, clock: Clock, *, max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> None:
        if not max_age_seconds > 0:
            msg = f"max_age_seconds must be > 0 (got {max_age_seconds})"
            raise ValueError(msg)
        self._clock = clock
        self._max_age = float(max_age_seconds)
        self._quotes: dict[str, Quote] = {}

    @property
    def max_age_seconds(self) -> float:
        """The staleness limit: a price older than this is stale."""
        return self._max_age

    def update(self, symbol: str, price: DecimalLike) -> Quote:
        """Record `price` for `symbol` as of now; a price <= 0 (or not a number) is a bug.

        A feed that can deliver a bad price must filter it before it reaches the book.
        """
        value = to_decimal(price, field="price")
        if value <= ZERO:
            raise InvalidNumber("price", price, "must be > 0")
        clock = self._clock
        quote = Quote(symbol=symbol, price=value, at=clock.now(), stamp=clock.monotonic())
        self._quotes[symbol] = quote
        return quote

    def quote(self, symbol: str) -> Quote | None:
        """The last quote of `symbol`, fresh or not (None if none ever arrived)."""
        return self._quotes.get(symbol)

    def age(self, symbol: str) -> float | None:
        """Seconds since the last price of `symbol` arrived, or None if none did."""
        quote = self._quotes.get(symbol)
        if quote is None:
            return None
        return self._clock.monotonic() - quote.stamp

    def fresh(self, symbol: str) -> Decimal | None:
        """The price of `symbol` if it is fresh, else None."""
        quote = self._quotes.get(symbol)
        if quote is None or self._clock.monotonic() - quote.stamp > self._max_age:
            return None
        return quote.price

    def check(self, symbol: str) -> Decimal | PriceStale:
        """The fresh price of `symbol`, or the `PriceStale` event saying why there is none.

        The event's `age_seconds` is the age in seconds (to the millisecond), None when no price
        ever arrived; its `at` is the Clock's now.
        """
        quote = self._quotes.get(symbol)
        clock = self._clock
        if quote is None:
            return PriceStale(symbol=symbol, age_seconds=None, at=clock.now())
        age = clock.monotonic() - quote.stamp
        if age > self._max_age:
            return PriceStale(
                symbol=symbol,
                age_seconds=Decimal(age).quantize(_MILLISECOND),
                at=clock.now(),
            )
        return quote.price

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._quotes

    def __iter__(self) -> Iterator[str]:
        return iter(self._quotes)

    def __len__(self) -> int:
        return len(self._quotes)
