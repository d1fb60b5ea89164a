"""Properties of fills: idempotent, never beyond the size, exact sums, monotone reports."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
from hypothesis import given
from hypothesis import strategies as st
from returns.pipeline import is_successful
from returns.result import Failure, Success

from execution_core.domain import order_states as states
from execution_core.domain.enums import FeeCurrency, OrderSide, OrderStatus, OrderType
from execution_core.domain.orders import Fill, Order
from execution_core.domain.refusals import Overfill, StaleFill

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LOT = Decimal("0.00000001")  # Kraken's BTC volume step
TICK = Decimal("0.1")


@attrs.frozen
class Trade:
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: FeeCurrency


quantities = st.integers(min_value=1, max_value=5 * 10**7).map(lambda lots: lots * LOT)
prices = st.integers(min_value=1, max_value=10**6).map(lambda ticks: ticks * TICK)
fees = st.integers(min_value=0, max_value=10**6).map(lambda units: units * Decimal("0.000001"))
trades = st.builds(
    Trade, quantity=quantities, price=prices, fee=fees, fee_currency=st.sampled_from(FeeCurrency)
)
sizes = st.integers(min_value=1, max_value=10**8).map(lambda lots: lots * LOT)
open_statuses = st.sampled_from(
    [
        OrderStatus.SUBMITTED,
        OrderStatus.OPEN,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
    ]
)


def make_order(size: Decimal, status: OrderStatus = OrderStatus.OPEN) -> Order:
    return Order(
        id="o-1",
        client_order_id="c-1",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=size,
        price=Decimal(45000),
        status=status,
    )


def as_fill(trade: Trade, index: int) -> Fill:
    return Fill(
        trade_id=f"T-{index}",
        order_id="o-1",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        quantity=trade.quantity,
        price=trade.price,
        fee=trade.fee,
        fee_currency=trade.fee_currency,
        timestamp=AT,
    )


def fill_all(order: Order, fills: list[Fill]) -> tuple[Order, list[Fill]]:
    """Apply every fill that fits; return the order and the fills that were applied."""
    applied = []
    for one in fills:
        match states.apply_fill(order, one, at=AT):
            case Success(step):
                if step.events:
                    applied.append(one)
                order = step.order
            case Failure(refusal):
                assert isinstance(refusal, Overfill), refusal
    return order, applied


def book(order: Order) -> tuple[object, ...]:
    return (
        order.status,
        order.filled_size,
        order.filled_cost,
        order.fee_quote,
        order.fee_base,
        dict(order.fills.items()),
    )


@given(size=sizes, status=open_statuses, trades=st.lists(trades, max_size=12), data=st.data())
def test_applying_any_fill_twice_is_the_same_as_applying_it_once(
    size: Decimal, status: OrderStatus, trades: list[Trade], data: st.DataObject
) -> None:
    fills = [as_fill(trade, index) for index, trade in enumerate(trades)]
    with_repeats = data.draw(st.lists(st.sampled_from(fills), max_size=12)) if fills else []
    order = make_order(size, status)

    once, applied = fill_all(order, fills)
    twice, _ = fill_all(order, fills + with_repeats)

    assert book(twice) == book(once)
    for one in fills:
        again = states.apply_fill(once, one, at=AT)
        if one in applied:
            assert again.unwrap().order is once
            assert again.unwrap().events == ()
        else:
            assert isinstance(again.failure(), Overfill)


@given(size=sizes, status=open_statuses, trades=st.lists(trades, max_size=20))
def test_the_executed_size_never_exceeds_the_order_size(
    size: Decimal, status: OrderStatus, trades: list[Trade]
) -> None:
    order = make_order(size, status)
    for index, trade in enumerate(trades):
        result = states.apply_fill(order, as_fill(trade, index), at=AT)
        would_be = order.filled_size + trade.quantity
        match result:
            case Success(step):
                assert would_be <= size
                order = step.order
            case Failure(refusal):
                assert refusal == Overfill(
                    symbol="BTC/USDT", order_id="o-1", limit=size, actual=would_be
                )
        assert Decimal(0) <= order.filled_size <= order.size


@given(size=sizes, status=open_statuses, trades=st.lists(trades, min_size=1, max_size=20))
def test_the_average_price_lies_between_the_lowest_and_highest_fill_price(
    size: Decimal, status: OrderStatus, trades: list[Trade]
) -> None:
    order, applied = fill_all(
        make_order(size, status), [as_fill(trade, i) for i, trade in enumerate(trades)]
    )

    if applied:
        assert order.average_price is not None
        assert min(f.price for f in applied) <= order.average_price <= max(f.price for f in applied)
    else:
        assert order.average_price is None


@given(size=sizes, status=open_statuses, trades=st.lists(trades, max_size=20))
def test_cost_and_fees_are_the_exact_sums_of_the_applied_fills(
    size: Decimal, status: OrderStatus, trades: list[Trade]
) -> None:
    order, applied = fill_all(
        make_order(size, status), [as_fill(trade, i) for i, trade in enumerate(trades)]
    )

    assert order.filled_size == sum((f.quantity for f in applied), Decimal(0))
    assert order.filled_cost == sum((f.quantity * f.price for f in applied), Decimal(0))
    quote = [f.fee for f in applied if f.fee_currency is FeeCurrency.QUOTE]
    base = [f.fee for f in applied if f.fee_currency is FeeCurrency.BASE]
    assert order.fee_quote == sum(quote, Decimal(0))
    assert order.fee_base == sum(base, Decimal(0))
    complete = order.filled_size == size
    assert (order.status is OrderStatus.FILLED) == complete
    if applied and not complete:
        late = status in {OrderStatus.CANCELLED, OrderStatus.EXPIRED}
        assert order.status is (status if late else OrderStatus.PARTIALLY_FILLED)


# --------------------------------------------------------------------------- cumulative reports
@attrs.frozen
class Report:
    filled_size: Decimal
    filled_cost: Decimal
    fee: Decimal


def running_reports(trades: list[Trade]) -> list[Report]:
    """The cumulative reports an exchange would send after each trade (fees in quote)."""
    reports, size, cost, fee = [], Decimal(0), Decimal(0), Decimal(0)
    for trade in trades:
        size, cost, fee = (
            size + trade.quantity,
            cost + trade.quantity * trade.price,
            fee + trade.fee,
        )
        reports.append(Report(filled_size=size, filled_cost=cost, fee=fee))
    return reports


def deliver(order: Order, report: Report) -> object:
    """The transition, or the refusal, that a cumulative report produces."""
    result = states.apply_executed_volume(
        order,
        filled_size=report.filled_size,
        filled_cost=report.filled_cost,
        fee=report.fee,
        fee_currency=FeeCurrency.QUOTE,
        at=AT,
    )
    return result.unwrap() if is_successful(result) else result.failure()


@given(trades=st.lists(trades, min_size=1, max_size=10), data=st.data())
def test_cumulative_reports_are_idempotent_and_monotone_in_any_delivery_order(
    trades: list[Trade], data: st.DataObject
) -> None:
    reports = running_reports(trades)
    size = reports[-1].filled_size
    delivered = data.draw(st.lists(st.sampled_from(reports), min_size=1, max_size=20))
    order = make_order(size)
    best: Report | None = None

    for report in delivered:
        outcome = deliver(order, report)
        if best is not None and report.filled_size < best.filled_size:
            assert outcome == StaleFill(
                symbol="BTC/USDT",
                order_id="o-1",
                limit=best.filled_size,
                actual=report.filled_size,
            )
            continue
        assert isinstance(outcome, states.OrderTransition)
        if best is not None and report.filled_size == best.filled_size:
            assert outcome.order is order
            assert outcome.events == ()
        order, best = outcome.order, report
        assert (order.filled_size, order.filled_cost, order.fee_quote) == (
            report.filled_size,
            report.filled_cost,
            report.fee,
        )

    assert best is not None
    assert sum((f.quantity for f in order.fills.values()), Decimal(0)) == best.filled_size
    assert (order.status is OrderStatus.FILLED) == (best.filled_size == size)


@given(size=sizes, trades=st.lists(trades, min_size=1, max_size=10))
def test_cumulative_reports_and_per_trade_fills_keep_the_same_book(
    size: Decimal, trades: list[Trade]
) -> None:
    quote_trades = [attrs.evolve(trade, fee_currency=FeeCurrency.QUOTE) for trade in trades]
    by_trade, applied = fill_all(
        make_order(size), [as_fill(trade, i) for i, trade in enumerate(quote_trades)]
    )
    by_report = make_order(size)
    applied_trades = [Trade(f.quantity, f.price, f.fee, f.fee_currency) for f in applied]
    for report in running_reports(applied_trades):
        outcome = deliver(by_report, report)
        assert isinstance(outcome, states.OrderTransition)
        by_report = outcome.order

    assert (by_report.status, by_report.filled_size, by_report.filled_cost) == (
        by_trade.status,
        by_trade.filled_size,
        by_trade.filled_cost,
    )
    assert (by_report.fee_quote, by_report.average_price) == (
        by_trade.fee_quote,
        by_trade.average_price,
    )
