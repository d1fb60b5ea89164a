"""Kraken's error strings as data: each code mapped to a `FailureKind` and a `RetryClass`.

Kraken reports errors as `<E|W><Category>:<Message>[:<extra>]` inside the response envelope
`{"error": [...], "result": {...}}`, with HTTP 200 (kraken-api.md §0, §8). An error is classified by
parsing it into severity, category, message and extra and looking up `<Category>:<Message>` in the
catalogue below (case- and space-insensitively) -- never by searching for words in the text. The
extra part (`EOrder:Invalid price:<detail>`, `EService:Throttled: <unix ts>`,
`EGeneral:Internal error:<code>`, `EGeneral:Invalid arguments:volume`) does not change the class.

Retry classes (ports.RetryClass), from §8's table:
- RETRY: rejected before taking effect; the same request may be sent again (a fresh nonce).
- WAIT: rate limit, lockout, restricted market; send again only after backing off.
- OUTCOME_UNKNOWN: the request may have been executed (internal errors, 5xx, timeouts, a body we
  cannot read); a placement is reconciled by client order id before anything is resent.
- NEVER: the request is wrong or not allowed; sending it again cannot succeed.

Decisions where kraken-api.md leaves room (each is an `ErrorPolicy` override away):
- An unknown message in a known category takes its category's default: `EService` and
  `EDatabase` -> UNAVAILABLE + OUTCOME_UNKNOWN (the server could not tell us what happened),
  `EOrder` -> INVALID_ORDER + NEVER, `EQuery` -> UNKNOWN_PAIR + NEVER, `EAPI`/`EAuth`/`ESession` ->
  AUTHENTICATION + NEVER... An unknown category, or a string that is not in Kraken's format, is
  OTHER + NEVER: Kraken answered with an error, so it did not accept the request, and repeating
  an order we do not understand is the riskier mistake (reconciliation still finds it if it did).
- `EService:Deadline elapsed` is OUTCOME_UNKNOWN, not RETRY: Kraken says the engine dropped it,
  but we only send deadlines on purpose and reconciling by client order id costs one read.
- Several errors in one envelope: the failure carries the most cautious one (OUTCOME_UNKNOWN, then
  NEVER, then WAIT, then RETRY) and lists all of them in its message.
- Warnings (`W...`) are not failures; they come back with the result.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Final

import attrs
from returns.result import Failure, Result, Success

from execution_core.ports import ExchangeFailure, FailureKind, RetryClass


class ErrorCode(enum.StrEnum):
    """Every error of kraken-api.md §8, spelled `E<Category>:<Message>` (without any extra)."""

    # General
    INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
    PERMISSION_DENIED = "EGeneral:Permission denied"
    TEMPORARY_LOCKOUT = "EGeneral:Temporary lockout"
    INTERNAL_ERROR = "EGeneral:Internal error"
    UNKNOWN_METHOD = "EGeneral:Unknown method"
    TOO_MANY_REQUESTS = "EGeneral:Too many requests"
    # API (authentication, REST counter)
    INVALID_KEY = "EAPI:Invalid key"
    INVALID_SIGNATURE = "EAPI:Invalid signature"
    INVALID_NONCE = "EAPI:Invalid nonce"
    API_RATE_LIMIT = "EAPI:Rate limit exceeded"
    BAD_REQUEST = "EAPI:Bad request"
    API_INVALID_ARGUMENTS = "EAPI:Invalid arguments"
    FEATURE_DISABLED = "EAPI:Feature disabled"
    # Service
    SERVICE_UNAVAILABLE = "EService:Unavailable"
    SERVICE_BUSY = "EService:Busy"
    MARKET_CANCEL_ONLY = "EService:Market in cancel_only mode"
    MARKET_POST_ONLY = "EService:Market in post_only mode"
    MARKET_LIMIT_ONLY = "EService:Market in limit_only mode"
    MARKET_REDUCE_ONLY = "EService:Market in reduce_only mode"
    DEADLINE_ELAPSED = "EService:Deadline elapsed"
    THROTTLED = "EService:Throttled"
    DATABASE_INTERNAL_ERROR = "EDatabase:Internal error"
    # Order
    INVALID_ORDER = "EOrder:Invalid order"
    INVALID_PRICE = "EOrder:Invalid price"
    TICK_SIZE = "EOrder:Tick size check failed"
    ORDER_MINIMUM = "EOrder:Order minimum not met"
    COST_MINIMUM = "EOrder:Cost minimum not met"
    INSUFFICIENT_FUNDS = "EOrder:Insufficient funds"
    UNKNOWN_ORDER = "EOrder:Unknown order"
    ORDERS_LIMIT = "EOrder:Orders limit exceeded"
    SCHEDULED_ORDERS_LIMIT = "EOrder:Scheduled orders limit exceeded"
    ORDER_RATE_LIMIT = "EOrder:Rate limit exceeded"
    DOMAIN_RATE_LIMIT = "EOrder:Domain rate limit exceeded"
    POSITIONS_LIMIT = "EOrder:Positions limit exceeded"
    MARGIN_ALLOWANCE = "EOrder:Margin allowance exceeded"
    MARGIN_LEVEL = "EOrder:Margin level too low"
    MARGIN_POSITION_SIZE = "EOrder:Margin position size exceeded"
    INSUFFICIENT_MARGIN = "EOrder:Insufficient margin"
    CANNOT_OPEN_POSITION = "EOrder:Cannot open position"
    CANNOT_OPEN_OPPOSING_POSITION = "EOrder:Cannot open opposing position"
    REDUCE_ONLY = "EOrder:Reduce only"
    UNKNOWN_POSITION = "EOrder:Unknown position"
    CANCEL_PENDING = "EOrder:Cancel pending"
    TRADING_AGREEMENT = "EOrder:Trading agreement required"
    # Trade, Auth, Account, Session
    TRADE_INVALID_REQUEST = "ETrade:Invalid request"
    USER_LOCKED = "ETrade:User Locked"
    ACCOUNT_TEMPORARY_DISABLED = "EAuth:Account temporary disabled"
    ACCOUNT_UNCONFIRMED = "EAuth:Account unconfirmed"
    AUTH_RATE_LIMIT = "EAuth:Rate limit exceeded"
    AUTH_TOO_MANY_REQUESTS = "EAuth:Too many requests"
    AUTH_FAILED = "EAuth:Failed"
    INVALID_PERMISSIONS = "EAccount:Invalid permissions"
    INVALID_SESSION = "ESession:Invalid session"
    # Query
    UNKNOWN_ASSET_PAIR = "EQuery:Unknown asset pair"
    INVALID_ASSET_PAIR = "EQuery:Invalid asset pair"
    UNKNOWN_ASSET = "EQuery:Unknown asset"
    # Funding and the rest
    UNKNOWN_WITHDRAW_KEY = "EFunding:Unknown withdraw key"
    INVALID_AMOUNT = "EFunding:Invalid amount"
    MAX_FEE_EXCEEDED = "EFunding:Max fee exceeded"
    NO_FUNDING_METHOD = "EFunding:No funding method"
    TOO_MANY_ADDRESSES = "EFunding:Too many addresses"
    FUNDING_UNKNOWN_ASSET = "EFunding:Unknown asset"
    INVALID_REFERENCE_ID = "EFunding:Invalid reference id"
    UNKNOWN_REFERENCE_ID = "EFunding:Unknown reference id"
    INVALID_STAKING_METHOD = "EFunding:Invalid staking method"
    ACQUISITION_LIMIT = "EBM:limit exceeded"


@attrs.frozen(kw_only=True)
class ErrorSpec:
    """What one Kraken error code means and what the library does about it."""

    code: ErrorCode
    kind: FailureKind
    retry: RetryClass
    meaning: str


_K = FailureKind
_R = RetryClass


def _spec(code: ErrorCode, kind: FailureKind, retry: RetryClass, meaning: str) -> ErrorSpec:
    return ErrorSpec(code=code, kind=kind, retry=retry, meaning=meaning)


_C = ErrorCode
_SPECS: Final = (
    _spec(_C.INVALID_ARGUMENTS, _K.INVALID_ARGUMENTS, _R.NEVER, "malformed or missing argument"),
    _spec(_C.PERMISSION_DENIED, _K.PERMISSION, _R.NEVER, "the key lacks this permission"),
    _spec(_C.TEMPORARY_LOCKOUT, _K.LOCKOUT, _R.WAIT, "too many failed calls; ~15 minutes"),
    _spec(_C.INTERNAL_ERROR, _K.UNAVAILABLE, _R.OUTCOME_UNKNOWN, "Kraken internal error"),
    _spec(_C.UNKNOWN_METHOD, _K.OTHER, _R.NEVER, "no such endpoint"),
    _spec(_C.TOO_MANY_REQUESTS, _K.RATE_LIMIT, _R.WAIT, "throttled"),
    _spec(_C.INVALID_KEY, _K.AUTHENTICATION, _R.NEVER, "unknown or malformed API key"),
    _spec(_C.INVALID_SIGNATURE, _K.AUTHENTICATION, _R.NEVER, "API-Sign does not match"),
    _spec(_C.INVALID_NONCE, _K.INVALID_NONCE, _R.RETRY, "nonce not above the last; not executed"),
    _spec(_C.API_RATE_LIMIT, _K.RATE_LIMIT, _R.WAIT, "REST call counter exceeded"),
    _spec(_C.BAD_REQUEST, _K.INVALID_ARGUMENTS, _R.NEVER, "malformed request"),
    _spec(_C.API_INVALID_ARGUMENTS, _K.INVALID_ARGUMENTS, _R.NEVER, "invalid arguments"),
    _spec(_C.FEATURE_DISABLED, _K.OTHER, _R.NEVER, "feature disabled"),
    _spec(_C.SERVICE_UNAVAILABLE, _K.UNAVAILABLE, _R.OUTCOME_UNKNOWN, "engine or API offline"),
    _spec(_C.SERVICE_BUSY, _K.UNAVAILABLE, _R.OUTCOME_UNKNOWN, "Kraken overloaded"),
    _spec(_C.MARKET_CANCEL_ONLY, _K.MARKET_RESTRICTED, _R.WAIT, "market accepts cancels only"),
    _spec(_C.MARKET_POST_ONLY, _K.MARKET_RESTRICTED, _R.WAIT, "market accepts post-only only"),
    _spec(_C.MARKET_LIMIT_ONLY, _K.MARKET_RESTRICTED, _R.WAIT, "market accepts limit orders only"),
    _spec(_C.MARKET_REDUCE_ONLY, _K.MARKET_RESTRICTED, _R.WAIT, "market accepts reductions only"),
    _spec(_C.DEADLINE_ELAPSED, _K.UNAVAILABLE, _R.OUTCOME_UNKNOWN, "not processed by the deadline"),
    _spec(_C.THROTTLED, _K.RATE_LIMIT, _R.WAIT, "too many concurrent requests; retry after ts"),
    _spec(_C.DATABASE_INTERNAL_ERROR, _K.UNAVAILABLE, _R.OUTCOME_UNKNOWN, "database error"),
    _spec(_C.INVALID_ORDER, _K.INVALID_ORDER, _R.NEVER, "invalid order or order id"),
    _spec(_C.INVALID_PRICE, _K.INVALID_PRICE, _R.NEVER, "bad price or price2"),
    _spec(_C.TICK_SIZE, _K.TICK_SIZE, _R.NEVER, "price is not a multiple of the tick size"),
    _spec(_C.ORDER_MINIMUM, _K.ORDER_MINIMUM, _R.NEVER, "volume below ordermin"),
    _spec(_C.COST_MINIMUM, _K.COST_MINIMUM, _R.NEVER, "price x volume below costmin"),
    _spec(_C.INSUFFICIENT_FUNDS, _K.INSUFFICIENT_FUNDS, _R.NEVER, "not enough balance"),
    _spec(_C.UNKNOWN_ORDER, _K.UNKNOWN_ORDER, _R.NEVER, "unknown or already closed order"),
    _spec(_C.ORDERS_LIMIT, _K.ORDERS_LIMIT, _R.NEVER, "too many open orders on the pair"),
    _spec(_C.SCHEDULED_ORDERS_LIMIT, _K.ORDERS_LIMIT, _R.NEVER, "too many scheduled orders"),
    _spec(_C.ORDER_RATE_LIMIT, _K.ORDER_RATE_LIMIT, _R.WAIT, "per-pair trading counter exceeded"),
    _spec(_C.DOMAIN_RATE_LIMIT, _K.ORDER_RATE_LIMIT, _R.WAIT, "master+subaccount limit exceeded"),
    _spec(_C.POSITIONS_LIMIT, _K.MARGIN, _R.NEVER, "too many margin positions"),
    _spec(_C.MARGIN_ALLOWANCE, _K.MARGIN, _R.NEVER, "margin allowance exceeded"),
    _spec(_C.MARGIN_LEVEL, _K.MARGIN, _R.NEVER, "margin level too low"),
    _spec(_C.MARGIN_POSITION_SIZE, _K.MARGIN, _R.NEVER, "margin position size exceeded"),
    _spec(_C.INSUFFICIENT_MARGIN, _K.MARGIN, _R.NEVER, "insufficient margin"),
    _spec(_C.CANNOT_OPEN_POSITION, _K.MARGIN, _R.NEVER, "tier not eligible for margin"),
    _spec(_C.CANNOT_OPEN_OPPOSING_POSITION, _K.MARGIN, _R.NEVER, "opposing position not allowed"),
    _spec(_C.REDUCE_ONLY, _K.MARGIN, _R.NEVER, "reduce-only order would not reduce"),
    _spec(_C.UNKNOWN_POSITION, _K.MARGIN, _R.NEVER, "unknown position"),
    _spec(_C.CANCEL_PENDING, _K.OTHER, _R.WAIT, "a cancel is already in progress"),
    _spec(_C.TRADING_AGREEMENT, _K.PERMISSION, _R.NEVER, "trading agreement required"),
    _spec(_C.TRADE_INVALID_REQUEST, _K.INVALID_ARGUMENTS, _R.NEVER, "invalid trade request"),
    _spec(_C.USER_LOCKED, _K.PERMISSION, _R.NEVER, "user locked"),
    _spec(_C.ACCOUNT_TEMPORARY_DISABLED, _K.PERMISSION, _R.NEVER, "account temporarily disabled"),
    _spec(_C.ACCOUNT_UNCONFIRMED, _K.PERMISSION, _R.NEVER, "account unconfirmed"),
    _spec(_C.AUTH_RATE_LIMIT, _K.RATE_LIMIT, _R.WAIT, "authentication rate limit"),
    _spec(_C.AUTH_TOO_MANY_REQUESTS, _K.RATE_LIMIT, _R.WAIT, "authentication throttled"),
    _spec(_C.AUTH_FAILED, _K.AUTHENTICATION, _R.NEVER, "authentication failed"),
    _spec(_C.INVALID_PERMISSIONS, _K.PERMISSION, _R.NEVER, "invalid permissions"),
    _spec(_C.INVALID_SESSION, _K.AUTHENTICATION, _R.NEVER, "invalid session"),
    _spec(_C.UNKNOWN_ASSET_PAIR, _K.UNKNOWN_PAIR, _R.NEVER, "unknown asset pair"),
    _spec(_C.INVALID_ASSET_PAIR, _K.UNKNOWN_PAIR, _R.NEVER, "invalid asset pair"),
    _spec(_C.UNKNOWN_ASSET, _K.UNKNOWN_PAIR, _R.NEVER, "unknown asset"),
    _spec(_C.UNKNOWN_WITHDRAW_KEY, _K.INVALID_ARGUMENTS, _R.NEVER, "unknown withdrawal key"),
    _spec(_C.INVALID_AMOUNT, _K.INVALID_ARGUMENTS, _R.NEVER, "invalid funding amount"),
    _spec(_C.MAX_FEE_EXCEEDED, _K.OTHER, _R.NEVER, "withdrawal fee above the maximum"),
    _spec(_C.NO_FUNDING_METHOD, _K.INVALID_ARGUMENTS, _R.NEVER, "no funding method"),
    _spec(_C.TOO_MANY_ADDRESSES, _K.OTHER, _R.NEVER, "too many deposit addresses"),
    _spec(_C.FUNDING_UNKNOWN_ASSET, _K.UNKNOWN_PAIR, _R.NEVER, "unknown funding asset"),
    _spec(_C.INVALID_REFERENCE_ID, _K.INVALID_ARGUMENTS, _R.NEVER, "invalid reference id"),
    _spec(_C.UNKNOWN_REFERENCE_ID, _K.INVALID_ARGUMENTS, _R.NEVER, "unknown reference id"),
    _spec(_C.INVALID_STAKING_METHOD, _K.INVALID_ARGUMENTS, _R.NEVER, "invalid staking method"),
    _spec(_C.ACQUISITION_LIMIT, _K.OTHER, _R.NEVER, "Canadian acquisition limit exceeded"),
)

CATALOGUE: Final[Mapping[ErrorCode, ErrorSpec]] = MappingProxyType({s.code: s for s in _SPECS})
"""Every known Kraken error code and what it means for the caller."""

CATEGORY_DEFAULTS: Final[Mapping[str, tuple[FailureKind, RetryClass]]] = MappingProxyType(
    {
        "General": (_K.OTHER, _R.NEVER),
        "API": (_K.AUTHENTICATION, _R.NEVER),
        "Auth": (_K.AUTHENTICATION, _R.NEVER),
        "Session": (_K.AUTHENTICATION, _R.NEVER),
        "Account": (_K.PERMISSION, _R.NEVER),
        "Service": (_K.UNAVAILABLE, _R.OUTCOME_UNKNOWN),
        "Database": (_K.UNAVAILABLE, _R.OUTCOME_UNKNOWN),
        "Order": (_K.INVALID_ORDER, _R.NEVER),
        "Trade": (_K.OTHER, _R.NEVER),
        "Query": (_K.UNKNOWN_PAIR, _R.NEVER),
        "Funding": (_K.OTHER, _R.NEVER),
        "BM": (_K.OTHER, _R.NEVER),
        "Earnings": (_K.OTHER, _R.NEVER),
    }
)
"""How an unknown message in a known category is classified."""

UNKNOWN_ERROR: Final = (FailureKind.OTHER, RetryClass.NEVER)
"""How an error in an unknown category, or not in Kraken's format, is classified."""

