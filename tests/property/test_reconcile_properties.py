"""Properties of reconciliation: duplicated, delayed and reordered reports apply each execution
exactly once, never decrease what was filled, and never lose an order."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execution_core.config import UnknownOrderPolicy
from execution_core.domain.enums import OrderSide, OrderStatus, OrderType
from execution_core.domain.orders import Order
from execution_core.ports import OrderReport, ReportedStatus, TradeReport
from execution_core.service.reconcile import reconcile, reconcile_order

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SIZE = Decimal("1.00000000")
LOT = Decimal("0.00000001")


def base_order(order_id: str = "o-1", exchange_order_id: str | None = "X-1") -> Order:
    return Order(
        id=order_id,
        client_order_id=f"c-{order_id}",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=SIZE,
        price=Decimal(45000),
        status=OrderStatus.SUBMITTED if exchange_order_id is None else OrderStatus.OPEN,
        exchange_order_id=exchange_order_id,
    )


def cumulative(filled: Decimal, status: ReportedStatus = ReportedStatus.OPEN) -> OrderReport:
    # every unit trades at 45000 + a step per unit, so the cost grows with the volume
    return OrderReport(
        exchange_order_id="X-1",
        client_order_id="c-o-1",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        status=status,
        size=SIZE,
        filled_size=filled,
        filled_cost=filled * Decimal(45000),
        fee=filled * Decimal(18),
    )


volumes = st.lists(
    st.integers(min_value=1, max_value=100_000_000).map(lambda n: Decimal(n) * LOT),
    min_size=1,
    max_size=8,
)


@given(volumes=volumes, order=st.randoms(use_true_random=False), repeats=st.integers(1, 3))
def test_cumulative_reports_in_any_order_and_repeated_apply_the_largest_volume_once(
    volumes: list[Decimal], order: random.Random, repeats: int
) -> None:
    reports = [cumulative(v) for v in volumes for _ in range(repeats)]
    order.shuffle(reports)
    current = base_order()
    for report in reports:
        current = reconcile_order(current, report, at=AT).order
    applied = sum((f.quantity for f in current.fills.values()), Decimal(0))
    # A delayed smaller report is ignored, so the result is at least the first report's volume
    # and at most the largest; whatever it is, the fills sum to it exactly, once each.
    assert current.filled_size == applied
    assert current.filled_size <= max(volumes)
    assert current.filled_size >= reports[0].filled_size  # never below what was applied
    assert current.filled_cost == current.filled_size * Decimal(45000)
    assert current.fee_quote == current.filled_size * Decimal(18)
    # the largest report, delivered last once more, brings the order exactly to it
    final = reconcile_order(current, cumulative(max(volumes)), at=AT).order
    assert final.filled_size == max(volumes)
    assert final.status is (
        OrderStatus.FILLED if max(volumes) == SIZE else OrderStatus.PARTIALLY_FILLED
    )


@given(volumes=volumes)
def test_applying_a_report_twice_changes_nothing_the_second_time(volumes: list[Decimal]) -> None:
    current = base_order()
    for volume in sorted(volumes):
        current = reconcile_order(current, cumulative(volume), at=AT).order
        again = reconcile_order(current, cumulative(volume), at=AT)
        assert not again.changed
        assert again.fills == ()


trade_sizes = st.lists(
    st.integers(min_value=1, max_value=12_000_000).map(lambda n: Decimal(n) * LOT),
    min_size=1,
    max_size=8,
)


@given(sizes=trade_sizes, shuffle=st.randoms(use_true_random=False))
def test_trades_reported_twice_and_out_of_order_are_each_applied_once(
    sizes: list[Decimal], shuffle: random.Random
) -> None:
    trades = [
        TradeReport(
            trade_id=f"T-{n}",
            exchange_order_id="X-1",
            quantity=q,
            price=Decimal(45000),
            fee=Decimal(1),
            timestamp=AT,
        )
        for n, q in enumerate(sizes)
    ]
    current = base_order()
    # reports grow one trade at a time; each is delivered with its trades duplicated and shuffled
    for count in range(1, len(trades) + 1):
        listed = trades[:count] * 2
        shuffle.shuffle(listed)
        filled = sum((t.quantity for t in trades[:count]), Decimal(0))
        report = cumulative(filled)
        report = OrderReport(
            exchange_order_id="X-1",
            client_order_id="c-o-1",
            symbol="BTC/USDT",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            status=ReportedStatus.OPEN,
            size=SIZE,
            filled_size=filled,
            filled_cost=report.filled_cost,
            fee=Decimal(count),
            trades=tuple(listed),
        )
        current = reconcile_order(current, report, at=AT).order
    assert sorted(current.fills) == sorted(t.trade_id for t in trades)
    assert current.filled_size == sum(sizes, Decimal(0))
    assert current.fee_quote == len(trades)


@given(filled=st.integers(min_value=0, max_value=100).map(lambda n: Decimal(n) / 100))
def test_a_cancel_with_a_racing_fill_keeps_the_fill_and_completes_only_when_full(
    filled: Decimal,
) -> None:
    update = reconcile_order(base_order(), cumulative(filled, ReportedStatus.CANCELED), at=AT)
    assert update.order.filled_size == filled
    expected = OrderStatus.FILLED if filled == SIZE else OrderStatus.CANCELLED
    assert update.order.status is expected
    assert update.order.status.is_terminal


@given(
    ours=st.integers(min_value=0, max_value=6),
    acknowledged=st.integers(min_value=0, max_value=6),
    reported=st.sets(st.integers(min_value=0, max_value=6)),
    strangers=st.integers(min_value=0, max_value=4),
    policy=st.sampled_from(UnknownOrderPolicy),
)
def test_reconcile_leaves_no_stored_order_unaccounted_and_no_exchange_order_unseen(
    ours: int, acknowledged: int, reported: set[int], strangers: int, policy: UnknownOrderPolicy
) -> None:
    stored = [base_order(f"o-{n}", f"X-{n}" if n < acknowledged else None) for n in range(ours)]
    reports = {
        f"X-{n}": cumulative(Decimal("0.5")) for n in reported if n < min(ours, acknowledged)
    }
    foreign = [
        OrderReport(
            exchange_order_id=f"Y-{n}",
            client_order_id=None,
            symbol="XRP/USDT",
            side=OrderSide.SELL,
            order_type=OrderType.LIMIT,
            status=ReportedStatus.OPEN,
            size=Decimal(100),
            filled_size=Decimal(0),
            filled_cost=Decimal(0),
            fee=Decimal(0),
        )
        for n in range(strangers)
    ]
    plan = reconcile(stored, reports, foreign, at=AT, unknown_order_policy=policy)
    updated = {u.order.id for u in plan.updates}
    looked_up = {o.id for o in plan.lookups}
    # every stored open order is brought up to date by its report (each here says something
    # new) or, without one, looked up by its client id: none is dropped
    assert updated | looked_up == {o.id for o in stored}
    assert not updated & looked_up
    # every foreign open order is seen, and handled by the policy
    assert len(plan.unknown) == strangers
    assert len(plan.events) == strangers
    assert len(plan.to_cancel) == (strangers if policy is UnknownOrderPolicy.CANCEL else 0)
    assert len(plan.adopted) == (strangers if policy is UnknownOrderPolicy.ADOPT else 0)
