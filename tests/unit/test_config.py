from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from execution_core.config import (
    ConfigError,
    DustPolicy,
    ExecutionConfig,
    HeartbeatConfig,
    OrdersConfig,
    RateLimitTier,
    RiskConfig,
    UnknownOrderPolicy,
)
from execution_core.domain.enums import LiquidityRole
from execution_core.domain.instruments import BTC_USDT, XRP_USDT

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"


def test_the_defaults_are_the_reviews_values() -> None:
    config = ExecutionConfig()
    assert config.orders.market_order_slippage_pct == Decimal("0.5")
    assert config.orders.limit_order_timeout_seconds == 600
    assert config.orders.ioc_order_timeout_seconds == 0
    assert config.orders.stop_order_timeout_seconds is None
    assert config.orders.limit_order_expiry_hours == 1
    assert config.retry.max_attempts == 3
    assert config.retry.jitter is True
    assert config.monitoring.poll_interval_seconds == 5
    assert config.risk.max_leverage == 5
    assert config.positions.price_staleness_seconds == 60
    assert config.positions.exit_fee_role is LiquidityRole.TAKER
    assert config.positions.exit_fee_rate is None
    assert config.partial_fills.dust_policy is DustPolicy.KEEP
    assert config.reconciliation.unknown_order_policy is UnknownOrderPolicy.REPORT
    assert config.heartbeat.dead_mans_switch_seconds is None
    assert config.rate_limit.tier is RateLimitTier.STARTER
    assert dict(config.min_order_sizes) == {
        "BTC/USDT": Decimal("0.0001"),
        "XRP/USDT": Decimal(10),
        "XRP/BTC": Decimal(10),
    }


def test_the_defaults_limit_every_notional() -> None:
    risk = ExecutionConfig().risk
    assert risk.max_order_notional == Decimal(10000)
    assert risk.max_position_notional == Decimal(10000)
    assert risk.max_total_exposure == Decimal(50000)
    assert risk.daily_loss_limit == Decimal(1000)
    # XRP/BTC is quoted in BTC: its own limits, not 10000 BTC.
    assert risk.max_order_notional_for("XRP/BTC") == Decimal("0.1")
    assert risk.max_position_notional_for("XRP/BTC") == Decimal("0.1")
    assert risk.max_position_notional_for("BTC/USDT") == Decimal(10000)


def test_an_empty_mapping_gives_the_defaults() -> None:
    assert ExecutionConfig.from_mapping({}) == ExecutionConfig()


def test_a_nested_mapping_sets_the_keys_it_names_and_keeps_the_rest() -> None:
    config = ExecutionConfig.from_mapping(
        {"orders": {"market_order_slippage_pct": "0.25"}, "retry": {"max_attempts": 5}}
    )
    assert config.orders.market_order_slippage_pct == Decimal("0.25")
    assert config.orders.limit_order_timeout_seconds == 600
    assert config.retry.max_attempts == 5
    assert config.risk == RiskConfig()


def test_decimal_values_accept_strings_integers_and_floats_through_str() -> None:
    for given, expected in (("0.1", "0.1"), (1, "1"), (0.1, "0.1"), (0.3, "0.3")):
        config = ExecutionConfig.from_mapping({"orders": {"market_order_slippage_pct": given}})
        assert config.orders.market_order_slippage_pct == Decimal(expected)


def test_durations_accept_integers_and_floats() -> None:
    config = ExecutionConfig.from_mapping({"monitoring": {"poll_interval_seconds": 2}})
    assert config.monitoring.poll_interval_seconds == 2.0
    assert isinstance(config.monitoring.poll_interval_seconds, float)


def test_an_unknown_key_names_its_dotted_path_and_the_known_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        ExecutionConfig.from_mapping({"risk": {"max_levrage": 6}})
    assert caught.value.path == "risk.max_levrage"
    assert caught.value.unknown
    assert "max_leverage" in str(caught.value)
    assert str(caught.value).startswith("risk.max_levrage: unknown key")


def test_an_unknown_section_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^ordres: unknown key") as caught:
        ExecutionConfig.from_mapping({"ordres": {}})
    assert "orders" in caught.value.expected


