"""RetryPolicy (tenacity on the Clock) and the token-bucket pacing (DESIGN-1)."""

from __future__ import annotations

import asyncio

import pytest
from returns.result import Failure, Result, Success

from adapters.memory.clock import FakeClock
from execution_core.config import RateLimitConfig, RateLimitTier, RetryConfig
from execution_core.ports import ExchangeFailure, FailureKind, RetryClass
from execution_core.service.retry import (
    Pacer,
    RetryPolicy,
    TokenBucket,
    amend_cost,
    cancel_cost,
    is_retryable,
)


def failure(retry: RetryClass) -> Result[str, ExchangeFailure]:
    return Failure(ExchangeFailure(kind=FailureKind.UNAVAILABLE, retry=retry, code="EService:Busy"))


class Script:
    """An async callable answering from a list, counting its calls."""

    def __init__(self, *answers: Result[str, ExchangeFailure]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> Result[str, ExchangeFailure]:
        self.calls += 1
        return self.answers.pop(0)


async def test_a_retryable_failure_is_retried_with_growing_backoff_on_the_clock() -> None:
    clock = FakeClock()
    policy = RetryPolicy(RetryConfig(max_attempts=4, backoff_base_seconds=1, jitter=False), clock)
    script = Script(
        failure(RetryClass.RETRY),
        failure(RetryClass.WAIT),
        failure(RetryClass.RETRY),
        Success("ok"),
    )
    result = await policy.call(script, is_retryable)
    assert result == Success("ok")
    assert script.calls == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]


async def test_retries_are_bounded_and_return_the_last_failure() -> None:
    clock = FakeClock()
    policy = RetryPolicy(RetryConfig(max_attempts=3, jitter=False), clock)
    script = Script(*(failure(RetryClass.RETRY) for _ in range(5)))
    result = await policy.call(script, is_retryable)
    assert isinstance(result, Failure)
    assert script.calls == 3


async def test_backoff_is_capped_and_jitter_stays_within_one_base_step() -> None:
    clock = FakeClock()
    config = RetryConfig(max_attempts=6, backoff_base_seconds=1, backoff_max_seconds=5, jitter=True)
    policy = RetryPolicy(config, clock)
    script = Script(*(failure(RetryClass.RETRY) for _ in range(6)))
    await policy.call(script, is_retryable)
    assert len(clock.sleeps) == 5
    for n, slept in enumerate(clock.sleeps):
        assert 2.0**n <= slept or slept == 5.0
        assert slept <= min(5.0, 2.0**n + 1.0)


@pytest.mark.parametrize("retry", [RetryClass.OUTCOME_UNKNOWN, RetryClass.NEVER])
async def test_an_unknown_outcome_or_a_final_refusal_is_never_retried(retry: RetryClass) -> None:
    clock = FakeClock()
    policy = RetryPolicy(RetryConfig(max_attempts=5), clock)
    script = Script(failure(retry), Success("never reached"))
    result = await policy.call(script, is_retryable)
    assert isinstance(result, Failure)
    assert script.calls == 1
    assert clock.sleeps == []


async def test_a_raising_call_is_retried_then_re_raised_when_attempts_run_out() -> None:
    clock = FakeClock()
    policy = RetryPolicy(RetryConfig(max_attempts=3, jitter=False), clock)
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError("database down")
        return "stored"

    assert await policy.call_raising(flaky) == "stored"
    assert calls == 3

    async def down() -> str:
        raise RuntimeError("still down")

    with pytest.raises(RuntimeError, match="still down"):
        await policy.call_raising(down)


async def test_rate_limiter_token_exhaustion() -> None:
    """Review §5.4 #8: an empty bucket makes the next caller wait for exactly the refill."""
    clock = FakeClock()
    bucket = TokenBucket(capacity=3, rate=0.5, clock=clock)
    waits = [await bucket.acquire() for _ in range(3)]
    assert waits == [0.0, 0.0, 0.0]
    assert bucket.tokens == 0
    waited = await bucket.acquire()
    assert waited == pytest.approx(2.0)  # one token at 0.5 per second
    assert clock.monotonic() == pytest.approx(2.0)
    assert bucket.tokens == pytest.approx(0.0)


async def test_token_bucket_concurrent_access() -> None:
    """Review §5.4 #16 / DESIGN-1: concurrent waiters never overdraw the bucket."""
    clock = FakeClock()
    bucket = TokenBucket(capacity=2, rate=1, clock=clock)
    granted: list[float] = []

    async def take() -> None:
        await bucket.acquire()
        granted.append(clock.monotonic())

    await asyncio.gather(*(take() for _ in range(6)))
    # two from the full bucket at once, then one per second of refill: never faster
    assert granted[:2] == [0.0, 0.0]
    assert granted[2:] == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert bucket.tokens >= 0


async def test_a_cost_above_the_capacity_is_served_once_the_bucket_is_full() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=2, rate=1, clock=clock)
    assert await bucket.acquire(5) == 0.0
    assert bucket.tokens == 0


async def test_a_cancel_is_debited_without_waiting_and_delays_the_next_placement() -> None:
    clock = FakeClock()
    pacer = Pacer(RateLimitConfig(tier=RateLimitTier.STARTER), clock)
    bucket = pacer.bucket("BTC/USDT")
    for _ in range(60):
        await pacer.before_place("BTC/USDT")
    pacer.on_cancel("BTC/USDT", age_seconds=1)  # +8, never held back
    assert bucket.tokens == pytest.approx(-8)
    assert clock.monotonic() == 0
    waited = await pacer.before_place("BTC/USDT")
    assert waited == pytest.approx(9.0)  # back to 1 token at 1 per second


def test_kraken_counter_costs_follow_the_age_of_the_order() -> None:
    assert [amend_cost(age) for age in (1, 7, 12, 20)] == [4, 3, 2, 1]
    assert [cancel_cost(age) for age in (1, 7, 12, 30, 60, 200, 300)] == [8, 6, 5, 4, 2, 1, 0]


async def test_a_wait_below_the_clocks_float_resolution_still_ends() -> None:
    clock = FakeClock()
    clock.advance(987_654.321)  # far from zero: tiny float differences vanish when added
    bucket = TokenBucket(capacity=15, rate=0.33, clock=clock)
    for _ in range(40):
        await asyncio.wait_for(bucket.acquire(), timeout=2)
    assert clock.monotonic() - 987_654.321 == pytest.approx(25 / 0.33, rel=1e-3)