_CAUTION: Final = (_R.OUTCOME_UNKNOWN, _R.NEVER, _R.WAIT, _R.RETRY)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class Severity(enum.StrEnum):
    """Kraken's severity letter: an error fails the call, a warning comes with the result."""

    ERROR = "E"
    WARNING = "W"


@attrs.frozen(kw_only=True)
class KrakenError:
    """One error string split into its parts; `raw` is the string as Kraken sent it."""

    raw: str
    severity: Severity
    category: str
    message: str
    extra: str = ""

    @property
    def key(self) -> str:
        """`E<Category>:<Message>`: what the catalogue is looked up by."""
        return f"E{self.category}:{self.message}"

    @classmethod
    def parse(cls, text: str) -> KrakenError:
        """Split `<E|W><Category>:<Message>[:<extra>]`; a string in no such format keeps `raw`.

        >>> error = KrakenError.parse("EService:Throttled: 1700000000")
        >>> error.severity, error.category, error.message, error.extra, error.key
        (<Severity.ERROR: 'E'>, 'Service', 'Throttled', '1700000000', 'EService:Throttled')
        """
        head, sep, rest = text.partition(":")
        head = head.strip()
        if not sep or len(head) < 2 or head[0] not in "EW" or not head[1:].isalnum():  # noqa: PLR2004 - severity letter plus a category
            return cls(raw=text, severity=Severity.ERROR, category="", message=text.strip())
        message, _, extra = rest.partition(":")
        return cls(
            raw=text,
            severity=Severity(head[0]),
            category=head[1:],
            message=message.strip(),
            extra=extra.strip(),
        )


