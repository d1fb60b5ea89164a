"""A Kraken-compatible HTTP server over the paper engine, for tests and offline bots.

`KrakenTestServer` answers Kraken's REST API on 127.0.0.1 with Kraken's envelopes
(`{"error": [...], "result": {...}}`, HTTP 200 for API errors) and error strings. Orders go to a
`PaperEngine` -- the same matching engine the paper exchange uses, so paper trading and
"Kraken-local" behave alike: ordermin, costmin, tick and lot precision, funds, fees, partial fills,
the per-pair matching-engine counter (`EOrder:Rate limit exceeded`). On top of the engine the server
checks what only an HTTP server can: `API-Key` / `API-Sign` and nonces (`EAPI:Invalid key`,
`EAPI:Invalid signature`, `EAPI:Invalid nonce`, with an optional nonce window), key permissions
(`EGeneral:Permission denied`) and the REST call counter per key (`EAPI:Rate limit exceeded`).
Bodies may be form-encoded or JSON.

The market is one controllable price per pair (`set_price`, or `POST /_control/price` from
another process); faults are injected on demand (`inject(Fault...)`): HTML 502/520 pages,
`EService:Unavailable`, slow answers, and accept-then-drop (the request takes effect, the
connection is dropped or the answer never comes).

Not simulated: iceberg and trailing order types, `#` relative prices, conditional close and
`starttm` (answered `EGeneral:Invalid arguments:<field>`); batch add/cancel and EditOrder
(`EGeneral:Unknown method`).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import enum
import ipaddress
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Final, NoReturn, Self, TypeAlias
from urllib.parse import parse_qs

import attrs
from aiohttp import web
from returns.result import Failure

from adapters.kraken.errors import ErrorCode as Kraken
from adapters.kraken.errors import render_envelope
from adapters.kraken.exchange import ALL_PERMISSIONS, METHOD_PERMISSIONS, Permission
from adapters.kraken.ratelimit import KrakenLimits, LeakyCounter
from adapters.kraken.signing import ApiSecret, Credentials, nonce_of_body, verify_signature
from adapters.kraken.wire import DEFAULT_PAIR_NAMES, PairName, PairNames
from adapters.memory.clock import SystemClock
from adapters.memory.engine import PaperEngine
from adapters.memory.engine_types import (
    INTERMEDIATE,
    PRO,
    STARTER,
    AmendRequest,
    EngineConfig,
    OrderInfo,
    OrderRequest,
    RateTier,
    TradeInfo,
)
from execution_core.config import RateLimitTier
from execution_core.domain.enums import OrderSide, OrderType, SymbolStatus, TimeInForce
from execution_core.domain.instruments import Instrument, default_instruments
from execution_core.domain.numbers import HUNDRED, ZERO
from execution_core.ports import Clock

_log = logging.getLogger(__name__)

ENGINE_TIERS: Final[Mapping[RateLimitTier, RateTier]] = {
    RateLimitTier.STARTER: STARTER,
    RateLimitTier.INTERMEDIATE: INTERMEDIATE,
    RateLimitTier.PRO: PRO,
}
"""The paper engine's matching-engine limits for each account tier."""

MAX_QUERY_ORDERS: Final = 50
MAX_QUERY_TRADES: Final = 20
PAGE_SIZE: Final = 50
_MAX_NONCE: Final = 2**64 - 1
_RECENT_NONCES: Final = 4096
_LOOPBACK_NAMES: Final = frozenset({"localhost"})
_POSTXID: Final = "TKH2SE-M7IF5-CFI7LT"  # Kraken's constant-looking position id for spot trades

# Kraken's asset ids for our asset names (the legacy X/Z-prefixed ones); others are as they are.
_KRAKEN_ASSETS: Final = {
    "BTC": "XXBT",
    "XRP": "XXRP",
    "ETH": "XETH",
    "LTC": "XLTC",
    "XLM": "XXLM",
    "DOGE": "XXDG",
    "ETC": "XETC",
    "XMR": "XXMR",
    "ZEC": "XZEC",
    "USD": "ZUSD",
    "EUR": "ZEUR",
    "GBP": "ZGBP",
    "CAD": "ZCAD",
    "JPY": "ZJPY",
    "AUD": "ZAUD",
    "CHF": "ZCHF",
}
_ORDER_TYPES: Final = {t.value: t for t in OrderType}
_TIMES_IN_FORCE: Final = {t.value: t for t in TimeInForce}
_TRUE: Final = frozenset({"true", "True", "TRUE", "1"})
_FALSE: Final = frozenset({"false", "False", "FALSE", "0"})
_NOT_SIMULATED: Final = ("displayvol", "starttm", "close[ordertype]", "close[price]", "close")

HTML_PAGES: Final = {
    502: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    "</h1></center><hr><center>cloudflare</center></body></html>",
    504: "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway "
    "Time-out</h1></center><hr><center>cloudflare</center></body></html>",
    520: "<!DOCTYPE html><html><head><title>api.kraken.com | 520: Web server is returning an "
    "unknown error</title></head><body>Error code 520</body></html>",
}
"""What Cloudflare in front of Kraken answers when the origin fails."""


def kraken_asset(asset: str) -> str:
    """Kraken's asset id for one of our asset names (`BTC` -> `XXBT`, `USDT` -> `USDT`).

    >>> kraken_asset("BTC"), kraken_asset("USD"), kraken_asset("USDT")
    ('XXBT', 'ZUSD', 'USDT')
    """
    return _KRAKEN_ASSETS.get(asset, asset)


