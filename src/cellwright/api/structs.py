"""google.protobuf.Struct <-> plain dicts, with errors that name the field."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import json_format, struct_pb2

from cellwright.api.schema import SchemaError


def to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    """A Struct holding `values` (JSON-like: str, number, bool, None, list, dict)."""
    message = struct_pb2.Struct()
    message.update(values)
    return message


def from_struct(message: struct_pb2.Struct, field: str) -> dict[str, Any]:
    """The Struct as a dict; SchemaError naming `field` if it holds NaN or an infinity,
    which JSON (and so our store and every client) cannot carry."""
    bad = _non_finite(message, field)
    if bad:
        raise SchemaError(bad, "must be a finite number, not NaN or infinity")
    return json_format.MessageToDict(message)


def _non_finite(message: struct_pb2.Struct | struct_pb2.ListValue, path: str) -> str:
    """The path of the first non-finite number inside, or ''."""
    items: Any = (message.fields.items() if isinstance(message, struct_pb2.Struct)
                  else enumerate(message.values))
    for key, value in items:
        here = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
        kind = value.WhichOneof("kind")
        if kind == "number_value" and not math.isfinite(value.number_value):
            return here
        if kind in ("struct_value", "list_value"):
            found = _non_finite(getattr(value, kind), here)
            if found:
                return found
    return ""
