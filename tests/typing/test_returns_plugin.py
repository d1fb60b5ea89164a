"""Type-level tests: mypy fails on this file if the returns plugin is not loaded.

Without the plugin `flow` is typed as returning `Never`, so these `assert_type`s would not hold.
They also run as ordinary tests, so the values are checked too.
"""

from __future__ import annotations

from typing import assert_type

from returns.pipeline import flow
from returns.pointfree import bind
from returns.result import Failure, Result, Success


def _parse(text: str) -> Result[int, str]:
    return Success(int(text)) if text.isdigit() else Failure(f"not a number: {text}")


def _halve(number: int) -> Result[int, str]:
    return Success(number // 2) if number % 2 == 0 else Failure(f"odd: {number}")


def test_flow_keeps_the_result_type_with_the_returns_plugin() -> None:
    result = flow("42", _parse, bind(_halve))
    assert_type(result, Result[int, str])
    assert result == Success(21)


def test_flow_short_circuits_on_the_first_failure() -> None:
    result = flow("x", _parse, bind(_halve))
    assert_type(result, Result[int, str])
    assert result == Failure("not a number: x")
