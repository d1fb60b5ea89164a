"""Fills on orders: per-trade fills keyed by trade id, cumulative reports, overfills, races."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest
from returns.result import Result

from execution_core.domain import order_states as states
from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderSide,
    OrderStatus,
    OrderType,
)
from execution_core.domain.events import OrderFilled, OverfillDetected
from execution_core.domain.orders import Fill, Order
from execution_core.domain.refusals import IllegalTransition, InvalidValue, Overfill, StaleFill

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 3, 2, 9, 31, tzinfo=UTC)


def order_in(status: OrderStatus = OrderStatus.OPEN, size: str = "0.1") -> Order:
    return Order(
        id="o-1",
        client_order_id="c-1",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal(size),
        price=Decimal(45000),
        status=status,
        exchange_order_id=None if status is OrderStatus.SUBMITTED else "OX-1",
    )


def fill(
    quantity: str,
    price: str = "45000",
    *,
    trade_id: str = "T-1",
    fee: str = "0",
    fee_currency: FeeCurrency = FeeCurrency.QUOTE,
) -> Fill:
    return Fill(
        trade_id=trade_id,
        order_id="o-1",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency=fee_currency,
        liquidity=LiquidityRole.MAKER,
        timestamp=AT,
    )


def applied(order: Order, *fills: Fill) -> Order:
    for one in fills:
        order = states.apply_fill(order, one, at=AT).unwrap().order
    return order


def report(
    order: Order,
    filled_size: str,
    /,
    filled_cost: str,
    *,
    fee: str = "0",
    fee_currency: FeeCurrency = FeeCurrency.QUOTE,
    trade_id: str | None = None,
) -> Result[states.OrderTransition, states.ExecutedVolumeRefusal]:
    return states.apply_executed_volume(
        order,
        filled_size=Decimal(filled_size),
        filled_cost=Decimal(filled_cost),
        fee=Decimal(fee),
        fee_currency=fee_currency,
        at=LATER,
        trade_id=trade_id,
    )


# --------------------------------------------------------------------------- per-trade fills
def test_a_fill_of_0_07_of_0_1_btc_at_45000_leaves_the_order_partially_filled() -> None:
    order = order_in()
    the_fill = fill("0.07", fee="5.04")

    step = states.apply_fill(order, the_fill, at=LATER).unwrap()

    assert step.order.status is OrderStatus.PARTIALLY_FILLED
    assert step.order.filled_size == Decimal("0.07")
    assert step.order.remaining_size == Decimal("0.03")
    assert step.order.filled_cost == Decimal(3150)
    assert step.order.average_price == Decimal(45000)
    assert step.order.fee_quote == Decimal("5.04")
    assert step.order.fills["T-1"] is the_fill
    assert step.order.updated_at == LATER
    assert step.events == (
        OrderFilled(
            order_id="o-1",
            fill=the_fill,
            filled_size=Decimal("0.07"),
            status=OrderStatus.PARTIALLY_FILLED,
            at=LATER,
        ),
    )


def test_the_fill_that_completes_the_size_makes_the_order_filled() -> None:
    order = applied(order_in(), fill("0.07"))

    step = states.apply_fill(order, fill("0.03", "45100", trade_id="T-2"), at=AT).unwrap()

    assert step.order.status is OrderStatus.FILLED
    assert step.order.remaining_size == Decimal(0)
    event = step.events[0]
    assert isinstance(event, OrderFilled)
    assert event.status is OrderStatus.FILLED


def test_the_average_price_is_the_exact_volume_weighted_price_of_the_fills() -> None:
    order = applied(order_in(), fill("0.07", "45000"), fill("0.03", "45100", trade_id="T-2"))

    assert order.filled_cost == Decimal(4503)
    assert order.average_price == Decimal(45030)


def test_the_average_price_keeps_every_digit_of_awkward_prices() -> None:
    order = applied(
        order_in(size="1"),
        fill("0.3", "45000.01"),
        fill("0.3", "45000.02", trade_id="T-2"),
        fill("0.3", "45000.04", trade_id="T-3"),
    )

    assert order.filled_cost == Decimal("40500.021")
    assert order.average_price == Decimal("45000.02333333333333333333333")


def test_fees_accumulate_separately_in_quote_and_in_base() -> None:
    order = applied(
        order_in(),
        fill("0.05", fee="3.6"),
        fill("0.02", trade_id="T-2", fee="0.000052", fee_currency=FeeCurrency.BASE),
        fill("0.01", trade_id="T-3", fee="0.72"),
    )

    assert order.fee_quote == Decimal("4.32")
    assert order.fee_base == Decimal("0.000052")


def test_the_same_trade_reported_twice_is_applied_once_and_records_no_event() -> None:
    order = applied(order_in(), fill("0.07"))

    step = states.apply_fill(order, fill("0.07"), at=LATER).unwrap()

    assert step.order is order
    assert step.events == ()
    assert step.order.filled_size == Decimal("0.07")


def test_a_second_report_of_a_trade_with_other_numbers_is_still_a_duplicate() -> None:
    order = applied(order_in(), fill("0.07"))

    step = states.apply_fill(order, fill("0.02", "46000"), at=LATER).unwrap()

    assert step.order is order
    assert step.order.filled_cost == Decimal(3150)


def test_a_fill_beyond_the_size_is_an_overfill_and_is_not_applied() -> None:
    order = applied(order_in(), fill("0.07"))

    refusal = states.apply_fill(order, fill("0.05", trade_id="T-2"), at=LATER).failure()

    assert refusal == Overfill(
        symbol="BTC/USDT", order_id="o-1", limit=Decimal("0.1"), actual=Decimal("0.12")
    )
    assert order.filled_size == Decimal("0.07")
    assert "T-2" not in order.fills


def test_an_overfill_is_recorded_as_an_overfill_detected_event() -> None:
    refusal = states.apply_fill(order_in(), fill("0.2"), at=AT).failure()
    assert isinstance(refusal, Overfill)

    event = states.overfill_detected(refusal, at=LATER)

    assert event == OverfillDetected(
        order_id="o-1", size=Decimal("0.1"), reported_filled_size=Decimal("0.2"), at=LATER
    )


def test_any_new_fill_on_a_filled_order_is_an_overfill() -> None:
    order = applied(order_in(), fill("0.1"))

    refusal = states.apply_fill(order, fill("0.00000001", trade_id="T-2"), at=AT).failure()

    assert isinstance(refusal, Overfill)
    assert refusal.actual == Decimal("0.10000001")


def test_an_order_can_never_be_built_with_more_executed_than_its_size() -> None:
    with pytest.raises(ValueError, match=r"filled_size 0\.2 must be within 0\.\.0\.1"):
        attrs.evolve(order_in(), filled_size=Decimal("0.2"))


def test_an_order_can_never_be_built_with_a_negative_executed_size() -> None:
    with pytest.raises(ValueError, match=r"filled_size -0\.1"):
        attrs.evolve(order_in(), filled_size=Decimal("-0.1"))


def test_applying_a_fill_leaves_the_original_order_unchanged() -> None:
    order = order_in()

    states.apply_fill(order, fill("0.07"), at=AT)

    assert (order.status, order.filled_size, len(order.fills)) == (OrderStatus.OPEN, Decimal(0), 0)


# --------------------------------------------------------------------------- races
def test_a_fill_before_the_acknowledgement_is_applied() -> None:
    step = states.apply_fill(order_in(OrderStatus.SUBMITTED), fill("0.07"), at=AT).unwrap()

    assert step.order.status is OrderStatus.PARTIALLY_FILLED
    assert step.order.exchange_order_id is None


def test_a_complete_fill_before_the_acknowledgement_fills_the_order() -> None:
    step = states.apply_fill(order_in(OrderStatus.SUBMITTED), fill("0.1"), at=AT).unwrap()

    assert step.order.status is OrderStatus.FILLED


@pytest.mark.parametrize("status", [OrderStatus.CANCELLED, OrderStatus.EXPIRED])
def test_a_late_fill_after_a_cancel_or_expiry_is_applied_and_the_status_stays(
    status: OrderStatus,
) -> None:
    step = states.apply_fill(order_in(status), fill("0.07"), at=AT).unwrap()

    assert step.order.status is status
    assert step.order.filled_size == Decimal("0.07")
    event = step.events[0]
    assert isinstance(event, OrderFilled)
    assert event.status is status


@pytest.mark.parametrize("status", [OrderStatus.CANCELLED, OrderStatus.EXPIRED])
def test_a_late_fill_that_completes_the_size_makes_a_cancelled_or_expired_order_filled(
    status: OrderStatus,
) -> None:
    order = applied(order_in(OrderStatus.PARTIALLY_FILLED), fill("0.07"))
    gone = states.cancel(order, reason="user request", at=AT)
    if status is OrderStatus.EXPIRED:
        gone = states.expire(order, at=AT)

    step = states.apply_fill(gone.unwrap().order, fill("0.03", trade_id="T-2"), at=LATER)

    assert step.unwrap().order.status is OrderStatus.FILLED
    assert step.unwrap().order.filled_size == Decimal("0.10")


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.REJECTED])
def test_a_fill_on_an_order_that_never_reached_the_exchange_is_an_illegal_transition(
    status: OrderStatus,
) -> None:
    refusal = states.apply_fill(order_in(status), fill("0.07"), at=AT).failure()

    assert refusal == IllegalTransition(
        symbol="BTC/USDT", order_id="o-1", limit=status.value, actual="partial_fill"
    )


def test_an_illegal_complete_fill_names_the_complete_fill_event() -> None:
    refusal = states.apply_fill(order_in(OrderStatus.PENDING), fill("0.1"), at=AT).failure()

    assert isinstance(refusal, IllegalTransition)
    assert refusal.actual == "complete_fill"


# --------------------------------------------------------------------------- malformed fills
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"symbol": "XRP/USDT"}, "fill.symbol"),
        ({"side": OrderSide.SELL}, "fill.side"),
        ({"order_id": "o-2"}, "fill.order_id"),
        ({"quantity": Decimal(0)}, "fill.quantity"),
        ({"quantity": Decimal("-0.01")}, "fill.quantity"),
        ({"price": Decimal(0)}, "fill.price"),
    ],
)
def test_a_fill_that_cannot_belong_to_the_order_is_refused_and_not_applied(
    change: dict[str, object], field: str
) -> None:
    order = order_in()

    bad_fill = attrs.evolve(fill("0.07"), **change)  # type: ignore[arg-type]  # one field each

    refusal = states.apply_fill(order, bad_fill, at=AT).failure()

    assert isinstance(refusal, InvalidValue)
    assert refusal.field == field


def test_a_fill_may_name_its_order_by_the_exchange_order_id() -> None:
    the_fill = attrs.evolve(fill("0.07"), order_id="OX-1")

    step = states.apply_fill(order_in(), the_fill, at=AT).unwrap()

    assert step.order.filled_size == Decimal("0.07")


# --------------------------------------------------------------------------- cumulative reports
def test_a_cumulative_report_becomes_one_synthetic_fill_for_the_executed_volume() -> None:
    step = report(order_in(), "0.07000000", "3150.00000", fee="5.04000").unwrap()

    order = step.order
    assert (order.status, order.filled_size, order.filled_cost) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal("0.07"),
        Decimal(3150),
    )
    synthetic = order.fills["o-1:exec:0.07"]
    assert (synthetic.quantity, synthetic.price, synthetic.fee) == (
        Decimal("0.07"),
        Decimal(45000),
        Decimal("5.04"),
    )
    assert str(synthetic.price) == "45000"
    assert (synthetic.order_id, synthetic.side, synthetic.timestamp) == (
        "o-1",
        OrderSide.BUY,
        LATER,
    )
    assert synthetic.liquidity is LiquidityRole.TAKER
    assert [event.kind for event in step.events] == ["order_filled"]


def test_a_later_cumulative_report_adds_only_the_difference() -> None:
    first = report(order_in(), "0.07", "3150", fee="5.04").unwrap().order

    step = report(first, "0.1", "4503", fee="7.2048").unwrap()

    delta = step.order.fills["o-1:exec:0.1"]
    assert (delta.quantity, delta.price, delta.fee) == (
        Decimal("0.03"),
        Decimal(45100),
        Decimal("2.1648"),
    )
    assert step.order.status is OrderStatus.FILLED
    assert step.order.average_price == Decimal(45030)
    assert step.order.fee_quote == Decimal("7.2048")


def test_the_same_cumulative_report_twice_changes_nothing() -> None:
    order = report(order_in(), "0.07", "3150", fee="5.04").unwrap().order

    step = report(order, "0.07000000", "3150.00000", fee="5.04000").unwrap()

    assert step.order is order
    assert step.events == ()


def test_a_lower_cumulative_volume_is_a_stale_report() -> None:
    order = report(order_in(), "0.07", "3150").unwrap().order

    refusal = report(order, "0.05", "2250").failure()

    assert refusal == StaleFill(
        symbol="BTC/USDT", order_id="o-1", limit=Decimal("0.07"), actual=Decimal("0.05")
    )


def test_a_cumulative_volume_above_the_size_is_an_overfill() -> None:
    refusal = report(order_in(), "0.11", "4950").failure()

    assert refusal == Overfill(
        symbol="BTC/USDT", order_id="o-1", limit=Decimal("0.1"), actual=Decimal("0.11")
    )


def test_a_cumulative_cost_that_does_not_grow_with_the_volume_is_refused() -> None:
    order = report(order_in(), "0.07", "3150").unwrap().order

    refusal = report(order, "0.08", "3150").failure()

    assert isinstance(refusal, InvalidValue)
    assert (refusal.field, refusal.limit) == ("filled_cost", Decimal(3150))


def test_a_cumulative_fee_that_shrinks_is_refused() -> None:
    order = report(order_in(), "0.07", "3150", fee="5.04").unwrap().order

    refusal = report(order, "0.08", "3600", fee="5").failure()

    assert isinstance(refusal, InvalidValue)
    assert (refusal.field, refusal.actual, refusal.limit) == ("fee", Decimal(5), Decimal("5.04"))


@pytest.mark.parametrize(("size", "cost"), [("-0.01", "0"), ("0.01", "-1")])
def test_a_negative_cumulative_volume_or_cost_is_refused(size: str, cost: str) -> None:
    refusal = report(order_in(), size, cost).failure()

    assert isinstance(refusal, InvalidValue)
    assert refusal.reason == "must not be negative"


def test_a_cumulative_fee_charged_in_base_is_kept_in_base() -> None:
    step = report(order_in(), "0.07", "3150", fee="0.000112", fee_currency=FeeCurrency.BASE)

    order = step.unwrap().order
    assert (order.fee_base, order.fee_quote) == (Decimal("0.000112"), Decimal(0))
    assert order.fills["o-1:exec:0.07"].fee_currency is FeeCurrency.BASE


def test_the_filled_cost_is_exactly_the_reported_cost_even_when_the_price_is_not() -> None:
    order = report(order_in(size="1"), "0.3", "100").unwrap().order

    assert order.filled_cost == Decimal(100)
    assert order.fills["o-1:exec:0.3"].price == Decimal("333.3333333333333333333333333")


def test_a_cumulative_report_after_a_cancel_applies_the_late_volume() -> None:
    step = report(order_in(OrderStatus.CANCELLED), "0.07", "3150").unwrap()

    assert step.order.status is OrderStatus.CANCELLED
    assert step.order.filled_size == Decimal("0.07")


def test_a_cumulative_report_can_carry_the_exchange_trade_id() -> None:
    order = report(order_in(), "0.07", "3150", trade_id="TCCCTY-WE2O6-P3NB37").unwrap().order

    assert list(order.fills.keys()) == ["TCCCTY-WE2O6-P3NB37"]


def test_an_empty_report_on_an_order_not_yet_sent_changes_nothing() -> None:
    order = order_in(OrderStatus.PENDING)

    step = report(order, "0", "0").unwrap()

    assert step.order is order


def test_executed_volume_on_an_order_not_yet_sent_is_an_illegal_transition() -> None:
    refusal = report(order_in(OrderStatus.PENDING), "0.07", "3150").failure()

    assert isinstance(refusal, IllegalTransition)
    assert (refusal.limit, refusal.actual) == ("pending", "partial_fill")
