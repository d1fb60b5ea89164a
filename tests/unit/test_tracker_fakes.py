"""Fakes and builders shared by the PositionTracker tests (no tests here).

Fakes with observable state, not mocks: `FakeOrderControl.exchange_stops` is the stop each
position's exchange order holds, `FakeRiskEngine.exposures` every exposure map it received,
`RecordingPublisher.events` everything published. Test files import this module by putting its
folder on `sys.path` (tests are not a package).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import attrs
from returns.result import Failure, Result, Success

from adapters.memory.clock import FakeClock
from adapters.memory.repository import InMemoryRepository
from execution_core.config import ExecutionConfig
from execution_core.domain.enums import (
    FeeCurrency,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
)
from execution_core.domain.events import Event
from execution_core.domain.instruments import BTC_USDT, Instruments, default_instruments
from execution_core.domain.orders import Fill, Order
from execution_core.domain.refusals import Refusal
from execution_core.domain.trailing import TrailingStop
from execution_core.ports import (
    CircuitBreakerStatus,
    ExchangeFailure,
    FailureKind,
    RetryClass,
    RiskAlert,
)
from execution_core.service.results import ExecutionResult
from execution_core.service.tracker import PositionTracker

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
E = TypeVar("E")
BTC = "BTC/USDT"

REJECTED_AMEND = ExchangeFailure(
    kind=FailureKind.INVALID_PRICE,
    retry=RetryClass.NEVER,
    code="EOrder:Invalid price",
    message="stop price on the wrong side of the market",
)


class FakeOrderControl:
    """The manager's face to the tracker, with the exchange's protective orders as state.

    `fail_amends` makes the next amendments fail, `refused_kinds` every amendment of a kind
    ("stop", "take_profit"); each event in `holds` holds one amendment
    (the next one to arrive) until the test sets it, to interleave two flows.
    """

    def __init__(self) -> None:
        self.exchange_stops: dict[str, Decimal] = {}
        self.exchange_take_profits: dict[str, Decimal] = {}
        self.amends: list[tuple[str, str, Decimal]] = []
        self.closes: list[tuple[str, Decimal, str]] = []
        self.halts: list[str] = []
        self.fail_amends = 0
        self.refused_kinds: set[str] = set()
        self.fail_closes = False
        self.holds: list[asyncio.Event] = []

    async def _amend(
        self, kind: str, book: dict[str, Decimal], position_id: str, level: Decimal
    ) -> Result[None, ExchangeFailure | Refusal]:
        if self.holds:
            await self.holds.pop(0).wait()
        self.amends.append((kind, position_id, level))
        if kind in self.refused_kinds:
            return Failure(REJECTED_AMEND)
        if self.fail_amends:
            self.fail_amends -= 1
            return Failure(REJECTED_AMEND)
        book[position_id] = level
        return Success(None)

    async def amend_stop(
        self, position_id: str, stop_loss: Decimal
    ) -> Result[None, ExchangeFailure | Refusal]:
        return await self._amend("stop", self.exchange_stops, position_id, stop_loss)

    async def amend_take_profit(
        self, position_id: str, take_profit: Decimal
    ) -> Result[None, ExchangeFailure | Refusal]:
        return await self._amend(
            "take_profit", self.exchange_take_profits, position_id, take_profit
        )

    async def close_position(
        self, position_id: str, *, fraction: Decimal = Decimal(1), reason: str
    ) -> ExecutionResult:
        self.closes.append((position_id, fraction, reason))
        if self.fail_closes:
            return ExecutionResult(
                success=False,
                reason="insufficient_funds",
                error_message="EOrder:Insufficient funds",
            )
        return ExecutionResult(success=True, order_id=f"exit-{len(self.closes)}")

    async def halt(self, reason: str) -> None:
        self.halts.append(reason)


class FakeRiskEngine:
    """Records every exposure map; hands out the alerts a test queues."""

    def __init__(self) -> None:
        self.exposures: list[dict[str, Decimal]] = []
        self.queued: list[RiskAlert] = []
        self.breaker = CircuitBreakerStatus(active=False)

    @property
    def last_exposures(self) -> dict[str, Decimal] | None:
        return self.exposures[-1] if self.exposures else None

    async def circuit_breaker(self) -> CircuitBreakerStatus:
        return self.breaker

    async def update_exposures(self, exposures: Mapping[str, Decimal]) -> None:
        self.exposures.append(dict(exposures))

    async def drain_alerts(self) -> Sequence[RiskAlert]:
        alerts, self.queued = self.queued, []
        return alerts


class RecordingPublisher:
    """Keeps every published event, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.events.extend(events)

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]


