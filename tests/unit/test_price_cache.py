from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.memory.clock import FakeClock
from execution_core.domain.events import PriceStale
from execution_core.domain.numbers import InvalidNumber
from execution_core.service.price_cache import PriceCache

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def cache(max_age: float = 60) -> tuple[PriceCache, FakeClock]:
    clock = FakeClock(T0)
    return PriceCache(clock, max_age_seconds=max_age), clock


def test_a_price_is_stamped_with_the_clocks_time() -> None:
    prices, clock = cache()
    clock.advance(5)
    quote = prices.update("BTC/USDT", "45000")
    assert (quote.price, quote.at, quote.stamp) == (Decimal(45_000), clock.now(), 5.0)
    assert prices.quote("BTC/USDT") == quote


def test_a_price_exactly_at_the_staleness_limit_is_still_fresh() -> None:
    prices, clock = cache()
    prices.update("BTC/USDT", 45_000)
    clock.advance(60)
    assert prices.fresh("BTC/USDT") == Decimal(45_000)
    assert prices.check("BTC/USDT") == Decimal(45_000)


def test_a_price_older_than_the_limit_is_stale_and_has_no_value() -> None:
    prices, clock = cache()
    prices.update("BTC/USDT", 45_000)
    clock.advance(60.5)
    assert prices.fresh("BTC/USDT") is None
    assert prices.check("BTC/USDT") == PriceStale(
        symbol="BTC/USDT", age_seconds=Decimal("60.500"), at=clock.now()
    )


def test_a_missing_price_is_stale_without_an_age() -> None:
    prices, clock = cache()
    assert prices.fresh("XRP/USDT") is None
    assert prices.age("XRP/USDT") is None
    assert prices.check("XRP/USDT") == PriceStale(
        symbol="XRP/USDT", age_seconds=None, at=clock.now()
    )


def test_a_new_price_makes_a_stale_symbol_fresh_again() -> None:
    prices, clock = cache()
    prices.update("BTC/USDT", 45_000)
    clock.advance(120)
    prices.update("BTC/USDT", 45_100)
    assert prices.fresh("BTC/USDT") == Decimal(45_100)
    assert prices.age("BTC/USDT") == 0.0


def test_the_staleness_limit_is_configurable() -> None:
    prices, clock = cache(max_age=5)
    prices.update("BTC/USDT", 45_000)
    clock.advance(6)
    assert prices.fresh("BTC/USDT") is None
    assert prices.max_age_seconds == 5.0


def test_symbols_are_kept_apart() -> None:
    prices, clock = cache()
    prices.update("BTC/USDT", 45_000)
    clock.advance(61)
    prices.update("XRP/USDT", "0.5")
    assert (prices.fresh("BTC/USDT"), prices.fresh("XRP/USDT")) == (None, Decimal("0.5"))
    assert sorted(prices) == ["BTC/USDT", "XRP/USDT"]
    assert len(prices) == 2
    assert "XRP/USDT" in prices


@pytest.mark.parametrize("bad", [0, -1, "nan", "abc"])
def test_a_price_that_is_not_positive_is_a_bug_of_the_feed(bad: int | str) -> None:
    prices, _ = cache()
    with pytest.raises(InvalidNumber):
        prices.update("BTC/USDT", bad)
    assert "BTC/USDT" not in prices


def test_a_staleness_limit_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="max_age_seconds"):
        PriceCache(FakeClock(T0), max_age_seconds=0)
