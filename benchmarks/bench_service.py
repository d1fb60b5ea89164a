"""The service layer over the paper exchange (issue 3 section 6): proposals and monitoring.

(a) Proposals through `OrderExecutionManager.execute_trade` to a filled position: a protected
market buy (or a marketable limit buy) of 450 USDT of BTC on the `SimulatedExchange`, stored in
the `InMemoryRepository`, on a `FakeClock`; one operation is `execute_trade` plus the
`poll_once` that brings its fill onto the position (the fill is only known from the exchange's
report). Target: >= 2,000 proposals per second, i.e. a median <= 500 us per proposal. The row
"+ SL/TP" also places the position's stop-loss and take-profit orders (Kraken spot holds the base
for the stop, so the take-profit is watched by the monitor: its placement is refused and
reported, as on Kraken).

(b) Monitoring 100 / 1,000 / 10,000 open orders (resting limit buys below the market, no
timeout): one `poll_once` makes exactly ONE batched `order_status` call whatever the number of
open orders; its cost is reported per poll. The status calls are counted by the exchange
(`SimulatedExchange.calls["order_status"]`) and printed by `main()`. Two rows split a poll of
1,000 open orders: "exchange side only" times the paper exchange's `order_status` call alone
(building one report per order), "manager side only" a poll whose status call answers reports
computed beforehand (the manager reading them, looking for changes, timeouts and targets).

Every world runs the exchange on Kraken's Pro tier for the manager's pacing and an unlimited one
at the engine (so that 10,000 orders may rest); risk limits are raised so that no proposal is
refused. The FakeClock is advanced 1 s per proposal, so the pacer never has to wait.

`python -m benchmarks.run -k service` measures the rows with the other benchmarks;
`python -m benchmarks.bench_service` prints its own table, the status calls per poll, and the
sustained throughput of long runs (2,000 proposals in a row), and writes
benchmarks/results/service.json.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

import attrs
from returns.result import Result

from adapters.memory.clock import FakeClock
from adapters.memory.engine_types import UNLIMITED, EngineConfig
from adapters.memory.repository import InMemoryRepository
from adapters.memory.simulated import SimulatedExchange
from benchmarks.harness import (
    Benchmark,
    Runner,
    Setup,
    format_ns,
    machine,
    measure,
    measurement_table,
    table,
    write_json,
)
from execution_core.config import ExecutionConfig
from execution_core.domain.proposals import TradeProposal
from execution_core.ports import ExchangeFailure, OrderReport
from execution_core.service.manager import OrderExecutionManager
from execution_core.service.tracker import PositionTracker

GROUP = "service"
PROPOSAL_TARGET_NS = 500_000
"""Issue 3 section 6: >= 2,000 proposals per second through execute_trade to a filled position."""
SYMBOL = "BTC/USDT"
PRICE = Decimal(45_000)
OPEN_ORDER_COUNTS = (100, 1_000, 10_000)
SUSTAINED_PROPOSALS = 2_000
SUSTAINED_BATCH = 100
"""Proposals between two polls in the batched sustained run."""

MARKET = TradeProposal(SYMBOL, "buy", 450)
LIMIT = TradeProposal(SYMBOL, "buy", 450, entry_price=PRICE + 10)
PROTECTED = TradeProposal(SYMBOL, "buy", 450, stop_loss=44_000, take_profit=47_000)
RESTING = TradeProposal(SYMBOL, "buy", 400, entry_price=40_000)

T = TypeVar("T")


# --------------------------------------------------------------------------- the world
def bench_config() -> ExecutionConfig:
    """Defaults, with limits no benchmark proposal reaches and no order timeout or expiry."""
    return ExecutionConfig.from_mapping(
        {
            "orders": {"limit_order_timeout_seconds": None, "limit_order_expiry_hours": None},
            "risk": {
                "max_order_notional": 10**9,
                "max_position_notional": 10**12,
                "max_total_exposure": 10**12,
                "daily_loss_limit": 10**12,
            },
            "rate_limit": {"tier": "pro"},
            "retry": {"jitter": False},
        }
    )


@attrs.frozen
class World:
    """The service wired over the paper exchange, as a bot would run it (without its loops)."""

    manager: OrderExecutionManager
    tracker: PositionTracker
    exchange: SimulatedExchange
    repository: InMemoryRepository
    clock: FakeClock


def build_world() -> World:
    """A started manager on a paper BTC/USDT market at 45,000 with a billion USDT."""
    clock = FakeClock()
    exchange = SimulatedExchange(clock=clock, config=EngineConfig(tier=UNLIMITED))
    exchange.deposit("USDT", 10**9)
    exchange.set_price(SYMBOL, PRICE)
    repository = InMemoryRepository()
    config = bench_config()
    tracker = PositionTracker(repository=repository, clock=clock, config=config)
    ids = (f"o-{n}" for n in itertools.count(1))
    manager = OrderExecutionManager(
        exchange=exchange,
        repository=repository,
        clock=clock,
        config=config,
        tracker=tracker,
        id_factory=lambda: next(ids),
    )
    world = World(manager, tracker, exchange, repository, clock)
    run(manager.start(run_loops=False))
    return world


@cache
def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.new_event_loop()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on the benchmarks' one event loop."""
    return _loop().run_until_complete(coroutine)


