from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from returns.result import Failure, Success

from execution_core.config import ExecutionConfig
from execution_core.domain.enums import (
    FeeCurrency,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from execution_core.domain.instruments import BTC_USDT, XRP_BTC, XRP_USDT
from execution_core.domain.numbers import InvalidNumber
from execution_core.domain.orders import Order, planned_order
from execution_core.domain.proposals import (
    TradeProposal,
    client_order_id_for,
    plan_order,
    proposal_key,
)
from execution_core.domain.refusals import (
    AboveMaximum,
    BelowMinimum,
    BelowMinimumCost,
    BelowMinimumSize,
    InvalidValue,
    MissingPrice,
    Refusal,
    SymbolMismatch,
    WrongSideOfPrice,
)

CONFIG = ExecutionConfig()
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def planned(result: object) -> Order:
    assert isinstance(result, Success), result
    order = result.unwrap()
    assert isinstance(order, Order)
    return order


def refused(result: object) -> Refusal:
    assert isinstance(result, Failure), result
    refusal: Refusal = result.failure()
    return refusal


# --------------------------------------------------------------------------- minimums, CRITICAL-1
def test_an_order_of_0_00005_btc_is_refused_naming_the_minimum_0_0001() -> None:
    proposal = TradeProposal("BTC/USDT", "buy", "2.25", entry_price=45000)
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG))
    assert isinstance(refusal, BelowMinimumSize)
    assert (refusal.symbol, refusal.field) == ("BTC/USDT", "size")
    assert (refusal.limit, refusal.actual) == (Decimal("0.0001"), Decimal("0.00005"))
    assert refusal.message == "BTC/USDT: size 0.00005 is below the minimum 0.0001"


def test_an_order_of_5_xrp_is_refused_naming_the_minimum_10() -> None:
    proposal = TradeProposal("XRP/USDT", "sell", "2.5", entry_price="0.5")
    refusal = refused(plan_order(proposal, XRP_USDT, CONFIG))
    assert isinstance(refusal, BelowMinimumSize)
    assert (refusal.limit, refusal.actual) == (Decimal(10), Decimal(5))
    assert refusal.message == "XRP/USDT: size 5 is below the minimum 10"


def test_an_order_of_exactly_the_minimum_size_is_planned() -> None:
    order = planned(
        plan_order(TradeProposal("XRP/USDT", "buy", 5, entry_price="0.5"), XRP_USDT, CONFIG)
    )
    assert order.size == Decimal(10)


def test_the_minimum_is_checked_after_rounding_down_to_the_lot() -> None:
    # 4.4999999 USDT / 0.45 = 9.99999977... -> 9.99999977 XRP after the lot: below 10.
    proposal = TradeProposal("XRP/USDT", "buy", "4.4999999", entry_price="0.45")
    refusal = refused(plan_order(proposal, XRP_USDT, CONFIG))
    assert isinstance(refusal, BelowMinimumSize)
    assert refusal.actual == Decimal("9.99999977")


def test_an_order_below_the_minimum_cost_is_refused_naming_it() -> None:
    instrument = attrs.evolve(BTC_USDT, min_cost=Decimal(10))
    proposal = TradeProposal("BTC/USDT", "buy", 9, entry_price=45000)
    refusal = refused(plan_order(proposal, instrument, CONFIG))
    assert isinstance(refusal, BelowMinimumCost)
    assert (refusal.limit, refusal.actual, refusal.field) == (Decimal(10), Decimal(9), "cost")


def test_a_configured_minimum_size_is_enforced_over_a_smaller_exchange_minimum() -> None:
    live = attrs.evolve(BTC_USDT, min_size=Decimal("0.00005"))
    proposal = TradeProposal("BTC/USDT", "buy", "2.25", entry_price=45000)
    refusal = refused(plan_order(proposal, live, CONFIG))
    assert isinstance(refusal, BelowMinimumSize)
    assert refusal.limit == Decimal("0.0001")


