"""A pure, synchronous matching engine that behaves like Kraken spot (docs/paper-engine.md).

Rule of this module: nothing here reads a clock, sleeps, does I/O or draws randomness except
from the seeded `random.Random` it was given; every call that can move time takes `now`. The
same seed and the same calls give the same ids and the same results.

It speaks Kraken's vocabulary (AddOrder / AmendOrder / CancelOrder / QueryOrders ...) and
answers with `OrderInfo` / `TradeInfo` records from which both the Exchange port's reports and
Kraken's JSON are built; refusals are `Failure(EngineError(code=<Kraken's exact string>))`.

Matching model, per symbol, at each `set_price(symbol, price, now=..., low=..., high=...)`:
1. GTD orders whose `expiretm <= now` expire; the dead man's switch fires if due.
2. Waiting takers (market orders and marketable limits that ran out of liquidity) execute at
   `price`; a limit that is no longer marketable starts resting.
3. Stop-loss / take-profit triggers crossed by the update's range `[low, high]` fire; they
   execute at the trigger if the range touched it, else (a gap) at `price`.
4. Resting limits crossed by the range fill as makers at their own limit price.
Liquidity caps (per update per symbol, per order) produce partial fills; without caps every
crossing order fills completely.
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Final, assert_never

import attrs
from returns.result import Failure, Result, Success

from adapters.memory.engine_book import (
    ADD_COST,
    AMEND_FIXED_COST,
    IdGenerator,
    Ladder,
    amend_cost,
    cancel_cost,
    seconds,
)
from adapters.memory.engine_types import (
    AddOrderAck,
    AmendAck,
    AmendRequest,
    AssetBalance,
    CancelAck,
    DeadMansSwitch,
    EngineConfig,
    EngineError,
    ErrorCode,
    OFlag,
    OrderInfo,
    OrderRequest,
    Reason,
    TradeInfo,
)
from execution_core.domain.enums import (
    FeeCurrency,
    OrderSide,
    OrderType,
    SymbolStatus,
    TimeInForce,
)
from execution_core.domain.instruments import Instrument
from execution_core.domain.numbers import ONE, ZERO
from execution_core.ports import ReportedStatus

_OPEN: Final = ReportedStatus.OPEN
_CLOSED: Final = ReportedStatus.CLOSED
_CANCELED: Final = ReportedStatus.CANCELED
_EXPIRED: Final = ReportedStatus.EXPIRED
_BUY: Final = OrderSide.BUY
_SELL: Final = OrderSide.SELL
_STOPS: Final = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT})
_TRIGGER_MARKETS: Final = frozenset({OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})
_KNOWN_FLAGS: Final = frozenset(OFlag)
_MAX_DMS_TIMEOUT: Final = 86_400
_INT32: Final = 2**31
_CL_ORD_ID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32}"
    r"|[\x21-\x7e]{1,18}"
)
_DESCR_WORDS: Final = {
    OrderType.MARKET: "market",
    OrderType.LIMIT: "limit",
    OrderType.STOP_LOSS: "stop loss",
    OrderType.TAKE_PROFIT: "take profit",
    OrderType.STOP_LOSS_LIMIT: "stop loss",
    OrderType.TAKE_PROFIT_LIMIT: "take profit",
}


class _Order:
    """One order's mutable state inside the engine; queries see `OrderInfo` snapshots."""

    __slots__ = (
        "cl_ord_id",
        "closetm",
        "cost",
        "descr",
        "expiretm",
        "fee",
        "fee_currency",
        "hold_amount",
        "hold_asset",
        "hold_price",
        "ladder",
        "leverage",
        "market",
        "misc",
        "oflags",
        "opentm",
        "ordertype",
        "post",
        "price",
        "price2",
        "rate_base",
        "reason",
        "reduce_only",
        "seq",
        "side",
        "status",
        "timeinforce",
        "token",
        "trades",
        "triggered",
        "txid",
        "userref",
        "vol",
        "vol_exec",
    )

    def __init__(
        self, *, txid: str, market: _Market, request: OrderRequest, seq: int, now: datetime
    ) -> None:
        self.txid = txid
        self.market = market
        self.side = request.side
        self.ordertype = request.ordertype
        self.vol = request.volume
        self.vol_exec = ZERO
        self.cost = ZERO
        self.fee = ZERO
        flags = request.oflags
        self.fee_currency = FeeCurrency.BASE if OFlag.FCIB in flags else FeeCurrency.QUOTE
        self.post = OFlag.POST in flags
        fee_flag = OFlag.FCIB if self.fee_currency is FeeCurrency.BASE else OFlag.FCIQ
        self.oflags: tuple[str, ...] = (
            (OFlag.POST.value, fee_flag.value) if self.post else (fee_flag.value,)
        )
        self.price = request.price
        self.price2 = request.price2
        self.timeinforce = request.timeinforce
        self.expiretm = request.expiretm
        self.cl_ord_id = request.cl_ord_id
        self.userref = request.userref
        self.leverage = request.leverage
        self.reduce_only = request.reduce_only
        self.status = _OPEN
        self.opentm = now
        self.closetm: datetime | None = None
        self.reason: str | None = None
        self.misc: list[str] = []
        self.trades: list[TradeInfo] = []
        self.triggered = False
        self.seq = seq
        self.token = 0
        self.ladder: Ladder[_Order] | None = None
        self.rate_base = now
        self.hold_asset = (
            market.instrument.quote if request.side is _BUY else market.instrument.base
        )
        self.hold_amount = ZERO
        self.hold_price: Decimal = ZERO
        self.descr = ""

    @property
    def remaining(self) -> Decimal:
        return self.vol - self.vol_exec

    @property
    def limit(self) -> Decimal | None:
        """The price a limit (or a triggered -limit) executes at or better; None for markets."""
        if self.ordertype is OrderType.LIMIT:
            return self.price
        if self.ordertype.has_limit_price:
            return self.price2
        return None