# --------------------------------------------------------------------------- (a) proposals
async def execute(world: World, proposal: TradeProposal, count: int, *, poll_every: int) -> None:
    """`count` proposals through execute_trade, polling after every `poll_every` and at the end."""
    manager = world.manager
    advance = world.clock.advance
    for i in range(1, count + 1):
        advance(1)
        result = await manager.execute_trade(proposal)
        if not result.success:
            msg = f"proposal {i} refused: {result.reason}: {result.error_message}"
            raise RuntimeError(msg)
        if i % poll_every == 0:
            await manager.poll_once()
    if count % poll_every:
        await manager.poll_once()


def _proposals(proposal: TradeProposal) -> Setup:
    """n proposals, each followed by the poll that puts its fill on the position (fresh world)."""

    def setup(n: int) -> Runner:
        world = build_world()
        return lambda: run(execute(world, proposal, n, poll_every=1))

    return setup


# --------------------------------------------------------------------------- (b) monitoring
@attrs.frozen
class StatusCount:
    """Status calls counted by the exchange over a number of polls."""

    polls: int
    status_calls: int


STATUS_COUNTS: dict[int, StatusCount] = {}
"""Per number of open orders: the polls and status calls of every timed run (read by `main`)."""


@cache
def monitored_world(count: int) -> World:
    """A world with `count` limit buys resting at 40,000 (below the market), all acknowledged."""
    world = build_world()
    run(execute(world, RESTING, count, poll_every=count))
    open_orders = len(world.manager.open_orders())
    if open_orders != count:
        msg = f"{open_orders} orders open, {count} expected"
        raise RuntimeError(msg)
    return world


async def _polls(world: World, count: int) -> None:
    poll = world.manager.poll_once
    for _ in range(count):
        await poll()


def _monitor(count: int) -> Setup:
    def setup(n: int) -> Runner:
        world = monitored_world(count)
        calls = world.exchange.calls

        def runner() -> None:
            before = calls["order_status"]
            run(_polls(world, n))
            seen = STATUS_COUNTS.get(count, StatusCount(polls=0, status_calls=0))
            STATUS_COUNTS[count] = StatusCount(
                polls=seen.polls + n,
                status_calls=seen.status_calls + calls["order_status"] - before,
            )

        return runner

    return setup


def _status_only(count: int) -> Setup:
    def setup(n: int) -> Runner:
        world = monitored_world(count)
        exchange = world.exchange
        ids = [o.exchange_order_id for o in world.manager.open_orders() if o.exchange_order_id]

        async def calls() -> None:
            for _ in range(n):
                await exchange.order_status(ids)

        return lambda: run(calls())

    return setup