# =========================================================================== keys
def new_key_material() -> tuple[str, str]:
    """A fresh random API key and base64 secret, shaped like Kraken's (56 and 88 characters)."""
    api_key = base64.b64encode(secrets.token_bytes(42)).decode()
    secret = base64.b64encode(secrets.token_bytes(64)).decode()
    return api_key, secret


@attrs.frozen(kw_only=True)
class ApiKey:
    """An API key the server accepts: its credentials, permissions and nonce window."""

    credentials: Credentials
    permissions: frozenset[Permission] = ALL_PERMISSIONS
    nonce_window: int = 0

    @classmethod
    def from_strings(
        cls,
        api_key: str,
        secret: str,
        *,
        permissions: Iterable[Permission] = ALL_PERMISSIONS,
        nonce_window: int = 0,
    ) -> ApiKey:
        """A key from Kraken-style strings (the secret in base64)."""
        return cls(
            credentials=Credentials.from_strings(api_key, secret),
            permissions=frozenset(permissions),
            nonce_window=nonce_window,
        )

    @property
    def api_key(self) -> str:
        """The public key (`API-Key` header)."""
        return self.credentials.api_key

    @property
    def secret(self) -> ApiSecret:
        """The decoded secret (masked in every repr)."""
        return self.credentials.secret


class _KeyState:
    __slots__ = ("counter", "key", "last_nonce", "recent", "recent_set")

    def __init__(self, key: ApiKey, counter: LeakyCounter) -> None:
        self.key = key
        self.counter = counter
        self.last_nonce = 0
        self.recent: collections.deque[int] = collections.deque(maxlen=_RECENT_NONCES)
        self.recent_set: set[int] = set()

    def accept_nonce(self, nonce: int) -> bool:
        """Kraken's rule: above the last one; with a window W, above last - W and not reused."""
        window = self.key.nonce_window
        if nonce > self.last_nonce:
            self.last_nonce = nonce
        elif not (window > 0 and nonce > self.last_nonce - window and nonce not in self.recent_set):
            return False
        if len(self.recent) == self.recent.maxlen:
            self.recent_set.discard(self.recent[0])
        self.recent.append(nonce)
        self.recent_set.add(nonce)
        return True


# =========================================================================== faults
class FaultKind(enum.StrEnum):
    """What an injected fault does to a request."""

    HTML = "html"
    """Answer a Cloudflare HTML page with `status` (502, 504, 520); nothing is processed."""
    ERROR = "error"
    """Answer the Kraken error `code` (e.g. EService:Unavailable); nothing is processed."""
    SLOW = "slow"
    """Wait `seconds`, then process and answer as usual."""
    DROP = "drop"
    """Process the request (an order is placed), then close the connection without an answer."""
    HANG = "hang"
    """Process the request, then never answer (the connection closes after `seconds`)."""
    BODY = "body"
    """Answer `body` verbatim with `status` (a truncated or malformed answer); not processed."""


@attrs.frozen(kw_only=True)
class Fault:
    """A fault for the next `times` requests to `method` (any method when None; forever if 0)."""

    kind: FaultKind
    method: str | None = None
    times: int = 1
    status: int = 502
    code: str = Kraken.SERVICE_UNAVAILABLE.value
    seconds: float = 0.0
    body: str = ""

    @classmethod
    def html(cls, status: int = 502, *, method: str | None = None, times: int = 1) -> Fault:
        """An HTML error page with HTTP `status` instead of the envelope."""
        return cls(kind=FaultKind.HTML, status=status, method=method, times=times)

    @classmethod
    def error(cls, code: str, *, method: str | None = None, times: int = 1) -> Fault:
        """A Kraken error (HTTP 200) without processing the request."""
        return cls(kind=FaultKind.ERROR, code=code, method=method, times=times)

    @classmethod
    def unavailable(cls, *, method: str | None = None, times: int = 1) -> Fault:
        """`EService:Unavailable` without processing the request."""
        return cls.error(Kraken.SERVICE_UNAVAILABLE.value, method=method, times=times)

    @classmethod
    def raw(
        cls, body: str, *, status: int = 200, method: str | None = None, times: int = 1
    ) -> Fault:
        """Answer `body` as it is (e.g. truncated JSON, or a result Kraken would never send)."""
        return cls(kind=FaultKind.BODY, body=body, status=status, method=method, times=times)

    @classmethod
    def slow(cls, seconds: float, *, method: str | None = None, times: int = 1) -> Fault:
        """Answer only after `seconds`."""
        return cls(kind=FaultKind.SLOW, seconds=seconds, method=method, times=times)

    @classmethod
    def accept_then_drop(cls, *, method: str | None = None, times: int = 1) -> Fault:
        """Process the request, then drop the connection: the client cannot know what happened."""
        return cls(kind=FaultKind.DROP, method=method, times=times)

    @classmethod
    def accept_then_hang(
        cls, seconds: float = 60.0, *, method: str | None = None, times: int = 1
    ) -> Fault:
        """Process the request, then send nothing for `seconds` (the client times out)."""
        return cls(kind=FaultKind.HANG, seconds=seconds, method=method, times=times)


class _ArmedFault:
    __slots__ = ("fault", "left")

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.left = fault.times


