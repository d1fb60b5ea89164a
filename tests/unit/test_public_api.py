import execution_core


def test_every_public_name_is_importable_from_the_package() -> None:
    missing = [name for name in execution_core.__all__ if not hasattr(execution_core, name)]
    assert missing == []


def test_the_names_the_foundation_issue_promises_are_public() -> None:
    promised = {
        "Instrument",
        "default_instruments",
        "FeeSchedule",
        "Order",
        "Fill",
        "TradeProposal",
        "plan_order",
        "Position",
        "InvalidPosition",
        "TrailingStop",
        "RiskSnapshot",
        "check_pre_trade",
        "ExecutionConfig",
        "OrderSide",
        "OrderStatus",
        "OrderType",
        "TimeInForce",
        "TradingState",
    }
    assert promised <= set(execution_core.__all__)