# --------------------------------------------------------------------------- sizing, SAFETY-2
def test_a_limit_order_is_sized_at_its_entry_price_and_rounded_down_to_the_lot() -> None:
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 100, entry_price=45000), BTC_USDT, CONFIG)
    )
    assert order.order_type is OrderType.LIMIT
    assert order.price == Decimal(45000)
    assert order.size == Decimal("0.00222222")  # 100 / 45000 = 0.0022222...
    assert order.price is not None
    assert order.size * order.price <= Decimal(100)


def test_sizing_never_rounds_the_quotient_up_onto_the_next_lot() -> None:
    # 449.999...9 (33 digits) / 45000 is 0.00999...978; Decimal's default 28-digit half-even
    # division would make it 0.01 exactly, buying 450 USDT for a 449.99... proposal.
    size_usd = Decimal("449.99999999999999999999999999999")
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", size_usd, entry_price=45000), BTC_USDT, CONFIG)
    )
    assert order.size == Decimal("0.00999999")
    assert order.price is not None
    assert order.size * order.price <= size_usd


def test_a_buy_limit_is_rounded_down_to_the_tick_and_sized_at_that_price() -> None:
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 450, entry_price="45000.07"), BTC_USDT, CONFIG)
    )
    assert order.price == Decimal("45000.0")
    assert order.size == Decimal("0.01")


def test_a_sell_limit_is_rounded_up_to_the_tick() -> None:
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "sell", 450, entry_price="44999.91"), BTC_USDT, CONFIG)
    )
    assert order.price == Decimal("45000.0")
    assert order.side is OrderSide.SELL


def test_a_market_proposal_without_any_price_is_refused_not_sized_from_its_usd_amount() -> None:
    refusal = refused(plan_order(TradeProposal("BTC/USDT", "buy", 100), BTC_USDT, CONFIG))
    assert isinstance(refusal, MissingPrice)
    assert (refusal.symbol, refusal.field) == ("BTC/USDT", "reference_price")


def test_a_market_order_is_sized_at_the_reference_price() -> None:
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 450), BTC_USDT, CONFIG, reference_price=45000)
    )
    assert order.size == Decimal("0.01")


@pytest.mark.parametrize("size_usd", [0, -100])
def test_a_size_that_is_not_positive_is_refused(size_usd: int) -> None:
    refusal = refused(
        plan_order(TradeProposal("BTC/USDT", "buy", size_usd, entry_price=45000), BTC_USDT, CONFIG)
    )
    assert isinstance(refusal, InvalidValue)
    assert (refusal.field, refusal.actual, refusal.limit) == (
        "size_usd",
        Decimal(size_usd),
        Decimal(0),
    )


# ---------------------------------------------------------------- market orders, CRITICAL-3
def test_a_protected_market_buy_at_45000_is_capped_at_45225_and_sent_ioc() -> None:
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 450), BTC_USDT, CONFIG, reference_price=45000)
    )
    assert order.order_type is OrderType.MARKET
    assert order.time_in_force is TimeInForce.IOC
    assert order.price == Decimal("45225.0")
    assert str(order.price) == "45225.0"
    assert order.reference_price == Decimal(45000)
    assert order.is_protected_market


def test_a_protected_market_sell_at_45000_is_floored_at_44775() -> None:
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "sell", 450), BTC_USDT, CONFIG, reference_price=45000)
    )
    assert order.price == Decimal("44775.0")
    assert order.time_in_force is TimeInForce.IOC


def test_the_slippage_cap_follows_the_configured_percentage() -> None:
    config = ExecutionConfig.from_mapping({"orders": {"market_order_slippage_pct": 1}})
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 450), BTC_USDT, config, reference_price=45000)
    )
    assert order.price == Decimal("45450.0")


def test_a_reference_price_that_is_not_positive_is_refused() -> None:
    refusal = refused(
        plan_order(TradeProposal("BTC/USDT", "buy", 450), BTC_USDT, CONFIG, reference_price=0)
    )
    assert isinstance(refusal, InvalidValue)
    assert refusal.field == "reference_price"


