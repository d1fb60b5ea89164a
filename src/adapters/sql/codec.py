"""Our stored JSON: one cattrs converter for every value the SQL repository writes.

Rules: a Decimal is its exact string (`str(Decimal)`: `Decimal("0.00000001")` stays "1E-8"
and reads back as the same Decimal, exponent included); a datetime is its ISO 8601 text, with
its offset if it has one (a naive datetime stays naive); an enum is its value; an event is a
tagged union keyed by the class's stable `kind` ("order_filled", ...), stored under "kind". An
order's fills (an `immutables.Map` keyed by trade id) are a list of fills here; the orders table
leaves them out (`Codec.dump_order`) because fills live in their own table.

The converter knows the classes through their attrs fields, so a field added to a domain class
(with a default) needs no change here, and old JSON without it still loads.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias, cast

import attrs
import cattrs
import immutables
from cattrs.strategies import configure_tagged_union

from execution_core.domain.events import Event
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import Position
from execution_core.ports import PositionSnapshot

JsonObject: TypeAlias = dict[str, Any]
"""A JSON object as `json.loads` returns it."""

EVENT_TAG = "kind"
"""The key of the event's tag in its JSON object."""


class CodecError(ValueError):
    """Stored JSON that cannot be read back as the value it claims to be (a bug or bad data)."""


def make_converter() -> cattrs.Converter:
    """A new converter for our stored JSON (see the module docstring for the rules)."""
    converter = cattrs.Converter()
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(datetime, _structure_datetime)
    # A StrEnum is also a str, and cattrs passes str through: register the enum classes
    # themselves so that the JSON holds the plain value.
    converter.register_unstructure_hook(enum.StrEnum, _enum_value)
    converter.register_unstructure_hook(enum.Enum, _enum_value)
    converter.register_unstructure_hook_func(_is_fill_map, _unstructure_fill_map(converter))
    converter.register_structure_hook_func(_is_fill_map, _structure_fill_map(converter))
    configure_tagged_union(Event, converter, tag_generator=_event_tag, tag_name=EVENT_TAG)
    return converter


class Codec:
    """Typed dump/load pairs over one converter; every `load_*` raises `CodecError` on bad data."""

    def __init__(self, converter: cattrs.Converter | None = None) -> None:
        self._converter = converter or make_converter()

    @property
    def converter(self) -> cattrs.Converter:
        """The underlying cattrs converter."""
        return self._converter

    def dump_event(self, event: Event) -> JsonObject:
        """The event as JSON, tagged with its `kind`."""
        return cast("JsonObject", self._converter.unstructure(event, unstructure_as=Event))

    def load_event(self, data: Mapping[str, Any]) -> Event:
        """The event a tagged JSON object describes."""
        return cast("Event", self._load(data, Event))

    def dump_order(self, order: Order) -> JsonObject:
        """The order as JSON WITHOUT its fills (the fills table holds them)."""
        data = cast("JsonObject", self._converter.unstructure(order, unstructure_as=Order))
        del data["fills"]
        return data

    def load_order(self, data: Mapping[str, Any], fills: Iterable[Fill] = ()) -> Order:
        """The order from its JSON, its fills map rebuilt from `fills` (keyed by trade id)."""
        order = cast("Order", self._load({**data, "fills": []}, Order))
        fill_map = immutables.Map({fill.trade_id: fill for fill in fills})
        if not fill_map:
            return order
        return attrs.evolve(order, fills=fill_map)

    def dump_fill(self, fill: Fill) -> JsonObject:
        """The fill as JSON."""
        return cast("JsonObject", self._converter.unstructure(fill, unstructure_as=Fill))

    def load_fill(self, data: Mapping[str, Any]) -> Fill:
        """The fill from its JSON."""
        return cast("Fill", self._load(data, Fill))

    def dump_position(self, position: Position) -> JsonObject:
        """The position as JSON (every field, the trailing stop included)."""
        return cast("JsonObject", self._converter.unstructure(position, unstructure_as=Position))

    def load_position(self, data: Mapping[str, Any]) -> Position:
        """The position from its JSON."""
        return cast("Position", self._load(data, Position))

    def dump_snapshot(self, snapshot: PositionSnapshot) -> JsonObject:
        """The snapshot as JSON."""
        return cast(
            "JsonObject", self._converter.unstructure(snapshot, unstructure_as=PositionSnapshot)
        )

    def load_snapshot(self, data: Mapping[str, Any]) -> PositionSnapshot:
        """The snapshot from its JSON."""
        return cast("PositionSnapshot", self._load(data, PositionSnapshot))

    def _load(self, data: Mapping[str, Any], cls: Any) -> object:  # noqa: ANN401 - unions too
        try:
            return cast("object", self._converter.structure(dict(data), cls))
        except cattrs.BaseValidationError as error:
            reasons = "; ".join(cattrs.transform_error(error, format_exception=_describe))
            raise CodecError(f"stored JSON is not a valid {_name(cls)}: {reasons}") from error
        except (ValueError, TypeError, KeyError) as error:
            raise CodecError(f"stored JSON is not a valid {_name(cls)}: {error}") from error


# --------------------------------------------------------------------------- hooks
def _name(cls: object) -> str:
    return getattr(cls, "__name__", "Event")


def _describe(error: BaseException, target: type | None) -> str:
    del target
    return f"{type(error).__name__}: {error}"


def _event_tag(cls: type) -> str:
    return cast("str", cls.kind)  # type: ignore[attr-defined]  # every Event class has `kind`


def _structure_decimal(value: object, _: type) -> Decimal:
    # A float would already have lost digits: only the exact spellings are accepted.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"a stored Decimal must be a string, got {type(value).__name__}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None


def _structure_datetime(value: object, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"a stored datetime must be an ISO 8601 string, got {type(value).__name__}")
    return datetime.fromisoformat(value)


def _enum_value(value: enum.Enum) -> object:
    return value.value


def _is_fill_map(cls: Any) -> bool:  # noqa: ANN401 - cattrs passes any type
    return typing.get_origin(cls) is immutables.Map or cls is immutables.Map


def _unstructure_fill_map(converter: cattrs.Converter) -> Any:  # noqa: ANN401 - a cattrs hook
    def unstructure(fills: immutables.Map[str, Fill]) -> list[JsonObject]:
        return [
            cast("JsonObject", converter.unstructure(fill, unstructure_as=Fill))
            for fill in fills.values()
        ]

    return unstructure


def _structure_fill_map(converter: cattrs.Converter) -> Any:  # noqa: ANN401 - a cattrs hook
    def structure(value: object, _: type) -> immutables.Map[str, Fill]:
        if not isinstance(value, list):
            raise TypeError(f"stored fills must be a list, got {type(value).__name__}")
        fills = [converter.structure(item, Fill) for item in value]
        return immutables.Map({fill.trade_id: fill for fill in fills})

    return structure
