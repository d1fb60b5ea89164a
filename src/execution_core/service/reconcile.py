# Rule of this module: reconciliation is a PURE function of what we stored and what the exchange
# reports. No I/O, no clock (`at` is an argument), no mutation: it returns the orders after the
# report, the new fills and the events, and the manager commits and acts on them. Applying the
# same report twice changes nothing the second time (fills are keyed by trade id, cumulative
# volumes never go back), so a duplicated or delayed report is harmless.
"""Reconciliation: from exchange reports to order transitions, new fills and events.

`reconcile_order(order, report, at=...)` brings one order up to date with one `OrderReport`:

1. a report about an order still PENDING means it was sent after all: SUBMITTED first;
2. the exchange's id is recorded (SUBMITTED -> OPEN, or kept after fills / a cancel); a
   report that executed more than our recorded size, within its own size, means an amendment
   down did not take effect as recorded: the exchange's size is taken (a reported size is
   otherwise ignored, so a stale report cannot undo an amendment);
3. executions: per trade when the report lists trades (each keyed by its trade id), topped up
   by the cumulative volume for anything the trade list does not cover; by cumulative volume
   only (`apply_executed_volume`) when it lists none, or when this order was already fed
   cumulatively (mixing both ways would count a trade twice);
4. the terminal status last, so a fill that raced a cancel is applied before the cancel: a
   canceled or expired report with `filled_size > 0` leaves a cancelled / expired order with its
   fills; a closed report with volume left unfilled (an IOC remainder) cancels the rest.

A report older than what was applied (a lower cumulative volume) is ignored whole. What the state
machine refuses becomes an event, never an exception: `TransitionRefused`, `OverfillDetected`, or
`OrderNeedsReconciliation` for an inconsistent report.

`reconcile(stored, reports, open_exchange_orders, at=..., unknown_order_policy=...)` does it for
the whole book at start and on demand, and says what needs I/O: orders the reports do not cover
(a targeted `find_order` by client id), exchange orders we have no record of (reported, or
cancelled / adopted by policy) and orders we gave up on that are alive at the exchange.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from execution_core.config import UnknownOrderPolicy
from execution_core.domain import order_states
from execution_core.domain.enums import OrderRole, OrderStatus, TimeInForce
from execution_core.domain.events import (
    AlertRaised,
    Event,
    OrderAmended,
    OrderFilled,
    OrderNeedsReconciliation,
)
from execution_core.domain.numbers import ZERO
from execution_core.domain.orders import Fill, Order
from execution_core.domain.refusals import IllegalTransition, Overfill, Refusal
from execution_core.ports import OrderReport, ReportedStatus

_PENDING = OrderStatus.PENDING
_CLOSED = ReportedStatus.CLOSED
_CANCELED = ReportedStatus.CANCELED
_EXPIRED = ReportedStatus.EXPIRED


@attrs.frozen(kw_only=True)
class OrderUpdate:
    """One order brought up to date: before, after, the new fills and the events, in order.

    `after_fill[k]` is the order just after `fills[k]`, and `fill_events[k]` the index in
    `events` of that fill's `OrderFilled`: `truncated(k)` is the update as if only the first
    `k` fills had arrived (what to store when passing fill `k` on failed).
    """

    previous: Order
    order: Order
    fills: tuple[Fill, ...] = ()
    events: tuple[Event, ...] = ()
    after_fill: tuple[Order, ...] = ()
    fill_events: tuple[int, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether anything is to be stored (a new state, a new fill or an event)."""
        return bool(self.events) or self.order is not self.previous

    def truncated(self, count: int) -> OrderUpdate:
        """This update cut just before fill number `count` (0-based): nothing from it on."""
        if count >= len(self.fills):
            return self
        order = self.previous if count == 0 else self.after_fill[count - 1]
        return OrderUpdate(
            previous=self.previous,
            order=order,
            fills=self.fills[:count],
            events=self.events[: self.fill_events[count]],
            after_fill=self.after_fill[:count],
            fill_events=self.fill_events[:count],
        )