@attrs.define
class World:
    """A tracker wired to fakes, and the fakes to look at."""

    tracker: PositionTracker
    clock: FakeClock
    repository: InMemoryRepository
    orders: FakeOrderControl
    risk: FakeRiskEngine
    publisher: RecordingPublisher

    def stored(self, kind: type[E]) -> list[E]:
        """The stored events of one kind, in order."""
        return [s.event for s in self.repository.events if isinstance(s.event, kind)]


def make_world(
    *,
    config: ExecutionConfig | None = None,
    instruments: Instruments | None = None,
    attach: bool = True,
) -> World:
    clock = FakeClock(T0)
    repository = InMemoryRepository()
    risk = FakeRiskEngine()
    publisher = RecordingPublisher()
    tracker = PositionTracker(
        repository=repository,
        clock=clock,
        config=config or ExecutionConfig(),
        instruments=instruments or default_instruments(),
        risk_engine=risk,
        publisher=publisher,
    )
    orders = FakeOrderControl()
    if attach:
        tracker.attach(orders)
    return World(
        tracker=tracker,
        clock=clock,
        repository=repository,
        orders=orders,
        risk=risk,
        publisher=publisher,
    )


def fine_ticks() -> Instruments:
    """BTC/USDT with a 0.01 tick, so that design.md's trailing numbers need no rounding."""
    return Instruments.of([attrs.evolve(BTC_USDT, tick_size=Decimal("0.01"))])


_trade_ids = itertools.count(1)


def order(
    order_id: str = "p1",
    *,
    side: OrderSide = OrderSide.BUY,
    size: Decimal | str = "0.1",
    role: OrderRole = OrderRole.ENTRY,
    position_id: str | None = None,
    symbol: str = BTC,
    leverage: Decimal | str = "1",
) -> Order:
    return Order(
        id=order_id,
        client_order_id=f"c-{order_id}",
        symbol=symbol,
        side=side,
        order_type=OrderType.LIMIT,
        size=Decimal(size),
        price=Decimal(45_000),
        leverage=Decimal(leverage),
        role=role,
        position_id=position_id,
        status=OrderStatus.OPEN,
    )


def exit_order(
    position_id: str = "p1",
    *,
    side: OrderSide = OrderSide.SELL,
    size: Decimal | str = "0.1",
    role: OrderRole = OrderRole.EXIT,
    order_id: str | None = None,
) -> Order:
    return order(
        order_id or f"x-{position_id}-{next(_trade_ids)}",
        side=side,
        size=size,
        role=role,
        position_id=position_id,
    )


def fill(
    of: Order,
    quantity: Decimal | str,
    price: Decimal | str | int,
    *,
    fee: Decimal | str = "0",
    fee_currency: FeeCurrency = FeeCurrency.QUOTE,
    at: datetime = T0,
) -> Fill:
    return Fill(
        trade_id=f"T{next(_trade_ids)}",
        order_id=of.id,
        symbol=of.symbol,
        side=of.side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency=fee_currency,
        timestamp=at,
    )


def open_long(
    world: World,
    position_id: str = "p1",
    *,
    size: str = "0.1",
    price: int | str = 45_000,
    stop_loss: Decimal | str | None = "44500",
    take_profit: Decimal | str | None = "46000",
    trailing: TrailingStop | None = None,
    fee: str = "0",
) -> None:
    entry = order(position_id, size=size)
    world.tracker.apply_entry_fill(
        entry,
        fill(entry, size, price, fee=fee),
        at=world.clock.now(),
        stop_loss=None if stop_loss is None else Decimal(stop_loss),
        take_profit=None if take_profit is None else Decimal(take_profit),
        trailing=trailing,
    )


def open_short(
    world: World,
    position_id: str = "s1",
    *,
    size: str = "0.1",
    price: int | str = 45_000,
    stop_loss: Decimal | str | None = "45500",
    take_profit: Decimal | str | None = "44000",
    trailing: TrailingStop | None = None,
) -> None:
    entry = order(position_id, side=OrderSide.SELL, size=size)
    world.tracker.apply_entry_fill(
        entry,
        fill(entry, size, price),
        at=world.clock.now(),
        stop_loss=None if stop_loss is None else Decimal(stop_loss),
        take_profit=None if take_profit is None else Decimal(take_profit),
        trailing=trailing,
    )
