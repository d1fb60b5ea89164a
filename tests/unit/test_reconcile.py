"""reconcile_order and reconcile: pure, idempotent, fills before the terminal status."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs

from execution_core.config import UnknownOrderPolicy
from execution_core.domain.enums import OrderSide, OrderStatus, OrderType
from execution_core.domain.events import (
    AlertRaised,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderSubmitted,
    OverfillDetected,
)
from execution_core.domain.orders import Order
from execution_core.ports import OrderReport, ReportedStatus, TradeReport
from execution_core.service.reconcile import order_from_report, reconcile, reconcile_order

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def order(
    *,
    status: OrderStatus = OrderStatus.OPEN,
    exchange_order_id: str | None = "X-1",
    order_id: str = "o-1",
) -> Order:
    return Order(
        id=order_id,
        client_order_id=f"c-{order_id}",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.1"),
        price=Decimal(45000),
        status=status,
        exchange_order_id=exchange_order_id,
    )


def report(
    *,
    status: ReportedStatus = ReportedStatus.OPEN,
    filled: str = "0",
    price: str = "45000",
    fee: str = "0",
    trades: tuple[TradeReport, ...] = (),
    exchange_order_id: str = "X-1",
    client_order_id: str | None = "c-o-1",
    size: str = "0.1",
) -> OrderReport:
    filled_size = Decimal(filled)
    return OrderReport(
        exchange_order_id=exchange_order_id,
        client_order_id=client_order_id,
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        status=status,
        size=Decimal(size),
        filled_size=filled_size,
        filled_cost=filled_size * Decimal(price),
        fee=Decimal(fee),
        trades=trades,
    )


def trade(trade_id: str, quantity: str, price: str = "45000", fee: str = "1") -> TradeReport:
    return TradeReport(
        trade_id=trade_id,
        exchange_order_id="X-1",
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        timestamp=AT,
    )


def test_an_acknowledgement_records_the_exchange_id_and_opens_the_order() -> None:
    update = reconcile_order(
        order(status=OrderStatus.SUBMITTED, exchange_order_id=None), report(), at=AT
    )
    assert update.order.status is OrderStatus.OPEN
    assert update.order.exchange_order_id == "X-1"
    assert [e.kind for e in update.events] == [OrderAccepted.kind]
    assert update.fills == ()


def test_a_cumulative_partial_fill_becomes_one_fill_of_the_executed_volume() -> None:
    update = reconcile_order(order(), report(filled="0.07", fee="12.6"), at=AT)
    assert update.order.status is OrderStatus.PARTIALLY_FILLED
    assert update.order.filled_size == Decimal("0.07")
    assert [f.quantity for f in update.fills] == [Decimal("0.07")]
    assert update.fills[0].fee == Decimal("12.6")
    assert update.fills[0].price == Decimal(45000)


def test_the_same_report_twice_changes_nothing_the_second_time() -> None:
    first = reconcile_order(order(), report(filled="0.07"), at=AT)
    second = reconcile_order(first.order, report(filled="0.07"), at=AT)
    assert not second.changed
    assert second.fills == ()
    assert second.order is first.order


def test_a_delayed_older_report_is_ignored_whole() -> None:
    later = reconcile_order(order(), report(filled="0.07"), at=AT).order
    update = reconcile_order(later, report(filled="0.03", status=ReportedStatus.OPEN), at=AT)
    assert not update.changed
    assert update.order.filled_size == Decimal("0.07")


def test_reported_trades_are_applied_per_trade_and_a_duplicate_trade_once() -> None:
    trades = (trade("T-1", "0.03"), trade("T-2", "0.04"), trade("T-1", "0.03"))
    update = reconcile_order(order(), report(filled="0.07", fee="2", trades=trades), at=AT)
    assert [f.trade_id for f in update.fills] == ["T-1", "T-2"]
    assert update.order.filled_size == Decimal("0.07")
    assert update.order.fee_quote == Decimal(2)


def test_volume_the_trade_list_does_not_cover_is_topped_up_cumulatively() -> None:
    update = reconcile_order(
        order(), report(filled="0.1", fee="3", trades=(trade("T-1", "0.03"),)), at=AT
    )
    assert update.order.status is OrderStatus.FILLED
    assert [f.quantity for f in update.fills] == [Decimal("0.03"), Decimal("0.07")]
    assert update.order.fee_quote == Decimal(3)


def test_a_cancel_that_raced_a_fill_keeps_the_fill_and_then_cancels() -> None:
    update = reconcile_order(order(), report(status=ReportedStatus.CANCELED, filled="0.07"), at=AT)
    assert update.order.status is OrderStatus.CANCELLED
    assert update.order.filled_size == Decimal("0.07")
    assert [e.kind for e in update.events] == [OrderFilled.kind, OrderCancelled.kind]


def test_a_closed_ioc_with_a_remainder_is_cancelled_with_its_fill() -> None:
    update = reconcile_order(order(), report(status=ReportedStatus.CLOSED, filled="0.04"), at=AT)
    assert update.order.status is OrderStatus.CANCELLED
    assert update.order.filled_size == Decimal("0.04")


def test_an_expired_gtd_order_expires_with_what_it_filled() -> None:
    update = reconcile_order(order(), report(status=ReportedStatus.EXPIRED, filled="0.02"), at=AT)
    assert update.order.status is OrderStatus.EXPIRED
    assert [e.kind for e in update.events] == [OrderFilled.kind, OrderExpired.kind]


def test_an_overfill_is_an_event_and_is_not_applied() -> None:
    update = reconcile_order(order(), report(filled="0.2"), at=AT)
    assert update.order.filled_size == 0
    assert [e.kind for e in update.events] == [OverfillDetected.kind]


def test_a_pending_order_found_at_the_exchange_is_submitted_then_accepted() -> None:
    update = reconcile_order(
        order(status=OrderStatus.PENDING, exchange_order_id=None), report(), at=AT
    )
    assert [e.kind for e in update.events] == [OrderSubmitted.kind, OrderAccepted.kind]
    assert update.order.status is OrderStatus.OPEN


def test_a_reported_size_never_resizes_the_order_a_stale_report_cannot_undo_an_amend() -> None:
    amended = attrs.evolve(order(), size=Decimal("0.2"))
    update = reconcile_order(amended, report(size="0.1", filled="0.05"), at=AT)
    assert update.order.size == Decimal("0.2")
    assert update.order.filled_size == Decimal("0.05")


def test_reconcile_applies_missed_fills_and_lists_vanished_orders_for_a_lookup() -> None:
    known = order()
    vanished = order(order_id="o-2", exchange_order_id="X-2")
    unacknowledged = order(order_id="o-3", exchange_order_id=None, status=OrderStatus.SUBMITTED)
    plan = reconcile(
        [known, vanished, unacknowledged],
        {"X-1": report(filled="0.05")},
        [],
        at=AT,
        unknown_order_policy=UnknownOrderPolicy.REPORT,
    )
    assert [u.order.filled_size for u in plan.updates] == [Decimal("0.05")]
    assert [o.id for o in plan.lookups] == ["o-2", "o-3"]
    assert plan.unknown == ()


def test_a_submitted_order_is_matched_to_an_open_exchange_order_by_client_id() -> None:
    pending = order(exchange_order_id=None, status=OrderStatus.SUBMITTED)
    plan = reconcile(
        [pending],
        {},
        [report(exchange_order_id="X-9", client_order_id="c-o-1")],
        at=AT,
        unknown_order_policy=UnknownOrderPolicy.CANCEL,
    )
    assert [u.order.exchange_order_id for u in plan.updates] == ["X-9"]
    assert plan.lookups == ()
    assert plan.to_cancel == ()


def test_exchange_sync_with_unknown_orders() -> None:
    """Review §5.4 #17: an open exchange order we never made follows the configured policy."""
    stranger = report(exchange_order_id="X-77", client_order_id=None)
    reported = reconcile([], {}, [stranger], at=AT, unknown_order_policy=UnknownOrderPolicy.REPORT)
    cancelled = reconcile([], {}, [stranger], at=AT, unknown_order_policy=UnknownOrderPolicy.CANCEL)
    adopted = reconcile([], {}, [stranger], at=AT, unknown_order_policy=UnknownOrderPolicy.ADOPT)

    assert reported.unknown == (stranger,)
    assert reported.to_cancel == ()
    assert isinstance(reported.events[0], AlertRaised)
    assert "X-77" in reported.events[0].message
    assert cancelled.to_cancel == (stranger,)
    assert [u.order.id for u in adopted.adopted] == ["adopted:X-77"]
    assert adopted.adopted[0].order.status is OrderStatus.OPEN


