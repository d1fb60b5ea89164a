"""Pacing below Kraken's REST and matching-engine counters: the model, and against the server.

The first tests exercise the pure counter model; the rest run KrakenExchange against the local
server on one shared FakeClock, so the server's counters and the adapter's model see the same
time and a wait of minutes costs nothing.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from returns.result import Success

from adapters.kraken.ratelimit import (
    CounterGate,
    CounterLimits,
    KrakenLimits,
    LeakyCounter,
    amend_cost,
    cancel_cost,
)
from adapters.kraken.testing import LOCAL_OPTIONS, KrakenTestServer, LocalKraken, local_kraken
from adapters.memory.clock import FakeClock
from execution_core.config import RateLimitTier
from execution_core.domain.enums import OrderSide, OrderType
from execution_core.domain.orders import Order
from execution_core.ports import FailureKind, RetryClass

_ids = itertools.count(1)
UNPACED = KrakenLimits(
    rest=CounterLimits(maximum=1e9, decay_per_second=1e9),
    trading=CounterLimits(maximum=1e9, decay_per_second=1e9),
)


def an_order(**changes: Any) -> Order:
    n = next(_ids)
    order = Order(
        id=f"p-{n}",
        client_order_id=f"pace-{n}",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.0001"),
        price=Decimal(40000) + n,
    )
    return attrs.evolve(order, **changes)


def a_market_buy() -> Order:
    return an_order(order_type=OrderType.MARKET, price=None)


# --------------------------------------------------------------------------- the model
def test_the_counter_decays_linearly_and_never_below_zero() -> None:
    counter = LeakyCounter(CounterLimits(maximum=15, decay_per_second=0.33), now=0.0)
    counter.charge(10, now=0.0)
    assert counter.level(now=10.0) == pytest.approx(6.7)
    assert counter.level(now=100.0) == 0.0
    counter.charge(1, now=100.0)
    assert counter.level(now=100.0) == 1.0


def test_a_call_is_allowed_up_to_exactly_the_maximum_and_the_delay_says_when() -> None:
    counter = LeakyCounter(CounterLimits(maximum=60, decay_per_second=1), now=0.0)
    counter.charge(59, now=0.0)
    assert counter.allows(1, now=0.0)
    counter.charge(1, now=0.0)
    assert not counter.allows(1, now=0.0)
    assert counter.delay(1, now=0.0) == pytest.approx(1.0)
    assert counter.delay(8, now=0.0) == pytest.approx(8.0)
    assert counter.delay(1, now=0.0, margin=0.5) == pytest.approx(1.5)
    assert counter.delay(500, now=0.0) == pytest.approx(60.0)  # capped: waits for empty


def test_saturate_models_a_full_counter_after_krakens_refusal() -> None:
    counter = LeakyCounter(CounterLimits(maximum=20, decay_per_second=0.5), now=0.0)
    counter.saturate(now=0.0)
    assert counter.level(now=0.0) == 20
    assert counter.delay(1, now=0.0) == pytest.approx(2.0)


def test_krakens_age_costs_for_amends_and_cancels() -> None:
    assert [amend_cost(a) for a in (0, 4.9, 5, 9.9, 14.9, 15, 600)] == [4, 4, 3, 3, 2, 1, 1]
    assert [cancel_cost(a) for a in (0, 5, 10, 15, 45, 90, 299.9, 300)] == [
        8,
        6,
        5,
        4,
        2,
        1,
        1,
        0,
    ]


def test_the_documented_worked_example_costs_eight() -> None:
    # add (+1) -> amend at 7 s (+1 fixed, +2 for age) -> cancel 36 s after the amend (+4)
    assert 1 + amend_cost(7) + cancel_cost(36) == 8


def test_rest_costs_per_method_and_tier() -> None:
    starter = KrakenLimits.for_tier(RateLimitTier.STARTER)
    assert (starter.rest.maximum, starter.rest.decay_per_second) == (15, 0.33)
    assert (starter.trading.maximum, starter.trading.decay_per_second) == (60, 1.0)
    pro = KrakenLimits.for_tier(RateLimitTier.PRO, history_call_cost=4)
    assert (pro.rest.maximum, pro.rest.decay_per_second, pro.trading.maximum) == (20, 1.0, 180)
    assert [pro.rest_cost(m) for m in ("Balance", "TradesHistory", "AddOrder", "CancelOrder")] == [
        1,
        4,
        0,
        0,
    ]
    custom = attrs.evolve(starter, rest_costs={"CancelAllOrdersAfter": 0.0})
    assert custom.rest_cost("CancelAllOrdersAfter") == 0


async def test_gate_waiters_are_served_in_arrival_order_on_the_clock() -> None:
    clock = FakeClock()
    gate = CounterGate(CounterLimits(maximum=2, decay_per_second=1), clock)
    served: list[int] = []

    async def call(n: int) -> None:
        await gate.acquire(1)
        served.append(n)

    await asyncio.gather(*(call(n) for n in range(6)))
    assert served == [0, 1, 2, 3, 4, 5]
    assert clock.monotonic() == pytest.approx(4.0, abs=1e-3)  # two at once, then one a second


# --------------------------------------------------------------------------- against the server
async def test_a_burst_of_reads_at_starter_never_hits_the_rest_limit(
    fake_kraken: LocalKraken, clock: FakeClock
) -> None:
    server = fake_kraken.server
    server.stats.reset()
    start = clock.monotonic()
    results = await asyncio.gather(*(fake_kraken.exchange.open_orders() for _ in range(40)))
    assert all(isinstance(r, Success) for r in results)
    assert server.stats.errors["EAPI:Rate limit exceeded"] == 0
    # 40 calls on a counter of 15 that start already used 4 of: ~29 must wait 3 s each.
    assert clock.monotonic() - start == pytest.approx((4 + 40 - 15) / 0.33, rel=0.05)


async def test_history_calls_cost_two_on_both_sides(
    fake_kraken: LocalKraken, clock: FakeClock
) -> None:
    before_model = fake_kraken.exchange.pacer.rest.level()
    before_server = fake_kraken.server.rest_counter(fake_kraken.key)
    assert before_model == pytest.approx(before_server)
    await fake_kraken.exchange.trades_history()
    assert fake_kraken.exchange.pacer.rest.level() == pytest.approx(before_model + 2)
    assert fake_kraken.server.rest_counter(fake_kraken.key) == pytest.approx(before_server + 2)
    del clock


async def test_a_burst_of_orders_at_starter_never_hits_the_trading_limit(
    fake_kraken: LocalKraken, clock: FakeClock
) -> None:
    server = fake_kraken.server
    server.stats.reset()
    start = clock.monotonic()
    results = await asyncio.gather(
        *(fake_kraken.exchange.place_order(a_market_buy()) for _ in range(90))
    )
    assert all(isinstance(r, Success) for r in results)
    assert server.stats.errors["EOrder:Rate limit exceeded"] == 0
    assert server.stats.calls["AddOrder"] == 90
    # 60 at once, then one per second (plus the half-second safety margin).
    assert clock.monotonic() - start == pytest.approx(30.5, abs=0.1)


async def test_the_models_trading_counter_tracks_the_servers_through_add_amend_and_cancel(
    fake_kraken: LocalKraken, clock: FakeClock
) -> None:
    from execution_core.ports import Amendment  # noqa: PLC0415 - only this test

    exchange, engine = fake_kraken.exchange, fake_kraken.server.engine
    clock.advance(120)  # let the key check's traces decay

    def levels() -> tuple[float, float]:
        model = exchange.pacer.trading("BTC/USDT").level()
        return model, float(engine.rate_counter("BTC/USDT", now=clock.now()))

    order = an_order()
    placement = (await exchange.place_order(order)).unwrap()
    order = attrs.evolve(order, exchange_order_id=placement.exchange_order_id)
    assert levels() == pytest.approx((1.0, 1.0))
    clock.advance(0.5)
    assert (await exchange.amend_order(order, Amendment(price=Decimal(39000)))) == Success(None)
    assert levels() == pytest.approx((0.5 + 4, 0.5 + 4))
    clock.advance(3)
    assert (await exchange.cancel_order(order)) == Success(None)
    assert levels() == pytest.approx((1.5 + 8, 1.5 + 8))  # 3 s after the amend: +8


async def test_the_cancel_cost_of_an_order_from_before_uses_its_age(
    fake_kraken: LocalKraken, clock: FakeClock
) -> None:
    from adapters.memory.engine_types import OrderRequest  # noqa: PLC0415 - placed behind our back

    clock.advance(120)
    engine = fake_kraken.server.engine
    ack = engine.add_order(
        OrderRequest(
            pair="BTC/USDT",
            side=OrderSide.BUY,
            ordertype=OrderType.LIMIT,
            volume="0.0001",
            price="40000",
            cl_ord_id="old-one",
        ),
        now=clock.now(),
    ).unwrap()
    clock.advance(50)
    order = an_order(
        client_order_id="old-one",
        exchange_order_id=ack.txid,
        created_at=clock.now() - timedelta(seconds=50),
    )
    assert (await fake_kraken.exchange.cancel_order(order)) == Success(None)
    assert fake_kraken.exchange.pacer.trading("BTC/USDT").level() == pytest.approx(2.0)
    assert float(engine.rate_counter("BTC/USDT", now=clock.now())) == pytest.approx(2.0)


async def test_without_pacing_the_server_refuses_and_the_adapter_then_waits(
    clock: FakeClock,
) -> None:
    options = attrs.evolve(LOCAL_OPTIONS, limits=UNPACED)
    async with local_kraken(clock=clock, options=options) as kraken:
        results = await asyncio.gather(*(kraken.exchange.open_orders() for _ in range(20)))
        refused = [r.failure() for r in results if not isinstance(r, Success)]
        assert refused
        assert {(f.code, f.kind, f.retry) for f in refused} == {
            ("EAPI:Rate limit exceeded", FailureKind.RATE_LIMIT, RetryClass.WAIT)
        }
        orders = await asyncio.gather(
            *(kraken.exchange.place_order(a_market_buy()) for _ in range(70))
        )
        order_refusals = {r.failure().code for r in orders if not isinstance(r, Success)}
        assert order_refusals == {"EOrder:Rate limit exceeded"}


async def test_after_krakens_refusal_the_model_is_full_and_the_next_call_waits(
    fake_kraken: LocalKraken, clock: FakeClock
) -> None:
    from adapters.kraken.testing import Fault  # noqa: PLC0415 - only this test

    fake_kraken.server.inject(Fault.error("EAPI:Rate limit exceeded", method="OpenOrders"))
    refused = await fake_kraken.exchange.open_orders()
    assert refused.failure().code == "EAPI:Rate limit exceeded"
    assert fake_kraken.exchange.pacer.rest.level() == pytest.approx(15)
    start = clock.monotonic()
    assert isinstance(await fake_kraken.exchange.open_orders(), Success)
    assert clock.monotonic() - start == pytest.approx((1 + 0.33 * 0.5) / 0.33, rel=0.01)


async def test_a_cancel_is_never_held_back_by_a_full_trading_counter(
    fake_kraken: LocalKraken, clock: FakeClock
) -> None:
    order = an_order()
    placement = (await fake_kraken.exchange.place_order(order)).unwrap()
    fake_kraken.exchange.pacer.trading("BTC/USDT").saturate()
    start = clock.monotonic()
    cancelled = await fake_kraken.exchange.cancel_order(
        attrs.evolve(order, exchange_order_id=placement.exchange_order_id)
    )
    assert cancelled == Success(None)
    assert clock.monotonic() == start


async def test_a_long_wait_on_one_pair_does_not_hold_back_reads() -> None:
    tight = KrakenLimits(
        rest=CounterLimits(maximum=15, decay_per_second=0.33),
        trading=CounterLimits(maximum=2, decay_per_second=1),
        jitter_allowance_seconds=0.0,
    )
    async with local_kraken(options=attrs.evolve(LOCAL_OPTIONS, limits=tight)) as kraken:
        kraken.exchange.pacer.trading("BTC/USDT").saturate()
        waiting = asyncio.ensure_future(kraken.exchange.place_order(an_order()))
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert isinstance(await kraken.exchange.balances(), Success)
        assert loop.time() - started < 0.5
        assert not waiting.done()
        assert isinstance(await waiting, Success)


async def test_a_model_assumed_full_at_start_waits_before_its_first_call() -> None:
    clock = FakeClock()
    limits = attrs.evolve(KrakenLimits.for_tier(RateLimitTier.STARTER), assume_full_at_start=True)
    server = KrakenTestServer(clock=clock)
    async with (
        server,
        local_kraken(
            server=server, options=attrs.evolve(LOCAL_OPTIONS, limits=limits), start=False
        ) as kraken,
    ):
        await kraken.exchange.balances()
        assert clock.monotonic() == pytest.approx((1 + 0.33 * 0.5) / 0.33, rel=0.01)
