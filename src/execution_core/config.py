"""The execution layer's configuration: typed, frozen, with the review's keys and safe defaults.

`ExecutionConfig()` is the defaults. `ExecutionConfig.from_mapping`, `from_toml` and `from_yaml`
build one from data; an unknown key, a value of the wrong type or out of range is a `ConfigError`
naming the dotted key path, what was expected and what was given. Every magic number of the
reviewed code (QUALITY-2: the 5 s poll, the one-hour wait of DESIGN-2) is a key here.

Money-like values (percentages, notionals, sizes, fee rates) are `Decimal` and accept strings,
integers and floats (floats through `str()`, so `0.5` is `Decimal("0.5")`); durations are
seconds as `float` and accept integers and floats. TOML has no null: an optional key is set to
"nothing" with the string `"none"` (YAML may also use `null`).

Notionals are in the quote currency of the symbol they limit (USDT for BTC/USDT, BTC for
XRP/BTC); the total exposure and the daily loss limit are in the valuation currency of the
`RiskSnapshot` (USD by default). Every limit is inclusive: a value exactly at it is allowed.
"""

from __future__ import annotations

import enum
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar, Final, TypeVar

import attrs
import immutables
import yaml

from execution_core.domain.enums import LiquidityRole
from execution_core.domain.instruments import Instrument
from execution_core.domain.numbers import HUNDRED, ONE, ZERO, InvalidNumber, to_decimal

_T = TypeVar("_T")

KRAKEN_MAX_DEAD_MANS_SWITCH: Final = 86400
"""Kraken's CancelAllOrdersAfter timeout must be below one day (kraken-api.md §4)."""
KRAKEN_MAX_EXPIRY_HOURS: Final = 30 * 24
"""Kraken accepts a GTD expiry up to about one month ahead (kraken-api.md §2.1)."""
KRAKEN_MIN_EXPIRY_SECONDS: Final = 5
"""Kraken refuses an `expiretm` less than 5 s ahead (kraken-api.md §2.1)."""


class ConfigError(ValueError):
    """A configuration value that cannot be used: names the dotted key, the expectation, the value.

    >>> str(ConfigError("orders.market_order_slippage_pct", "a number >= 0 and < 100", "-1"))
    "orders.market_order_slippage_pct: expected a number >= 0 and < 100, got '-1' (str)"
    """

    def __init__(self, path: str, expected: str, got: object, *, unknown: bool = False) -> None:
        self.path = path
        self.expected = expected
        self.got = got
        self.unknown = unknown
        if unknown:
            message = f"{path}: unknown key (known keys here: {expected})"
        else:
            message = f"{path}: expected {expected}, got {got!r} ({type(got).__name__})"
        super().__init__(message)


class DustPolicy(enum.StrEnum):
    """What to do with a position remainder below the instrument's minimum size."""

    KEEP = "keep"
    """Keep the position and report it."""
    CLOSE = "close"
    """Market-close it if the exchange allows, else report it."""


class UnknownOrderPolicy(enum.StrEnum):
    """What reconciliation does with an open exchange order we have no record of."""

    REPORT = "report"
    """Raise an alert and leave it alone."""
    CANCEL = "cancel"
    """Cancel it at the exchange."""
    ADOPT = "adopt"
    """Start tracking it as one of ours."""


class RateLimitTier(enum.StrEnum):
    """The account's Kraken verification tier, which sets its rate limits (kraken-api.md §9)."""

    STARTER = "starter"
    INTERMEDIATE = "intermediate"
    PRO = "pro"


# --------------------------------------------------------------------------- validators
def _path(instance: object, attribute: attrs.Attribute[Any]) -> str:
    section: str = getattr(type(instance), "SECTION", "")
    return f"{section}.{attribute.name}" if section else attribute.name


def _positive(instance: object, attribute: attrs.Attribute[Any], value: Decimal | float) -> None:
    if not value > 0:
        raise ConfigError(_path(instance, attribute), "a number > 0", value)


