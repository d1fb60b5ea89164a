"""The scenario kit: the whole service wired over an exchange you choose, for integration tests.

A scenario is a `World`: an `OrderExecutionManager` and its `PositionTracker` over one
`InMemoryRepository`, one `FakeClock`, a recording risk engine and publisher, and a `Venue` -- an
exchange behind the `Exchange` port plus the hands a test needs to drive the market behind it
(fund the account, move the price, cap the liquidity, read the undistorted truth).

The exchange is a parameter. `VENUES` maps a name to an async factory:

- `"simulated"`: `SimulatedExchange` over the paper engine, with its seeded fault kit (`Faults`);
- `"kraken"`: `KrakenExchange` over aiohttp against the local Kraken-compatible server
  (`adapters.kraken.testing`) on 127.0.0.1, on the scenario's clock; no `Faults` kit.

Every test module parametrizes its `venue_factory` fixture over `venue_names()`, so each scenario
runs against each venue. Choose them with `EXECUTION_CORE_VENUES=simulated` (comma-separated;
default: all). A venue without a fault kit (`faults` is None) makes the tests that need one
skip. Another adapter joins by adding a factory that returns an object satisfying `Venue`.

This module is not a test file (pytest collects `test_*.py`); tests are not a package, so a test
module puts this directory on `sys.path` and imports it:

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scenarios import VENUES, VenueFactory, scenario, venue_names

    @pytest.fixture(params=venue_names())
    def venue_factory(request: pytest.FixtureRequest) -> VenueFactory:
        return VENUES[request.param]

    async def test_something(venue_factory: VenueFactory) -> None:
        async with scenario(venue_factory) as world:
            result = await world.manager.execute_trade(proposal)
            await world.step(seconds=5, price=45_100)

The composition follows docs/dev/service-design.md: the tracker and the manager share the
repository, the clock, the config, the risk engine, the publisher and the venue's instruments;
`manager.start(run_loops=False)` loads the live instruments and reconciles, and the test drives
the monitor by hand (`world.poll()`, `world.step(...)`), so nothing runs behind its back.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol, TypeVar

import attrs
from returns.result import Result, Success

from adapters.kraken.exchange import KrakenExchange
from adapters.kraken.testing import KrakenTestServer, local_kraken
from adapters.kraken.testing.server import ENGINE_TIERS
from adapters.memory.clock import FakeClock
from adapters.memory.engine import PaperEngine
from adapters.memory.engine_types import EngineConfig
from adapters.memory.faults import Faults
from adapters.memory.repository import InMemoryRepository
from adapters.memory.simulated import SimulatedExchange
from execution_core.config import ExecutionConfig, RateLimitTier
from execution_core.domain.enums import OrderRole, SymbolStatus
from execution_core.domain.events import AlertRaised, Event
from execution_core.domain.instruments import Instrument, Instruments, default_instruments
from execution_core.domain.numbers import DecimalLike, to_decimal
from execution_core.domain.orders import Order
from execution_core.domain.proposals import TradeProposal
from execution_core.ports import (
    Amendment,
    Balance,
    CircuitBreakerStatus,
    Exchange,
    ExchangeFailure,
    OrderReport,
    Placement,
    RiskAlert,
    TradeReport,
)
from execution_core.service.manager import OrderExecutionManager
from execution_core.service.results import PollSummary, ReconciliationSummary
from execution_core.service.tracker import PositionTracker

_E = TypeVar("_E")

BTC = "BTC/USDT"
XRP = "XRP/USDT"
XRP_BTC = "XRP/BTC"


# --------------------------------------------------------------------------- recording fakes
class RecordingRiskEngine:
    """A risk engine that records every exposure it is sent and hands out queued alerts.

    `breaker` is what `circuit_breaker()` answers (set it to trip the breaker); `exposures`
    holds every mapping `update_exposures` received, oldest first; `raise_alert` queues an
    alert for the next `drain_alerts`.
    """

    def __init__(self) -> None:
        self.breaker = CircuitBreakerStatus(active=False)
        self.exposures: list[dict[str, Decimal]] = []
        self._alerts: list[RiskAlert] = []

    async def circuit_breaker(self) -> CircuitBreakerStatus:
        return self.breaker

    async def update_exposures(self, exposures: Mapping[str, Decimal]) -> None:
        self.exposures.append(dict(exposures))

    async def drain_alerts(self) -> Sequence[RiskAlert]:
        alerts, self._alerts = self._alerts, []
        return alerts

    def raise_alert(self, alert: RiskAlert) -> None:
        self._alerts.append(alert)

    @property
    def last_exposure(self) -> dict[str, Decimal]:
        """The most recent exposures sent (empty before the first)."""
        return self.exposures[-1] if self.exposures else {}


class RecordingPublisher:
    """An event publisher that keeps everything it was given, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


