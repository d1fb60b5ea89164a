"""`KrakenExchange`: the Exchange port over Kraken's REST API, on an injected aiohttp session.

The thin shell around the pure protocol part (signing, nonce, ids, errors, wire): it builds a
request with those functions, paces it below both of Kraken's counters (`ratelimit`), sends it,
and turns the answer into the port's values. Every method returns a `Result`; nothing raises
for anything Kraken or the network can do:

- Kraken's errors (`{"error": ["EOrder:..."]}`, HTTP 200) go through the error catalogue
  (`errors.ErrorPolicy`): kind and retry class by Kraken's code;
- HTTP 5xx, Cloudflare HTML, a body that is not the envelope, a timeout after the request left,
  a dropped connection: `TRANSPORT` + `OUTCOME_UNKNOWN` (the order may exist: resolve it with
  `find_order` before resending); a connection that could not be opened: `TRANSPORT` + `RETRY`;
- a result Kraken should not have sent (bad ids, missing fields): `OUTCOME_UNKNOWN` as well.

Private calls are signed over the exact body sent (form-encoded by default, JSON optional) with
a nonce from one shared `NonceSource`; a retry (after `EAPI:Invalid nonce`, or a connection that
never opened) draws a fresh nonce. The API secret lives only in `Credentials` and is never in a
repr, a log line or a failure.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import Final, TypeAlias

import aiohttp
import attrs
from aiolimiter import AsyncLimiter
from returns.result import Failure, Result, Success

from adapters.kraken.errors import (
    DEFAULT_POLICY,
    ErrorCode,
    ErrorPolicy,
    KrakenError,
    decode_envelope,
    transport_failure,
)
from adapters.kraken.ids import validate_client_order_id, validate_order_id
from adapters.kraken.nonce import NonceSource
from adapters.kraken.ratelimit import (
    ADD_COST,
    CANCEL_COST_HORIZON,
    KrakenLimits,
    KrakenPacer,
    PublicLimit,
    amend_cost,
    cancel_cost,
)
from adapters.kraken.signing import Credentials, auth_headers
from adapters.kraken.wire import (
    DEFAULT_PAIR_NAMES,
    DEFAULT_WIRE_OPTIONS,
    QUERY_TRADES_MAX_IDS,
    AccountFees,
    EncodeError,
    KrakenPairs,
    MalformedResponse,
    OrdersPage,
    PairNames,
    TradesPage,
    WireOptions,
    batched,
    collect_trade_ids,
    encode_amend,
    encode_cancel,
    encode_cancel_all_after,
    encode_closed_orders,
    encode_open_orders,
    encode_order,
    encode_pairs,
    encode_query_orders,
    encode_query_trades,
    encode_trades_history,
    form_body,
    json_body,
    parse_add_order,
    parse_amend_order,
    parse_asset_pairs,
    parse_balance,
    parse_balance_ex,
    parse_cancel_all_after,
    parse_cancel_order,
    parse_closed_orders,
    parse_open_orders,
    parse_query_orders,
    parse_query_trades,
    parse_ticker,
    parse_trade_volume,
    parse_trades_history,
    query_string,
    with_account_fees,
)
from adapters.memory.clock import SystemClock
from execution_core.config import RateLimitTier
from execution_core.domain.enums import OrderSide, OrderType
from execution_core.domain.instruments import Instrument, Instruments, default_instruments
from execution_core.domain.orders import Order
from execution_core.ports import (
    Amendment,
    Balance,
    Clock,
    Exchange,
    ExchangeFailure,
    FailureKind,
    OrderReport,
    Placement,
    RetryClass,
    TradeReport,
)

_log = logging.getLogger(__name__)

KRAKEN_URL: Final = "https://api.kraken.com"
"""Kraken's REST API (the only production host)."""

QUERY_ORDERS_SAFE_BATCH: Final = 20
"""QueryOrders ids per call that older docs allow; the adapter falls back to it if 50 is refused."""
QUERY_ORDERS_MAX_BATCH: Final = 50
"""QueryOrders ids per call that current docs allow."""
DEFAULT_PUBLIC_LIMIT: Final = PublicLimit()
"""Public calls: 3 at once, then one per second."""
KEY_CHECK_TXID: Final = "OAAAAA-AAAAA-AAAAAA"
"""A well-formed order id no one has: the key check cancels it to test the cancel permission."""


# =========================================================================== permissions
class Permission(enum.StrEnum):
    """Kraken's API key permissions, spelled as Kraken's key settings page shows them."""

    FUNDS_QUERY = "Funds permissions - Query"
    ORDERS_QUERY_OPEN = "Orders and trades - Query open orders & trades"
    ORDERS_QUERY_CLOSED = "Orders and trades - Query closed orders & trades"
    ORDERS_CREATE = "Orders and trades - Create & modify orders"
    ORDERS_CANCEL = "Orders and trades - Cancel & close orders"
    WEBSOCKET = "WebSocket interface - On"


ALL_PERMISSIONS: Final = frozenset(Permission)