def _optional_positive(
    instance: object, attribute: attrs.Attribute[Any], value: Decimal | float | None
) -> None:
    if value is not None and not value > 0:
        raise ConfigError(_path(instance, attribute), "a number > 0 or none", value)


def _non_negative(
    instance: object, attribute: attrs.Attribute[Any], value: Decimal | float
) -> None:
    if not value >= 0:
        raise ConfigError(_path(instance, attribute), "a number >= 0", value)


def _percentage(instance: object, attribute: attrs.Attribute[Any], value: Decimal) -> None:
    if not ZERO <= value < HUNDRED:
        raise ConfigError(_path(instance, attribute), "a percentage >= 0 and < 100", value)


def _fee_rate(instance: object, attribute: attrs.Attribute[Any], value: Decimal | None) -> None:
    if value is not None and not ZERO <= value < ONE:
        raise ConfigError(
            _path(instance, attribute), "a fee rate as a fraction >= 0 and < 1, or none", value
        )


def _at_least_one(instance: object, attribute: attrs.Attribute[Any], value: Decimal | int) -> None:
    if not value >= 1:
        raise ConfigError(_path(instance, attribute), "a number >= 1", value)


def _positive_values(
    instance: object, attribute: attrs.Attribute[Any], value: Mapping[str, Decimal]
) -> None:
    for key, item in value.items():
        if not item > ZERO:
            raise ConfigError(f"{_path(instance, attribute)}.{key}", "a number > 0", item)


def _frozen_map(value: Mapping[str, Decimal]) -> Mapping[str, Decimal]:
    # Hashable and immutable, so a config can be a dict key and is safe to share.
    return value if isinstance(value, immutables.Map) else immutables.Map(value)


def _empty_map() -> Mapping[str, Decimal]:
    return immutables.Map()


# --------------------------------------------------------------------------- sections
@attrs.frozen(kw_only=True)
class OrdersConfig:
    """How orders are protected and how long they may live.

    Timeouts are how long the service lets an order rest before it cancels the remainder
    (DESIGN-2: the reviewed code waited one hour for everything): a limit order 600 s, an IOC
    order no time at all (its first answer is final), an untriggered stop forever (`None`).
    `limit_order_expiry_hours` is the exchange-side backstop: a limit order is sent GTD with that
    expiry (when planned with `now`), so it dies at the exchange even if this process does.
    """

    SECTION: ClassVar[str] = "orders"

    market_order_slippage_pct: Decimal = attrs.field(default=Decimal("0.5"), validator=_percentage)
    limit_order_timeout_seconds: float | None = attrs.field(
        default=600.0, validator=_optional_positive
    )
    ioc_order_timeout_seconds: float = attrs.field(default=0.0, validator=_non_negative)
    stop_order_timeout_seconds: float | None = attrs.field(
        default=None, validator=_optional_positive
    )
    limit_order_expiry_hours: float | None = attrs.field(default=1.0, validator=_optional_positive)
    buy_cap_factor: Decimal = attrs.field(init=False, eq=False, repr=False)
    sell_floor_factor: Decimal = attrs.field(init=False, eq=False, repr=False)
    limit_order_expiry: timedelta | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        hours = self.limit_order_expiry_hours
        expiry = None if hours is None else timedelta(hours=hours)
        if expiry is not None and not (
            timedelta(seconds=KRAKEN_MIN_EXPIRY_SECONDS)
            <= expiry
            <= timedelta(hours=KRAKEN_MAX_EXPIRY_HOURS)
        ):
            raise ConfigError(
                "orders.limit_order_expiry_hours",
                f"hours between 5 s and {KRAKEN_MAX_EXPIRY_HOURS} h (Kraken's GTD range), or none",
                hours,
            )
        fraction = self.market_order_slippage_pct / HUNDRED
        # Precomputed once: planning multiplies the reference price by these on every order.
        object.__setattr__(self, "buy_cap_factor", ONE + fraction)
        object.__setattr__(self, "sell_floor_factor", ONE - fraction)
        object.__setattr__(self, "limit_order_expiry", expiry)


