"""Pre-trade rules (SAFETY-1): pure functions of an order, its instrument, a snapshot, the config.

Each rule returns the `Refusal` it finds or `None`; `check_pre_trade` runs them in order and
returns the first refusal as a `Failure`, or the order as a `Success`:

1. trading state (kill switch): HALTED refuses everything, REDUCING refuses entries;
2. symbol status: cancel_only (and delisted) refuse every new order, post_only refuses an order
   that is not post-only, limit_only refuses order types without a limit price (market, including
   a protected market order, stop-loss, take-profit), reduce_only refuses entries;
3. circuit breaker (entries);
4. daily loss limit (entries): realized + unrealized P&L of the day;
5. balance (entries): quote for a buy including the fee (at the order's limit or cap, which is
   what the exchange reserves), base for a sell; with leverage > 1 the margin
   `notional / leverage + fee` in quote instead;
6. exposure (entries): per symbol (quote currency) and in total (valuation currency).

Exits (`is_exit=True`, an order whose role is not ENTRY, or a reduce-only order) and stop
placement are never blocked by the entry-only rules 3-6: a position must always be closable and
protectable. Rules 1-2 still apply (a halted account sends nothing; an exchange status refuses
what the exchange would refuse). Limits are inclusive: a value exactly at a limit is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final, TypeAlias

import attrs
import immutables
from returns.result import Failure, Result, Success

from execution_core.config import ExecutionConfig
from execution_core.domain.enums import (
    FeeCurrency,
    OrderRole,
    OrderSide,
    OrderType,
    SymbolStatus,
    TradingState,
)
from execution_core.domain.instruments import Instrument
from execution_core.domain.numbers import ONE, ZERO, DecimalLike, to_decimal
from execution_core.domain.orders import Order
from execution_core.domain.refusals import (
    AboveMaximum,
    CircuitBreakerActive,
    InsufficientBalance,
    InvalidValue,
    MissingPrice,
    Refusal,
    SymbolMismatch,
    TradingNotAllowed,
)
from execution_core.domain.rounding import tidy


def _decimal_map(value: Mapping[str, DecimalLike]) -> Mapping[str, Decimal]:
    if isinstance(value, immutables.Map):
        return value  # already converted (a snapshot evolved from another)
    return immutables.Map({key: to_decimal(item, field=key) for key, item in value.items()})


def _status_map(value: Mapping[str, SymbolStatus | str]) -> Mapping[str, SymbolStatus]:
    if isinstance(value, immutables.Map):
        return value
    return immutables.Map({key: SymbolStatus(item) for key, item in value.items()})


def _pnl(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="daily_pnl")


def _optional_total(value: DecimalLike | None) -> Decimal | None:
    return None if value is None else to_decimal(value, field="total_exposure")


def _empty() -> Mapping[str, Decimal]:
    return immutables.Map()


def _empty_status() -> Mapping[str, SymbolStatus]:
    return immutables.Map()


def _par_rates() -> Mapping[str, Decimal]:
    return immutables.Map({"USD": ONE, "USDT": ONE})


# Enum members as module constants: a global lookup is 3x cheaper than a class attribute.
_ENTRY: Final = OrderRole.ENTRY
_HALTED: Final = TradingState.HALTED
_REDUCING: Final = TradingState.REDUCING
_ONLINE: Final = SymbolStatus.ONLINE
_MARKET: Final = OrderType.MARKET
_QUOTE: Final = FeeCurrency.QUOTE
_BUY: Final = OrderSide.BUY


@attrs.frozen(kw_only=True)
class RiskSnapshot:
    """What the pre-trade rules need to know about the account, at one moment.

    - `balances`: available (not held by open orders) amount per asset;
    - `exposures`: gross open notional per symbol, in the symbol's quote currency;
    - `total_exposure`: gross open notional of the account in the valuation currency (USD);
      `None` means the sum of `exposures`, right when every symbol is quoted in it;
    - `valuation_rates`: the value of one unit of a quote asset in the valuation currency, to add
      an order's notional to the total (USD and USDT at par by default); an entry whose quote
      has no rate is refused;
    - `daily_realized_pnl` + `daily_unrealized_pnl`: today's P&L in the valuation currency;
    - `symbol_status`: the exchange's status per symbol, over the instrument's own.

    >>> RiskSnapshot(balances={"USDT": 1000}).balances["USDT"]
    Decimal('1000')
    """

    trading_state: TradingState = TradingState.ACTIVE
    circuit_breaker_active: bool = False
    circuit_breaker_reason: str = ""
    daily_realized_pnl: Decimal = attrs.field(default=ZERO, converter=_pnl)
    daily_unrealized_pnl: Decimal = attrs.field(default=ZERO, converter=_pnl)
    balances: Mapping[str, Decimal] = attrs.field(factory=_empty, converter=_decimal_map)
    exposures: Mapping[str, Decimal] = attrs.field(factory=_empty, converter=_decimal_map)
    total_exposure: Decimal | None = attrs.field(default=None, converter=_optional_total)
    valuation_rates: Mapping[str, Decimal] = attrs.field(factory=_par_rates, converter=_decimal_map)
    symbol_status: Mapping[str, SymbolStatus] = attrs.field(
        factory=_empty_status, converter=_status_map
    )
    open_total: Decimal = attrs.field(init=False, eq=False, repr=False)
    """`total_exposure`, or the sum of `exposures` when it is None (computed once)."""
    daily_loss: Decimal = attrs.field(init=False, eq=False, repr=False)
    """Today's loss as a positive number (a profit is a negative loss; computed once)."""

    def __attrs_post_init__(self) -> None:
        total = self.total_exposure
        if total is None:
            total = sum(self.exposures.values(), ZERO)
        object.__setattr__(self, "open_total", total)
        object.__setattr__(
            self, "daily_loss", -(self.daily_realized_pnl + self.daily_unrealized_pnl)
        )


