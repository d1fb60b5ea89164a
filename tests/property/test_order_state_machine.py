"""The order state machine, explored by a Hypothesis RuleBasedStateMachine built from the table.

One rule per event kind that appears in `TRANSITIONS`: each draws valid arguments for its event,
applies the matching transition function and checks the outcome against the table alone -- a
success exactly when the table has the (status, event) pair, landing on the table's target; a
refusal otherwise, leaving the order as it was. A new event kind in the table without an
applier here fails at import: the machine cannot silently skip it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from returns.pipeline import is_successful
from returns.result import Result

from execution_core.domain import order_states as states
from execution_core.domain.enums import OrderSide, OrderStatus, OrderType
from execution_core.domain.order_states import TRANSITIONS, OrderEventKind, OrderTransition
from execution_core.domain.orders import Fill, Order
from execution_core.domain.refusals import IllegalTransition, Overfill, Refusal

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LOT: Final = Decimal("0.01")
SIZE: Final = Decimal(1)
REACHABLE: Final = states.reachable_statuses()
TABLE_KINDS: Final = tuple(
    kind for kind in OrderEventKind if any(k is kind for _, k in TRANSITIONS)
)
EVENT_OF: Final = {
    OrderEventKind.SUBMIT: "order_submitted",
    OrderEventKind.ACCEPT: "order_accepted",
    OrderEventKind.REJECT: "order_rejected",
    OrderEventKind.PARTIAL_FILL: "order_filled",
    OrderEventKind.COMPLETE_FILL: "order_filled",
    OrderEventKind.CANCEL: "order_cancelled",
    OrderEventKind.EXPIRE: "order_expired",
    OrderEventKind.AMEND: "order_amended",
}

Outcome = Result[OrderTransition, Refusal]


def lots(amount: Decimal) -> int:
    return int(amount / LOT)


class OrderLifecycle(RuleBasedStateMachine):
    """The order under test and the model: the status the table alone says it must have."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = itertools.count(1)
        self.trade_ids = itertools.count(1)
        self.order_ids = itertools.count(1)
        self.order, self.model, self.applied = self.fresh_order()

    def fresh_order(self) -> tuple[Order, OrderStatus, list[Fill]]:
        number = next(self.order_ids)
        order = Order(
            id=f"o-{number}",
            client_order_id=f"c-{number}",
            symbol="BTC/USDT",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=SIZE,
            price=Decimal(45000),
        )
        return order, OrderStatus.PENDING, []

    # ------------------------------------------------------------------ helpers
    def now(self) -> datetime:
        return START + timedelta(seconds=next(self.clock))

    def new_fill(self, quantity: Decimal, data: st.DataObject) -> Fill:
        price = data.draw(st.integers(min_value=44000, max_value=46000), label="price")
        return Fill(
            trade_id=f"T-{next(self.trade_ids)}",
            order_id=self.order.id,
            symbol=self.order.symbol,
            side=self.order.side,
            quantity=quantity,
            price=Decimal(price),
            fee=quantity * Decimal(price) * Decimal("0.0016"),
            timestamp=self.now(),
        )

    def check(self, kind: OrderEventKind, outcome: Outcome) -> None:
        """The outcome must be exactly what the table says for (model status, kind)."""
        before = attrs.asdict(self.order, recurse=False)
        expected = TRANSITIONS.get((self.model, kind))
        if expected is None:
            assert not is_successful(outcome), f"{self.model} took {kind}: the table forbids it"
            refusal = outcome.failure()
            assert isinstance(refusal, IllegalTransition | Overfill), refusal
            if isinstance(refusal, IllegalTransition):
                assert (refusal.limit, refusal.actual) == (self.model.value, kind.value)
            assert attrs.asdict(self.order, recurse=False) == before
            return
        assert is_successful(outcome), f"{self.model} refused {kind}: {outcome.failure()}"
        step = outcome.unwrap()
        assert step.order.status is expected
        if step.events:
            assert [event.kind for event in step.events] == [EVENT_OF[kind]]
        else:
            assert step.order is self.order, "a transition without events must change nothing"
        self.order, self.model = step.order, expected

    # ------------------------------------------------------------------ one applier per kind
    def submit(self, data: st.DataObject) -> Outcome:
        del data
        return states.submit(self.order, at=self.now())

    def accept(self, data: st.DataObject) -> Outcome:
        del data
        return states.accept(self.order, exchange_order_id="OX-1", at=self.now())

    def reject(self, data: st.DataObject) -> Outcome:
        code = data.draw(st.sampled_from(["EOrder:Insufficient funds", "below_minimum_size"]))
        return states.reject(self.order, code=code, message="refused", at=self.now())

    def partial_fill(self, data: st.DataObject) -> Outcome:
        remaining = lots(self.order.remaining_size)
        quantity = data.draw(st.integers(min_value=1, max_value=remaining - 1), label="lots") * LOT
        fill = self.new_fill(quantity, data)
        return self.record(states.apply_fill(self.order, fill, at=self.now()))

    def complete_fill(self, data: st.DataObject) -> Outcome:
        fill = self.new_fill(self.order.remaining_size, data)
        return self.record(states.apply_fill(self.order, fill, at=self.now()))

    def cancel(self, data: st.DataObject) -> Outcome:
        reason = data.draw(st.sampled_from(["user request", "timeout", "stale"]))
        return states.cancel(self.order, reason=reason, at=self.now())

    def expire(self, data: st.DataObject) -> Outcome:
        del data
        return states.expire(self.order, at=self.now())

    def amend(self, data: st.DataObject) -> Outcome:
        extra = data.draw(st.integers(min_value=1, max_value=200), label="lots above filled")
        size = data.draw(st.none() | st.just(self.order.filled_size + extra * LOT), label="size")
        price = data.draw(st.none() | st.integers(44000, 46000).map(Decimal), label="price")
        return states.amend(self.order, size=size, price=price, at=self.now())

    def record(self, outcome: Outcome) -> Outcome:
        if is_successful(outcome):
            for event in outcome.unwrap().events:
                self.applied.append(event.fill)  # type: ignore[union-attr]  # only OrderFilled
        return outcome

    # ------------------------------------------------------------------ rules outside the table
    @precondition(lambda self: self.model.is_terminal)
    @rule()
    def a_new_order_starts_once_this_one_is_done(self) -> None:
        # Terminal states absorb most steps; starting over lets one run live many lifecycles.
        self.order, self.model, self.applied = self.fresh_order()

    @rule(data=st.data())
    def an_event_the_table_allows_here(self, data: st.DataObject) -> None:
        # The per-kind rules below mostly draw events the current state refuses; this one walks
        # the table's legal arrows so that deep states (late fills, amends) are reached too.
        kinds = [
            kind for kind in states.allowed_events(self.model) if BUILDABLE.get(kind, _always)(self)
        ]
        if kinds:
            kind = data.draw(st.sampled_from(kinds), label="legal event")
            self.check(kind, APPLIERS[kind](self, data))

    @precondition(lambda self: bool(self.applied))
    @rule(data=st.data())
    def the_same_trade_reported_again_changes_nothing(self, data: st.DataObject) -> None:
        fill = data.draw(st.sampled_from(self.applied), label="repeated fill")

        step = states.apply_fill(self.order, fill, at=self.now()).unwrap()

        assert step.order is self.order
        assert step.events == ()

    @rule(data=st.data())
    def a_fill_beyond_the_size_is_refused_as_overfill(self, data: st.DataObject) -> None:
        extra = data.draw(st.integers(min_value=1, max_value=100), label="lots over")
        fill = self.new_fill(self.order.remaining_size + extra * LOT, data)

        refusal = states.apply_fill(self.order, fill, at=self.now()).failure()

        assert refusal == Overfill(
            symbol="BTC/USDT",
            order_id=self.order.id,
            limit=self.order.size,
            actual=self.order.filled_size + fill.quantity,
        )

    # ------------------------------------------------------------------ invariants
    @invariant()
    def the_order_is_where_the_table_says(self) -> None:
        assert self.order.status is self.model
        assert self.model in REACHABLE

    @invariant()
    def the_executed_size_stays_within_the_order_size(self) -> None:
        assert Decimal(0) <= self.order.filled_size <= self.order.size

    @invariant()
    def the_book_is_the_sum_of_the_applied_fills(self) -> None:
        assert dict(self.order.fills.items()) == {f.trade_id: f for f in self.applied}
        assert self.order.filled_size == sum((f.quantity for f in self.applied), Decimal(0))
        assert self.order.filled_cost == sum(
            (f.quantity * f.price for f in self.applied), Decimal(0)
        )

    @invariant()
    def the_status_agrees_with_what_executed(self) -> None:
        filled, size = self.order.filled_size, self.order.size
        match self.order.status:
            case OrderStatus.PENDING | OrderStatus.SUBMITTED | OrderStatus.OPEN:
                assert filled == 0
            case OrderStatus.REJECTED:
                assert filled == 0
            case OrderStatus.PARTIALLY_FILLED:
                assert 0 < filled < size
            case OrderStatus.FILLED:
                assert filled == size
            case OrderStatus.CANCELLED | OrderStatus.EXPIRED:
                assert filled < size


