"""The Repository port's contract, run against every adapter of it.

Backends: `InMemoryRepository` (the reference), `SqlRepository` on SQLite (a temp file) and
`SqlRepository` on PostgreSQL (a throwaway schema; skipped with the reason when the server named
by EXECUTION_CORE_PG_URL cannot be reached). Each test states one behaviour every backend shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import immutables
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.memory.repository import InMemoryRepository, RepositoryWriteError
from adapters.sql import SqlRepository, WriteConflict, create_schema
from adapters.sql.testing import PostgresUnavailable, temporary_postgres_schema
from execution_core.domain.enums import OrderSide, OrderStatus, OrderType, TradingState
from execution_core.domain.events import (
    Event,
    OrderAccepted,
    OrderCreated,
    OrderFilled,
    PositionOpened,
    TradingStateChanged,
)
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import Position
from execution_core.domain.trailing import TrailingStop
from execution_core.ports import PositionSnapshot, Repository, StoredEvent, UnitOfWork

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TINY = Decimal("0.00000001")
LARGE = Decimal("123456789.123456789")


# --------------------------------------------------------------------------- backends
@attrs.define
class Backend:
    """One adapter under test, with the few things the contract needs to drive it."""

    name: str
    repository: Repository
    reopen: Callable[[], Awaitable[Repository]]
    """A new repository instance over the same store (the in-memory store is its own instance)."""
    conflict_error: type[Exception]
    """What `commit` raises for a fill stored with other content."""
    break_next_commit: Callable[[UnitOfWork, Fill], UnitOfWork]
    """Make committing the returned unit fail (given a fill already stored)."""


def _inject_memory_failure(
    repository: InMemoryRepository,
) -> Callable[[UnitOfWork, Fill], UnitOfWork]:
    def breaker(unit: UnitOfWork, stored: Fill) -> UnitOfWork:
        del stored
        repository.fail_next_commits(1)
        return unit

    return breaker


def _append_conflicting_fill(unit: UnitOfWork, stored: Fill) -> UnitOfWork:
    # Last in the unit, so the events and rows before it are written when it fails.
    conflicting = attrs.evolve(stored, fee=stored.fee + 1)
    return attrs.evolve(unit, fills=(*unit.fills, conflicting))


async def _sql_backend(
    name: str, engine: AsyncEngine, new_engine: Callable[[], Awaitable[AsyncEngine]]
) -> Backend:
    await create_schema(engine)

    async def reopen() -> Repository:
        return SqlRepository(await new_engine())

    return Backend(
        name=name,
        repository=SqlRepository(engine),
        reopen=reopen,
        conflict_error=WriteConflict,
        break_next_commit=_append_conflicting_fill,
    )


@pytest.fixture(
    params=[
        pytest.param("memory"),
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with AsyncExitStack() as stack:
        if request.param == "memory":
            memory = InMemoryRepository()

            async def same() -> Repository:
                return memory

            yield Backend(
                name="memory",
                repository=memory,
                reopen=same,
                conflict_error=RepositoryWriteError,
                break_next_commit=_inject_memory_failure(memory),
            )
        elif request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"

            async def sqlite_engine() -> AsyncEngine:
                engine = create_async_engine(url)
                stack.push_async_callback(engine.dispose)
                return engine

            yield await _sql_backend("sqlite", await sqlite_engine(), sqlite_engine)
        else:
            try:
                schema = await stack.enter_async_context(temporary_postgres_schema())
            except PostgresUnavailable as error:
                pytest.skip(str(error))

            async def postgres_engine() -> AsyncEngine:
                return await stack.enter_async_context(schema.another_engine())

            yield await _sql_backend("postgres", schema.engine, postgres_engine)


# --------------------------------------------------------------------------- values
def an_order(
    order_id: str = "o-1",
    *,
    status: OrderStatus = OrderStatus.OPEN,
    fills: tuple[Fill, ...] = (),
    price: Decimal = Decimal("45000.1"),
    size: Decimal = Decimal("0.5"),
) -> Order:
    filled = sum((fill.quantity for fill in fills), Decimal(0))
    return Order(
        id=order_id,
        client_order_id=f"cl-{order_id}",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=size,
        price=price,
        status=status,
        exchange_order_id=f"EX-{order_id}",
        filled_size=filled,
        filled_cost=sum((fill.notional for fill in fills), Decimal(0)),
        fills=immutables.Map({fill.trade_id: fill for fill in fills}),
        created_at=T0,
        updated_at=T0,
    )


def a_fill(
    trade_id: str = "T-1",
    *,
    order_id: str = "o-1",
    quantity: Decimal = Decimal("0.1"),
    price: Decimal = Decimal(45000),
    fee: Decimal = Decimal("11.7"),
) -> Fill:
    return Fill(
        trade_id=trade_id,
        order_id=order_id,
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        quantity=quantity,
        price=price,
        fee=fee,
        timestamp=T0 + timedelta(seconds=1),
    )


def a_position(position_id: str = "p-1", *, size: str = "0.1") -> Position:
    return Position(
        "BTC/USDT",
        "long",
        size,
        "45000",
        id=position_id,
        leverage=2,
        stop_loss="44500",
        take_profit="47000",
        entry_fees="18",
        trailing=TrailingStop(activation_pct=1, distance_pct="1.5"),
        opened_at=T0,
    )


def a_snapshot(
    position_id: str = "p-1", *, minute: int = 0, price: str = "46000"
) -> PositionSnapshot:
    return PositionSnapshot(
        position_id=position_id,
        symbol="BTC/USDT",
        price=Decimal(price),
        size=Decimal("0.1"),
        unrealized_pnl=Decimal("63.6"),
        unrealized_pnl_pct=Decimal("2.826666666666666666666666667"),
        at=T0 + timedelta(minutes=minute),
    )


def created(order: Order) -> OrderCreated:
    return OrderCreated(order=order, at=T0)


def events_of(stored: list[StoredEvent] | tuple[StoredEvent, ...]) -> list[Event]:
    return [item.event for item in stored]


# --------------------------------------------------------------------------- orders
async def test_a_committed_order_loads_by_id_and_by_client_order_id(backend: Backend) -> None:
    order = an_order()
    await backend.repository.commit(UnitOfWork(orders=(order,)))

    by_id = await backend.repository.load_order("o-1")
    by_client_id = await backend.repository.find_order_by_client_id("cl-o-1")

    assert by_id == order
    assert by_client_id == order
    assert by_id is not None
    assert by_id.exchange_order_id == "EX-o-1"


async def test_an_unknown_order_loads_as_none_by_id_and_by_client_order_id(
    backend: Backend,
) -> None:
    await backend.repository.commit(UnitOfWork(orders=(an_order(),)))

    assert await backend.repository.load_order("nope") is None
    assert await backend.repository.find_order_by_client_id("cl-nope") is None


async def test_open_orders_are_exactly_the_orders_not_in_a_terminal_status(
    backend: Backend,
) -> None:
    orders = tuple(an_order(f"o-{status.value}", status=status) for status in OrderStatus)
    await backend.repository.commit(UnitOfWork(orders=orders))

    open_orders = await backend.repository.load_open_orders()

    assert sorted(order.status for order in open_orders) == sorted(
        status for status in OrderStatus if not status.is_terminal
    )
    for status in OrderStatus:
        assert await backend.repository.load_order(f"o-{status.value}") == an_order(
            f"o-{status.value}", status=status
        )


async def test_a_recommitted_order_replaces_its_previous_state(backend: Backend) -> None:
    await backend.repository.commit(UnitOfWork(orders=(an_order(status=OrderStatus.OPEN),)))
    filled = an_order(status=OrderStatus.FILLED)
    await backend.repository.commit(UnitOfWork(orders=(filled,)))

    assert await backend.repository.load_order("o-1") == filled
    assert await backend.repository.find_order_by_client_id("cl-o-1") == filled
    assert await backend.repository.load_open_orders() == []


async def test_a_loaded_order_carries_the_fills_committed_with_it(backend: Backend) -> None:
    fills = (a_fill("T-1"), a_fill("T-2", quantity=Decimal("0.2")))
    order = an_order(status=OrderStatus.PARTIALLY_FILLED, fills=fills)
    await backend.repository.commit(UnitOfWork(orders=(order,), fills=fills))

    loaded = await backend.repository.load_order("o-1")
    (open_order,) = await backend.repository.load_open_orders()
    by_client_id = await backend.repository.find_order_by_client_id("cl-o-1")

    expected = {"T-1": fills[0], "T-2": fills[1]}
    assert loaded is not None
    assert by_client_id is not None
    assert dict(loaded.fills) == expected
    assert dict(open_order.fills) == expected
    assert dict(by_client_id.fills) == expected
    assert loaded.filled_size == Decimal("0.3")


# --------------------------------------------------------------------------- events
async def test_events_load_in_commit_order_with_increasing_sequence_numbers(
    backend: Backend,
) -> None:
    first: tuple[Event, ...] = (
        created(an_order()),
        OrderAccepted(order_id="o-1", exchange_order_id="EX-o-1", at=T0),
    )
    second: tuple[Event, ...] = (
        TradingStateChanged(
            old=TradingState.ACTIVE, new=TradingState.HALTED, reason="kill switch", at=T0
        ),
    )
    await backend.repository.commit(UnitOfWork(events=first))
    await backend.repository.commit(UnitOfWork(events=second))

    stored = list(await backend.repository.load_events())

    assert events_of(stored) == [*first, *second]
    sequences = [item.sequence for item in stored]
    assert sequences == sorted(set(sequences))
    assert sequences[0] >= 1


async def test_load_events_after_a_sequence_returns_only_the_later_events_in_order(
    backend: Backend,
) -> None:
    events = [
        OrderAccepted(order_id=f"o-{number}", exchange_order_id=f"EX-{number}", at=T0)
        for number in range(5)
    ]
    for event in events:
        await backend.repository.commit(UnitOfWork(events=(event,)))
    stored = list(await backend.repository.load_events())

    after_second = list(await backend.repository.load_events(stored[1].sequence))
    after_last = await backend.repository.load_events(stored[-1].sequence)

    assert after_second == stored[2:]
    assert events_of(after_second) == events[2:]
    assert list(after_last) == []


async def test_an_order_event_keeps_the_order_and_fill_it_carries(backend: Backend) -> None:
    fill = a_fill(quantity=TINY, price=LARGE)
    order = an_order(status=OrderStatus.PARTIALLY_FILLED, fills=(fill,))
    events: tuple[Event, ...] = (
        created(order),
        OrderFilled(order_id="o-1", fill=fill, filled_size=TINY, status=order.status, at=T0),
    )
    await backend.repository.commit(UnitOfWork(events=events))

    stored = events_of(list(await backend.repository.load_events()))

    assert stored == list(events)
    first, second = stored
    assert isinstance(first, OrderCreated)
    assert dict(first.order.fills) == {"T-1": fill}
    assert isinstance(second, OrderFilled)
    assert str(second.fill.price) == "123456789.123456789"


# --------------------------------------------------------------------------- fills
async def test_a_fill_committed_twice_is_stored_once(backend: Backend) -> None:
    fill = a_fill()
    await backend.repository.commit(UnitOfWork(fills=(fill,)))
    await backend.repository.commit(UnitOfWork(fills=(fill,)))
    await backend.repository.commit(UnitOfWork(fills=(fill, fill)))

    assert await backend.repository.load_fills("o-1") == [fill]


async def test_fills_load_in_the_order_they_were_stored(backend: Backend) -> None:
    # Trade ids deliberately out of alphabetical order.
    first, second, third, fourth = (a_fill(trade_id) for trade_id in ("T-9", "T-10", "T-1", "A"))
    await backend.repository.commit(UnitOfWork(fills=(first, second)))
    await backend.repository.commit(UnitOfWork(fills=(third,)))
    await backend.repository.commit(UnitOfWork(fills=(second, fourth)))

    assert await backend.repository.load_fills("o-1") == [first, second, third, fourth]


async def test_the_same_trade_id_on_two_orders_is_two_fills(backend: Backend) -> None:
    one = a_fill("T-1", order_id="o-1")
    other = a_fill("T-1", order_id="o-2", quantity=Decimal("0.3"))
    await backend.repository.commit(UnitOfWork(fills=(one, other)))

    assert await backend.repository.load_fills("o-1") == [one]
    assert await backend.repository.load_fills("o-2") == [other]
    assert await backend.repository.load_fills("o-3") == []


# --------------------------------------------------------------------------- atomicity
async def test_a_fill_stored_with_other_content_fails_the_commit_and_stores_nothing_of_it(
    backend: Backend,
) -> None:
    fill = a_fill()
    await backend.repository.commit(UnitOfWork(events=(created(an_order()),), fills=(fill,)))
    before = list(await backend.repository.load_events())
    changed = attrs.evolve(fill, fee=Decimal(99))
    unit = UnitOfWork(
        events=(
            PositionOpened(
                position_id="p-1",
                symbol="BTC/USDT",
                side="long",
                size=Decimal("0.1"),
                entry_price=Decimal(45000),
                at=T0,
            ),
        ),
        orders=(an_order("o-2"),),
        fills=(a_fill("T-2"), changed),
        positions=(a_position(),),
        snapshots=(a_snapshot(),),
    )

    with pytest.raises(backend.conflict_error):
        await backend.repository.commit(unit)

    assert list(await backend.repository.load_events()) == before
    assert await backend.repository.load_order("o-2") is None
    assert await backend.repository.find_order_by_client_id("cl-o-2") is None
    assert await backend.repository.load_fills("o-1") == [fill]
    assert await backend.repository.load_position("p-1") is None
    assert await backend.repository.load_open_positions() == []
    assert await backend.repository.load_snapshots("p-1") == []


async def test_a_failed_commit_stores_nothing_and_the_retried_unit_is_stored_once(
    backend: Backend,
) -> None:
    stored_fill = a_fill()
    await backend.repository.commit(UnitOfWork(fills=(stored_fill,)))
    new_fill = a_fill("T-2")
    unit = UnitOfWork(
        events=(created(an_order("o-2")),),
        orders=(an_order("o-2"),),
        fills=(new_fill,),
        positions=(a_position(),),
        snapshots=(a_snapshot(),),
    )

    with pytest.raises(Exception) as failure:  # noqa: PT011 - the backend decides the type
        await backend.repository.commit(backend.break_next_commit(unit, stored_fill))
    assert isinstance(failure.value, (RepositoryWriteError, WriteConflict))
    assert list(await backend.repository.load_events()) == []
    assert await backend.repository.load_order("o-2") is None
    assert await backend.repository.load_fills("o-1") == [stored_fill]
    assert await backend.repository.load_position("p-1") is None
    assert await backend.repository.load_snapshots("p-1") == []

    await backend.repository.commit(unit)

    assert events_of(list(await backend.repository.load_events())) == [created(an_order("o-2"))]
    assert await backend.repository.load_order("o-2") == an_order("o-2")
    assert await backend.repository.load_fills("o-1") == [stored_fill, new_fill]
    assert await backend.repository.load_position("p-1") == a_position()
    assert await backend.repository.load_snapshots("p-1") == [a_snapshot()]


async def test_an_empty_unit_of_work_stores_nothing(backend: Backend) -> None:
    await backend.repository.commit(UnitOfWork())

    assert list(await backend.repository.load_events()) == []
    assert await backend.repository.load_open_orders() == []
    assert await backend.repository.load_open_positions() == []


# --------------------------------------------------------------------------- positions
async def test_a_committed_position_loads_by_id_with_every_field(backend: Backend) -> None:
    position = a_position()
    await backend.repository.commit(UnitOfWork(positions=(position,)))

    loaded = await backend.repository.load_position("p-1")

    assert loaded == position
    assert loaded is not None
    assert loaded.trailing == TrailingStop(activation_pct=1, distance_pct="1.5")
    assert loaded.opened_at == T0
    assert await backend.repository.load_position("p-unknown") is None


async def test_open_positions_leave_out_closed_ones_which_still_load_by_id(
    backend: Backend,
) -> None:
    still_open = a_position("p-open")
    closed = a_position("p-closed").close(46000, at=T0 + timedelta(hours=1), fee="18.4").unwrap()
    await backend.repository.commit(UnitOfWork(positions=(still_open, closed.position)))

    assert await backend.repository.load_open_positions() == [still_open]
    loaded = await backend.repository.load_position("p-closed")
    assert loaded == closed.position
    assert loaded is not None
    assert loaded.closed_at == T0 + timedelta(hours=1)
    assert loaded.realized_pnl == closed.position.realized_pnl


async def test_a_recommitted_position_replaces_its_previous_state(backend: Backend) -> None:
    position = a_position()
    await backend.repository.commit(UnitOfWork(positions=(position,)))
    trailed = position.trail(45450)
    await backend.repository.commit(UnitOfWork(positions=(trailed,)))

    loaded = await backend.repository.load_position("p-1")

    assert loaded == trailed
    assert loaded is not None
    assert loaded.stop_loss == Decimal("44768.250")
    assert loaded.trailing is not None
    assert loaded.trailing.extreme == Decimal(45450)
    assert await backend.repository.load_open_positions() == [trailed]


# --------------------------------------------------------------------------- snapshots
async def test_snapshots_load_per_position_oldest_first(backend: Backend) -> None:
    first = a_snapshot(minute=0, price="46000")
    second = a_snapshot(minute=1, price="46100")
    other = a_snapshot("p-2", minute=0)
    third = a_snapshot(minute=2, price="45900")
    await backend.repository.commit(UnitOfWork(snapshots=(first, second, other)))
    await backend.repository.commit(UnitOfWork(snapshots=(third,)))

    assert await backend.repository.load_snapshots("p-1") == [first, second, third]
    assert await backend.repository.load_snapshots("p-2") == [other]
    assert await backend.repository.load_snapshots("p-3") == []


# --------------------------------------------------------------------------- exactness, durability
async def test_money_values_round_trip_exactly(backend: Backend) -> None:
    fill = a_fill(quantity=TINY, price=LARGE, fee=Decimal("0.000000000000000001"))
    order = an_order(price=LARGE, size=Decimal("1E-8"), fills=(fill,))
    position = a_position(size="0.00000001")
    snapshot = a_snapshot(price="123456789.123456789")
    await backend.repository.commit(
        UnitOfWork(orders=(order,), fills=(fill,), positions=(position,), snapshots=(snapshot,))
    )

    (loaded_fill,) = await backend.repository.load_fills("o-1")
    loaded_order = await backend.repository.load_order("o-1")
    loaded_position = await backend.repository.load_position("p-1")
    (loaded_snapshot,) = await backend.repository.load_snapshots("p-1")

    assert loaded_order is not None
    assert loaded_position is not None
    assert (str(loaded_fill.quantity), str(loaded_fill.price), str(loaded_fill.fee)) == (
        "1E-8",
        "123456789.123456789",
        "1E-18",
    )
    assert (str(loaded_order.price), str(loaded_order.size)) == ("123456789.123456789", "1E-8")
    assert loaded_position.size == TINY
    assert str(loaded_position.size) == str(TINY) == "1E-8"
    assert str(loaded_snapshot.price) == "123456789.123456789"
    assert str(loaded_snapshot.unrealized_pnl_pct) == "2.826666666666666666666666667"


async def test_a_new_repository_instance_over_the_same_store_sees_everything(
    backend: Backend,
) -> None:
    fill = a_fill()
    order = an_order(status=OrderStatus.PARTIALLY_FILLED, fills=(fill,))
    position = a_position()
    events: tuple[Event, ...] = (created(order),)
    await backend.repository.commit(
        UnitOfWork(
            events=events,
            orders=(order,),
            fills=(fill,),
            positions=(position,),
            snapshots=(a_snapshot(),),
        )
    )

    reopened = await backend.reopen()

    assert events_of(list(await reopened.load_events())) == list(events)
    assert await reopened.load_open_orders() == [order]
    loaded = await reopened.find_order_by_client_id("cl-o-1")
    assert loaded is not None
    assert dict(loaded.fills) == {"T-1": fill}
    assert await reopened.load_fills("o-1") == [fill]
    assert await reopened.load_open_positions() == [position]
    assert await reopened.load_snapshots("p-1") == [a_snapshot()]
    # And the new instance keeps appending after what is stored.
    later = OrderAccepted(order_id="o-1", exchange_order_id="EX-o-1", at=T0)
    await reopened.commit(UnitOfWork(events=(later,)))
    assert events_of(list(await reopened.load_events())) == [*events, later]


async def test_a_client_order_id_reused_by_another_order_is_refused_and_nothing_is_stored(
    backend: Backend,
) -> None:
    first = an_order("o-1")
    await backend.repository.commit(UnitOfWork(events=(created(first),), orders=(first,)))
    thief = attrs.evolve(an_order("o-2"), client_order_id=first.client_order_id)

    with pytest.raises((RepositoryWriteError, WriteConflict)):
        await backend.repository.commit(UnitOfWork(events=(created(thief),), orders=(thief,)))

    assert await backend.repository.load_order("o-2") is None
    assert await backend.repository.find_order_by_client_id(first.client_order_id) == first
    assert len(await backend.repository.load_events()) == 1
