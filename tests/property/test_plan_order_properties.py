from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from execution_core.config import ExecutionConfig
from execution_core.domain.enums import FeeCurrency, OrderSide, OrderType, TimeInForce
from execution_core.domain.instruments import BTC_USDT, XRP_BTC, XRP_USDT, Instrument
from execution_core.domain.proposals import (
    TradeProposal,
    client_order_id_for,
    plan_order,
    proposal_key,
)
from execution_core.domain.refusals import (
    AboveMaximum,
    BelowMinimumCost,
    BelowMinimumSize,
    InvalidValue,
    WrongSideOfPrice,
)
from execution_core.domain.rounding import is_multiple

CONFIG = ExecutionConfig()
# Each instrument with the price range it trades in.
MARKETS: dict[str, tuple[Instrument, Decimal, Decimal]] = {
    "BTC/USDT": (BTC_USDT, Decimal(1000), Decimal(200000)),
    "XRP/USDT": (XRP_USDT, Decimal("0.01"), Decimal(10)),
    "XRP/BTC": (XRP_BTC, Decimal("0.0000001"), Decimal("0.001")),
}
EXPECTED_REFUSALS = (
    BelowMinimumSize,
    BelowMinimumCost,
    AboveMaximum,
    WrongSideOfPrice,
    InvalidValue,
)


