"""Kraken error strings -> FailureKind + RetryClass, and the response envelope (§8)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from returns.result import Failure, Success

from adapters.kraken.errors import (
    CATALOGUE,
    CATEGORY_DEFAULTS,
    DEFAULT_POLICY,
    ErrorCode,
    ErrorPolicy,
    KrakenError,
    Severity,
    classify_error,
    decode_envelope,
    http_failure,
    is_warning,
    parse_envelope,
    render_envelope,
    throttled_until,
    transport_failure,
)
from execution_core.ports import ExchangeFailure, FailureKind, RetryClass

K = FailureKind
R = RetryClass

# Every string of kraken-api.md §8 (and the key/permission errors of §1 and §7), as Kraken sends it.
SECTION_8 = [
    ("EGeneral:Invalid arguments", K.INVALID_ARGUMENTS, R.NEVER),
    ("EGeneral:Invalid arguments:volume", K.INVALID_ARGUMENTS, R.NEVER),
    ("EGeneral:Invalid arguments:price", K.INVALID_ARGUMENTS, R.NEVER),
    ("EGeneral:Invalid arguments:viqc", K.INVALID_ARGUMENTS, R.NEVER),
    ("EGeneral:Invalid arguments:ordertype", K.INVALID_ARGUMENTS, R.NEVER),
    ("EGeneral:Invalid arguments:Index unavailable", K.INVALID_ARGUMENTS, R.NEVER),
    ("EGeneral:Permission denied", K.PERMISSION, R.NEVER),
    ("EGeneral:Temporary lockout", K.LOCKOUT, R.WAIT),
    ("EGeneral:Internal error", K.UNAVAILABLE, R.OUTCOME_UNKNOWN),
    ("EGeneral:Internal error:123", K.UNAVAILABLE, R.OUTCOME_UNKNOWN),
    ("EGeneral:Unknown method", K.OTHER, R.NEVER),
    ("EGeneral:Too many requests", K.RATE_LIMIT, R.WAIT),
    ("EAPI:Invalid key", K.AUTHENTICATION, R.NEVER),
    ("EAPI:Invalid signature", K.AUTHENTICATION, R.NEVER),
    ("EAPI:Invalid nonce", K.INVALID_NONCE, R.RETRY),
    ("EAPI:Rate limit exceeded", K.RATE_LIMIT, R.WAIT),
    ("EAPI:Bad request", K.INVALID_ARGUMENTS, R.NEVER),
    ("EAPI:Invalid arguments:start_time must be < expire_time", K.INVALID_ARGUMENTS, R.NEVER),
    ("EAPI:Invalid arguments:expire_time above max", K.INVALID_ARGUMENTS, R.NEVER),
    ("EAPI:Feature disabled", K.OTHER, R.NEVER),
    ("EService:Unavailable", K.UNAVAILABLE, R.OUTCOME_UNKNOWN),
    ("EService:Busy", K.UNAVAILABLE, R.OUTCOME_UNKNOWN),
    ("EService:Market in cancel_only mode", K.MARKET_RESTRICTED, R.WAIT),
    ("EService:Market in post_only mode", K.MARKET_RESTRICTED, R.WAIT),
    ("EService:Market in limit_only mode", K.MARKET_RESTRICTED, R.WAIT),
    ("EService:Market in reduce_only mode", K.MARKET_RESTRICTED, R.WAIT),
    ("EService:Deadline elapsed", K.UNAVAILABLE, R.OUTCOME_UNKNOWN),
    ("EService:Throttled: 1700000000", K.RATE_LIMIT, R.WAIT),
    ("EService:Throttled:1700000000", K.RATE_LIMIT, R.WAIT),
    ("EService: Throttled: 1700000000", K.RATE_LIMIT, R.WAIT),
    ("EDatabase:Internal error", K.UNAVAILABLE, R.OUTCOME_UNKNOWN),
    ("EOrder:Invalid order", K.INVALID_ORDER, R.NEVER),
    ("EOrder:Invalid price", K.INVALID_PRICE, R.NEVER),
    (
        "EOrder:Invalid price:XXBTZEUR price can only be specified up to 1 decimals.",
        K.INVALID_PRICE,
        R.NEVER,
    ),
    ("EOrder:Invalid price:Invalid price argument", K.INVALID_PRICE, R.NEVER),
    ("EOrder:Invalid price:Invalid secondary price argument", K.INVALID_PRICE, R.NEVER),
    ("EOrder:Tick size check failed", K.TICK_SIZE, R.NEVER),
    ("EOrder:Order minimum not met", K.ORDER_MINIMUM, R.NEVER),
    ("EOrder:Cost minimum not met", K.COST_MINIMUM, R.NEVER),
    ("EOrder:Insufficient funds", K.INSUFFICIENT_FUNDS, R.NEVER),
    ("EOrder:Unknown order", K.UNKNOWN_ORDER, R.NEVER),
    ("EOrder:Orders limit exceeded", K.ORDERS_LIMIT, R.NEVER),
    ("EOrder:Scheduled orders limit exceeded", K.ORDERS_LIMIT, R.NEVER),
    ("EOrder:Rate limit exceeded", K.ORDER_RATE_LIMIT, R.WAIT),
    ("EOrder:Domain rate limit exceeded", K.ORDER_RATE_LIMIT, R.WAIT),
    ("EOrder:Positions limit exceeded", K.MARGIN, R.NEVER),
    ("EOrder:Margin allowance exceeded", K.MARGIN, R.NEVER),
    ("EOrder:Margin level too low", K.MARGIN, R.NEVER),
    ("EOrder:Margin position size exceeded", K.MARGIN, R.NEVER),
    ("EOrder:Insufficient margin", K.MARGIN, R.NEVER),
    ("EOrder:Cannot open position", K.MARGIN, R.NEVER),
    ("EOrder:Cannot open opposing position", K.MARGIN, R.NEVER),
    ("EOrder:Reduce only:Non-PC", K.MARGIN, R.NEVER),
    ("EOrder:Reduce only:No position exists", K.MARGIN, R.NEVER),
    ("EOrder:Reduce only:Position is closed", K.MARGIN, R.NEVER),
    ("EOrder:Unknown position", K.MARGIN, R.NEVER),
    ("EOrder:Cancel pending", K.OTHER, R.WAIT),
    ("EOrder:Trading agreement required", K.PERMISSION, R.NEVER),
    ("ETrade:Invalid request", K.INVALID_ARGUMENTS, R.NEVER),
    ("ETrade:User Locked", K.PERMISSION, R.NEVER),
    ("EAuth:Account temporary disabled", K.PERMISSION, R.NEVER),
    ("EAuth:Account unconfirmed", K.PERMISSION, R.NEVER),
    ("EAuth:Rate limit exceeded", K.RATE_LIMIT, R.WAIT),
    ("EAuth:Too many requests", K.RATE_LIMIT, R.WAIT),
    ("EAuth:Failed", K.AUTHENTICATION, R.NEVER),
    ("EAccount:Invalid permissions", K.PERMISSION, R.NEVER),
    ("EQuery:Unknown asset pair", K.UNKNOWN_PAIR, R.NEVER),
    ("EQuery:Invalid asset pair", K.UNKNOWN_PAIR, R.NEVER),
    ("EQuery:Unknown asset", K.UNKNOWN_PAIR, R.NEVER),
    ("EFunding:Unknown withdraw key", K.INVALID_ARGUMENTS, R.NEVER),
    ("EFunding:Invalid amount", K.INVALID_ARGUMENTS, R.NEVER),
    ("EFunding:Max fee exceeded", K.OTHER, R.NEVER),
    ("EFunding:No funding method", K.INVALID_ARGUMENTS, R.NEVER),
    ("EFunding:Too many addresses", K.OTHER, R.NEVER),
    ("EFunding:Unknown asset", K.UNKNOWN_PAIR, R.NEVER),
    ("EFunding:Invalid reference id", K.INVALID_ARGUMENTS, R.NEVER),
    ("EFunding:Unknown reference id", K.INVALID_ARGUMENTS, R.NEVER),
    ("EFunding:Invalid staking method", K.INVALID_ARGUMENTS, R.NEVER),
    ("EBM:limit exceeded:CAL", K.OTHER, R.NEVER),
    ("ESession:Invalid session", K.AUTHENTICATION, R.NEVER),
]


@pytest.mark.parametrize(("text", "kind", "retry"), SECTION_8, ids=[s[0] for s in SECTION_8])
def test_every_documented_kraken_error_has_its_kind_and_retry_class(
    text: str, kind: FailureKind, retry: RetryClass
) -> None:
    failure = classify_error(text)
    assert (failure.kind, failure.retry) == (kind, retry)
    assert failure.code == text.strip()
    assert failure.message  # every catalogued code says what it means


def test_every_catalogued_code_is_exercised_by_the_section_8_table() -> None:
    exercised = {KrakenError.parse(text).key.replace(" ", "") for text, _, _ in SECTION_8}
    assert {code.replace(" ", "") for code in ErrorCode} <= exercised
    assert set(CATALOGUE) == set(ErrorCode)


def test_lookup_ignores_case_and_spacing_but_not_words() -> None:
    assert classify_error("EOrder:insufficient  FUNDS").kind is K.INSUFFICIENT_FUNDS
    # A message that merely contains a known one is not that error.
    assert classify_error("EOrder:Insufficient funds soon").kind is K.INVALID_ORDER
    assert classify_error("EGeneral:Invalid argumentsX").kind is K.OTHER


@pytest.mark.parametrize(
    ("text", "kind", "retry"),
    [
        ("EService:Something new", K.UNAVAILABLE, R.OUTCOME_UNKNOWN),
        ("EDatabase:Replica lag", K.UNAVAILABLE, R.OUTCOME_UNKNOWN),
        ("EOrder:Something new", K.INVALID_ORDER, R.NEVER),
        ("EQuery:Something new", K.UNKNOWN_PAIR, R.NEVER),
        ("EAPI:Something new", K.AUTHENTICATION, R.NEVER),
        ("EGeneral:Something new", K.OTHER, R.NEVER),
        ("ENewCategory:Something", K.OTHER, R.NEVER),
        ("something went wrong", K.OTHER, R.NEVER),
        ("", K.OTHER, R.NEVER),
    ],
)
def test_unknown_errors_take_their_category_default_or_the_safe_fallback(
    text: str, kind: FailureKind, retry: RetryClass
) -> None:
    failure = classify_error(text)
    assert (failure.kind, failure.retry) == (kind, retry)


def test_every_category_default_is_a_known_failure_kind() -> None:
    assert {"Service", "Order", "General", "API", "Query"} <= set(CATEGORY_DEFAULTS)


def test_an_override_changes_one_code_and_nothing_else() -> None:
    policy = ErrorPolicy(
        overrides={"EService:Deadline elapsed": (K.UNAVAILABLE, R.RETRY)},
        unknown=(K.OTHER, R.OUTCOME_UNKNOWN),
    )
    assert policy.classify("EService:Deadline elapsed").retry is R.RETRY
    assert policy.classify("EService:Deadline elapsed").message == "not processed by the deadline"
    assert policy.classify("EService:Busy").retry is R.OUTCOME_UNKNOWN
    assert policy.classify("EZzz:new").retry is R.OUTCOME_UNKNOWN
    assert DEFAULT_POLICY.classify("EService:Deadline elapsed").retry is R.OUTCOME_UNKNOWN


def test_an_error_string_is_split_into_severity_category_message_and_extra() -> None:
    error = KrakenError.parse("EOrder:Invalid price:XXBTZEUR price can only be specified: 1")
    assert error.severity is Severity.ERROR
    assert (error.category, error.message) == ("Order", "Invalid price")
    assert error.extra == "XXBTZEUR price can only be specified: 1"
    assert error.key == "EOrder:Invalid price"


def test_warnings_are_not_failures() -> None:
    assert is_warning("WGeneral:Deprecated")
    assert not is_warning("EGeneral:Invalid arguments")
    assert DEFAULT_POLICY.classify_all(["WGeneral:Deprecated"]) is None


def test_of_several_errors_the_most_cautious_wins_and_all_are_named() -> None:
    failure = DEFAULT_POLICY.classify_all(
        [
            "WGeneral:Note",
            "EOrder:Rate limit exceeded",
            "EGeneral:Internal error",
            "EAPI:Bad request",
        ]
    )
    assert failure is not None
    assert failure.code == "EGeneral:Internal error"
    assert failure.retry is R.OUTCOME_UNKNOWN
    assert "EOrder:Rate limit exceeded" in failure.message
    assert "EAPI:Bad request" in failure.message
    assert "WGeneral" not in failure.message
    never = DEFAULT_POLICY.classify_all(["EOrder:Rate limit exceeded", "EAPI:Bad request"])
    assert never is not None
    assert never.retry is R.NEVER


def test_the_throttle_timestamp_is_read_from_the_error() -> None:
    assert throttled_until("EService:Throttled: 1700000123") == 1700000123
    assert throttled_until(classify_error("EService:Throttled:1700000123")) == 1700000123
    assert throttled_until("EService:Throttled") is None
    assert throttled_until("EAPI:Rate limit exceeded") is None


# --------------------------------------------------------------------------- transport
def test_a_timeout_after_sending_is_outcome_unknown_and_a_refused_connection_is_retryable() -> None:
    sent = transport_failure("timeout after 10 s", request_sent=True)
    assert (sent.kind, sent.retry, sent.code) == (
        K.TRANSPORT,
        R.OUTCOME_UNKNOWN,
        "timeout after 10 s",
    )
    assert sent.outcome_unknown
    refused = transport_failure("connection refused", request_sent=False)
    assert (refused.kind, refused.retry) == (K.TRANSPORT, R.RETRY)


def test_http_429_means_wait() -> None:
    failure = http_failure(429, "Too Many Requests")
    assert (failure.kind, failure.retry, failure.code) == (K.RATE_LIMIT, R.WAIT, "HTTP 429")


# --------------------------------------------------------------------------- envelope
def test_a_successful_envelope_yields_its_result_with_decimals_for_fractions() -> None:
    body = '{"error":[],"result":{"count":1,"time":1680606470.360982,"price":"1.5"}}'
    assert parse_envelope(200, body) == Success(
        {"count": 1, "time": Decimal("1680606470.360982"), "price": "1.5"}
    )


def test_warnings_come_back_with_the_result() -> None:
    body = '{"error":["WGeneral:Deprecated call"],"result":{"count":0}}'
    envelope = decode_envelope(200, body).unwrap()
    assert envelope.result == {"count": 0}
    assert envelope.warnings == ("WGeneral:Deprecated call",)


def test_an_error_envelope_is_a_classified_failure_even_with_an_empty_result() -> None:
    body = '{"error":["EOrder:Insufficient funds"],"result":{}}'
    assert parse_envelope(200, body) == Failure(
        ExchangeFailure(
            kind=K.INSUFFICIENT_FUNDS,
            retry=R.NEVER,
            code="EOrder:Insufficient funds",
            message="not enough balance",
        )
    )


CLOUDFLARE_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body>
</html>"""
CLOUDFLARE_520 = (
    "<!DOCTYPE html><html><head><title>api.kraken.com | 520: Web server is returning an unknown"
    " error</title></head><body>...</body></html>"
)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (502, CLOUDFLARE_502, "502 Bad Gateway"),
        (520, CLOUDFLARE_520, "api.kraken.com | 520: Web server is returning an unknown error"),
        (504, "", "empty body"),
        (200, "<html>maintenance</html>", "<html>maintenance</html>"),
        (200, '{"error":[],"result":{"tx', '{"error":[],"result":{"tx'),
        (200, '{"error":[]}', "envelope without a result object"),
        (200, '{"error":"EGeneral:Internal error"}', "not a Kraken envelope"),
        (200, "[1,2]", "not a Kraken envelope"),
        (503, '{"error":[],"result":{}}', '{"error":[],"result":{}}'),
    ],
    ids=["cloudflare 502", "cloudflare 520", "empty 504", "html 200", "truncated", "no result",
         "error not a list", "not an object", "5xx without errors"],
)  # fmt: skip
def test_a_body_that_is_not_a_kraken_envelope_is_a_transport_failure_of_unknown_outcome(
    status: int, body: str, message: str
) -> None:
    failure = parse_envelope(status, body).failure()
    assert (failure.kind, failure.retry) == (K.TRANSPORT, R.OUTCOME_UNKNOWN)
    assert failure.code == f"HTTP {status}"
    assert failure.message == message