Rule: TypeAlias = Callable[[Order, Instrument, RiskSnapshot, ExecutionConfig, bool], Refusal | None]
"""A pre-trade rule: `(order, instrument, snapshot, config, is_exit) -> Refusal | None`."""


def is_exit_order(order: Order, *, is_exit: bool = False) -> bool:
    """Whether the order only reduces risk: flagged as an exit, a stop/TP/exit role, reduce-only."""
    return is_exit or order.role is not _ENTRY or order.reduce_only


def _kind(is_exit: bool) -> str:  # noqa: FBT001 - private
    return "exit" if is_exit else "entry"


# --------------------------------------------------------------------------- the rules
def trading_state_refusal(
    order: Order,
    instrument: Instrument,
    snapshot: RiskSnapshot,
    config: ExecutionConfig,
    is_exit: bool,  # noqa: FBT001 - the uniform rule signature
) -> Refusal | None:
    """HALTED: nothing goes out. REDUCING: exits only."""
    del order, config
    state = snapshot.trading_state
    if state is _HALTED or (state is _REDUCING and not is_exit):
        return TradingNotAllowed(
            symbol=instrument.symbol,
            field="trading_state",
            limit=state.value,
            actual=_kind(is_exit),
        )
    return None


_NO_LIMIT_PRICE: Final = frozenset({OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})


def symbol_status_refusal(
    order: Order,
    instrument: Instrument,
    snapshot: RiskSnapshot,
    config: ExecutionConfig,
    is_exit: bool,  # noqa: FBT001 - the uniform rule signature
) -> Refusal | None:
    """The exchange's pair status: what it would refuse, we refuse first."""
    del config
    symbol = instrument.symbol
    status = snapshot.symbol_status.get(symbol, instrument.status)
    if status is _ONLINE:
        return None
    kind = _kind(is_exit)
    if status is SymbolStatus.CANCEL_ONLY or status is SymbolStatus.DELISTED:
        actual = kind
    elif status is SymbolStatus.POST_ONLY and not order.post_only:
        actual = f"{kind} (not post-only)"
    elif status is SymbolStatus.LIMIT_ONLY and order.order_type in _NO_LIMIT_PRICE:
        actual = f"{kind} {order.order_type.value}"
    elif status is SymbolStatus.REDUCE_ONLY and not is_exit:
        actual = kind
    else:
        return None
    return TradingNotAllowed(
        symbol=symbol, field="symbol_status", limit=status.value, actual=actual
    )


def circuit_breaker_refusal(
    order: Order,
    instrument: Instrument,
    snapshot: RiskSnapshot,
    config: ExecutionConfig,
    is_exit: bool,  # noqa: FBT001 - the uniform rule signature
) -> Refusal | None:
    """An active circuit breaker refuses entries."""
    del order, config
    if snapshot.circuit_breaker_active and not is_exit:
        return CircuitBreakerActive(
            symbol=instrument.symbol, reason=snapshot.circuit_breaker_reason or "no reason given"
        )
    return None


def daily_loss_refusal(
    order: Order,
    instrument: Instrument,
    snapshot: RiskSnapshot,
    config: ExecutionConfig,
    is_exit: bool,  # noqa: FBT001 - the uniform rule signature
) -> Refusal | None:
    """A day's loss beyond `risk.daily_loss_limit` refuses entries (exactly at it is allowed)."""
    del order
    limit = config.risk.daily_loss_limit
    if not is_exit and snapshot.daily_loss > limit:
        return AboveMaximum(
            symbol=instrument.symbol,
            field="daily_loss",
            limit=limit,
            actual=tidy(snapshot.daily_loss),
        )
    return None


def _cost_price(order: Order) -> Decimal | None:
    """The price the exchange reserves at: the limit (or cap), else the trigger, else the market."""
    price = order.price
    if price is None:
        price = order.trigger_price if order.trigger_price is not None else order.reference_price
    return price


