from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest
from returns.result import Failure, Success

from execution_core.config import ExecutionConfig
from execution_core.domain.enums import (
    OrderRole,
    OrderSide,
    OrderType,
    SymbolStatus,
    TradingState,
)
from execution_core.domain.instruments import BTC_USDT, XRP_BTC
from execution_core.domain.orders import Order
from execution_core.domain.proposals import TradeProposal, plan_order
from execution_core.domain.refusals import (
    AboveMaximum,
    CircuitBreakerActive,
    InsufficientBalance,
    InvalidValue,
    Refusal,
    SymbolMismatch,
    TradingNotAllowed,
)
from execution_core.domain.risk import PRE_TRADE_RULES, RiskSnapshot, check_pre_trade

CONFIG = ExecutionConfig()
RICH = {"USDT": Decimal(1_000_000), "BTC": Decimal(100), "XRP": Decimal(1_000_000)}


def entry(size_usd: int | str = 450, side: str = "buy", **changes: Any) -> Order:
    """A limit entry at 45000 (450 USDT = 0.01 BTC) unless `changes` say otherwise."""
    proposal = TradeProposal(
        "BTC/USDT", side, size_usd, entry_price=changes.pop("price", 45000), **changes
    )
    return plan_order(proposal, BTC_USDT, CONFIG).unwrap()


def market_entry(size_usd: int = 450, side: str = "buy") -> Order:
    proposal = TradeProposal("BTC/USDT", side, size_usd)
    return plan_order(proposal, BTC_USDT, CONFIG, reference_price=45000).unwrap()


def stop_order() -> Order:
    return Order(
        id="sl-1",
        client_order_id="sl-1",
        symbol="BTC/USDT",
        side=OrderSide.SELL,
        order_type=OrderType.STOP_LOSS,
        size=Decimal("0.01"),
        trigger_price=Decimal(44000),
        role=OrderRole.STOP_LOSS,
        reduce_only=True,
    )


def snapshot(**changes: Any) -> RiskSnapshot:
    changes.setdefault("balances", RICH)
    return RiskSnapshot(**changes)


def refused(
    order: Order, snap: RiskSnapshot, *, is_exit: bool = False, config: ExecutionConfig = CONFIG
) -> Refusal:
    result = check_pre_trade(order, BTC_USDT, snap, config, is_exit=is_exit)
    assert isinstance(result, Failure), result
    refusal: Refusal = result.failure()
    return refusal


def allowed(
    order: Order, snap: RiskSnapshot, *, is_exit: bool = False, config: ExecutionConfig = CONFIG
) -> None:
    assert check_pre_trade(order, BTC_USDT, snap, config, is_exit=is_exit) == Success(order)


def test_a_clean_snapshot_passes_the_order_through_unchanged() -> None:
    order = entry()
    result = check_pre_trade(order, BTC_USDT, snapshot(), CONFIG)
    assert result == Success(order)
    assert result.unwrap() is order


def test_an_order_for_another_instrument_is_refused() -> None:
    refusal = check_pre_trade(entry(), XRP_BTC, snapshot(), CONFIG).failure()
    assert isinstance(refusal, SymbolMismatch)


# --------------------------------------------------------------------------- trading state
def test_halted_refuses_entries_exits_and_stops() -> None:
    halted = snapshot(trading_state=TradingState.HALTED)
    for order, is_exit in ((entry(), False), (entry(side="sell"), True), (stop_order(), False)):
        refusal = refused(order, halted, is_exit=is_exit)
        assert isinstance(refusal, TradingNotAllowed)
        assert (refusal.field, refusal.limit) == ("trading_state", "halted")


def test_reducing_refuses_entries_naming_the_state() -> None:
    refusal = refused(entry(), snapshot(trading_state=TradingState.REDUCING))
    assert isinstance(refusal, TradingNotAllowed)
    assert (refusal.field, refusal.limit, refusal.actual) == ("trading_state", "reducing", "entry")
    assert refusal.message == "BTC/USDT: trading_state is reducing; an entry order is not allowed"


def test_reducing_allows_exits_and_stop_placement() -> None:
    reducing = snapshot(trading_state=TradingState.REDUCING)
    allowed(entry(side="sell"), reducing, is_exit=True)
    allowed(stop_order(), reducing)