class _Market:
    """One symbol: its instrument, last price, liquidity, ladders, taker queue and rate counter."""

    __slots__ = (
        "_instrument",
        "asks",
        "bids",
        "budget",
        "falling_triggers",
        "open_count",
        "per_order",
        "per_update",
        "price",
        "price_decimals",
        "rate_at",
        "rate_value",
        "rising_triggers",
        "size_decimals",
        "takers",
    )

    def __init__(self, instrument: Instrument, config: EngineConfig) -> None:
        self.instrument = instrument
        self.price: Decimal | None = None
        self.per_update = config.liquidity_per_update
        self.per_order = config.liquidity_per_order
        self.budget = self.per_update
        # Bids fill when the price falls to them, asks when it rises; stop sells and
        # take-profit buys trigger on a fall, stop buys and take-profit sells on a rise.
        self.bids: Ladder[_Order] = Ladder(descending=True)
        self.asks: Ladder[_Order] = Ladder(descending=False)
        self.falling_triggers: Ladder[_Order] = Ladder(descending=True)
        self.rising_triggers: Ladder[_Order] = Ladder(descending=False)
        self.takers: dict[str, _Order] = {}
        self.open_count = 0
        self.rate_value = ZERO
        self.rate_at: datetime | None = None

    @property
    def instrument(self) -> Instrument:
        return self._instrument

    @instrument.setter
    def instrument(self, instrument: Instrument) -> None:
        # Instrument computes its decimals from the tick and lot on every access: cache them.
        self._instrument = instrument
        self.price_decimals = instrument.price_decimals
        self.size_decimals = instrument.size_decimals


class _Account:
    __slots__ = ("held", "total")

    def __init__(self) -> None:
        self.total = ZERO
        self.held = ZERO


