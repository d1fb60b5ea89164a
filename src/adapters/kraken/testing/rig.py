"""`local_kraken()`: a ready `KrakenExchange` wired to a `KrakenTestServer` on 127.0.0.1.

The testing seam the integration, contract, scenario and fault-injection suites share:

    async with local_kraken() as kraken:
        kraken.server.set_price("BTC/USDT", Decimal(50_000))
        placed = await kraken.exchange.place_order(order)

The server gets a fresh API key (all permissions unless told otherwise), the default balances
and prices (so the start-up key check can price its `validate=true` order), and shares the
exchange's clock, so both sides of every rate counter see the same time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final

import aiohttp
import attrs
from returns.result import Failure

from adapters.kraken.exchange import (
    ALL_PERMISSIONS,
    KrakenExchange,
    KrakenOptions,
    KrakenTimeouts,
    Permission,
)
from adapters.kraken.nonce import NonceSource
from adapters.kraken.testing.server import ApiKey, KrakenTestServer
from execution_core.config import RateLimitTier
from execution_core.ports import Clock

DEFAULT_PRICES: Final[Mapping[str, Decimal]] = MappingProxyType(
    {
        "BTC/USDT": Decimal(50_000),
        "XRP/USDT": Decimal("0.5"),
        "XRP/BTC": Decimal("0.00001"),
    }
)
"""The market a local Kraken starts with."""

DEFAULT_BALANCES: Final[Mapping[str, Decimal]] = MappingProxyType(
    {"USDT": Decimal(100_000), "BTC": Decimal(2), "XRP": Decimal(100_000)}
)
"""The account a local Kraken starts with."""

LOCAL_OPTIONS: Final = KrakenOptions(public_limit=None)
"""The adapter's defaults, minus the public-call pacing a local server does not need."""


@attrs.frozen(kw_only=True)
class LocalKraken:
    """A running local Kraken: the server, the adapter talking to it, its key and session."""

    server: KrakenTestServer
    exchange: KrakenExchange
    key: ApiKey
    session: aiohttp.ClientSession


@contextlib.asynccontextmanager
async def local_kraken(
    *,
    server: KrakenTestServer | None = None,
    tier: RateLimitTier = RateLimitTier.STARTER,
    clock: Clock | None = None,
    permissions: Iterable[Permission] = ALL_PERMISSIONS,
    nonce_window: int = 0,
    prices: Mapping[str, Decimal] = DEFAULT_PRICES,
    balances: Mapping[str, Decimal] = DEFAULT_BALANCES,
    options: KrakenOptions = LOCAL_OPTIONS,
    timeouts: KrakenTimeouts | None = None,
    nonces: NonceSource | None = None,
    start: bool = True,
) -> AsyncIterator[LocalKraken]:
    """A started server (unless one is given) and a started `KrakenExchange` on it.

    `start=False` leaves `exchange.start()` (instruments and the key check) to the caller; the
    key check prices its `validate=true` order from Ticker, so a market without prices needs it.
    A start that fails raises RuntimeError naming Kraken's answer: this is a test fixture.
    """
    own_server = server is None
    served = server or KrakenTestServer(tier=tier, clock=clock)
    if own_server:
        await served.start()
    try:
        key = served.add_key(permissions=permissions, nonce_window=nonce_window)
        for asset, amount in balances.items():
            served.deposit(asset, amount)
        for symbol, price in prices.items():
            if symbol in served.engine.symbols:
                served.set_price(symbol, price)
        async with aiohttp.ClientSession() as session:
            exchange = KrakenExchange(
                session,
                key.credentials,
                base_url=served.base_url,
                tier=tier,
                timeouts=timeouts,
                clock=served.clock,
                nonces=nonces,
                options=options,
            )
            if start:
                started = await exchange.start()
                if isinstance(started, Failure):
                    raise RuntimeError(f"the local Kraken refused to start: {started.failure()}")
            yield LocalKraken(server=served, exchange=exchange, key=key, session=session)
    finally:
        if own_server:
            await served.close()
