"""The local Kraken server itself, over raw HTTP: Kraken's shapes, its rules, its control API."""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from adapters.kraken.signing import sign_request
from adapters.kraken.testing import ApiKey, KrakenTestServer, kraken_asset
from adapters.kraken.wire import asset_from_kraken, parse_asset_pairs, parse_ticker
from execution_core.domain.instruments import default_instruments


class Client:
    """Signed raw requests to a server with one key."""

    def __init__(self, server: KrakenTestServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.key: ApiKey = server.add_key()
        self.nonce = 0

    async def public(self, method: str, **params: str) -> dict[str, Any]:
        url = f"{self.server.base_url}/0/public/{method}"
        async with self.session.get(url, params=params) as response:
            assert response.status == 200
            body: dict[str, Any] = json.loads(await response.text())
            return body

    async def private(self, method: str, **fields: str) -> dict[str, Any]:
        self.nonce += 1
        body = "&".join([f"nonce={self.nonce}", *(f"{k}={v}" for k, v in fields.items())])
        path = f"/0/private/{method}"
        headers = {
            "API-Key": self.key.api_key,
            "API-Sign": sign_request(path, self.nonce, body, self.key.secret),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with self.session.post(
            f"{self.server.base_url}{path}", data=body, headers=headers
        ) as response:
            assert response.status == 200
            answer: dict[str, Any] = json.loads(await response.text())
            return answer

    async def add(self, **fields: str) -> dict[str, Any]:
        order = {"pair": "XBTUSDT", "type": "buy", "ordertype": "limit", "volume": "0.01"}
        return await self.private("AddOrder", **{**order, **fields})


@pytest.fixture
async def client() -> Any:
    async with KrakenTestServer() as server, aiohttp.ClientSession() as session:
        server.deposit("USDT", Decimal(100_000))
        server.deposit("BTC", Decimal(1))
        server.set_price("BTC/USDT", Decimal(50_000))
        yield Client(server, session)


# --------------------------------------------------------------------------- public
async def test_asset_pairs_parses_back_into_the_instruments_served(client: Client) -> None:
    body = await client.public("AssetPairs")
    assert body["error"] == []
    assert set(body["result"]) == {"XBTUSDT", "XRPUSDT", "XXRPXXBT"}
    xbt = body["result"]["XBTUSDT"]
    assert (xbt["altname"], xbt["wsname"], xbt["base"], xbt["quote"]) == (
        "XBTUSDT",
        "XBT/USDT",
        "XXBT",
        "USDT",
    )
    assert (xbt["pair_decimals"], xbt["lot_decimals"], xbt["ordermin"], xbt["tick_size"]) == (
        1,
        8,
        "0.0001",
        "0.1",
    )
    pairs = parse_asset_pairs(body["result"]).unwrap()
    assert {i.symbol: i for i in pairs.instruments()} == dict(
        default_instruments().by_symbol.items()
    )


async def test_asset_pairs_answers_by_any_name_and_refuses_an_unknown_pair(
    client: Client,
) -> None:
    by_altname = await client.public("AssetPairs", pair="XRPXBT")
    assert list(by_altname["result"]) == ["XXRPXXBT"]
    unknown = await client.public("AssetPairs", pair="DOGEUSD")
    assert unknown == {"error": ["EQuery:Unknown asset pair"]}


async def test_ticker_shows_the_controlled_price_as_strings(client: Client) -> None:
    body = await client.public("Ticker", pair="XBTUSDT")
    ticker = body["result"]["XBTUSDT"]
    assert ticker["c"][0] == "50000.0"
    assert ticker["a"][0] == "50000.0"
    assert ticker["b"][0] == "49999.9"
    assert parse_ticker(body["result"]).unwrap()["BTC/USDT"].last == Decimal(50_000)
    unpriced = await client.public("Ticker", pair="XRPUSDT")
    assert unpriced == {"error": ["EService:Unavailable"]}


async def test_time_and_system_status(client: Client) -> None:
    time = (await client.public("Time"))["result"]
    assert isinstance(time["unixtime"], int)
    assert time["rfc1123"].endswith("+0000")
    status = (await client.public("SystemStatus"))["result"]
    assert status["status"] == "online"
    assert status["timestamp"].endswith("Z")


# --------------------------------------------------------------------------- orders
async def test_add_order_answers_descr_and_one_txid_and_validate_answers_descr_only(
    client: Client,
) -> None:
    placed = await client.add(price="49000", cl_ord_id="raw-1")
    assert placed["error"] == []
    assert placed["result"]["descr"] == {"order": "buy 0.01000000 XBTUSDT @ limit 49000.0"}
    assert len(placed["result"]["txid"]) == 1
    checked = await client.add(price="49000", validate="true")
    assert checked == {
        "error": [],
        "result": {"descr": {"order": "buy 0.01000000 XBTUSDT @ limit 49000.0"}},
    }
    assert client.server.engine.open_order_count() == 1


async def test_the_order_info_has_krakens_fields_and_string_numbers(client: Client) -> None:
    txid = (await client.add(price="49000", cl_ord_id="raw-2"))["result"]["txid"][0]
    client.server.engine.set_liquidity("BTC/USDT", per_update=Decimal("0.004"), per_order=None)
    client.server.set_price("BTC/USDT", Decimal(48_000))
    info = (await client.private("QueryOrders", txid=txid, trades="true"))["result"][txid]
    assert info["status"] == "open"
    assert info["cl_ord_id"] == "raw-2"
    assert info["descr"]["pair"] == "XBTUSDT"
    assert (info["descr"]["type"], info["descr"]["ordertype"], info["descr"]["price"]) == (
        "buy",
        "limit",
        "49000.0",
    )
    assert (info["vol"], info["vol_exec"], info["cost"], info["price"]) == (
        "0.01000000",
        "0.00400000",
        "196.0",
        "49000.0",
    )
    assert info["fee"] == "0.49"  # 0.25% maker of 196
    assert info["oflags"] == "fciq"
    assert isinstance(info["opentm"], float)
    (trade_id,) = info["trades"]
    trade = (await client.private("QueryTrades", txid=trade_id))["result"][trade_id]
    assert (trade["ordertxid"], trade["pair"], trade["type"], trade["maker"]) == (
        txid,
        "XBTUSDT",
        "buy",
        True,
    )
    assert (trade["price"], trade["vol"], trade["cost"]) == ("49000.0", "0.00400000", "196.0")


async def test_relative_prices_resolve_against_the_last_price(client: Client) -> None:
    up = await client.add(ordertype="stop-loss", type="buy", price="%2B1000")  # "+1000"
    down = await client.add(price="-2%25")  # "-2%"
    infos = (
        await client.private(
            "QueryOrders", txid=f"{up['result']['txid'][0]},{down['result']['txid'][0]}"
        )
    )["result"]
    prices = sorted(i["descr"]["price"] for i in infos.values())
    assert prices == ["49000.0", "51000.0"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"price": "49000", "ordertype": "iceberg"}, "EGeneral:Invalid arguments:ordertype"),
        ({"price": "49000", "close[ordertype]": "limit"}, "EGeneral:Invalid arguments:close"),
        ({"price": "49000", "starttm": "%2B60"}, "EGeneral:Invalid arguments:starttm"),
        ({"price": "#2%25"}, "EOrder:Invalid price:Invalid price argument"),
        ({"price": "abc"}, "EOrder:Invalid price:Invalid price argument"),
        (
            {"price": "49000.05"},
            "EOrder:Invalid price:XBTUSDT price can only be specified up to 1 decimals.",
        ),
        ({"price": "49000", "volume": "0.00001"}, "EOrder:Order minimum not met"),
        ({"price": "49000", "pair": "DOGEUSD"}, "EQuery:Unknown asset pair"),
        ({"price": "49000", "type": "hold"}, "EGeneral:Invalid arguments:type"),
        ({"price": "49000", "deadline": "2000-01-01T00:00:00Z"}, "EService:Deadline elapsed"),
        ({"price": "49000", "timeinforce": "FOK"}, "EGeneral:Invalid arguments:timeinforce"),
    ],
)
async def test_add_order_refuses_with_krakens_strings(
    client: Client, fields: dict[str, str], error: str
) -> None:
    assert await client.add(**fields) == {"error": [error]}
    assert client.server.engine.open_order_count() == 0


