"""`InMemoryRepository`: the Repository port in memory, with the same atomicity as the SQL one.

A commit builds the new state aside and swaps it in only when every part of the unit of work
was accepted, so a failing commit (a duplicate fill with different content, or an injected
failure) stores nothing. Tests can make the next commits fail with `fail_next_commits`.
"""

from __future__ import annotations

from collections.abc import Sequence

from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import Position
from execution_core.ports import PositionSnapshot, Repository, StoredEvent, UnitOfWork


class RepositoryWriteError(RuntimeError):
    """A commit that stored nothing (an injected failure, or conflicting data)."""


class InMemoryRepository:
    """Events, orders, fills, positions and snapshots kept in dictionaries.

    Observable state for tests: `events`, `commits` (how many units were stored) and
    `fill_writes` (how many fill rows were written, duplicates excluded).
    """

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.commits = 0
        self.fill_writes = 0
        self._orders: dict[str, Order] = {}
        self._by_client_id: dict[str, str] = {}
        self._fills: dict[str, dict[str, Fill]] = {}
        self._positions: dict[str, Position] = {}
        self._snapshots: dict[str, list[PositionSnapshot]] = {}
        self._failures: list[Exception] = []

    def fail_next_commits(self, count: int, error: Exception | None = None) -> None:
        """Make the next `count` commits raise (a database outage) and store nothing."""
        for _ in range(count):
            self._failures.append(error or RepositoryWriteError("injected write failure"))

    async def commit(self, unit: UnitOfWork) -> None:
        """Store `unit` atomically: all of it, or (raising) none of it."""
        if self._failures:
            raise self._failures.pop(0)
        new_fills = self._check(unit)
        # Every check passed: apply. Nothing below can fail.
        sequence = len(self.events)
        for event in unit.events:
            sequence += 1
            self.events.append(StoredEvent(sequence=sequence, event=event))
        for order in unit.orders:
            self._orders[order.id] = order
            self._by_client_id[order.client_order_id] = order.id
        for fill in new_fills:
            self._fills.setdefault(fill.order_id, {})[fill.trade_id] = fill
        self.fill_writes += len(new_fills)
        for position in unit.positions:
            self._positions[position.id] = position
        for snapshot in unit.snapshots:
            self._snapshots.setdefault(snapshot.position_id, []).append(snapshot)
        self.commits += 1

    def _check(self, unit: UnitOfWork) -> list[Fill]:
        """Refuse a unit that contradicts what is stored; return its fills not yet stored."""
        for order in unit.orders:
            owner = self._by_client_id.get(order.client_order_id)
            if owner is not None and owner != order.id:
                msg = f"client order id {order.client_order_id} already belongs to order {owner}"
                raise RepositoryWriteError(msg)
        new_fills: dict[tuple[str, str], Fill] = {}
        for fill in unit.fills:
            key = (fill.order_id, fill.trade_id)
            stored = self._fills.get(fill.order_id, {}).get(fill.trade_id, new_fills.get(key))
            if stored is None:
                new_fills[key] = fill
            elif stored != fill:
                msg = f"fill {fill.trade_id} of order {fill.order_id} stored with other content"
                raise RepositoryWriteError(msg)
        return list(new_fills.values())

    async def load_open_orders(self) -> Sequence[Order]:
        """Orders not in a terminal status."""
        return [order for order in self._orders.values() if not order.status.is_terminal]

    async def load_order(self, order_id: str) -> Order | None:
        """One order by id."""
        return self._orders.get(order_id)

    async def find_order_by_client_id(self, client_order_id: str) -> Order | None:
        """One order by client order id."""
        order_id = self._by_client_id.get(client_order_id)
        return None if order_id is None else self._orders.get(order_id)

    async def load_open_positions(self) -> Sequence[Position]:
        """Positions still open."""
        return [position for position in self._positions.values() if position.is_open]

    async def load_position(self, position_id: str) -> Position | None:
        """One position by id, open or closed."""
        return self._positions.get(position_id)

    async def load_fills(self, order_id: str) -> Sequence[Fill]:
        """The fills of one order, in the order they were stored."""
        return list(self._fills.get(order_id, {}).values())

    async def load_events(self, after_sequence: int = 0) -> Sequence[StoredEvent]:
        """Events after `after_sequence`, in order."""
        return self.events[after_sequence:]

    async def load_snapshots(self, position_id: str) -> Sequence[PositionSnapshot]:
        """Snapshots of one position, oldest first."""
        return list(self._snapshots.get(position_id, ()))

    def all_fills(self) -> list[Fill]:
        """Every stored fill (for test assertions)."""
        return [fill for fills in self._fills.values() for fill in fills.values()]


_conforms: type[Repository] = InMemoryRepository
