"""Trade proposals and `plan_order`: from "buy 100 USD of BTC" to an exchange-ready order.

The rules (design.md §2, review CRITICAL-1, CRITICAL-3, SAFETY-2):

- the price is the proposal's entry price for a limit order, the reference price for a market
  order; with neither the proposal is refused (`MissingPrice`), never sized from the USD amount;
- `size = size_usd / price`, rounded DOWN to the lot; a limit price is first rounded to the tick
  (buy down, sell up) and the size computed at the price actually sent, so
  `size x limit price <= size_usd`;
- a market order is slippage-protected: sent as a limit IOC with a cap `ref x (1 + s)` (buy,
  rounded down) or a floor `ref x (1 - s)` (sell, rounded up), `s = market_order_slippage_pct %`;
- every rule is checked on the rounded values; a value that breaks one is refused, not nudged.

`size_usd` is the notional in the instrument's quote currency (USD-like for the USDT pairs; BTC
for XRP/BTC), as are the per-symbol notional limits it is checked against.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Context, Decimal
from typing import Final

import attrs
from returns.result import Failure, Result, Success

from execution_core.config import ExecutionConfig
from execution_core.domain.enums import FeeCurrency, OrderSide, OrderType, TimeInForce
from execution_core.domain.instruments import Instrument
from execution_core.domain.numbers import ONE, ZERO, DecimalLike, InvalidNumber, to_decimal
from execution_core.domain.orders import Order, planned_order
from execution_core.domain.refusals import (
    AboveMaximum,
    BelowMinimum,
    BelowMinimumCost,
    BelowMinimumSize,
    InvalidValue,
    MissingPrice,
    Refusal,
    SymbolMismatch,
    WrongSideOfPrice,
)
from execution_core.domain.rounding import capped_price, ceil_to_step, floor_to_step, tidy

_FLOOR: Final = Context(prec=34, rounding=ROUND_FLOOR)
"""Divides for sizing: a quotient rounded by the default context (half-even) could land on the
next lot and buy more than asked; a floored one cannot."""

KRAKEN_MIN_EXPIRY: Final = timedelta(seconds=5)
"""Kraken refuses a GTD expiry less than 5 s ahead."""

# Enum members as module constants: a global lookup is 3x cheaper than a class attribute.
_BUY: Final = OrderSide.BUY
_LIMIT: Final = OrderType.LIMIT
_MARKET: Final = OrderType.MARKET
_IOC: Final = TimeInForce.IOC
_GTD: Final = TimeInForce.GTD
_GTC: Final = TimeInForce.GTC


# --------------------------------------------------------------------------- converters
def to_side(value: OrderSide | str) -> OrderSide:
    """`OrderSide` from an `OrderSide` or the strings "buy" / "sell" (any case)."""
    if isinstance(value, OrderSide):
        return value
    if isinstance(value, str):
        spelled = value.strip().lower()
        if spelled in ("buy", "sell"):
            return OrderSide(spelled)
    msg = f"side: must be 'buy' or 'sell' (got {value!r})"
    raise ValueError(msg)


# Each number converter first takes a finite non-zero Decimal as it is (what `to_decimal` does
# for it, without the call); anything else goes through `to_decimal`.
def _size_usd(value: DecimalLike) -> Decimal:
    if type(value) is Decimal and value.is_finite() and value:
        return value
    return to_decimal(value, field="size_usd")


def _entry_price(value: DecimalLike | None) -> Decimal | None:
    if value is None or (type(value) is Decimal and value.is_finite() and value):
        return value
    return to_decimal(value, field="entry_price")


def _stop_loss(value: DecimalLike | None) -> Decimal | None:
    if value is None or (type(value) is Decimal and value.is_finite() and value):
        return value
    return to_decimal(value, field="stop_loss")


def _take_profit(value: DecimalLike | None) -> Decimal | None:
    if value is None or (type(value) is Decimal and value.is_finite() and value):
        return value
    return to_decimal(value, field="take_profit")


def _leverage(value: DecimalLike) -> Decimal:
    if type(value) is Decimal and value.is_finite() and value:
        return value
    return to_decimal(value, field="leverage")


def _time_in_force(value: TimeInForce | str | None) -> TimeInForce | None:
    if value is None or isinstance(value, TimeInForce):
        return value
    return TimeInForce(value.strip().upper())


def _fee_currency(value: FeeCurrency | str) -> FeeCurrency:
    if isinstance(value, FeeCurrency):
        return value
    return FeeCurrency(value.strip().lower())


# --------------------------------------------------------------------------- the proposal
@attrs.frozen
class TradeProposal:
    """What a bot asks for: a side, a quote notional and, optionally, a price and protection.

    With an `entry_price` the order is a limit order at that price; without one it is a
    slippage-protected market order. Numbers accept `Decimal | int | str | float` (floats through
    `str()`); NaN and infinities raise `InvalidNumber`. Ranges (a positive size, leverage within
    the limits, a stop on the right side) are checked by `plan_order`, which refuses with a
    typed reason rather than raising.

    >>> TradeProposal("BTC/USDT", "buy", 100, entry_price=45000.5, stop_loss="44000")
    TradeProposal(symbol='BTC/USDT', side=<OrderSide.BUY: 'buy'>, size_usd=Decimal('100'), ...)
    """

    symbol: str
    side: OrderSide = attrs.field(converter=to_side)
    size_usd: Decimal = attrs.field(converter=_size_usd)
    entry_price: Decimal | None = attrs.field(default=None, converter=_entry_price, kw_only=True)
    stop_loss: Decimal | None = attrs.field(default=None, converter=_stop_loss, kw_only=True)
    take_profit: Decimal | None = attrs.field(default=None, converter=_take_profit, kw_only=True)
    leverage: Decimal = attrs.field(default=ONE, converter=_leverage, kw_only=True)
    proposal_id: str | None = attrs.field(default=None, kw_only=True)
    """The caller's idempotency key: the order's id, and its client order id (as a UUID)."""
    time_in_force: TimeInForce | None = attrs.field(
        default=None, converter=_time_in_force, kw_only=True
    )
    """None: IOC for a market order; for a limit order GTD with the configured expiry (when
    planned with `now`), else GTC."""
    expires_at: datetime | None = attrs.field(default=None, kw_only=True)
    post_only: bool = attrs.field(default=False, kw_only=True)
    fee_currency: FeeCurrency = attrs.field(
        default=FeeCurrency.QUOTE, converter=_fee_currency, kw_only=True
    )


# --------------------------------------------------------------------------- client order ids
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:execution-core:client-order-id").bytes
_NAMESPACE_SHA1: Final = hashlib.sha1(_NAMESPACE, usedforsecurity=False)
"""SHA-1 state after the namespace: every derived id starts from a copy (never updated itself)."""
_VARIANT: Final = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""RFC 4122 variant: the top two bits of the 17th hex digit are 10."""


