"""`MockBase`: a planar base that drives straight to its target at a fixed speed."""

from __future__ import annotations

import math
from collections.abc import Callable

from cellwright.api.geometry import ORIGIN, Pose, yaw_of
from cellwright.robots.base import MOBILITIES, Base, BaseInfo, BaseState
from cellwright.robots.errors import (
    MotionTimeout,
)
from cellwright.robots.goal import Goal
from cellwright.robots.mock._common import DRIVER, stop_error


class _BaseMotion(Goal[None]):
    def __init__(self, what: str, target: tuple[float, float, float], speed: float,
                 timeout_s: float, on_cancel: Callable[[], None]) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.target, self.speed, self.timeout_s = target, speed, timeout_s
        self.start_s: float | None = None
        self.distance = 0.0


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


class MockBase(Base):
    """A planar base as an ideal follower: it drives straight to (x, y) at `speed_m_s`
    (times the move's speed fraction) while turning toward the yaw at `yaw_rate_rad_s`;
    the floating-base pose is in `state().pose` (z and roll/pitch from `start`)."""

    def __init__(self, name: str, model: str, *, mobility: str = "planar",
                 workspace: tuple[float, float, float, float] = (-math.inf, -math.inf, math.inf, math.inf),
                 speed_m_s: float = 0.5, yaw_rate_rad_s: float = 1.0,
                 start: Pose = ORIGIN) -> None:
        super().__init__(name, model, DRIVER)
        if mobility not in MOBILITIES:
            raise ValueError(f"{name}: mobility must be one of {MOBILITIES}, got {mobility!r}")
        self._info = BaseInfo(name, self.kind, model, DRIVER, mobility=mobility,
                              workspace=workspace,
                              approximation="an ideal follower: no wheels, slip or obstacles")
        self.speed_m_s, self.yaw_rate_rad_s = speed_m_s, yaw_rate_rad_s
        self._z = start.position[2]
        self._xyyaw = (start.position[0], start.position[1], yaw_of(start.orientation))
        self._state = BaseState(0.0, self._pose(*self._xyyaw), False)
        self._stop_latched = False

    def info(self) -> BaseInfo:
        return self._info

    def state(self) -> BaseState:
        return self._state

    def _on_stop(self) -> None:
        self._stop_latched = True

    def _move_to(self, x_m: float, y_m: float, yaw_rad: float, speed: float,
                 timeout_s: float) -> Goal[None]:
        goal = _BaseMotion(f"{self.name}: drive to ({x_m:.3f}, {y_m:.3f}, {yaw_rad:.3f})",
                           (x_m, y_m, yaw_rad), speed, timeout_s, on_cancel=lambda: self.wake())
        self._begin(goal)
        return goal

    def update(self, now_s: float, dt_s: float) -> None:
        stop_latched, self._stop_latched = self._stop_latched, False
        goal = self._goal
        if not isinstance(goal, _BaseMotion) or goal.done():
            self._state = BaseState(now_s, self._state.pose, False)
            return
        if goal.cancel_requested or self.stop_requested or stop_latched:
            goal.fail(stop_error(self, goal))
            self._state = BaseState(now_s, self._state.pose, False)
            return
        x, y, yaw = self._xyyaw
        tx, ty, tyaw = goal.target
        if goal.start_s is None:
            goal.start_s, goal.distance = now_s - dt_s, math.hypot(tx - x, ty - y)
        remaining = math.hypot(tx - x, ty - y)
        step = self.speed_m_s * goal.speed * dt_s
        if remaining <= step:
            x, y = tx, ty
        else:
            x, y = x + (tx - x) * step / remaining, y + (ty - y) * step / remaining
        turn = _wrap(tyaw - yaw)
        yaw_step = self.yaw_rate_rad_s * goal.speed * dt_s
        yaw = tyaw if abs(turn) <= yaw_step else yaw + math.copysign(yaw_step, turn)
        self._xyyaw = (x, y, yaw)
        arrived = (x, y) == (tx, ty) and yaw == tyaw
        self._state = BaseState(now_s, self._pose(x, y, yaw), not arrived)
        if goal.distance > 0:
            goal.progress = min(1.0, 1.0 - math.hypot(tx - x, ty - y) / goal.distance)
        if arrived:
            goal.succeed(None)
        elif now_s - goal.start_s > goal.timeout_s + 1e-9:
            goal.fail(MotionTimeout(f"{goal.what}: not there after {goal.timeout_s:.2f} s"))
            self._state = BaseState(now_s, self._state.pose, False)

    def _pose(self, x: float, y: float, yaw: float) -> Pose:
        return Pose((x, y, self._z), (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))