@st.composite
def plans(draw: st.DrawFn) -> tuple[TradeProposal, Instrument, Decimal | None]:
    symbol = draw(st.sampled_from(sorted(MARKETS)))
    instrument, low, high = MARKETS[symbol]
    prices = st.decimals(min_value=low, max_value=high, places=10)
    side = draw(st.sampled_from(list(OrderSide)))
    reference = draw(prices)
    notional_cap = Decimal("0.2") if symbol == "XRP/BTC" else Decimal(20000)
    size_usd = draw(st.decimals(min_value=Decimal("0.000001"), max_value=notional_cap, places=6))
    entry = draw(st.one_of(st.none(), prices))
    distance = draw(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.2"), places=3))
    anchor = entry if entry is not None else reference
    away = anchor * distance
    below, above = anchor - away, anchor + away
    protect = draw(st.booleans())
    stop, target = (below, above) if side is OrderSide.BUY else (above, below)
    proposal = TradeProposal(
        symbol,
        side,
        size_usd,
        entry_price=entry,
        stop_loss=stop if protect else None,
        take_profit=target if protect else None,
        leverage=draw(st.integers(min_value=1, max_value=5)),
    )
    market = None if entry is not None and draw(st.booleans()) else reference
    return proposal, instrument, market


@given(plans())
def test_a_planned_order_never_breaks_min_size_min_cost_lot_or_tick(
    plan: tuple[TradeProposal, Instrument, Decimal | None],
) -> None:
    proposal, instrument, reference = plan
    result = plan_order(proposal, instrument, CONFIG, reference_price=reference)
    match result:
        case Success(order):
            assert order.price is not None
            assert order.size >= CONFIG.min_size(instrument)
            assert order.size * order.price >= instrument.min_cost
            assert is_multiple(order.size, instrument.lot_size)
            assert is_multiple(order.price, instrument.tick_size)
            assert order.price > 0
        case Failure(refusal):
            assert isinstance(refusal, EXPECTED_REFUSALS)
            assert refusal.symbol == instrument.symbol


@given(plans())
def test_a_planned_order_never_trades_more_than_asked_nor_at_a_worse_price(
    plan: tuple[TradeProposal, Instrument, Decimal | None],
) -> None:
    proposal, instrument, reference = plan
    result = plan_order(proposal, instrument, CONFIG, reference_price=reference)
    if not isinstance(result, Success):
        return
    order = result.unwrap()
    assert order.price is not None
    if proposal.entry_price is not None:
        assert order.order_type is OrderType.LIMIT
        assert order.size * order.price <= proposal.size_usd
        if proposal.side is OrderSide.BUY:
            assert order.price <= proposal.entry_price
        else:
            assert order.price >= proposal.entry_price
    else:
        assert reference is not None
        assert order.order_type is OrderType.MARKET
        assert order.time_in_force is TimeInForce.IOC
        assert order.size * reference <= proposal.size_usd
        # The cap rounds toward the reference: never looser than the slippage allows, and
        # within one tick of it (on a coarse tick it may even pass the reference: stricter).
        tick = instrument.tick_size
        if proposal.side is OrderSide.BUY:
            cap = reference * Decimal("1.005")
            assert cap - tick < order.price <= cap
        else:
            floor = reference * Decimal("0.995")
            assert floor <= order.price < floor + tick


@given(plans())
def test_a_planned_order_respects_the_configured_maximums(
    plan: tuple[TradeProposal, Instrument, Decimal | None],
) -> None:
    proposal, instrument, reference = plan
    result = plan_order(proposal, instrument, CONFIG, reference_price=reference)
    if not isinstance(result, Success):
        return
    order = result.unwrap()
    sized_at = order.reference_price if order.reference_price is not None else order.price
    assert sized_at is not None
    notional = order.size * sized_at
    assert notional <= CONFIG.risk.max_order_notional_for(instrument.symbol)
    assert notional <= CONFIG.risk.max_position_notional_for(instrument.symbol)
    assert 1 <= order.leverage <= CONFIG.risk.max_leverage


@given(plans())
def test_planning_is_deterministic(plan: tuple[TradeProposal, Instrument, Decimal | None]) -> None:
    proposal, instrument, reference = plan
    first = plan_order(proposal, instrument, CONFIG, reference_price=reference)
    second = plan_order(proposal, instrument, CONFIG, reference_price=reference)
    assert first == second


# --------------------------------------------------------------------------- derived ids
any_decimal = st.decimals(allow_nan=False, allow_infinity=False).filter(
    lambda d: not (d.is_zero() and d.is_signed())
)


@given(
    symbol=st.text(max_size=12),
    side=st.sampled_from(OrderSide),
    size_usd=any_decimal,
    entry_price=st.none() | any_decimal,
    stop_loss=st.none() | any_decimal,
    take_profit=st.none() | any_decimal,
    leverage=any_decimal,
    time_in_force=st.none() | st.sampled_from(TimeInForce),
    expires_at=st.none() | st.datetimes(timezones=st.just(UTC)) | st.datetimes(),
    post_only=st.booleans(),
    fee_currency=st.sampled_from(FeeCurrency),
)
def test_the_proposal_key_spells_each_field_as_format_does(
    *,
    symbol: str,
    side: OrderSide,
    size_usd: Decimal,
    entry_price: Decimal | None,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    leverage: Decimal,
    time_in_force: TimeInForce | None,
    expires_at: datetime | None,
    post_only: bool,
    fee_currency: FeeCurrency,
) -> None:
    # The key (hence every derived client order id) must stay what it was when it was written
    # with format(): `{x}` rather than `{x!s}`, for any content a proposal can hold.
    p = TradeProposal(
        symbol,
        side,
        size_usd,
        entry_price=entry_price,
        stop_loss=stop_loss,
        take_profit=take_profit,
        leverage=leverage,
        time_in_force=time_in_force,
        expires_at=expires_at,
        post_only=post_only,
        fee_currency=fee_currency,
    )
    as_formatted = (
        f"{p.symbol}|{p.side}|{p.size_usd}|{p.entry_price}|{p.stop_loss}|{p.take_profit}|"
        f"{p.leverage}|{p.time_in_force}|{p.expires_at}|{p.post_only}|{p.fee_currency}"
    )
    assert proposal_key(p) == as_formatted


NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:execution-core:client-order-id")


@given(st.text())
def test_a_derived_client_id_is_the_standard_uuid5_of_its_key(key: str) -> None:
    derived = client_order_id_for(key)

    if derived == key:  # a lowercase UUID is its own id
        assert str(uuid.UUID(key)) == key
    else:
        assert derived == str(uuid.uuid5(NAMESPACE, key))