METHOD_PERMISSIONS: Final[Mapping[str, frozenset[Permission]]] = MappingProxyType(
    {
        "Balance": frozenset({Permission.FUNDS_QUERY}),
        "BalanceEx": frozenset({Permission.FUNDS_QUERY}),
        "TradeVolume": frozenset({Permission.FUNDS_QUERY}),
        "TradeBalance": frozenset({Permission.ORDERS_QUERY_OPEN}),
        "OpenOrders": frozenset({Permission.ORDERS_QUERY_OPEN}),
        "QueryOrders": frozenset({Permission.ORDERS_QUERY_OPEN}),
        "ClosedOrders": frozenset({Permission.ORDERS_QUERY_CLOSED}),
        "QueryTrades": frozenset({Permission.ORDERS_QUERY_CLOSED}),
        "TradesHistory": frozenset({Permission.ORDERS_QUERY_CLOSED}),
        "AddOrder": frozenset({Permission.ORDERS_CREATE}),
        "AddOrderBatch": frozenset({Permission.ORDERS_CREATE}),
        "EditOrder": frozenset({Permission.ORDERS_CREATE}),
        "AmendOrder": frozenset({Permission.ORDERS_CREATE, Permission.ORDERS_CANCEL}),
        "CancelOrder": frozenset({Permission.ORDERS_CANCEL}),
        "CancelAll": frozenset({Permission.ORDERS_CANCEL}),
        "CancelAllOrdersAfter": frozenset({Permission.ORDERS_CANCEL}),
        "CancelOrderBatch": frozenset({Permission.ORDERS_CANCEL}),
        "GetWebSocketsToken": frozenset({Permission.WEBSOCKET}),
    }
)
"""Which permission a private call needs (any one of the set), kraken-api.md §1."""


@attrs.frozen(kw_only=True)
class KeyCheck:
    """What the start-up key check proved: the permissions Kraken let us use."""

    granted: tuple[Permission, ...]


# =========================================================================== options
class BodyFormat(enum.StrEnum):
    """How private request bodies are encoded (Kraken accepts both; the signature covers either)."""

    FORM = "form"
    JSON = "json"


@attrs.frozen(kw_only=True)
class KrakenTimeouts:
    """Seconds: to open a connection, and for a whole call (connect, send, answer)."""

    connect: float = 5.0
    total: float = 15.0

    def client_timeout(self) -> aiohttp.ClientTimeout:
        """As aiohttp's `ClientTimeout`."""
        return aiohttp.ClientTimeout(total=self.total, sock_connect=self.connect)


@attrs.frozen(kw_only=True)
class KrakenOptions:
    """Everything about `KrakenExchange` that has a sensible default.

    - `body_format`: form-encoded (what most clients send) or JSON (Kraken's current docs).
    - `query_batch_size`: ids per QueryOrders call, 1..50. Current docs allow 50, older ones 20
      (UNCERTAIN); if Kraken refuses a batch above 20 as invalid, the adapter falls back to 20.
    - `fetch_trades`: attach each order's trades (QueryTrades) to its report, so fills are
      reconciled per trade id; off, reports carry cumulative volumes only.
    - `limits`: the counters to pace below (None: the tier's documented ones).
    - `public_limit`: pacing of public calls (None: none).
    - `nonce_retries` / `connect_retries`: immediate resends, each with a fresh nonce, after
      `EAPI:Invalid nonce` or a connection that never opened (neither can have taken effect).
    - `load_account_fees`: apply the account's fee tier (TradeVolume) to the instruments at
      start; `check_key_on_start`: run `check_key` in `start`; `key_check_symbol`: the pair the
      `validate=true` AddOrder names (default: the first instrument); `check_cancel_permission`:
      also cancel a made-up order id to prove the cancel permission.
    - `serialize_private_calls`: one private call in flight per key. Concurrent calls can reach
      Kraken out of nonce order (separate connections), which Kraken refuses with
      `EAPI:Invalid nonce` -- and too many of those lock the key out. Turn it off only for a key
      with a nonce window set at Kraken; the adapter still resends a refused nonce.
    """

    body_format: BodyFormat = BodyFormat.FORM
    query_batch_size: int = attrs.field(default=QUERY_ORDERS_MAX_BATCH)
    fetch_trades: bool = True
    wire: WireOptions = DEFAULT_WIRE_OPTIONS
    errors: ErrorPolicy = DEFAULT_POLICY
    limits: KrakenLimits | None = None
    public_limit: PublicLimit | None = DEFAULT_PUBLIC_LIMIT
    nonce_retries: int = 2
    connect_retries: int = 1
    user_agent: str = "execution-core"
    load_account_fees: bool = True
    check_key_on_start: bool = True
    key_check_symbol: str | None = None
    check_cancel_permission: bool = True
    serialize_private_calls: bool = True

    @query_batch_size.validator
    def _batch(self, attribute: attrs.Attribute[int], value: int) -> None:
        del attribute
        if not 1 <= value <= QUERY_ORDERS_MAX_BATCH:
            raise ValueError(f"query_batch_size must be within 1..50 (got {value})")


# =========================================================================== helpers
_OrdersParser: TypeAlias = Callable[
    [Mapping[str, object], PairNames, Mapping[str, TradeReport]],
    Result[Mapping[str, OrderReport], MalformedResponse],
]
"""Parses an orders result with the pair names and the trades fetched for it."""


def _failure(kind: FailureKind, code: str, message: str) -> ExchangeFailure:
    return ExchangeFailure(kind=kind, retry=RetryClass.NEVER, code=code, message=message)