def _override_map(
    items: Mapping[str, tuple[FailureKind, RetryClass]],
) -> Mapping[str, tuple[FailureKind, RetryClass]]:
    return MappingProxyType({_norm(code): value for code, value in items.items()})


_INDEX: Final = MappingProxyType({_norm(code): spec for code, spec in CATALOGUE.items()})
_CATEGORIES: Final = MappingProxyType({_norm(c): v for c, v in CATEGORY_DEFAULTS.items()})


@attrs.frozen(kw_only=True)
class ErrorPolicy:
    """How error strings become `ExchangeFailure`s: the catalogue plus per-code overrides.

    `overrides` maps a code such as `"EService:Deadline elapsed"` to the (kind, retry) to use
    instead of the catalogue's; `unknown` classifies errors in no known category.

    >>> policy = ErrorPolicy(overrides={"EService:Deadline elapsed": (FailureKind.UNAVAILABLE,
    ...                                                              RetryClass.RETRY)})
    >>> policy.classify("EService:Deadline elapsed").retry
    <RetryClass.RETRY: 'retry'>
    """

    overrides: Mapping[str, tuple[FailureKind, RetryClass]] = attrs.field(
        factory=dict, converter=_override_map
    )
    unknown: tuple[FailureKind, RetryClass] = UNKNOWN_ERROR

    def lookup(self, error: KrakenError) -> tuple[FailureKind, RetryClass, str]:
        """The (kind, retry, meaning) of one parsed error."""
        key = _norm(error.key)
        if key in self.overrides:
            kind, retry = self.overrides[key]
            spec = _INDEX.get(key)
            return kind, retry, spec.meaning if spec else ""
        spec = _INDEX.get(key)
        if spec is not None:
            return spec.kind, spec.retry, spec.meaning
        category = _CATEGORIES.get(_norm(error.category)) if error.category else None
        if category is not None:
            return category[0], category[1], f"unknown {error.category} error"
        return self.unknown[0], self.unknown[1], "unknown error"

    def classify(self, text: str) -> ExchangeFailure:
        """One error string as an `ExchangeFailure` (`code` keeps Kraken's full string).

        >>> print(ErrorPolicy().classify("EOrder:Invalid price:XXBTZEUR price can only be "
        ...                              "specified up to 1 decimals."))
        EOrder:Invalid price:XXBTZEUR price ... (bad price or price2) [invalid_price, never]
        """
        error = KrakenError.parse(text)
        kind, retry, meaning = self.lookup(error)
        return ExchangeFailure(kind=kind, retry=retry, code=text.strip(), message=meaning)

    def classify_all(self, texts: Sequence[str]) -> ExchangeFailure | None:
        """The failure for an envelope's `error` list, or None when it holds only warnings."""
        errors = [t for t in texts if KrakenError.parse(t).severity is Severity.ERROR]
        if not errors:
            return None
        failures = [self.classify(t) for t in errors]
        worst = min(failures, key=lambda f: _CAUTION.index(f.retry))
        if len(failures) == 1:
            return worst
        others = "; ".join(f.code for f in failures if f is not worst)
        message = f"{worst.message}; also: {others}" if worst.message else f"also: {others}"
        return attrs.evolve(worst, message=message)