# --------------------------------------------------------------------------- circuit breaker
def test_an_active_circuit_breaker_refuses_entries_with_its_reason() -> None:
    refusal = refused(
        entry(), snapshot(circuit_breaker_active=True, circuit_breaker_reason="drawdown 8%")
    )
    assert isinstance(refusal, CircuitBreakerActive)
    assert refusal.reason == "drawdown 8%"
    assert refusal.message == "BTC/USDT: circuit breaker active: drawdown 8%"


def test_an_active_circuit_breaker_never_blocks_an_exit_or_a_stop() -> None:
    tripped = snapshot(circuit_breaker_active=True, circuit_breaker_reason="drawdown")
    allowed(entry(side="sell"), tripped, is_exit=True)
    allowed(stop_order(), tripped)


# --------------------------------------------------------------------------- daily loss
def test_a_daily_loss_exactly_at_the_limit_is_allowed() -> None:
    allowed(entry(), snapshot(daily_realized_pnl=-600, daily_unrealized_pnl=-400))


def test_a_daily_loss_beyond_the_limit_refuses_entries_naming_it() -> None:
    refusal = refused(entry(), snapshot(daily_realized_pnl="-600.01", daily_unrealized_pnl=-400))
    assert isinstance(refusal, AboveMaximum)
    assert (refusal.field, refusal.limit, refusal.actual) == (
        "daily_loss",
        Decimal(1000),
        Decimal("1000.01"),
    )


def test_a_daily_profit_never_counts_as_a_loss() -> None:
    allowed(entry(), snapshot(daily_realized_pnl=5000, daily_unrealized_pnl=-3000))


def test_the_daily_loss_limit_never_blocks_an_exit() -> None:
    allowed(stop_order(), snapshot(daily_realized_pnl=-5000))


# --------------------------------------------------------------------------- balance
def test_a_buy_needs_quote_for_the_notional_plus_the_taker_fee() -> None:
    order = entry()  # 0.01 BTC at 45000 = 450 USDT, taker 0.40% = 1.8 USDT
    allowed(order, snapshot(balances={"USDT": Decimal("451.8")}))
    refusal = refused(order, snapshot(balances={"USDT": Decimal("451.79")}))
    assert isinstance(refusal, InsufficientBalance)
    assert (refusal.asset, refusal.field, refusal.limit, refusal.actual) == (
        "USDT",
        "balance",
        Decimal("451.8"),
        Decimal("451.79"),
    )
    assert refusal.message == "BTC/USDT: balance of USDT 451.79 is below the required 451.8"


def test_a_protected_market_buy_needs_quote_at_its_cap() -> None:
    order = market_entry()  # 0.01 BTC capped at 45225.0 -> 452.25 + 0.40% = 454.059
    allowed(order, snapshot(balances={"USDT": Decimal("454.059")}))
    assert isinstance(
        refused(order, snapshot(balances={"USDT": Decimal("454.05")})), InsufficientBalance
    )


def test_a_post_only_buy_is_charged_the_maker_fee() -> None:
    order = entry(post_only=True)  # 450 + 0.25% = 451.125
    allowed(order, snapshot(balances={"USDT": Decimal("451.125")}))
    assert isinstance(
        refused(order, snapshot(balances={"USDT": Decimal("451.12")})), InsufficientBalance
    )


def test_a_buy_with_the_fee_in_base_needs_only_the_notional_in_quote() -> None:
    allowed(entry(fee_currency="base"), snapshot(balances={"USDT": Decimal(450)}))


def test_a_sell_needs_the_base_it_sells() -> None:
    order = entry(side="sell")
    allowed(order, snapshot(balances={"BTC": Decimal("0.01")}))
    refusal = refused(order, snapshot(balances={"BTC": Decimal("0.009"), "USDT": Decimal(10**6)}))
    assert isinstance(refusal, InsufficientBalance)
    assert (refusal.asset, refusal.limit) == ("BTC", Decimal("0.01"))


def test_a_sell_with_the_fee_in_base_needs_the_base_fee_too() -> None:
    order = entry(side="sell", fee_currency="base")  # 0.01 + 0.40% = 0.01004 BTC
    allowed(order, snapshot(balances={"BTC": Decimal("0.01004")}))
    assert isinstance(
        refused(order, snapshot(balances={"BTC": Decimal("0.01")})), InsufficientBalance
    )


