"""Kraken's request signature (kraken-api.md §1) and credentials that never show their secret.

`API-Sign = base64(HMAC-SHA512(base64decode(secret), path + SHA256(nonce + body)))`, where `body`
is the exact text sent (form-encoded or JSON) and `path` starts at `/0/private/`. The same
function signs (the client) and verifies (a Kraken-compatible test server).

The secret lives only inside `ApiSecret`, whose repr and str are masked; `Credentials` masks it
too and shows only the first characters of the public key. No exception raised here repeats
either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Final, NoReturn, final
from urllib.parse import parse_qs

import attrs

_MASK: Final = "***"
_KEY_SHOWN: Final = 4


class InvalidCredentials(ValueError):
    """The API key or secret is malformed. The message never contains either."""


@final
class ApiSecret:
    """A decoded Kraken API secret. Its repr and str are masked; compare with `==` in constant time.

    Deliberately not an attrs class: `attrs.asdict` and cattrs treat it as an opaque value, so
    serializing `Credentials` cannot spill the key bytes.

    >>> secret = ApiSecret.from_base64("c2VjcmV0")
    >>> secret, str(secret), f"{secret}"
    (ApiSecret(***), '***', '***')
    """

    __slots__ = ("_key",)
    _key: bytes

    def __init__(self, key: bytes) -> None:
        """Wrap the decoded key bytes (use `from_base64` for the text Kraken shows)."""
        if not key:
            raise InvalidCredentials("the API secret is empty")
        object.__setattr__(self, "_key", bytes(key))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("ApiSecret is immutable")

    @classmethod
    def from_base64(cls, text: str) -> ApiSecret:
        """Decode the secret as Kraken shows it (base64); refuse anything that is not base64."""
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidCredentials("the API secret is not valid base64") from None
        return cls(key=key)

    def hmac_sha512(self, message: bytes) -> bytes:
        """HMAC-SHA512 of `message` keyed with this secret (the only use of the key bytes)."""
        return hmac.new(self._key, message, hashlib.sha512).digest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiSecret):
            return NotImplemented
        return hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash((ApiSecret, hashlib.sha256(self._key).digest()))

    def __repr__(self) -> str:
        return f"ApiSecret({_MASK})"

    def __str__(self) -> str:
        return _MASK

    def __reduce__(self) -> str | tuple[object, ...]:
        # A pickle would carry the key bytes into caches and crash dumps.
        raise TypeError("ApiSecret cannot be pickled")


@attrs.frozen(repr=False)
class Credentials:
    """A Kraken API key and its secret; the repr masks the secret and most of the key.

    >>> Credentials.from_strings("AbCdEfGhIjKl", "c2VjcmV0")
    Credentials(api_key='AbCd...', secret=***)
    """

    api_key: str = attrs.field()
    secret: ApiSecret

    @api_key.validator
    def _printable_key(self, attribute: attrs.Attribute[str], value: str) -> None:
        del attribute
        if not value or not value.isascii() or not value.isprintable() or value != value.strip():
            raise InvalidCredentials("the API key must be non-empty printable ASCII")

    @classmethod
    def from_strings(cls, api_key: str, secret: str) -> Credentials:
        """Credentials from the key and the base64 secret as Kraken shows them."""
        return cls(api_key=api_key, secret=ApiSecret.from_base64(secret))

    def __repr__(self) -> str:
        return f"Credentials(api_key='{self.api_key[:_KEY_SHOWN]}...', secret={_MASK})"

    __str__ = __repr__


def _as_secret(secret: ApiSecret | str) -> ApiSecret:
    return secret if isinstance(secret, ApiSecret) else ApiSecret.from_base64(secret)


def _as_bytes(body: str | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.encode()


def _check_path(url_path: str) -> None:
    if not url_path.startswith("/") or "?" in url_path or "#" in url_path:
        raise ValueError(f"url_path must be a path such as /0/private/AddOrder (got {url_path!r})")


def sign_request(
    url_path: str, nonce: int | str, body: str | bytes, secret: ApiSecret | str
) -> str:
    """The `API-Sign` header for a private call: `body` is the exact form or JSON text sent.

    The official test vector (kraken-api.md §1):

    >>> sign_request(
    ...     "/0/private/AddOrder",
    ...     1616492376594,
    ...     "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25",
    ...     "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5"
    ...     "nE9qa99HAZtuZuj6F1huXg==",
    ... )
    '4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=='
    """
    _check_path(url_path)
    nonce_text = str(nonce)
    if not nonce_text.isdecimal() or not nonce_text.isascii():
        raise ValueError(f"the nonce must be a non-negative integer (got {nonce_text!r})")
    inner = hashlib.sha256(nonce_text.encode() + _as_bytes(body)).digest()
    signature = _as_secret(secret).hmac_sha512(url_path.encode() + inner)
    return base64.b64encode(signature).decode()


def verify_signature(
    url_path: str,
    nonce: int | str,
    body: str | bytes,
    secret: ApiSecret | str,
    signature: str,
) -> bool:
    """Whether `signature` is the `API-Sign` of this request (constant-time comparison)."""
    expected = sign_request(url_path, nonce, body, secret)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def nonce_of_body(body: str | bytes) -> str | None:
    """The `nonce` of a form-encoded or JSON body as the signature uses it, or None if absent.

    For JSON the signature covers `str(nonce)` of the parsed value, as in Kraken's own sample.

    >>> nonce_of_body("nonce=1616492376594&pair=XBTUSD"), nonce_of_body('{"nonce": 42}')
    ('1616492376594', '42')
    """
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    value: object
    if text.lstrip().startswith("{"):
        try:
            parsed: object = json.loads(text)
        except ValueError:
            return None
        value = parsed.get("nonce") if isinstance(parsed, dict) else None
        if isinstance(value, bool):
            return None
    else:
        values = parse_qs(text, keep_blank_values=True).get("nonce", [])
        value = values[0] if len(values) == 1 else None
    nonce = str(value) if isinstance(value, (int, str)) else None
    if nonce is None or not nonce.isascii() or not nonce.isdecimal():
        return None
    return nonce


def auth_headers(
    credentials: Credentials, url_path: str, nonce: int, body: str | bytes
) -> dict[str, str]:
    """The `API-Key` and `API-Sign` headers of a private call."""
    return {
        "API-Key": credentials.api_key,
        "API-Sign": sign_request(url_path, nonce, body, credentials.secret),
    }
