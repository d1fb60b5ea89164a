"""Kraken adapter over HTTP to the local Kraken server on 127.0.0.1 (issue 4 section 5).

`python -m benchmarks.run -k kraken` times one AddOrder round trip two ways against the same
server: a raw aiohttp POST (form body, nonce, signature, `json.loads` of the answer) and
`KrakenExchange.place_order` (the same plus encoding and checking the order, pacing, the
envelope and id checks). `python -m benchmarks.bench_kraken` measures both in one run and prints
their ratio (target <= 1.5x), then runs two scenarios at the Starter tier:

- reconciling 1,000 open orders: `order_status` of all of them, then `open_orders` -- target
  <= 20 QueryOrders calls and no `EAPI:Rate limit exceeded`;
- a burst of 200 orders on one pair: no `EOrder:Rate limit exceeded`, completion within 10% of
  the minimum the counter allows (60 at once, then one per second: 140 s).

The scenarios run on a `ScaledClock` shared by the server and the adapter: time runs 50 times
faster than real time, so the counters' minutes pass in seconds while HTTP, the event loop and
the pacing are real. Times are printed in clock seconds and real seconds.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
from returns.result import Failure

from adapters.kraken.exchange import KrakenExchange, KrakenOptions
from adapters.kraken.ratelimit import CounterLimits, KrakenLimits
from adapters.kraken.signing import sign_request
from adapters.kraken.testing import LOCAL_OPTIONS, ApiKey, KrakenTestServer, ScaledClock
from adapters.memory.engine_types import STARTER, UNLIMITED, EngineConfig, OrderRequest
from benchmarks.harness import Benchmark, Runner, Setup, format_ns, measure
from execution_core.config import RateLimitTier
from execution_core.domain.enums import OrderSide, OrderType
from execution_core.domain.orders import Order

GROUP = "kraken"
OVERHEAD_TARGET = 1.5
SCALE = 50.0
"""Clock seconds per real second in the scenarios."""

_UNPACED = KrakenLimits(
    rest=CounterLimits(maximum=1e12, decay_per_second=1e12),
    trading=CounterLimits(maximum=1e12, decay_per_second=1e12),
)


# --------------------------------------------------------------------------- round trips
class _Rig:
    """One loop, one server, one session and one adapter, shared by every sample."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = KrakenTestServer(
            engine_config=EngineConfig(tier=UNLIMITED), enforce_rest_limit=False
        )
        self.loop.run_until_complete(self._start())
        self.numbers = iter(range(1, 10**9))
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the server and close the session and the loop."""
        if not self.loop.is_closed():
            self.loop.run_until_complete(self.session.close())
            self.loop.run_until_complete(self.server.close())
            self.loop.close()

    async def _start(self) -> None:
        await self.server.start()
        self.server.deposit("USDT", Decimal(10**12))
        self.server.set_price("BTC/USDT", Decimal(50_000))
        self.key: ApiKey = self.server.add_key()
        self.session = aiohttp.ClientSession()
        # The pacing code runs on every call; limits this wide never make it wait.
        options = attrs.evolve(LOCAL_OPTIONS, limits=_UNPACED, check_key_on_start=False)
        self.exchange = KrakenExchange(
            self.session, self.key.credentials, base_url=self.server.base_url, options=options
        )
        (await self.exchange.start()).unwrap()
        self.nonce = time.time_ns()

    def order(self) -> Order:
        number = next(self.numbers)
        return Order(
            id=f"b-{number}",
            client_order_id=f"bench-{number}",
            symbol="BTC/USDT",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=Decimal("0.0001"),
            price=Decimal(10_000) + Decimal(number % 10_000) / 10,
        )

    async def raw_add(self, order: Order) -> str:
        """AddOrder as a minimal client sends it: form body, nonce, signature, JSON answer."""
        self.nonce += 1
        path = "/0/private/AddOrder"
        body = (
            f"nonce={self.nonce}&ordertype=limit&type=buy&volume={order.size}"
            f"&pair=XBTUSDT&price={order.price}&cl_ord_id={order.client_order_id}"
        )
        headers = {
            "API-Key": self.key.api_key,
            "API-Sign": sign_request(path, self.nonce, body, self.key.secret),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with self.session.post(
            f"{self.server.base_url}{path}", data=body.encode(), headers=headers
        ) as response:
            answer: dict[str, Any] = json.loads(await response.read())
        txid: str = answer["result"]["txid"][0]
        return txid

    async def library_add(self, order: Order) -> str:
        return (await self.exchange.place_order(order)).unwrap().exchange_order_id


_rig: _Rig | None = None


def rig() -> _Rig:
    """The shared rig, started on first use."""
    global _rig  # noqa: PLW0603 - one server for every sample, made lazily, never at import
    if _rig is None:
        _rig = _Rig()
    return _rig


def _round_trips(*, library: bool) -> Setup:
    def setup(n: int) -> Runner:
        shared = rig()
        orders = [shared.order() for _ in range(n)]
        add = shared.library_add if library else shared.raw_add

        async def run_all() -> None:
            for order in orders:
                await add(order)

        return lambda: shared.loop.run_until_complete(run_all())

    return setup


RAW = Benchmark(
    group=GROUP, name="AddOrder round trip, raw aiohttp POST", setup=_round_trips(library=False)
)
LIBRARY = Benchmark(
    group=GROUP,
    name="AddOrder round trip, KrakenExchange.place_order",
    setup=_round_trips(library=True),
)


def register() -> Iterator[Benchmark]:
    """The two round trips (the scenarios run from `main`)."""
    yield RAW
    yield LIBRARY


# --------------------------------------------------------------------------- scenarios
@attrs.frozen(kw_only=True)
class ScenarioFigures:
    """What one scenario measured."""

    calls: dict[str, int]
    errors: dict[str, int]
    clock_seconds: float
    real_seconds: float


async def _scenario_exchange(
    server: KrakenTestServer, session: aiohttp.ClientSession, clock: ScaledClock
) -> KrakenExchange:
    key = server.add_key()
    exchange = KrakenExchange(
        session,
        key.credentials,
        base_url=server.base_url,
        tier=RateLimitTier.STARTER,
        clock=clock,
        options=KrakenOptions(public_limit=None),
    )
    (await exchange.start()).unwrap()
    return exchange


async def reconcile_open_orders(count: int = 1_000) -> ScenarioFigures:
    """`order_status` of `count` open orders and one `open_orders`, at Starter."""
    clock = ScaledClock(SCALE)
    # Starter REST limits; the engine lifts Starter's 60-open-orders-per-pair cap so that 1,000
    # orders can rest on one pair, and they are put there directly (the setup is not measured).
    server = KrakenTestServer(clock=clock, engine_config=EngineConfig(tier=UNLIMITED))
    async with server, aiohttp.ClientSession() as session:
        server.deposit("USDT", Decimal(10**9))
        server.set_price("BTC/USDT", Decimal(50_000))
        txids = [
            server.engine.add_order(
                OrderRequest(
                    pair="BTC/USDT",
                    side=OrderSide.BUY,
                    ordertype=OrderType.LIMIT,
                    volume="0.0001",
                    price=Decimal(40_000) + n,
                    cl_ord_id=f"recon-{n}",
                ),
                now=clock.now(),
            )
            .unwrap()
            .txid
            or ""
            for n in range(count)
        ]
        exchange = await _scenario_exchange(server, session, clock)
        server.stats.reset()
        started, real_started = clock.monotonic(), time.perf_counter()
        reports = (await exchange.order_status(txids)).unwrap()
        listed = (await exchange.open_orders()).unwrap()
        figures = ScenarioFigures(
            calls=dict(server.stats.calls),
            errors=dict(server.stats.errors),
            clock_seconds=clock.monotonic() - started,
            real_seconds=time.perf_counter() - real_started,
        )
        assert len(reports) == len(listed) == count
        return figures


async def burst_on_one_pair(count: int = 200) -> ScenarioFigures:
    """`count` concurrent market orders on BTC/USDT at Starter (they fill at once)."""
    clock = ScaledClock(SCALE)
    server = KrakenTestServer(clock=clock, engine_config=EngineConfig(tier=STARTER))
    async with server, aiohttp.ClientSession() as session:
        server.deposit("USDT", Decimal(10**6))
        server.set_price("BTC/USDT", Decimal(50_000))
        exchange = await _scenario_exchange(server, session, clock)
        orders = [
            Order(
                id=f"burst-{n}",
                client_order_id=f"burst-{n}",
                symbol="BTC/USDT",
                side=OrderSide.BUY,
                order_type=OrderType.MARKET,
                size=Decimal("0.0001"),
            )
            for n in range(count)
        ]
        server.stats.reset()
        started, real_started = clock.monotonic(), time.perf_counter()
        results = await asyncio.gather(*(exchange.place_order(o) for o in orders))
        figures = ScenarioFigures(
            calls=dict(server.stats.calls),
            errors=dict(server.stats.errors),
            clock_seconds=clock.monotonic() - started,
            real_seconds=time.perf_counter() - real_started,
        )
        refused = [r.failure() for r in results if isinstance(r, Failure)]
        assert not refused, refused
        return figures


def burst_minimum_seconds(count: int) -> float:
    """The least time `count` adds can take at Starter: 60 at once, then one per second."""
    threshold, decay = STARTER.threshold, STARTER.decay_per_second
    return float(max(0, count - int(threshold)) / decay)


# --------------------------------------------------------------------------- main
def main() -> None:
    """Measure the round trips, print their ratio, run and print the two scenarios."""
    raw = measure(RAW, samples=41)
    library = measure(LIBRARY, samples=41)
    ratio = library.median_ns / raw.median_ns
    print("AddOrder round trip to the local server (median of 41 samples, same run):")
    raw_figure = f"{format_ns(raw.median_ns):>10}  (p95 {format_ns(raw.p95_ns)})"
    print(f"  raw aiohttp POST           {raw_figure}")
    print(
        f"  KrakenExchange.place_order {format_ns(library.median_ns):>10}"
        f"  (p95 {format_ns(library.p95_ns)})"
    )
    verdict = "PASS" if ratio <= OVERHEAD_TARGET else "MISS"
    print(
        f"  overhead ratio             {ratio:>10.2f}x  (target <= {OVERHEAD_TARGET}x: {verdict})"
    )

    recon = asyncio.run(reconcile_open_orders())
    queries = recon.calls.get("QueryOrders", 0)
    limited = recon.errors.get("EAPI:Rate limit exceeded", 0)
    print(f"\nReconciling 1,000 open orders at Starter (clock x{SCALE:g}):")
    print(f"  QueryOrders calls          {queries:>10}  (target <= 20)")
    print(f"  OpenOrders calls           {recon.calls.get('OpenOrders', 0):>10}")
    print(f"  EAPI:Rate limit exceeded   {limited:>10}  (target 0)")
    print(
        f"  took                       {recon.clock_seconds:>9.1f}s  clock"
        f" ({recon.real_seconds:.2f} s real)"
    )

    burst = asyncio.run(burst_on_one_pair())
    minimum = burst_minimum_seconds(200)
    order_limited = burst.errors.get("EOrder:Rate limit exceeded", 0)
    over = burst.clock_seconds / minimum - 1
    print(f"\nA burst of 200 orders on BTC/USDT at Starter (clock x{SCALE:g}):")
    print(f"  AddOrder calls             {burst.calls.get('AddOrder', 0):>10}")
    print(f"  EOrder:Rate limit exceeded {order_limited:>10}  (target 0)")
    print(
        f"  took                       {burst.clock_seconds:>9.1f}s  clock"
        f" ({burst.real_seconds:.2f} s real)"
    )
    print(
        f"  minimum the counter allows {minimum:>9.1f}s  -> {over:+.1%}"
        f" (target within +10%: {'PASS' if over <= 0.10 else 'MISS'})"
    )


if __name__ == "__main__":
    main()