DEFAULT_POLICY: Final = ErrorPolicy()


def classify_error(text: str, policy: ErrorPolicy = DEFAULT_POLICY) -> ExchangeFailure:
    """One Kraken error string as an `ExchangeFailure` under `policy`."""
    return policy.classify(text)


def is_warning(text: str) -> bool:
    """Whether a string of the envelope's `error` list is a warning (`W...`), not a failure."""
    return KrakenError.parse(text).severity is Severity.WARNING


_TS = re.compile(r"\d{9,12}")


def throttled_until(failure: ExchangeFailure | str) -> int | None:
    """The unix time `EService:Throttled: <ts>` asks to wait for, or None.

    >>> throttled_until("EService:Throttled: 1700000000")
    1700000000
    """
    text = failure if isinstance(failure, str) else failure.code
    error = KrakenError.parse(text)
    if _norm(error.key) != _norm(ErrorCode.THROTTLED):
        return None
    match = _TS.search(error.extra)
    return int(match.group()) if match else None


# --------------------------------------------------------------------------- transport
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SNIPPET = 120
HTTP_OK_MIN: Final = 200
HTTP_OK_MAX: Final = 299
HTTP_TOO_MANY_REQUESTS: Final = 429


def _snippet(body_text: str) -> str:
    title = _TITLE.search(body_text)
    text = " ".join((title.group(1) if title else body_text).split())
    return text if len(text) <= _SNIPPET else f"{text[:_SNIPPET]}..."