@pytest.mark.parametrize("broken", [float("nan"), "inf", "n/a"])
def test_a_broken_reference_price_is_refused_not_raised(broken: float | str) -> None:
    refusal = refused(
        plan_order(TradeProposal("BTC/USDT", "buy", 450), BTC_USDT, CONFIG, reference_price=broken)
    )
    assert isinstance(refusal, InvalidValue)
    assert (refusal.field, refusal.actual) == ("reference_price", str(broken))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_in_force": "GTC"}, "time_in_force"),
        ({"post_only": True}, "post_only"),
        ({"expires_at": NOW + timedelta(hours=1)}, "expires_at"),
    ],
)
def test_a_market_order_refuses_resting_options(changes: dict[str, Any], field: str) -> None:
    proposal = attrs.evolve(TradeProposal("BTC/USDT", "buy", 450), **changes)
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG, reference_price=45000))
    assert isinstance(refusal, InvalidValue)
    assert refusal.field == field


# --------------------------------------------------------------------------- prices and leverage
@pytest.mark.parametrize("entry", [0, "-1"])
def test_an_entry_price_that_is_not_positive_is_refused(entry: int | str) -> None:
    refusal = refused(
        plan_order(TradeProposal("BTC/USDT", "buy", 450, entry_price=entry), BTC_USDT, CONFIG)
    )
    assert isinstance(refusal, InvalidValue)
    assert (refusal.symbol, refusal.field, refusal.actual) == (
        "BTC/USDT",
        "entry_price",
        Decimal(entry),
    )
    assert refusal.message == f"BTC/USDT: entry_price must be greater than 0 (got {entry})"


def test_an_entry_price_that_rounds_to_zero_on_the_tick_is_refused() -> None:
    refusal = refused(
        plan_order(TradeProposal("BTC/USDT", "buy", 450, entry_price="0.05"), BTC_USDT, CONFIG)
    )
    assert isinstance(refusal, InvalidValue)
    assert (refusal.field, refusal.actual) == ("price", Decimal(0))


def test_leverage_6_is_refused_naming_the_maximum_5() -> None:
    refusal = refused(
        plan_order(
            TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, leverage=6), BTC_USDT, CONFIG
        )
    )
    assert isinstance(refusal, AboveMaximum)
    assert (refusal.field, refusal.limit, refusal.actual) == ("leverage", Decimal(5), Decimal(6))
    assert refusal.message == "BTC/USDT: leverage 6 is above the maximum 5"


def test_leverage_5_is_allowed() -> None:
    order = planned(
        plan_order(
            TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, leverage=5), BTC_USDT, CONFIG
        )
    )
    assert order.leverage == Decimal(5)


def test_leverage_below_1_is_refused() -> None:
    refusal = refused(
        plan_order(
            TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, leverage="0.5"),
            BTC_USDT,
            CONFIG,
        )
    )
    assert isinstance(refusal, BelowMinimum)
    assert (refusal.field, refusal.limit, refusal.actual) == (
        "leverage",
        Decimal(1),
        Decimal("0.5"),
    )


def test_leverage_is_capped_by_the_instrument_when_it_allows_less_than_the_config() -> None:
    instrument = attrs.evolve(BTC_USDT, max_leverage=Decimal(3))
    refusal = refused(
        plan_order(
            TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, leverage=4), instrument, CONFIG
        )
    )
    assert isinstance(refusal, AboveMaximum)
    assert refusal.limit == Decimal(3)


# ------------------------------------------------------------------- stop-loss and take-profit
def test_a_long_stop_above_the_entry_is_refused() -> None:
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, stop_loss=45500)
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG))
    assert isinstance(refusal, WrongSideOfPrice)
    assert (refusal.field, refusal.limit, refusal.actual) == (
        "stop_loss",
        Decimal(45000),
        Decimal(45500),
    )
    assert refusal.message == "BTC/USDT: stop_loss 45500.0 must be below the entry price 45000.0"


def test_a_long_take_profit_below_the_entry_is_refused() -> None:
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, take_profit=44000)
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG))
    assert isinstance(refusal, WrongSideOfPrice)
    assert (refusal.field, refusal.relation) == ("take_profit", "above")


