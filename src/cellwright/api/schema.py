"""A small JSON-schema subset for parameters, shared by workflows and skills.

A schema is an object schema::

    {"type": "object",
     "properties": {"part": {"type": "string", "enum": ["red_cube"], "description": "..."},
                    "speed": {"type": "number", "minimum": 0, "maximum": 1, "default": 1}},
     "required": ["part"]}

Property types: string, number, integer, boolean, array, object; optional keys: enum,
minimum, maximum, default, description; arrays also: items (the spec every element
meets; no default), minItems, maxItems. Unknown parameters are refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

CELL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
"""What a cell id may look like (config files and the Connect hello)."""

TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
    "array": (list,), "object": (dict,),
}
PROPERTY_KEYS = frozenset({"type", "description", "enum", "default", "minimum", "maximum",
                           "items", "minItems", "maxItems"})
ARRAY_KEYS = frozenset({"items", "minItems", "maxItems"})
NUMERIC = frozenset({"number", "integer"})
MAX_QUOTE = 60


def clip(text: str, limit: int = MAX_QUOTE) -> str:
    """`text` for an error message, shortened past `limit` characters: a message echoing
    a 64 KiB value would overflow gRPC's metadata limit and hide the error."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def quote(value: Any, limit: int = MAX_QUOTE) -> str:
    """`repr(value)`, clipped (see `clip`)."""
    return clip(repr(value), limit)


class SchemaError(ValueError):
    """A value (or a schema) is wrong; `field` names where, e.g. `params.part`."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_schema(schema: Mapping[str, Any], where: str) -> None:
    """Raise SchemaError unless `schema` is an object schema in this subset."""
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        raise SchemaError(f"{where}.properties", "expected a mapping of parameter specs")
    for name, spec in properties.items():
        check_property(spec, f"{where}.{name}")
    for name in schema.get("required", []):
        if name not in properties:
            raise SchemaError(f"{where}.required", f"{name!r} is not a declared parameter")


def check_property(spec: Any, here: str, *, element: bool = False) -> None:
    """Raise SchemaError unless `spec` is a property spec of this subset (`element`: an
    array's `items`, which takes no default)."""
    if not isinstance(spec, Mapping) or spec.get("type") not in TYPES:
        raise SchemaError(here, f"needs a type, one of {sorted(TYPES)}")
    allowed = PROPERTY_KEYS - {"default"} if element else PROPERTY_KEYS
    if extra := set(spec) - allowed:
        raise SchemaError(f"{here}.{sorted(extra)[0]}", f"unknown key; allowed: {sorted(allowed)}")
    _check_keywords(spec, here)
    if "items" in spec:
        check_property(spec["items"], f"{here}.items", element=True)
    if "default" in spec:
        check_value(spec, spec["default"], f"{here}.default")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_keywords(spec: Mapping[str, Any], here: str) -> None:
    """Raise SchemaError unless description, enum, minimum and maximum fit the type."""
    kind = spec["type"]
    if not isinstance(spec.get("description", ""), str):
        raise SchemaError(f"{here}.description", "expected text")
    if "enum" in spec:
        choices = spec["enum"]
        if not isinstance(choices, list) or not choices:
            raise SchemaError(f"{here}.enum", "expected a non-empty list of allowed values")
        for choice in choices:
            try:
                check_value({"type": kind}, choice, f"{here}.enum")
            except SchemaError as exc:
                raise SchemaError(f"{here}.enum", exc.problem) from exc
    for bound in ("minimum", "maximum"):
        if bound in spec and kind not in NUMERIC:
            raise SchemaError(f"{here}.{bound}", f"only number and integer parameters have a {bound}")
        if bound in spec and not _is_number(spec[bound]):
            raise SchemaError(f"{here}.{bound}", f"expected a finite number, got {spec[bound]!r}")
    if "minimum" in spec and "maximum" in spec and spec["maximum"] < spec["minimum"]:
        raise SchemaError(f"{here}.maximum", f"{spec['maximum']} is below the minimum {spec['minimum']}")
    for key in sorted(ARRAY_KEYS & set(spec)):
        if kind != "array":
            raise SchemaError(f"{here}.{key}", f"only array parameters have {key}")
    for bound in ("minItems", "maxItems"):
        count = spec.get(bound, 0)  # 3.0 is 3: a gRPC Struct carries every number as a double
        if isinstance(count, bool) or not isinstance(count, int | float) or count < 0 or count % 1:
            raise SchemaError(f"{here}.{bound}", f"expected an integer >= 0, got {quote(count)}")
    if spec.get("maxItems", math.inf) < spec.get("minItems", 0):
        raise SchemaError(f"{here}.maxItems", f"{spec['maxItems']} is below minItems {spec['minItems']}")


def check_value(spec: Mapping[str, Any], value: Any, where: str) -> Any:
    """Return `value` (integral floats made int for integer specs) or raise SchemaError."""
    kind = spec["type"]
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)  # protobuf Struct carries every number as a double
    types = TYPES[kind]
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise SchemaError(where, f"expected {kind}, got {type(value).__name__} {quote(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(where, f"expected a finite number, got {quote(value)}")
    if "enum" in spec and value not in spec["enum"]:
        raise SchemaError(where, f"{quote(value)} is not one of {list(spec['enum'])}")
    if "minimum" in spec and value < spec["minimum"]:
        raise SchemaError(where, f"{quote(value)} is below the minimum {spec['minimum']}")
    if "maximum" in spec and value > spec["maximum"]:
        raise SchemaError(where, f"{quote(value)} is above the maximum {spec['maximum']}")
    if isinstance(value, list):
        if len(value) < spec.get("minItems", 0):
            raise SchemaError(where, f"has {len(value)} items, fewer than minItems {spec['minItems']}")
        if len(value) > spec.get("maxItems", math.inf):
            raise SchemaError(where, f"has {len(value)} items, more than maxItems {spec['maxItems']}")
        if "items" in spec:
            value = [check_value(spec["items"], v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def validate(schema: Mapping[str, Any], values: Mapping[str, Any], prefix: str,
             owner: str) -> dict[str, Any]:
    """Check `values` against `schema`, fill defaults, and return the result.

    Errors name the field as `<prefix>.<name>` and say what `owner` (e.g. "workflow
    pick-place") accepts.
    """
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    for name in values:
        if name not in properties:
            raise SchemaError(f"{prefix}.{clip(name)}", f"unknown parameter; {owner} takes "
                              f"{sorted(properties) or 'no parameters'}")
    result: dict[str, Any] = {}
    for name, spec in properties.items():
        if name in values:
            result[name] = check_value(spec, values[name], f"{prefix}.{name}")
        elif "default" in spec:
            result[name] = spec["default"]
        elif name in required:
            hint = f": one of {list(spec['enum'])}" if "enum" in spec else f" ({spec['type']})"
            raise SchemaError(f"{prefix}.{name}", f"required by {owner}{hint}")
    return result