def reconcile_order(order: Order, report: OrderReport, *, at: datetime) -> OrderUpdate:  # noqa: C901 - the four steps above, in one flat pass
    """`order` after `report`: the transitions, the new fills and the events they produced."""
    if report.filled_size < order.filled_size:
        return OrderUpdate(previous=order, order=order)  # an older report: nothing new in it
    current = order
    events: list[Event] = []
    fills: list[Fill] = []

    after_fill: list[Order] = []
    fill_events: list[int] = []

    def step(result: Result[order_states.OrderTransition, Refusal]) -> None:
        nonlocal current
        match result:
            case Success(done):
                if done.order is not current:
                    current = done.order
                    for event in done.events:
                        if isinstance(event, OrderFilled):
                            fills.append(event.fill)
                            after_fill.append(current)
                            fill_events.append(len(events))
                        events.append(event)
            case Failure(refusal):
                events.append(_refusal_event(current, refusal, at))

    if current.status is _PENDING:
        step(order_states.submit(current, at=at))
    exchange_id = report.exchange_order_id
    if exchange_id and current.exchange_order_id != exchange_id:
        step(order_states.accept(current, exchange_order_id=exchange_id, at=at))
    if report.filled_size > current.size and report.size >= report.filled_size > ZERO:
        # The exchange executed more than the size we recorded: our amendment down did not
        # take effect as recorded (the order had filled meanwhile). Its size wins.
        current = attrs.evolve(current, size=report.size, updated_at=at)
        events.append(
            OrderAmended(
                order_id=current.id,
                size=report.size,
                price=current.price,
                trigger_price=current.trigger_price,
                at=at,
            )
        )
    if report.trades and not _fed_cumulatively(current):
        for trade in report.trades:
            step(order_states.apply_fill(current, trade.to_fill(current), at=at))
    if report.filled_size > current.filled_size:
        step(
            order_states.apply_executed_volume(
                current,
                filled_size=report.filled_size,
                filled_cost=report.filled_cost,
                fee=report.fee,
                fee_currency=report.fee_currency,
                at=at,
            )
        )
    if report.is_closed and not current.status.is_terminal:
        status = report.status
        if status is _EXPIRED:
            step(order_states.expire(current, at=at))
        elif status is _CANCELED or (status is _CLOSED and current.filled_size < current.size):
            reason = report.reason or (
                "cancelled at the exchange" if status is _CANCELED else "closed with a remainder"
            )
            step(order_states.cancel(current, reason=reason, at=at))
    return OrderUpdate(
        previous=order,
        order=current,
        fills=tuple(fills),
        events=tuple(events),
        after_fill=tuple(after_fill),
        fill_events=tuple(fill_events),
    )


def _fed_cumulatively(order: Order) -> bool:
    prefix = f"{order.id}:exec:"
    return any(trade_id.startswith(prefix) for trade_id in order.fills)


def _refusal_event(order: Order, refusal: Refusal, at: datetime) -> Event:
    match refusal:
        case IllegalTransition():
            return order_states.transition_refused(refusal, at=at)
        case Overfill():
            return order_states.overfill_detected(refusal, at=at)
        case _:
            return OrderNeedsReconciliation(order_id=order.id, reason=refusal.message, at=at)


# --------------------------------------------------------------------------- the whole book
@attrs.frozen(kw_only=True)
class ReconciliationPlan:
    """What `reconcile` found, and what the manager must do about it.

    - `updates`: stored orders the reports changed (commit them, feed their fills on);
    - `lookups`: stored open orders no report covers: look each up by client id (`find_order`);
    - `unknown`: open exchange orders we have no record of;
    - `to_cancel`: exchange orders to cancel: unknown ones under the CANCEL policy, and orders of
      ours we already consider finished that are still alive at the exchange;
    - `adopted`: unknown orders taken over under the ADOPT policy (already reconciled);
    - `events`: what the plan itself reports (alerts about unknown or zombie orders).
    """

    updates: tuple[OrderUpdate, ...] = ()
    lookups: tuple[Order, ...] = ()
    unknown: tuple[OrderReport, ...] = ()
    to_cancel: tuple[OrderReport, ...] = ()
    adopted: tuple[OrderUpdate, ...] = ()
    events: tuple[Event, ...] = ()