def test_a_short_stop_below_the_entry_and_a_short_take_profit_above_it_are_refused() -> None:
    stop = TradeProposal("BTC/USDT", "sell", 450, entry_price=45000, stop_loss=44000)
    target = TradeProposal("BTC/USDT", "sell", 450, entry_price=45000, take_profit=46000)
    stop_refusal = refused(plan_order(stop, BTC_USDT, CONFIG))
    target_refusal = refused(plan_order(target, BTC_USDT, CONFIG))
    assert isinstance(stop_refusal, WrongSideOfPrice)
    assert isinstance(target_refusal, WrongSideOfPrice)
    assert (stop_refusal.field, stop_refusal.relation) == ("stop_loss", "above")
    assert (target_refusal.field, target_refusal.relation) == ("take_profit", "below")


def test_protection_on_the_right_side_is_planned_for_long_and_short() -> None:
    long = TradeProposal(
        "BTC/USDT", "buy", 450, entry_price=45000, stop_loss=44500, take_profit=46000
    )
    short = TradeProposal(
        "BTC/USDT", "sell", 450, entry_price=45000, stop_loss=45500, take_profit=44000
    )
    assert planned(plan_order(long, BTC_USDT, CONFIG)).size == Decimal("0.01")
    assert planned(plan_order(short, BTC_USDT, CONFIG)).size == Decimal("0.01")


def test_the_planned_order_carries_its_stop_and_target_rounded_as_they_will_be_sent() -> None:
    # A long's stop rounds up (tighter) and its target down; a short's mirrored (tick 0.1).
    long = TradeProposal(
        "BTC/USDT", "buy", 450, entry_price=45000, stop_loss="44499.97", take_profit="46000.09"
    )
    short = TradeProposal(
        "BTC/USDT", "sell", 450, entry_price=45000, stop_loss="45500.03", take_profit="43999.91"
    )
    long_order = planned(plan_order(long, BTC_USDT, CONFIG))
    short_order = planned(plan_order(short, BTC_USDT, CONFIG))
    assert (long_order.stop_loss, long_order.take_profit) == (
        Decimal("44500.0"),
        Decimal("46000.0"),
    )
    assert (short_order.stop_loss, short_order.take_profit) == (
        Decimal("45500.0"),
        Decimal("44000.0"),
    )
    unprotected = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 450, entry_price=45000), BTC_USDT, CONFIG)
    )
    assert (unprotected.stop_loss, unprotected.take_profit) == (None, None)


def test_a_stop_equal_to_the_entry_is_refused() -> None:
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, stop_loss=45000)
    assert isinstance(refused(plan_order(proposal, BTC_USDT, CONFIG)), WrongSideOfPrice)


def test_a_stop_that_rounds_onto_the_entry_is_refused_not_nudged() -> None:
    # 44999.95 rounds up (tighter) to 45000.0: the entry itself.
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, stop_loss="44999.95")
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG))
    assert isinstance(refusal, WrongSideOfPrice)
    assert refusal.actual == Decimal("45000.0")


def test_a_market_orders_protection_is_checked_against_the_reference_price() -> None:
    proposal = TradeProposal("BTC/USDT", "buy", 450, stop_loss=45100)
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG, reference_price=45000))
    assert isinstance(refusal, WrongSideOfPrice)
    assert (refusal.reference, refusal.limit) == ("reference price", Decimal(45000))


def test_a_limit_orders_stop_already_crossed_by_the_market_is_refused() -> None:
    # A buy limit at 45000 with its stop at 44000, while the market is already at 43900.
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, stop_loss=44000)
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG, reference_price=43900))
    assert isinstance(refusal, WrongSideOfPrice)
    assert (refusal.field, refusal.reference, refusal.limit) == (
        "stop_loss",
        "reference price",
        Decimal(43900),
    )


def test_a_stop_that_is_not_positive_is_refused() -> None:
    proposal = TradeProposal("BTC/USDT", "sell", 450, entry_price=45000, take_profit=0)
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG))
    assert isinstance(refusal, InvalidValue)
    assert refusal.field == "take_profit"


