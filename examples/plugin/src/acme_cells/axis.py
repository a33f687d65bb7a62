"""A linear axis as an `Arm` with one prismatic joint (metres), and its registry entry
`mock.acme_axis`. A mock: the carriage follows its commands exactly, at a set speed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cellwright.robots import (
    Arm,
    ArmInfo,
    ArmState,
    BuildContext,
    EStopActive,
    FloatArray,
    Goal,
    JointLimits,
    MotionStopped,
    MotionTimeout,
    Pose,
    Robot,
    RobotModel,
    Unreachable,
)


class AxisMove(Goal[None]):
    """A goal with its plan: where to, how fast, within what time (the loop's clock)."""

    def __init__(self, what: str, target_m: float, speed_m_s: float, timeout_s: float,
                 on_cancel: Callable[[], None]) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.target_m, self.speed_m_s, self.timeout_s = target_m, speed_m_s, timeout_s
        self.started_s: float | None = None


class LinearAxis(Arm):
    """A carriage on a rail along the mount's x axis; frame `carriage`."""

    def __init__(self, name: str, mount: Pose, length_m: float, speed_m_s: float) -> None:
        super().__init__(name, model="acme_axis", driver="mock")
        self._mount = mount
        self._info = ArmInfo(
            name, self.kind, self.model, self.driver, joint_names=("x",),
            limits=JointLimits(np.array([0.0]), np.array([length_m]), np.array([speed_m_s])),
            frames=("carriage",), configurations={"home": (0.0,)})
        self._state = self._snapshot(0.0, 0.0, 0.0)

    def info(self) -> ArmInfo:
        return self._info

    def state(self) -> ArmState:
        return self._state  # replaced whole by update(): safe to read from any thread

    def _snapshot(self, now_s: float, x_m: float, speed_m_s: float) -> ArmState:
        mx, my, mz = self._mount.position
        carriage = Pose((mx + x_m, my, mz), self._mount.orientation)
        return ArmState(now_s, np.array([x_m]), np.array([speed_m_s]), np.zeros(1),
                        {"carriage": carriage})

    # motion (any thread): plan, put the plan on the goal, hand it to _begin()
    def _move_joints(self, target: FloatArray, speed: float, timeout_s: float) -> Goal[None]:
        goal = AxisMove(f"{self.name}: to {target[0]:.3f} m", float(target[0]),
                        speed * float(self._info.limits.velocity[0]), timeout_s,
                        on_cancel=self.wake)
        self._begin(goal)
        return goal

    def _move_pose(self, pose: Pose, frame: str, speed: float, timeout_s: float) -> Goal[None]:
        mx, my, mz = self._mount.position
        x, y, z = pose.position
        if abs(y - my) > 1e-3 or abs(z - mz) > 1e-3:
            raise Unreachable(f"{self.name}: {pose.position} is off the rail")
        return self.move_joints([x - mx], speed=speed, timeout_s=timeout_s)

    # the control loop (loop thread): advance the goal, end it
    def update(self, now_s: float, dt_s: float) -> None:
        x = float(self._state.position[0])
        goal = self._goal
        if not isinstance(goal, AxisMove) or goal.done():
            self._state = self._snapshot(now_s, x, 0.0)
            return
        if goal.started_s is None:
            goal.started_s = now_s
        if goal.cancel_requested or self.stop_requested:  # this axis's stop: hold where it is
            self._state = self._snapshot(now_s, x, 0.0)
            goal.fail(EStopActive(f"{goal.what}: e-stopped") if self.estopped
                      else MotionStopped(f"{goal.what}: stopped"))
            return
        if now_s - goal.started_s > goal.timeout_s:
            self._state = self._snapshot(now_s, x, 0.0)
            goal.fail(MotionTimeout(f"{goal.what}: not there after {goal.timeout_s} s"))
            return
        step = goal.speed_m_s * dt_s
        new_x = x + float(np.clip(goal.target_m - x, -step, step))
        self._state = self._snapshot(now_s, new_x, (new_x - x) / dt_s)
        if new_x == goal.target_m:
            goal.succeed(None)


def build(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    """The registry's factory: one axis component called `<robot>/axis`."""
    axis = LinearAxis(f"{context.robot_name}/axis", context.mount, float(config["length_m"]),
                      float(config["speed_m_s"]))
    return Robot(context.robot_name, "mock.acme_axis", "acme_axis", "mock", {"axis": axis},
                 approximations=("mock axis: moves exactly as commanded, no dynamics",))


MODEL = RobotModel(
    id="mock.acme_axis", model="acme_axis", driver="mock", build=build,
    config_schema={"type": "object", "properties": {
        "length_m": {"type": "number", "minimum": 0.1, "maximum": 10, "default": 1.0},
        "speed_m_s": {"type": "number", "minimum": 0.01, "maximum": 2, "default": 0.5}}},
    description="Acme linear axis (mock): one prismatic joint, a carriage frame")
