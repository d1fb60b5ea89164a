from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execution_core.domain.enums import FeeCurrency, LiquidityRole, OrderSide
from execution_core.domain.fees import (
    KRAKEN_LEGACY_SPOT_FEES,
    KRAKEN_SPOT_FEES,
    FeeSchedule,
    base_moved,
)

notionals = st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False)
volumes = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)
roles = st.sampled_from(LiquidityRole)
schedules = st.sampled_from([KRAKEN_SPOT_FEES, KRAKEN_LEGACY_SPOT_FEES])


@given(schedules, notionals, roles, volumes)
def test_a_fee_is_never_negative(
    schedule: FeeSchedule, notional: Decimal, role: LiquidityRole, volume: Decimal
) -> None:
    assert schedule.fee(notional, role, volume) >= 0


@given(schedules, notionals, notionals, roles, volumes)
def test_a_fee_is_monotone_in_the_notional(
    schedule: FeeSchedule, a: Decimal, b: Decimal, role: LiquidityRole, volume: Decimal
) -> None:
    low, high = sorted((a, b))
    assert schedule.fee(low, role, volume) <= schedule.fee(high, role, volume)


@given(schedules, notionals, roles, volumes, volumes)
def test_more_volume_never_costs_more(
    schedule: FeeSchedule, notional: Decimal, role: LiquidityRole, v1: Decimal, v2: Decimal
) -> None:
    low, high = sorted((v1, v2))
    assert schedule.fee(notional, role, high) <= schedule.fee(notional, role, low)


@given(schedules, notionals, volumes)
def test_a_maker_never_pays_more_than_a_taker(
    schedule: FeeSchedule, notional: Decimal, volume: Decimal
) -> None:
    maker = schedule.fee(notional, LiquidityRole.MAKER, volume)
    assert maker <= schedule.fee(notional, LiquidityRole.TAKER, volume)


@given(
    st.decimals(min_value="0.00000001", max_value=1000, places=8),
    st.decimals(min_value="0.01", max_value=10**6, places=2),
    roles,
)
def test_a_base_fee_and_a_quote_fee_are_worth_the_same(
    quantity: Decimal, price: Decimal, role: LiquidityRole
) -> None:
    base = KRAKEN_SPOT_FEES.charge(quantity, price, role, currency=FeeCurrency.BASE)
    quote = KRAKEN_SPOT_FEES.charge(quantity, price, role, currency=FeeCurrency.QUOTE)
    assert base.in_quote(price) == quote.in_quote(price)
    assert base_moved(OrderSide.BUY, quantity, base) <= quantity
    assert base_moved(OrderSide.SELL, quantity, base) >= quantity
