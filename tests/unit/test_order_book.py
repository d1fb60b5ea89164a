"""OrderBook: an order is always findable, open or in the bounded history (CRITICAL-4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest

from execution_core.domain.enums import OrderRole, OrderSide, OrderStatus, OrderType
from execution_core.domain.orders import Order
from execution_core.service.order_book import OrderBook

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def order(
    order_id: str = "o-1",
    *,
    status: OrderStatus = OrderStatus.OPEN,
    exchange_order_id: str | None = "X-1",
    role: OrderRole = OrderRole.ENTRY,
    position_id: str | None = None,
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
        role=role,
        position_id=position_id,
        created_at=AT,
    )


def test_an_open_order_is_found_by_id_client_id_and_exchange_id() -> None:
    book = OrderBook()
    book.put(order())
    assert book.get("o-1") is not None
    assert book.by_client_id("c-o-1") == book.get("o-1")
    assert book.open_by_exchange_id("X-1") == book.get("o-1")
    assert book.open_exchange_ids() == ["X-1"]
    assert book.open_count == 1


def test_a_terminal_order_moves_to_the_history_in_one_step_and_stays_findable() -> None:
    book = OrderBook()
    book.put(order())
    filled = attrs.evolve(order(), status=OrderStatus.FILLED)
    book.put(filled)
    assert book.get("o-1") == filled
    assert book.open_count == 0
    assert book.history() == [filled]
    assert book.open_by_exchange_id("X-1") is None
    assert book.by_client_id("c-o-1") == filled


def test_the_history_is_bounded_and_drops_only_its_oldest_orders() -> None:
    book = OrderBook(history_size=2)
    for n in range(3):
        book.put(order(f"o-{n}", status=OrderStatus.FILLED, exchange_order_id=f"X-{n}"))
    assert book.get("o-0") is None
    assert book.by_client_id("c-o-0") is None
    assert [o.id for o in book.history()] == ["o-1", "o-2"]
    assert book.status_counts()[OrderStatus.FILLED] == 2


def test_a_late_fill_on_a_cancelled_order_replaces_it_in_the_history() -> None:
    book = OrderBook(history_size=2)
    book.put(order("o-1", status=OrderStatus.CANCELLED))
    book.put(order("o-2", status=OrderStatus.CANCELLED, exchange_order_id="X-2"))
    late = attrs.evolve(order("o-1", status=OrderStatus.CANCELLED), reason="late fill")
    book.put(late)
    assert [o.id for o in book.history()] == ["o-1", "o-2"]
    assert book.get("o-1") == late
    assert book.get("o-1") is late


def test_an_unacknowledged_order_is_listed_until_the_exchange_gives_it_an_id() -> None:
    book = OrderBook()
    book.put(order(status=OrderStatus.SUBMITTED, exchange_order_id=None))
    assert [o.id for o in book.unacknowledged()] == ["o-1"]
    book.put(order())
    assert book.unacknowledged() == []
    assert book.open_by_exchange_id("X-1") is not None


def test_contingent_orders_are_indexed_by_position_and_role_while_open() -> None:
    book = OrderBook()
    stop = order("sl", role=OrderRole.STOP_LOSS, position_id="p-1", exchange_order_id="X-2")
    target = order("tp", role=OrderRole.TAKE_PROFIT, position_id="p-1", exchange_order_id="X-3")
    book.put(stop)
    book.put(target)
    assert {o.id for o in book.open_for_position("p-1")} == {"sl", "tp"}
    assert book.open_for_position_with_role("p-1", OrderRole.STOP_LOSS) == stop
    book.put(attrs.evolve(stop, status=OrderStatus.CANCELLED))
    assert [o.id for o in book.open_for_position("p-1")] == ["tp"]
    assert book.open_for_position_with_role("p-1", OrderRole.STOP_LOSS) is None


def test_discard_forgets_an_order_whose_creation_was_never_stored() -> None:
    book = OrderBook()
    book.put(order(status=OrderStatus.PENDING, exchange_order_id=None))
    book.discard("o-1")
    assert book.get("o-1") is None
    assert book.by_client_id("c-o-1") is None
    assert book.unacknowledged() == []
    assert book.status_counts()[OrderStatus.PENDING] == 0


async def test_order_history_race_conditions() -> None:
    """A reader running beside the writers never misses an order (review CRITICAL-4)."""
    book = OrderBook(history_size=10_000)
    ids = [f"o-{n}" for n in range(500)]
    for order_id in ids:
        book.put(order(order_id, exchange_order_id=f"X-{order_id}"))
    missing: list[str] = []
    done = asyncio.Event()

    async def close_all() -> None:
        for order_id in ids:
            current = book.get(order_id)
            assert current is not None
            book.put(attrs.evolve(current, status=OrderStatus.FILLED))
            await asyncio.sleep(0)
        done.set()

    async def read_all() -> None:
        while not done.is_set():
            missing.extend(order_id for order_id in ids if book.get(order_id) is None)
            await asyncio.sleep(0)

    await asyncio.gather(close_all(), read_all())
    assert missing == []
    assert len(book.history()) == 500
    assert book.open_count == 0


def test_a_history_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="history_size"):
        OrderBook(history_size=0)