def client_order_id_for(key: str) -> str:
    """A Kraken `cl_ord_id` for `key`: the key itself if it is a lowercase UUID, else its UUIDv5.

    Deterministic (the core has no randomness): the same key always gives the same id, so a
    retried proposal finds its order instead of creating a second one.

    >>> client_order_id_for("3f2b8c1e-9d4a-4f6b-8c2d-1e5f7a9b0c3d")
    '3f2b8c1e-9d4a-4f6b-8c2d-1e5f7a9b0c3d'
    >>> client_order_id_for("bot-7/proposal-42")
    '4610852c-35b7-5943-934e-97148e7c75dd'
    """
    if len(key) == 36 and _UUID.fullmatch(key):  # noqa: PLR2004 - a long UUID's length
        return key
    # uuid.uuid5 without building a UUID object: the same 36 characters in 3/4 of the time.
    # The namespace is hashed once: a copy of that state is cheaper than a new hash object.
    digest = _NAMESPACE_SHA1.copy()
    digest.update(key.encode())
    h = digest.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def proposal_key(proposal: TradeProposal) -> str:
    """The proposal's content as one string: the key of its derived client order id.

    Each field as `str()` spells it (for these types the same text as `format()`, and half its
    cost); the key, hence the id, never changes for the same content.

    >>> proposal_key(TradeProposal("BTC/USDT", "buy", 100, entry_price="45000.5"))
    'BTC/USDT|buy|100|45000.5|None|None|1|None|None|False|quote'
    """
    p = proposal
    return (
        f"{p.symbol!s}|{p.side!s}|{p.size_usd!s}|{p.entry_price!s}|{p.stop_loss!s}|"
        f"{p.take_profit!s}|{p.leverage!s}|{p.time_in_force!s}|{p.expires_at!s}|"
        f"{p.post_only!s}|{p.fee_currency!s}"
    )