async def test_cancel_by_userref_cancels_every_order_carrying_it(client: Client) -> None:
    for price in ("48000", "49000"):
        await client.add(price=price, userref="77")
    await client.add(price="47000", userref="78")
    answer = await client.private("CancelOrder", txid="77")
    assert answer == {"error": [], "result": {"count": 2, "pending": False}}
    assert client.server.engine.open_order_count() == 1


async def test_the_dead_mans_switch_answers_its_times_and_zero_when_disarmed(
    client: Client,
) -> None:
    armed = (await client.private("CancelAllOrdersAfter", timeout="60"))["result"]
    assert armed["currentTime"].endswith("Z")
    assert armed["triggerTime"] > armed["currentTime"]
    disarmed = (await client.private("CancelAllOrdersAfter", timeout="0"))["result"]
    assert disarmed["triggerTime"] == "0"


async def test_query_orders_refuses_more_than_fifty_ids(client: Client) -> None:
    ids = ",".join(f"O{n:05d}-AAAAA-AAAAAA" for n in range(51))
    assert await client.private("QueryOrders", txid=ids) == {
        "error": ["EGeneral:Invalid arguments"]
    }


async def test_balances_use_krakens_asset_ids(client: Client) -> None:
    balance = (await client.private("Balance"))["result"]
    assert balance == {"USDT": "100000.0000", "XXBT": "1.0000"}
    extended = (await client.private("BalanceEx"))["result"]
    assert extended["XXBT"] == {"balance": "1.0000", "hold_trade": "0.0000"}
    assert [asset_from_kraken(kraken_asset(a)) for a in ("BTC", "XRP", "USD", "USDT")] == [
        "BTC",
        "XRP",
        "USD",
        "USDT",
    ]