class PaperEngine:
    """A Kraken-spot-like matching engine over a controllable price path.

    `instruments` gives the pairs (our symbols, e.g. "BTC/USDT"); `rng` or `seed` the only
    source of randomness (ids). See the module docstring for the matching model and
    docs/paper-engine.md for a walk-through.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        seed: int = 0,
        rng: random.Random | None = None,
        config: EngineConfig | None = None,
    ) -> None:
        self._config = config or EngineConfig()
        self._ids = IdGenerator(rng if rng is not None else random.Random(seed))  # noqa: S311 - ids, not crypto
        self._markets: dict[str, _Market] = {
            i.symbol: _Market(i, self._config) for i in instruments
        }
        self._accounts: dict[str, _Account] = {}
        self._orders: dict[str, _Order] = {}
        self._open: dict[str, _Order] = {}
        self._open_by_clid: dict[str, _Order] = {}
        self._closed: list[_Order] = []
        self._closed_by_clid: dict[str, list[_Order]] = {}
        self._trades: list[TradeInfo] = []
        self._trades_by_id: dict[str, TradeInfo] = {}
        self._expiries: list[tuple[datetime, int, _Order]] = []
        self._fee_override: tuple[Decimal, Decimal] | None = None
        self._symbol_fees: dict[str, tuple[Decimal, Decimal]] = {}
        self._dms_trigger: datetime | None = None
        self._seq = 0
        self._trade_seq = 0

    # ------------------------------------------------------------------ setup
    @property
    def config(self) -> EngineConfig:
        """The engine's configuration."""
        return self._config

    def instrument(self, symbol: str) -> Instrument:
        """The instrument of `symbol` (KeyError for an unknown symbol: a driver bug)."""
        return self._markets[symbol].instrument

    @property
    def symbols(self) -> tuple[str, ...]:
        """The pairs this engine trades."""
        return tuple(self._markets)

    def set_instrument(self, instrument: Instrument) -> None:
        """Add a pair or replace its rules (status, minimums, fees); resting orders stay."""
        market = self._markets.get(instrument.symbol)
        if market is None:
            self._markets[instrument.symbol] = _Market(instrument, self._config)
        else:
            market.instrument = instrument

    def set_pair_status(self, symbol: str, status: SymbolStatus) -> None:
        """Put a pair into `online`, `cancel_only`, `post_only`, `limit_only`, ... mode."""
        market = self._markets[symbol]
        market.instrument = attrs.evolve(market.instrument, status=status)

    def set_fee_rates(self, *, maker: Decimal, taker: Decimal, symbol: str | None = None) -> None:
        """Override the instrument's fee rates (fractions), for one symbol or the whole account."""
        if maker < ZERO or taker < ZERO or maker >= ONE or taker >= ONE:
            msg = f"fee rates must be in [0, 1) (got maker {maker}, taker {taker})"
            raise ValueError(msg)
        if symbol is None:
            self._fee_override = (maker, taker)
        else:
            self._symbol_fees[symbol] = (maker, taker)

    def fee_rates(self, symbol: str) -> tuple[Decimal, Decimal]:
        """(maker, taker) in force for `symbol`: symbol override, account override, instrument."""
        rates = self._symbol_fees.get(symbol) or self._fee_override
        if rates is not None:
            return rates
        instrument = self._markets[symbol].instrument
        return instrument.maker_fee, instrument.taker_fee

    def set_liquidity(
        self, symbol: str, *, per_update: Decimal | None, per_order: Decimal | None
    ) -> None:
        """Cap the base volume one price update can fill on `symbol` in total and per order."""
        market = self._markets[symbol]
        market.per_update = per_update
        market.per_order = per_order
        market.budget = per_update

    def deposit(self, asset: str, amount: Decimal) -> None:
        """Add `amount` (> 0) of `asset` to the account."""
        if amount <= ZERO:
            msg = f"deposit must be > 0 (got {amount})"
            raise ValueError(msg)
        self._account(asset).total += amount

    def set_balance(self, asset: str, total: Decimal) -> None:
        """Set the total of `asset`; it may not drop below what open orders hold."""
        account = self._account(asset)
        if total < account.held:
            msg = f"{asset}: total {total} is below the {account.held} held by open orders"
            raise ValueError(msg)
        account.total = total

    # ------------------------------------------------------------------ reads
    def balance(self, asset: str) -> AssetBalance:
        """One asset's total and held amounts (zero for an asset never seen)."""
        account = self._accounts.get(asset)
        if account is None:
            return AssetBalance(asset=asset, total=ZERO, held=ZERO)
        return AssetBalance(asset=asset, total=account.total, held=account.held)

    def balances(self) -> dict[str, AssetBalance]:
        """Every asset the account has touched, by name."""
        return {asset: self.balance(asset) for asset in sorted(self._accounts)}

    def price(self, symbol: str) -> Decimal | None:
        """The current (last) price of `symbol`, or None before the first `set_price`."""
        return self._markets[symbol].price

    def rate_counter(self, symbol: str, *, now: datetime | None = None) -> Decimal:
        """The pair's matching-engine rate counter, decayed to `now` when given (§9.2)."""
        market = self._markets[symbol]
        if now is None or market.rate_at is None:
            return market.rate_value
        decayed = market.rate_value - self._config.tier.decay_per_second * seconds(
            now - market.rate_at
        )
        return max(decayed, ZERO)

    def open_order_count(self, symbol: str | None = None) -> int:
        """How many orders are open, on one symbol or in total."""
        if symbol is None:
            return len(self._open)
        return self._markets[symbol].open_count

    def dead_mans_switch(self) -> datetime | None:
        """When the dead man's switch will cancel everything (None = disabled)."""
        return self._dms_trigger

    # ------------------------------------------------------------------ time
    def advance(self, now: datetime) -> None:
        """Let time pass to `now`: expire due GTD orders, fire a due dead man's switch."""
        trigger = self._dms_trigger
        if trigger is not None and now >= trigger:
            self._expire_until(trigger)
            self._dms_trigger = None
            for order in list(self._open.values()):
                self._close(order, _CANCELED, Reason.DEAD_MANS_SWITCH, trigger)
        self._expire_until(now)

    def _expire_until(self, now: datetime) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            expiretm, _, order = heapq.heappop(expiries)
            if order.status is _OPEN:
                self._close(order, _EXPIRED, Reason.EXPIRED, expiretm)

    # ------------------------------------------------------------------ prices
    def set_price(
        self,
        symbol: str,
        price: Decimal,
        *,
        now: datetime,
        low: Decimal | None = None,
        high: Decimal | None = None,
    ) -> tuple[TradeInfo, ...]:
        """Move `symbol` to `price` (through `[low, high]` if given) and match; returns the trades.

        Without `low`/`high` the move is a jump: orders between the old and the new price are
        crossed, triggered orders execute at `price` (a gap). With them the path is continuous:
        a trigger inside the range executes at the trigger price.
        """
        self.advance(now)
        market = self._markets[symbol]
        lo = price if low is None else low
        hi = price if high is None else high
        if price <= ZERO or not lo <= price <= hi:
            msg = f"{symbol}: need 0 < low <= price <= high (got {low}, {price}, {high})"
            raise ValueError(msg)
        market.price = price
        market.budget = market.per_update
        first = len(self._trades)
        self._run_takers(market, price, now)
        self._run_triggers(market, lo, hi, price, now)
        self._run_limits(market, lo, hi, now)
        return tuple(self._trades[first:])

    def _run_takers(self, market: _Market, price: Decimal, now: datetime) -> None:
        for order in list(market.takers.values()):
            if order.status is not _OPEN:
                continue
            if _marketable(order.side, order.limit, price):
                if _has_budget(market):
                    self._fill(order, price, maker=False, now=now)
            else:
                del market.takers[order.txid]
                self._rest(order)

    def _run_triggers(
        self, market: _Market, lo: Decimal, hi: Decimal, price: Decimal, now: datetime
    ) -> None:
        fired: list[_Order] = []
        while (order := market.falling_triggers.pop_crossing(lo)) is not None:
            fired.append(order)
        while (order := market.rising_triggers.pop_crossing(hi)) is not None:
            fired.append(order)
        for fired_order in fired:
            trigger = fired_order.price
            assert trigger is not None  # noqa: S101 - triggered types always carry a trigger
            touched = lo <= trigger <= hi
            self._trigger(fired_order, trigger if touched else price, now)

    def _run_limits(self, market: _Market, lo: Decimal, hi: Decimal, now: datetime) -> None:
        for ladder, bound in ((market.bids, lo), (market.asks, hi)):
            carried: list[_Order] = []
            while _has_budget(market):
                order = ladder.pop_crossing(bound)
                if order is None:
                    break
                limit = order.limit
                assert limit is not None  # noqa: S101 - only limit-bearing orders rest here
                self._fill(order, limit, maker=True, now=now)
                if order.status is _OPEN:
                    carried.append(order)
            for order in carried:
                limit = order.limit
                assert limit is not None  # noqa: S101 - as above
                ladder.push(limit, order)

    # ------------------------------------------------------------------ add
    def add_order(
        self, request: OrderRequest, *, now: datetime
    ) -> Result[AddOrderAck, EngineError]:
        """AddOrder: validate, place and match at once what can be matched (kraken-api.md §2)."""
        self.advance(now)
        market = self._markets.get(request.pair)
        if market is None or market.instrument.status is SymbolStatus.DELISTED:
            return Failure(EngineError(ErrorCode.UNKNOWN_PAIR))
        if not request.validate and not self._charge(market, ADD_COST, now):
            return Failure(EngineError(ErrorCode.RATE_LIMIT))
        code = self._check_request(request, market, now)
        if code is not None:
            return Failure(EngineError(code))
        descr = _descr(request, market)
        if request.validate:
            return Success(AddOrderAck(txid=None, descr=descr, order=None))
        code = self._check_engine(request, market)
        if code is not None:
            return Failure(EngineError(code))
        order = self._create(request, market, descr, now)
        self._activate(order, now)
        return Success(AddOrderAck(txid=order.txid, descr=descr, order=self._info(order)))

    def _check_request(self, request: OrderRequest, market: _Market, now: datetime) -> str | None:  # noqa: C901, PLR0911, PLR0912 - one flat list of Kraken's checks
        instrument = market.instrument
        ordertype = request.ordertype
        code = _status_refusal(instrument.status, request)
        if code is not None:
            return code
        if request.cl_ord_id is not None and request.userref is not None:
            return ErrorCode.INVALID_ARGUMENTS
        if request.cl_ord_id is not None and not _CL_ORD_ID.fullmatch(request.cl_ord_id):
            return ErrorCode.invalid_argument("cl_ord_id")
        if request.userref is not None and not -_INT32 <= request.userref < _INT32:
            return ErrorCode.invalid_argument("userref")
        flags = request.oflags
        if not flags <= _KNOWN_FLAGS or {OFlag.FCIB, OFlag.FCIQ} <= flags:
            return ErrorCode.invalid_argument("oflags")
        if OFlag.POST in flags and ordertype is not OrderType.LIMIT:
            return ErrorCode.invalid_argument("oflags")
        if OFlag.VIQC in flags:
            return ErrorCode.invalid_argument("viqc")
        volume = request.volume
        if volume <= ZERO or _decimals(volume) > market.size_decimals:
            return ErrorCode.invalid_argument("volume")
        if volume % instrument.lot_size:
            return ErrorCode.invalid_argument("volume")
        if ordertype is not OrderType.MARKET:
            code = _price_refusal(request.price, "price", market)
            if code is not None:
                return code
        if ordertype in {OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT}:
            code = _price_refusal(request.price2, "price2", market)
            if code is not None:
                return code
        if request.timeinforce is TimeInForce.GTD and request.expiretm is None:
            return ErrorCode.invalid_argument("expiretm")
        if request.expiretm is not None and request.expiretm <= now:
            return ErrorCode.invalid_argument("expiretm")
        if request.leverage is not None and not ONE < request.leverage <= instrument.max_leverage:
            return ErrorCode.invalid_argument("leverage")
        if volume < instrument.min_size:
            return ErrorCode.ORDER_MINIMUM
        reference = _reference_price(request, market.price)
        if reference is not None and reference * volume < instrument.min_cost:
            return ErrorCode.COST_MINIMUM
        return None

    def _check_engine(self, request: OrderRequest, market: _Market) -> str | None:
        if market.open_count >= self._config.tier.max_open_orders:
            return ErrorCode.ORDERS_LIMIT
        if request.cl_ord_id is not None and request.cl_ord_id in self._open_by_clid:
            return self._config.duplicate_cl_ord_id_error
        if request.ordertype is OrderType.MARKET and market.price is None:
            return ErrorCode.UNAVAILABLE
        hold_price = _hold_price(request.ordertype, request.price, request.price2, market.price)
        needed = self._hold_needed(
            market, request.side, _fee_currency(request.oflags), hold_price, request.volume
        )
        asset = market.instrument.quote if request.side is _BUY else market.instrument.base
        if needed > self._available(asset):
            return ErrorCode.INSUFFICIENT_FUNDS
        return None

    def _create(self, request: OrderRequest, market: _Market, descr: str, now: datetime) -> _Order:
        self._seq += 1
        order = _Order(
            txid=self._ids.next("O"), market=market, request=request, seq=self._seq, now=now
        )
        order.descr = descr
        order.hold_price = _hold_price(order.ordertype, order.price, order.price2, market.price)
        self._orders[order.txid] = order
        self._open[order.txid] = order
        market.open_count += 1
        if order.cl_ord_id is not None:
            self._open_by_clid[order.cl_ord_id] = order
        if order.expiretm is not None:
            heapq.heappush(self._expiries, (order.expiretm, order.seq, order))
        self._hold(order)
        return order

    def _activate(self, order: _Order, now: datetime) -> None:
        """Put a new (or re-priced) order to work: execute, rest, or wait for its trigger."""
        market = order.market
        if order.ordertype.is_triggered and not order.triggered:
            trigger = order.price
            assert trigger is not None  # noqa: S101 - validated on add
            price = market.price
            if price is not None and _trigger_crossed(order, trigger, price):
                self._trigger(order, price, now)
            elif _falls_to(order):
                market.falling_triggers.push(trigger, order)
            else:
                market.rising_triggers.push(trigger, order)
            return
        self._execute(order, market.price, now)

    def _trigger(self, order: _Order, price: Decimal, now: datetime) -> None:
        order.triggered = True
        order.misc.append("stopped" if order.ordertype in _STOPS else "touched")
        if not self._config.hold_untriggered:
            needed = self._hold_for(order, order.remaining)
            if needed > self._available(order.hold_asset):
                self._close(order, _CANCELED, Reason.INSUFFICIENT_FUNDS, now)
                return
        self._hold(order)
        self._execute(order, price, now)

    def _execute(self, order: _Order, price: Decimal | None, now: datetime) -> None:
        """Execute an active order against `price`: take what is marketable, then rest or cancel."""
        market = order.market
        limit = order.limit
        marketable = price is not None and _marketable(order.side, limit, price)
        if marketable and order.post:
            self._close(order, _CANCELED, Reason.POST_ONLY, now)
            return
        if marketable:
            assert price is not None  # noqa: S101 - marketable implies a price
            self._fill(order, price, maker=False, now=now)
        if order.status is not _OPEN:
            return
        if order.timeinforce is TimeInForce.IOC:
            self._close(order, _CANCELED, Reason.IOC_REMAINDER, now)
        elif marketable:
            market.takers[order.txid] = order
        else:
            self._rest(order)

    def _rest(self, order: _Order) -> None:
        limit = order.limit
        if limit is None:  # a market order with no price to execute at waits as a taker
            order.market.takers[order.txid] = order
            return
        ladder = order.market.bids if order.side is _BUY else order.market.asks
        ladder.push(limit, order)

    # ------------------------------------------------------------------ amend
    def amend_order(self, request: AmendRequest, *, now: datetime) -> Result[AmendAck, EngineError]:
        """AmendOrder: change quantity, limit or trigger in place; ids and fills stay (§3.1)."""
        self.advance(now)
        if (request.txid is None) == (request.cl_ord_id is None):
            return Failure(EngineError(ErrorCode.INVALID_ARGUMENTS))
        if request.txid is not None:
            order = self._open.get(request.txid)
            known = self._orders.get(request.txid)
        else:
            order = self._open_by_clid.get(request.cl_ord_id or "")
            known = order
        if order is None:
            if known is not None:  # a closed order still names its pair: the fixed cost counts
                self._charge(known.market, AMEND_FIXED_COST, now)
            return Failure(EngineError(ErrorCode.UNKNOWN_ORDER))
        if not self._charge(order.market, amend_cost(seconds(now - order.rate_base)), now):
            return Failure(EngineError(ErrorCode.RATE_LIMIT))
        code = self._check_amend(order, request)
        if code is not None:
            return Failure(EngineError(code))
        if "amended" not in order.misc:
            order.misc.append("amended")
        order.rate_base = now
        amend_id = self._ids.next("T")
        new_qty = request.order_qty
        if new_qty is not None and new_qty <= order.vol_exec:
            self._close(order, _CANCELED, Reason.AMENDED_BELOW_EXECUTED, now)
            return Success(AmendAck(amend_id=amend_id, order=self._info(order)))
        self._apply_amend(order, request, now)
        return Success(AmendAck(amend_id=amend_id, order=self._info(order)))

    def _check_amend(self, order: _Order, request: AmendRequest) -> str | None:  # noqa: C901, PLR0911, PLR0912 - one flat list of checks
        instrument = order.market.instrument
        if instrument.status is SymbolStatus.CANCEL_ONLY:
            return ErrorCode.market_mode(SymbolStatus.CANCEL_ONLY)
        if (
            request.order_qty is None
            and request.limit_price is None
            and request.trigger_price is None
        ):
            return ErrorCode.INVALID_ARGUMENTS
        if request.limit_price is not None:
            if not order.ordertype.has_limit_price:
                return ErrorCode.invalid_argument("limit_price")
            code = _price_refusal(request.limit_price, "limit_price", order.market)
            if code is not None:
                return code
        if request.trigger_price is not None:
            if not order.ordertype.is_triggered or order.triggered:
                return ErrorCode.invalid_argument("trigger_price")
            code = _price_refusal(request.trigger_price, "trigger_price", order.market)
            if code is not None:
                return code
        qty = request.order_qty
        if qty is not None:
            if (
                qty <= ZERO
                or _decimals(qty) > order.market.size_decimals
                or qty % instrument.lot_size
            ):
                return ErrorCode.invalid_argument("order_qty")
            if qty <= order.vol_exec:
                return None
            if qty < instrument.min_size:
                return ErrorCode.ORDER_MINIMUM
        price, price2 = _amended_prices(order, request)
        active = not order.ordertype.is_triggered or order.triggered
        limit = price if order.ordertype is OrderType.LIMIT else price2
        current = order.market.price
        if (
            request.limit_price is not None
            and active
            and (request.post_only or order.post)
            and current is not None
            and _marketable(order.side, limit, current)
        ):
            return ErrorCode.POST_ONLY_AMEND
        # Funds are checked as the order is held: an amendment needs only what its new hold adds.
        # An order that holds nothing now (an untriggered stop, hold_untriggered=False) needs
        # nothing (it is funded when it triggers), and a smaller quantity at the same prices
        # never needs more, whatever the fee rates did since the order was placed.
        if not self._holds_funds(order):
            return None
        if qty is not None and qty < order.vol and (price, price2) == (order.price, order.price2):
            return None
        hold_price = (
            order.hold_price
            if order.ordertype is OrderType.MARKET
            else _hold_price(order.ordertype, price, price2, current)
        )
        needed = self._hold_needed(
            order.market,
            order.side,
            order.fee_currency,
            hold_price,
            (qty if qty is not None else order.vol) - order.vol_exec,
        )
        if needed - order.hold_amount > self._available(order.hold_asset):
            return ErrorCode.INSUFFICIENT_FUNDS
        return None

    def _apply_amend(self, order: _Order, request: AmendRequest, now: datetime) -> None:
        price, price2 = _amended_prices(order, request)
        repriced = price != order.price or price2 != order.price2
        grown = request.order_qty is not None and request.order_qty > order.vol
        if request.order_qty is not None:
            order.vol = request.order_qty
        order.price = price
        order.price2 = price2
        if order.ordertype is not OrderType.MARKET:
            order.hold_price = _hold_price(order.ordertype, price, price2, order.market.price)
        if not (repriced or grown):  # a smaller quantity keeps its place in the queue
            # and never holds more than it did (even if the fee rates rose since)
            self._set_hold(order, min(self._hold_for(order, order.remaining), order.hold_amount))
            return
        if order.ladder is not None:
            order.ladder.remove(order)
        order.market.takers.pop(order.txid, None)
        self._seq += 1
        order.seq = self._seq
        self._hold(order)
        self._activate(order, now)

    # ------------------------------------------------------------------ cancel
    def cancel_order(
        self,
        *,
        now: datetime,
        txid: str | None = None,
        cl_ord_id: str | None = None,
        userref: int | None = None,
    ) -> Result[CancelAck, EngineError]:
        """CancelOrder by txid, cl_ord_id, or userref (every open order with it) (§4)."""
        self.advance(now)
        if sum(key is not None for key in (txid, cl_ord_id, userref)) != 1:
            return Failure(EngineError(ErrorCode.INVALID_ARGUMENTS))
        targets: list[_Order]
        if txid is not None:
            targets = [self._open[txid]] if txid in self._open else []
        elif cl_ord_id is not None:
            targets = [self._open_by_clid[cl_ord_id]] if cl_ord_id in self._open_by_clid else []
        else:
            targets = [o for o in self._open.values() if o.userref == userref]
        if not targets:
            return Failure(EngineError(ErrorCode.UNKNOWN_ORDER))
        within = [
            self._charge(o.market, cancel_cost(seconds(now - o.rate_base)), now) for o in targets
        ]
        if self._config.reject_cancels_over_limit and not all(within):
            return Failure(EngineError(ErrorCode.RATE_LIMIT))
        for order in targets:
            self._close(order, _CANCELED, Reason.USER_REQUESTED, now)
        return Success(CancelAck(count=len(targets), txids=tuple(o.txid for o in targets)))

    def cancel_all(self, *, now: datetime) -> CancelAck:
        """CancelAll: every open order, triggered or not, each paying its cancel cost."""
        self.advance(now)
        targets = list(self._open.values())
        for order in targets:
            self._charge(order.market, cancel_cost(seconds(now - order.rate_base)), now)
            self._close(order, _CANCELED, Reason.USER_REQUESTED, now)
        return CancelAck(count=len(targets), txids=tuple(o.txid for o in targets))

    def cancel_all_after(
        self, timeout: int, *, now: datetime
    ) -> Result[DeadMansSwitch, EngineError]:
        """CancelAllOrdersAfter: cancel everything at now + timeout unless renewed; 0 disables."""
        self.advance(now)
        if not 0 <= timeout < _MAX_DMS_TIMEOUT:
            return Failure(EngineError(ErrorCode.invalid_argument("timeout")))
        self._dms_trigger = now + timedelta(seconds=timeout) if timeout else None
        return Success(DeadMansSwitch(current_time=now, trigger_time=self._dms_trigger))

    # ------------------------------------------------------------------ queries
    def query_orders(
        self, txids: Iterable[str], *, now: datetime | None = None
    ) -> Result[dict[str, OrderInfo], EngineError]:
        """QueryOrders: the named orders, open or closed; any unknown txid refuses the batch."""
        if now is not None:
            self.advance(now)
        wanted = list(dict.fromkeys(txids))
        if not wanted or len(wanted) > self._config.max_query_txids:
            return Failure(EngineError(ErrorCode.INVALID_ARGUMENTS))
        found: dict[str, OrderInfo] = {}
        for txid in wanted:
            order = self._orders.get(txid)
            if order is None:
                return Failure(EngineError(ErrorCode.UNKNOWN_ORDER))
            found[txid] = self._info(order)
        return Success(found)

    def fill_against(
        self, txid: str, volume: Decimal, *, price: Decimal, maker: bool = True, now: datetime
    ) -> Result[TradeInfo, EngineError]:
        """Another trader's order hits open order `txid` for `volume` at `price`.

        The liquidity caps do not apply to this one trade; holds, balances, fees and the trade
        log move exactly as for any fill. For simulating races, such as a fill that lands just
        before a cancel. A volume below one lot, or one the account cannot settle, fills nothing.
        """
        order = self._orders.get(txid)
        if order is None or order.status is not _OPEN:
            return Failure(EngineError(ErrorCode.UNKNOWN_ORDER))
        market = order.market
        saved = market.per_order, market.budget
        market.per_order, market.budget = min(volume, order.remaining), None
        try:
            filled = self._fill(order, price, maker=maker, now=now)
        finally:
            market.per_order, market.budget = saved
        if filled <= ZERO:
            return Failure(EngineError(ErrorCode.invalid_argument("volume")))
        return Success(order.trades[-1])

    def order(self, txid: str) -> OrderInfo | None:
        """One order by txid, open or closed."""
        order = self._orders.get(txid)
        return None if order is None else self._info(order)

    def open_orders(
        self,
        *,
        userref: int | None = None,
        cl_ord_id: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, OrderInfo]:
        """OpenOrders (untriggered stops included), oldest first, optionally filtered."""
        if now is not None:
            self.advance(now)
        if cl_ord_id is not None:
            order = self._open_by_clid.get(cl_ord_id)
            orders: Iterable[_Order] = () if order is None else (order,)
        else:
            orders = self._open.values()
        return {o.txid: self._info(o) for o in orders if userref is None or o.userref == userref}

    def closed_orders(
        self,
        *,
        userref: int | None = None,
        cl_ord_id: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        now: datetime | None = None,
    ) -> dict[str, OrderInfo]:
        """ClosedOrders (closed, canceled, expired): latest first, filtered and paged."""
        if now is not None:
            self.advance(now)
        source = self._closed_by_clid.get(cl_ord_id, []) if cl_ord_id is not None else self._closed
        matching: Iterator[_Order] = (
            o for o in reversed(source) if userref is None or o.userref == userref
        )
        stop = None if limit is None else offset + limit
        return {o.txid: self._info(o) for o in itertools.islice(matching, offset, stop)}

    def closed_count(self) -> int:
        """How many orders are closed, canceled or expired."""
        return len(self._closed)

    def find_order(self, cl_ord_id: str, *, now: datetime | None = None) -> OrderInfo | None:
        """The order with this client id: the open one, else the most recently closed one."""
        if now is not None:
            self.advance(now)
        order = self._open_by_clid.get(cl_ord_id)
        if order is None:
            closed = self._closed_by_clid.get(cl_ord_id)
            order = closed[-1] if closed else None
        return None if order is None else self._info(order)

    def query_trades(self, txids: Iterable[str]) -> Result[dict[str, TradeInfo], EngineError]:
        """QueryTrades: the named trades; an unknown id refuses the batch."""
        wanted = list(dict.fromkeys(txids))
        if not wanted or len(wanted) > self._config.max_query_txids:
            return Failure(EngineError(ErrorCode.INVALID_ARGUMENTS))
        found: dict[str, TradeInfo] = {}
        for txid in wanted:
            trade = self._trades_by_id.get(txid)
            if trade is None:
                return Failure(EngineError(ErrorCode.invalid_argument("txid")))
            found[txid] = trade
        return Success(found)

    def trade(self, txid: str) -> TradeInfo | None:
        """One trade by its id."""
        return self._trades_by_id.get(txid)

    def trades_history(self, *, offset: int = 0, limit: int | None = None) -> tuple[TradeInfo, ...]:
        """TradesHistory: every trade, newest first, paged."""
        stop = None if limit is None else offset + limit
        return tuple(itertools.islice(reversed(self._trades), offset, stop))

    def trade_count(self) -> int:
        """How many trades the account has made."""
        return len(self._trades)

    # ------------------------------------------------------------------ fills
    def _fill(self, order: _Order, price: Decimal, *, maker: bool, now: datetime) -> Decimal:
        """Execute as much of `order` at `price` as liquidity allows; returns the volume filled."""
        market = order.market
        instrument = market.instrument
        qty = order.remaining
        if market.per_order is not None and market.per_order < qty:
            qty = market.per_order
        if market.budget is not None and market.budget < qty:
            qty = market.budget
        qty = (qty / instrument.lot_size).to_integral_value(ROUND_FLOOR) * instrument.lot_size
        if qty <= ZERO:
            return ZERO
        maker_rate, taker_rate = self.fee_rates(instrument.symbol)
        rate = maker_rate if maker else taker_rate
        cost = qty * price
        base = self._account(instrument.base)
        quote = self._account(instrument.quote)
        buy = order.side is _BUY
        if order.fee_currency is FeeCurrency.BASE:
            fee = self._round_fee(qty * rate)
            base_delta = qty - fee if buy else -(qty + fee)
            quote_delta = -cost if buy else cost
        else:
            fee = self._round_fee(cost * rate)
            base_delta = qty if buy else -qty
            quote_delta = -(cost + fee) if buy else cost - fee
        new_hold = self._hold_for(order, order.remaining - qty)
        release = order.hold_amount - new_hold
        base_release = ZERO if buy else release
        quote_release = release if buy else ZERO
        if (
            base.total + base_delta < base.held - base_release
            or quote.total + quote_delta < quote.held - quote_release
        ):
            self._close(order, _CANCELED, Reason.INSUFFICIENT_FUNDS, now)
            return ZERO
        base.total += base_delta
        quote.total += quote_delta
        self._set_hold(order, new_hold)
        order.vol_exec += qty
        order.cost += cost
        order.fee += fee
        if market.budget is not None:
            market.budget -= qty
        self._trade_seq += 1
        trade = TradeInfo(
            txid=self._ids.next("T"),
            ordertxid=order.txid,
            pair=instrument.symbol,
            side=order.side,
            ordertype=order.ordertype,
            price=price,
            vol=qty,
            cost=cost,
            fee=fee,
            fee_currency=order.fee_currency,
            maker=maker,
            time=now,
            trade_id=self._trade_seq,
        )
        order.trades.append(trade)
        self._trades.append(trade)
        self._trades_by_id[trade.txid] = trade
        if order.vol_exec >= order.vol:
            self._close(order, _CLOSED, None, now)
        return qty

    def _round_fee(self, fee: Decimal) -> Decimal:
        return _round(fee, self._config.fee_decimals, ROUND_HALF_UP)

    # ------------------------------------------------------------------ holds
    def _account(self, asset: str) -> _Account:
        account = self._accounts.get(asset)
        if account is None:
            account = self._accounts[asset] = _Account()
        return account

    def _available(self, asset: str) -> Decimal:
        account = self._accounts.get(asset)
        return ZERO if account is None else account.total - account.held

    def _hold_needed(
        self,
        market: _Market,
        side: OrderSide,
        fee_currency: FeeCurrency,
        hold_price: Decimal,
        remaining: Decimal,
    ) -> Decimal:
        """What an order holds: quote (+ the worst fee) for a buy, base (+ base fee) for a sell."""
        if remaining <= ZERO:
            return ZERO
        rate = max(self.fee_rates(market.instrument.symbol))
        places = self._config.fee_decimals
        if side is _BUY:
            notional = remaining * hold_price
            if fee_currency is FeeCurrency.BASE:
                return notional
            return notional + _round(notional * rate, places, ROUND_CEILING)
        if fee_currency is FeeCurrency.BASE:
            return remaining + _round(remaining * rate, places, ROUND_CEILING)
        return remaining

    def _holds_funds(self, order: _Order) -> bool:
        """Whether the order holds funds now: open, and not an untriggered stop left unfunded."""
        if order.status is not _OPEN:
            return False
        return not (
            order.ordertype.is_triggered
            and not order.triggered
            and not self._config.hold_untriggered
        )

    def _hold_for(self, order: _Order, remaining: Decimal) -> Decimal:
        if not self._holds_funds(order):
            return ZERO
        return self._hold_needed(
            order.market, order.side, order.fee_currency, order.hold_price, remaining
        )

    def _hold(self, order: _Order) -> None:
        self._set_hold(order, self._hold_for(order, order.remaining))

    def _set_hold(self, order: _Order, amount: Decimal) -> None:
        if amount != order.hold_amount:
            account = self._account(order.hold_asset)
            account.held += amount - order.hold_amount
            if not account.held:
                account.held = ZERO  # not Decimal('0E-8'): an idle balance reads as plain 0
            order.hold_amount = amount

    # ------------------------------------------------------------------ close
    def _close(
        self, order: _Order, status: ReportedStatus, reason: str | None, now: datetime
    ) -> None:
        market = order.market
        order.status = status
        order.closetm = now
        order.reason = reason
        if order.ladder is not None:
            order.ladder.remove(order)
        market.takers.pop(order.txid, None)
        self._set_hold(order, ZERO)
        del self._open[order.txid]
        market.open_count -= 1
        if order.cl_ord_id is not None:
            if self._open_by_clid.get(order.cl_ord_id) is order:
                del self._open_by_clid[order.cl_ord_id]
            self._closed_by_clid.setdefault(order.cl_ord_id, []).append(order)
        self._closed.append(order)

    # ------------------------------------------------------------------ rate counter
    def _charge(self, market: _Market, cost: Decimal, now: datetime) -> bool:
        """Add `cost` to the pair's counter (decayed to `now`); False if now over the threshold."""
        tier = self._config.tier
        value = market.rate_value
        if market.rate_at is not None:
            value = max(value - tier.decay_per_second * seconds(now - market.rate_at), ZERO)
            now = max(now, market.rate_at)
        market.rate_value = value + cost
        market.rate_at = now
        return not (self._config.enforce_rate_limit and market.rate_value > tier.threshold)

    # ------------------------------------------------------------------ snapshots
    def _info(self, order: _Order) -> OrderInfo:
        instrument = order.market.instrument
        return OrderInfo(
            txid=order.txid,
            pair=instrument.symbol,
            exchange_pair=instrument.exchange_symbol,
            side=order.side,
            ordertype=order.ordertype,
            status=order.status,
            vol=order.vol,
            vol_exec=order.vol_exec,
            cost=order.cost,
            fee=order.fee,
            fee_currency=order.fee_currency,
            price=order.price,
            price2=order.price2,
            timeinforce=order.timeinforce,
            opentm=order.opentm,
            closetm=order.closetm,
            expiretm=order.expiretm,
            reason=order.reason,
            misc=tuple(order.misc),
            oflags=order.oflags,
            cl_ord_id=order.cl_ord_id,
            userref=order.userref,
            leverage=order.leverage,
            reduce_only=order.reduce_only,
            triggered=order.triggered,
            descr=order.descr,
            trades=tuple(order.trades),
        )