def _malformed(error: MalformedResponse) -> ExchangeFailure:
    return error.to_failure()


def _encode_failure(error: EncodeError) -> ExchangeFailure:
    return _failure(FailureKind.INVALID_ARGUMENTS, "invalid request", str(error))


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    text = text if len(text) <= 160 else f"{text[:160]}..."  # noqa: PLR2004 - a readable excerpt
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _level(failure: ExchangeFailure) -> int:
    """Refusals are the caller's business (INFO); lost answers and rate limits are not (WARNING)."""
    if failure.retry in {RetryClass.OUTCOME_UNKNOWN, RetryClass.WAIT}:
        return logging.WARNING
    return logging.INFO


def _is_code(failure: ExchangeFailure, code: ErrorCode) -> bool:
    return KrakenError.parse(failure.code).key.casefold() == code.value.casefold()


def _decimal_ceil(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_CEILING) * step


def _decimal_floor(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_FLOOR) * step


@attrs.frozen
class _Trading:
    """A call's cost on a pair's matching-engine counter; `hold_back=False` never waits."""

    symbol: str
    cost: float
    hold_back: bool


class _OrderAges:
    """When each order was created or last amended (monotonic s), for Kraken's age-based costs.

    Entries older than 300 s cost nothing more and are dropped, so the map stays small.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: collections.OrderedDict[str, tuple[str, float]] = collections.OrderedDict()

    def touch(self, client_order_id: str, symbol: str, now: float) -> None:
        self._entries[client_order_id] = (symbol, now)
        self._entries.move_to_end(client_order_id)
        while self._entries:
            _, (_, since) = next(iter(self._entries.items()))
            if now - since < CANCEL_COST_HORIZON:
                break
            self._entries.popitem(last=False)

    def since(self, client_order_id: str) -> float | None:
        entry = self._entries.get(client_order_id)
        return None if entry is None else entry[1]

    def forget(self, client_order_id: str) -> None:
        self._entries.pop(client_order_id, None)

    def drain(self) -> list[tuple[str, float]]:
        entries = list(self._entries.values())
        self._entries.clear()
        return entries


# =========================================================================== the adapter
class KrakenExchange:
    """The Exchange port on Kraken spot, over an injected `aiohttp.ClientSession`.

    `await start()` loads the instruments from AssetPairs (and the account's fee tier) and runs
    the start-up key check; every port method works without it on the built-in instruments.
    `clock` drives the pacing (default: the system's monotonic clock); `nonces` is the key's one
    nonce source (share it if two objects use the same key in one process).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        credentials: Credentials,
        *,
        base_url: str = KRAKEN_URL,
        tier: RateLimitTier = RateLimitTier.STARTER,
        timeouts: KrakenTimeouts | None = None,
        instruments: Iterable[Instrument] | None = None,
        clock: Clock | None = None,
        nonces: NonceSource | None = None,
        options: KrakenOptions | None = None,
    ) -> None:
        self._session = session
        self._credentials = credentials
        self._base_url = base_url.rstrip("/")
        self._tier = tier
        self._options = options or KrakenOptions()
        self._timeout = (timeouts or KrakenTimeouts()).client_timeout()
        self._clock: Clock = clock or SystemClock()
        self._nonces = nonces or NonceSource.system()
        self._pacer = KrakenPacer(self._options.limits or KrakenLimits.for_tier(tier), self._clock)
        wanted = tuple(instruments) if instruments is not None else tuple(default_instruments())
        self._wanted = wanted
        self._instruments = Instruments.of(wanted)
        self._pairs: KrakenPairs | None = None
        self._names: PairNames = DEFAULT_PAIR_NAMES
        self._ages = _OrderAges()
        self._send_lock: contextlib.AbstractAsyncContextManager[None] = (
            asyncio.Lock() if self._options.serialize_private_calls else contextlib.nullcontext()
        )
        self._query_batch = self._options.query_batch_size
        self._balance_ex = True
        limit = self._options.public_limit
        self._public_limiter: AsyncLimiter | None = limit.limiter() if limit else None
        self._content_type = (
            "application/json"
            if self._options.body_format is BodyFormat.JSON
            else "application/x-www-form-urlencoded"
        )

    def __repr__(self) -> str:
        return (
            f"KrakenExchange(base_url={self._base_url!r}, credentials={self._credentials!r}, "
            f"tier={self._tier.value})"
        )

    # ------------------------------------------------------------------ properties
    @property
    def base_url(self) -> str:
        """The API's base URL (no trailing slash)."""
        return self._base_url

    @property
    def pacer(self) -> KrakenPacer:
        """The rate-limit model (read its gates' levels; it is shared by every call)."""
        return self._pacer

    @property
    def names(self) -> PairNames:
        """Our symbols <-> Kraken's pair names, as loaded."""
        return self._names

    @property
    def loaded_instruments(self) -> Instruments:
        """The instruments in use (AssetPairs' after `start`, else the ones given)."""
        return self._instruments

    @property
    def pairs(self) -> KrakenPairs | None:
        """AssetPairs as loaded by `start` / `load_instruments` (every fee tier), or None."""
        return self._pairs

    # ------------------------------------------------------------------ start
    async def start(self) -> Result[None, ExchangeFailure]:
        """Load instruments (and the account's fees), then check the key; a failure refuses."""
        loaded = await self.load_instruments()
        if isinstance(loaded, Failure):
            return Failure(loaded.failure())
        if self._options.load_account_fees:
            fees = await self.account_fees()
            if isinstance(fees, Success):
                self._instruments = with_account_fees(self._instruments, fees.unwrap())
            else:
                _log.warning(
                    "Kraken TradeVolume failed, keeping AssetPairs fees: %s", fees.failure()
                )
        if self._options.check_key_on_start:
            checked = await self.check_key()
            if isinstance(checked, Failure):
                _log.error("Kraken API key refused: %s", checked.failure())
                return Failure(checked.failure())
        return Success(None)

    async def load_instruments(self) -> Result[Instruments, ExchangeFailure]:
        """Fetch AssetPairs for the wanted pairs and use their rules from now on."""
        fields = encode_pairs([i.exchange_symbol for i in self._wanted]) if self._wanted else {}
        result = await self._public("AssetPairs", fields)
        if isinstance(result, Failure):
            return Failure(result.failure())
        parsed = parse_asset_pairs(result.unwrap())
        if isinstance(parsed, Failure):
            return Failure(parsed.failure().to_failure())
        pairs = parsed.unwrap()
        self._pairs = pairs
        self._names = self._names.merged(pairs.names)
        self._instruments = pairs.instruments()
        return Success(self._instruments)

    async def check_key(self) -> Result[KeyCheck, ExchangeFailure]:
        """Prove the key's permissions: Balance, OpenOrders, ClosedOrders, AddOrder validate=true.

        With `check_cancel_permission`, also a CancelOrder of an id no one has (Kraken answers
        `EOrder:Unknown order` when the key may cancel). A missing permission is a PERMISSION
        failure whose message names it as Kraken's key settings do; a wrong key or secret an
        AUTHENTICATION failure.
        """
        probe = await self._probe_order_fields()
        if isinstance(probe, Failure):
            return Failure(probe.failure())
        probes: list[tuple[Permission, str, Mapping[str, str], bool]] = [
            (Permission.FUNDS_QUERY, "Balance", {}, False),
            (Permission.ORDERS_QUERY_OPEN, "OpenOrders", {}, False),
            (Permission.ORDERS_QUERY_CLOSED, "ClosedOrders", {"without_count": "true"}, False),
            (Permission.ORDERS_CREATE, "AddOrder", probe.unwrap(), True),
        ]
        if self._options.check_cancel_permission:
            probes.append((Permission.ORDERS_CANCEL, "CancelOrder", {"txid": KEY_CHECK_TXID}, True))
        granted: list[Permission] = []
        missing: list[str] = []
        for permission, method, fields, refusal_proves_access in probes:
            result = await self._private(method, fields)
            if isinstance(result, Success):
                granted.append(permission)
                continue
            failure = result.failure()
            if _is_code(failure, ErrorCode.PERMISSION_DENIED):
                missing.append(f"'{permission.value}' ({method} answered {failure.code})")
            elif failure.kind in {FailureKind.AUTHENTICATION, FailureKind.INVALID_NONCE}:
                return Failure(_key_refused(failure))
            elif refusal_proves_access and failure.retry is RetryClass.NEVER:
                granted.append(permission)  # Kraken looked at the request: the key may do it
            else:
                return Failure(failure)
        if missing:
            return Failure(
                _failure(
                    FailureKind.PERMISSION,
                    ErrorCode.PERMISSION_DENIED.value,
                    "the API key lacks the permission "
                    + "; ".join(missing)
                    + ": enable it for the key in Kraken's API settings, or use another key",
                )
            )
        return Success(KeyCheck(granted=tuple(granted)))

    async def _probe_order_fields(self) -> Result[Mapping[str, str], ExchangeFailure]:
        """A buy limit at half the last price, just above the minimums, with validate=true."""
        symbol = self._options.key_check_symbol or next(iter(sorted(self._instruments.by_symbol)))
        found = self._instrument(symbol)
        if isinstance(found, Failure):
            return Failure(found.failure())
        instrument = found.unwrap()
        last = await self.reference_price(symbol)
        if isinstance(last, Failure):
            return Failure(last.failure())
        price = max(_decimal_floor(last.unwrap() / 2, instrument.tick_size), instrument.tick_size)
        size = max(
            instrument.min_size, _decimal_ceil(instrument.min_cost / price, instrument.lot_size)
        )
        order = Order(
            id="key-check",
            client_order_id="key-check",
            symbol=symbol,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=_decimal_ceil(size, instrument.lot_size),
            price=price,
        )
        try:
            fields = encode_order(
                order, instrument, attrs.evolve(self._options.wire, validate_only=True)
            )
        except EncodeError as error:
            return Failure(_encode_failure(error))
        return Success(fields)

    # ------------------------------------------------------------------ the port: orders
    async def place_order(self, order: Order) -> Result[Placement, ExchangeFailure]:
        """AddOrder; the client order id goes out as `cl_ord_id`, so a lost answer can be found."""
        found = self._instrument(order.symbol)
        if isinstance(found, Failure):
            return Failure(found.failure())
        try:
            fields = encode_order(order, found.unwrap(), self._options.wire)
        except EncodeError as error:
            return Failure(_encode_failure(error))
        result = await self._private(
            "AddOrder", fields, trading=_Trading(order.symbol, ADD_COST, hold_back=True)
        )
        if isinstance(result, Failure) and not result.failure().outcome_unknown:
            return Failure(result.failure())
        # Stamped after the answer: our age is never above Kraken's, so costs never below.
        self._ages.touch(order.client_order_id, order.symbol, self._clock.monotonic())
        return result.bind(lambda r: parse_add_order(r, order.client_order_id).alt(_malformed))

    async def amend_order(
        self, order: Order, amendment: Amendment
    ) -> Result[None, ExchangeFailure]:
        """AmendOrder: size, limit or trigger in place (ids, fills and queue place stay)."""
        found = self._instrument(order.symbol)
        if isinstance(found, Failure):
            return Failure(found.failure())
        try:
            fields = encode_amend(order, amendment, found.unwrap(), self._options.wire)
        except EncodeError as error:
            return Failure(_encode_failure(error))
        cost = amend_cost(self._age(order))
        result = await self._private(
            "AmendOrder", fields, trading=_Trading(order.symbol, cost, hold_back=True)
        )
        if isinstance(result, Success) or result.failure().outcome_unknown:
            self._ages.touch(order.client_order_id, order.symbol, self._clock.monotonic())
        return result.bind(_amended)

    async def cancel_order(self, order: Order) -> Result[None, ExchangeFailure]:
        """CancelOrder by Kraken's id (or our client id before Kraken answered)."""
        try:
            fields = encode_cancel(order)
        except EncodeError as error:
            return Failure(_encode_failure(error))
        # A cancel reduces risk and Kraken accepts it over the threshold: counted, never held.
        cost = cancel_cost(self._age(order))
        result = await self._private(
            "CancelOrder", fields, trading=_Trading(order.symbol, cost, hold_back=False)
        )
        if isinstance(result, Success):
            self._ages.forget(order.client_order_id)
        return result.bind(_cancelled_one)

    async def cancel_all(self) -> Result[int, ExchangeFailure]:
        """CancelAll: every open order; the number cancelled."""
        now = self._clock.monotonic()
        for symbol, since in self._ages.drain():
            self._pacer.trading(symbol).debit(cancel_cost(now - since))
        result = await self._private("CancelAll", {})
        return result.bind(_cancelled_count)

    async def cancel_all_after(self, timeout_seconds: int) -> Result[None, ExchangeFailure]:
        """CancelAllOrdersAfter: the dead man's switch (0 disables it)."""
        try:
            fields = encode_cancel_all_after(timeout_seconds)
        except EncodeError as error:
            return Failure(_encode_failure(error))
        result = await self._private("CancelAllOrdersAfter", fields)
        return result.bind(_switch_set)

    # ------------------------------------------------------------------ the port: queries
    async def order_status(
        self, exchange_order_ids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        """QueryOrders in batches of `query_batch_size`; ids Kraken does not know are left out."""
        ids = list(dict.fromkeys(exchange_order_ids))
        for txid in ids:
            checked = validate_order_id(txid)
            if isinstance(checked, Failure):
                return Failure(
                    _failure(
                        FailureKind.INVALID_ORDER, "invalid order id", checked.failure().message
                    )
                )
        if not ids:
            return Success({})
        results = await asyncio.gather(
            *(self._query_orders(batch) for batch in batched(ids, self._query_batch))
        )
        reports: dict[str, OrderReport] = {}
        for result in results:
            if isinstance(result, Failure):
                return Failure(result.failure())
            reports.update(result.unwrap())
        return Success(reports)

    async def _query_orders(
        self, txids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        result = await self._private("QueryOrders", encode_query_orders(txids, max_ids=len(txids)))
        if isinstance(result, Success):
            return await self._reports(result.unwrap(), parse_query_orders_with)
        failure = result.failure()
        if failure.kind is FailureKind.INVALID_ARGUMENTS and len(txids) > QUERY_ORDERS_SAFE_BATCH:
            # Older Kraken docs cap QueryOrders at 20 ids (UNCERTAIN): fall back for good.
            _log.warning("Kraken refused %d ids per QueryOrders; using 20", len(txids))
            self._query_batch = min(self._query_batch, QUERY_ORDERS_SAFE_BATCH)
            return await self._split(txids, QUERY_ORDERS_SAFE_BATCH)
        if failure.kind in {FailureKind.UNKNOWN_ORDER, FailureKind.INVALID_ORDER}:
            if len(txids) == 1:
                _log.warning("Kraken does not know order %s", txids[0])
                return Success({})
            return await self._split(txids, (len(txids) + 1) // 2)
        return Failure(failure)

    async def _split(
        self, txids: Sequence[str], size: int
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        # One unknown id refuses the whole batch: halve it until the unknown ones stand alone.
        merged: dict[str, OrderReport] = {}
        for part in batched(txids, size):
            result = await self._query_orders(part)
            if isinstance(result, Failure):
                return result
            merged.update(result.unwrap())
        return Success(merged)

    async def find_order(self, client_order_id: str) -> Result[OrderReport | None, ExchangeFailure]:
        """OpenOrders, then ClosedOrders, filtered by `cl_ord_id` (QueryOrders cannot filter).

        Open first: a closed order stays closed, so an order that closes between the two calls
        is still found in the second.
        """
        checked = validate_client_order_id(client_order_id)
        if isinstance(checked, Failure):
            return Failure(
                _failure(
                    FailureKind.INVALID_ARGUMENTS,
                    "invalid client order id",
                    checked.failure().message,
                )
            )
        wire = self._options.wire
        searches: tuple[tuple[str, Mapping[str, str], _OrdersParser, str], ...] = (
            (
                "OpenOrders",
                encode_open_orders(client_order_id=client_order_id, options=wire),
                parse_open_orders_with,
                "open",
            ),
            (
                "ClosedOrders",
                encode_closed_orders(client_order_id=client_order_id, options=wire),
                parse_closed_orders_with,
                "closed",
            ),
        )
        for method, fields, parse, key in searches:
            result = await self._private(method, fields)
            if isinstance(result, Failure):
                return Failure(result.failure())
            reports = await self._reports(result.unwrap(), parse, key=key)
            if isinstance(reports, Failure):
                return Failure(reports.failure())
            mine = [r for r in reports.unwrap().values() if r.client_order_id == client_order_id]
            if mine:
                return Success(max(mine, key=_latest))
        return Success(None)

    async def open_orders(self) -> Result[Sequence[OrderReport], ExchangeFailure]:
        """OpenOrders: every open order of the account (untriggered stops included)."""
        result = await self._private("OpenOrders", encode_open_orders(options=self._options.wire))
        if isinstance(result, Failure):
            return Failure(result.failure())
        reports = await self._reports(result.unwrap(), parse_open_orders_with, key="open")
        return reports.map(_values)

    async def closed_orders(self, *, offset: int = 0) -> Result[OrdersPage, ExchangeFailure]:
        """One page (50, latest first) of ClosedOrders, with trades attached."""
        fields = encode_closed_orders(offset=offset or None, options=self._options.wire)
        result = await self._private("ClosedOrders", fields)
        if isinstance(result, Failure):
            return Failure(result.failure())
        raw = result.unwrap()
        reports = await self._reports(raw, parse_closed_orders_with, key="closed")
        if isinstance(reports, Failure):
            return Failure(reports.failure())
        page = parse_closed_orders(raw, self._names)
        count = page.unwrap().count if isinstance(page, Success) else None
        return Success(OrdersPage(orders=reports.unwrap(), count=count))

    async def query_trades(
        self, trade_ids: Sequence[str]
    ) -> Result[Mapping[str, TradeReport], ExchangeFailure]:
        """QueryTrades in batches of 20."""
        ids = list(dict.fromkeys(trade_ids))
        try:
            requests = [encode_query_trades(b) for b in batched(ids, QUERY_TRADES_MAX_IDS)]
        except EncodeError as error:
            return Failure(_encode_failure(error))
        merged: dict[str, TradeReport] = {}
        results = await asyncio.gather(*(self._private("QueryTrades", f) for f in requests))
        for result in results:
            if isinstance(result, Failure):
                return Failure(result.failure())
            parsed = parse_query_trades(result.unwrap())
            if isinstance(parsed, Failure):
                return Failure(parsed.failure().to_failure())
            merged.update(parsed.unwrap())
        return Success(merged)

    async def trades_history(self, *, offset: int = 0) -> Result[TradesPage, ExchangeFailure]:
        """One page (50, newest first) of TradesHistory (costs 2 on the REST counter)."""
        result = await self._private("TradesHistory", encode_trades_history(offset=offset or None))
        return result.bind(lambda r: parse_trades_history(r).alt(_malformed))

    async def _reports(
        self,
        result: Mapping[str, object],
        parse: _OrdersParser,
        *,
        key: str | None = None,
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        """Parse an orders result, first fetching the trades its orders list (QueryTrades)."""
        trades: Mapping[str, TradeReport] = {}
        if self._options.fetch_trades:
            listed = collect_trade_ids(result.get(key) if key else result)
            if isinstance(listed, Failure):
                return Failure(listed.failure().to_failure())
            if listed.unwrap():
                fetched = await self.query_trades(listed.unwrap())
                if isinstance(fetched, Failure):
                    return Failure(fetched.failure())
                trades = fetched.unwrap()
        return parse(result, self._names, trades).alt(_malformed)

    # ------------------------------------------------------------------ the port: account
    async def balances(self) -> Result[Mapping[str, Balance], ExchangeFailure]:
        """BalanceEx (total and what orders hold); Balance if BalanceEx is refused."""
        if self._balance_ex:
            result = await self._private("BalanceEx", {})
            if isinstance(result, Success):
                return parse_balance_ex(result.unwrap()).alt(_malformed).map(_frozen)
            failure = result.failure()
            if failure.retry is not RetryClass.NEVER or failure.kind in {
                FailureKind.AUTHENTICATION,
                FailureKind.PERMISSION,
            }:
                return Failure(failure)
            _log.warning("Kraken BalanceEx refused (%s); using Balance", failure)
            self._balance_ex = False
        result = await self._private("Balance", {})
        return result.bind(lambda r: parse_balance(r).alt(_malformed).map(_frozen))

    async def instruments(self) -> Result[Sequence[Instrument], ExchangeFailure]:
        """The live instrument rules (AssetPairs, fetched once)."""
        if self._pairs is None:
            loaded = await self.load_instruments()
            if isinstance(loaded, Failure):
                return Failure(loaded.failure())
        return Success(tuple(self._instruments.by_symbol.values()))

    async def reference_price(self, symbol: str) -> Result[Decimal, ExchangeFailure]:
        """Ticker's last trade price of `symbol`."""
        found = self._instrument(symbol)
        if isinstance(found, Failure):
            return Failure(found.failure())
        result = await self._public("Ticker", {"pair": found.unwrap().exchange_symbol})
        if isinstance(result, Failure):
            return Failure(result.failure())
        parsed = parse_ticker(result.unwrap(), self._names)
        if isinstance(parsed, Failure):
            return Failure(parsed.failure().to_failure())
        ticker = parsed.unwrap().get(symbol)
        if ticker is None:
            missing = MalformedResponse(path="result", reason=f"no ticker for {symbol}")
            return Failure(missing.to_failure())
        return Success(ticker.last)

    async def account_fees(self) -> Result[AccountFees, ExchangeFailure]:
        """TradeVolume: the account's 30-day volume and fee rates on the loaded pairs."""
        pairs = [i.exchange_symbol for i in self._instruments]
        fields = encode_pairs(pairs) if pairs else {}
        result = await self._private("TradeVolume", fields)
        return result.bind(lambda r: parse_trade_volume(r, self._names).alt(_malformed))

    async def server_time(self) -> Result[datetime, ExchangeFailure]:
        """Kraken's clock (public Time)."""
        result = await self._public("Time", {})
        return result.bind(_unixtime)

    async def system_status(self) -> Result[str, ExchangeFailure]:
        """`online`, `maintenance`, `cancel_only` or `post_only` (public SystemStatus)."""
        result = await self._public("SystemStatus", {})
        return result.bind(_status_text)

    # ------------------------------------------------------------------ internals
    def _instrument(self, symbol: str) -> Result[Instrument, ExchangeFailure]:
        found = self._instruments.get(symbol)
        if isinstance(found, Failure):
            return Failure(
                _failure(FailureKind.UNKNOWN_PAIR, "unknown symbol", found.failure().message)
            )
        return Success(found.unwrap())

    def _age(self, order: Order) -> float:
        """Seconds since the order was created or last amended, never more than the truth."""
        since = self._ages.since(order.client_order_id)
        if since is not None:
            return max(0.0, self._clock.monotonic() - since)
        stamp = order.updated_at or order.created_at
        if stamp is None:
            return 0.0  # unknown: the dearest cost
        return max(0.0, (self._clock.now() - stamp).total_seconds())

    async def _public(
        self, method: str, fields: Mapping[str, str]
    ) -> Result[Mapping[str, object], ExchangeFailure]:
        if self._public_limiter is not None:
            await self._public_limiter.acquire()
        query = f"?{query_string(fields)}" if fields else ""
        url = f"{self._base_url}/0/public/{method}{query}"
        headers = {"User-Agent": self._options.user_agent}
        sent = await self._send("GET", url, None, headers)
        if isinstance(sent, Failure):
            _log.log(_level(sent.failure()), "Kraken %s failed: %s", method, sent.failure())
        return sent

    async def _private(
        self, method: str, fields: Mapping[str, str], *, trading: _Trading | None = None
    ) -> Result[Mapping[str, object], ExchangeFailure]:
        """Pace, sign with a fresh nonce, send; resend after a refused nonce or connection.

        The counters are waited for outside the send lock (a long wait on one pair never holds
        back a cancel or a read) and charged inside it, at the moment the request leaves.
        """
        path = f"/0/private/{method}"
        url = f"{self._base_url}{path}"
        rest_cost = self._pacer.limits.rest_cost(method)
        rest = self._pacer.rest
        gate = self._pacer.trading(trading.symbol) if trading is not None else None
        trading_cost = trading.cost if trading is not None else 0.0
        hold_back = gate if trading is not None and trading.hold_back else None
        nonce_retries = self._options.nonce_retries
        connect_retries = self._options.connect_retries
        while True:
            if hold_back is not None:
                await hold_back.wait_for(trading_cost)
            if rest_cost:
                await rest.wait_for(rest_cost)
            async with self._send_lock:
                if (hold_back is not None and not hold_back.allows(trading_cost)) or (
                    rest_cost and not rest.allows(rest_cost)
                ):
                    continue  # another call took the room while this one queued: wait again
                if gate is not None:
                    gate.debit(trading_cost)
                rest.debit(rest_cost)
                sent = await self._send_signed(path, url, fields)
            if isinstance(sent, Success):
                return sent
            failure = sent.failure()
            if failure.kind is FailureKind.INVALID_NONCE and nonce_retries > 0:
                nonce_retries -= 1
                continue
            is_connect = failure.kind is FailureKind.TRANSPORT and failure.retry is RetryClass.RETRY
            if is_connect and connect_retries > 0:
                connect_retries -= 1
                continue
            self._learn(failure, trading.symbol if trading else None)
            _log.log(_level(failure), "Kraken %s failed: %s", method, failure)
            return Failure(failure)

    async def _send_signed(
        self, path: str, url: str, fields: Mapping[str, str]
    ) -> Result[Mapping[str, object], ExchangeFailure]:
        nonce = self._nonces.next_nonce()
        body = (
            json_body(nonce, fields)
            if self._options.body_format is BodyFormat.JSON
            else form_body(nonce, fields)
        )
        headers = {
            **auth_headers(self._credentials, path, nonce, body),
            "Content-Type": self._content_type,
            "User-Agent": self._options.user_agent,
        }
        return await self._send("POST", url, body.encode(), headers)

    def _learn(self, failure: ExchangeFailure, symbol: str | None) -> None:
        """Kraken said a counter was over: model it as full so the next calls wait."""
        if _is_code(failure, ErrorCode.API_RATE_LIMIT) or _is_code(failure, ErrorCode.THROTTLED):
            self._pacer.rest.saturate()
        elif failure.kind is FailureKind.ORDER_RATE_LIMIT and symbol is not None:
            self._pacer.trading(symbol).saturate()

    async def _send(
        self, http_method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Result[Mapping[str, object], ExchangeFailure]:
        try:
            async with self._session.request(
                http_method, url, data=body, headers=dict(headers), timeout=self._timeout
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as error:
            return Failure(transport_failure(_describe(error), request_sent=False))
        except TimeoutError:
            return Failure(transport_failure("timeout", request_sent=True))
        except aiohttp.ClientError as error:
            return Failure(transport_failure(_describe(error), request_sent=True))
        decoded = decode_envelope(
            status, raw.decode("utf-8", errors="replace"), self._options.errors
        )
        if isinstance(decoded, Failure):
            return Failure(decoded.failure())
        envelope = decoded.unwrap()
        for warning in envelope.warnings:
            _log.warning("Kraken warning on %s: %s", url.rsplit("/", 1)[-1], warning)
        return Success(envelope.result)


# =========================================================================== result mappers
def _amended(result: Mapping[str, object]) -> Result[None, ExchangeFailure]:
    return parse_amend_order(result).alt(_malformed).map(_nothing)


def _cancelled_one(result: Mapping[str, object]) -> Result[None, ExchangeFailure]:
    parsed = parse_cancel_order(result)
    if isinstance(parsed, Failure):
        return Failure(parsed.failure().to_failure())
    cancel = parsed.unwrap()
    if cancel.count == 0 and not cancel.pending:
        return Failure(
            _failure(FailureKind.UNKNOWN_ORDER, ErrorCode.UNKNOWN_ORDER.value, "nothing cancelled")
        )
    return Success(None)


def _cancelled_count(result: Mapping[str, object]) -> Result[int, ExchangeFailure]:
    return parse_cancel_order(result).alt(_malformed).map(lambda c: c.count)


def _switch_set(result: Mapping[str, object]) -> Result[None, ExchangeFailure]:
    return parse_cancel_all_after(result).alt(_malformed).map(_nothing)


def _nothing(value: object) -> None:
    del value


def _frozen(balances: Mapping[str, Balance]) -> Mapping[str, Balance]:
    return MappingProxyType(dict(balances))


def _values(reports: Mapping[str, OrderReport]) -> Sequence[OrderReport]:
    return list(reports.values())


def _latest(report: OrderReport) -> datetime:
    return report.closed_at or report.opened_at or datetime.min.replace(tzinfo=UTC)


def _unixtime(result: Mapping[str, object]) -> Result[datetime, ExchangeFailure]:
    value = result.get("unixtime")
    if isinstance(value, int) and not isinstance(value, bool):
        return Success(datetime.fromtimestamp(value, UTC))
    return Failure(
        MalformedResponse(path="result.unixtime", reason="must be an integer").to_failure()
    )


def _status_text(result: Mapping[str, object]) -> Result[str, ExchangeFailure]:
    value = result.get("status")
    if isinstance(value, str):
        return Success(value)
    return Failure(MalformedResponse(path="result.status", reason="must be a string").to_failure())


def _key_refused(failure: ExchangeFailure) -> ExchangeFailure:
    if failure.kind is FailureKind.INVALID_NONCE:
        hint = (
            "Kraken keeps refusing the nonce: this key has seen larger nonces (another tool, or "
            "a nanosecond clock); use NonceSource.advance_past or a fresh key"
        )
    else:
        hint = "Kraken refused the API key or its signature: check the key and the secret"
    return attrs.evolve(failure, message=hint)


def parse_query_orders_with(
    result: Mapping[str, object], names: PairNames, trades: Mapping[str, TradeReport]
) -> Result[Mapping[str, OrderReport], MalformedResponse]:
    """QueryOrders' result as reports (the signature `_reports` expects)."""
    return parse_query_orders(result, names, trades).map(_frozen_reports)


def parse_open_orders_with(
    result: Mapping[str, object], names: PairNames, trades: Mapping[str, TradeReport]
) -> Result[Mapping[str, OrderReport], MalformedResponse]:
    """OpenOrders' result as reports."""
    return parse_open_orders(result, names, trades).map(_frozen_reports)


def parse_closed_orders_with(
    result: Mapping[str, object], names: PairNames, trades: Mapping[str, TradeReport]
) -> Result[Mapping[str, OrderReport], MalformedResponse]:
    """ClosedOrders' result as reports (the page's `count` dropped)."""
    return parse_closed_orders(result, names, trades).map(_page_orders)


def _frozen_reports(reports: Mapping[str, OrderReport]) -> Mapping[str, OrderReport]:
    return MappingProxyType(dict(reports))


def _page_orders(page: OrdersPage) -> Mapping[str, OrderReport]:
    return page.orders


_: type[Exchange] = KrakenExchange
