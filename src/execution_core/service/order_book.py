# Rule of this module: an order the book was given is always findable. It is in the open set
# while its status is not terminal and in the bounded history once it is, and `put` moves it
# from one to the other in ONE synchronous step (no await, no lock, no window in which it is in
# neither: review CRITICAL-4). Only the history's oldest entries ever leave the book.
"""`OrderBook`: every order the manager knows, by id, client id and exchange id.

The open set is a dict; the history is a `deque(maxlen)` of ids (oldest first) beside a dict of
the orders themselves, so a lookup is O(1) wherever the order is. A late fill on a terminal
order replaces it in place in the history. The book also keeps the indexes the manager's hot
paths need, so nothing scans the open orders per proposal: open orders by exchange id, open
orders per position (contingent and exit orders), open orders still waiting for an exchange id.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping

from execution_core.domain.enums import OrderRole, OrderStatus
from execution_core.domain.orders import Order

DEFAULT_HISTORY_SIZE = 10_000
"""How many terminal orders the book keeps in memory (the repository keeps all of them)."""


class OrderBook:
    """The manager's in-memory orders: an open set and a bounded history."""

    def __init__(self, *, history_size: int = DEFAULT_HISTORY_SIZE) -> None:
        if history_size < 1:
            msg = f"history_size must be >= 1 (got {history_size})"
            raise ValueError(msg)
        self._open: dict[str, Order] = {}
        self._closed: dict[str, Order] = {}
        self._history: deque[str] = deque(maxlen=history_size)
        self._by_client_id: dict[str, str] = {}
        self._open_by_exchange_id: dict[str, str] = {}
        self._open_by_position: dict[str, dict[str, None]] = {}
        self._unacknowledged: dict[str, None] = {}
        self._status_counts: dict[OrderStatus, int] = dict.fromkeys(OrderStatus, 0)

    # ----------------------------------------------------------------------- writes
    def put(self, order: Order) -> Order | None:
        """Add `order` or replace the stored one with the same id; returns the previous version.

        A terminal order goes to the history (leaving the open set in the same step); a late
        change of a terminal order (a fill after a cancel) is replaced where it is.
        """
        order_id = order.id
        previous = self._open.get(order_id)
        if previous is None:
            previous = self._closed.get(order_id)
        if previous is not None:
            self._status_counts[previous.status] -= 1
            self._unindex_open(previous)
        self._status_counts[order.status] += 1
        self._by_client_id[order.client_order_id] = order_id
        if order.status.is_terminal:
            self._open.pop(order_id, None)
            if order_id not in self._closed:
                self._remember(order_id)
            self._closed[order_id] = order
        else:
            # A terminal order never comes back to the open set in the state machine; if a
            # caller does that anyway (a reload), the open version wins and the history forgets it.
            self._closed.pop(order_id, None)
            self._open[order_id] = order
            self._index_open(order)
        return previous

    def discard(self, order_id: str) -> Order | None:
        """Forget an order that was never stored nor sent (a commit of its creation failed)."""
        order = self._open.pop(order_id, None)
        if order is None:
            return None
        self._status_counts[order.status] -= 1
        self._unindex_open(order)
        if self._by_client_id.get(order.client_order_id) == order_id:
            del self._by_client_id[order.client_order_id]
        return order

    def _remember(self, order_id: str) -> None:
        history = self._history
        if len(history) == history.maxlen:
            evicted_id = history[0]
            evicted = self._closed.pop(evicted_id, None)
            if evicted is not None:
                self._status_counts[evicted.status] -= 1
                if self._by_client_id.get(evicted.client_order_id) == evicted_id:
                    del self._by_client_id[evicted.client_order_id]
        history.append(order_id)

    def _index_open(self, order: Order) -> None:
        order_id = order.id
        if order.exchange_order_id is not None:
            self._open_by_exchange_id[order.exchange_order_id] = order_id
            self._unacknowledged.pop(order_id, None)
        else:
            self._unacknowledged[order_id] = None
        position_id = order.position_id
        if position_id is not None and order.role is not OrderRole.ENTRY:
            self._open_by_position.setdefault(position_id, {})[order_id] = None

    def _unindex_open(self, order: Order) -> None:
        order_id = order.id
        exchange_id = order.exchange_order_id
        if exchange_id is not None and self._open_by_exchange_id.get(exchange_id) == order_id:
            del self._open_by_exchange_id[exchange_id]
        self._unacknowledged.pop(order_id, None)
        position_id = order.position_id
        if position_id is not None:
            orders = self._open_by_position.get(position_id)
            if orders is not None:
                orders.pop(order_id, None)
                if not orders:
                    del self._open_by_position[position_id]

    # ----------------------------------------------------------------------- reads
    def get(self, order_id: str) -> Order | None:
        """The order with this id, open or in the history."""
        order = self._open.get(order_id)
        if order is None:
            return self._closed.get(order_id)
        return order

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._open or order_id in self._closed

    def by_client_id(self, client_order_id: str) -> Order | None:
        """The order with this client order id, open or in the history."""
        order_id = self._by_client_id.get(client_order_id)
        return None if order_id is None else self.get(order_id)

    def open_by_exchange_id(self, exchange_order_id: str) -> Order | None:
        """The open order the exchange knows by this id."""
        order_id = self._open_by_exchange_id.get(exchange_order_id)
        return None if order_id is None else self._open.get(order_id)

    def open_orders(self) -> list[Order]:
        """Every open order, in the order they were first added."""
        return list(self._open.values())

    def open_exchange_ids(self) -> list[str]:
        """The exchange ids of every open order that has one."""
        return list(self._open_by_exchange_id)

    def unacknowledged(self) -> list[Order]:
        """Open orders without an exchange id (PENDING, or SUBMITTED with the answer unknown)."""
        return [self._open[order_id] for order_id in self._unacknowledged]

    def open_for_position(self, position_id: str) -> list[Order]:
        """The open contingent and exit orders of a position."""
        ids = self._open_by_position.get(position_id)
        if not ids:
            return []
        return [self._open[order_id] for order_id in ids]

    def open_for_position_with_role(self, position_id: str, role: OrderRole) -> Order | None:
        """The position's open order with this role (its stop-loss, its take-profit), if any."""
        ids = self._open_by_position.get(position_id)
        if not ids:
            return None
        for order_id in ids:
            order = self._open[order_id]
            if order.role is role:
                return order
        return None

    def history(self) -> list[Order]:
        """The terminal orders kept in memory, oldest first."""
        return [self._closed[order_id] for order_id in self._history if order_id in self._closed]

    def status_counts(self) -> Mapping[OrderStatus, int]:
        """How many orders the book holds in each status (the evicted history excluded)."""
        return dict(self._status_counts)

    @property
    def open_count(self) -> int:
        """How many orders are open."""
        return len(self._open)

    def __len__(self) -> int:
        return len(self._open) + len(self._closed)

    def __iter__(self) -> Iterator[Order]:
        yield from self._open.values()
        yield from self.history()
