"""`Base`: what carries a robot about the floor (planar wheels or legs), or a fixed mount."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from cellwright.api.geometry import Pose
from cellwright.robots.component import Component, ComponentInfo, check_finite, check_speed_and_timeout
from cellwright.robots.errors import LimitViolation
from cellwright.robots.goal import Goal

MOBILITIES = ("fixed", "planar", "legged")


@dataclass(frozen=True)
class BaseInfo(ComponentInfo):
    """`mobility`: fixed, planar or legged. `workspace`: (x_min, y_min, x_max, y_max) of the
    floor it may be sent to, world frame. `approximation`: "" for a base moved by its own
    physics; otherwise what is approximated (e.g. a walking base driven by a constraint)."""

    mobility: str = "fixed"
    workspace: tuple[float, float, float, float] = (-math.inf, -math.inf, math.inf, math.inf)
    approximation: str = ""


@dataclass(frozen=True)
class BaseState:
    """The floating-base pose (world frame) and whether the base is standing or rolling."""

    stamp_s: float
    pose: Pose
    moving: bool


class Base(Component, ABC):
    """A mobile or fixed base. `move_to(x, y, yaw)` checks the target against the
    workspace and returns a goal; a fixed base refuses every move."""

    kind = "base"

    @abstractmethod
    def info(self) -> BaseInfo:
        ...

    @abstractmethod
    def state(self) -> BaseState:
        ...

    def move_to(self, x_m: float, y_m: float, yaw_rad: float, *, speed: float = 1.0,
                timeout_s: float = 60.0) -> Goal[None]:
        """Go to a floor pose (world frame).

        Raises (at once): LimitViolation (non-finite, outside the workspace, a fixed
        base), NotActive, MotionStopped, EStopActive.
        """
        check_finite(f"{self.name}: target", (x_m, y_m, yaw_rad))
        check_speed_and_timeout(speed, timeout_s)
        info = self.info()
        if info.mobility == "fixed":
            raise LimitViolation(f"{self.name} is a fixed base; it cannot move")
        x_min, y_min, x_max, y_max = info.workspace
        if not (x_min <= x_m <= x_max and y_min <= y_m <= y_max):
            raise LimitViolation(f"{self.name}: target ({x_m:.3f}, {y_m:.3f}) m is outside the "
                                 f"workspace x [{x_min}, {x_max}], y [{y_min}, {y_max}] m")
        self._check_can_move()
        return self._move_to(float(x_m), float(y_m), float(yaw_rad), speed, timeout_s)

    @abstractmethod
    def _move_to(self, x_m: float, y_m: float, yaw_rad: float, speed: float,
                 timeout_s: float) -> Goal[None]:
        ...