def test_kraken_errors_in_a_5xx_body_are_classified_as_kraken_errors() -> None:
    failure = parse_envelope(503, '{"error":["EService:Unavailable"]}').failure()
    assert (failure.kind, failure.code) == (K.UNAVAILABLE, "EService:Unavailable")


def test_a_long_html_body_is_shortened_in_the_message() -> None:
    failure = parse_envelope(500, "x" * 1000).failure()
    assert len(failure.message) <= 123
    assert failure.message.endswith("...")


def test_an_envelope_renders_for_a_test_server_and_reads_back() -> None:
    text = render_envelope({"txid": ["OUF4EM-FRGI2-MQMWZD"], "fee": Decimal("0.05954")})
    assert text == '{"error":[],"result":{"txid":["OUF4EM-FRGI2-MQMWZD"],"fee":"0.05954"}}'
    assert parse_envelope(200, text) == Success({"txid": ["OUF4EM-FRGI2-MQMWZD"], "fee": "0.05954"})
    error_text = render_envelope(errors=[ErrorCode.INSUFFICIENT_FUNDS])
    assert parse_envelope(200, error_text).failure().kind is K.INSUFFICIENT_FUNDS
    with pytest.raises(TypeError, match="set"):
        render_envelope({"bad": {1, 2}})
