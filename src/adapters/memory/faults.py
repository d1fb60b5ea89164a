"""Fault injection for `SimulatedExchange`: deterministic, seeded, scriptable per call.

Two families of faults, both drawn only from the seeded `random.Random` a `Faults` was given:

- **Call faults** (`Fault`) replace the answer of one port call: a timeout, a lost response,
  an HTTP 5xx before or after the exchange acted, or a Kraken error envelope
  (`EService:Unavailable`, `EAPI:Rate limit exceeded`, ...). `Fault.executes` says whether the
  request took effect at the exchange before the answer went wrong -- the accept-then-timeout
  case is `TIMEOUT`: the order IS placed and the caller gets OUTCOME_UNKNOWN. Failures are built
  with the Kraken adapter's own classifier (`adapters.kraken.errors`), so a fault and the same
  trouble on the real exchange come back as the same `ExchangeFailure`.
- **Report faults** distort what status reports show without changing the exchange's state:
  a fill reported twice in one report, a fill that shows up only after N more reports of its
  order, and a fill that lands on an order just before the cancel the caller sent (the cancel
  succeeds; the order ends canceled with `filled_size > 0`).

Scripted faults fire on the next call(s) of a method (`next_call`, `next_place`, ...) or on
its n-th call (`at_call`); random ones (`randomly`, `randomly_delay_fills`, ...) fire with a
probability per call or per fill. Every fault that fires is appended to `log`.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Final

import attrs

from adapters.kraken.errors import classify_error, http_failure, transport_failure
from execution_core.domain.numbers import ONE, ZERO
from execution_core.ports import ExchangeFailure


class ExchangeMethod(enum.StrEnum):
    """The Exchange port's methods, as `SimulatedExchange.calls` counts them."""

    PLACE_ORDER = "place_order"
    AMEND_ORDER = "amend_order"
    CANCEL_ORDER = "cancel_order"
    CANCEL_ALL = "cancel_all"
    CANCEL_ALL_AFTER = "cancel_all_after"
    ORDER_STATUS = "order_status"
    FIND_ORDER = "find_order"
    OPEN_ORDERS = "open_orders"
    BALANCES = "balances"
    INSTRUMENTS = "instruments"
    REFERENCE_PRICE = "reference_price"


WRITES: Final = frozenset(
    {
        ExchangeMethod.PLACE_ORDER,
        ExchangeMethod.AMEND_ORDER,
        ExchangeMethod.CANCEL_ORDER,
        ExchangeMethod.CANCEL_ALL,
        ExchangeMethod.CANCEL_ALL_AFTER,
    }
)
"""The methods that change state at the exchange (for `randomly(..., methods=WRITES)`)."""


class FaultKind(enum.StrEnum):
    """How a call goes wrong."""

    TIMEOUT = "timeout"
    """No answer in time."""
    LOST_RESPONSE = "lost_response"
    """The connection dropped before the answer arrived."""
    HTTP_ERROR = "http_error"
    """A non-JSON 5xx page from the CDN in front of the exchange."""
    KRAKEN_ERROR = "kraken_error"
    """An error envelope with Kraken's error string."""


@attrs.frozen(kw_only=True)
class Fault:
    """What happens to one call: `executes` = the exchange acted before the answer went wrong.

    `detail` is the transport description (`timeout`), the HTTP status (`502`) or Kraken's
    error string (`EService:Unavailable`).

    >>> print(TIMEOUT.failure())
    timeout [transport, outcome_unknown]
    >>> print(kraken_error("EOrder:Rate limit exceeded").failure())
    EOrder:Rate limit exceeded (per-pair trading counter exceeded) [order_rate_limit, wait]
    """

    kind: FaultKind
    executes: bool
    detail: str

    def failure(self) -> ExchangeFailure:
        """The `ExchangeFailure` the caller receives, classified as the Kraken adapter would."""
        match self.kind:
            case FaultKind.TIMEOUT | FaultKind.LOST_RESPONSE:
                return transport_failure(self.detail, request_sent=True)
            case FaultKind.HTTP_ERROR:
                return http_failure(int(self.detail), reason=_HTTP_REASONS.get(self.detail, ""))
            case FaultKind.KRAKEN_ERROR:
                return classify_error(self.detail)

    def __str__(self) -> str:
        when = "after execution" if self.executes else "before execution"
        return f"{self.kind}:{self.detail} ({when})"