@attrs.frozen(kw_only=True)
class RetryConfig:
    """Retries of retryable exchange failures: bounded, exponential backoff, optional jitter."""

    SECTION: ClassVar[str] = "retry"

    max_attempts: int = attrs.field(default=3, validator=_at_least_one)
    backoff_base_seconds: float = attrs.field(default=1.0, validator=_positive)
    backoff_max_seconds: float = attrs.field(default=30.0, validator=_positive)
    jitter: bool = True

    def __attrs_post_init__(self) -> None:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ConfigError(
                "retry.backoff_max_seconds",
                f"a number >= retry.backoff_base_seconds ({self.backoff_base_seconds})",
                self.backoff_max_seconds,
            )


@attrs.frozen(kw_only=True)
class MonitoringConfig:
    """The order monitor."""

    SECTION: ClassVar[str] = "monitoring"

    poll_interval_seconds: float = attrs.field(default=5.0, validator=_positive)


@attrs.frozen(kw_only=True)
class RiskConfig:
    """Risk limits (SAFETY-2). Notionals per symbol are in that symbol's quote currency.

    The defaults are deliberately small; set them for your account. XRP/BTC is quoted in BTC, so
    its per-symbol limits are set separately (0.1 BTC, about the USD defaults at 100,000 USD/BTC).
    """

    SECTION: ClassVar[str] = "risk"

    max_leverage: Decimal = attrs.field(default=Decimal(5), validator=_at_least_one)
    max_order_notional: Decimal = attrs.field(default=Decimal(10000), validator=_positive)
    max_order_notional_by_symbol: Mapping[str, Decimal] = attrs.field(
        factory=lambda: immutables.Map({"XRP/BTC": Decimal("0.1")}),
        converter=_frozen_map,
        validator=_positive_values,
    )
    max_position_notional: Decimal = attrs.field(default=Decimal(10000), validator=_positive)
    max_position_notional_by_symbol: Mapping[str, Decimal] = attrs.field(
        factory=lambda: immutables.Map({"XRP/BTC": Decimal("0.1")}),
        converter=_frozen_map,
        validator=_positive_values,
    )
    max_total_exposure: Decimal = attrs.field(default=Decimal(50000), validator=_positive)
    daily_loss_limit: Decimal = attrs.field(default=Decimal(1000), validator=_positive)

    def max_order_notional_for(self, symbol: str) -> Decimal:
        """The largest notional one order on `symbol` may have, in its quote currency."""
        return self.max_order_notional_by_symbol.get(symbol, self.max_order_notional)

    def max_position_notional_for(self, symbol: str) -> Decimal:
        """The largest exposure on `symbol`, in its quote currency."""
        return self.max_position_notional_by_symbol.get(symbol, self.max_position_notional)


@attrs.frozen(kw_only=True)
class PositionsConfig:
    """Position valuation: price staleness (DESIGN-4), snapshots and the estimated exit fee."""

    SECTION: ClassVar[str] = "positions"

    price_staleness_seconds: float = attrs.field(default=60.0, validator=_positive)
    snapshot_interval_seconds: float = attrs.field(default=60.0, validator=_positive)
    exit_fee_role: LiquidityRole = LiquidityRole.TAKER
    exit_fee_rate: Decimal | None = attrs.field(default=None, validator=_fee_rate)
    """None: the instrument's rate for `exit_fee_role`."""


@attrs.frozen(kw_only=True)
class PartialFillsConfig:
    """Partial fills (CRITICAL-2)."""

    SECTION: ClassVar[str] = "partial_fills"

    dust_policy: DustPolicy = DustPolicy.KEEP


@attrs.frozen(kw_only=True)
class ReconciliationConfig:
    """Reconciliation with the exchange."""

    SECTION: ClassVar[str] = "reconciliation"

    unknown_order_policy: UnknownOrderPolicy = UnknownOrderPolicy.REPORT


