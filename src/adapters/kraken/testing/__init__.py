"""A Kraken-compatible server for tests and offline bots, and a ready-wired local Kraken.

`python -m adapters.kraken.testing --port 8080` runs the server on 127.0.0.1 (see
docs/kraken.md); in tests, `local_kraken()` gives a started `KrakenExchange` on a fresh server.
"""

from adapters.kraken.testing.clock import ScaledClock
from adapters.kraken.testing.rig import (
    DEFAULT_BALANCES,
    DEFAULT_PRICES,
    LOCAL_OPTIONS,
    LocalKraken,
    local_kraken,
)
from adapters.kraken.testing.server import (
    ApiKey,
    Fault,
    FaultKind,
    KrakenTestServer,
    ServerStats,
    kraken_asset,
    new_key_material,
)

__all__ = [
    "DEFAULT_BALANCES",
    "DEFAULT_PRICES",
    "LOCAL_OPTIONS",
    "ApiKey",
    "Fault",
    "FaultKind",
    "KrakenTestServer",
    "LocalKraken",
    "ScaledClock",
    "ServerStats",
    "kraken_asset",
    "local_kraken",
    "new_key_material",
]