# --------------------------------------------------------------------------- maximums
def test_an_order_above_the_max_order_notional_is_refused_naming_it() -> None:
    refusal = refused(
        plan_order(TradeProposal("BTC/USDT", "buy", 10001, entry_price=1), BTC_USDT, CONFIG)
    )
    assert isinstance(refusal, AboveMaximum)
    assert (refusal.field, refusal.limit, refusal.actual) == (
        "notional",
        Decimal(10000),
        Decimal(10001),
    )


def test_an_order_exactly_at_the_max_order_notional_is_planned() -> None:
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 10000, entry_price=40000), BTC_USDT, CONFIG)
    )
    assert order.price == Decimal(40000)
    assert order.size * order.price == Decimal(10000)


def test_an_order_above_the_symbols_max_position_is_refused() -> None:
    config = ExecutionConfig.from_mapping(
        {"risk": {"max_position_notional_by_symbol": {"BTC/USDT": 1000}}}
    )
    refusal = refused(
        plan_order(TradeProposal("BTC/USDT", "buy", 1200, entry_price=40000), BTC_USDT, config)
    )
    assert isinstance(refusal, AboveMaximum)
    assert (refusal.field, refusal.limit, refusal.actual) == (
        "position_notional",
        Decimal(1000),
        Decimal(1200),
    )


def test_xrp_btc_is_limited_in_btc() -> None:
    refusal = refused(
        plan_order(TradeProposal("XRP/BTC", "buy", "0.2", entry_price="0.00001"), XRP_BTC, CONFIG)
    )
    assert isinstance(refusal, AboveMaximum)
    assert refusal.limit == Decimal("0.1")


def test_a_proposal_for_another_symbol_is_refused() -> None:
    refusal = refused(
        plan_order(TradeProposal("XRP/USDT", "buy", 450, entry_price=1), BTC_USDT, CONFIG)
    )
    assert isinstance(refusal, SymbolMismatch)
    assert (refusal.symbol, refusal.limit, refusal.actual) == ("BTC/USDT", "BTC/USDT", "XRP/USDT")


# --------------------------------------------------------------------------- time in force
def test_a_limit_order_planned_with_now_expires_at_the_exchange_after_the_configured_hours() -> (
    None
):
    order = planned(
        plan_order(
            TradeProposal("BTC/USDT", "buy", 450, entry_price=45000), BTC_USDT, CONFIG, now=NOW
        )
    )
    assert order.time_in_force is TimeInForce.GTD
    assert order.expires_at == NOW + timedelta(hours=1)
    assert order.created_at == order.updated_at == NOW


def test_a_limit_order_planned_without_now_is_gtc() -> None:
    order = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 450, entry_price=45000), BTC_USDT, CONFIG)
    )
    assert (order.time_in_force, order.expires_at) == (TimeInForce.GTC, None)


def test_an_explicit_gtc_limit_order_stays_gtc() -> None:
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, time_in_force="gtc")
    order = planned(plan_order(proposal, BTC_USDT, CONFIG, now=NOW))
    assert (order.time_in_force, order.expires_at) == (TimeInForce.GTC, None)


def test_an_explicit_expiry_makes_a_gtd_order() -> None:
    expiry = NOW + timedelta(minutes=10)
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, expires_at=expiry)
    order = planned(plan_order(proposal, BTC_USDT, CONFIG, now=NOW))
    assert (order.time_in_force, order.expires_at) == (TimeInForce.GTD, expiry)


def test_an_expiry_less_than_5_seconds_ahead_is_refused() -> None:
    proposal = TradeProposal(
        "BTC/USDT", "buy", 450, entry_price=45000, expires_at=NOW + timedelta(seconds=4)
    )
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG, now=NOW))
    assert isinstance(refusal, InvalidValue)
    assert refusal.field == "expires_at"


def test_a_gtd_order_without_an_expiry_or_a_clock_is_refused() -> None:
    proposal = TradeProposal(
        "BTC/USDT", "buy", 450, entry_price=45000, time_in_force=TimeInForce.GTD
    )
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG))
    assert isinstance(refusal, InvalidValue)
    assert (refusal.field, refusal.actual) == ("expires_at", None)