Applier = Callable[[OrderLifecycle, st.DataObject], Outcome]
APPLIERS: Final[dict[OrderEventKind, Applier]] = {
    OrderEventKind.SUBMIT: OrderLifecycle.submit,
    OrderEventKind.ACCEPT: OrderLifecycle.accept,
    OrderEventKind.REJECT: OrderLifecycle.reject,
    OrderEventKind.PARTIAL_FILL: OrderLifecycle.partial_fill,
    OrderEventKind.COMPLETE_FILL: OrderLifecycle.complete_fill,
    OrderEventKind.CANCEL: OrderLifecycle.cancel,
    OrderEventKind.EXPIRE: OrderLifecycle.expire,
    OrderEventKind.AMEND: OrderLifecycle.amend,
}


def _always(machine: OrderLifecycle) -> bool:
    del machine
    return True


# Whether the event can be built at all right now (not whether it is legal: the table says that).
BUILDABLE: Final[dict[OrderEventKind, Callable[[OrderLifecycle], bool]]] = {
    OrderEventKind.PARTIAL_FILL: lambda machine: machine.order.remaining_size >= 2 * LOT,
    OrderEventKind.COMPLETE_FILL: lambda machine: machine.order.remaining_size > 0,
}


def _event_rule(kind: OrderEventKind) -> Callable[..., None]:
    applier = APPLIERS[kind]  # a KeyError here: a kind in the table that the machine lacks

    def apply_event(self: OrderLifecycle, data: st.DataObject) -> None:
        self.check(kind, applier(self, data))

    apply_event.__name__ = f"event_{kind.value}"
    generated = rule(data=st.data())(apply_event)
    buildable = BUILDABLE.get(kind)
    return generated if buildable is None else precondition(buildable)(generated)


for _kind in TABLE_KINDS:
    setattr(OrderLifecycle, f"event_{_kind.value}", _event_rule(_kind))

TestOrderLifecycle = OrderLifecycle.TestCase


def test_the_machine_has_one_generated_rule_per_event_kind_of_the_table() -> None:
    generated = {name for name in vars(OrderLifecycle) if name.startswith("event_")}

    assert generated == {f"event_{kind.value}" for _, kind in TRANSITIONS}
    assert set(TABLE_KINDS) == set(OrderEventKind)