# --------------------------------------------------------------------------- rules
def _marketable(side: OrderSide, limit: Decimal | None, price: Decimal) -> bool:
    """Whether an order with `limit` (None = market) takes liquidity at `price`."""
    if limit is None:
        return True
    return limit >= price if side is _BUY else limit <= price


def _has_budget(market: _Market) -> bool:
    return market.budget is None or market.budget >= market.instrument.lot_size


def _falls_to(order: _Order) -> bool:
    """Whether the trigger fires on a falling price: stop-loss sells and take-profit buys."""
    return (order.side is _SELL) == (order.ordertype in _STOPS)


def _trigger_crossed(order: _Order, trigger: Decimal, price: Decimal) -> bool:
    return price <= trigger if _falls_to(order) else price >= trigger


def _status_refusal(status: SymbolStatus, request: OrderRequest) -> str | None:
    """The answer of a pair that is not `online` to a new order, or None if it accepts it."""
    match status:
        case SymbolStatus.ONLINE:
            return None
        case SymbolStatus.CANCEL_ONLY | SymbolStatus.DELISTED:
            return ErrorCode.market_mode(SymbolStatus.CANCEL_ONLY)
        case SymbolStatus.POST_ONLY:
            accepted = request.ordertype is OrderType.LIMIT and OFlag.POST in request.oflags
        case SymbolStatus.LIMIT_ONLY:
            accepted = request.ordertype is OrderType.LIMIT
        case SymbolStatus.REDUCE_ONLY:
            accepted = request.reduce_only
        case _:  # pragma: no cover - exhaustive
            assert_never(status)
    return None if accepted else ErrorCode.market_mode(status)