_HTTP_REASONS: Final = {
    "500": "Internal Server Error",
    "502": "Bad Gateway",
    "503": "Service Unavailable",
    "504": "Gateway Timeout",
    "520": "Web server is returning an unknown error",
}


def timeout(*, executes: bool = True) -> Fault:
    """No answer in time; by default the request was executed (accept-then-timeout)."""
    return Fault(kind=FaultKind.TIMEOUT, executes=executes, detail="timeout")


def lost_response(*, executes: bool = True) -> Fault:
    """The connection dropped; by default after the exchange acted."""
    return Fault(kind=FaultKind.LOST_RESPONSE, executes=executes, detail="connection lost")


def http_error(status: int = 502, *, executes: bool) -> Fault:
    """An HTTP 5xx page before (`executes=False`) or after (`True`) the exchange acted."""
    if not 500 <= status <= 599:  # noqa: PLR2004 - the 5xx range
        raise ValueError(f"an HTTP fault is a 5xx status (got {status})")
    return Fault(kind=FaultKind.HTTP_ERROR, executes=executes, detail=str(status))


def kraken_error(code: str, *, executes: bool = False) -> Fault:
    """An error envelope with Kraken's `code`; the exchange did not act unless `executes`."""
    return Fault(kind=FaultKind.KRAKEN_ERROR, executes=executes, detail=code)


TIMEOUT: Final = timeout()
"""Accept-then-timeout: the request took effect, the caller gets OUTCOME_UNKNOWN."""
LOST_RESPONSE: Final = lost_response()
"""The request took effect, the answer was lost: OUTCOME_UNKNOWN."""
HTTP_502_BEFORE: Final = http_error(502, executes=False)
"""A 502 before the exchange saw the request (not executed), OUTCOME_UNKNOWN to the caller."""
HTTP_502_AFTER: Final = http_error(502, executes=True)
"""A 502 after the exchange acted (executed), OUTCOME_UNKNOWN to the caller."""
SERVICE_UNAVAILABLE: Final = kraken_error("EService:Unavailable")
"""Kraken's matching engine is offline: not executed; UNAVAILABLE, OUTCOME_UNKNOWN."""
SERVICE_BUSY: Final = kraken_error("EService:Busy")
"""Kraken is overloaded: not executed; UNAVAILABLE, OUTCOME_UNKNOWN."""
API_RATE_LIMIT: Final = kraken_error("EAPI:Rate limit exceeded")
"""The REST call counter is exhausted: not executed; RATE_LIMIT, WAIT."""
ORDER_RATE_LIMIT: Final = kraken_error("EOrder:Rate limit exceeded")
"""The per-pair trading counter is exhausted: not executed; ORDER_RATE_LIMIT, WAIT."""


@attrs.frozen(kw_only=True)
class FaultRecord:
    """One fault that fired: on which call of which method, and what it was.

    A fill delay is noted when the fill is first seen: during a call, or (`method` None, `call`
    0) when `SimulatedExchange.set_price` made it.
    """

    method: ExchangeMethod | None
    call: int
    what: str


@attrs.frozen(kw_only=True)
class _RandomRule:
    fault: Fault
    probability: float
    methods: frozenset[ExchangeMethod]


def _probability(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"a probability is within [0, 1] (got {value})")
    return value


def _fraction(value: Decimal) -> Decimal:
    if not ZERO < value < ONE:
        raise ValueError(f"a fill fraction is within (0, 1) (got {value})")
    return value


def _method(method: ExchangeMethod | str) -> ExchangeMethod:
    return ExchangeMethod(method)