# --------------------------------------------------------------------------- planning
def plan_order(  # noqa: C901, PLR0911, PLR0912, PLR0915 - one flat pass of rules: the fast path
    proposal: TradeProposal,
    instrument: Instrument,
    config: ExecutionConfig,
    *,
    reference_price: DecimalLike | None = None,
    order_id: str | None = None,
    now: datetime | None = None,
) -> Result[Order, Refusal]:
    """Size, round and check `proposal` on `instrument`: a PENDING `Order`, or why not.

    The order's id is `order_id`, else the proposal's `proposal_id`, else derived from the
    proposal's content; its client order id is that id when it is a UUID, else the UUIDv5 of it
    (`client_order_id_for`). `reference_price` is the current market price: required for a
    market proposal, optional for a limit one (then a stop-loss the market has already crossed
    is refused). `now` stamps the order and sets a limit order's GTD expiry.

    >>> from execution_core.domain.instruments import BTC_USDT
    >>> order = plan_order(
    ...     TradeProposal("BTC/USDT", "buy", 450), BTC_USDT, ExecutionConfig(),
    ...     reference_price=45000,
    ... ).unwrap()
    >>> order.order_type, order.time_in_force
    (<OrderType.MARKET: 'market'>, <TimeInForce.IOC: 'IOC'>)
    >>> order.price, order.size, order.reference_price
    (Decimal('45225.0'), Decimal('0.01000000'), Decimal('45000'))
    """
    symbol = instrument.symbol
    if proposal.symbol != symbol:
        return Failure(SymbolMismatch(symbol=symbol, limit=symbol, actual=proposal.symbol))
    side = proposal.side
    is_buy = side is _BUY
    tick = instrument.tick_size

    ref: Decimal | None = None
    if reference_price is not None:
        try:
            ref = to_decimal(reference_price, field="reference_price")
        except InvalidNumber as error:  # a broken price feed is expected, not a bug
            return Failure(
                InvalidValue(
                    symbol=symbol,
                    field="reference_price",
                    actual=str(reference_price),
                    reason=error.reason,
                )
            )
        if ref <= ZERO:
            return Failure(_not_positive(symbol, "reference_price", ref))
    size_usd = proposal.size_usd
    if size_usd <= ZERO:
        return Failure(_not_positive(symbol, "size_usd", size_usd))

    entry = proposal.entry_price
    if entry is not None:
        if entry <= ZERO:
            return Failure(_not_positive(symbol, "entry_price", entry))
        order_type = _LIMIT
        price = floor_to_step(entry, tick) if is_buy else ceil_to_step(entry, tick)
        sizing_price = price
        reference_name = "entry price"
    elif ref is not None:
        order_type = _MARKET
        orders = config.orders
        factor = orders.buy_cap_factor if is_buy else orders.sell_floor_factor
        price = capped_price(ref, side, factor, tick)
        sizing_price = ref
        reference_name = "reference price"
    else:
        return Failure(MissingPrice(symbol=symbol))
    if price <= ZERO:
        return Failure(
            InvalidValue(
                symbol=symbol,
                field="price",
                actual=price,
                limit=ZERO,
                reason=f"rounds to {price} on the tick {tick}; it must be greater than 0",
            )
        )

    leverage = proposal.leverage
    if leverage < ONE:
        return Failure(BelowMinimum(symbol=symbol, field="leverage", limit=ONE, actual=leverage))
    max_leverage = min(config.risk.max_leverage, instrument.max_leverage)
    if leverage > max_leverage:
        return Failure(
            AboveMaximum(symbol=symbol, field="leverage", limit=max_leverage, actual=leverage)
        )

    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    if proposal.stop_loss is not None or proposal.take_profit is not None:
        levels = _check_protection(
            proposal,
            symbol=symbol,
            is_buy=is_buy,
            tick=tick,
            entry=sizing_price,
            reference_name=reference_name,
            market=ref,
        )
        if not isinstance(levels, tuple):
            return Failure(levels)
        stop_loss, take_profit = levels

    size = floor_to_step(_FLOOR.divide(size_usd, sizing_price), instrument.lot_size)
    min_size = config.min_size(instrument)
    if size < min_size:
        return Failure(BelowMinimumSize(symbol=symbol, limit=min_size, actual=tidy(size)))
    cost = size * price
    if cost < instrument.min_cost:
        return Failure(
            BelowMinimumCost(symbol=symbol, limit=instrument.min_cost, actual=tidy(cost))
        )
    # Limits value the base quantity at the price it was sized at (the market for a market
    # order); what the cap may cost at worst is the balance check's business.
    notional = size * sizing_price
    risk = config.risk
    max_order = risk.max_order_notional_by_symbol.get(symbol, risk.max_order_notional)
    if notional > max_order:
        return Failure(
            AboveMaximum(symbol=symbol, field="notional", limit=max_order, actual=tidy(notional))
        )
    max_position = risk.max_position_notional_by_symbol.get(symbol, risk.max_position_notional)
    if notional > max_position:
        return Failure(
            AboveMaximum(
                symbol=symbol,
                field="position_notional",
                limit=max_position,
                actual=tidy(notional),
            )
        )

    if order_type is _MARKET and (
        proposal.time_in_force is None and not proposal.post_only and proposal.expires_at is None
    ):
        time_in_force, expires_at = _IOC, None  # the common case, without a call
    else:
        timing = (
            _market_timing(proposal, symbol)
            if order_type is _MARKET
            else _limit_timing(proposal, symbol, config, now)
        )
        if isinstance(timing, InvalidValue):
            return Failure(timing)
        time_in_force, expires_at = timing

    key = order_id if order_id is not None else proposal.proposal_id
    if key is None:
        key = client_id = client_order_id_for(proposal_key(proposal))
    else:
        client_id = client_order_id_for(key)
    return Success(
        planned_order(
            id=key,
            client_order_id=client_id,
            symbol=symbol,
            side=side,
            order_type=order_type,
            size=size,
            price=price,
            time_in_force=time_in_force,
            expires_at=expires_at,
            leverage=leverage,
            post_only=proposal.post_only,
            fee_currency=proposal.fee_currency,
            reference_price=ref if order_type is _MARKET else None,
            created_at=now,
            stop_loss=stop_loss,
            take_profit=take_profit,
        )
    )


