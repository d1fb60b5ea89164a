"""Kraken spot: the pure protocol part (signing, nonces, ids, errors, wire format).

Everything in `signing`, `nonce`, `ids`, `errors` and `wire` is pure: no network, no event loop,
nothing created at import time. The aiohttp shell and the Kraken-compatible test server build on
these functions. See docs/kraken-protocol.md.
"""

from adapters.kraken.exchange import (
    ALL_PERMISSIONS,
    KRAKEN_URL,
    BodyFormat,
    KeyCheck,
    KrakenExchange,
    KrakenOptions,
    KrakenTimeouts,
    Permission,
)
from adapters.kraken.ratelimit import CounterLimits, KrakenLimits, PublicLimit

__all__ = [
    "ALL_PERMISSIONS",
    "KRAKEN_URL",
    "BodyFormat",
    "CounterLimits",
    "KeyCheck",
    "KrakenExchange",
    "KrakenLimits",
    "KrakenOptions",
    "KrakenTimeouts",
    "Permission",
    "PublicLimit",
]
