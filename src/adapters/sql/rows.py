"""The SQL tables as SQLAlchemy 2 declarative rows, and the functions that translate to and fro.

Rule: every row carries its value's full JSON (`payload`, written by the codec) and that JSON is
what a load reads back, so a round trip is exact whatever the database does to numbers and
times. The other columns are keys: they carry the constraints (a fill stored once per
`(order_id, trade_id)`, a client order id used by one order only), the indexes the loads use,
and plain values for people and reports querying the tables. Money columns are NUMERIC on
PostgreSQL and TEXT on SQLite (no binary floats anywhere); timestamps are UTC.

Domain classes are never mapped: `row_from_order` / `order_from_row` and their siblings are the
only bridge.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Identity,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import NUMERIC
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from adapters.sql.codec import Codec, JsonObject
from execution_core.domain.events import Event
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import Position
from execution_core.ports import PositionSnapshot, StoredEvent


# --------------------------------------------------------------------------- column types
class Money(TypeDecorator[Decimal]):
    """An exact Decimal: NUMERIC (unbounded precision) on PostgreSQL, its string elsewhere."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """NUMERIC on PostgreSQL, TEXT on SQLite (which has no exact decimal type)."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(NUMERIC(asdecimal=True))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | str | None:
        """The Decimal itself for NUMERIC, its exact string for TEXT."""
        if value is None or dialect.name == "postgresql":
            return value
        return str(value)

    def process_result_value(self, value: object, dialect: Dialect) -> Decimal | None:
        """A Decimal from either spelling."""
        del dialect
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))


class UtcTimestamp(TypeDecorator[datetime]):
    """A UTC instant: TIMESTAMPTZ on PostgreSQL, fixed-width ISO text on SQLite (sorts by time).

    A naive datetime is taken to be UTC; the exact value (naive or not) stays in the payload.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """TIMESTAMPTZ on PostgreSQL, TEXT on SQLite (whose DATETIME drops the offset)."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | str | None:
        """The instant in UTC (as text on SQLite)."""
        if value is None:
            return None
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.isoformat(timespec="microseconds")
        return utc

    def process_result_value(self, value: object, dialect: Dialect) -> datetime | None:
        """An aware UTC datetime."""
        del dialect
        if value is None:
            return None
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(parsed, datetime):
            raise TypeError(f"not a timestamp: {type(value).__name__}")
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


JSON_PAYLOAD = JSON()
"""JSON on PostgreSQL (its text kept verbatim; queryable with `payload->>'status'`), text on SQLite.

Not JSONB: JSONB refuses a NUL character (`\\u0000`) in a string, and an exchange's error text in
an event could carry one; that commit would then fail on every retry.
"""

SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit surrogate key; on SQLite an INTEGER PRIMARY KEY (the rowid) to autoincrement."""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# --------------------------------------------------------------------------- tables
class Base(DeclarativeBase):
    """The declarative base of the execution-core tables (`Base.metadata` holds all five)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class EventRow(Base):
    """`execution_events`: append-only; `sequence` is the order in which events were stored."""

    __tablename__ = "execution_events"
    # AUTOINCREMENT: a sequence number is never reused, even after the last row was deleted.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's declarative API

    sequence: Mapped[int] = mapped_column(SEQUENCE, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcTimestamp())
    recorded_at: Mapped[datetime] = mapped_column(UtcTimestamp())
    payload: Mapped[JsonObject] = mapped_column(JSON_PAYLOAD)


