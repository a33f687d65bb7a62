"""Reading fields of hand-written YAML documents with errors that name the key.

Every reader takes `where` (e.g. ``"line.yaml: stations.infeed"``) and the error class to
raise, so each file format keeps its own error type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cellwright.api.geometry import quaternion_from_rpy

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]


def mapping(value: Any, where: str, error: type[ValueError]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise error(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def items(value: Any, where: str, error: type[ValueError]) -> list[Any]:
    if not isinstance(value, list):
        raise error(f"{where}: expected a list, got {type(value).__name__}")
    return value


def required(entry: Mapping[str, Any], key: str, where: str, error: type[ValueError]) -> Any:
    if key not in entry:
        raise error(f"{where}: missing {key!r}")
    return entry[key]


def only_keys(entry: Mapping[str, Any], allowed: set[str], where: str,
              error: type[ValueError], *, top: bool = False) -> None:
    """Refuse unknown keys, so that a typo is an error and not a silent default. `top`: the
    entry is the document itself and `where` the file name (`file: key`, not `file.key`)."""
    extra = sorted(str(k) for k in set(entry) - allowed)
    if extra:
        key = f"{where}: {extra[0]}" if top else f"{where}.{extra[0]}"
        raise error(f"{key}: unknown key; allowed: {sorted(allowed)}")


def floats(value: Any, length: int | None, where: str, error: type[ValueError]) -> list[float]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise error(f"{where}: expected a list of {length or 'some'} numbers, got {value!r}")
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        raise error(f"{where}: expected numbers, got {value!r}") from None
    if not all(math.isfinite(v) for v in numbers) or any(isinstance(v, bool) for v in value):
        raise error(f"{where}: expected finite numbers, got {value!r}")
    return numbers


def vec3(entry: Mapping[str, Any], key: str, where: str, error: type[ValueError],
         default: Vec3 | None = None) -> Vec3:
    if key not in entry:
        if default is None:
            raise error(f"{where}: missing {key!r}")
        return default
    x, y, z = floats(entry[key], 3, f"{where}.{key}", error)
    return (x, y, z)


def orientation(entry: Mapping[str, Any], where: str, error: type[ValueError]) -> Quat:
    """`orientation_rpy: [roll, pitch, yaw]` in radians (identity if absent)."""
    roll, pitch, yaw = vec3(entry, "orientation_rpy", where, error, (0.0, 0.0, 0.0))
    return quaternion_from_rpy(roll, pitch, yaw)


def names(value: Any, where: str, error: type[ValueError]) -> tuple[str, ...]:
    """A list of strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise error(f"{where}: expected a list of names, got {value!r}")
    return tuple(value)
