"""`SqlRepository`: the Repository port over SQLAlchemy 2 async, on PostgreSQL or SQLite.

Rule (design.md §4): `commit` writes a unit's events and rows in ONE transaction. Either all of
it is stored or, with an exception, none of it. A fill is stored once per `(order_id,
trade_id)`: the same fill again is a no-op; the same key with other content is a
`WriteConflict` and the unit stores nothing. The behaviour is `InMemoryRepository`'s (one contract
suite runs against both), with one deliberate difference: a client order id already used by
another order is a `WriteConflict` here, where the in-memory store silently re-points it.

Event sequence numbers come from the database (an identity column; SQLite's AUTOINCREMENT). They
increase in commit order but may have gaps: a rolled-back commit consumes numbers on
PostgreSQL. Readers page with `load_events(after_sequence)`. So that a reader can never see
sequence N+1 before N, commits are serialized: on PostgreSQL by a transaction-scoped advisory
lock, on SQLite by the database's single writer.

The engine is the caller's (`create_async_engine(...)`); the repository opens a session per
call and never disposes the engine. An engine whose pool is ONE shared connection (SQLite
`:memory:` gets a `StaticPool`) cannot keep concurrent sessions apart: one session's rollback
would undo another's half-written unit. On such an engine the repository runs its calls one at
a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from adapters.sql.codec import Codec
from adapters.sql.rows import (
    EventRow,
    FillRow,
    OrderRow,
    PositionRow,
    SnapshotRow,
    column_values,
    fill_from_row,
    order_from_row,
    position_from_row,
    row_from_event,
    row_from_fill,
    row_from_order,
    row_from_position,
    row_from_snapshot,
    snapshot_from_row,
    stored_event_from_row,
    table_of,
)
from adapters.sql.schema import create_schema
from execution_core.domain.enums import OrderStatus
from execution_core.domain.events import Event
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import Position
from execution_core.ports import Clock, PositionSnapshot, Repository, StoredEvent, UnitOfWork

SUPPORTED_DIALECTS: Final = frozenset({"postgresql", "sqlite"})

COMMIT_LOCK_KEY: Final = 0x6578_6563_636F_7265
"""The PostgreSQL advisory lock every commit holds ("execcore" in ASCII, a positive bigint)."""

_OPEN_STATUSES: Final = tuple(status.value for status in OrderStatus if not status.is_terminal)

FillKey = tuple[str, str]


class WriteConflict(RuntimeError):
    """A unit of work that contradicts what is stored; the commit stored nothing of it.

    Raised for a fill whose `(order_id, trade_id)` is stored (or repeated in the unit) with other
    content, and for a client order id that another order already uses.
    """


class SqlRepository:
    """The book's store in PostgreSQL (asyncpg) or SQLite (aiosqlite); see the module docstring.

    `clock` stamps `execution_events.recorded_at` (default: the system's UTC time).
    """

    def __init__(
        self, engine: AsyncEngine, *, clock: Clock | None = None, codec: Codec | None = None
    ) -> None:
        dialect = engine.dialect.name
        if dialect not in SUPPORTED_DIALECTS:
            msg = f"SqlRepository supports {sorted(SUPPORTED_DIALECTS)}, not {dialect!r}"
            raise ValueError(msg)
        self._engine = engine
        self._postgres = dialect == "postgresql"
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._codec = codec or Codec()
        self._now: Callable[[], datetime] = clock.now if clock is not None else _utc_now
        # Guards the one connection of a single-connection pool: held for each whole call, so
        # no two sessions of this repository ever interleave on it. Unused with a real pool.
        self._shared_connection = asyncio.Lock()
        self._serialize = isinstance(engine.pool, (StaticPool, SingletonThreadPool))

    def _turn(self) -> AbstractAsyncContextManager[object]:
        """This call's turn on the database: immediate, unless the pool is one connection."""
        return self._shared_connection if self._serialize else nullcontext()

    async def create_schema(self) -> None:
        """Create the tables that do not exist yet (see `adapters.sql.schema.create_schema`)."""
        await create_schema(self._engine)

    # ----------------------------------------------------------------------- writing
    async def commit(self, unit: UnitOfWork) -> None:
        """Store `unit` in one transaction: all of it, or (raising) none of it."""
        if not unit:
            return
        recorded_at = self._now()
        try:
            async with self._turn(), self._sessions.begin() as session:
                if self._postgres:
                    await session.execute(select(func.pg_advisory_xact_lock(COMMIT_LOCK_KEY)))
                await self._append_events(session, unit.events, recorded_at)
                await self._upsert_orders(session, unit.orders)
                await self._store_fills(session, unit.fills)
                await self._upsert_positions(session, unit.positions)
                await self._append_snapshots(session, unit.snapshots)
        except IntegrityError as error:
            # The only constraint a valid unit can break is the client order id's uniqueness.
            msg = "the unit breaks a uniqueness rule (a client order id used by another order)"
            raise WriteConflict(msg) from error

    async def _append_events(
        self, session: AsyncSession, events: Sequence[Event], recorded_at: datetime
    ) -> None:
        if not events:
            return
        values = [
            column_values(row_from_event(event, self._codec, recorded_at=recorded_at))
            for event in events
        ]
        # executemany runs the rows in order, so sequence numbers follow the unit's order.
        await session.execute(table_of(EventRow).insert(), values)

    async def _upsert_orders(self, session: AsyncSession, orders: Sequence[Order]) -> None:
        latest = {order.id: order for order in orders}  # the last version in the unit wins
        if not latest:
            return
        values = [column_values(row_from_order(order, self._codec)) for order in latest.values()]
        await self._upsert(session, OrderRow, values)

    async def _upsert_positions(self, session: AsyncSession, positions: Sequence[Position]) -> None:
        latest = {position.id: position for position in positions}
        if not latest:
            return
        values = [
            column_values(row_from_position(position, self._codec)) for position in latest.values()
        ]
        await self._upsert(session, PositionRow, values)

    async def _upsert(
        self, session: AsyncSession, row: type[OrderRow | PositionRow], values: list[dict[str, Any]]
    ) -> None:
        table = table_of(row)
        insert = (postgresql_insert if self._postgres else sqlite_insert)(table)
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={name: insert.excluded[name] for name in values[0] if name != "id"},
        )
        await session.execute(statement, values)

    async def _store_fills(self, session: AsyncSession, fills: Sequence[Fill]) -> None:
        unique = _unique_fills(fills)
        if not unique:
            return
        ordinals = await self._last_ordinals(session, {order_id for order_id, _ in unique})
        values: list[dict[str, Any]] = []
        for (order_id, _), fill in unique.items():
            ordinals[order_id] = ordinals.get(order_id, 0) + 1
            values.append(
                column_values(row_from_fill(fill, self._codec, ordinal=ordinals[order_id]))
            )
        table = table_of(FillRow)
        insert = (postgresql_insert if self._postgres else sqlite_insert)(table)
        await session.execute(insert.on_conflict_do_nothing(), values)
        # Whatever was there before (or arrived concurrently) must be the same fill.
        for key, stored in (await self._fills_by_key(session, unique)).items():
            if stored != unique[key]:
                msg = f"fill {key[1]} of order {key[0]} is stored with other content"
                raise WriteConflict(msg)

    async def _last_ordinals(self, session: AsyncSession, order_ids: set[str]) -> dict[str, int]:
        result = await session.execute(
            select(FillRow.order_id, func.max(FillRow.ordinal).label("last"))
            .where(FillRow.order_id.in_(order_ids))
            .group_by(FillRow.order_id)
        )
        return {row.order_id: row.last for row in result}

    async def _fills_by_key(
        self, session: AsyncSession, keys: Iterable[FillKey]
    ) -> dict[FillKey, Fill]:
        wanted = set(keys)
        rows = await session.scalars(
            select(FillRow).where(
                FillRow.order_id.in_({order_id for order_id, _ in wanted}),
                FillRow.trade_id.in_({trade_id for _, trade_id in wanted}),
            )
        )
        return {
            (row.order_id, row.trade_id): fill_from_row(row, self._codec)
            for row in rows
            if (row.order_id, row.trade_id) in wanted
        }

    async def _append_snapshots(
        self, session: AsyncSession, snapshots: Sequence[PositionSnapshot]
    ) -> None:
        if not snapshots:
            return
        values = [column_values(row_from_snapshot(snapshot, self._codec)) for snapshot in snapshots]
        await session.execute(table_of(SnapshotRow).insert(), values)

    # ----------------------------------------------------------------------- reading
    async def load_open_orders(self) -> Sequence[Order]:
        """Every order not in a terminal status, with its fills."""
        async with self._turn(), self._sessions() as session:
            rows = (
                await session.scalars(
                    select(OrderRow)
                    .where(OrderRow.status.in_(_OPEN_STATUSES))
                    .order_by(OrderRow.id)
                )
            ).all()
            fill_rows = await session.scalars(
                select(FillRow)
                .where(
                    FillRow.order_id.in_(
                        select(OrderRow.id).where(OrderRow.status.in_(_OPEN_STATUSES))
                    )
                )
                .order_by(FillRow.order_id, FillRow.ordinal, FillRow.trade_id)
            )
            fills: dict[str, list[Fill]] = {}
            for fill_row in fill_rows:
                fills.setdefault(fill_row.order_id, []).append(fill_from_row(fill_row, self._codec))
        return [order_from_row(row, fills.get(row.id, ()), self._codec) for row in rows]

    async def load_order(self, order_id: str) -> Order | None:
        """One order by our id, open or not, with its fills."""
        async with self._turn(), self._sessions() as session:
            row = await session.get(OrderRow, order_id)
            if row is None:
                return None
            return order_from_row(row, await self._order_fills(session, row.id), self._codec)

    async def find_order_by_client_id(self, client_order_id: str) -> Order | None:
        """One order by its client order id, with its fills."""
        async with self._turn(), self._sessions() as session:
            row = await session.scalar(
                select(OrderRow).where(OrderRow.client_order_id == client_order_id)
            )
            if row is None:
                return None
            return order_from_row(row, await self._order_fills(session, row.id), self._codec)

    async def load_open_positions(self) -> Sequence[Position]:
        """Every position still open."""
        async with self._turn(), self._sessions() as session:
            rows = await session.scalars(
                select(PositionRow).where(PositionRow.is_open).order_by(PositionRow.id)
            )
            return [position_from_row(row, self._codec) for row in rows]

    async def load_position(self, position_id: str) -> Position | None:
        """One position by id, open or closed."""
        async with self._turn(), self._sessions() as session:
            row = await session.get(PositionRow, position_id)
            return None if row is None else position_from_row(row, self._codec)

    async def load_fills(self, order_id: str) -> Sequence[Fill]:
        """The fills of one order, in the order they were stored."""
        async with self._turn(), self._sessions() as session:
            return await self._order_fills(session, order_id)

    async def load_events(self, after_sequence: int = 0) -> Sequence[StoredEvent]:
        """Stored events with a sequence number above `after_sequence`, in order."""
        async with self._turn(), self._sessions() as session:
            rows = await session.scalars(
                select(EventRow)
                .where(EventRow.sequence > after_sequence)
                .order_by(EventRow.sequence)
            )
            return [stored_event_from_row(row, self._codec) for row in rows]

    async def load_snapshots(self, position_id: str) -> Sequence[PositionSnapshot]:
        """The snapshots of one position, oldest (first stored) first."""
        async with self._turn(), self._sessions() as session:
            rows = await session.scalars(
                select(SnapshotRow)
                .where(SnapshotRow.position_id == position_id)
                .order_by(SnapshotRow.id)
            )
            return [snapshot_from_row(row, self._codec) for row in rows]

    async def _order_fills(self, session: AsyncSession, order_id: str) -> list[Fill]:
        rows = await session.scalars(
            select(FillRow)
            .where(FillRow.order_id == order_id)
            .order_by(FillRow.ordinal, FillRow.trade_id)
        )
        return [fill_from_row(row, self._codec) for row in rows]


def _unique_fills(fills: Iterable[Fill]) -> dict[FillKey, Fill]:
    """The unit's fills by key, in order; the same key twice with other content is a conflict."""
    unique: dict[FillKey, Fill] = {}
    for fill in fills:
        key = (fill.order_id, fill.trade_id)
        seen = unique.setdefault(key, fill)
        if seen != fill:
            msg = f"fill {fill.trade_id} of order {fill.order_id} appears twice with other content"
            raise WriteConflict(msg)
    return unique


def _utc_now() -> datetime:
    return datetime.now(UTC)


_conforms: type[Repository] = SqlRepository