# =========================================================================== statistics
@attrs.define
class ServerStats:
    """What the server saw: calls per method and error strings it answered, by code."""

    calls: collections.Counter[str] = attrs.field(factory=collections.Counter)
    errors: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.calls.clear()
        self.errors.clear()


# =========================================================================== request values
class _Refused(Exception):
    """A request the server answers with Kraken's error `code`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _refuse(code: str) -> NoReturn:
    raise _Refused(code)


def _invalid(field: str) -> NoReturn:
    raise _Refused(f"{Kraken.INVALID_ARGUMENTS.value}:{field}")


class _Params:
    """A request's fields as text (JSON values are turned into their form spelling)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    @classmethod
    def parse(cls, raw: bytes, content_type: str) -> _Params:
        text = raw.decode("utf-8", errors="replace")
        if "json" in content_type or text.lstrip().startswith("{"):
            try:
                body: object = json.loads(text, parse_float=Decimal)
            except ValueError:
                _refuse(Kraken.INVALID_ARGUMENTS.value)
            if not isinstance(body, dict):
                _refuse(Kraken.INVALID_ARGUMENTS.value)
            return cls({str(k): _json_text(v) for k, v in body.items()})
        pairs = parse_qs(text, keep_blank_values=True)
        return cls({k: v[0] for k, v in pairs.items()})

    @classmethod
    def of_query(cls, query: Mapping[str, str]) -> _Params:
        return cls(dict(query))

    def has(self, key: str) -> bool:
        return key in self._values

    def text(self, key: str) -> str | None:
        value = self._values.get(key)
        return None if value is None or value == "" else value

    def required(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            _invalid(key)
        return value

    def boolean(self, key: str) -> bool:
        value = self.text(key)
        if value is None or value in _FALSE:
            return False
        if value in _TRUE:
            return True
        _invalid(key)

    def integer(self, key: str) -> int | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            _invalid(key)

    def decimal(self, key: str) -> Decimal | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            _invalid(key)
        if not number.is_finite():
            _invalid(key)
        return number


def _json_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _fixed(value: Decimal, places: int) -> str:
    """`value` with at least `places` decimals, and more when it needs them (never rounded).

    >>> _fixed(Decimal("1.225"), 2), _fixed(Decimal(3), 5), _fixed(Decimal("1E+2"), 1)
    ('1.225', '3.00000', '100.0')
    """
    exponent = value.normalize().as_tuple().exponent
    needed = max(places, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return f"{value:.{needed}f}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Handler: TypeAlias = Callable[[_Params, datetime], Mapping[str, object]]


# =========================================================================== the server
class KrakenTestServer:
    """A Kraken-compatible server on 127.0.0.1 (see the module docstring).

    `async with KrakenTestServer() as server:` binds a free port on 127.0.0.1; `server.base_url`
    is what `KrakenExchange(base_url=...)` takes. `add_key()` creates an API key; `deposit`,
    `set_price`, `set_pair_status`, `set_system_status` and `inject` drive the world; `engine`
    is the underlying `PaperEngine` and `stats` counts calls and errors.
    """

    def __init__(
        self,
        *,
        instruments: Iterable[Instrument] | None = None,
        tier: RateLimitTier = RateLimitTier.STARTER,
        limits: KrakenLimits | None = None,
        engine_config: EngineConfig | None = None,
        clock: Clock | None = None,
        seed: int = 0,
        enforce_rest_limit: bool = True,
        max_query_orders: int = MAX_QUERY_ORDERS,
    ) -> None:
        chosen = tuple(instruments) if instruments is not None else tuple(default_instruments())
        config = engine_config or EngineConfig(tier=ENGINE_TIERS[tier])
        self._engine = PaperEngine(chosen, seed=seed, config=config)
        self._names = _names_for(chosen)
        self._limits = limits or KrakenLimits.for_tier(tier)
        self._clock: Clock = clock or SystemClock()
        self._enforce_rest_limit = enforce_rest_limit
        self._max_query_orders = max_query_orders
        self._keys: dict[str, _KeyState] = {}
        self._faults: list[_ArmedFault] = []
        self._system_status = "online"
        self._stats = ServerStats()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closing = asyncio.Event()
        self._private_handlers: Mapping[str, Handler] = {
            "Balance": self._balance,
            "BalanceEx": self._balance_ex,
            "TradeVolume": self._trade_volume,
            "AddOrder": self._add_order,
            "AmendOrder": self._amend_order,
            "CancelOrder": self._cancel_order,
            "CancelAll": self._cancel_all,
            "CancelAllOrdersAfter": self._cancel_all_after,
            "OpenOrders": self._open_orders,
            "ClosedOrders": self._closed_orders,
            "QueryOrders": self._query_orders,
            "QueryTrades": self._query_trades,
            "TradesHistory": self._trades_history,
        }
        self._public_handlers: Mapping[str, Handler] = {
            "Time": self._time,
            "SystemStatus": self._status,
            "AssetPairs": self._asset_pairs,
            "Ticker": self._ticker,
        }
        self.app = self._make_app()

    def __repr__(self) -> str:
        return f"KrakenTestServer(base_url={self._base_url!r}, keys={len(self._keys)})"

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host:port` (loopback only; port 0 picks a free one); the base URL."""
        if not _is_loopback(host):
            raise ValueError(f"the test server listens on loopback addresses only (got {host!r})")
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._base_url = f"http://{shown}:{bound_port}"
        return self._base_url

    async def close(self) -> None:
        """Stop listening; requests left hanging by a fault are released."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` once started."""
        if self._base_url is None:
            raise RuntimeError("the server has not been started")
        return self._base_url

    # ------------------------------------------------------------------ control
    @property
    def engine(self) -> PaperEngine:
        """The matching engine behind the API (orders, balances, rate counters)."""
        return self._engine

    @property
    def stats(self) -> ServerStats:
        """Calls per method and errors answered, by code."""
        return self._stats

    @property
    def names(self) -> PairNames:
        """The pairs' names as this server spells them."""
        return self._names

    @property
    def clock(self) -> Clock:
        """The clock the server (and its engine) runs on."""
        return self._clock

    def add_key(
        self,
        *,
        permissions: Iterable[Permission] = ALL_PERMISSIONS,
        nonce_window: int = 0,
        credentials: Credentials | None = None,
    ) -> ApiKey:
        """Accept a new API key (fresh random material unless `credentials` are given)."""
        if credentials is None:
            credentials = Credentials.from_strings(*new_key_material())
        key = ApiKey(
            credentials=credentials, permissions=frozenset(permissions), nonce_window=nonce_window
        )
        counter = LeakyCounter(self._limits.rest, now=self._clock.monotonic())
        self._keys[key.api_key] = _KeyState(key, counter)
        return key

    def rest_counter(self, key: ApiKey) -> float:
        """The REST call counter of `key` now."""
        return self._keys[key.api_key].counter.level(now=self._clock.monotonic())

    def deposit(self, asset: str, amount: Decimal) -> None:
        """Credit the account with `amount` of `asset`."""
        self._engine.deposit(asset, amount)

    def set_price(
        self,
        symbol: str,
        price: Decimal,
        *,
        low: Decimal | None = None,
        high: Decimal | None = None,
    ) -> tuple[TradeInfo, ...]:
        """Move the market of `symbol` (through `[low, high]`) and match; the trades made."""
        return self._engine.set_price(symbol, price, now=self._clock.now(), low=low, high=high)

    def set_pair_status(self, symbol: str, status: SymbolStatus) -> None:
        """Put a pair into another mode (AssetPairs `status`; orders are refused accordingly)."""
        self._engine.set_pair_status(symbol, status)

    def set_system_status(self, status: str) -> None:
        """What SystemStatus reports (`online`, `maintenance`, `cancel_only`, `post_only`)."""
        self._system_status = status

    def inject(self, fault: Fault) -> None:
        """Arm a fault for the next matching requests."""
        self._faults.append(_ArmedFault(fault))

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def _take_fault(self, method: str) -> Fault | None:
        for armed in self._faults:
            if armed.fault.method in {None, method}:
                if armed.fault.times:
                    armed.left -= 1
                    if armed.left <= 0:
                        self._faults.remove(armed)
                return armed.fault
        return None

    # ------------------------------------------------------------------ http
    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/0/public/{method}", self._handle_public)
        app.router.add_post("/0/private/{method}", self._handle_private)
        app.router.add_post("/_control/{action}", self._handle_control)
        app.router.add_get("/_control/state", self._handle_state)
        return app

    def _answer(
        self, result: Mapping[str, object] | None, errors: tuple[str, ...] = ()
    ) -> web.Response:
        for error in errors:
            self._stats.errors[error] += 1
        return web.Response(text=render_envelope(result, errors), content_type="application/json")

    async def _handle_public(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        self._stats.calls[method] += 1
        handler = self._public_handlers.get(method)
        if handler is None:
            return self._answer(None, (Kraken.UNKNOWN_METHOD.value,))
        return await self._run(method, request, handler, _Params.of_query(request.query))

    async def _handle_private(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        self._stats.calls[method] += 1
        handler = self._private_handlers.get(method)
        if handler is None:
            return self._answer(None, (Kraken.UNKNOWN_METHOD.value,))
        raw = await request.read()
        refusal = self._authenticate(request, method, raw)
        if refusal is not None:
            return self._answer(None, (refusal,))
        try:
            params = _Params.parse(raw, request.content_type)
        except _Refused as refused:
            return self._answer(None, (refused.code,))
        return await self._run(method, request, handler, params)

    async def _run(
        self, method: str, request: web.Request, handler: Handler, params: _Params
    ) -> web.StreamResponse:
        fault = self._take_fault(method)
        if fault is not None:
            early = await self._fault_before(fault)
            if early is not None:
                return early
        try:
            result: Mapping[str, object] | None = handler(params, self._clock.now())
            errors: tuple[str, ...] = ()
        except _Refused as refused:
            result, errors = None, (refused.code,)
        response = self._answer(result, errors)
        if fault is not None and fault.kind in {FaultKind.DROP, FaultKind.HANG}:
            if fault.kind is FaultKind.HANG:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), timeout=fault.seconds)
            if request.transport is not None:
                request.transport.close()
        return response

    async def _fault_before(self, fault: Fault) -> web.StreamResponse | None:
        match fault.kind:
            case FaultKind.HTML:
                page = HTML_PAGES.get(fault.status, HTML_PAGES[502])
                self._stats.errors[f"HTTP {fault.status}"] += 1
                return web.Response(status=fault.status, text=page, content_type="text/html")
            case FaultKind.ERROR:
                return self._answer(None, (fault.code,))
            case FaultKind.BODY:
                return web.Response(
                    status=fault.status, text=fault.body, content_type="application/json"
                )
            case FaultKind.SLOW:
                await asyncio.sleep(fault.seconds)
                return None
            case FaultKind.DROP | FaultKind.HANG:
                return None

    def _authenticate(self, request: web.Request, method: str, raw: bytes) -> str | None:  # noqa: PLR0911 - Kraken's checks, one flat list in order
        """Kraken's checks before a private call runs, in order; the error, or None."""
        state = self._keys.get(request.headers.get("API-Key", ""))
        if state is None:
            return Kraken.INVALID_KEY.value
        nonce = nonce_of_body(raw)
        if nonce is None or int(nonce) > _MAX_NONCE:
            return Kraken.INVALID_NONCE.value
        signature = request.headers.get("API-Sign", "")
        if not verify_signature(request.path, nonce, raw, state.key.secret, signature):
            return Kraken.INVALID_SIGNATURE.value
        if not state.accept_nonce(int(nonce)):
            return Kraken.INVALID_NONCE.value
        needed = METHOD_PERMISSIONS.get(method, frozenset())
        if needed and not needed & state.key.permissions:
            return Kraken.PERMISSION_DENIED.value
        cost = self._limits.rest_cost(method)
        if cost:
            now = self._clock.monotonic()
            if self._enforce_rest_limit and not state.counter.allows(cost, now=now):
                return Kraken.API_RATE_LIMIT.value
            state.counter.charge(cost, now=now)
        return None

    # ------------------------------------------------------------------ control over http
    async def _handle_control(self, request: web.Request) -> web.StreamResponse:
        if not _is_loopback(request.remote or ""):
            raise web.HTTPForbidden
        action = request.match_info["action"]
        try:
            params = _Params.parse(await request.read(), "application/json")
            result = self._control(action, params)
        except (_Refused, ValueError, KeyError) as error:
            code = (
                error.code
                if isinstance(error, _Refused)
                else f"{Kraken.INVALID_ARGUMENTS.value}:{error}"
            )
            return self._answer(None, (code,))
        return self._answer(result)

    def _control(self, action: str, params: _Params) -> Mapping[str, object]:  # noqa: PLR0911 - one case per control action
        match action:
            case "price":
                symbol = self._symbol(params.required("symbol"))
                price = params.decimal("price") or _invalid("price")
                trades = self.set_price(
                    symbol, price, low=params.decimal("low"), high=params.decimal("high")
                )
                return {"trades": len(trades)}
            case "deposit":
                self.deposit(
                    params.required("asset"), params.decimal("amount") or _invalid("amount")
                )
                return {}
            case "balance":
                total = params.decimal("total")
                self._engine.set_balance(
                    params.required("asset"), total if total is not None else ZERO
                )
                return {}
            case "pair_status":
                self.set_pair_status(
                    self._symbol(params.required("symbol")), SymbolStatus(params.required("status"))
                )
                return {}
            case "system_status":
                self.set_system_status(params.required("status"))
                return {}
            case "fault":
                self.inject(
                    Fault(
                        kind=FaultKind(params.required("kind")),
                        method=params.text("method"),
                        times=params.integer("times") or 1,
                        status=params.integer("status") or 502,
                        code=params.text("code") or Kraken.SERVICE_UNAVAILABLE.value,
                        seconds=float(params.decimal("seconds") or 0),
                        body=params.text("body") or "",
                    )
                )
                return {}
            case "clear_faults":
                self.clear_faults()
                return {}
            case _:
                raise web.HTTPNotFound

    async def _handle_state(self, request: web.Request) -> web.StreamResponse:
        if not _is_loopback(request.remote or ""):
            raise web.HTTPForbidden
        engine = self._engine
        return self._answer(
            {
                "prices": {s: engine.price(s) for s in engine.symbols},
                "balances": {
                    a: {"total": b.total, "held": b.held} for a, b in engine.balances().items()
                },
                "open_orders": engine.open_order_count(),
                "calls": dict(self._stats.calls),
                "errors": dict(self._stats.errors),
            }
        )

    # ------------------------------------------------------------------ helpers
    def _symbol(self, name: str) -> str:
        entry = self._names.lookup(name)
        if entry is None or entry.symbol not in self._engine.symbols:
            _refuse(Kraken.UNKNOWN_ASSET_PAIR.value)
        return entry.symbol

    def _pair_id(self, symbol: str) -> str:
        return self._engine.instrument(symbol).exchange_symbol

    def _altname(self, symbol: str) -> str:
        entry = self._names.lookup(symbol)
        return entry.altname if entry is not None else self._pair_id(symbol)

    def _price_field(
        self, params: _Params, key: str, symbol: str, *, invalid: str | None = None
    ) -> Decimal | None:
        """A price, absolute or relative to the last price (`+5`, `-2%`), floored to the tick."""
        text = params.text(key)
        if text is None:
            return None
        bad = invalid or f"{Kraken.INVALID_ARGUMENTS.value}:{key}"
        sign = text[0]
        if sign == "#":
            _refuse(bad)  # automatic direction: not simulated
        amount_text = text[1:] if sign in "+-" else text
        percent = amount_text.endswith("%")
        try:
            amount = Decimal(amount_text.removesuffix("%"))
        except InvalidOperation:
            _refuse(bad)
        if not amount.is_finite():
            _refuse(bad)
        if sign not in "+-" and not percent:
            return amount
        reference = self._engine.price(symbol)
        if reference is None or sign not in "+-":
            _refuse(bad)
        offset = reference * amount / HUNDRED if percent else amount
        value = reference + offset if sign == "+" else reference - offset
        tick = self._engine.instrument(symbol).tick_size
        return (value / tick).to_integral_value(ROUND_FLOOR) * tick

    def _time_field(self, params: _Params, key: str, now: datetime) -> datetime | None:
        text = params.text(key)
        if text is None or text == "0":
            return None
        try:
            if text.startswith("+"):
                return now + timedelta(seconds=int(text[1:]))
            return datetime.fromtimestamp(float(Decimal(text)), UTC)
        except (ValueError, InvalidOperation, OverflowError):
            _invalid(key)

    def _deadline(self, params: _Params, now: datetime) -> None:
        text = params.text("deadline")
        if text is None:
            return
        try:
            deadline = datetime.fromisoformat(text)
        except ValueError:
            _invalid("deadline")
        if deadline.tzinfo is None:
            _invalid("deadline")
        if deadline < now:
            _refuse(Kraken.DEADLINE_ELAPSED.value)

    # ------------------------------------------------------------------ public endpoints
    def _time(self, params: _Params, now: datetime) -> Mapping[str, object]:
        del params
        return {
            "unixtime": int(now.timestamp()),
            "rfc1123": now.strftime("%a, %d %b %y %H:%M:%S +0000"),
        }

    def _status(self, params: _Params, now: datetime) -> Mapping[str, object]:
        del params
        return {"status": self._system_status, "timestamp": _rfc3339(now)}

    def _wanted_symbols(self, params: _Params) -> list[str]:
        text = params.text("pair")
        if text is None:
            return list(self._engine.symbols)
        return [self._symbol(name) for name in text.split(",")]

    def _asset_pairs(self, params: _Params, now: datetime) -> Mapping[str, object]:
        del now
        return {
            self._pair_id(symbol): self._asset_pair_json(self._engine.instrument(symbol))
            for symbol in self._wanted_symbols(params)
        }

    def _asset_pair_json(self, instrument: Instrument) -> Mapping[str, object]:
        maker, taker = self._engine.fee_rates(instrument.symbol)
        leverage = list(range(2, int(instrument.max_leverage) + 1))
        entry = self._names.lookup(instrument.symbol)
        status = "cancel_only" if instrument.status is SymbolStatus.DELISTED else instrument.status
        return {
            "altname": self._altname(instrument.symbol),
            "wsname": entry.wsname if entry is not None and entry.wsname else instrument.symbol,
            "aclass_base": "currency",
            "base": kraken_asset(instrument.base),
            "aclass_quote": "currency",
            "quote": kraken_asset(instrument.quote),
            "lot": "unit",
            "cost_decimals": max(instrument.price_decimals, 5),
            "pair_decimals": instrument.price_decimals,
            "lot_decimals": instrument.size_decimals,
            "lot_multiplier": 1,
            "leverage_buy": leverage,
            "leverage_sell": leverage,
            "fees": [[0, _fixed(taker * HUNDRED, 2)]],
            "fees_maker": [[0, _fixed(maker * HUNDRED, 2)]],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": _fixed(instrument.min_size, 0),
            "costmin": _fixed(instrument.min_cost, 0),
            "tick_size": _fixed(instrument.tick_size, 0),
            "status": str(status),
        }

    def _ticker(self, params: _Params, now: datetime) -> Mapping[str, object]:
        del now
        if params.text("pair") is None:
            _invalid("pair")
        tickers: dict[str, object] = {}
        for symbol in self._wanted_symbols(params):
            price = self._engine.price(symbol)
            if price is None:
                _refuse(Kraken.SERVICE_UNAVAILABLE.value)  # no market yet (our choice)
            instrument = self._engine.instrument(symbol)
            places = instrument.price_decimals
            bid = price - instrument.tick_size if price > instrument.tick_size else price
            last = _fixed(price, places)
            tickers[self._pair_id(symbol)] = {
                "a": [last, "1", "1.000"],
                "b": [_fixed(bid, places), "1", "1.000"],
                "c": [last, "0.00000000"],
                "v": ["0.00000000", "0.00000000"],
                "p": [last, last],
                "t": [0, 0],
                "l": [last, last],
                "h": [last, last],
                "o": last,
            }
        return tickers

    # ------------------------------------------------------------------ account
    def _balance(self, params: _Params, now: datetime) -> Mapping[str, object]:
        del params, now
        return {
            kraken_asset(asset): _fixed(balance.total, 4)
            for asset, balance in self._engine.balances().items()
        }

    def _balance_ex(self, params: _Params, now: datetime) -> Mapping[str, object]:
        del params, now
        return {
            kraken_asset(asset): {
                "balance": _fixed(balance.total, 4),
                "hold_trade": _fixed(balance.held, 4),
            }
            for asset, balance in self._engine.balances().items()
        }

    def _trade_volume(self, params: _Params, now: datetime) -> Mapping[str, object]:
        del now
        volume = sum((t.cost for t in self._engine.trades_history()), ZERO)
        result: dict[str, object] = {
            "currency": "ZUSD",
            "volume": _fixed(volume, 4),
            "fees": None,
            "fees_maker": None,
        }
        if params.text("pair") is not None:
            fees: dict[str, object] = {}
            fees_maker: dict[str, object] = {}
            for symbol in self._wanted_symbols(params):
                maker, taker = self._engine.fee_rates(symbol)
                fees[self._pair_id(symbol)] = _fee_json(taker)
                fees_maker[self._pair_id(symbol)] = _fee_json(maker)
            result["fees"] = fees
            result["fees_maker"] = fees_maker
        return result

    # ------------------------------------------------------------------ orders
    def _add_order(self, params: _Params, now: datetime) -> Mapping[str, object]:
        for field in _NOT_SIMULATED:
            if params.has(field) and params.text(field) not in {None, "0"}:
                _invalid(field.split("[")[0])
        self._deadline(params, now)
        symbol = self._symbol(params.required("pair"))
        side_text = params.required("type")
        if side_text not in {"buy", "sell"}:
            _invalid("type")
        ordertype = _ORDER_TYPES.get(params.required("ordertype"))
        if ordertype is None:
            _invalid("ordertype")
        tif = _TIMES_IN_FORCE.get(params.text("timeinforce") or "GTC")
        if tif is None:
            _invalid("timeinforce")
        leverage_text = params.text("leverage")
        leverage = None
        if leverage_text is not None and leverage_text != "none":
            leverage = _Params({"leverage": leverage_text.removesuffix(":1")}).decimal("leverage")
        try:
            request = OrderRequest(
                pair=symbol,
                side=OrderSide(side_text),
                ordertype=ordertype,
                volume=params.decimal("volume") or _invalid("volume"),
                price=self._price_field(
                    params, "price", symbol, invalid="EOrder:Invalid price:Invalid price argument"
                ),
                price2=self._price_field(
                    params,
                    "price2",
                    symbol,
                    invalid="EOrder:Invalid price:Invalid secondary price argument",
                ),
                timeinforce=tif,
                expiretm=self._time_field(params, "expiretm", now),
                cl_ord_id=params.text("cl_ord_id"),
                userref=params.integer("userref"),
                oflags=params.text("oflags") or "",
                reduce_only=params.boolean("reduce_only"),
                leverage=leverage,
                validate=params.boolean("validate"),
            )
        except ValueError:
            _refuse(Kraken.INVALID_ARGUMENTS.value)
        ack = self._engine.add_order(request, now=now)
        if isinstance(ack, Failure):
            _refuse(ack.failure().code)
        done = ack.unwrap()
        result: dict[str, object] = {"descr": {"order": done.descr}}
        if done.txid is not None:
            result["txid"] = [done.txid]
        return result

    def _amend_order(self, params: _Params, now: datetime) -> Mapping[str, object]:
        if params.has("display_qty"):
            _invalid("display_qty")
        self._deadline(params, now)
        txid = params.text("txid")
        cl_ord_id = params.text("cl_ord_id")
        order = self._engine.order(txid) if txid else self._engine.find_order(cl_ord_id or "")
        symbol = order.pair if order is not None else None
        try:
            request = AmendRequest(
                txid=txid,
                cl_ord_id=cl_ord_id,
                order_qty=params.decimal("order_qty"),
                limit_price=self._price_field(params, "limit_price", symbol)
                if symbol
                else params.decimal("limit_price"),
                trigger_price=self._price_field(params, "trigger_price", symbol)
                if symbol
                else params.decimal("trigger_price"),
                post_only=params.boolean("post_only"),
            )
        except ValueError:
            _refuse(Kraken.INVALID_ARGUMENTS.value)
        ack = self._engine.amend_order(request, now=now)
        if isinstance(ack, Failure):
            _refuse(ack.failure().code)
        return {"amend_id": ack.unwrap().amend_id}

    def _cancel_order(self, params: _Params, now: datetime) -> Mapping[str, object]:
        txid = params.text("txid")
        cl_ord_id = params.text("cl_ord_id")
        userref = None
        if txid is not None and txid.lstrip("-").isdigit():
            userref, txid = int(txid), None
        ack = self._engine.cancel_order(now=now, txid=txid, cl_ord_id=cl_ord_id, userref=userref)
        if isinstance(ack, Failure):
            _refuse(ack.failure().code)
        return {"count": ack.unwrap().count, "pending": False}

    def _cancel_all(self, params: _Params, now: datetime) -> Mapping[str, object]:
        del params
        return {"count": self._engine.cancel_all(now=now).count, "pending": False}

    def _cancel_all_after(self, params: _Params, now: datetime) -> Mapping[str, object]:
        timeout = params.integer("timeout")
        if timeout is None:
            _invalid("timeout")
        switch = self._engine.cancel_all_after(timeout, now=now)
        if isinstance(switch, Failure):
            _refuse(switch.failure().code)
        trigger = switch.unwrap().trigger_time
        return {
            "currentTime": _rfc3339(now),
            "triggerTime": _rfc3339(trigger) if trigger is not None else "0",
        }

    # ------------------------------------------------------------------ queries
    def _order_json(self, info: OrderInfo, *, trades: bool) -> Mapping[str, object]:
        instrument = self._engine.instrument(info.pair)
        places = instrument.price_decimals
        lots = instrument.size_decimals

        def price(value: Decimal | None) -> str:
            return _fixed(value, places) if value is not None else "0"

        body: dict[str, object] = {
            "refid": None,
            "userref": info.userref,
            "cl_ord_id": info.cl_ord_id,
            "status": info.status.value,
            "opentm": info.opentm.timestamp(),
            "starttm": 0,
            "expiretm": info.expiretm.timestamp() if info.expiretm is not None else 0,
            "descr": {
                "pair": self._altname(info.pair),
                "type": info.side.value,
                "ordertype": info.ordertype.value,
                "price": price(info.price),
                "price2": price(info.price2),
                "leverage": f"{info.leverage}:1" if info.leverage is not None else "none",
                "order": info.descr,
                "close": "",
            },
            "vol": _fixed(info.vol, lots),
            "vol_exec": _fixed(info.vol_exec, lots),
            "cost": _fixed(info.cost, places),
            "fee": _fixed(info.fee, places),
            "price": _fixed(info.avg_price, places),
            "stopprice": _fixed(info.stopprice, places),
            "limitprice": _fixed(info.limitprice, places),
            "misc": info.misc_csv,
            "oflags": info.oflags_csv,
            "reason": info.reason,
        }
        if info.closetm is not None:
            body["closetm"] = info.closetm.timestamp()
        if trades and info.trades:
            body["trades"] = list(info.trade_ids)
        return body

    def _trade_json(self, trade: TradeInfo) -> Mapping[str, object]:
        instrument = self._engine.instrument(trade.pair)
        places = instrument.price_decimals
        return {
            "ordertxid": trade.ordertxid,
            "postxid": _POSTXID,
            "pair": instrument.exchange_symbol,
            "time": trade.time.timestamp(),
            "type": trade.side.value,
            "ordertype": trade.ordertype.value,
            "price": _fixed(trade.price, places),
            "cost": _fixed(trade.cost, places),
            "fee": _fixed(trade.fee, places),
            "vol": _fixed(trade.vol, instrument.size_decimals),
            "margin": _fixed(ZERO, places),
            "leverage": "0",
            "misc": "",
            "trade_id": trade.trade_id,
            "maker": trade.maker,
        }

    def _open_orders(self, params: _Params, now: datetime) -> Mapping[str, object]:
        orders = self._engine.open_orders(
            userref=params.integer("userref"), cl_ord_id=params.text("cl_ord_id"), now=now
        )
        trades = params.boolean("trades")
        return {"open": {t: self._order_json(o, trades=trades) for t, o in orders.items()}}

    def _closed_orders(self, params: _Params, now: datetime) -> Mapping[str, object]:
        start = self._time_field(params, "start", now)
        end = self._time_field(params, "end", now)
        orders = [
            o
            for o in self._engine.closed_orders(
                userref=params.integer("userref"), cl_ord_id=params.text("cl_ord_id"), now=now
            ).values()
            if o.closetm is not None
            and (start is None or o.closetm > start)
            and (end is None or o.closetm <= end)
        ]
        offset = params.integer("ofs") or 0
        trades = params.boolean("trades")
        page = orders[offset : offset + PAGE_SIZE]
        result: dict[str, object] = {
            "closed": {o.txid: self._order_json(o, trades=trades) for o in page}
        }
        if not params.boolean("without_count"):
            result["count"] = len(orders)
        return result

    def _query_orders(self, params: _Params, now: datetime) -> Mapping[str, object]:
        txids = [t.strip() for t in params.required("txid").split(",") if t.strip()]
        if not txids or len(txids) > self._max_query_orders:
            _refuse(Kraken.INVALID_ARGUMENTS.value)
        found = self._engine.query_orders(txids, now=now)
        if isinstance(found, Failure):
            _refuse(found.failure().code)
        userref = params.integer("userref")
        trades = params.boolean("trades")
        return {
            t: self._order_json(o, trades=trades)
            for t, o in found.unwrap().items()
            if userref is None or o.userref == userref
        }

    def _query_trades(self, params: _Params, now: datetime) -> Mapping[str, object]:
        del now
        txids = [t.strip() for t in params.required("txid").split(",") if t.strip()]
        if not txids or len(txids) > MAX_QUERY_TRADES:
            _refuse(Kraken.INVALID_ARGUMENTS.value)
        found = self._engine.query_trades(txids)
        if isinstance(found, Failure):
            _refuse(found.failure().code)
        return {t: self._trade_json(trade) for t, trade in found.unwrap().items()}

    def _trades_history(self, params: _Params, now: datetime) -> Mapping[str, object]:
        start = self._time_field(params, "start", now)
        end = self._time_field(params, "end", now)
        trades = [
            t
            for t in self._engine.trades_history()
            if (start is None or t.time > start) and (end is None or t.time <= end)
        ]
        offset = params.integer("ofs") or 0
        page = trades[offset : offset + PAGE_SIZE]
        result: dict[str, object] = {"trades": {t.txid: self._trade_json(t) for t in page}}
        if not params.boolean("without_count"):
            result["count"] = len(trades)
        return result


def _fee_json(rate: Decimal) -> Mapping[str, object]:
    percent = _fixed(rate * HUNDRED, 4)
    return {
        "fee": percent,
        "minfee": percent,
        "maxfee": percent,
        "nextfee": None,
        "tiervolume": "0.0000",
        "nextvolume": None,
    }


def _names_for(instruments: Iterable[Instrument]) -> PairNames:
    """Kraken's names for the served pairs: the known ones, else the pair id as altname."""
    entries: list[PairName] = []
    for instrument in instruments:
        known = DEFAULT_PAIR_NAMES.lookup(instrument.symbol)
        if known is not None and known.pair_id == instrument.exchange_symbol:
            entries.append(known)
        else:
            entries.append(
                PairName(
                    symbol=instrument.symbol,
                    pair_id=instrument.exchange_symbol,
                    altname=instrument.exchange_symbol,
                    wsname=f"{instrument.base}/{instrument.quote}".replace("BTC", "XBT"),
                )
            )
    return PairNames(tuple(entries))
