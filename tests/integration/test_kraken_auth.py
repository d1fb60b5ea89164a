"""Signatures, nonces, permissions and the start-up key check, over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from returns.result import Failure, Success

from adapters.kraken.exchange import ALL_PERMISSIONS, KrakenExchange, Permission
from adapters.kraken.nonce import NonceResolution, NonceSource
from adapters.kraken.signing import Credentials, sign_request
from adapters.kraken.testing import (
    LOCAL_OPTIONS,
    ApiKey,
    Fault,
    KrakenTestServer,
    LocalKraken,
    local_kraken,
    new_key_material,
)
from execution_core.ports import FailureKind, RetryClass

FORM = "application/x-www-form-urlencoded"


async def raw_post(
    session: aiohttp.ClientSession,
    server: KrakenTestServer,
    method: str,
    body: str,
    *,
    key: ApiKey,
    nonce: int,
    content_type: str = FORM,
    signature: str | None = None,
) -> tuple[int, dict[str, Any]]:
    path = f"/0/private/{method}"
    headers = {
        "API-Key": key.api_key,
        "API-Sign": signature or sign_request(path, nonce, body, key.secret),
        "Content-Type": content_type,
    }
    async with session.post(f"{server.base_url}{path}", data=body, headers=headers) as response:
        return response.status, json.loads(await response.text())


@pytest.fixture
async def server() -> Any:
    async with KrakenTestServer() as running:
        yield running


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as opened:
        yield opened


# --------------------------------------------------------------------------- the server's checks
async def test_a_signed_form_request_is_answered_with_krakens_envelope(
    server: KrakenTestServer, session: aiohttp.ClientSession
) -> None:
    key = server.add_key()
    status, body = await raw_post(session, server, "Balance", "nonce=5", key=key, nonce=5)
    assert status == 200
    assert body == {"error": [], "result": {}}


async def test_a_signed_json_request_is_accepted_and_its_nonce_read_from_the_json(
    server: KrakenTestServer, session: aiohttp.ClientSession
) -> None:
    key = server.add_key()
    server.deposit("USDT", Decimal(10))
    status, body = await raw_post(
        session,
        server,
        "Balance",
        '{"nonce": 7}',
        key=key,
        nonce=7,
        content_type="application/json",
    )
    assert (status, body) == (200, {"error": [], "result": {"USDT": "10.0000"}})


async def test_an_unknown_key_is_refused_with_http_200_and_eapi_invalid_key(
    server: KrakenTestServer, session: aiohttp.ClientSession
) -> None:
    stranger = ApiKey.from_strings(*new_key_material())
    status, body = await raw_post(session, server, "Balance", "nonce=1", key=stranger, nonce=1)
    assert (status, body) == (200, {"error": ["EAPI:Invalid key"]})


async def test_a_signature_over_another_body_is_refused(
    server: KrakenTestServer, session: aiohttp.ClientSession
) -> None:
    key = server.add_key()
    forged = sign_request("/0/private/Balance", 2, "nonce=2&asset=ZUSD", key.secret)
    _, body = await raw_post(
        session, server, "Balance", "nonce=2", key=key, nonce=2, signature=forged
    )
    assert body == {"error": ["EAPI:Invalid signature"]}


async def test_a_signature_for_another_path_is_refused(
    server: KrakenTestServer, session: aiohttp.ClientSession
) -> None:
    key = server.add_key()
    other = sign_request("/0/private/BalanceEx", 3, "nonce=3", key.secret)
    _, body = await raw_post(
        session, server, "Balance", "nonce=3", key=key, nonce=3, signature=other
    )
    assert body == {"error": ["EAPI:Invalid signature"]}


async def test_a_nonce_not_above_the_last_accepted_one_is_refused(
    server: KrakenTestServer, session: aiohttp.ClientSession
) -> None:
    key = server.add_key()
    assert (await raw_post(session, server, "Balance", "nonce=10", key=key, nonce=10))[1][
        "error"
    ] == []
    for stale in (10, 9):
        _, body = await raw_post(session, server, "Balance", f"nonce={stale}", key=key, nonce=stale)
        assert body == {"error": ["EAPI:Invalid nonce"]}
    _, missing = await raw_post(session, server, "Balance", "asset=ZUSD", key=key, nonce=11)
    assert missing == {"error": ["EAPI:Invalid nonce"]}


async def test_a_nonce_window_accepts_late_nonces_once_but_not_older_ones(
    server: KrakenTestServer, session: aiohttp.ClientSession
) -> None:
    key = server.add_key(nonce_window=5)
    results = []
    for nonce in (100, 98, 98, 96, 95):
        _, body = await raw_post(session, server, "Balance", f"nonce={nonce}", key=key, nonce=nonce)
        results.append(body["error"])
    assert results == [[], [], ["EAPI:Invalid nonce"], [], ["EAPI:Invalid nonce"]]


async def test_a_key_without_the_permission_gets_permission_denied(
    server: KrakenTestServer, session: aiohttp.ClientSession
) -> None:
    key = server.add_key(permissions={Permission.FUNDS_QUERY})
    body = "nonce=1&ordertype=limit&type=buy&volume=0.01&pair=XBTUSDT&price=49000"
    _, answer = await raw_post(session, server, "AddOrder", body, key=key, nonce=1)
    assert answer == {"error": ["EGeneral:Permission denied"]}
    _, allowed = await raw_post(session, server, "Balance", "nonce=2", key=key, nonce=2)
    assert allowed["error"] == []
    assert server.engine.open_order_count() == 0


async def test_an_unknown_private_method_is_egeneral_unknown_method(
    server: KrakenTestServer, session: aiohttp.ClientSession
) -> None:
    key = server.add_key()
    _, body = await raw_post(session, server, "Withdraw", "nonce=1", key=key, nonce=1)
    assert body == {"error": ["EGeneral:Unknown method"]}


# --------------------------------------------------------------------------- the adapter's nonces
async def test_invalid_nonce_is_resent_once_with_a_fresh_nonce_and_succeeds(
    kraken: LocalKraken,
) -> None:
    kraken.server.inject(Fault.error("EAPI:Invalid nonce", method="BalanceEx"))
    kraken.server.stats.reset()
    result = await kraken.exchange.balances()
    assert isinstance(result, Success)
    # The refused request's nonce was taken: only a larger, fresh one could pass the second time.
    assert kraken.server.stats.calls["BalanceEx"] == 2


async def test_a_nonce_source_behind_the_keys_last_nonce_fails_as_invalid_nonce_then_recovers(
    kraken: LocalKraken,
) -> None:
    behind = NonceSource(lambda: 1_000, resolution=NonceResolution.NANOSECONDS)
    late = KrakenExchange(
        kraken.session,
        kraken.key.credentials,
        base_url=kraken.server.base_url,
        nonces=behind,
        options=LOCAL_OPTIONS,
    )
    kraken.server.stats.reset()
    failure = (await late.balances()).failure()
    assert (failure.kind, failure.retry, failure.code) == (
        FailureKind.INVALID_NONCE,
        RetryClass.RETRY,
        "EAPI:Invalid nonce",
    )
    assert kraken.server.stats.calls["BalanceEx"] == 3  # the call and its two resends
    behind.advance_past(2**62)
    assert isinstance(await late.balances(), Success)


async def test_concurrent_calls_on_one_key_share_the_nonce_source_without_refusals(
    fake_kraken: LocalKraken,
) -> None:
    fake_kraken.server.stats.reset()
    results = await asyncio.gather(*(fake_kraken.exchange.open_orders() for _ in range(30)))
    assert all(isinstance(r, Success) for r in results)
    assert fake_kraken.server.stats.errors == {}
    assert fake_kraken.server.stats.calls["OpenOrders"] == 30


# --------------------------------------------------------------------------- the key check
@pytest.mark.parametrize("missing", sorted(set(Permission) - {Permission.WEBSOCKET}))
async def test_a_key_missing_a_permission_refuses_to_start_naming_it(missing: Permission) -> None:
    async with local_kraken(permissions=ALL_PERMISSIONS - {missing}, start=False) as kraken:
        started = await kraken.exchange.start()
        assert isinstance(started, Failure)
        failure = started.failure()
        assert (failure.kind, failure.retry, failure.code) == (
            FailureKind.PERMISSION,
            RetryClass.NEVER,
            "EGeneral:Permission denied",
        )
        assert f"'{missing.value}'" in failure.message
        others = set(Permission) - {missing, Permission.WEBSOCKET}
        assert not any(f"'{p.value}'" in failure.message for p in others)


async def test_a_read_only_key_is_refused_naming_both_trading_permissions() -> None:
    read_only = {
        Permission.FUNDS_QUERY,
        Permission.ORDERS_QUERY_OPEN,
        Permission.ORDERS_QUERY_CLOSED,
    }
    async with local_kraken(permissions=read_only, start=False) as kraken:
        message = (await kraken.exchange.check_key()).failure().message
        assert "'Orders and trades - Create & modify orders'" in message
        assert "'Orders and trades - Cancel & close orders'" in message
        assert kraken.server.engine.open_order_count() == 0  # validate=true placed nothing


async def test_a_full_key_passes_the_check_with_every_trading_permission(
    kraken: LocalKraken,
) -> None:
    kraken.server.stats.reset()
    check = (await kraken.exchange.check_key()).unwrap()
    assert set(check.granted) == set(Permission) - {Permission.WEBSOCKET}
    assert kraken.server.engine.open_order_count() == 0
    assert kraken.server.stats.calls["AddOrder"] == 1
    assert kraken.server.stats.calls["Balance"] == 1


async def test_a_wrong_secret_refuses_to_start_as_an_authentication_failure(
    kraken: LocalKraken,
) -> None:
    _, other_secret = new_key_material()
    wrong = KrakenExchange(
        kraken.session,
        Credentials.from_strings(kraken.key.api_key, other_secret),
        base_url=kraken.server.base_url,
        options=LOCAL_OPTIONS,
    )
    failure = (await wrong.start()).failure()
    assert failure.kind is FailureKind.AUTHENTICATION
    assert failure.code == "EAPI:Invalid signature"
    assert "check the key and the secret" in failure.message