def reconcile(  # noqa: C901 - one pass over ours, one over theirs
    stored_orders: Iterable[Order],
    reports_by_exchange_id: Mapping[str, OrderReport],
    open_exchange_orders: Iterable[OrderReport],
    *,
    at: datetime,
    unknown_order_policy: UnknownOrderPolicy,
) -> ReconciliationPlan:
    """Compare the stored orders with the exchange's reports: a plan, computed without I/O.

    `stored_orders` may include terminal orders: they are not reconciled, but an open exchange
    order carrying one of their ids is recognised as ours (and, being alive although we consider
    it finished, it is reconciled and cancelled).
    """
    stored = list(stored_orders)
    open_reports = list(open_exchange_orders)
    open_by_exchange_id = {report.exchange_order_id: report for report in open_reports}
    open_by_client_id = {
        report.client_order_id: report for report in open_reports if report.client_order_id
    }
    updates: list[OrderUpdate] = []
    lookups: list[Order] = []
    to_cancel: list[OrderReport] = []
    events: list[Event] = []
    ours_exchange_ids: set[str] = set()
    ours_client_ids: set[str] = set()
    for order in stored:
        ours_client_ids.add(order.client_order_id)
        exchange_id = order.exchange_order_id
        if exchange_id is not None:
            ours_exchange_ids.add(exchange_id)
        report = _report_for(order, reports_by_exchange_id, open_by_exchange_id, open_by_client_id)
        if order.status.is_terminal:
            if report is not None and not report.is_closed:
                update = reconcile_order(order, report, at=at)
                if update.changed:
                    updates.append(update)
                to_cancel.append(report)
                events.append(
                    AlertRaised(
                        source="reconciliation",
                        severity="critical",
                        message=(
                            f"order {order.id} is {order.status} here but open at the exchange "
                            f"as {report.exchange_order_id}: cancelling it"
                        ),
                        at=at,
                    )
                )
            continue
        if report is None:
            lookups.append(order)
            continue
        update = reconcile_order(order, report, at=at)
        if update.changed:
            updates.append(update)
    unknown: list[OrderReport] = []
    adopted: list[OrderUpdate] = []
    for report in open_reports:
        if report.exchange_order_id in ours_exchange_ids or (
            report.client_order_id is not None and report.client_order_id in ours_client_ids
        ):
            continue
        unknown.append(report)
        action = {
            UnknownOrderPolicy.REPORT: "left alone (policy: report)",
            UnknownOrderPolicy.CANCEL: "cancelling it (policy: cancel)",
            UnknownOrderPolicy.ADOPT: "tracking it as ours (policy: adopt)",
        }[unknown_order_policy]
        events.append(
            AlertRaised(
                source="reconciliation",
                severity="warning",
                message=(
                    f"unknown exchange order {report.exchange_order_id} ({report.symbol} "
                    f"{report.side} {report.size}): {action}"
                ),
                at=at,
            )
        )
        if unknown_order_policy is UnknownOrderPolicy.CANCEL:
            to_cancel.append(report)
        elif unknown_order_policy is UnknownOrderPolicy.ADOPT:
            adopted.append(reconcile_order(order_from_report(report), report, at=at))
    return ReconciliationPlan(
        updates=tuple(updates),
        lookups=tuple(lookups),
        unknown=tuple(unknown),
        to_cancel=tuple(to_cancel),
        adopted=tuple(adopted),
        events=tuple(events),
    )


def _report_for(
    order: Order,
    reports_by_exchange_id: Mapping[str, OrderReport],
    open_by_exchange_id: Mapping[str, OrderReport],
    open_by_client_id: Mapping[str, OrderReport],
) -> OrderReport | None:
    exchange_id = order.exchange_order_id
    if exchange_id is not None:
        report = reports_by_exchange_id.get(exchange_id) or open_by_exchange_id.get(exchange_id)
        if report is not None:
            return report
    return open_by_client_id.get(order.client_order_id)


def order_from_report(report: OrderReport, *, order_id: str | None = None) -> Order:
    """An `Order` for an exchange order we did not create (to cancel or adopt it), SUBMITTED.

    Its id is `order_id`, else `adopted:<exchange id>`; without a client id at the exchange its
    client id is its id. `reconcile_order(order_from_report(r), r, at=...)` gives it its
    exchange id and fills.
    """
    identifier = order_id or f"adopted:{report.exchange_order_id}"
    return Order(
        id=identifier,
        client_order_id=report.client_order_id or identifier,
        symbol=report.symbol,
        side=report.side,
        order_type=report.order_type,
        size=report.size,
        price=report.limit_price,
        trigger_price=report.trigger_price,
        time_in_force=TimeInForce.GTC,
        role=OrderRole.ENTRY,
        status=OrderStatus.SUBMITTED,
        created_at=report.opened_at,
        updated_at=report.opened_at,
        reason="adopted from the exchange",
    )