def http_failure(status: int, body_text: str = "", reason: str = "") -> ExchangeFailure:
    """A response we cannot read as Kraken's envelope: 429 -> WAIT; else OUTCOME_UNKNOWN.

    >>> print(http_failure(502, "<html><head><title>502 Bad Gateway</title></head></html>"))
    HTTP 502 (502 Bad Gateway) [transport, outcome_unknown]
    """
    detail = reason or _snippet(body_text)
    if status == HTTP_TOO_MANY_REQUESTS:
        return ExchangeFailure(
            kind=FailureKind.RATE_LIMIT,
            retry=RetryClass.WAIT,
            code=f"HTTP {status}",
            message=detail,
        )
    return ExchangeFailure(
        kind=FailureKind.TRANSPORT,
        retry=RetryClass.OUTCOME_UNKNOWN,
        code=f"HTTP {status}",
        message=detail,
    )


def transport_failure(description: str, *, request_sent: bool) -> ExchangeFailure:
    """A timeout or connection error: OUTCOME_UNKNOWN once the request may have left, else RETRY.

    >>> transport_failure("timeout", request_sent=True).outcome_unknown
    True
    >>> transport_failure("connection refused", request_sent=False).retry
    <RetryClass.RETRY: 'retry'>
    """
    retry = RetryClass.OUTCOME_UNKNOWN if request_sent else RetryClass.RETRY
    return ExchangeFailure(kind=FailureKind.TRANSPORT, retry=retry, code=description)


