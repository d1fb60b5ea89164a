"""Kraken request signing, nonces and credentials (kraken-api.md §1)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import pickle
import threading

import attrs
import pytest

from adapters.kraken.nonce import MAX_NONCE, NonceResolution, NonceSource
from adapters.kraken.signing import (
    ApiSecret,
    Credentials,
    InvalidCredentials,
    auth_headers,
    nonce_of_body,
    sign_request,
    verify_signature,
)

OFFICIAL_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="  # noqa: S105 - Kraken's published test vector
)
OFFICIAL_NONCE = 1616492376594
OFFICIAL_BODY = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
OFFICIAL_PATH = "/0/private/AddOrder"
OFFICIAL_SIGNATURE = (
    "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
)


# --------------------------------------------------------------------------- signature
def test_the_signature_matches_krakens_official_test_vector() -> None:
    signature = sign_request(OFFICIAL_PATH, OFFICIAL_NONCE, OFFICIAL_BODY, OFFICIAL_SECRET)
    assert signature == OFFICIAL_SIGNATURE


def test_the_signature_is_the_same_for_a_decoded_secret_a_string_nonce_and_a_bytes_body() -> None:
    secret = ApiSecret.from_base64(OFFICIAL_SECRET)
    signature = sign_request(OFFICIAL_PATH, str(OFFICIAL_NONCE), OFFICIAL_BODY.encode(), secret)
    assert signature == OFFICIAL_SIGNATURE


def test_a_json_body_is_signed_over_its_exact_text_with_the_nonce_prepended() -> None:
    body = json.dumps({"nonce": OFFICIAL_NONCE, "ordertype": "limit", "pair": "XBTUSD"})
    signature = sign_request(OFFICIAL_PATH, OFFICIAL_NONCE, body, OFFICIAL_SECRET)
    assert signature != OFFICIAL_SIGNATURE
    nonce = nonce_of_body(body)
    assert nonce == str(OFFICIAL_NONCE)
    assert verify_signature(OFFICIAL_PATH, nonce, body, OFFICIAL_SECRET, signature)
    reformatted = json.dumps(json.loads(body), indent=1)
    assert not verify_signature(OFFICIAL_PATH, nonce, reformatted, OFFICIAL_SECRET, signature)


def test_verification_accepts_the_official_vector() -> None:
    nonce = nonce_of_body(OFFICIAL_BODY)
    assert nonce == str(OFFICIAL_NONCE)
    assert verify_signature(
        OFFICIAL_PATH, nonce, OFFICIAL_BODY, OFFICIAL_SECRET, OFFICIAL_SIGNATURE
    )


@pytest.mark.parametrize(
    ("path", "nonce", "body", "secret"),
    [
        ("/0/private/CancelOrder", OFFICIAL_NONCE, OFFICIAL_BODY, OFFICIAL_SECRET),
        (OFFICIAL_PATH, OFFICIAL_NONCE + 1, OFFICIAL_BODY, OFFICIAL_SECRET),
        (OFFICIAL_PATH, OFFICIAL_NONCE, OFFICIAL_BODY.replace("1.25", "12.5"), OFFICIAL_SECRET),
        (OFFICIAL_PATH, OFFICIAL_NONCE, OFFICIAL_BODY, base64.b64encode(b"other").decode()),
    ],
    ids=["other path", "other nonce", "tampered body", "other secret"],
)
def test_verification_rejects_any_change_to_the_signed_request(
    path: str, nonce: int, body: str, secret: str
) -> None:
    assert not verify_signature(path, nonce, body, secret, OFFICIAL_SIGNATURE)


def test_a_path_with_a_query_string_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="url_path"):
        sign_request("/0/private/AddOrder?x=1", 1, "nonce=1", OFFICIAL_SECRET)


def test_a_nonce_that_is_not_a_non_negative_integer_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="nonce"):
        sign_request(OFFICIAL_PATH, "-5", "nonce=-5", OFFICIAL_SECRET)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("nonce=42&pair=XBTUSD", "42"),
        ('{"nonce": "43", "pair": "XBTUSD"}', "43"),
        ('{"nonce": 44}', "44"),
        ("pair=XBTUSD", None),
        ("nonce=1&nonce=2", None),
        ("nonce=abc", None),
        ('{"nonce": true}', None),
        ('{"nonce": 1.5}', None),
        ("{not json", None),
        ("[1, 2]", None),
    ],
)
def test_the_nonce_is_read_from_form_and_json_bodies(body: str, expected: str | None) -> None:
    assert nonce_of_body(body) == expected


def test_auth_headers_carry_the_key_and_the_signature() -> None:
    credentials = Credentials.from_strings("public-key", OFFICIAL_SECRET)
    headers = auth_headers(credentials, OFFICIAL_PATH, OFFICIAL_NONCE, OFFICIAL_BODY)
    assert headers == {"API-Key": "public-key", "API-Sign": OFFICIAL_SIGNATURE}


# --------------------------------------------------------------------------- credentials
def test_a_secret_never_appears_in_repr_str_format_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    credentials = Credentials.from_strings("AbCdEfGhIjKlMnOp", OFFICIAL_SECRET)
    shown = [
        repr(credentials),
        str(credentials),
        f"{credentials}",
        repr(credentials.secret),
        str(credentials.secret),
        f"{credentials.secret!r} {credentials.secret}",
        repr([credentials]),
    ]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("kraken-test").info("using %s / %r", credentials, credentials.secret)
    shown.append(caplog.text)
    for text in shown:
        assert OFFICIAL_SECRET not in text
        assert OFFICIAL_SECRET[:12] not in text
        assert "EfGhIjKl" not in text
    assert repr(credentials) == "Credentials(api_key='AbCd...', secret=***)"


def test_a_malformed_secret_is_refused_without_repeating_it() -> None:
    bad = "not-base64-but-secret!!"
    with pytest.raises(InvalidCredentials) as caught:
        Credentials.from_strings("key", bad)
    assert bad not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_an_empty_secret_or_key_is_refused() -> None:
    with pytest.raises(InvalidCredentials, match="empty"):
        ApiSecret.from_base64("")
    with pytest.raises(InvalidCredentials, match="API key"):
        Credentials.from_strings("", OFFICIAL_SECRET)
    with pytest.raises(InvalidCredentials, match="API key"):
        Credentials.from_strings("key with\nnewline", OFFICIAL_SECRET)


def test_serializing_credentials_never_spills_the_secret() -> None:
    credentials = Credentials.from_strings("AbCdEfGhIjKlMnOp", OFFICIAL_SECRET)
    as_dict = attrs.asdict(credentials)
    assert as_dict["secret"] is credentials.secret
    assert OFFICIAL_SECRET[:12] not in repr(as_dict)
    assert base64.b64decode(OFFICIAL_SECRET)[:8].hex() not in repr(as_dict)
    assert not hasattr(credentials.secret, "__dict__")
    with pytest.raises(AttributeError, match="immutable"):
        credentials.secret._key = b"other"


def test_a_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ApiSecret.from_base64(OFFICIAL_SECRET))


def test_secrets_compare_by_value() -> None:
    assert ApiSecret.from_base64(OFFICIAL_SECRET) == ApiSecret.from_base64(OFFICIAL_SECRET)
    assert ApiSecret.from_base64(OFFICIAL_SECRET) != ApiSecret.from_base64("c2VjcmV0")
    assert (
        len({ApiSecret.from_base64(OFFICIAL_SECRET), ApiSecret.from_base64(OFFICIAL_SECRET)}) == 1
    )


# --------------------------------------------------------------------------- nonce
def test_nonces_follow_the_clock_at_the_chosen_resolution() -> None:
    ticks = iter([1_700_000_000_123_456_789, 1_700_000_000_999_000_000])
    source = NonceSource(lambda: next(ticks), resolution=NonceResolution.MILLISECONDS)
    assert [source.next_nonce(), source.next_nonce()] == [1_700_000_000_123, 1_700_000_000_999]


def test_nonces_keep_increasing_when_the_clock_stalls_or_goes_back() -> None:
    ticks = iter([1_000, 1_000, 1_000, 900, 5_000, 4_999])
    source = NonceSource(lambda: next(ticks))
    assert [source.next_nonce() for _ in range(6)] == [1_000, 1_001, 1_002, 1_003, 5_000, 5_001]


def test_the_default_resolution_is_nanoseconds() -> None:
    source = NonceSource(lambda: 1_700_000_000_123_456_789)
    assert source.next_nonce() == 1_700_000_000_123_456_789


def test_advance_past_lifts_every_later_nonce_above_a_seen_one() -> None:
    source = NonceSource(lambda: 10)
    source.advance_past(1_000)
    assert source.next_nonce() == 1_001
    source.advance_past(5)
    assert source.next_nonce() == 1_002
    assert source.last == 1_002


def test_a_starting_floor_is_respected() -> None:
    source = NonceSource(lambda: 10, last=99)
    assert source.next_nonce() == 100


def test_a_nonce_beyond_uint64_is_a_bug_not_a_wraparound() -> None:
    source = NonceSource(lambda: MAX_NONCE + 1)
    with pytest.raises(OverflowError):
        source.next_nonce()
    with pytest.raises(ValueError, match="last nonce"):
        NonceSource(lambda: 0, last=-1)


def test_nonces_are_unique_and_increasing_across_threads_sharing_one_source() -> None:
    source = NonceSource(lambda: 1_000)  # a frozen clock: every draw collides on the time
    per_thread: list[list[int]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def draw(out: list[int]) -> None:
        start.wait()
        out.extend(source.next_nonce() for _ in range(500))

    threads = [threading.Thread(target=draw, args=(out,)) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [n for out in per_thread for n in out]
    assert len(set(every)) == 8 * 500
    assert sorted(every) == list(range(1_000, 1_000 + 8 * 500))
    for out in per_thread:
        assert out == sorted(out)


async def test_nonces_are_unique_and_increasing_across_tasks_sharing_one_source() -> None:
    source = NonceSource.system()
    issued: list[int] = []

    async def worker() -> None:
        for _ in range(50):
            issued.append(source.next_nonce())
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(10)))
    assert len(issued) == 500
    assert issued == sorted(issued)
    assert len(set(issued)) == 500


def test_the_repr_of_a_nonce_source_names_its_resolution_and_last_value() -> None:
    source = NonceSource(lambda: 7_000_000, resolution=NonceResolution.MILLISECONDS)
    source.next_nonce()
    assert repr(source) == "NonceSource(resolution=MILLISECONDS, last=7)"