class Faults:
    """The faults a `SimulatedExchange` injects; empty (nothing goes wrong) until told.

    Scripted faults win over random ones; among random rules the first registered that fires
    wins. Random draws come from `random.Random(seed)` only, one draw per rule per call (and per
    fill or cancel for the report faults), so a seed replays the same scenario.
    """

    def __init__(self, seed: int = 0, *, rng: random.Random | None = None) -> None:
        self.seed = seed
        self._rng = rng if rng is not None else random.Random(seed)  # noqa: S311 - simulation, not crypto
        self._next: dict[ExchangeMethod, deque[Fault]] = {}
        self._at: dict[tuple[ExchangeMethod, int], Fault] = {}
        self._random: list[_RandomRule] = []
        self._duplicates = 0
        self._duplicate_probability = 0.0
        self._delays: deque[int] = deque()
        self._delay_random: tuple[float, int] | None = None
        self._races: deque[Decimal] = deque()
        self._race_random: tuple[float, Decimal] | None = None
        self.log: list[FaultRecord] = []

    # ------------------------------------------------------------------ scripting: calls
    def next_call(self, method: ExchangeMethod | str, fault: Fault, *, times: int = 1) -> None:
        """The next `times` calls of `method` get `fault` (queued after faults already queued)."""
        if times < 1:
            raise ValueError(f"times must be >= 1 (got {times})")
        self._next.setdefault(_method(method), deque()).extend([fault] * times)

    def at_call(self, method: ExchangeMethod | str, number: int, fault: Fault) -> None:
        """The `number`-th call of `method` (1-based, as `SimulatedExchange.calls` counts)."""
        if number < 1:
            raise ValueError(f"call numbers start at 1 (got {number})")
        self._at[(_method(method), number)] = fault

    def next_place(self, fault: Fault, *, times: int = 1) -> None:
        """The next `times` `place_order` calls get `fault`."""
        self.next_call(ExchangeMethod.PLACE_ORDER, fault, times=times)

    def next_amend(self, fault: Fault, *, times: int = 1) -> None:
        """The next `times` `amend_order` calls get `fault`."""
        self.next_call(ExchangeMethod.AMEND_ORDER, fault, times=times)

    def next_cancel(self, fault: Fault, *, times: int = 1) -> None:
        """The next `times` `cancel_order` calls get `fault`."""
        self.next_call(ExchangeMethod.CANCEL_ORDER, fault, times=times)

    def next_status(self, fault: Fault, *, times: int = 1) -> None:
        """The next `times` `order_status` calls get `fault`."""
        self.next_call(ExchangeMethod.ORDER_STATUS, fault, times=times)

    def next_find(self, fault: Fault, *, times: int = 1) -> None:
        """The next `times` `find_order` calls get `fault`."""
        self.next_call(ExchangeMethod.FIND_ORDER, fault, times=times)

    def randomly(
        self,
        fault: Fault,
        *,
        probability: float,
        methods: Iterable[ExchangeMethod | str] | None = None,
    ) -> None:
        """Every call of `methods` (default: all) gets `fault` with `probability`."""
        chosen = frozenset(ExchangeMethod) if methods is None else frozenset(map(_method, methods))
        self._random.append(
            _RandomRule(fault=fault, probability=_probability(probability), methods=chosen)
        )

    # ------------------------------------------------------------------ scripting: reports
    def duplicate_fills(self, *, times: int = 1) -> None:
        """The next `times` reports that carry trades list their latest trade twice."""
        if times < 1:
            raise ValueError(f"times must be >= 1 (got {times})")
        self._duplicates += times

    def randomly_duplicate_fills(self, *, probability: float) -> None:
        """Each report that carries trades lists its latest trade twice with `probability`."""
        self._duplicate_probability = _probability(probability)

    def delay_fills(self, *, polls: int, count: int = 1) -> None:
        """The next `count` fills stay out of the next `polls` reports of their order."""
        if polls < 1 or count < 1:
            raise ValueError(f"polls and count must be >= 1 (got {polls}, {count})")
        self._delays.extend([polls] * count)

    def randomly_delay_fills(self, *, probability: float, polls: int) -> None:
        """Each fill stays out of the next `polls` reports of its order with `probability`."""
        if polls < 1:
            raise ValueError(f"polls must be >= 1 (got {polls})")
        self._delay_random = (_probability(probability), polls)

    def race_next_cancel(self, *, fraction: Decimal = Decimal("0.5"), times: int = 1) -> None:
        """Before each of the next `times` cancels, a fill of `fraction` of the rest lands."""
        if times < 1:
            raise ValueError(f"times must be >= 1 (got {times})")
        self._races.extend([_fraction(fraction)] * times)

    def randomly_race_cancels(
        self, *, probability: float, fraction: Decimal = Decimal("0.5")
    ) -> None:
        """Before each cancel, a fill of `fraction` of the rest lands with `probability`."""
        self._race_random = (_probability(probability), _fraction(fraction))

    def clear(self) -> None:
        """Forget every scripted and random fault (the log and the random stream stay)."""
        self._next.clear()
        self._at.clear()
        self._random.clear()
        self._duplicates = 0
        self._duplicate_probability = 0.0
        self._delays.clear()
        self._delay_random = None
        self._races.clear()
        self._race_random = None

    # ------------------------------------------------------------------ for the exchange
    @property
    def watches_fills(self) -> bool:
        """Whether new fills must be shown to `fill_delay` (some delay is armed)."""
        return bool(self._delays) or self._delay_random is not None

    @property
    def duplicates_armed(self) -> bool:
        """Whether a report with trades may list its latest trade twice."""
        return bool(self._duplicates or self._duplicate_probability)

    @property
    def races_armed(self) -> bool:
        """Whether a cancel may be raced by a fill."""
        return bool(self._races) or self._race_random is not None

    def call_fault(self, method: ExchangeMethod, call: int) -> Fault | None:
        """The fault for call number `call` of `method`, if any (consumes scripted faults)."""
        fault = self._at.pop((method, call), None)
        queued = self._next.get(method)
        if fault is None and queued:
            fault = queued.popleft()
        if fault is None:
            for rule in self._random:
                if method in rule.methods and self._rng.random() < rule.probability:
                    fault = rule.fault
                    break
        if fault is not None:
            self.log.append(FaultRecord(method=method, call=call, what=str(fault)))
        return fault

    def fill_delay(self, trade_id: str, method: ExchangeMethod | None = None, call: int = 0) -> int:
        """How many reports of its order a new fill `trade_id` stays out of (0 = none)."""
        polls = 0
        if self._delays:
            polls = self._delays.popleft()
        elif self._delay_random is not None:
            probability, random_polls = self._delay_random
            if self._rng.random() < probability:
                polls = random_polls
        if polls:
            self.log.append(
                FaultRecord(
                    method=method, call=call, what=f"fill {trade_id} delayed by {polls} reports"
                )
            )
        return polls

    def duplicate(self, method: ExchangeMethod, call: int, trade_id: str) -> bool:
        """Whether this report, which carries trades, lists its latest trade twice."""
        hit = False
        if self._duplicates:
            self._duplicates -= 1
            hit = True
        elif self._duplicate_probability:
            hit = self._rng.random() < self._duplicate_probability
        if hit:
            self.log.append(
                FaultRecord(method=method, call=call, what=f"fill {trade_id} reported twice")
            )
        return hit

    def cancel_race(self, call: int) -> Decimal | None:
        """The fraction of the rest that fills just before this cancel, if a race is due."""
        fraction: Decimal | None = None
        if self._races:
            fraction = self._races.popleft()
        elif self._race_random is not None:
            probability, random_fraction = self._race_random
            if self._rng.random() < probability:
                fraction = random_fraction
        if fraction is not None:
            self.log.append(
                FaultRecord(
                    method=ExchangeMethod.CANCEL_ORDER,
                    call=call,
                    what=f"a fill of {fraction} of the rest races the cancel",
                )
            )
        return fraction