class CannedStatus:
    """An exchange whose `order_status` answers precomputed reports: the manager's share alone."""

    def __init__(self, exchange: SimulatedExchange, ids: Sequence[str]) -> None:
        self._exchange = exchange
        self._answer = run(exchange.order_status(ids))
        self.calls = exchange.calls

    async def order_status(
        self, exchange_order_ids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        """The reports computed once, for any ids."""
        del exchange_order_ids
        return self._answer

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - every other port method, delegated
        return getattr(self._exchange, name)


@cache
def canned_world(count: int) -> World:
    """A world like `monitored_world(count)` whose exchange answers status polls from a cache."""
    world = build_world()
    run(execute(world, RESTING, count, poll_every=count))
    ids = [o.exchange_order_id for o in world.manager.open_orders() if o.exchange_order_id]
    world.manager._exchange = CannedStatus(world.exchange, ids)  # noqa: SLF001 - a benchmark probe
    return world


def _manager_only(count: int) -> Setup:
    def setup(n: int) -> Runner:
        world = canned_world(count)
        return lambda: run(_polls(world, n))

    return setup


def register() -> Iterator[Benchmark]:
    """The service benchmarks: proposals to filled positions, and monitoring polls."""
    yield Benchmark(
        group=GROUP,
        name="market proposal -> filled position (execute + poll)",
        setup=_proposals(MARKET),
        target_ns=PROPOSAL_TARGET_NS,
    )
    yield Benchmark(
        group=GROUP,
        name="limit proposal (marketable) -> filled position",
        setup=_proposals(LIMIT),
        target_ns=PROPOSAL_TARGET_NS,
    )
    yield Benchmark(
        group=GROUP,
        name="market proposal + SL/TP -> filled, protected position",
        setup=_proposals(PROTECTED),
        target_ns=PROPOSAL_TARGET_NS,
    )
    for count in OPEN_ORDER_COUNTS:
        yield Benchmark(
            group=GROUP,
            name=f"poll, {count:,} open orders",
            setup=_monitor(count),
            max_batch=1_000,
        )
    top = 1_000
    yield Benchmark(
        group=GROUP,
        name=f"poll, {top:,} open orders: exchange side only (order_status)",
        setup=_status_only(top),
        max_batch=1_000,
    )
    yield Benchmark(
        group=GROUP,
        name=f"poll, {top:,} open orders: manager side only (reports precomputed)",
        setup=_manager_only(top),
        max_batch=1_000,
    )


# --------------------------------------------------------------------------- sustained runs
@attrs.frozen(kw_only=True)
class Sustained:
    """One long run: proposals in a row on one world, wall time, and what the exchange saw."""

    label: str
    proposals: int
    seconds: float
    open_positions: int
    status_calls: int
    polls: int

    @property
    def per_second(self) -> float:
        """Proposals per second over the whole run."""
        return self.proposals / self.seconds

    def row(self) -> list[str]:
        """The run as a table row."""
        return [
            self.label,
            f"{self.proposals:,}",
            f"{self.seconds:.3f} s",
            f"{self.per_second:,.0f}",
            format_ns(self.seconds / self.proposals * 1e9),
            f"{self.status_calls:,} / {self.polls:,}",
        ]


def sustained(label: str, proposal: TradeProposal, count: int, *, poll_every: int) -> Sustained:
    """Time `count` proposals in a row on one fresh world (positions accumulate)."""
    world = build_world()
    before = world.exchange.calls["order_status"]
    start = time.perf_counter()
    run(execute(world, proposal, count, poll_every=poll_every))
    seconds = time.perf_counter() - start
    return Sustained(
        label=label,
        proposals=count,
        seconds=seconds,
        open_positions=len(world.tracker.open_positions()),
        status_calls=world.exchange.calls["order_status"] - before,
        polls=-(-count // poll_every),
    )


def sustained_runs(count: int) -> list[Sustained]:
    """The long runs `main` prints."""
    return [
        sustained("market, one poll per proposal", MARKET, count, poll_every=1),
        sustained(
            f"market, one poll per {SUSTAINED_BATCH} proposals",
            MARKET,
            count,
            poll_every=SUSTAINED_BATCH,
        ),
        sustained("market + SL/TP, one poll per proposal", PROTECTED, count, poll_every=1),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every row, print the status calls per poll and the sustained runs; write JSON."""
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['cpu_model']}, Python {info['python']}")
    samples = 11 if quick else 51
    target = 50_000 if quick else 500_000
    measurements = [
        measure(bench, samples=samples, target_sample_ns=target) for bench in register()
    ]
    print(measurement_table(measurements))
    print("\nstatus calls per poll (SimulatedExchange.calls['order_status'], every timed poll):")
    for count, seen in sorted(STATUS_COUNTS.items()):
        per_poll = seen.status_calls / seen.polls
        print(
            f"  {count:>6,} open orders: {seen.status_calls:,} calls in {seen.polls:,} polls "
            f"= {per_poll:g} per poll"
        )
    runs = sustained_runs(200 if quick else SUSTAINED_PROPOSALS)
    print("\nsustained: proposals in a row on one world (the positions accumulate)")
    print(
        table(
            [
                "run",
                "proposals",
                "wall time",
                "proposals/s",
                "per proposal",
                "status calls / polls",
            ],
            [r.row() for r in runs],
        )
    )
    path = write_json(
        "service",
        {
            "results": [m.as_json() for m in measurements],
            "status_calls": {
                str(count): attrs.asdict(seen) for count, seen in sorted(STATUS_COUNTS.items())
            },
            "sustained": [{**attrs.asdict(r), "per_second": r.per_second} for r in runs],
        },
    )
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