def _value_price(order: Order) -> Decimal | None:
    """The price the position will be valued at: the market for a protected market order."""
    if order.order_type is _MARKET and order.reference_price is not None:
        return order.reference_price
    return _cost_price(order)


def balance_refusal(
    order: Order,
    instrument: Instrument,
    snapshot: RiskSnapshot,
    config: ExecutionConfig,
    is_exit: bool,  # noqa: FBT001 - the uniform rule signature
) -> Refusal | None:
    """Enough available funds for an entry, fees included.

    With leverage 1: a buy needs `size x price x (1 + fee)` in quote (the fee in base, `fcib`,
    comes out of the base received instead), a sell needs `size` in base (plus `size x fee` when
    the fee is charged in base). With leverage > 1 the order needs the margin
    `size x price / leverage + fee` in quote. The price is the order's limit (for a protected
    market order its cap): what the exchange reserves. The fee is the taker rate, the maker rate
    for a post-only order.
    """
    del config
    if is_exit:
        return None
    symbol = instrument.symbol
    price = _cost_price(order)
    if price is None:
        return MissingPrice(symbol=symbol, field="price")
    size = order.size
    fee_rate = instrument.maker_fee if order.post_only else instrument.taker_fee
    cost = size * price
    fee_in_quote = order.fee_currency is _QUOTE
    if order.leverage > ONE:
        required = cost / order.leverage + cost * fee_rate
        asset, field = instrument.quote, "margin"
    elif order.side is _BUY:
        required = cost + cost * fee_rate if fee_in_quote else cost
        asset, field = instrument.quote, "balance"
    else:
        required = size if fee_in_quote else size + size * fee_rate
        asset, field = instrument.base, "balance"
    available = snapshot.balances.get(asset, ZERO)
    if available < required:
        return InsufficientBalance(
            symbol=symbol, asset=asset, field=field, limit=tidy(required), actual=available
        )
    return None


def exposure_refusal(
    order: Order,
    instrument: Instrument,
    snapshot: RiskSnapshot,
    config: ExecutionConfig,
    is_exit: bool,  # noqa: FBT001 - the uniform rule signature
) -> Refusal | None:
    """Per-symbol and total exposure after the entry, each at most its limit (at it is allowed)."""
    if is_exit:
        return None
    symbol = instrument.symbol
    price = _value_price(order)
    if price is None:
        return MissingPrice(symbol=symbol, field="price")
    notional = order.size * price
    risk = config.risk
    symbol_limit = risk.max_position_notional_by_symbol.get(symbol, risk.max_position_notional)
    after = snapshot.exposures.get(symbol, ZERO) + notional
    if after > symbol_limit:
        return AboveMaximum(symbol=symbol, field="exposure", limit=symbol_limit, actual=tidy(after))
    rate = snapshot.valuation_rates.get(instrument.quote)
    if rate is None:
        return InvalidValue(
            symbol=symbol,
            field="valuation_rate",
            actual=None,
            reason=f"of {instrument.quote} is unknown, so the total exposure cannot be checked",
        )
    total = snapshot.open_total + notional * rate
    if total > risk.max_total_exposure:
        return AboveMaximum(
            symbol=symbol,
            field="total_exposure",
            limit=risk.max_total_exposure,
            actual=tidy(total),
        )
    return None


PRE_TRADE_RULES: Final[tuple[Rule, ...]] = (
    trading_state_refusal,
    symbol_status_refusal,
    circuit_breaker_refusal,
    daily_loss_refusal,
    balance_refusal,
    exposure_refusal,
)
"""The rules `check_pre_trade` runs, in order."""


def check_pre_trade(
    order: Order,
    instrument: Instrument,
    snapshot: RiskSnapshot,
    config: ExecutionConfig,
    *,
    is_exit: bool = False,
) -> Result[Order, Refusal]:
    """Run every pre-trade rule on `order`: `Success(order)` or the first `Failure(refusal)`.

    >>> from execution_core.domain.instruments import BTC_USDT
    >>> from execution_core.domain.proposals import TradeProposal, plan_order
    >>> config = ExecutionConfig()
    >>> order = plan_order(TradeProposal("BTC/USDT", "buy", 450, entry_price=45000),
    ...                    BTC_USDT, config).unwrap()
    >>> check_pre_trade(order, BTC_USDT, RiskSnapshot(balances={"USDT": 500}), config)
    <Success: Order(...)>
    >>> print(check_pre_trade(order, BTC_USDT, RiskSnapshot(balances={"USDT": 450}), config)
    ...       .failure())
    BTC/USDT: balance of USDT 450 is below the required 451.8
    """
    if order.symbol != instrument.symbol:
        return Failure(
            SymbolMismatch(symbol=instrument.symbol, limit=instrument.symbol, actual=order.symbol)
        )
    exit_ = is_exit or order.role is not _ENTRY or order.reduce_only
    for rule in PRE_TRADE_RULES:
        refusal = rule(order, instrument, snapshot, config, exit_)
        if refusal is not None:
            return Failure(refusal)
    return Success(order)
