"""SupervisedLoop: a failing iteration is reported and the loop keeps running (SAFETY-3)."""

from __future__ import annotations

import asyncio

from adapters.memory.clock import FakeClock
from execution_core.service.tasks import OrderTaskError, SupervisedLoop


async def test_a_failing_iteration_is_reported_and_the_next_one_runs() -> None:
    clock = FakeClock()
    reported: list[tuple[str, str]] = []
    calls = 0

    async def body() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OrderTaskError("o-7", RuntimeError("boom"))

    async def on_failure(name: str, error: Exception) -> None:
        reported.append((name, str(error)))

    loop = SupervisedLoop(name="monitor", interval=5, body=body, clock=clock, on_failure=on_failure)
    results = [await loop.run_once() for _ in range(3)]
    assert results == [True, False, True]
    assert reported == [("monitor", "order o-7: RuntimeError: boom")]
    assert (loop.iterations, loop.failures) == (3, 1)


async def test_the_loop_survives_a_broken_failure_handler() -> None:
    clock = FakeClock()

    async def body() -> None:
        raise ValueError("always")

    async def on_failure(_name: str, _error: Exception) -> None:
        raise RuntimeError("the handler broke too")

    loop = SupervisedLoop(
        name="heartbeat", interval=1, body=body, clock=clock, on_failure=on_failure
    )
    assert await loop.run_once() is False
    assert loop.handler_failures == 1


async def test_a_started_loop_runs_on_the_clock_until_stopped() -> None:
    clock = FakeClock()
    seen: list[float] = []
    three = asyncio.Event()

    async def body() -> None:
        seen.append(clock.monotonic())
        if len(seen) == 3:
            three.set()

    async def on_failure(_name: str, error: Exception) -> None:
        raise AssertionError(error)

    loop = SupervisedLoop(name="monitor", interval=5, body=body, clock=clock, on_failure=on_failure)
    loop.start()
    await three.wait()
    await loop.stop()
    assert not loop.running
    assert seen[:3] == [0.0, 5.0, 10.0]
