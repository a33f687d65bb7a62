"""`MockIO`: points from a list; outputs apply on the next tick; tests set inputs."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from cellwright.robots.errors import (
    LimitViolation,
)
from cellwright.robots.io import IO, IOInfo, IOPoint, IOState, Value
from cellwright.robots.mock._common import DRIVER


def check_points(name: str, points: Iterable[IOPoint]) -> tuple[IOPoint, ...]:
    """The points as a tuple, or ValueError naming what is malformed."""
    checked = tuple(points)
    names = [p.name for p in checked]
    for point in checked:
        where = f"{name}: IO point {point.name!r}"
        if not point.name:
            raise ValueError(f"{name}: an IO point has an empty name")
        if names.count(point.name) > 1:
            raise ValueError(f"{where} is declared twice")
        if point.direction not in ("in", "out"):
            raise ValueError(f"{where}: direction must be 'in' or 'out', got {point.direction!r}")
        if point.type not in ("digital", "analog"):
            raise ValueError(f"{where}: type must be 'digital' or 'analog', got {point.type!r}")
        if point.type == "analog" and not (math.isfinite(point.low) and math.isfinite(point.high)
                                           and point.low < point.high):
            raise ValueError(f"{where}: needs finite low < high, got [{point.low}, {point.high}]")
    return checked


class MockIO(IO):
    """IO points held in memory. Outputs written with `set()` and inputs set with
    `set_input()` (by tests or a scene script) take effect on the next loop tick.

    Args:
        points: the points; digital ones start False, analog ones at `low` (or `initial`).
    """

    def __init__(self, name: str, model: str, points: Iterable[IOPoint],
                 initial: Mapping[str, Value] | None = None) -> None:
        super().__init__(name, model, DRIVER)
        self._info = IOInfo(name, self.kind, model, DRIVER, check_points(name, points))
        values: dict[str, Value] = {p.name: False if p.type == "digital" else float(p.low)
                                    for p in self._info.points}
        for key, value in (initial or {}).items():
            values[self.point(key).name] = self._checked(self.point(key), value)
        self._state = IOState(0.0, MappingProxyType(values))
        self._queued: dict[str, Value] = {}
        self._lock = threading.Lock()

    def info(self) -> IOInfo:
        return self._info

    def state(self) -> IOState:
        return self._state

    def set_input(self, name: str, value: Value) -> None:
        """Make input `name` read `value` from the next tick (a sensor seeing something).

        Raises:
            LimitViolation: unknown point, an output, or a value of the wrong type or range.
        """
        point = self.point(name)
        if point.direction != "in":
            raise LimitViolation(f"{self.name}: {name} is an output; write it with set()")
        checked = self._checked(point, value)
        with self._lock:
            self._queued[name] = checked
        self.wake()

    def busy(self) -> bool:
        return bool(self._queued) or super().busy()

    def _write_point(self, name: str, value: Value) -> None:
        with self._lock:
            self._queued[name] = value

    def update(self, now_s: float, dt_s: float) -> None:
        with self._lock:
            pending, self._queued = self._queued, {}
        self._state = IOState(now_s, MappingProxyType({**self._state.values, **pending})
                              if pending else self._state.values)

    def _checked(self, point: IOPoint, value: Value) -> Value:
        if point.type == "digital":
            if not isinstance(value, bool):
                raise LimitViolation(f"{self.name}: {point.name} is digital; give true or false, "
                                     f"got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise LimitViolation(f"{self.name}: {point.name} is analog; give a finite number, "
                                 f"got {value!r}")
        if not point.low <= value <= point.high:
            raise LimitViolation(f"{self.name}: {point.name} {value} {point.unit} is outside "
                                 f"[{point.low}, {point.high}] {point.unit}")
        return float(value)