def test_a_leveraged_entry_needs_the_margin_plus_the_fee_in_quote() -> None:
    order = entry(900, leverage=2)  # 0.02 BTC = 900 USDT / 2 = 450 + 3.6 fee
    allowed(order, snapshot(balances={"USDT": Decimal("453.6")}))
    refusal = refused(order, snapshot(balances={"USDT": Decimal("453.5")}))
    assert isinstance(refusal, InsufficientBalance)
    assert (refusal.field, refusal.asset, refusal.limit) == ("margin", "USDT", Decimal("453.6"))


def test_a_leveraged_short_needs_margin_not_base() -> None:
    allowed(entry(900, side="sell", leverage=2), snapshot(balances={"USDT": Decimal("453.6")}))


def test_an_exit_is_never_blocked_by_the_balance_check() -> None:
    allowed(entry(side="sell"), snapshot(balances={}), is_exit=True)
    allowed(stop_order(), snapshot(balances={}))


# --------------------------------------------------------------------------- exposure
def limits(position: int, total: int) -> ExecutionConfig:
    return ExecutionConfig.from_mapping(
        {"risk": {"max_position_notional": position, "max_total_exposure": total}}
    )


def test_a_position_exactly_at_the_symbols_limit_is_allowed() -> None:
    config = limits(position=1000, total=50000)
    allowed(entry(450), snapshot(exposures={"BTC/USDT": 550}), config=config)


def test_a_position_above_the_symbols_limit_is_refused_naming_it() -> None:
    config = limits(position=1000, total=50000)
    refusal = refused(entry(450), snapshot(exposures={"BTC/USDT": "550.01"}), config=config)
    assert isinstance(refusal, AboveMaximum)
    assert (refusal.field, refusal.limit, refusal.actual) == (
        "exposure",
        Decimal(1000),
        Decimal("1000.01"),
    )


def test_a_market_entry_counts_its_exposure_at_the_reference_price() -> None:
    config = limits(position=1000, total=50000)
    # 0.01 BTC at the reference 45000 = 450, not at the cap 45225.
    allowed(market_entry(450), snapshot(exposures={"BTC/USDT": 550}), config=config)


def test_the_total_exposure_exactly_at_its_limit_is_allowed_and_above_is_refused() -> None:
    config = limits(position=10000, total=2000)
    allowed(entry(450), snapshot(exposures={"XRP/USDT": 1550}), config=config)
    refusal = refused(entry(450), snapshot(exposures={"XRP/USDT": 1551}), config=config)
    assert isinstance(refusal, AboveMaximum)
    assert (refusal.field, refusal.limit, refusal.actual) == (
        "total_exposure",
        Decimal(2000),
        Decimal(2001),
    )


def test_an_explicit_total_exposure_overrides_the_sum_of_exposures() -> None:
    config = limits(position=10000, total=2000)
    refusal = refused(entry(450), snapshot(exposures={}, total_exposure=1600), config=config)
    assert isinstance(refusal, AboveMaximum)
    assert refusal.actual == Decimal(2050)


def test_a_btc_quoted_entry_is_valued_in_usd_for_the_total() -> None:
    order = plan_order(
        TradeProposal("XRP/BTC", "buy", "0.01", entry_price="0.00001"), XRP_BTC, CONFIG
    ).unwrap()
    config = limits(position=10000, total=2000)
    rich = {"BTC": Decimal(1)}
    # 0.01 BTC x 100,000 USD/BTC = 1000 USD on top of 1000 open: exactly the limit.
    at_limit = RiskSnapshot(balances=rich, total_exposure=1000, valuation_rates={"BTC": 100000})
    assert check_pre_trade(order, XRP_BTC, at_limit, config) == Success(order)
    above = RiskSnapshot(balances=rich, total_exposure=1001, valuation_rates={"BTC": 100000})
    assert isinstance(check_pre_trade(order, XRP_BTC, above, config).failure(), AboveMaximum)


def test_an_entry_whose_quote_has_no_valuation_rate_is_refused() -> None:
    order = plan_order(
        TradeProposal("XRP/BTC", "buy", "0.01", entry_price="0.00001"), XRP_BTC, CONFIG
    ).unwrap()
    refusal = check_pre_trade(order, XRP_BTC, RiskSnapshot(balances={"BTC": 1}), CONFIG).failure()
    assert isinstance(refusal, InvalidValue)
    assert (refusal.field, refusal.symbol) == ("valuation_rate", "XRP/BTC")