def _price_refusal(price: Decimal | None, field: str, market: _Market) -> str | None:
    if price is None or price <= ZERO:
        return ErrorCode.invalid_argument(field)
    if _decimals(price) > market.price_decimals:
        return ErrorCode.price_decimals(market.instrument.exchange_symbol, market.price_decimals)
    if price % market.instrument.tick_size:
        return ErrorCode.TICK_SIZE
    return None


def _round(value: Decimal, places: int, rounding: str) -> Decimal:
    """`value` rounded to `places` decimals, without trailing zeros.

    >>> _round(Decimal("1.225"), 2, ROUND_HALF_UP), _round(Decimal("1.225"), 8, ROUND_HALF_UP)
    (Decimal('1.23'), Decimal('1.225'))
    """
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -places:
        value = value.quantize(Decimal(1).scaleb(-places), rounding)
    return _tidy(value)


def _tidy(value: Decimal) -> Decimal:
    """`value` without trailing fractional zeros (1.2250 -> 1.225, 2.00 -> 2; never 1E+2)."""
    if value == value.to_integral_value():
        return value.quantize(ONE)
    return value.normalize()


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _reference_price(request: OrderRequest, current: Decimal | None) -> Decimal | None:
    """The price the cost minimum is checked at: the limit, the trigger, or the market."""
    if request.ordertype is OrderType.MARKET:
        return current
    if request.ordertype is OrderType.LIMIT:
        return request.price
    if request.ordertype.has_limit_price:
        return request.price2
    return request.price