async def test_trade_volume_reports_fees_per_pair_as_percent(client: Client) -> None:
    volume = (await client.private("TradeVolume", pair="XBTUSDT"))["result"]
    assert volume["currency"] == "ZUSD"
    assert volume["fees"]["XBTUSDT"]["fee"] == "0.4000"
    assert volume["fees_maker"]["XBTUSDT"]["fee"] == "0.2500"
    assert (await client.private("TradeVolume"))["result"]["fees"] is None


# --------------------------------------------------------------------------- control
async def test_the_control_api_moves_prices_and_funds_over_http(client: Client) -> None:
    base = client.server.base_url
    async with client.session.post(
        f"{base}/_control/price", json={"symbol": "XBTUSDT", "price": "51000"}
    ) as response:
        assert (await response.json()) == {"error": [], "result": {"trades": 0}}
    async with client.session.post(
        f"{base}/_control/deposit", json={"asset": "XRP", "amount": "500"}
    ) as response:
        assert (await response.json())["error"] == []
    async with client.session.get(f"{base}/_control/state") as response:
        state = (await response.json())["result"]
    assert state["prices"]["BTC/USDT"] == "51000"
    assert state["balances"]["XRP"] == {"total": "500", "held": "0"}
    async with client.session.post(
        f"{base}/_control/price", json={"symbol": "DOGE/USD", "price": "1"}
    ) as response:
        assert (await response.json()) == {"error": ["EQuery:Unknown asset pair"]}


async def test_the_server_listens_on_loopback_addresses_only() -> None:
    server = KrakenTestServer()
    with pytest.raises(ValueError, match="loopback"):
        await server.start("0.0.0.0")  # noqa: S104 - the point: it must be refused
    with pytest.raises(ValueError, match="loopback"):
        await server.start("192.168.1.10")


async def test_the_command_line_server_prints_its_address_and_key_and_answers() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.kraken.testing",
        "--port",
        "0",
        "--price",
        "BTC/USDT=42000",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        lines = [
            (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
            for _ in range(3)
        ]
        base_url = lines[0].split(" on ")[1].split()[0]
        assert base_url.startswith("http://127.0.0.1:")
        assert lines[1].startswith("API key:")
        assert lines[2].startswith("API secret:")
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{base_url}/0/public/Ticker", params={"pair": "XBTUSDT"}) as response,
        ):
            body = await response.json()
        assert body["result"]["XBTUSDT"]["c"][0] == "42000.0"
    finally:
        process.terminate()
        await process.wait()
