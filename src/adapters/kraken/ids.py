"""Kraken identifiers, checked before they are used or stored (review SECURITY-2).

Kraken's ids are three groups of 6, 5 and 6 upper-case letters or digits joined by dashes; the
first letter says what they name: `O` an order (`OUF4EM-FRGI2-MQMWZD`), `T` a trade or an
amendment (`TGBB7L-HT5LX-J3BZ4A`), `L` a ledger entry. A client order id (`cl_ord_id`) is a UUID
(36 characters with four dashes), a UUID as 32 hex digits, or free printable ASCII text of at most
18 characters. Anything else is refused with a typed `InvalidId`, never stored.
"""

from __future__ import annotations

import enum
import re

import attrs
from returns.result import Failure, Result, Success

_TXID = re.compile(r"[A-Z0-9]{6}-[A-Z0-9]{5}-[A-Z0-9]{6}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_HEX32 = re.compile(r"[0-9A-Fa-f]{32}")
_SHORT_TEXT = re.compile(r"[!-~]{1,18}")  # printable ASCII without spaces or control characters
_SHOWN = 40  # how much of a refused value an error message repeats


class IdKind(enum.StrEnum):
    """Which identifier a value was meant to be."""

    ORDER = "order id"
    TRADE = "trade id"
    AMEND = "amend id"
    CLIENT_ORDER = "client order id"


_PREFIX = {IdKind.ORDER: "O", IdKind.TRADE: "T", IdKind.AMEND: "T"}


@attrs.frozen(kw_only=True)
class InvalidId:
    """A value that is not a valid Kraken identifier of `kind`; `shown` is a safe excerpt of it."""

    kind: IdKind
    shown: str
    reason: str

    @property
    def message(self) -> str:
        """A sentence naming the kind, the (shortened) value and what is wrong."""
        return f"{self.kind} {self.shown} {self.reason}"

    def __str__(self) -> str:
        return self.message


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _refuse(kind: IdKind, value: object, reason: str) -> Result[str, InvalidId]:
    return Failure(InvalidId(kind=kind, shown=_shown(value), reason=reason))


def _validate_txid(kind: IdKind, value: object) -> Result[str, InvalidId]:
    if not isinstance(value, str):
        return _refuse(kind, value, f"must be a string, not {type(value).__name__}")
    prefix = _PREFIX[kind]
    if _TXID.fullmatch(value) is None:
        return _refuse(kind, value, "is not of the form XXXXXX-XXXXX-XXXXXX (A-Z, 0-9)")
    if not value.startswith(prefix):
        return _refuse(kind, value, f"must start with {prefix!r}")
    return Success(value)


def validate_order_id(value: object) -> Result[str, InvalidId]:
    """`value` if it is a Kraken order id (`O` + 5, `-`, 5, `-`, 6 upper-case alphanumerics).

    >>> validate_order_id("OUF4EM-FRGI2-MQMWZD")
    <Success: OUF4EM-FRGI2-MQMWZD>
    >>> print(validate_order_id("TGBB7L-HT5LX-J3BZ4A").failure())
    order id 'TGBB7L-HT5LX-J3BZ4A' must start with 'O'
    """
    return _validate_txid(IdKind.ORDER, value)


def validate_trade_id(value: object) -> Result[str, InvalidId]:
    """`value` if it is a Kraken trade id (same shape as an order id, starting with `T`)."""
    return _validate_txid(IdKind.TRADE, value)


def validate_amend_id(value: object) -> Result[str, InvalidId]:
    """`value` if it is a Kraken amend id (AmendOrder's `amend_id`, shaped like a trade id)."""
    return _validate_txid(IdKind.AMEND, value)


def validate_client_order_id(value: object) -> Result[str, InvalidId]:
    """`value` if Kraken accepts it as a `cl_ord_id`: a UUID (36 or 32 hex) or <= 18 ASCII chars.

    >>> validate_client_order_id("6d1b345e-2821-40e2-ad83-4ecb18a06876")
    <Success: 6d1b345e-2821-40e2-ad83-4ecb18a06876>
    >>> validate_client_order_id("entry-42")
    <Success: entry-42>
    >>> print(validate_client_order_id("a-free-text-id-that-is-too-long").failure())
    client order id 'a-free-text-id-that-is-too-long' is neither a UUID ...
    """
    kind = IdKind.CLIENT_ORDER
    if not isinstance(value, str):
        return _refuse(kind, value, f"must be a string, not {type(value).__name__}")
    if (
        _UUID.fullmatch(value) is not None
        or _HEX32.fullmatch(value) is not None
        or _SHORT_TEXT.fullmatch(value) is not None
    ):
        return Success(value)
    return _refuse(
        kind,
        value,
        "is neither a UUID (36 characters with dashes, or 32 hex digits) nor printable ASCII "
        "text of 1 to 18 characters without spaces",
    )


def is_order_id(value: object) -> bool:
    """Whether `value` is a well-formed Kraken order id."""
    return isinstance(validate_order_id(value), Success)


def is_trade_id(value: object) -> bool:
    """Whether `value` is a well-formed Kraken trade id."""
    return isinstance(validate_trade_id(value), Success)


def is_client_order_id(value: object) -> bool:
    """Whether Kraken accepts `value` as a `cl_ord_id`."""
    return isinstance(validate_client_order_id(value), Success)