# --------------------------------------------------------------------------- envelope
@attrs.frozen(kw_only=True)
class Envelope:
    """A successful response: the `result` object and any warnings that came with it."""

    result: Mapping[str, object]
    warnings: tuple[str, ...] = ()


def decode_envelope(
    status: int, body_text: str, policy: ErrorPolicy = DEFAULT_POLICY
) -> Result[Envelope, ExchangeFailure]:
    """Read `{"error": [...], "result": {...}}`; numbers with a fraction become `Decimal`.

    Kraken errors are classified by `policy` whatever the HTTP status; a body that is not the
    envelope (HTML from Cloudflare, truncated JSON) or a non-2xx status without Kraken errors is
    a transport failure (`http_failure`).
    """
    try:
        body: object = json.loads(body_text, parse_float=Decimal)
    except ValueError:
        return Failure(http_failure(status, body_text, "" if body_text.strip() else "empty body"))
    errors = body.get("error", []) if isinstance(body, dict) else None
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        return Failure(http_failure(status, body_text, "not a Kraken envelope"))
    failure = policy.classify_all(errors)
    if failure is not None:
        return Failure(failure)
    result = body.get("result") if isinstance(body, dict) else None
    if not HTTP_OK_MIN <= status <= HTTP_OK_MAX:
        return Failure(http_failure(status, body_text))
    if not isinstance(result, dict):
        return Failure(http_failure(status, body_text, "envelope without a result object"))
    return Success(Envelope(result=result, warnings=tuple(errors)))


