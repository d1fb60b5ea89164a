from __future__ import annotations

from decimal import Decimal

import pytest

from execution_core.domain.enums import FeeCurrency, LiquidityRole, OrderSide
from execution_core.domain.fees import (
    DEFAULT_EXIT_FEE_RATE,
    KRAKEN_LEGACY_SPOT_FEES,
    KRAKEN_SPOT_FEES,
    FeeCharge,
    FeeSchedule,
    FeeTier,
    base_moved,
    quote_moved,
)


def test_the_reviews_exit_fee_is_26_on_10000_at_the_026_percent_taker_rate() -> None:
    assert KRAKEN_LEGACY_SPOT_FEES.fee(10_000, LiquidityRole.TAKER) == Decimal(26)


def test_the_current_kraken_entry_tier_is_025_maker_and_040_taker() -> None:
    tier = KRAKEN_SPOT_FEES.rates_for(0)
    assert (tier.maker, tier.taker) == (Decimal("0.0025"), Decimal("0.0040"))


def test_the_default_exit_fee_rate_is_the_entry_tier_taker_rate() -> None:
    assert Decimal("0.0040") == DEFAULT_EXIT_FEE_RATE


@pytest.mark.parametrize(
    ("volume", "maker", "taker"),
    [
        (0, "0.0025", "0.0040"),
        ("9999.99", "0.0025", "0.0040"),
        (10_000, "0.0020", "0.0035"),
        (50_000, "0.0014", "0.0024"),
        (100_000, "0.0012", "0.0022"),
        (9_999_999, "0.0002", "0.0012"),
        (10_000_000, "0.0000", "0.0010"),
        (10**12, "0.0000", "0.0010"),
    ],
)
def test_a_tier_applies_from_its_volume_inclusive(
    volume: int | str, maker: str, taker: str
) -> None:
    tier = KRAKEN_SPOT_FEES.rates_for(volume)
    assert (tier.maker, tier.taker) == (Decimal(maker), Decimal(taker))


def test_a_higher_volume_lowers_the_fee() -> None:
    assert KRAKEN_SPOT_FEES.fee(10_000, "taker", volume_30d=0) == Decimal(40)
    assert KRAKEN_SPOT_FEES.fee(10_000, "taker", volume_30d=250_000) == Decimal(20)


def test_a_maker_fill_pays_the_maker_rate() -> None:
    assert KRAKEN_SPOT_FEES.fee(10_000, "maker") == Decimal(25)
    assert KRAKEN_SPOT_FEES.rate(LiquidityRole.MAKER) == Decimal("0.0025")


def test_the_fee_on_a_zero_notional_is_zero() -> None:
    assert KRAKEN_SPOT_FEES.fee(0, "taker") == Decimal(0)


def test_a_negative_notional_is_a_bug() -> None:
    with pytest.raises(ValueError, match="notional must be >= 0"):
        KRAKEN_SPOT_FEES.fee(-1, "taker")


def test_a_negative_volume_is_a_bug() -> None:
    with pytest.raises(ValueError, match="volume_30d must be >= 0"):
        KRAKEN_SPOT_FEES.rates_for(-1)


def test_floats_enter_through_their_decimal_spelling() -> None:
    assert KRAKEN_SPOT_FEES.fee(0.1, "taker") == Decimal("0.00040")


def test_a_schedule_must_start_at_volume_zero() -> None:
    with pytest.raises(ValueError, match="start at volume 0"):
        FeeSchedule((FeeTier(1, "0.001", "0.002"),))


def test_a_schedule_needs_strictly_increasing_volumes() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        FeeSchedule((FeeTier(0, "0.001", "0.002"), FeeTier(0, "0.001", "0.002")))


def test_a_schedule_needs_a_tier() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        FeeSchedule(())


def test_a_rate_is_a_fraction_not_a_percent() -> None:
    with pytest.raises(ValueError, match=r"FeeTier.taker must be a fraction in \[0, 0.1\)"):
        FeeTier(0, "0.0025", "0.4")


def test_a_quote_fee_is_notional_times_rate_in_quote() -> None:
    charge = KRAKEN_SPOT_FEES.charge("0.1", 45_000, "taker")
    assert charge == FeeCharge(Decimal(18), FeeCurrency.QUOTE)
    assert charge.in_quote(Decimal(45_000)) == Decimal(18)


def test_a_base_fee_is_quantity_times_rate_in_base_and_worth_the_same_in_quote() -> None:
    charge = KRAKEN_SPOT_FEES.charge("0.1", 45_000, "taker", currency=FeeCurrency.BASE)
    assert charge == FeeCharge(Decimal("0.0004"), FeeCurrency.BASE)
    assert charge.in_quote(Decimal(45_000)) == Decimal(18)


def test_a_base_fee_reduces_the_base_a_buy_receives() -> None:
    fee = FeeCharge(Decimal("0.0004"), FeeCurrency.BASE)
    assert base_moved(OrderSide.BUY, Decimal("0.1"), fee) == Decimal("0.0996")


def test_a_base_fee_adds_to_the_base_a_sell_delivers() -> None:
    fee = FeeCharge(Decimal("0.0004"), FeeCurrency.BASE)
    assert base_moved(OrderSide.SELL, Decimal("0.1"), fee) == Decimal("0.1004")


def test_a_quote_fee_leaves_the_base_alone_and_moves_the_quote() -> None:
    fee = FeeCharge(Decimal(18), FeeCurrency.QUOTE)
    assert base_moved("buy", "0.1", fee) == Decimal("0.1")
    assert quote_moved("buy", "0.1", 45_000, fee) == Decimal(4518)
    assert quote_moved("sell", "0.1", 45_000, fee) == Decimal(4482)


def test_a_base_fee_leaves_the_quote_alone() -> None:
    fee = FeeCharge(Decimal("0.0004"), FeeCurrency.BASE)
    assert quote_moved("buy", "0.1", 45_000, fee) == Decimal(4500)