def test_an_order_we_gave_up_on_that_is_alive_at_the_exchange_is_cancelled() -> None:
    given_up = attrs.evolve(
        order(exchange_order_id=None, status=OrderStatus.SUBMITTED),
        status=OrderStatus.CANCELLED,
    )
    alive = report(exchange_order_id="X-5", client_order_id="c-o-1")
    plan = reconcile([given_up], {}, [alive], at=AT, unknown_order_policy=UnknownOrderPolicy.REPORT)
    assert plan.to_cancel == (alive,)
    assert plan.unknown == ()
    assert plan.updates[0].order.exchange_order_id == "X-5"
    assert any(isinstance(e, AlertRaised) and e.severity == "critical" for e in plan.events)


def test_an_order_built_from_a_report_carries_the_reported_shape() -> None:
    built = order_from_report(report(exchange_order_id="X-8", client_order_id=None))
    assert built.id == "adopted:X-8"
    assert built.client_order_id == "adopted:X-8"
    assert built.size == Decimal("0.1")
    assert built.status is OrderStatus.SUBMITTED


def test_an_update_truncated_before_a_fill_is_the_order_as_it_was_before_that_fill() -> None:
    trades = (trade("T-1", "0.03"), trade("T-2", "0.04"))
    update = reconcile_order(
        order(), report(status=ReportedStatus.CANCELED, filled="0.07", trades=trades), at=AT
    )
    assert [e.kind for e in update.events] == ["order_filled", "order_filled", "order_cancelled"]
    first_only = update.truncated(1)
    assert first_only.order.filled_size == Decimal("0.03")
    assert first_only.order.status is OrderStatus.PARTIALLY_FILLED
    assert [f.trade_id for f in first_only.fills] == ["T-1"]
    assert [e.kind for e in first_only.events] == ["order_filled"]
    nothing = update.truncated(0)
    assert nothing.order is update.previous
    assert nothing.events == ()
    assert not nothing.changed
    assert update.truncated(2) is update


def test_an_execution_beyond_an_amended_size_takes_the_exchanges_size() -> None:
    # we amended 0.1 down to 0.05, but 0.08 had executed meanwhile: the amendment did not hold
    amended = attrs.evolve(order(), size=Decimal("0.05"))
    update = reconcile_order(
        amended, report(status=ReportedStatus.CANCELED, filled="0.08", size="0.1"), at=AT
    )
    assert update.order.size == Decimal("0.1")
    assert update.order.filled_size == Decimal("0.08")
    assert update.order.status is OrderStatus.CANCELLED
    assert [e.kind for e in update.events] == ["order_amended", "order_filled", "order_cancelled"]