def parse_envelope(
    status: int, body_text: str, policy: ErrorPolicy = DEFAULT_POLICY
) -> Result[Mapping[str, object], ExchangeFailure]:
    """The `result` of a Kraken response, or the `ExchangeFailure` it stands for.

    >>> parse_envelope(200, '{"error": [], "result": {"count": 1}}')
    <Success: {'count': 1}>
    >>> print(parse_envelope(200, '{"error": ["EOrder:Insufficient funds"]}').failure())
    EOrder:Insufficient funds (not enough balance) [insufficient_funds, never]
    >>> print(parse_envelope(520, "<html><title>Origin error</title></html>").failure())
    HTTP 520 (Origin error) [transport, outcome_unknown]
    """
    return decode_envelope(status, body_text, policy).map(_result_of)


def _result_of(envelope: Envelope) -> Mapping[str, object]:
    return envelope.result


def render_envelope(result: Mapping[str, object] | None = None, errors: Sequence[str] = ()) -> str:
    """The JSON text of an envelope (for a Kraken-compatible test server); Decimals as strings.

    >>> render_envelope(errors=[ErrorCode.UNKNOWN_ORDER])
    '{"error":["EOrder:Unknown order"]}'
    """
    body: dict[str, object] = {"error": [str(e) for e in errors]}
    if result is not None:
        body["result"] = result
    return json.dumps(body, separators=(",", ":"), default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