def test_an_expiry_on_a_gtc_order_is_refused() -> None:
    proposal = TradeProposal(
        "BTC/USDT",
        "buy",
        450,
        entry_price=45000,
        time_in_force="GTC",
        expires_at=NOW + timedelta(hours=1),
    )
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG, now=NOW))
    assert isinstance(refusal, InvalidValue)
    assert refusal.field == "expires_at"


def test_a_post_only_ioc_order_is_refused() -> None:
    proposal = TradeProposal(
        "BTC/USDT", "buy", 450, entry_price=45000, time_in_force="IOC", post_only=True
    )
    refusal = refused(plan_order(proposal, BTC_USDT, CONFIG))
    assert isinstance(refusal, InvalidValue)
    assert refusal.field == "post_only"


def test_post_only_and_the_fee_currency_are_carried_to_the_order() -> None:
    proposal = TradeProposal(
        "BTC/USDT", "buy", 450, entry_price=45000, post_only=True, fee_currency="base"
    )
    order = planned(plan_order(proposal, BTC_USDT, CONFIG))
    assert order.post_only is True
    assert order.fee_currency is FeeCurrency.BASE


# --------------------------------------------------------------------------- identity
def test_the_order_is_pending_with_the_proposal_id_as_its_id() -> None:
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, proposal_id="bot-7/42")
    order = planned(plan_order(proposal, BTC_USDT, CONFIG))
    assert order.status is OrderStatus.PENDING
    assert order.id == "bot-7/42"
    assert order.client_order_id == client_order_id_for("bot-7/42")
    assert uuid.UUID(order.client_order_id).version == 5
    assert len(order.client_order_id) == 36


def test_an_explicit_order_id_wins_and_a_uuid_is_its_own_client_id() -> None:
    given = "3f2b8c1e-9d4a-4f6b-8c2d-1e5f7a9b0c3d"
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000, proposal_id="p-1")
    order = planned(plan_order(proposal, BTC_USDT, CONFIG, order_id=given))
    assert (order.id, order.client_order_id) == (given, given)


def test_without_ids_the_client_id_is_derived_from_the_proposals_content_deterministically() -> (
    None
):
    proposal = TradeProposal("BTC/USDT", "buy", 450, entry_price=45000)
    first = planned(plan_order(proposal, BTC_USDT, CONFIG))
    again = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 450, entry_price=45000), BTC_USDT, CONFIG)
    )
    other = planned(
        plan_order(TradeProposal("BTC/USDT", "buy", 451, entry_price=45000), BTC_USDT, CONFIG)
    )
    assert first.client_order_id == again.client_order_id == first.id
    assert first.client_order_id == client_order_id_for(proposal_key(proposal))
    assert other.client_order_id != first.client_order_id
    assert uuid.UUID(first.client_order_id).version == 5


def test_the_client_id_equals_the_standard_uuid5() -> None:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:execution-core:client-order-id")
    for key in ("p-1", "", "é" * 40, "BTC/USDT|buy|450"):
        assert client_order_id_for(key) == str(uuid.uuid5(namespace, key))


@pytest.mark.parametrize(
    ("proposal", "key", "client_order_id"),
    [
        (
            TradeProposal("BTC/USDT", "buy", 450, entry_price=45000),
            "BTC/USDT|buy|450|45000|None|None|1|None|None|False|quote",
            "46a4e9b0-a78c-5dd5-bc1e-c9cda880eae4",
        ),
        (
            TradeProposal(
                "BTC/USDT",
                "sell",
                "4500.50",
                entry_price=Decimal("4.5E+4"),
                stop_loss=46000,
                take_profit="44000.5",
                leverage=2,
                time_in_force="GTD",
                expires_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
                post_only=True,
                fee_currency="base",
            ),
            "BTC/USDT|sell|4500.50|4.5E+4|46000|44000.5|2|GTD|2026-03-02 09:30:00+00:00|True|base",
            "0ab4e735-e2d4-5eb8-9ceb-3b3d32d657ad",
        ),
    ],
)
def test_a_derived_client_id_never_changes_for_the_same_content(
    proposal: TradeProposal, key: str, client_order_id: str
) -> None:
    # Pinned: a stored order found again after a restart must get the same id from its proposal.
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    order = planned(plan_order(proposal, BTC_USDT, CONFIG, now=now))

    assert proposal_key(proposal) == key
    assert (order.id, order.client_order_id) == (client_order_id, client_order_id)