def _dead_mans_switch(instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and not 0 < value < KRAKEN_MAX_DEAD_MANS_SWITCH:
        raise ConfigError(
            _path(instance, attribute),
            f"whole seconds > 0 and < {KRAKEN_MAX_DEAD_MANS_SWITCH}, or none",
            value,
        )


@attrs.frozen(kw_only=True)
class HeartbeatConfig:
    """Kraken's dead man's switch (CancelAllOrdersAfter): off by default.

    When `dead_mans_switch_seconds` is set, the service re-arms it every
    `refresh_interval_seconds` (Kraken recommends a 60 s timeout refreshed every 15-30 s); if the
    process stops refreshing, the exchange cancels every open order.
    """

    SECTION: ClassVar[str] = "heartbeat"

    dead_mans_switch_seconds: int | None = attrs.field(default=None, validator=_dead_mans_switch)
    refresh_interval_seconds: float = attrs.field(default=20.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        timeout = self.dead_mans_switch_seconds
        if timeout is not None and self.refresh_interval_seconds >= timeout:
            raise ConfigError(
                "heartbeat.refresh_interval_seconds",
                f"a number < heartbeat.dead_mans_switch_seconds ({timeout})",
                self.refresh_interval_seconds,
            )

    @property
    def timeout(self) -> int | None:
        """The dead man's switch timeout in seconds, or None when it is off."""
        return self.dead_mans_switch_seconds

    @property
    def interval(self) -> float:
        """How often the switch is re-armed, in seconds."""
        return self.refresh_interval_seconds


@attrs.frozen(kw_only=True)
class RateLimitConfig:
    """Kraken rate limits (kraken-api.md §9)."""

    SECTION: ClassVar[str] = "rate_limit"

    tier: RateLimitTier = RateLimitTier.STARTER
    history_call_cost: int = attrs.field(default=2, validator=_at_least_one)
    """Counter cost of Ledgers/TradesHistory calls (+2 documented; one doc scrape says +4)."""


def _review_min_order_sizes() -> Mapping[str, Decimal]:
    # The review's config/execution.yaml (CRITICAL-1).
    return immutables.Map(
        {"BTC/USDT": Decimal("0.0001"), "XRP/USDT": Decimal(10), "XRP/BTC": Decimal(10)}
    )


@attrs.frozen(kw_only=True)
class ExecutionConfig:
    """The whole configuration. `ExecutionConfig()` is the defaults.

    `min_order_sizes` raises an instrument's minimum size per symbol: the larger of the two
    applies, so a configured minimum can make orders stricter but never smaller than the
    exchange allows.

    >>> config = ExecutionConfig()
    >>> config.orders.market_order_slippage_pct, config.risk.max_leverage
    (Decimal('0.5'), Decimal('5'))
    >>> ExecutionConfig.from_mapping({"orders": {"market_order_slippage_pct": 0.25}}).orders
    OrdersConfig(market_order_slippage_pct=Decimal('0.25'), limit_order_timeout_seconds=600.0, ...)
    """

    SECTION: ClassVar[str] = ""

    orders: OrdersConfig = attrs.field(factory=OrdersConfig)
    retry: RetryConfig = attrs.field(factory=RetryConfig)
    monitoring: MonitoringConfig = attrs.field(factory=MonitoringConfig)
    risk: RiskConfig = attrs.field(factory=RiskConfig)
    positions: PositionsConfig = attrs.field(factory=PositionsConfig)
    partial_fills: PartialFillsConfig = attrs.field(factory=PartialFillsConfig)
    reconciliation: ReconciliationConfig = attrs.field(factory=ReconciliationConfig)
    heartbeat: HeartbeatConfig = attrs.field(factory=HeartbeatConfig)
    rate_limit: RateLimitConfig = attrs.field(factory=RateLimitConfig)
    min_order_sizes: Mapping[str, Decimal] = attrs.field(
        factory=_review_min_order_sizes, converter=_frozen_map, validator=_positive_values
    )

    def min_size(self, instrument: Instrument) -> Decimal:
        """The minimum order size on `instrument`: its own, raised by `min_order_sizes`."""
        configured = self.min_order_sizes.get(instrument.symbol)
        if configured is None or configured <= instrument.min_size:
            return instrument.min_size
        return configured

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> ExecutionConfig:
        """Build from nested mappings (parsed TOML, YAML, JSON or a literal dict)."""
        return _build(cls, data, "")

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> ExecutionConfig:
        """Read a TOML file (see docs/examples/execution.toml)."""
        with open(path, "rb") as stream:  # noqa: PTH123 - a plain open keeps PathLike and str alike
            try:
                data = tomllib.load(stream)
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(os.fspath(path), "a valid TOML document", str(error)) from None
        return cls.from_mapping(data)

    @classmethod
    def from_toml_string(cls, text: str) -> ExecutionConfig:
        """Parse TOML text."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError("<toml>", "a valid TOML document", str(error)) from None
        return cls.from_mapping(data)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ExecutionConfig:
        """Read a YAML file with `yaml.safe_load` (see docs/examples/execution.yaml)."""
        with open(path, encoding="utf-8") as stream:  # noqa: PTH123 - as in from_toml
            return cls._from_yaml_text(stream.read(), os.fspath(path))

    @classmethod
    def from_yaml_string(cls, text: str) -> ExecutionConfig:
        """Parse YAML text with `yaml.safe_load`."""
        return cls._from_yaml_text(text, "<yaml>")

    @classmethod
    def _from_yaml_text(cls, text: str, source: str) -> ExecutionConfig:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(source, "a valid YAML document", str(error)) from None
        if data is None:  # an empty document: the defaults
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(source, "a mapping of sections at the top level", data)
        return cls.from_mapping(data)


# --------------------------------------------------------------------------- loading
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _default_map(cls: type, key: str) -> immutables.Map[str, Decimal]:
    default = getattr(cls(), key)
    assert isinstance(default, immutables.Map)  # noqa: S101 - the converter made it one
    return default


def _build(cls: type[_T], data: object, path: str) -> _T:
    where = path or "<top level>"
    if not isinstance(data, Mapping):
        raise ConfigError(where, "a table (mapping) of keys", data)
    attrs_class = typing.cast("type[attrs.AttrsInstance]", cls)
    fields = {field.name: field for field in attrs.fields(attrs_class) if field.init}
    hints = _hints(cls)
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in fields:
            key_path = f"{path}.{key}" if path else str(key)
            raise ConfigError(key_path, ", ".join(fields), value, unknown=True)
        converted = _convert(hints[key], value, f"{path}.{key}" if path else key)
        if isinstance(converted, immutables.Map):
            # A per-symbol table adds to or changes the defaults; it never silently drops the
            # default of a symbol it does not name (XRP/BTC's BTC-denominated limits).
            converted = _default_map(cls, key).update(converted)
        kwargs[key] = converted
    return cls(**kwargs)


def _convert(tp: Any, value: object, path: str) -> object:  # noqa: ANN401, C901, PLR0911, PLR0912 - a type dispatch
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        (inner,) = (arg for arg in typing.get_args(tp) if arg is not type(None))
        return _convert(inner, value, path)
    if tp is Decimal:
        return _decimal(value, path)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, "a number of seconds (integer or float)", value)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, "an integer", value)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, "true or false", value)
        return value
    if isinstance(tp, type) and issubclass(tp, enum.StrEnum):
        allowed = [member.value for member in tp]
        if not isinstance(value, str) or value not in allowed:
            raise ConfigError(path, "one of " + " | ".join(allowed), value)
        return tp(value)
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(path, "a table (mapping) of symbol = number", value)
        return immutables.Map(
            {str(key): _decimal(item, f"{path}.{key}") for key, item in value.items()}
        )
    if attrs.has(tp):
        return _build(tp, value, path)
    msg = f"{path}: no loader for the type {tp!r}"  # pragma: no cover - a new field type
    raise TypeError(msg)  # pragma: no cover


def _decimal(value: object, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str | float):
        raise ConfigError(path, "a decimal number (string, integer or float)", value)
    try:
        return to_decimal(value, field=path)
    except InvalidNumber:
        raise ConfigError(
            path, "a finite decimal number (string, integer or float)", value
        ) from None
