"""`IO`: digital and analog points (conveyors, part-present sensors, stack lights)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from cellwright.robots.component import Component, ComponentInfo, check_range
from cellwright.robots.errors import LimitViolation

Value = bool | float


@dataclass(frozen=True)
class IOPoint:
    """One point. `direction`: "in" (a sensor) or "out" (a command); `type`: "digital"
    (bool) or "analog" (float in [low, high] `unit`)."""

    name: str
    direction: str
    type: str
    low: float = 0.0
    high: float = 1.0
    unit: str = ""


@dataclass(frozen=True)
class IOInfo(ComponentInfo):
    points: tuple[IOPoint, ...] = ()


@dataclass(frozen=True)
class IOState:
    stamp_s: float
    values: Mapping[str, Value] = field(default_factory=dict)


class IO(Component, ABC):
    """A set of points. `set()` checks the point exists, is an output and the value fits
    (digital: a bool; analog: finite, in range); `get()` returns the latest value."""

    kind = "io"

    @abstractmethod
    def info(self) -> IOInfo:
        ...

    @abstractmethod
    def state(self) -> IOState:
        ...

    def point(self, name: str) -> IOPoint:
        """The point called `name`, or LimitViolation listing the known ones."""
        for point in self.info().points:
            if point.name == name:
                return point
        known = [p.name for p in self.info().points]
        raise LimitViolation(f"{self.name}: no IO point {name!r}; it has {known}")

    def get(self, name: str) -> Value:
        """The latest value of point `name` (inputs and outputs)."""
        self.point(name)
        return self.state().values[name]

    def set(self, name: str, value: Value) -> None:
        """Set output `name` to `value` (applied on the next loop tick)."""
        point = self.point(name)
        if point.direction != "out":
            raise LimitViolation(f"{self.name}: {name} is an input; only outputs can be written")
        if point.type == "digital":
            if not isinstance(value, bool):
                raise LimitViolation(f"{self.name}: {name} is digital; write true or false, got {value!r}")
            checked: Value = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                raise LimitViolation(f"{self.name}: {name} is analog; write a number, got {value!r}")
            checked = check_range(f"{self.name}: {name}", value, point.low, point.high, point.unit)
        self._check_can_move()
        self._write_point(name, checked)
        self.wake()

    @abstractmethod
    def _write_point(self, name: str, value: Value) -> None:
        ...