# --------------------------------------------------------------------------- venues
@attrs.frozen(kw_only=True)
class VenueOptions:
    """How a venue is set up for one scenario.

    - `seed`: the exchange's own randomness (order and trade ids) and its fault kit's stream;
    - `instruments`: the pairs it trades, with their rules (ticks, minimums, fees);
    - `hold_untriggered`: untriggered stop-loss / take-profit orders hold the base like any open
      order (Kraken spot does; the take-profit of a stop-protected position then cannot rest at
      the exchange and the manager watches it instead). The default, False, lets both rest;
    - `latency`: None = calls never suspend; 0 = every call yields to the event loop once (as a
      network call does, which lets concurrent flows interleave); > 0 = sleeps on the clock;
    - `rate_limited`: whether the per-pair trading counter (Starter tier) is enforced.
    """

    seed: int = 0
    instruments: Instruments = attrs.field(factory=default_instruments)
    hold_untriggered: bool = False
    latency: float | None = None
    rate_limited: bool = True


class Venue(Protocol):
    """An exchange behind the `Exchange` port and the hands to drive the market behind it."""

    @property
    def name(self) -> str:
        """Which venue this is (for ids and messages)."""
        ...

    @property
    def exchange(self) -> Exchange:
        """The adapter the manager talks to."""
        ...

    @property
    def faults(self) -> Faults | None:
        """The seeded fault kit, or None when the venue cannot inject faults."""
        ...

    @property
    def calls(self) -> Mapping[str, int]:
        """Port calls made so far, by method name (`calls["order_status"]`)."""
        ...

    async def fund(self, asset: str, amount: Decimal) -> None:
        """Add `amount` of `asset` to the account."""
        ...

    async def set_price(
        self, symbol: str, price: Decimal, *, low: Decimal | None, high: Decimal | None
    ) -> None:
        """Move `symbol` to `price` (through `[low, high]` when given), matching what it crosses."""
        ...

    async def set_liquidity(self, symbol: str, per_update: Decimal | None) -> None:
        """Cap the base volume one price move fills on `symbol` (None: no cap)."""
        ...

    async def set_fee_rates(self, *, maker: Decimal, taker: Decimal) -> None:
        """The account's maker / taker fee rates (fractions)."""
        ...

    async def set_pair_status(self, symbol: str, status: SymbolStatus) -> None:
        """Put a pair into `cancel_only`, `limit_only`, ... mode."""
        ...

    async def sync(self) -> None:
        """Let time pass at the exchange up to the clock's now (GTD expiry, dead man's switch)."""
        ...

    async def orders(self) -> Sequence[OrderReport]:
        """Every order of the account, open and closed, as the exchange really holds it."""
        ...

    async def trades(self) -> Sequence[TradeReport]:
        """Every trade of the account, oldest first, as the exchange really made it."""
        ...

    async def close(self) -> None:
        """Release what the venue holds (servers, sessions)."""
        ...


VenueFactory = Callable[[VenueOptions, FakeClock], Awaitable[Venue]]
"""Builds a venue on the scenario's clock."""


