"""`MockGripper`: fingers at a fixed speed; grasps snap parts of a KinematicScene."""

from __future__ import annotations

from collections.abc import Callable

from cellwright.api.geometry import Pose
from cellwright.robots.errors import (
    MotionStopped,
    MotionTimeout,
)
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper, GripperInfo, GripperState
from cellwright.robots.mock._common import DRIVER, stop_error
from cellwright.robots.mock.scene import KinematicScene

FINGER_SPEED_M_S = 0.1
"""How fast mock fingers open and close (each finger half of it)."""


class _GripperMotion(Goal[bool]):
    def __init__(self, what: str, width_m: float, timeout_s: float,
                 on_cancel: Callable[[], None]) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.width_m, self.timeout_s = width_m, timeout_s
        self.start_s: float | None = None
        self.start_width_m = 0.0


class MockGripper(Gripper):
    """Fingers that move toward the target width at `finger_speed_m_s`.

    Closing on a part of `scene` that lies between the fingers at the tool frame stops at
    the part's width, reports holding and attaches the part (it follows the tool); opening
    wider than the held part lets it go (see `KinematicScene.release`). The goal's result
    is whether something is held. Without a scene or a tool pose it grasps nothing.

    Args:
        tool_pose: the world pose of the point between the fingers now (the arm's tool
            frame), or None if unknown.
    """

    def __init__(self, name: str, model: str, *, stroke_m: float, max_force_n: float,
                 tool_frame: str = "", tool_pose: Callable[[], Pose | None] | None = None,
                 scene: KinematicScene | None = None,
                 finger_speed_m_s: float = FINGER_SPEED_M_S) -> None:
        super().__init__(name, model, DRIVER)
        self._info = GripperInfo(name, self.kind, model, DRIVER, stroke_m=stroke_m,
                                 max_force_n=max_force_n, tool_frame=tool_frame)
        self.tool_pose = tool_pose
        self.scene = scene
        self.finger_speed_m_s = finger_speed_m_s
        self._held: tuple[str, float] | None = None  # (part id, its width)
        self._state = GripperState(0.0, stroke_m, False)
        self._stop_latched = False

    def info(self) -> GripperInfo:
        return self._info

    def state(self) -> GripperState:
        return self._state

    def _on_stop(self) -> None:
        self._stop_latched = True

    def _shutdown(self) -> None:
        goal = self._goal
        if goal is not None:
            goal.fail(MotionStopped(f"{self.name}: shut down"))

    def _move(self, width_m: float, force_n: float, timeout_s: float) -> Goal[bool]:
        goal = _GripperMotion(f"{self.name}: move to {width_m * 1000:.1f} mm", width_m, timeout_s,
                              on_cancel=lambda: self.wake())
        self._begin(goal)
        return goal

    def update(self, now_s: float, dt_s: float) -> None:
        stop_latched, self._stop_latched = self._stop_latched, False
        tool = self.tool_pose() if self.tool_pose is not None else None
        if self._held is not None and tool is not None and self.scene is not None:
            self.scene.follow(self.name, tool)
        width, goal = self._state.width_m, self._goal
        if not isinstance(goal, _GripperMotion) or goal.done():
            self._publish(now_s, width)
            return
        if goal.cancel_requested or self.stop_requested or stop_latched:
            goal.fail(stop_error(self, goal))
            self._publish(now_s, width)
            return
        if goal.start_s is None:
            goal.start_s, goal.start_width_m = now_s - dt_s, width
        step = self.finger_speed_m_s * dt_s
        target = goal.width_m
        if target < width:  # closing
            blocker = self._held[1] if self._held is not None else None
            if blocker is None and tool is not None and self.scene is not None:
                found = self.scene.part_between(tool, width)
                if found is not None and found[1] > target:
                    blocker = found[1]
                    if width - step <= blocker:
                        self.scene.attach(found[0], self.name, tool)
                        self._held = found
            width = target if width - target <= step else width - step
            if blocker is not None and width <= blocker:
                self._publish(now_s, blocker)
                goal.succeed(True)  # the fingers rest on the part
                return
        else:  # opening
            width = target if target - width <= step else width + step
            if self._held is not None and width > self._held[1] + 1e-6:
                part_id, self._held = self._held[0], None
                if self.scene is not None:
                    self.scene.release(part_id, tool if tool is not None else self.scene.part(part_id).pose)
        span = abs(target - goal.start_width_m)
        goal.progress = 1.0 if span == 0 else min(1.0, abs(width - goal.start_width_m) / span)
        self._publish(now_s, width)
        if width == target:
            goal.succeed(self._held is not None)
        elif now_s - goal.start_s > goal.timeout_s + 1e-9:
            goal.fail(MotionTimeout(f"{goal.what}: not done after {goal.timeout_s:.2f} s "
                                    f"(width {width * 1000:.1f} mm)"))

    def _publish(self, now_s: float, width: float) -> None:
        self._state = GripperState(now_s, float(width), self._held is not None)