class OrderRow(Base):
    """`orders`: the current state of each order (upserted by id); its fills are in `fills`."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(), unique=True)
    exchange_order_id: Mapped[str | None] = mapped_column(String(), index=True)
    symbol: Mapped[str] = mapped_column(String(), index=True)
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    position_id: Mapped[str | None] = mapped_column(String(), index=True)
    size: Mapped[Decimal] = mapped_column(Money())
    filled_size: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    updated_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    payload: Mapped[JsonObject] = mapped_column(JSON_PAYLOAD)


class FillRow(Base):
    """`fills`: one row per execution, keyed by `(order_id, trade_id)`; never updated.

    `ordinal` numbers an order's fills in the order they were stored.
    """

    __tablename__ = "fills"

    order_id: Mapped[str] = mapped_column(String(), primary_key=True)
    trade_id: Mapped[str] = mapped_column(String(), primary_key=True)
    ordinal: Mapped[int] = mapped_column(Integer())
    symbol: Mapped[str] = mapped_column(String(), index=True)
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(Money())
    price: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money())
    fee_currency: Mapped[str] = mapped_column(String(8))
    timestamp: Mapped[datetime] = mapped_column(UtcTimestamp())
    payload: Mapped[JsonObject] = mapped_column(JSON_PAYLOAD)


class PositionRow(Base):
    """`positions`: the current state of each position (upserted by id), open or closed."""

    __tablename__ = "positions"

    id: Mapped[str] = mapped_column(String(), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(), index=True)
    side: Mapped[str] = mapped_column(String(8))
    is_open: Mapped[bool] = mapped_column(Boolean(), index=True)
    size: Mapped[Decimal] = mapped_column(Money())
    entry_price: Mapped[Decimal] = mapped_column(Money())
    opened_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    closed_at: Mapped[datetime | None] = mapped_column(UtcTimestamp())
    payload: Mapped[JsonObject] = mapped_column(JSON_PAYLOAD)


class SnapshotRow(Base):
    """`position_snapshots`: append-only valuations; `id` is the order they were stored in."""

    __tablename__ = "position_snapshots"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's declarative API

    id: Mapped[int] = mapped_column(SEQUENCE, Identity(), primary_key=True)
    position_id: Mapped[str] = mapped_column(String(), index=True)
    symbol: Mapped[str] = mapped_column(String())
    price: Mapped[Decimal] = mapped_column(Money())
    unrealized_pnl: Mapped[Decimal] = mapped_column(Money())
    at: Mapped[datetime] = mapped_column(UtcTimestamp())
    payload: Mapped[JsonObject] = mapped_column(JSON_PAYLOAD)


# --------------------------------------------------------------------------- translation
def row_from_event(event: Event, codec: Codec, *, recorded_at: datetime) -> EventRow:
    """A new event row; the database assigns its sequence number."""
    return EventRow(
        kind=type(event).kind,
        occurred_at=event.at,
        recorded_at=recorded_at,
        payload=codec.dump_event(event),
    )


def stored_event_from_row(row: EventRow, codec: Codec) -> StoredEvent:
    """The stored event with its sequence number."""
    return StoredEvent(sequence=row.sequence, event=codec.load_event(row.payload))


def row_from_order(order: Order, codec: Codec) -> OrderRow:
    """The order's row; its fills are NOT in it (they go to `fills`)."""
    return OrderRow(
        id=order.id,
        client_order_id=order.client_order_id,
        exchange_order_id=order.exchange_order_id,
        symbol=order.symbol,
        side=order.side.value,
        order_type=order.order_type.value,
        role=order.role.value,
        status=order.status.value,
        position_id=order.position_id,
        size=order.size,
        filled_size=order.filled_size,
        created_at=order.created_at,
        updated_at=order.updated_at,
        payload=codec.dump_order(order),
    )


def order_from_row(row: OrderRow, fills: Iterable[Fill], codec: Codec) -> Order:
    """The order, its fills map rebuilt from its stored fills."""
    return codec.load_order(row.payload, fills)


def row_from_fill(fill: Fill, codec: Codec, *, ordinal: int) -> FillRow:
    """The fill's row; `ordinal` places it after the order's fills stored before."""
    return FillRow(
        order_id=fill.order_id,
        trade_id=fill.trade_id,
        ordinal=ordinal,
        symbol=fill.symbol,
        side=fill.side.value,
        quantity=fill.quantity,
        price=fill.price,
        fee=fill.fee,
        fee_currency=fill.fee_currency.value,
        timestamp=fill.timestamp,
        payload=codec.dump_fill(fill),
    )


def fill_from_row(row: FillRow, codec: Codec) -> Fill:
    """The stored fill."""
    return codec.load_fill(row.payload)


def row_from_position(position: Position, codec: Codec) -> PositionRow:
    """The position's row (every field in the payload, the trailing stop included)."""
    return PositionRow(
        id=position.id,
        symbol=position.symbol,
        side=position.side.value,
        is_open=position.is_open,
        size=position.size,
        entry_price=position.entry_price,
        opened_at=position.opened_at,
        closed_at=position.closed_at,
        payload=codec.dump_position(position),
    )


def position_from_row(row: PositionRow, codec: Codec) -> Position:
    """The stored position."""
    return codec.load_position(row.payload)


def row_from_snapshot(snapshot: PositionSnapshot, codec: Codec) -> SnapshotRow:
    """A new snapshot row; the database assigns its id (its place in time order)."""
    return SnapshotRow(
        position_id=snapshot.position_id,
        symbol=snapshot.symbol,
        price=snapshot.price,
        unrealized_pnl=snapshot.unrealized_pnl,
        at=snapshot.at,
        payload=codec.dump_snapshot(snapshot),
    )


def snapshot_from_row(row: SnapshotRow, codec: Codec) -> PositionSnapshot:
    """The stored snapshot."""
    return codec.load_snapshot(row.payload)


def column_values(row: Base) -> dict[str, Any]:
    """The row's column values for a Core INSERT, leaving out keys the database generates."""
    values: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if value is None and column.primary_key:
            continue
        values[column.key] = value
    return values


def table_of(row: type[Base]) -> Table:
    """The `Table` a row class is mapped to (typed as such, for Core statements)."""
    table = row.__table__
    if not isinstance(table, Table):  # pragma: no cover - every row here maps one table
        raise TypeError(f"{row.__name__} is not mapped to a single table")
    return table