def test_a_mistyped_value_names_the_path_the_expected_type_and_the_value() -> None:
    with pytest.raises(ConfigError) as caught:
        ExecutionConfig.from_mapping({"retry": {"max_attempts": "three"}})
    error = caught.value
    assert (error.path, error.expected, error.got) == ("retry.max_attempts", "an integer", "three")
    assert str(error) == "retry.max_attempts: expected an integer, got 'three' (str)"


def test_a_bool_is_not_an_integer_nor_a_number() -> None:
    with pytest.raises(ConfigError, match=r"retry\.max_attempts: expected an integer"):
        ExecutionConfig.from_mapping({"retry": {"max_attempts": True}})
    with pytest.raises(ConfigError, match=r"risk\.max_leverage: expected a decimal number"):
        ExecutionConfig.from_mapping({"risk": {"max_leverage": True}})


def test_a_decimal_that_is_not_a_number_is_refused() -> None:
    for bad in ("abc", "NaN", "inf", [1]):
        with pytest.raises(ConfigError) as caught:
            ExecutionConfig.from_mapping({"risk": {"daily_loss_limit": bad}})
        assert caught.value.path == "risk.daily_loss_limit"
        assert caught.value.got == bad


def test_a_choice_outside_its_values_lists_the_values() -> None:
    with pytest.raises(ConfigError) as caught:
        ExecutionConfig.from_mapping({"partial_fills": {"dust_policy": "sell"}})
    assert caught.value.path == "partial_fills.dust_policy"
    assert caught.value.expected == "one of keep | close"


def test_a_section_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^orders: expected a table"):
        ExecutionConfig.from_mapping({"orders": 5})