def _not_positive(symbol: str, field: str, value: Decimal) -> InvalidValue:
    return InvalidValue(
        symbol=symbol, field=field, actual=value, limit=ZERO, reason="must be greater than 0"
    )


def _check_protection(  # noqa: PLR0911 - one return per rule
    proposal: TradeProposal,
    *,
    symbol: str,
    is_buy: bool,
    tick: Decimal,
    entry: Decimal,
    reference_name: str,
    market: Decimal | None,
) -> tuple[Decimal | None, Decimal | None] | Refusal:
    """Stop-loss and take-profit, rounded as they will be sent, on the right side of the entry.

    Long: stop-loss < entry < take-profit; short mirrored. A stop-loss rounds toward the
    market (long up, short down), a take-profit toward the entry (long down, short up): the
    rounded `(stop_loss, take_profit)` the order carries, or why one is refused.
    """
    stop = proposal.stop_loss
    if stop is not None:
        if stop <= ZERO:
            return _not_positive(symbol, "stop_loss", stop)
        stop = ceil_to_step(stop, tick) if is_buy else floor_to_step(stop, tick)
        if is_buy and stop >= entry:
            return _wrong_side(symbol, "stop_loss", stop, "below", reference_name, entry)
        if not is_buy and stop <= entry:
            return _wrong_side(symbol, "stop_loss", stop, "above", reference_name, entry)
        if market is not None and (stop >= market if is_buy else stop <= market):
            relation = "below" if is_buy else "above"
            return _wrong_side(symbol, "stop_loss", stop, relation, "reference price", market)
    target = proposal.take_profit
    if target is not None:
        if target <= ZERO:
            return _not_positive(symbol, "take_profit", target)
        target = floor_to_step(target, tick) if is_buy else ceil_to_step(target, tick)
        if is_buy and target <= entry:
            return _wrong_side(symbol, "take_profit", target, "above", reference_name, entry)
        if not is_buy and target >= entry:
            return _wrong_side(symbol, "take_profit", target, "below", reference_name, entry)
    return stop, target


