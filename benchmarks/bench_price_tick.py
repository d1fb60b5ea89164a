"""A price tick through `PositionTracker.check_sl_tp_triggers` (issue 3 section 6).

Target: with 100,000 open positions of which none triggers, one tick <= 50 us; the cost grows
with the positions that trigger, not with those open; memory <= 2 KB per open position at
100,000 (the position value, its book entry and its index entries).

Every position is on BTC/USDT, opened from a fill through `apply_entry_fill` (the worst case for
the index: one symbol holds every level). Two sets of longs sit next to the quiet price 45,000:
set A's stops at 44,999, 44,998, ... and set B's take-profits at 45,001, 45,002, ...; the other
positions' levels are at least 2,000 away. A tick at `45,000 - k` fires k stops of A, a tick at
`45,000 + k` fires k take-profits of B, and alternating the two makes every tick fire k levels
anew (a level fires once per crossing). Firing records one `TriggerFired` per level: the tick
includes building the events, the unit of work and the (counting, in-memory) commit and publish.

`python -m benchmarks.run -k tick` measures the ticks with the other benchmarks;
`python -m benchmarks.bench_price_tick` also prints the memory per open position and writes
benchmarks/results/price-tick.json.
"""

from __future__ import annotations

import gc
import itertools
import random
import sys
import tracemalloc
from collections.abc import Coroutine, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

from adapters.memory.clock import FakeClock
from adapters.memory.repository import InMemoryRepository
from benchmarks.harness import (
    Benchmark,
    Runner,
    Setup,
    format_bytes,
    machine,
    measure,
    measurement_table,
    write_json,
)
from execution_core.domain.enums import OrderSide, OrderStatus, OrderType
from execution_core.domain.events import Event
from execution_core.domain.orders import Fill, Order
from execution_core.domain.triggers import TriggerIndex
from execution_core.ports import UnitOfWork
from execution_core.service.tracker import PositionTracker

GROUP = "price tick"
TICK_TARGET_NS = 50_000
MEMORY_TARGET_BYTES = 2048
SYMBOL = "BTC/USDT"
QUIET = Decimal(45_000)
NEAR = 1_000
"""How many positions of each near set (A: stops, B: take-profits) at 100,000 open."""
OPEN_COUNTS = (1_000, 10_000, 100_000)
TRIGGERING = (10, 100, 1_000)
AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SEED = 20260105

T = TypeVar("T")


class CountingRepository(InMemoryRepository):
    """Counts commits and drops them, so that a long run does not grow the event list."""

    def __init__(self) -> None:
        super().__init__()
        self.events_committed = 0

    async def commit(self, unit: UnitOfWork) -> None:
        """Count the unit (nothing is kept)."""
        self.commits += 1
        self.events_committed += len(unit.events)


class NullPublisher:
    """Publishes nowhere."""

    async def publish(self, events: Sequence[Event]) -> None:
        """Drop `events`."""
        del events


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (its I/O is in memory) without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]  # the coroutine's own return type
    coroutine.close()
    msg = "the tick suspended: it awaited something other than in-memory I/O"
    raise RuntimeError(msg)


