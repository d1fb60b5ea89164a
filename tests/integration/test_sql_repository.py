"""SqlRepository against real databases: what the shared contract cannot see.

Raw table contents after a failed commit, the schema itself, exact money in the columns,
concurrent commits, bound parameters, the stored JSON and its forward compatibility. Every test
runs on SQLite (a temp file) and on PostgreSQL (a throwaway schema; skipped with the reason when
the server named by EXECUTION_CORE_PG_URL cannot be reached).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import immutables
import pytest
from sqlalchemy import String, cast, func, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.memory.clock import FakeClock
from adapters.sql import TABLES, SqlRepository, WriteConflict, create_schema
from adapters.sql.rows import EventRow, FillRow, OrderRow, PositionRow, table_of
from adapters.sql.testing import PostgresUnavailable, temporary_postgres_schema
from execution_core.domain.enums import OrderSide, OrderStatus, OrderType
from execution_core.domain.events import (
    AlertRaised,
    Event,
    OrderAccepted,
    OrderCreated,
    OrderFilled,
)
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import Position
from execution_core.ports import PositionSnapshot, UnitOfWork

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LARGE = Decimal("123456789.123456789")


@attrs.frozen
class Database:
    """A fresh database (SQLite file or PostgreSQL schema) with the tables created."""

    dialect: str
    engine: AsyncEngine
    schema: str | None
    """The PostgreSQL schema the tables live in (None: the database's default)."""

    def repository(self, **options: Any) -> SqlRepository:
        return SqlRepository(self.engine, **options)

    async def counts(self) -> dict[str, int]:
        """How many rows each table holds, read with plain SQL (not through the repository)."""
        counts: dict[str, int] = {}
        async with self.engine.connect() as connection:
            for name in TABLES:
                table = EventRow.metadata.tables[name]
                statement = select(func.count()).select_from(table)
                counts[name] = (await connection.execute(statement)).scalar_one()
        return counts


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with AsyncExitStack() as stack:
        if request.param == "sqlite":
            engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
            stack.push_async_callback(engine.dispose)
            database = Database(dialect="sqlite", engine=engine, schema=None)
        else:
            try:
                schema = await stack.enter_async_context(temporary_postgres_schema())
            except PostgresUnavailable as error:
                pytest.skip(str(error))
            database = Database(dialect="postgresql", engine=schema.engine, schema=schema.name)
        await create_schema(database.engine)
        yield database


def an_order(order_id: str = "o-1", *, client_order_id: str | None = None) -> Order:
    return Order(
        id=order_id,
        client_order_id=client_order_id or f"cl-{order_id}",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.5"),
        price=Decimal(45000),
        status=OrderStatus.OPEN,
        created_at=T0,
    )


def a_fill(trade_id: str = "T-1", *, order_id: str = "o-1", **changes: Any) -> Fill:
    fill = Fill(
        trade_id=trade_id,
        order_id=order_id,
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        quantity=Decimal("0.00000001"),
        price=LARGE,
        fee=Decimal("0.01"),
        timestamp=T0,
    )
    return attrs.evolve(fill, **changes)


def a_position(position_id: str = "p-1") -> Position:
    return Position("BTC/USDT", "long", "0.1", 45000, id=position_id, opened_at=T0)


def a_snapshot(position_id: str = "p-1") -> PositionSnapshot:
    return PositionSnapshot(
        position_id=position_id,
        symbol="BTC/USDT",
        price=Decimal(46000),
        size=Decimal("0.1"),
        unrealized_pnl=Decimal(100),
        unrealized_pnl_pct=Decimal("2.2"),
        at=T0,
    )


def a_full_unit(suffix: str) -> UnitOfWork:
    order = an_order(f"o-{suffix}")
    return UnitOfWork(
        events=(
            OrderCreated(order=order, at=T0),
            OrderAccepted(order_id=order.id, exchange_order_id=f"EX-{suffix}", at=T0),
            OrderAccepted(order_id=order.id, exchange_order_id=f"EX-{suffix}-again", at=T0),
        ),
        orders=(order,),
        fills=(a_fill(f"T-{suffix}", order_id=order.id),),
        positions=(a_position(f"p-{suffix}"),),
        snapshots=(a_snapshot(f"p-{suffix}"),),
    )


# --------------------------------------------------------------------------- schema
async def test_create_schema_makes_the_five_tables_with_their_keys_and_can_run_again(
    database: Database,
) -> None:
    await create_schema(database.engine)  # a second time: a no-op

    def describe(connection: Connection) -> dict[str, Any]:
        inspector = inspect(connection)
        schema = database.schema
        return {
            "tables": sorted(inspector.get_table_names(schema=schema)),
            "fills_pk": inspector.get_pk_constraint("fills", schema=schema)["constrained_columns"],
            "orders_unique": [
                item["column_names"]
                for item in inspector.get_unique_constraints("orders", schema=schema)
            ],
            "orders_indexes": sorted(
                tuple(item["column_names"])
                for item in inspector.get_indexes("orders", schema=schema)
            ),
            "events_pk": inspector.get_pk_constraint("execution_events", schema=schema)[
                "constrained_columns"
            ],
        }

    async with database.engine.connect() as connection:
        description = await connection.run_sync(describe)

    assert description["tables"] == sorted(
        ["execution_events", "orders", "fills", "positions", "position_snapshots"]
    )
    assert description["fills_pk"] == ["order_id", "trade_id"]
    assert description["orders_unique"] == [["client_order_id"]]
    assert ("status",) in description["orders_indexes"]
    assert ("exchange_order_id",) in description["orders_indexes"]
    assert description["events_pk"] == ["sequence"]


async def test_money_columns_hold_the_exact_decimal_text(database: Database) -> None:
    fill = a_fill(quantity=Decimal("0.00000001"), price=LARGE)
    await database.repository().commit(UnitOfWork(fills=(fill,)))

    async with database.engine.connect() as connection:
        stored = (
            await connection.execute(
                select(cast(FillRow.quantity, String), cast(FillRow.price, String))
            )
        ).one()
        column = await connection.run_sync(
            lambda sync: inspect(sync).get_columns("fills", schema=database.schema)
        )

    # PostgreSQL NUMERIC prints the scale it keeps; SQLite TEXT keeps the codec's string.
    expected_quantity = "0.00000001" if database.dialect == "postgresql" else "1E-8"
    assert tuple(stored) == (expected_quantity, "123456789.123456789")
    price_type = {item["name"]: str(item["type"]) for item in column}["price"]
    assert price_type == ("NUMERIC" if database.dialect == "postgresql" else "VARCHAR")


# --------------------------------------------------------------------------- atomicity
async def test_a_conflicting_fill_leaves_every_table_exactly_as_it_was(database: Database) -> None:
    repository = database.repository()
    await repository.commit(a_full_unit("a"))
    before = await database.counts()
    unit = a_full_unit("b")
    conflicting = a_fill("T-a", order_id="o-a", fee=Decimal("0.02"))

    with pytest.raises(WriteConflict, match="T-a of order o-a is stored with other content"):
        await repository.commit(attrs.evolve(unit, fills=(*unit.fills, conflicting)))

    assert await database.counts() == before
    assert before == {name: (3 if name == "execution_events" else 1) for name in TABLES}
    assert await repository.load_fills("o-a") == [a_fill("T-a", order_id="o-a")]


async def test_a_client_order_id_used_by_another_order_fails_the_whole_unit(
    database: Database,
) -> None:
    repository = database.repository()
    await repository.commit(a_full_unit("a"))
    before = await database.counts()
    unit = a_full_unit("b")
    thief = an_order("o-thief", client_order_id="cl-o-a")

    with pytest.raises(WriteConflict, match="client order id"):
        await repository.commit(attrs.evolve(unit, orders=(*unit.orders, thief)))

    assert await database.counts() == before
    found = await repository.find_order_by_client_id("cl-o-a")
    assert found is not None
    assert found.id == "o-a"


async def test_one_fill_key_twice_in_a_unit_with_other_content_is_a_conflict(
    database: Database,
) -> None:
    repository = database.repository()
    unit = UnitOfWork(
        events=(OrderCreated(order=an_order(), at=T0),),
        fills=(a_fill(), a_fill(fee=Decimal("0.02"))),
    )

    with pytest.raises(WriteConflict, match="appears twice"):
        await repository.commit(unit)

    assert await database.counts() == dict.fromkeys(TABLES, 0)


async def test_the_same_fill_twice_in_a_unit_is_stored_once(database: Database) -> None:
    repository = database.repository()

    await repository.commit(UnitOfWork(fills=(a_fill(), a_fill(), a_fill("T-2"))))

    assert await repository.load_fills("o-1") == [a_fill(), a_fill("T-2")]
    assert (await database.counts())["fills"] == 2


async def test_a_rolled_back_commit_never_makes_sequence_numbers_go_back(
    database: Database,
) -> None:
    repository = database.repository()
    await repository.commit(a_full_unit("a"))
    last = (await repository.load_events())[-1].sequence
    broken = a_full_unit("b")
    with pytest.raises(WriteConflict):
        await repository.commit(
            attrs.evolve(broken, fills=(a_fill("T-a", order_id="o-a", fee=Decimal(5)),))
        )

    await repository.commit(broken)

    later = await repository.load_events(last)
    assert [item.event for item in later] == list(broken.events)
    assert all(item.sequence > last for item in later)


# --------------------------------------------------------------------------- concurrency
async def test_concurrent_commits_keep_each_units_events_together_and_in_order(
    database: Database,
) -> None:
    repository = database.repository()
    units = [a_full_unit(str(number)) for number in range(12)]

    await asyncio.gather(*(repository.commit(unit) for unit in units))

    stored = list(await repository.load_events())
    sequences = [item.sequence for item in stored]
    assert sequences == sorted(set(sequences))
    assert len(stored) == 3 * len(units)
    # Each unit's three events sit next to each other, in the unit's order.
    chunks = [stored[index : index + 3] for index in range(0, len(stored), 3)]
    by_order = {unit.orders[0].id: list(unit.events) for unit in units}
    first_orders: list[str] = []
    for chunk in chunks:
        first = chunk[0].event
        assert isinstance(first, OrderCreated)
        assert [item.event for item in chunk] == by_order[first.order.id]
        first_orders.append(first.order.id)
    assert sorted(first_orders) == sorted(by_order)
    assert len(await repository.load_open_orders()) == len(units)
    assert len(await repository.load_open_positions()) == len(units)


async def test_concurrent_commits_of_the_same_fill_store_it_once(database: Database) -> None:
    repository = database.repository()
    fill = a_fill()

    await asyncio.gather(*(repository.commit(UnitOfWork(fills=(fill,))) for _ in range(8)))

    assert await repository.load_fills("o-1") == [fill]
    assert (await database.counts())["fills"] == 1


# --------------------------------------------------------------------------- parameters, JSON
async def test_ids_are_bound_parameters_so_quotes_and_sql_are_stored_verbatim(
    database: Database,
) -> None:
    hostile = "O'Brien\"; DROP TABLE orders; --"
    order = attrs.evolve(
        an_order(hostile, client_order_id=f"cl-{hostile}"), exchange_order_id=hostile
    )
    fill = a_fill(hostile, order_id=hostile)
    repository = database.repository()

    await repository.commit(UnitOfWork(orders=(order,), fills=(fill,)))

    found = await repository.find_order_by_client_id(f"cl-{hostile}")
    assert found == order
    assert found is not None
    assert found.exchange_order_id == hostile
    assert dict(found.fills) == {hostile: fill}
    assert await database.counts() == {
        name: (1 if name in {"orders", "fills"} else 0) for name in TABLES
    }


async def test_rows_store_plain_json_and_an_order_row_never_holds_its_fills(
    database: Database,
) -> None:
    fill = a_fill()
    order = attrs.evolve(
        an_order(),
        status=OrderStatus.PARTIALLY_FILLED,
        filled_size=fill.quantity,
        fills=immutables.Map({fill.trade_id: fill}),
    )
    event = OrderFilled(
        order_id="o-1", fill=fill, filled_size=fill.quantity, status=order.status, at=T0
    )
    await database.repository().commit(UnitOfWork(events=(event,), orders=(order,), fills=(fill,)))

    async with database.engine.connect() as connection:
        event_row = (await connection.execute(select(EventRow.kind, EventRow.payload))).one()
        order_payload = (await connection.execute(select(OrderRow.payload))).scalar_one()
        status = (await connection.execute(select(OrderRow.status))).scalar_one()

    assert event_row.kind == "order_filled"
    assert event_row.payload["kind"] == "order_filled"
    assert event_row.payload["status"] == "partially_filled"
    assert event_row.payload["fill"]["price"] == "123456789.123456789"
    assert event_row.payload["fill"]["quantity"] == "1E-8"
    assert event_row.payload["at"] == "2026-01-05T12:00:00+00:00"
    assert "fills" not in order_payload
    assert order_payload["size"] == "0.5"
    assert status == "partially_filled"


async def test_free_text_with_a_nul_character_and_any_unicode_is_stored_verbatim(
    database: Database,
) -> None:
    # An exchange's error text ends up in events; PostgreSQL JSONB would refuse the NUL forever.
    event = AlertRaised(
        source="kraken", severity="high", message="EGeneral:\x00 bad \u00e9\U0001f4a5 \\", at=T0
    )
    repository = database.repository()

    await repository.commit(UnitOfWork(events=(event,)))

    assert [item.event for item in await repository.load_events()] == [event]


async def test_recorded_at_comes_from_the_injected_clock(database: Database) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    events: tuple[Event, ...] = (OrderAccepted(order_id="o-1", exchange_order_id="EX", at=T0),)

    await database.repository(clock=clock).commit(UnitOfWork(events=events))

    async with database.engine.connect() as connection:
        row = (await connection.execute(select(EventRow.occurred_at, EventRow.recorded_at))).one()
    assert row.occurred_at == T0
    assert row.recorded_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


async def test_a_naive_timestamp_round_trips_naive_and_recommits_as_the_same_fill(
    database: Database,
) -> None:
    naive = a_fill(timestamp=datetime(2026, 1, 5, 12, 0, 0, 123456))  # noqa: DTZ001 - the point
    repository = database.repository()

    await repository.commit(UnitOfWork(fills=(naive,)))
    await repository.commit(UnitOfWork(fills=(naive,)))

    (loaded,) = await repository.load_fills("o-1")
    assert loaded == naive
    assert loaded.timestamp.tzinfo is None


async def test_a_position_stored_before_its_newer_fields_existed_still_loads(
    database: Database,
) -> None:
    repository = database.repository()
    position = a_position()
    await repository.commit(UnitOfWork(positions=(position,)))
    old_payload = {
        key: value
        for key, value in repository._codec.dump_position(position).items()
        if key not in {"exited_quantity", "exit_value", "trailing"}
    }
    async with database.engine.begin() as connection:
        await connection.execute(update(table_of(PositionRow)).values(payload=old_payload))

    loaded = await repository.load_position("p-1")

    assert loaded == position
    assert loaded is not None
    assert (loaded.exited_quantity, loaded.exit_value) == (Decimal(0), Decimal(0))
    assert loaded.trailing is None


async def test_two_repositories_on_one_database_see_each_others_commits(
    database: Database,
) -> None:
    writer = database.repository()
    reader = database.repository()

    await writer.commit(a_full_unit("a"))
    await reader.commit(
        UnitOfWork(events=(OrderAccepted(order_id="o-a", exchange_order_id="EX", at=T0),))
    )

    assert [item.event for item in await writer.load_events()] == [
        *a_full_unit("a").events,
        OrderAccepted(order_id="o-a", exchange_order_id="EX", at=T0),
    ]
    assert await reader.load_order("o-a") == an_order("o-a")
    assert await reader.load_snapshots("p-a") == [a_snapshot("p-a")]
    assert (await reader.load_events())[-1].sequence > (await writer.load_events())[0].sequence


async def test_an_in_memory_sqlite_database_loses_nothing_to_concurrent_commits_and_reads() -> None:
    # `:memory:` gets ONE shared connection (StaticPool): interleaved sessions would undo each
    # other's writes, so the repository must take turns on it.
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    try:
        await create_schema(engine)
        repository = SqlRepository(engine)
        units = [a_full_unit(str(number)) for number in range(10)]

        await asyncio.gather(
            *(repository.commit(unit) for unit in units),
            *(repository.load_open_orders() for _ in units),
        )

        stored = [item.event for item in await repository.load_events()]
        assert sorted(map(repr, stored)) == sorted(repr(e) for unit in units for e in unit.events)
        assert len(await repository.load_open_positions()) == len(units)
    finally:
        await engine.dispose()
