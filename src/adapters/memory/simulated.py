"""`SimulatedExchange`: the Exchange port over the paper engine (docs/simulated-exchange.md).

Rule of this module: it is a thin, asynchronous shell. Matching, balances, fees, refusals and the
rate counter are `PaperEngine`'s; this module maps our `Order` to Kraken's AddOrder fields (the
same price / price2 semantics as the Kraken adapter's `encode_order`), reads the time from the
injected `Clock`, classifies the engine's Kraken error strings with the Kraken adapter's own
catalogue (so both adapters fail identically), counts every call, and lets `Faults` (see
faults.py) break calls and distort reports, deterministically.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Final, TypeVar, assert_never

import attrs
from returns.result import Failure, Result, Success

from adapters.kraken.errors import classify_error
from adapters.memory.clock import SystemClock
from adapters.memory.engine import PaperEngine
from adapters.memory.engine_types import (
    AmendRequest,
    EngineConfig,
    EngineError,
    ErrorCode,
    OFlag,
    OrderInfo,
    OrderRequest,
    TradeInfo,
)
from adapters.memory.faults import WRITES, ExchangeMethod, Fault, Faults
from execution_core.domain.enums import FeeCurrency, OrderType, SymbolStatus, TimeInForce
from execution_core.domain.instruments import Instrument, default_instruments
from execution_core.domain.numbers import ONE, ZERO, DecimalLike, to_decimal, to_optional_decimal
from execution_core.domain.orders import Order
from execution_core.ports import (
    Amendment,
    Balance,
    Clock,
    Exchange,
    ExchangeFailure,
    OrderReport,
    Placement,
    ReportedStatus,
    TradeReport,
)

_T = TypeVar("_T")
_M: Final = ExchangeMethod


# --------------------------------------------------------------------------- mapping
def _invalid(field: str, why: str) -> Failure[ExchangeFailure]:
    failure = classify_error(ErrorCode.invalid_argument(field))
    return Failure(attrs.evolve(failure, message=why))


def _engine_failure(error: EngineError) -> ExchangeFailure:
    return classify_error(error.code)


_Prices = tuple[OrderType, TimeInForce, Decimal | None, Decimal | None]


def _prices(order: Order) -> Result[_Prices, ExchangeFailure]:  # noqa: PLR0911 - one answer per order type
    """(ordertype, timeinforce, price, price2) of `order` per kraken-api.md §2.2."""
    kind = order.order_type
    time_in_force = order.time_in_force
    match kind:
        case OrderType.MARKET:
            if order.trigger_price is not None:
                return _invalid("trigger_price", "a market order has no trigger")
            if order.price is not None:  # protected: a limit that fills or dies at once
                return Success((OrderType.LIMIT, TimeInForce.IOC, order.price, None))
            return Success((kind, time_in_force, None, None))
        case OrderType.LIMIT:
            if order.trigger_price is not None:
                return _invalid("trigger_price", "a limit order has no trigger")
            return Success((kind, time_in_force, order.price, None))
        case OrderType.STOP_LOSS | OrderType.TAKE_PROFIT:
            if order.price is not None:
                return _invalid("price2", f"a {kind} order has no limit; use {kind}-limit")
            return Success((kind, time_in_force, order.trigger_price, None))
        case OrderType.STOP_LOSS_LIMIT | OrderType.TAKE_PROFIT_LIMIT:
            return Success((kind, time_in_force, order.trigger_price, order.price))
        case _:  # pragma: no cover - mypy checks exhaustiveness
            assert_never(kind)


def order_request(order: Order) -> Result[OrderRequest, ExchangeFailure]:
    """AddOrder's fields for `order`, as the Kraken adapter sends them (kraken-api.md §2.2).

    A protected market order (a market order with a cap in `price`) goes out as a `limit` +
    `IOC` at the cap; `stop-loss` / `take-profit` carry `trigger_price` in `price`; the `-limit`
    variants carry the trigger in `price` and `order.price` in `price2`; `cl_ord_id` is the
    client order id; the fee currency is always explicit (`fciq` / `fcib`); a GTD expiry is
    rounded down to the whole second. A price the order type cannot carry is refused as
    `EGeneral:Invalid arguments:<field>` (NEVER) instead of being dropped.

    >>> from execution_core.domain.enums import OrderSide
    >>> stop = Order(id="o-1", client_order_id="sl-1", symbol="BTC/USDT", side=OrderSide.SELL,
    ...              order_type=OrderType.STOP_LOSS_LIMIT, size=Decimal("0.01"),
    ...              trigger_price=Decimal("44500"), price=Decimal("44400.5"))
    >>> request = order_request(stop).unwrap()
    >>> request.ordertype, request.price, request.price2, sorted(request.oflags)
    (<OrderType.STOP_LOSS_LIMIT: 'stop-loss-limit'>, Decimal('44500'), Decimal('44400.5'), ['fciq'])
    """
    prices = _prices(order)
    if isinstance(prices, Failure):
        return prices
    ordertype, time_in_force, price, price2 = prices.unwrap()
    expiretm: datetime | None = None
    if time_in_force is TimeInForce.GTD and order.expires_at is not None:
        if order.expires_at.utcoffset() is None:
            return _invalid("expiretm", "expires_at must be timezone-aware")
        expiretm = order.expires_at.replace(microsecond=0)
    flags = [OFlag.FCIB.value if order.fee_currency is FeeCurrency.BASE else OFlag.FCIQ.value]
    if order.post_only:
        flags.append(OFlag.POST.value)
    return Success(
        OrderRequest(
            pair=order.symbol,
            side=order.side,
            ordertype=ordertype,
            volume=order.size,
            price=price,
            price2=price2,
            timeinforce=time_in_force,
            expiretm=expiretm,
            cl_ord_id=order.client_order_id,
            oflags=frozenset(flags),
            reduce_only=order.reduce_only,
            leverage=None if order.leverage == ONE else order.leverage,
        )
    )


def _fill_price(order: OrderInfo, market_price: Decimal | None) -> tuple[Decimal | None, bool]:
    """Where an outside trade meets `order`: (price, maker)."""
    if order.ordertype.is_triggered and not order.triggered:
        return order.trigger_price, False
    if order.limit_price is not None:
        return order.limit_price, True
    return market_price, False


def _outside_fill(
    engine: PaperEngine, txid: str, fraction: Decimal, now: datetime
) -> TradeInfo | None:
    """Fill `fraction` of the rest of open order `txid` (at least one lot, never all of it)."""
    info = engine.order(txid)
    if info is None or not info.is_open:
        return None
    lot = engine.instrument(info.pair).lot_size
    volume = max((info.remaining * fraction / lot).to_integral_value(ROUND_FLOOR) * lot, lot)
    price, maker = _fill_price(info, engine.price(info.pair))
    if volume >= info.remaining or price is None:
        return None
    return engine.fill_against(txid, volume, price=price, maker=maker, now=now).value_or(None)


# --------------------------------------------------------------------------- the exchange
class SimulatedExchange:
    """A paper exchange behind the Exchange port that behaves like Kraken spot.

    Drive the market with `set_price` (at the clock's `now`), fund the account with `deposit`,
    shape fills with `set_liquidity`, and break things with `faults`. `calls` counts every port
    call by method name (`calls["order_status"]`), faulted or not. With `latency=None` (the
    default) a call never suspends; `0` yields to the event loop once per call; a positive
    value sleeps that long on the clock (a `FakeClock` advances instead).

    Reports are the engine's `OrderInfo` records as `OrderReport`s (with their trades), after
    the report faults. `order_status` answers every known id in one call (unknown ids are left
    out of the mapping); `find_order` looks among open orders, then the latest closed one.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        instruments: Iterable[Instrument] | None = None,
        seed: int = 0,
        config: EngineConfig | None = None,
        engine: PaperEngine | None = None,
        faults: Faults | None = None,
        latency: float | None = None,
    ) -> None:
        if engine is not None and (instruments is not None or config is not None):
            raise ValueError("give either an engine or its instruments and config, not both")
        if latency is not None and latency < 0:
            raise ValueError(f"latency must be >= 0 (got {latency})")
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._engine = engine or PaperEngine(
            default_instruments() if instruments is None else instruments,
            seed=seed,
            config=config,
        )
        self.faults = faults if faults is not None else Faults(seed)
        self.calls: Counter[str] = Counter()
        self._latency = latency
        self._seen_trades = self._engine.trade_count()
        self._current: tuple[ExchangeMethod, int] = (_M.PLACE_ORDER, 0)
        """The call being served (method, number), for the fault log."""
        self._hidden: dict[str, dict[str, int]] = {}
        """Delayed fills: order txid -> trade txid -> reports it still stays out of."""

    # ------------------------------------------------------------------ driving the market
    @property
    def engine(self) -> PaperEngine:
        """The matching engine underneath (its records are the undistorted truth)."""
        return self._engine

    @property
    def clock(self) -> Clock:
        """The clock every call reads `now` from."""
        return self._clock

    def set_price(
        self,
        symbol: str,
        price: DecimalLike,
        *,
        low: DecimalLike | None = None,
        high: DecimalLike | None = None,
    ) -> tuple[TradeReport, ...]:
        """Move `symbol` to `price` now (through `[low, high]`, if given); returns the fills."""
        trades = self._engine.set_price(
            symbol,
            to_decimal(price, field="price"),
            now=self._clock.now(),
            low=to_optional_decimal(low, field="low"),
            high=to_optional_decimal(high, field="high"),
        )
        self._observe_trades(in_call=False)
        return tuple(trade.to_report() for trade in trades)

    def sync(self) -> None:
        """Let time pass at the exchange up to the clock's now: GTD expiry, dead man's switch."""
        self._engine.advance(self._clock.now())
        self._observe_trades(in_call=False)

    def deposit(self, asset: str, amount: DecimalLike) -> None:
        """Add `amount` of `asset` to the account."""
        self._engine.deposit(asset, to_decimal(amount, field="amount"))

    def set_balance(self, asset: str, total: DecimalLike) -> None:
        """Set the total of `asset` (never below what open orders hold)."""
        self._engine.set_balance(asset, to_decimal(total, field="total"))

    def set_liquidity(
        self,
        symbol: str,
        *,
        per_update: DecimalLike | None,
        per_order: DecimalLike | None = None,
    ) -> None:
        """Cap the base volume one price update fills on `symbol`, in total and per order."""
        self._engine.set_liquidity(
            symbol,
            per_update=to_optional_decimal(per_update, field="per_update"),
            per_order=to_optional_decimal(per_order, field="per_order"),
        )

    def set_fee_rates(
        self, *, maker: DecimalLike, taker: DecimalLike, symbol: str | None = None
    ) -> None:
        """Maker / taker rates (fractions) for one symbol or the whole account."""
        self._engine.set_fee_rates(
            maker=to_decimal(maker, field="maker"),
            taker=to_decimal(taker, field="taker"),
            symbol=symbol,
        )

    def set_pair_status(self, symbol: str, status: SymbolStatus) -> None:
        """Put a pair into `cancel_only`, `post_only`, `limit_only`, ... mode."""
        self._engine.set_pair_status(symbol, status)

    # ------------------------------------------------------------------ the port: orders
    async def place_order(self, order: Order) -> Result[Placement, ExchangeFailure]:
        """AddOrder with the order's client id; a faulted answer may hide a placed order."""
        return await self._call(_M.PLACE_ORDER, lambda: self._place(order))

    async def amend_order(
        self, order: Order, amendment: Amendment
    ) -> Result[None, ExchangeFailure]:
        """AmendOrder in place, by exchange id (or client id before we know it)."""
        return await self._call(_M.AMEND_ORDER, lambda: self._amend(order, amendment))

    async def cancel_order(self, order: Order) -> Result[None, ExchangeFailure]:
        """CancelOrder by exchange id (or client id); an order already gone is UNKNOWN_ORDER."""
        return await self._call(_M.CANCEL_ORDER, lambda: self._cancel(order))

    async def cancel_all(self) -> Result[int, ExchangeFailure]:
        """CancelAll: how many open orders were canceled."""
        return await self._call(_M.CANCEL_ALL, self._cancel_all)

    async def cancel_all_after(self, timeout_seconds: int) -> Result[None, ExchangeFailure]:
        """CancelAllOrdersAfter: cancel everything at now + timeout unless renewed; 0 = off."""
        return await self._call(_M.CANCEL_ALL_AFTER, lambda: self._dms(timeout_seconds))

    async def order_status(
        self, exchange_order_ids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        """Reports for every known id in one call; ids the exchange does not know are left out."""
        return await self._call(_M.ORDER_STATUS, lambda: self._status(exchange_order_ids))

    async def find_order(self, client_order_id: str) -> Result[OrderReport | None, ExchangeFailure]:
        """The open order with this client id, else the latest closed one, else None."""
        return await self._call(_M.FIND_ORDER, lambda: self._find(client_order_id))

    async def open_orders(self) -> Result[Sequence[OrderReport], ExchangeFailure]:
        """Every open order (untriggered stops included), oldest first."""
        return await self._call(_M.OPEN_ORDERS, self._open_orders)

    async def balances(self) -> Result[Mapping[str, Balance], ExchangeFailure]:
        """Every asset the account has touched, by our name: total and available."""
        return await self._call(_M.BALANCES, self._balances)

    async def instruments(self) -> Result[Sequence[Instrument], ExchangeFailure]:
        """The traded pairs with their rules and the fee rates in force."""
        return await self._call(_M.INSTRUMENTS, self._instruments)

    async def reference_price(self, symbol: str) -> Result[Decimal, ExchangeFailure]:
        """The last price set for `symbol`."""
        return await self._call(_M.REFERENCE_PRICE, lambda: self._reference_price(symbol))

    # ------------------------------------------------------------------ call plumbing
    async def _call(
        self,
        method: ExchangeMethod,
        action: Callable[[], Result[_T, ExchangeFailure]],
    ) -> Result[_T, ExchangeFailure]:
        self.calls[method.value] += 1
        call = self.calls[method.value]
        self._current = (method, call)
        if self._latency is not None:
            if self._latency:
                await self._clock.sleep(self._latency)
            else:
                await asyncio.sleep(0)
        self._engine.advance(self._clock.now())
        self._observe_trades()
        fault: Fault | None = self.faults.call_fault(method, call)
        if fault is not None and not (fault.executes and method in WRITES):
            # A read whose answer is lost changes nothing, so it is not run at all.
            return Failure(fault.failure())
        result = action()
        self._observe_trades()
        if fault is not None:
            return Failure(fault.failure())
        return result

    def _observe_trades(self, *, in_call: bool = True) -> None:
        """Note fills made since the last look; hand each to the delay fault."""
        count = self._engine.trade_count()
        new = count - self._seen_trades
        if new <= 0:
            return
        self._seen_trades = count
        if not self.faults.watches_fills:
            return
        for trade in reversed(self._engine.trades_history(limit=new)):
            polls = (
                self.faults.fill_delay(trade.txid, *self._current)
                if in_call
                else self.faults.fill_delay(trade.txid)
            )
            if polls:
                self._hidden.setdefault(trade.ordertxid, {})[trade.txid] = polls

    def _now(self) -> datetime:
        return self._clock.now()

    # ------------------------------------------------------------------ writes
    def _place(self, order: Order) -> Result[Placement, ExchangeFailure]:
        request = order_request(order)
        if isinstance(request, Failure):
            return request
        added = self._engine.add_order(request.unwrap(), now=self._now())
        if isinstance(added, Failure):
            return Failure(_engine_failure(added.failure()))
        txid = added.unwrap().txid
        assert txid is not None  # noqa: S101 - only a validate-only add lacks a txid
        return Success(Placement(exchange_order_id=txid, client_order_id=order.client_order_id))

    def _ids(self, order: Order) -> dict[str, str]:
        if order.exchange_order_id is not None:
            return {"txid": order.exchange_order_id}
        return {"cl_ord_id": order.client_order_id}

    def _amend(self, order: Order, amendment: Amendment) -> Result[None, ExchangeFailure]:
        ids = self._ids(order)
        request = AmendRequest(
            txid=ids.get("txid"),
            cl_ord_id=ids.get("cl_ord_id"),
            order_qty=amendment.size,
            limit_price=amendment.price,
            trigger_price=amendment.trigger_price,
            post_only=order.post_only and amendment.price is not None,
        )
        return self._engine.amend_order(request, now=self._now()).map(_none).alt(_engine_failure)

    def _cancel(self, order: Order) -> Result[None, ExchangeFailure]:
        ids = self._ids(order)
        now = self._now()
        fraction = self.faults.cancel_race(self._current[1]) if self.faults.races_armed else None
        if fraction is not None:
            info = (
                self._engine.order(ids["txid"])
                if "txid" in ids
                else self._engine.find_order(ids["cl_ord_id"])
            )
            if info is not None:
                _outside_fill(self._engine, info.txid, fraction, now)
                self._observe_trades()
        result = self._engine.cancel_order(
            now=now, txid=ids.get("txid"), cl_ord_id=ids.get("cl_ord_id")
        )
        return result.map(_none).alt(_engine_failure)

    def _cancel_all(self) -> Result[int, ExchangeFailure]:
        return Success(self._engine.cancel_all(now=self._now()).count)

    def _dms(self, timeout_seconds: int) -> Result[None, ExchangeFailure]:
        result = self._engine.cancel_all_after(timeout_seconds, now=self._now())
        return result.map(_none).alt(_engine_failure)

    # ------------------------------------------------------------------ reads
    def _status(self, ids: Sequence[str]) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        reports: dict[str, OrderReport] = {}
        for txid in dict.fromkeys(ids):
            info = self._engine.order(txid)
            if info is not None:
                reports[txid] = self._report(info)
        return Success(reports)

    def _find(self, client_order_id: str) -> Result[OrderReport | None, ExchangeFailure]:
        info = self._engine.find_order(client_order_id)
        return Success(None if info is None else self._report(info))

    def _open_orders(self) -> Result[Sequence[OrderReport], ExchangeFailure]:
        infos = list(self._engine.open_orders().values())
        # An order whose closing fill is still delayed looks open to the outside.
        for txid in list(self._hidden):
            info = self._engine.order(txid)
            if info is not None and info.status is ReportedStatus.CLOSED:
                infos.append(info)
        infos.sort(key=_opened)
        reports = (self._report(info) for info in infos)
        return Success([report for report in reports if not report.is_closed])

    def _balances(self) -> Result[Mapping[str, Balance], ExchangeFailure]:
        return Success(
            {
                asset: Balance(asset=asset, total=b.total, available=b.available)
                for asset, b in self._engine.balances().items()
            }
        )

    def _instruments(self) -> Result[Sequence[Instrument], ExchangeFailure]:
        live = []
        for symbol in self._engine.symbols:
            maker, taker = self._engine.fee_rates(symbol)
            live.append(
                attrs.evolve(self._engine.instrument(symbol), maker_fee=maker, taker_fee=taker)
            )
        return Success(live)

    def _reference_price(self, symbol: str) -> Result[Decimal, ExchangeFailure]:
        if symbol not in self._engine.symbols:
            return Failure(classify_error(ErrorCode.UNKNOWN_PAIR))
        price = self._engine.price(symbol)
        if price is None:
            failure = classify_error(ErrorCode.UNAVAILABLE)
            return Failure(attrs.evolve(failure, message=f"no trade on {symbol} yet"))
        return Success(price)

    # ------------------------------------------------------------------ report faults
    def _report(self, info: OrderInfo) -> OrderReport:
        report = info.to_report()
        pending = self._hidden.get(info.txid)
        if pending is not None:
            report = _without(report, frozenset(pending))
            for trade_id in list(pending):
                pending[trade_id] -= 1
                if not pending[trade_id]:
                    del pending[trade_id]
            if not pending:
                del self._hidden[info.txid]
        if (
            report.trades
            and self.faults.duplicates_armed
            and self.faults.duplicate(*self._current, report.trades[-1].trade_id)
        ):
            report = attrs.evolve(report, trades=(*report.trades, report.trades[-1]))
        return report


def _none(value: object) -> None:
    del value


def _opened(info: OrderInfo) -> datetime:
    return info.opentm


def _less(total: Decimal, parts: Iterable[Decimal]) -> Decimal:
    """`total - sum(parts)`, with nothing left reading as a plain 0 (not 0.00)."""
    rest = total - sum(parts, ZERO)
    return rest or ZERO


def _without(report: OrderReport, hidden: frozenset[str]) -> OrderReport:
    """`report` as it looked before the fills in `hidden` (a lagging report)."""
    gone = [trade for trade in report.trades if trade.trade_id in hidden]
    if not gone:
        return report
    status, closed_at, reason = report.status, report.closed_at, report.reason
    if status is ReportedStatus.CLOSED:
        status, closed_at, reason = ReportedStatus.OPEN, None, None
    return attrs.evolve(
        report,
        status=status,
        closed_at=closed_at,
        reason=reason,
        filled_size=_less(report.filled_size, (t.quantity for t in gone)),
        filled_cost=_less(report.filled_cost, (t.quantity * t.price for t in gone)),
        fee=_less(report.fee, (t.fee for t in gone)),
        trades=tuple(trade for trade in report.trades if trade.trade_id not in hidden),
    )


_conforms: type[Exchange] = SimulatedExchange