def test_a_per_symbol_value_names_the_symbol_in_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        ExecutionConfig.from_mapping({"min_order_sizes": {"BTC/USDT": "lots"}})
    assert caught.value.path == "min_order_sizes.BTC/USDT"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"orders": {"market_order_slippage_pct": -1}}, "orders.market_order_slippage_pct"),
        ({"orders": {"market_order_slippage_pct": 100}}, "orders.market_order_slippage_pct"),
        ({"orders": {"limit_order_timeout_seconds": 0}}, "orders.limit_order_timeout_seconds"),
        ({"orders": {"limit_order_expiry_hours": 24 * 31}}, "orders.limit_order_expiry_hours"),
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts"),
        (
            {"retry": {"backoff_base_seconds": 5, "backoff_max_seconds": 1}},
            "retry.backoff_max_seconds",
        ),
        ({"monitoring": {"poll_interval_seconds": 0}}, "monitoring.poll_interval_seconds"),
        ({"risk": {"max_leverage": "0.5"}}, "risk.max_leverage"),
        ({"risk": {"max_total_exposure": 0}}, "risk.max_total_exposure"),
        (
            {"risk": {"max_position_notional_by_symbol": {"BTC/USDT": -1}}},
            "risk.max_position_notional_by_symbol.BTC/USDT",
        ),
        ({"positions": {"exit_fee_rate": "1.5"}}, "positions.exit_fee_rate"),
        ({"heartbeat": {"dead_mans_switch_seconds": 86400}}, "heartbeat.dead_mans_switch_seconds"),
        (
            {"heartbeat": {"dead_mans_switch_seconds": 10}},
            "heartbeat.refresh_interval_seconds",
        ),
        ({"rate_limit": {"history_call_cost": 0}}, "rate_limit.history_call_cost"),
        ({"min_order_sizes": {"BTC/USDT": 0}}, "min_order_sizes.BTC/USDT"),
    ],
)
def test_a_value_out_of_range_is_refused_with_its_path(data: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ExecutionConfig.from_mapping(data)
    assert caught.value.path == path


def test_the_string_none_switches_an_optional_key_off() -> None:
    config = ExecutionConfig.from_mapping(
        {"orders": {"limit_order_timeout_seconds": "none", "limit_order_expiry_hours": "None"}}
    )
    assert config.orders.limit_order_timeout_seconds is None
    assert config.orders.limit_order_expiry_hours is None
    assert config.orders.limit_order_expiry is None


def test_none_is_refused_where_a_key_is_not_optional() -> None:
    with pytest.raises(ConfigError) as caught:
        ExecutionConfig.from_mapping({"orders": {"market_order_slippage_pct": None}})
    assert caught.value.path == "orders.market_order_slippage_pct"


def test_a_per_symbol_table_adds_to_the_defaults_instead_of_dropping_them() -> None:
    config = ExecutionConfig.from_mapping(
        {"risk": {"max_position_notional_by_symbol": {"BTC/USDT": "5000"}}}
    )
    assert config.risk.max_position_notional_for("BTC/USDT") == Decimal(5000)
    assert config.risk.max_position_notional_for("XRP/BTC") == Decimal("0.1")


def test_the_slippage_factors_and_the_expiry_are_precomputed() -> None:
    orders = OrdersConfig(market_order_slippage_pct=Decimal("0.5"), limit_order_expiry_hours=2)
    assert orders.buy_cap_factor == Decimal("1.005")
    assert orders.sell_floor_factor == Decimal("0.995")
    assert orders.limit_order_expiry == timedelta(hours=2)


def test_direct_construction_validates_with_the_dotted_path_too() -> None:
    with pytest.raises(ConfigError, match=r"^risk\.max_leverage: expected a number >= 1"):
        RiskConfig(max_leverage=Decimal(0))


def test_a_configured_minimum_raises_the_instruments_minimum_but_never_lowers_it() -> None:
    live_btc = attrs.evolve(BTC_USDT, min_size=Decimal("0.00005"))  # Kraken's newer ordermin
    assert ExecutionConfig().min_size(live_btc) == Decimal("0.0001")
    lower = ExecutionConfig.from_mapping({"min_order_sizes": {"XRP/USDT": 1}})
    assert lower.min_size(XRP_USDT) == Decimal(10)
    assert ExecutionConfig().min_size(attrs.evolve(XRP_USDT, symbol="XRP/EUR")) == Decimal(10)


def test_the_configuration_is_an_immutable_hashable_value() -> None:
    config = ExecutionConfig()
    assert hash(config) == hash(ExecutionConfig())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.orders = OrdersConfig()  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.min_order_sizes["BTC/USDT"] = Decimal(1)  # type: ignore[index]


def test_the_heartbeat_exposes_its_timeout_and_interval() -> None:
    heartbeat = HeartbeatConfig(dead_mans_switch_seconds=60, refresh_interval_seconds=20)
    assert (heartbeat.timeout, heartbeat.interval) == (60, 20)


def test_the_example_toml_file_loads() -> None:
    config = ExecutionConfig.from_toml(EXAMPLES / "execution.toml")
    assert config.orders.market_order_slippage_pct == Decimal("0.5")
    assert config.orders.stop_order_timeout_seconds is None
    assert config.heartbeat.dead_mans_switch_seconds == 60
    assert config.risk.max_order_notional_for("BTC/USDT") == Decimal(5000)
    assert config.risk.max_order_notional_for("XRP/BTC") == Decimal("0.1")


def test_the_example_yaml_file_is_the_same_configuration_as_the_toml_file() -> None:
    assert ExecutionConfig.from_yaml(EXAMPLES / "execution.yaml") == ExecutionConfig.from_toml(
        str(EXAMPLES / "execution.toml")
    )


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[orders\nmarket_order_slippage_pct = 1\n")
    with pytest.raises(ConfigError) as caught:
        ExecutionConfig.from_toml(path)
    assert caught.value.path == str(path)
    assert caught.value.expected == "a valid TOML document"


def test_yaml_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ConfigError, match="a mapping of sections"):
        ExecutionConfig.from_yaml_string("- orders\n- retry\n")


def test_an_empty_yaml_document_gives_the_defaults() -> None:
    assert ExecutionConfig.from_yaml_string("") == ExecutionConfig()


def test_yaml_null_and_toml_strings_load_the_same_values() -> None:
    from_yaml = ExecutionConfig.from_yaml_string("positions:\n  exit_fee_rate: null\n")
    from_toml = ExecutionConfig.from_toml_string('[positions]\nexit_fee_rate = "none"\n')
    assert from_yaml == from_toml == ExecutionConfig()