def test_an_uppercase_uuid_is_hashed_to_a_canonical_one() -> None:
    upper = "3F2B8C1E-9D4A-4F6B-8C2D-1E5F7A9B0C3D"
    assert client_order_id_for(upper) != upper
    assert client_order_id_for(upper) == client_order_id_for(upper).lower()


@pytest.mark.parametrize(
    "values",
    [
        {
            "id": "o-9",
            "client_order_id": "c-9",
            "symbol": "XRP/BTC",
            "side": OrderSide.SELL,
            "order_type": OrderType.LIMIT,
            "size": Decimal(100),
            "price": Decimal("0.00001"),
            "time_in_force": TimeInForce.GTD,
            "expires_at": datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
            "leverage": Decimal(2),
            "post_only": True,
            "fee_currency": FeeCurrency.BASE,
            "reference_price": Decimal("0.0000105"),
            "created_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            "stop_loss": Decimal("0.000011"),
            "take_profit": Decimal("0.000009"),
        },
        {
            "id": "o-1",
            "client_order_id": "c-1",
            "symbol": "BTC/USDT",
            "side": OrderSide.BUY,
            "order_type": OrderType.MARKET,
            "size": Decimal("0.01"),
            "price": None,
            "time_in_force": TimeInForce.IOC,
            "expires_at": None,
            "leverage": Decimal(1),
            "post_only": False,
            "fee_currency": FeeCurrency.QUOTE,
            "reference_price": None,
            "created_at": None,
        },
    ],
)
def test_the_planned_order_fast_path_builds_what_the_constructor_builds(
    values: dict[str, Any],
) -> None:
    fast = planned_order(**values)

    expected = Order(**values, updated_at=values["created_at"])
    # Field by field (`==` skips `fills`); a slot the fast path forgot would raise here, a
    # default changed on Order would differ.
    for field in attrs.fields(Order):
        assert getattr(fast, field.name) == getattr(expected, field.name), field.name
    assert type(fast) is Order
    assert fast == expected
    assert len(fast.fills) == 0


# --------------------------------------------------------------------------- the proposal value
def test_a_proposal_converts_floats_through_str_and_accepts_side_strings() -> None:
    proposal = TradeProposal("BTC/USDT", "SELL", 0.1, entry_price=45000.1, leverage=2.0)
    assert proposal.side is OrderSide.SELL
    assert proposal.size_usd == Decimal("0.1")
    assert proposal.entry_price == Decimal("45000.1")
    assert proposal.leverage == Decimal("2.0")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "NaN", "-Infinity"])
def test_a_proposal_refuses_nan_and_infinity(bad: float | str) -> None:
    with pytest.raises(InvalidNumber, match="size_usd"):
        TradeProposal("BTC/USDT", "buy", bad)
    with pytest.raises(InvalidNumber, match="stop_loss"):
        TradeProposal("BTC/USDT", "buy", 1, stop_loss=bad)


def test_a_proposal_refuses_an_unknown_side() -> None:
    with pytest.raises(ValueError, match="side: must be 'buy' or 'sell'"):
        TradeProposal("BTC/USDT", "long", 100)


def test_planning_is_pure_the_same_inputs_give_equal_orders() -> None:
    proposal = TradeProposal("BTC/USDT", "sell", 450, stop_loss=46000)
    first = plan_order(proposal, BTC_USDT, CONFIG, reference_price="45000.3", now=NOW)
    second = plan_order(proposal, BTC_USDT, CONFIG, reference_price="45000.3", now=NOW)
    assert first == second