def _wrong_side(  # noqa: PLR0917 - a refusal names all of these, in the order of its message
    symbol: str, field: str, actual: Decimal, relation: str, reference: str, limit: Decimal
) -> WrongSideOfPrice:
    return WrongSideOfPrice(
        symbol=symbol,
        field=field,
        limit=limit,
        actual=actual,
        relation=relation,
        reference=reference,
    )


def _market_timing(
    proposal: TradeProposal, symbol: str
) -> tuple[TimeInForce, datetime | None] | InvalidValue:
    tif = proposal.time_in_force
    if tif is not None and tif is not _IOC:
        return InvalidValue(
            symbol=symbol,
            field="time_in_force",
            actual=str(tif),
            reason="must be IOC for a protected market order",
        )
    if proposal.post_only:
        return InvalidValue(
            symbol=symbol, field="post_only", actual="True", reason="is for limit orders only"
        )
    if proposal.expires_at is not None:
        return InvalidValue(
            symbol=symbol,
            field="expires_at",
            actual=proposal.expires_at.isoformat(),
            reason="is for GTD limit orders only",
        )
    return _IOC, None


def _limit_timing(
    proposal: TradeProposal, symbol: str, config: ExecutionConfig, now: datetime | None
) -> tuple[TimeInForce, datetime | None] | InvalidValue:
    tif = proposal.time_in_force
    expires = proposal.expires_at
    default_expiry = config.orders.limit_order_expiry
    if tif is None:
        if expires is not None:
            tif = _GTD
        elif default_expiry is not None and now is not None:
            tif, expires = _GTD, now + default_expiry
        else:
            tif = _GTC
    elif tif is _GTD:
        if expires is None:
            if default_expiry is None or now is None:
                return InvalidValue(
                    symbol=symbol,
                    field="expires_at",
                    actual=None,
                    reason=(
                        "is required for a GTD order: give one, or plan with `now` and "
                        "orders.limit_order_expiry_hours set"
                    ),
                )
            expires = now + default_expiry
    elif expires is not None:
        return InvalidValue(
            symbol=symbol,
            field="expires_at",
            actual=expires.isoformat(),
            reason=f"is for GTD orders only, not {tif}",
        )
    if proposal.post_only and tif is _IOC:
        return InvalidValue(
            symbol=symbol,
            field="post_only",
            actual="True",
            reason="cannot be combined with IOC (a post-only order must rest)",
        )
    if expires is not None and now is not None and expires < now + KRAKEN_MIN_EXPIRY:
        return InvalidValue(
            symbol=symbol,
            field="expires_at",
            actual=expires.isoformat(),
            reason=f"must be at least 5 s after now ({now.isoformat()})",
        )
    return tif, expires