def test_exposure_limits_never_block_an_exit() -> None:
    config = limits(position=100, total=100)
    allowed(
        entry(450, side="sell"), snapshot(exposures={"BTC/USDT": 5000}), is_exit=True, config=config
    )


# --------------------------------------------------------------------------- symbol status
@pytest.mark.parametrize("status", [SymbolStatus.CANCEL_ONLY, SymbolStatus.DELISTED])
def test_a_cancel_only_symbol_refuses_every_new_order(status: SymbolStatus) -> None:
    closed = snapshot(symbol_status={"BTC/USDT": status})
    for order, is_exit in ((entry(), False), (entry(side="sell"), True), (stop_order(), False)):
        refusal = refused(order, closed, is_exit=is_exit)
        assert isinstance(refusal, TradingNotAllowed)
        assert (refusal.field, refusal.limit) == ("symbol_status", status.value)


def test_a_post_only_symbol_refuses_an_order_that_is_not_post_only() -> None:
    post_only = snapshot(symbol_status={"BTC/USDT": "post_only"})
    refusal = refused(entry(), post_only)
    assert isinstance(refusal, TradingNotAllowed)
    assert (
        refusal.message
        == "BTC/USDT: symbol_status is post_only; an entry (not post-only) order is not allowed"
    )
    allowed(entry(post_only=True), post_only)


def test_a_limit_only_symbol_refuses_market_orders_and_allows_limit_orders() -> None:
    limit_only = snapshot(symbol_status={"BTC/USDT": "limit_only"})
    refusal = refused(market_entry(), limit_only)
    assert isinstance(refusal, TradingNotAllowed)
    assert refusal.actual == "entry market"
    allowed(entry(), limit_only)


def test_a_reduce_only_symbol_refuses_entries_and_allows_exits() -> None:
    reduce_only = snapshot(symbol_status={"BTC/USDT": "reduce_only"})
    assert isinstance(refused(entry(), reduce_only), TradingNotAllowed)
    allowed(entry(side="sell"), reduce_only, is_exit=True)
    allowed(stop_order(), reduce_only)


def test_the_instruments_own_status_applies_when_the_snapshot_has_none() -> None:
    instrument = attrs.evolve(BTC_USDT, status=SymbolStatus.CANCEL_ONLY)
    result = check_pre_trade(entry(), instrument, snapshot(), CONFIG)
    assert isinstance(result.failure(), TradingNotAllowed)


def test_the_snapshots_status_overrides_the_instruments() -> None:
    instrument = attrs.evolve(BTC_USDT, status=SymbolStatus.CANCEL_ONLY)
    online = snapshot(symbol_status={"BTC/USDT": SymbolStatus.ONLINE})
    assert isinstance(check_pre_trade(entry(), instrument, online, CONFIG), Success)


# --------------------------------------------------------------------------- order of the rules
def test_the_first_refusal_is_returned_in_rule_order() -> None:
    everything_wrong = RiskSnapshot(
        trading_state=TradingState.REDUCING,
        circuit_breaker_active=True,
        daily_realized_pnl=-5000,
        balances={},
    )
    refusal = refused(entry(), everything_wrong)
    assert isinstance(refusal, TradingNotAllowed)
    assert refusal.field == "trading_state"
    no_state = attrs.evolve(everything_wrong, trading_state=TradingState.ACTIVE)
    assert isinstance(refused(entry(), no_state), CircuitBreakerActive)


def test_every_rule_passes_a_clean_entry() -> None:
    order = entry()
    for rule in PRE_TRADE_RULES:
        assert rule(order, BTC_USDT, snapshot(), CONFIG, False) is None


def test_a_snapshot_converts_its_numbers_and_is_immutable() -> None:
    snap = RiskSnapshot(
        balances={"USDT": 0.1}, daily_realized_pnl=-1.5, exposures={"BTC/USDT": "10"}
    )
    assert snap.balances["USDT"] == Decimal("0.1")
    assert snap.daily_loss == Decimal("1.5")
    assert snap.open_total == Decimal(10)
    with pytest.raises(TypeError):
        snap.balances["USDT"] = Decimal(1)  # type: ignore[index]
