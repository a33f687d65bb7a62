"""`Gripper`: fingers with a stroke and a force limit that report whether they hold."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from cellwright.robots.component import Component, ComponentInfo, check_range
from cellwright.robots.errors import LimitViolation
from cellwright.robots.goal import Goal


@dataclass(frozen=True)
class GripperInfo(ComponentInfo):
    """`stroke_m`: the widest opening (from the model); `max_force_n`: the grip force limit."""

    stroke_m: float = 0.0
    max_force_n: float = 0.0
    tool_frame: str = ""
    """The arm frame between the fingers (`panda/arm` frame name), if on an arm."""


@dataclass(frozen=True)
class GripperState:
    stamp_s: float
    width_m: float
    holding: bool


class Gripper(Component, ABC):
    """Parallel fingers. `move()` checks width and force against the model and returns a
    goal whose result tells whether something is held between the fingers afterwards."""

    kind = "gripper"

    @abstractmethod
    def info(self) -> GripperInfo:
        ...

    @abstractmethod
    def state(self) -> GripperState:
        """The latest state; cheap, callable from any thread."""
        ...

    def move(self, width_m: float, *, force_n: float | None = None,
             timeout_s: float = 3.0) -> Goal[bool]:
        """Open or close to `width_m` (0 = closed) pushing with at most `force_n` (the
        model's limit by default).

        Raises (at once): LimitViolation (width outside [0, stroke], force outside
        (0, max_force], a bad timeout), NotActive, MotionStopped, EStopActive.
        """
        info = self.info()
        width = check_range(f"{self.name}: width", width_m, 0.0, info.stroke_m, "m")
        force = info.max_force_n if force_n is None else check_range(
            f"{self.name}: force", force_n, 0.0, info.max_force_n, "N")
        if force <= 0:
            raise LimitViolation(f"{self.name}: force must be > 0 N, got {force}")
        check_range(f"{self.name}: timeout_s", timeout_s, 1e-3, 3600.0, "s")
        self._check_can_move()
        return self._move(width, force, timeout_s)

    def open(self) -> Goal[bool]:
        """Open fully (the model's stroke)."""
        return self.move(self.info().stroke_m)

    @abstractmethod
    def _move(self, width_m: float, force_n: float, timeout_s: float) -> Goal[bool]:
        ...