# --------------------------------------------------------------------------- the book
def _levels(count: int) -> Iterator[tuple[OrderSide, Decimal | None, Decimal | None]]:
    """(side, stop, take-profit) for `count` positions entered at 45,000."""
    near = min(NEAR, count // 10)
    rng = random.Random(SEED)
    for i in range(near):  # set A: long stops at 44,999, 44,998, ...
        yield OrderSide.BUY, QUIET - 1 - i, Decimal(rng.randint(47_000, 50_000))
    for i in range(near):  # set B: long take-profits at 45,001, 45,002, ...
        yield OrderSide.BUY, Decimal(rng.randint(40_000, 43_000)), QUIET + 1 + i
    for i in range(count - 2 * near):  # the rest: at least 2,000 away from 45,000
        far = Decimal(rng.randint(40_000, 43_000))
        high = Decimal(rng.randint(47_000, 50_000))
        if i % 2:
            yield OrderSide.SELL, high, far
        else:
            yield OrderSide.BUY, far, high


def build_tracker(count: int) -> tuple[PositionTracker, CountingRepository]:
    """A tracker holding `count` open positions, each opened by one entry fill."""
    clock = FakeClock(AT)
    repository = CountingRepository()
    tracker = PositionTracker(repository=repository, clock=clock, publisher=NullPublisher())
    size = Decimal("0.01")
    for i, (side, stop, target) in enumerate(_levels(count)):
        order = Order(
            id=f"pos-{i:06d}",
            client_order_id=f"cl-{i:06d}",
            symbol=SYMBOL,
            side=side,
            order_type=OrderType.LIMIT,
            size=size,
            price=QUIET,
            status=OrderStatus.OPEN,
        )
        fill = Fill(
            trade_id=f"t-{i:06d}",
            order_id=order.id,
            symbol=SYMBOL,
            side=side,
            quantity=size,
            price=QUIET,
            fee=Decimal("1.8"),
            timestamp=AT,
        )
        tracker.apply_entry_fill(order, fill, at=AT, stop_loss=stop, take_profit=target)
    return tracker, repository


@cache
def _shared(count: int) -> tuple[PositionTracker, CountingRepository]:
    return build_tracker(count)


def _tick(count: int, triggering: int) -> Setup:
    """Ticks alternating between `45,000 - k` and `45,000 + k` (k levels fire on each)."""
    prices = itertools.cycle([{SYMBOL: QUIET - triggering}, {SYMBOL: QUIET + triggering}])

    def setup(n: int) -> Runner:
        tracker, _ = _shared(count)
        check = tracker.check_sl_tp_triggers
        drive(check({SYMBOL: QUIET}))  # untimed: re-arms what an earlier benchmark left fired
        batch = [next(prices) for _ in range(n)]

        def run() -> None:
            for tick in batch:
                fired = drive(check(tick))
                if len(fired) != triggering:
                    msg = f"{len(fired)} levels fired, {triggering} expected"
                    raise AssertionError(msg)

        return run

    return setup


def register() -> Iterator[Benchmark]:
    """The price-tick benchmarks: flat in the open positions, linear in the triggering ones."""
    for count in OPEN_COUNTS:
        yield Benchmark(
            group=GROUP,
            name=f"{count:,} open, 0 triggering",
            setup=_tick(count, 0),
            target_ns=TICK_TARGET_NS if count == max(OPEN_COUNTS) else None,
        )
    top = max(OPEN_COUNTS)
    for triggering in TRIGGERING:
        yield Benchmark(
            group=GROUP,
            name=f"{top:,} open, {triggering:,} triggering",
            setup=_tick(top, triggering),
        )


# --------------------------------------------------------------------------- memory
def memory_per_position(count: int) -> dict[str, float]:
    """Bytes the tracker retains per open position, and the index's share of them."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracker, _ = build_tracker(count)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        positions = tracker.open_positions()
        index_before, _ = tracemalloc.get_traced_memory()
        index = TriggerIndex()
        for position in positions:
            index.add(position)
        index_after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del tracker, index
    return {
        "open_positions": count,
        "total_bytes_per_position": (after - before) / count,
        "index_bytes_per_position": (index_after - index_before) / count,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the ticks, then the memory per open position; print both, write the JSON."""
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['cpu_model']}, Python {info['python']}")
    samples = 11 if quick else 51
    target = 50_000 if quick else 500_000
    measurements = [
        measure(bench, samples=samples, target_sample_ns=target) for bench in register()
    ]
    print(measurement_table(measurements))
    memory = memory_per_position(max(OPEN_COUNTS))
    per_position = memory["total_bytes_per_position"]
    verdict = "PASS" if per_position <= MEMORY_TARGET_BYTES else "MISS"
    print(
        f"\nmemory at {max(OPEN_COUNTS):,} open positions: "
        f"{format_bytes(round(per_position))} per position "
        f"(the trigger index: {format_bytes(round(memory['index_bytes_per_position']))}); "
        f"target <= {format_bytes(MEMORY_TARGET_BYTES)} {verdict}"
    )
    path = write_json(
        "price-tick",
        {"results": [m.as_json() for m in measurements], "memory": memory},
    )
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
