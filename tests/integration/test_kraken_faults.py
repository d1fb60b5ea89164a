"""Transport faults between KrakenExchange and the local server: every one is a Result value.

An answer that never arrives or cannot be read is TRANSPORT (or a malformed response) with
OUTCOME_UNKNOWN: the order may exist, and `find_order` by client id tells.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
import pytest
from returns.result import Success

from adapters.kraken.exchange import KrakenExchange, KrakenTimeouts
from adapters.kraken.testing import (
    LOCAL_OPTIONS,
    Fault,
    KrakenTestServer,
    LocalKraken,
    local_kraken,
)
from execution_core.domain.enums import OrderSide, OrderType
from execution_core.domain.orders import Order
from execution_core.ports import FailureKind, ReportedStatus, RetryClass

_ids = itertools.count(1)


def an_order(**changes: Any) -> Order:
    n = next(_ids)
    order = Order(
        id=f"f-{n}",
        client_order_id=f"fault-{n}",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.01"),
        price=Decimal(49000),
    )
    return attrs.evolve(order, **changes)


@pytest.fixture
async def impatient() -> Any:
    async with local_kraken(timeouts=KrakenTimeouts(connect=1.0, total=0.3)) as rig:
        yield rig


@pytest.mark.parametrize(("status", "title"), [(502, "502 Bad Gateway"), (520, "520")])
async def test_a_cloudflare_html_page_is_a_transport_failure_of_unknown_outcome(
    kraken: LocalKraken, status: int, title: str
) -> None:
    kraken.server.inject(Fault.html(status, method="AddOrder"))
    failure = (await kraken.exchange.place_order(an_order())).failure()
    assert (failure.kind, failure.retry, failure.code) == (
        FailureKind.TRANSPORT,
        RetryClass.OUTCOME_UNKNOWN,
        f"HTTP {status}",
    )
    assert title in failure.message
    assert kraken.server.engine.open_order_count() == 0  # this one never reached the engine
    assert isinstance(await kraken.exchange.place_order(an_order()), Success)  # only once


async def test_service_unavailable_is_of_unknown_outcome(kraken: LocalKraken) -> None:
    kraken.server.inject(Fault.unavailable(method="AddOrder"))
    failure = (await kraken.exchange.place_order(an_order())).failure()
    assert (failure.kind, failure.retry, failure.code) == (
        FailureKind.UNAVAILABLE,
        RetryClass.OUTCOME_UNKNOWN,
        "EService:Unavailable",
    )


async def test_accept_then_drop_leaves_an_order_that_find_order_recovers(
    kraken: LocalKraken,
) -> None:
    order = an_order()
    kraken.server.inject(Fault.accept_then_drop(method="AddOrder"))
    failure = (await kraken.exchange.place_order(order)).failure()
    assert (failure.kind, failure.retry) == (FailureKind.TRANSPORT, RetryClass.OUTCOME_UNKNOWN)
    assert "ServerDisconnectedError" in failure.code
    found = (await kraken.exchange.find_order(order.client_order_id)).unwrap()
    assert found is not None
    assert found.status is ReportedStatus.OPEN
    assert kraken.server.engine.open_order_count() == 1  # placed once, not twice


async def test_accept_then_hang_times_out_and_the_order_exists(impatient: LocalKraken) -> None:
    order = an_order()
    impatient.server.inject(Fault.accept_then_hang(30, method="AddOrder"))
    failure = (await impatient.exchange.place_order(order)).failure()
    assert (failure.kind, failure.retry, failure.code) == (
        FailureKind.TRANSPORT,
        RetryClass.OUTCOME_UNKNOWN,
        "timeout",
    )
    found = (await impatient.exchange.find_order(order.client_order_id)).unwrap()
    assert found is not None


async def test_a_slow_answer_times_out_but_the_order_still_arrives(impatient: LocalKraken) -> None:
    order = an_order()
    impatient.server.inject(Fault.slow(1.0, method="AddOrder"))
    failure = (await impatient.exchange.place_order(order)).failure()
    assert (failure.code, failure.retry) == ("timeout", RetryClass.OUTCOME_UNKNOWN)
    assert (await impatient.exchange.find_order(order.client_order_id)) == Success(None)
    await asyncio.sleep(1.0)
    found = (await impatient.exchange.find_order(order.client_order_id)).unwrap()
    assert found is not None
    assert found.client_order_id == order.client_order_id


async def test_a_slow_answer_within_the_timeout_is_just_slow(kraken: LocalKraken) -> None:
    kraken.server.inject(Fault.slow(0.1, method="BalanceEx"))
    assert isinstance(await kraken.exchange.balances(), Success)


@pytest.mark.parametrize(
    "body",
    [
        '{"error":[],"result":{"txid":["OUF4EM-FRG',  # cut off mid-way
        "",
        '{"error":[],"result":{"descr":{"order":"buy"},"txid":["not-an-order-id"]}}',
        '{"error":[],"result":{"descr":{"order":"buy"},"txid":[]}}',
        '{"result":{}}',
    ],
)
async def test_an_answer_that_cannot_be_read_is_of_unknown_outcome(
    kraken: LocalKraken, body: str
) -> None:
    kraken.server.inject(Fault.raw(body, method="AddOrder"))
    failure = (await kraken.exchange.place_order(an_order())).failure()
    assert failure.retry is RetryClass.OUTCOME_UNKNOWN
    assert failure.kind in {FailureKind.TRANSPORT, FailureKind.OTHER}


async def test_public_calls_fail_the_same_way(kraken: LocalKraken) -> None:
    kraken.server.inject(Fault.html(502, method="Ticker"))
    failure = (await kraken.exchange.reference_price("BTC/USDT")).failure()
    assert (failure.kind, failure.retry) == (FailureKind.TRANSPORT, RetryClass.OUTCOME_UNKNOWN)
    assert (await kraken.exchange.reference_price("BTC/USDT")) == Success(Decimal(50000))


async def test_a_fault_for_any_method_hits_the_next_calls_whatever_they_are(
    kraken: LocalKraken,
) -> None:
    kraken.server.inject(Fault.unavailable(times=2))
    first = await kraken.exchange.balances()
    second = await kraken.exchange.open_orders()
    third = await kraken.exchange.open_orders()
    assert first.failure().code == second.failure().code == "EService:Unavailable"
    assert isinstance(third, Success)


async def test_a_refused_connection_is_a_transport_failure_that_may_be_retried() -> None:
    server = KrakenTestServer()
    await server.start()
    base_url = server.base_url
    key = server.add_key()
    await server.close()
    async with aiohttp.ClientSession() as session:
        exchange = KrakenExchange(
            session, key.credentials, base_url=base_url, options=LOCAL_OPTIONS
        )
        for result in (await exchange.balances(), await exchange.place_order(an_order())):
            failure = result.failure()
            assert (failure.kind, failure.retry) == (FailureKind.TRANSPORT, RetryClass.RETRY)
            assert "ClientConnectorError" in failure.code


async def test_faults_can_be_armed_over_http_from_another_process(kraken: LocalKraken) -> None:
    url = f"{kraken.server.base_url}/_control/fault"
    payload = {"kind": "html", "status": 520, "method": "OpenOrders"}
    async with kraken.session.post(url, json=payload) as response:
        assert (await response.json()) == {"error": [], "result": {}}
    failure = (await kraken.exchange.open_orders()).failure()
    assert failure.code == "HTTP 520"