class CountingExchange:
    """An `Exchange` that counts every call by method name and passes it on unchanged.

    Every venue hands the manager one of these, so a test asserts call counts ("one status call
    per poll", "amended, never re-placed") the same way whatever the adapter underneath.
    """

    def __init__(self, inner: Exchange) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    async def place_order(self, order: Order) -> Result[Placement, ExchangeFailure]:
        self.calls["place_order"] += 1
        return await self.inner.place_order(order)

    async def amend_order(
        self, order: Order, amendment: Amendment
    ) -> Result[None, ExchangeFailure]:
        self.calls["amend_order"] += 1
        return await self.inner.amend_order(order, amendment)

    async def cancel_order(self, order: Order) -> Result[None, ExchangeFailure]:
        self.calls["cancel_order"] += 1
        return await self.inner.cancel_order(order)

    async def cancel_all(self) -> Result[int, ExchangeFailure]:
        self.calls["cancel_all"] += 1
        return await self.inner.cancel_all()

    async def cancel_all_after(self, timeout_seconds: int) -> Result[None, ExchangeFailure]:
        self.calls["cancel_all_after"] += 1
        return await self.inner.cancel_all_after(timeout_seconds)

    async def order_status(
        self, exchange_order_ids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        self.calls["order_status"] += 1
        return await self.inner.order_status(exchange_order_ids)

    async def find_order(self, client_order_id: str) -> Result[OrderReport | None, ExchangeFailure]:
        self.calls["find_order"] += 1
        return await self.inner.find_order(client_order_id)

    async def open_orders(self) -> Result[Sequence[OrderReport], ExchangeFailure]:
        self.calls["open_orders"] += 1
        return await self.inner.open_orders()

    async def balances(self) -> Result[Mapping[str, Balance], ExchangeFailure]:
        self.calls["balances"] += 1
        return await self.inner.balances()

    async def instruments(self) -> Result[Sequence[Instrument], ExchangeFailure]:
        self.calls["instruments"] += 1
        return await self.inner.instruments()

    async def reference_price(self, symbol: str) -> Result[Decimal, ExchangeFailure]:
        self.calls["reference_price"] += 1
        return await self.inner.reference_price(symbol)


_counts: type[Exchange] = CountingExchange


def _engine_orders(engine: PaperEngine) -> list[OrderReport]:
    infos = [*engine.open_orders().values(), *engine.closed_orders().values()]
    return [info.to_report() for info in infos]


def _engine_trades(engine: PaperEngine) -> list[TradeReport]:
    return [trade.to_report() for trade in reversed(engine.trades_history())]


class SimulatedVenue:
    """`SimulatedExchange` (the paper engine) driven directly; its engine is the truth."""

    def __init__(self, options: VenueOptions, clock: FakeClock) -> None:
        self.simulated = SimulatedExchange(
            clock=clock,
            instruments=list(options.instruments),
            seed=options.seed,
            config=EngineConfig(
                hold_untriggered=options.hold_untriggered,
                enforce_rate_limit=options.rate_limited,
            ),
            faults=Faults(options.seed),
            latency=options.latency,
        )
        self.counting = CountingExchange(self.simulated)

    @property
    def name(self) -> str:
        return "simulated"

    @property
    def exchange(self) -> Exchange:
        return self.counting

    @property
    def faults(self) -> Faults | None:
        return self.simulated.faults

    @property
    def calls(self) -> Mapping[str, int]:
        return self.counting.calls

    async def fund(self, asset: str, amount: Decimal) -> None:
        self.simulated.deposit(asset, amount)

    async def set_price(
        self, symbol: str, price: Decimal, *, low: Decimal | None, high: Decimal | None
    ) -> None:
        self.simulated.set_price(symbol, price, low=low, high=high)

    async def set_liquidity(self, symbol: str, per_update: Decimal | None) -> None:
        self.simulated.set_liquidity(symbol, per_update=per_update)

    async def set_fee_rates(self, *, maker: Decimal, taker: Decimal) -> None:
        self.simulated.set_fee_rates(maker=maker, taker=taker)

    async def set_pair_status(self, symbol: str, status: SymbolStatus) -> None:
        self.simulated.set_pair_status(symbol, status)

    async def sync(self) -> None:
        self.simulated.sync()

    async def orders(self) -> Sequence[OrderReport]:
        return _engine_orders(self.simulated.engine)

    async def trades(self) -> Sequence[TradeReport]:
        return _engine_trades(self.simulated.engine)

    async def close(self) -> None:
        return None


class KrakenVenue:
    """`KrakenExchange` over HTTP on 127.0.0.1 against the local Kraken-compatible server.

    The server runs the same paper engine on the scenario's `FakeClock` (shared with the
    adapter, so expiry and rate counters follow `clock.advance`); the engine is the truth. The
    server's own fault kit speaks HTTP, not the `Faults` of the paper exchange: `faults` is None.
    """

    def __init__(self, server: KrakenTestServer) -> None:
        self.server = server
        self.kraken: KrakenExchange | None = None
        self.counting: CountingExchange | None = None
        self._stack = contextlib.AsyncExitStack()

    @classmethod
    async def create(cls, options: VenueOptions, clock: FakeClock) -> KrakenVenue:
        """A started server and a started adapter on it, with an empty account."""
        tier = RateLimitTier.STARTER
        server = KrakenTestServer(
            instruments=list(options.instruments),
            tier=tier,
            engine_config=EngineConfig(
                tier=ENGINE_TIERS[tier],
                hold_untriggered=options.hold_untriggered,
                enforce_rate_limit=options.rate_limited,
            ),
            clock=clock,
            seed=options.seed,
        )
        venue = cls(server)
        try:
            await venue._stack.enter_async_context(server)
            rig = await venue._stack.enter_async_context(
                local_kraken(server=server, tier=tier, balances={})
            )
        except BaseException:
            await venue._stack.aclose()
            raise
        venue.kraken = rig.exchange
        venue.counting = CountingExchange(rig.exchange)
        return venue

    @property
    def name(self) -> str:
        return "kraken"

    @property
    def exchange(self) -> Exchange:
        assert self.counting is not None, "KrakenVenue.create() starts the venue"
        return self.counting

    @property
    def faults(self) -> Faults | None:
        return None

    @property
    def calls(self) -> Mapping[str, int]:
        return Counter() if self.counting is None else self.counting.calls

    async def fund(self, asset: str, amount: Decimal) -> None:
        self.server.deposit(asset, amount)

    async def set_price(
        self, symbol: str, price: Decimal, *, low: Decimal | None, high: Decimal | None
    ) -> None:
        self.server.set_price(symbol, price, low=low, high=high)

    async def set_liquidity(self, symbol: str, per_update: Decimal | None) -> None:
        self.server.engine.set_liquidity(symbol, per_update=per_update, per_order=None)

    async def set_fee_rates(self, *, maker: Decimal, taker: Decimal) -> None:
        self.server.engine.set_fee_rates(maker=maker, taker=taker)
        await self._reload()

    async def set_pair_status(self, symbol: str, status: SymbolStatus) -> None:
        self.server.set_pair_status(symbol, status)
        if self.kraken is not None:  # AssetPairs is read once: read it again (not start(): its
            # key check places a validate-only order, which a cancel-only pair refuses)
            loaded = await self.kraken.load_instruments()
            assert isinstance(loaded, Success), loaded

    async def _reload(self) -> None:
        # The adapter reads AssetPairs and the fee tier once, at its start: start it again so
        # that it sees the changed rules (as a restarted bot would).
        if self.kraken is not None:
            started = await self.kraken.start()
            assert isinstance(started, Success), started

    async def sync(self) -> None:
        self.server.engine.advance(self.server.clock.now())

    async def orders(self) -> Sequence[OrderReport]:
        return _engine_orders(self.server.engine)

    async def trades(self) -> Sequence[TradeReport]:
        return _engine_trades(self.server.engine)

    async def close(self) -> None:
        await self._stack.aclose()


async def simulated_venue(options: VenueOptions, clock: FakeClock) -> Venue:
    """The `"simulated"` venue factory."""
    return SimulatedVenue(options, clock)


async def kraken_venue(options: VenueOptions, clock: FakeClock) -> Venue:
    """The `"kraken"` venue factory (a local Kraken-compatible server on 127.0.0.1)."""
    return await KrakenVenue.create(options, clock)


_simulated: type[Venue] = SimulatedVenue
_kraken: type[Venue] = KrakenVenue

VENUES: dict[str, VenueFactory] = {"simulated": simulated_venue, "kraken": kraken_venue}
"""Venue factories by name; `EXECUTION_CORE_VENUES` chooses among them."""


def venue_names() -> list[str]:
    """The venues to run: `EXECUTION_CORE_VENUES` (comma-separated), else every registered one."""
    chosen = os.environ.get("EXECUTION_CORE_VENUES", "")
    names = [name.strip() for name in chosen.split(",") if name.strip()] or list(VENUES)
    unknown = [name for name in names if name not in VENUES]
    if unknown:
        msg = f"EXECUTION_CORE_VENUES names unknown venues {unknown} (known: {sorted(VENUES)})"
        raise ValueError(msg)
    return names


# --------------------------------------------------------------------------- the world
@attrs.define
class World:
    """One wired service over one venue; see the module docstring."""

    venue: Venue
    clock: FakeClock
    repository: InMemoryRepository
    risk: RecordingRiskEngine
    publisher: RecordingPublisher
    config: ExecutionConfig
    instruments: Instruments
    manager: OrderExecutionManager
    tracker: PositionTracker
    exchange: Exchange
    """What the manager talks to: the venue's exchange, or what `scenario(wrap=...)` made of it."""
    generation: int = 0

    # ------------------------------------------------------------------ driving
    async def price(
        self,
        price: DecimalLike,
        *,
        symbol: str = BTC,
        low: DecimalLike | None = None,
        high: DecimalLike | None = None,
    ) -> None:
        """Move the market (a jump, or a bar through `[low, high]`)."""
        await self.venue.set_price(
            symbol,
            to_decimal(price, field="price"),
            low=None if low is None else to_decimal(low, field="low"),
            high=None if high is None else to_decimal(high, field="high"),
        )

    async def liquidity(self, per_update: DecimalLike | None, *, symbol: str = BTC) -> None:
        """Cap what one price move fills on `symbol` (None: no cap)."""
        cap = None if per_update is None else to_decimal(per_update, field="per_update")
        await self.venue.set_liquidity(symbol, cap)

    async def poll(self) -> PollSummary:
        """One monitoring pass of the manager."""
        return await self.manager.poll_once()

    async def step(
        self,
        *,
        seconds: float = 0,
        price: DecimalLike | None = None,
        symbol: str = BTC,
        low: DecimalLike | None = None,
        high: DecimalLike | None = None,
    ) -> PollSummary:
        """Let `seconds` pass, move the market if a price is given, then poll once."""
        if seconds:
            self.clock.advance(seconds)
        await self.venue.sync()
        if price is not None:
            await self.price(price, symbol=symbol, low=low, high=high)
        return await self.poll()

    async def open_position(self, proposal: TradeProposal) -> str:
        """Execute `proposal` and poll once; the position's id (the entry order's id)."""
        result = await self.manager.execute_trade(proposal)
        assert result.success, f"{proposal} was refused: {result.reason}: {result.error_message}"
        assert result.order_id is not None
        await self.poll()
        return result.order_id

    async def restart(self) -> ReconciliationSummary:
        """A new process: a fresh tracker and manager over the same store and venue, started."""
        self.generation += 1
        self.tracker, self.manager = _service(
            self.exchange,
            self.repository,
            self.clock,
            self.config,
            self.instruments,
            self.risk,
            self.publisher,
            prefix=f"g{self.generation}-o",
        )
        return await self.manager.start(run_loops=False)

    # ------------------------------------------------------------------ reading the book
    def linked(self, position_id: str) -> list[Order]:
        """The manager's open orders that belong to a position (its stop, target, exits)."""
        return [o for o in self.manager.open_orders() if o.position_id == position_id]

    def role(self, position_id: str, role: OrderRole) -> Order | None:
        """The position's open order with this role, if any."""
        found = [o for o in self.linked(position_id) if o.role is role]
        assert len(found) <= 1, f"position {position_id} has {len(found)} open {role} orders"
        return found[0] if found else None

    def stored(self, kind: type[_E]) -> list[_E]:
        """The events of one type in the repository, in sequence order."""
        return [s.event for s in self.repository.events if isinstance(s.event, kind)]

    def published(self, kind: type[_E]) -> list[_E]:
        """The events of one type the publisher received, in order."""
        return [e for e in self.publisher.events if isinstance(e, kind)]

    def alerts(self, source: str | None = None) -> list[AlertRaised]:
        """Stored alerts, of one source or all."""
        return [a for a in self.stored(AlertRaised) if source is None or a.source == source]

    # ------------------------------------------------------------------ the exchange's truth
    async def at_exchange(self, order: Order) -> OrderReport:
        """The one exchange order carrying `order`'s client id (asserts there is exactly one)."""
        found = [r for r in await self.venue.orders() if r.client_order_id == order.client_order_id]
        assert len(found) == 1, f"{len(found)} exchange orders carry {order.client_order_id}"
        return found[0]

    async def exchange_orders_by_client_id(self) -> Counter[str]:
        """How many exchange orders carry each client order id."""
        return Counter(r.client_order_id or "" for r in await self.venue.orders())

    async def open_at_exchange(self) -> list[OrderReport]:
        """The orders the exchange really holds open."""
        return [r for r in await self.venue.orders() if not r.is_closed]


def _service(  # noqa: PLR0917 - private: the composition root's parts, in one order
    exchange: Exchange,
    repository: InMemoryRepository,
    clock: FakeClock,
    config: ExecutionConfig,
    instruments: Instruments,
    risk: RecordingRiskEngine,
    publisher: RecordingPublisher,
    *,
    prefix: str,
) -> tuple[PositionTracker, OrderExecutionManager]:
    tracker = PositionTracker(
        repository=repository,
        clock=clock,
        config=config,
        instruments=instruments,
        risk_engine=risk,
        publisher=publisher,
    )
    ids = (f"{prefix}-{n}" for n in itertools.count(1))
    manager = OrderExecutionManager(
        exchange=exchange,
        repository=repository,
        clock=clock,
        config=config,
        risk_engine=risk,
        publisher=publisher,
        tracker=tracker,
        instruments=instruments,
        id_factory=lambda: next(ids),
    )
    return tracker, manager


DEFAULT_PRICES: Mapping[str, DecimalLike] = {BTC: 45_000}


@contextlib.asynccontextmanager
async def scenario(
    venue_factory: VenueFactory,
    *,
    config: ExecutionConfig | None = None,
    options: VenueOptions | None = None,
    funds: Mapping[str, DecimalLike] | None = None,
    prices: Mapping[str, DecimalLike] | None = None,
    fees: tuple[DecimalLike, DecimalLike] | None = None,
    wrap: Callable[[Exchange], Exchange] | None = None,
    start: bool = True,
) -> AsyncIterator[World]:
    """A started `World`: the venue funded (default 100,000 USDT) and priced (BTC 45,000).

    `fees` is (maker, taker) for the account; `wrap` puts something between the manager and
    the venue's exchange (a proxy that moves the market after a quote, ...); `start=False`
    leaves `manager.start` to the test.
    """
    options = options or VenueOptions()
    clock = FakeClock()
    venue = await venue_factory(options, clock)
    try:
        for asset, amount in (funds if funds is not None else {"USDT": 100_000}).items():
            await venue.fund(asset, to_decimal(amount, field=asset))
        if fees is not None:
            maker, taker = fees
            await venue.set_fee_rates(
                maker=to_decimal(maker, field="maker"), taker=to_decimal(taker, field="taker")
            )
        for symbol, price in (prices if prices is not None else DEFAULT_PRICES).items():
            await venue.set_price(symbol, to_decimal(price, field=symbol), low=None, high=None)
        config = config or ExecutionConfig()
        repository = InMemoryRepository()
        risk = RecordingRiskEngine()
        publisher = RecordingPublisher()
        exchange = venue.exchange if wrap is None else wrap(venue.exchange)
        tracker, manager = _service(
            exchange,
            repository,
            clock,
            config,
            options.instruments,
            risk,
            publisher,
            prefix="o",
        )
        world = World(
            venue=venue,
            clock=clock,
            repository=repository,
            risk=risk,
            publisher=publisher,
            config=config,
            instruments=options.instruments,
            manager=manager,
            tracker=tracker,
            exchange=exchange,
        )
        if start:
            await manager.start(run_loops=False)
        yield world
    finally:
        await venue.close()
