"""The order state machine: the table, every transition and every refusal of it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import attrs
import immutables
import pytest

from execution_core.domain import order_states as states
from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from execution_core.domain.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    TransitionRefused,
)
from execution_core.domain.order_states import OrderEventKind, OrderTransition
from execution_core.domain.orders import Fill, Order
from execution_core.domain.refusals import IllegalTransition, InvalidValue

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
DOC = Path(__file__).resolve().parents[2] / "docs" / "order-lifecycle.md"


def new_order(**changes: object) -> Order:
    fields: dict[str, object] = {
        "id": "o-1",
        "client_order_id": "c-1",
        "symbol": "BTC/USDT",
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "size": Decimal("0.1"),
        "price": Decimal(45000),
        "created_at": AT,
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]  # test factory: kwargs checked by attrs


def fill(
    quantity: str, trade_id: str = "T-1", price: str = "45000", side: OrderSide = OrderSide.BUY
) -> Fill:
    return Fill(
        trade_id=trade_id,
        order_id="o-1",
        symbol="BTC/USDT",
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal("0.5"),
        timestamp=AT,
    )


def order_in(status: OrderStatus, **changes: object) -> Order:
    """An order brought to `status` through the transitions themselves, as in real life."""
    order = new_order(**changes)
    submitted = states.submit(order, at=AT).unwrap().order
    opened = states.accept(submitted, exchange_order_id="OX-1", at=AT).unwrap().order
    reached = {
        OrderStatus.PENDING: order,
        OrderStatus.SUBMITTED: submitted,
        OrderStatus.OPEN: opened,
        OrderStatus.PARTIALLY_FILLED: states.apply_fill(
            opened, fill("0.07", side=order.side), at=AT
        )
        .unwrap()
        .order,
        OrderStatus.FILLED: states.apply_fill(opened, fill("0.1", side=order.side), at=AT)
        .unwrap()
        .order,
        OrderStatus.CANCELLED: states.cancel(opened, reason="user request", at=AT).unwrap().order,
        OrderStatus.EXPIRED: states.expire(opened, at=AT).unwrap().order,
        OrderStatus.REJECTED: states.reject(submitted, code="EOrder:Rejected", message="no", at=AT)
        .unwrap()
        .order,
    }
    assert reached[status].status is status
    return reached[status]


def illegal(result: object) -> IllegalTransition:
    failure = result.failure()  # type: ignore[attr-defined]  # any Result of a transition
    assert isinstance(failure, IllegalTransition)
    return failure


# --------------------------------------------------------------------------- the table
MISSING = [
    (status, kind)
    for status in OrderStatus
    for kind in OrderEventKind
    if (status, kind) not in states.TRANSITIONS
]


@pytest.mark.parametrize(("status", "kind"), MISSING, ids=[f"{s}-{k}" for s, k in MISSING])
def test_every_pair_missing_from_the_table_is_an_illegal_transition_naming_state_and_event(
    status: OrderStatus, kind: OrderEventKind
) -> None:
    order = order_in(status)

    refusal = illegal(states.transition(order, kind))

    assert (refusal.order_id, refusal.limit, refusal.actual) == ("o-1", status.value, kind.value)
    assert refusal.message == f"BTC/USDT: order o-1 in state {status} cannot take {kind}"


@pytest.mark.parametrize(
    ("status", "kind"), list(states.TRANSITIONS), ids=[f"{s}-{k}" for s, k in states.TRANSITIONS]
)
def test_every_pair_in_the_table_leads_to_its_target(
    status: OrderStatus, kind: OrderEventKind
) -> None:
    assert states.transition(order_in(status), kind).unwrap() is states.TRANSITIONS[status, kind]
    assert states.next_status(status, kind) is states.TRANSITIONS[status, kind]


def test_the_table_reaches_every_status_from_pending() -> None:
    assert states.reachable_statuses() == frozenset(OrderStatus)


def test_nothing_leaves_a_rejected_order() -> None:
    assert states.allowed_events(OrderStatus.REJECTED) == ()
    assert states.reachable_statuses(OrderStatus.REJECTED) == {OrderStatus.REJECTED}


def test_a_filled_order_only_records_a_late_acknowledgement() -> None:
    assert states.allowed_events(OrderStatus.FILLED) == (OrderEventKind.ACCEPT,)


def test_a_pending_order_can_be_sent_refused_dropped_or_edited() -> None:
    assert states.allowed_events(OrderStatus.PENDING) == (
        OrderEventKind.SUBMIT,
        OrderEventKind.REJECT,
        OrderEventKind.CANCEL,
        OrderEventKind.AMEND,
    )


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        states.TRANSITIONS[OrderStatus.REJECTED, OrderEventKind.SUBMIT] = (  # type: ignore[index]
            OrderStatus.SUBMITTED
        )


# --------------------------------------------------------------------------- submit
def test_submitting_a_pending_order_makes_it_submitted_and_records_the_client_id() -> None:
    order = new_order()

    step = states.submit(order, at=LATER).unwrap()

    assert step.order.status is OrderStatus.SUBMITTED
    assert step.order.updated_at == LATER
    assert step.events == (OrderSubmitted(order_id="o-1", client_order_id="c-1", at=LATER),)
    assert order.status is OrderStatus.PENDING


def test_submitting_an_order_twice_is_an_illegal_transition() -> None:
    refusal = illegal(states.submit(order_in(OrderStatus.SUBMITTED), at=AT))

    assert (refusal.limit, refusal.actual) == ("submitted", "submit")


def test_an_order_without_a_client_order_id_is_never_sent() -> None:
    refusal = states.submit(new_order(client_order_id=""), at=AT).failure()

    assert isinstance(refusal, InvalidValue)
    assert refusal.field == "client_order_id"


# --------------------------------------------------------------------------- accept
def test_accepting_a_submitted_order_opens_it_with_the_exchange_order_id() -> None:
    step = states.accept(order_in(OrderStatus.SUBMITTED), exchange_order_id="OX-9", at=LATER)

    transition = step.unwrap()
    assert transition.order.status is OrderStatus.OPEN
    assert transition.order.exchange_order_id == "OX-9"
    assert transition.events == (OrderAccepted(order_id="o-1", exchange_order_id="OX-9", at=LATER),)


def test_a_repeated_acknowledgement_with_the_same_id_changes_nothing() -> None:
    order = order_in(OrderStatus.OPEN)

    step = states.accept(order, exchange_order_id="OX-1", at=LATER).unwrap()

    assert step.order is order
    assert step.events == ()


def test_an_acknowledgement_with_another_exchange_id_is_refused() -> None:
    refusal = states.accept(order_in(OrderStatus.OPEN), exchange_order_id="OX-2", at=AT).failure()

    assert isinstance(refusal, InvalidValue)
    assert (refusal.field, refusal.actual, refusal.limit) == ("exchange_order_id", "OX-2", "OX-1")


def test_an_empty_exchange_order_id_is_refused() -> None:
    refusal = states.accept(order_in(OrderStatus.SUBMITTED), exchange_order_id="", at=AT).failure()

    assert isinstance(refusal, InvalidValue)
    assert refusal.reason == "must not be empty"


def test_an_acknowledgement_after_the_first_fill_records_the_id_and_keeps_the_fill() -> None:
    submitted = order_in(OrderStatus.SUBMITTED)
    filled_first = states.apply_fill(submitted, fill("0.07"), at=AT).unwrap().order

    step = states.accept(filled_first, exchange_order_id="OX-7", at=LATER).unwrap()

    assert step.order.status is OrderStatus.PARTIALLY_FILLED
    assert step.order.exchange_order_id == "OX-7"
    assert step.order.filled_size == Decimal("0.07")
    assert [event.kind for event in step.events] == ["order_accepted"]


def test_an_acknowledgement_after_a_cancel_records_the_id_and_keeps_the_order_cancelled() -> None:
    cancelled = states.cancel(order_in(OrderStatus.SUBMITTED), reason="timeout", at=AT)

    step = states.accept(cancelled.unwrap().order, exchange_order_id="OX-3", at=LATER).unwrap()

    assert step.order.status is OrderStatus.CANCELLED
    assert step.order.exchange_order_id == "OX-3"


def test_a_rejected_order_cannot_be_acknowledged() -> None:
    refusal = illegal(
        states.accept(order_in(OrderStatus.REJECTED), exchange_order_id="OX-1", at=AT)
    )

    assert (refusal.limit, refusal.actual) == ("rejected", "accept")


def test_an_order_never_sent_cannot_be_acknowledged() -> None:
    refusal = illegal(states.accept(new_order(), exchange_order_id="OX-1", at=AT))

    assert (refusal.limit, refusal.actual) == ("pending", "accept")


# --------------------------------------------------------------------------- reject
def test_an_exchange_rejection_makes_a_submitted_order_rejected_with_its_code() -> None:
    step = states.reject(
        order_in(OrderStatus.SUBMITTED),
        code="EOrder:Insufficient funds",
        message="not enough USDT",
        at=LATER,
    ).unwrap()

    assert step.order.status is OrderStatus.REJECTED
    assert step.order.reason == "EOrder:Insufficient funds: not enough USDT"
    assert step.events == (
        OrderRejected(
            order_id="o-1", code="EOrder:Insufficient funds", message="not enough USDT", at=LATER
        ),
    )


def test_the_planner_may_reject_an_order_before_it_is_sent() -> None:
    step = states.reject(new_order(), code="below_minimum_size", message="too small", at=AT)

    assert step.unwrap().order.status is OrderStatus.REJECTED


def test_an_acknowledged_order_cannot_be_rejected() -> None:
    refusal = illegal(states.reject(order_in(OrderStatus.OPEN), code="x", message="y", at=AT))

    assert (refusal.limit, refusal.actual) == ("open", "reject")


# --------------------------------------------------------------------------- cancel
def test_cancelling_an_open_order_records_the_reason() -> None:
    step = states.cancel(order_in(OrderStatus.OPEN), reason="user request", at=LATER).unwrap()

    assert step.order.status is OrderStatus.CANCELLED
    assert step.order.reason == "user request"
    assert step.events == (
        OrderCancelled(order_id="o-1", filled_size=Decimal(0), reason="user request", at=LATER),
    )


def test_cancelling_a_partially_filled_order_keeps_what_executed() -> None:
    step = states.cancel(order_in(OrderStatus.PARTIALLY_FILLED), reason="stale", at=AT).unwrap()

    assert step.order.status is OrderStatus.CANCELLED
    assert step.order.filled_size == Decimal("0.07")
    assert step.order.filled_cost == Decimal("3150.00")
    assert "T-1" in step.order.fills
    event = step.events[0]
    assert isinstance(event, OrderCancelled)
    assert event.filled_size == Decimal("0.07")


def test_a_submitted_order_whose_outcome_is_unknown_can_be_cancelled() -> None:
    step = states.cancel(order_in(OrderStatus.SUBMITTED), reason="timeout", at=AT)

    assert step.unwrap().order.status is OrderStatus.CANCELLED


def test_a_pending_order_can_be_dropped_before_it_is_sent() -> None:
    step = states.cancel(new_order(), reason="proposal withdrawn", at=AT)

    assert step.unwrap().order.status is OrderStatus.CANCELLED


def test_a_filled_order_cannot_be_cancelled() -> None:
    refusal = illegal(states.cancel(order_in(OrderStatus.FILLED), reason="late", at=AT))

    assert refusal.message == "BTC/USDT: order o-1 in state filled cannot take cancel"


def test_cancelling_an_order_twice_is_an_illegal_transition() -> None:
    refusal = illegal(states.cancel(order_in(OrderStatus.CANCELLED), reason="again", at=AT))

    assert (refusal.limit, refusal.actual) == ("cancelled", "cancel")


# --------------------------------------------------------------------------- expire
def test_an_open_order_expires() -> None:
    step = states.expire(order_in(OrderStatus.OPEN), at=LATER).unwrap()

    assert step.order.status is OrderStatus.EXPIRED
    assert step.events == (OrderExpired(order_id="o-1", filled_size=Decimal(0), at=LATER),)


def test_a_partially_filled_order_expires_keeping_what_executed() -> None:
    step = states.expire(order_in(OrderStatus.PARTIALLY_FILLED), at=AT).unwrap()

    assert step.order.status is OrderStatus.EXPIRED
    assert step.order.filled_size == Decimal("0.07")


def test_a_submitted_order_found_expired_by_reconciliation_expires() -> None:
    assert states.expire(order_in(OrderStatus.SUBMITTED), at=AT).unwrap().order.status is (
        OrderStatus.EXPIRED
    )


def test_an_order_never_sent_cannot_expire() -> None:
    refusal = illegal(states.expire(new_order(), at=AT))

    assert (refusal.limit, refusal.actual) == ("pending", "expire")


# --------------------------------------------------------------------------- amend
def test_amending_an_open_limit_order_changes_size_and_price_and_records_the_event() -> None:
    order = order_in(OrderStatus.OPEN)

    step = states.amend(order, size=Decimal("0.2"), price=Decimal(44900), at=LATER).unwrap()

    assert (step.order.size, step.order.price) == (Decimal("0.2"), Decimal(44900))
    assert step.order.status is OrderStatus.OPEN
    assert step.order.exchange_order_id == "OX-1"
    assert step.events == (
        OrderAmended(
            order_id="o-1", size=Decimal("0.2"), price=Decimal(44900), trigger_price=None, at=LATER
        ),
    )


def test_amending_a_partially_filled_order_keeps_its_status_and_fills() -> None:
    order = order_in(OrderStatus.PARTIALLY_FILLED)

    step = states.amend(order, size=Decimal("0.08"), at=AT).unwrap()

    assert step.order.status is OrderStatus.PARTIALLY_FILLED
    assert step.order.size == Decimal("0.08")
    assert step.order.fills == order.fills
    assert step.order.remaining_size == Decimal("0.01")


def test_a_pending_order_can_be_edited_before_it_is_sent() -> None:
    step = states.amend(new_order(), size=Decimal("0.05"), at=AT).unwrap()

    assert (step.order.status, step.order.size) == (OrderStatus.PENDING, Decimal("0.05"))


def test_an_amended_size_below_the_filled_size_is_refused() -> None:
    refusal = states.amend(
        order_in(OrderStatus.PARTIALLY_FILLED), size=Decimal("0.05"), at=AT
    ).failure()

    assert isinstance(refusal, InvalidValue)
    assert (refusal.field, refusal.actual, refusal.limit) == (
        "size",
        Decimal("0.05"),
        Decimal("0.07"),
    )


def test_an_amended_size_equal_to_the_filled_size_is_refused_as_it_should_be_a_cancel() -> None:
    refusal = states.amend(
        order_in(OrderStatus.PARTIALLY_FILLED), size=Decimal("0.07"), at=AT
    ).failure()

    assert isinstance(refusal, InvalidValue)
    assert "cancel the order" in refusal.message


def test_a_zero_size_is_refused_on_an_order_with_nothing_filled() -> None:
    refusal = states.amend(order_in(OrderStatus.OPEN), size=Decimal(0), at=AT).failure()

    assert isinstance(refusal, InvalidValue)
    assert refusal.field == "size"


def test_a_trigger_price_cannot_be_set_on_a_plain_limit_order() -> None:
    refusal = states.amend(order_in(OrderStatus.OPEN), trigger_price=Decimal(44000), at=AT)

    failure = refusal.failure()
    assert isinstance(failure, InvalidValue)
    assert (failure.field, failure.reason) == ("trigger_price", "cannot be set on a limit order")


def test_a_limit_price_cannot_be_set_on_a_stop_loss_that_has_none() -> None:
    stop = order_in(
        OrderStatus.OPEN, order_type=OrderType.STOP_LOSS, price=None, trigger_price=Decimal(44500)
    )

    failure = states.amend(stop, price=Decimal(44400), at=AT).failure()

    assert isinstance(failure, InvalidValue)
    assert failure.field == "price"


def test_a_stop_loss_trigger_can_be_tightened() -> None:
    stop = order_in(
        OrderStatus.OPEN,
        side=OrderSide.SELL,
        order_type=OrderType.STOP_LOSS,
        price=None,
        trigger_price=Decimal(44500),
        role=OrderRole.STOP_LOSS,
    )

    step = states.amend(stop, trigger_price=Decimal("44748.25"), at=AT).unwrap()

    assert step.order.trigger_price == Decimal("44748.25")
    assert step.order.price is None


@pytest.mark.parametrize("price", [Decimal(0), Decimal(-1)])
def test_a_limit_price_that_is_not_positive_is_refused(price: Decimal) -> None:
    failure = states.amend(order_in(OrderStatus.OPEN), price=price, at=AT).failure()

    assert isinstance(failure, InvalidValue)
    assert (failure.field, failure.actual) == ("price", price)


def test_amending_to_the_current_values_changes_nothing() -> None:
    order = order_in(OrderStatus.OPEN)

    step = states.amend(order, size=Decimal("0.1"), price=Decimal(45000), at=LATER).unwrap()

    assert step.order is order
    assert step.events == ()


def test_an_order_whose_outcome_is_unknown_cannot_be_amended() -> None:
    refusal = illegal(states.amend(order_in(OrderStatus.SUBMITTED), size=Decimal("0.2"), at=AT))

    assert (refusal.limit, refusal.actual) == ("submitted", "amend")


def test_a_filled_order_cannot_be_amended() -> None:
    refusal = illegal(states.amend(order_in(OrderStatus.FILLED), size=Decimal("0.2"), at=AT))

    assert (refusal.limit, refusal.actual) == ("filled", "amend")


# --------------------------------------------------------------------------- refusals as events
def test_an_illegal_transition_is_recorded_as_a_transition_refused_event() -> None:
    refusal = illegal(states.cancel(order_in(OrderStatus.FILLED), reason="late", at=AT))

    event = states.transition_refused(refusal, at=LATER)

    assert event == TransitionRefused(
        order_id="o-1", status=OrderStatus.FILLED, event="cancel", at=LATER
    )


def test_a_refused_transition_leaves_the_order_as_it_was() -> None:
    order = order_in(OrderStatus.FILLED)
    before = attrs.asdict(order, recurse=False)

    states.cancel(order, reason="late", at=LATER)

    assert attrs.asdict(order, recurse=False) == before


# --------------------------------------------------------------------------- the fast paths
def every_field_set(**changes: object) -> Order:
    """An order whose every field differs from its default (or `changes`, where given)."""
    fields: dict[str, object] = {
        "id": "o-9",
        "client_order_id": "c-9",
        "symbol": "XRP/BTC",
        "side": OrderSide.SELL,
        "order_type": OrderType.STOP_LOSS_LIMIT,
        "size": Decimal(100),
        "price": Decimal("0.00001"),
        "trigger_price": Decimal("0.000011"),
        "time_in_force": TimeInForce.GTD,
        "expires_at": LATER,
        "leverage": Decimal(2),
        "reduce_only": True,
        "post_only": True,
        "fee_currency": FeeCurrency.BASE,
        "role": OrderRole.STOP_LOSS,
        "position_id": "p-9",
        "parent_order_id": "o-8",
        "reference_price": Decimal("0.0000105"),
        "stop_loss": Decimal("0.000012"),
        "take_profit": Decimal("0.000009"),
        "status": OrderStatus.PARTIALLY_FILLED,
        "exchange_order_id": "OX-9",
        "filled_size": Decimal(10),
        "filled_cost": Decimal("0.0001"),
        "fee_quote": Decimal("0.0000001"),
        "fee_base": Decimal("0.01"),
        "fills": immutables.Map({"T-0": fill("0.1", trade_id="T-0")}),
        "created_at": AT,
        "updated_at": AT,
        "reason": "resized",
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]  # test factory: kwargs checked by attrs


def assert_same_fields(fast: Order, expected: Order) -> None:
    # Field by field: `==` skips `fills` (eq=False), and reading a slot the fast path forgot to
    # write raises AttributeError.
    for field in attrs.fields(Order):
        assert getattr(fast, field.name) == getattr(expected, field.name), field.name
    assert type(fast) is Order
    assert fast == expected
    assert hash(fast) == hash(expected)


def test_the_order_used_by_the_fast_path_tests_sets_every_field() -> None:
    order = every_field_set()

    for field in attrs.fields(Order):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]  # attrs' Factory check
            default = default.factory()  # type: ignore[union-attr]  # narrowed just above
        assert getattr(order, field.name) != default, f"set {field.name} in every_field_set"


def test_the_fill_fast_path_copies_every_field_of_the_order() -> None:
    order = every_field_set()
    new_fill = Fill(
        trade_id="T-1",
        order_id="o-9",
        symbol="XRP/BTC",
        side=OrderSide.SELL,
        quantity=Decimal(5),
        price=Decimal("0.00001"),
        fee=Decimal("0.01"),
        fee_currency=FeeCurrency.BASE,
        liquidity=LiquidityRole.MAKER,
        timestamp=LATER,
    )

    fast = states.apply_fill(order, new_fill, at=LATER).unwrap().order

    expected = attrs.evolve(
        order,
        filled_size=Decimal(15),
        filled_cost=Decimal("0.00015"),
        fee_base=Decimal("0.02"),
        fills=order.fills.set("T-1", new_fill),
        updated_at=LATER,
    )
    assert_same_fields(fast, expected)


def test_the_executed_volume_fast_path_copies_every_field_of_the_order() -> None:
    order = every_field_set()

    fast = (
        states.apply_executed_volume(
            order,
            filled_size=Decimal(15),
            filled_cost=Decimal("0.00015"),
            fee=Decimal("0.02"),
            fee_currency=FeeCurrency.BASE,
            at=LATER,
            trade_id="T-1",
        )
        .unwrap()
        .order
    )

    expected = attrs.evolve(
        order,
        filled_size=Decimal(15),
        filled_cost=Decimal("0.00015"),
        fee_base=Decimal("0.02"),
        fills=fast.fills,
        updated_at=LATER,
    )
    assert_same_fields(fast, expected)
    assert set(fast.fills) == {"T-0", "T-1"}


def test_submit_builds_what_attrs_evolve_builds() -> None:
    # PENDING is the default status; every other field is set.
    order = attrs.evolve(every_field_set(), status=OrderStatus.PENDING)

    fast = states.submit(order, at=LATER).unwrap().order

    assert_same_fields(fast, attrs.evolve(order, status=OrderStatus.SUBMITTED, updated_at=LATER))


@pytest.mark.parametrize(
    ("status", "exchange_order_id", "after"),
    [
        (OrderStatus.SUBMITTED, None, OrderStatus.OPEN),
        (OrderStatus.PARTIALLY_FILLED, None, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.CANCELLED, None, OrderStatus.CANCELLED),
        (OrderStatus.EXPIRED, None, OrderStatus.EXPIRED),
        (OrderStatus.OPEN, "OX-old", OrderStatus.OPEN),
    ],
)
def test_accept_builds_what_attrs_evolve_builds(
    status: OrderStatus, exchange_order_id: str | None, after: OrderStatus
) -> None:
    order = attrs.evolve(every_field_set(), status=status, exchange_order_id=exchange_order_id)
    new_id = exchange_order_id or "OX-new"

    fast = states.accept(order, exchange_order_id=new_id, at=LATER).unwrap().order

    if exchange_order_id is not None:  # a repeated acknowledgement changes nothing
        assert fast is order
    expected = (
        order
        if exchange_order_id is not None
        else attrs.evolve(order, status=after, exchange_order_id=new_id, updated_at=LATER)
    )
    assert_same_fields(fast, expected)


def test_reject_builds_what_attrs_evolve_builds() -> None:
    order = attrs.evolve(every_field_set(), status=OrderStatus.SUBMITTED)

    fast = states.reject(order, code="EOrder", message="no", at=LATER).unwrap().order

    expected = attrs.evolve(
        order, status=OrderStatus.REJECTED, reason="EOrder: no", updated_at=LATER
    )
    assert_same_fields(fast, expected)


def test_cancel_builds_what_attrs_evolve_builds() -> None:
    order = every_field_set()

    fast = states.cancel(order, reason="user", at=LATER).unwrap().order

    expected = attrs.evolve(order, status=OrderStatus.CANCELLED, reason="user", updated_at=LATER)
    assert_same_fields(fast, expected)


def test_expire_builds_what_attrs_evolve_builds() -> None:
    order = every_field_set()

    fast = states.expire(order, at=LATER).unwrap().order

    assert_same_fields(fast, attrs.evolve(order, status=OrderStatus.EXPIRED, updated_at=LATER))


@pytest.mark.parametrize("event_class", [OrderSubmitted, OrderAccepted, OrderFilled])
def test_the_events_built_slot_by_slot_still_have_no_converter_validator_or_post_init(
    event_class: type,
) -> None:
    # The transitions build these three without their constructor; a rule added to one of
    # them would be skipped there: move that event back to its constructor first.
    assert [f.name for f in attrs.fields(event_class) if f.converter or f.validator] == []
    assert not hasattr(event_class, "__attrs_post_init__")
    assert not hasattr(event_class, "__attrs_pre_init__")


def test_the_hot_transition_events_are_what_their_constructors_build() -> None:
    the_fill = fill("0.1")
    built: list[tuple[OrderSubmitted | OrderAccepted | OrderFilled, ...]] = [
        (
            states._submitted("o-1", "c-1", AT),
            OrderSubmitted(order_id="o-1", client_order_id="c-1", at=AT),
        ),
        (
            states._accepted("o-1", "OX-1", AT),
            OrderAccepted(order_id="o-1", exchange_order_id="OX-1", at=AT),
        ),
        (
            states._filled("o-1", the_fill, Decimal("0.1"), OrderStatus.FILLED, AT),
            OrderFilled(
                order_id="o-1",
                fill=the_fill,
                filled_size=Decimal("0.1"),
                status=OrderStatus.FILLED,
                at=AT,
            ),
        ),
    ]
    for fast, expected in built:
        assert type(fast) is type(expected)
        assert attrs.asdict(fast, recurse=False) == attrs.asdict(expected, recurse=False)
        assert fast == expected
        assert hash(fast) == hash(expected)


def test_the_hot_transition_result_is_what_its_constructor_builds() -> None:
    order = new_order()
    events = (OrderSubmitted(order_id="o-1", client_order_id="c-1", at=AT),)

    fast = states._transition(order, events)

    expected = OrderTransition(order=order, events=events)
    assert type(fast) is OrderTransition
    assert (fast.order, fast.events) == (expected.order, expected.events)
    assert fast.order is order
    assert fast == expected


def test_a_transition_is_a_frozen_value() -> None:
    transition = OrderTransition(order=new_order())

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        transition.events = ()  # type: ignore[misc]  # the point: it is frozen


# --------------------------------------------------------------------------- the diagram
def test_the_diagram_has_one_arrow_per_source_and_target_labelled_with_the_table_events() -> None:
    arrows = re.findall(r"^    (\w+) --> (\w+) : (.+)$", states.render_mermaid(), re.MULTILINE)

    from_diagram = {
        (OrderStatus[source], OrderEventKind(kind)): OrderStatus[target]
        for source, target, kinds in arrows
        for kind in kinds.split(", ")
    }
    assert from_diagram == dict(states.TRANSITIONS)
    assert len(arrows) == len({(source, target) for source, target, _ in arrows})


def test_the_diagram_starts_at_pending_and_ends_at_the_terminal_states() -> None:
    diagram = states.render_mermaid()

    assert diagram.startswith("stateDiagram-v2\n    [*] --> PENDING\n")
    ends = set(re.findall(r"^    (\w+) --> \[\*\]$", diagram, re.MULTILINE))
    assert ends == {"FILLED", "CANCELLED", "EXPIRED", "REJECTED"}


def test_the_lifecycle_page_shows_the_diagram_and_table_generated_from_the_table() -> None:
    page = DOC.read_text(encoding="utf-8")

    assert states.docs_section(page) == states.render_docs_section(), (
        "docs/order-lifecycle.md is stale: run python -m execution_core.domain.order_states "
        "--write-docs"
    )
    assert f"```mermaid\n{states.render_mermaid()}\n```" in page


def test_refreshing_the_docs_replaces_only_the_generated_section() -> None:
    page = f"# Title\n\nbefore\n\n{states.DOCS_BEGIN}\nold diagram\n{states.DOCS_END}\n\nafter\n"

    fresh = states.with_fresh_docs_section(page)

    assert fresh == f"# Title\n\nbefore\n\n{states.render_docs_section()}\n\nafter\n"


def test_refreshing_a_page_without_the_markers_is_an_error() -> None:
    with pytest.raises(ValueError, match="no generated section"):
        states.with_fresh_docs_section("# Title\n")


def test_running_the_module_prints_the_diagram(capsys: pytest.CaptureFixture[str]) -> None:
    assert states.main([]) == 0

    assert capsys.readouterr().out == states.render_mermaid() + "\n"


def test_running_the_module_with_write_docs_rewrites_the_page(tmp_path: Path) -> None:
    page = tmp_path / "order-lifecycle.md"
    page.write_text(f"intro\n{states.DOCS_BEGIN}\nstale\n{states.DOCS_END}\n", encoding="utf-8")

    assert states.main(["--write-docs", str(page)]) == 0

    assert page.read_text(encoding="utf-8") == f"intro\n{states.render_docs_section()}\n"