def _hold_price(
    ordertype: OrderType, price: Decimal | None, price2: Decimal | None, current: Decimal | None
) -> Decimal:
    """The price a buy's hold is computed at: its limit, its trigger, or the market."""
    match ordertype:
        case OrderType.MARKET:
            chosen = current
        case OrderType.LIMIT | OrderType.STOP_LOSS | OrderType.TAKE_PROFIT:
            chosen = price
        case OrderType.STOP_LOSS_LIMIT | OrderType.TAKE_PROFIT_LIMIT:
            chosen = price2
        case _:  # pragma: no cover - exhaustive
            assert_never(ordertype)
    return ZERO if chosen is None else chosen


def _amended_prices(order: _Order, request: AmendRequest) -> tuple[Decimal | None, Decimal | None]:
    """(price, price2) after an amend: the limit goes to `price` of a limit, else to `price2`."""
    price, price2 = order.price, order.price2
    if request.trigger_price is not None:
        price = request.trigger_price
    if request.limit_price is not None:
        if order.ordertype is OrderType.LIMIT:
            price = request.limit_price
        else:
            price2 = request.limit_price
    return price, price2


def _fee_currency(flags: frozenset[str]) -> FeeCurrency:
    return FeeCurrency.BASE if OFlag.FCIB in flags else FeeCurrency.QUOTE


def _descr(request: OrderRequest, market: _Market) -> str:
    """Kraken's `descr.order`: `buy 0.01000000 XBTUSDT @ stop loss 49000.0 -> limit 48900.0`."""

    def fmt(price: Decimal | None) -> str:
        return "" if price is None else f"{price:.{market.price_decimals}f}"

    words = _DESCR_WORDS[request.ordertype]
    if request.ordertype is not OrderType.MARKET:
        words = f"{words} {fmt(request.price)}"
    if request.ordertype in {OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT}:
        words = f"{words} -> limit {fmt(request.price2)}"
    text = (
        f"{request.side} {request.volume:.{market.size_decimals}f} "
        f"{market.instrument.exchange_symbol} @ {words}"
    )
    if request.leverage is not None:
        text = f"{text} with {request.leverage}:1 leverage"
    return text
