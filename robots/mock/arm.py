"""`MockArm`: follows a quintic joint trajectory exactly on the loop's clock; frames by
forward kinematics of the URDF (ShadowKinematics). No physics."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.arm import Arm, ArmInfo, ArmState, JointLimits
from cellwright.robots.errors import (
    MotionStopped,
    MotionTimeout,
    Unreachable,
)
from cellwright.robots.goal import Goal
from cellwright.robots.mock._common import DRIVER, frozen, stop_error, urdf_indices
from cellwright.robots.trajectory import QuinticMove

IK_POSITION_TOLERANCE_M = 5e-3
IK_ORIENTATION_TOLERANCE_RAD = 0.03


class _ArmMotion(Goal[None]):
    def __init__(self, what: str, move: QuinticMove, max_velocity: FloatArray,
                 max_acceleration: FloatArray, timeout_s: float, on_cancel: Callable[[], None]) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.move, self.timeout_s = move, timeout_s
        self.max_velocity, self.max_acceleration = max_velocity, max_acceleration
        self.start_s: float | None = None


class MockArm(Arm):
    """An arm whose joints are exactly where the trajectory says, tick by tick.

    A move samples its `QuinticMove` at the loop time elapsed since it began and succeeds
    at the planned duration; a move longer than its `timeout_s` stops where it is at the
    timeout and fails with MotionTimeout. stop(), estop() and cancel() hold the joints where
    they are; the goal fails on the next update (MotionStopped or EStopActive). Frames come
    from forward kinematics of `urdf_path` in private PyBullet clients (no physics), and
    `move_pose` solves inverse kinematics there, refusing with Unreachable when the best
    solution misses by more than 5 mm or 0.03 rad.

    Args:
        name, model: see `Component`.
        urdf_path: the robot's URDF; `joint_names` and `frames` (link names) name its parts.
        limits: joint limits (rad, rad/s); `max_acceleration` (rad/s^2) per joint.
        configurations: named joint configurations (`home`).
        initial: joint positions at start.
        mount: the base's world pose.
    """

    def __init__(self, name: str, model: str, *, urdf_path: str, joint_names: Sequence[str],
                 frames: Sequence[str], limits: JointLimits, max_acceleration: Sequence[float],
                 configurations: Mapping[str, tuple[float, ...]], initial: Sequence[float],
                 mount: Pose) -> None:
        super().__init__(name, model, DRIVER)
        frozen_limits = JointLimits(frozen(limits.lower), frozen(limits.upper),
                                    frozen(limits.velocity))
        self._info = ArmInfo(name, self.kind, model, DRIVER, joint_names=tuple(joint_names),
                             limits=frozen_limits, frames=tuple(frames),
                             configurations=MappingProxyType(dict(configurations)))
        self._urdf_path, self._mount = urdf_path, mount
        self._max_acceleration = frozen(max_acceleration)
        self._kinematics: dict[str, Any] = {}  # frame -> ShadowKinematics
        self._kin_lock = threading.Lock()  # PyBullet clients are not for two threads at once
        zeros = frozen(np.zeros(len(joint_names)))
        self._state = ArmState(0.0, frozen(initial), zeros, zeros, MappingProxyType({}))
        self._stop_latched = False

    # --- queries (any thread) ------------------------------------------------------------------
    def info(self) -> ArmInfo:
        return self._info

    def state(self) -> ArmState:
        return self._state

    # --- lifecycle (loop thread) ---------------------------------------------------------------
    def _configure(self) -> None:
        from cellwright.robots.sim.kinematics import ShadowKinematics

        joints, links = urdf_indices(self._urdf_path)
        indices = [joints[n] for n in self._info.joint_names]
        rest = np.array(self._info.configurations.get("home", self._state.position), dtype=np.float64)
        with self._kin_lock:
            if not self._kinematics:
                # One private client per frame: each solves for its own link with the plain
                # public API (solve / tool_pose), no per-call link switching.
                self._kinematics = {
                    frame: ShadowKinematics(self._urdf_path, self._mount.position,
                                            self._mount.orientation, indices, links[frame], rest)
                    for frame in self._info.frames}
        self._publish(self._state.stamp_s, self._state.position, self._state.velocity, force_fk=True)

    def _shutdown(self) -> None:
        goal = self._goal
        if goal is not None:
            goal.fail(MotionStopped(f"{self.name}: shut down"))
        with self._kin_lock:
            kinematics, self._kinematics = self._kinematics, {}
            for solver in kinematics.values():
                solver.close()

    def _on_stop(self) -> None:
        self._stop_latched = True

    # --- motion (any thread) -------------------------------------------------------------------
    def _move_joints(self, target: FloatArray, speed: float, timeout_s: float) -> Goal[None]:
        return self._start(target, speed, timeout_s, "joint move")

    def _move_pose(self, pose: Pose, frame: str, speed: float, timeout_s: float) -> Goal[None]:
        with self._kin_lock:
            solver = self._kinematics.get(frame)
            if solver is None:
                raise Unreachable(f"{self.name}: not configured; activate() it first")
            solution = solver.solve(pose.position, pose.orientation,
                                    np.array(self._state.position, dtype=np.float64))
        if (solution.position_error_m > IK_POSITION_TOLERANCE_M
                or solution.orientation_error_rad > IK_ORIENTATION_TOLERANCE_RAD):
            raise Unreachable(
                f"{self.name}: no IK solution for {frame} at position {pose.position} orientation "
                f"{pose.orientation} (best misses by {solution.position_error_m * 1000:.1f} mm, "
                f"{math.degrees(solution.orientation_error_rad):.1f} deg)")
        target = self.check_joint_target(solution.joints.tolist())
        return self._start(target, speed, timeout_s, f"move {frame} to pose")

    def _start(self, target: FloatArray, speed: float, timeout_s: float, what: str) -> Goal[None]:
        max_velocity = np.asarray(self._info.limits.velocity) * speed
        max_acceleration = self._max_acceleration * speed
        start = np.array(self._state.position, dtype=np.float64)
        move = QuinticMove.plan(start, np.array(target, dtype=np.float64), max_velocity,
                                max_acceleration)
        goal = _ArmMotion(f"{self.name}: {what}", move, max_velocity, max_acceleration,
                          timeout_s, on_cancel=lambda: self.wake())
        self._begin(goal)
        return goal

    # --- control loop (loop thread) ------------------------------------------------------------
    def update(self, now_s: float, dt_s: float) -> None:
        stop_latched, self._stop_latched = self._stop_latched, False
        state, goal = self._state, self._goal
        still = np.zeros(len(self._info.joint_names))
        if not isinstance(goal, _ArmMotion) or goal.done():
            self._publish(now_s, state.position, still)
            return
        if goal.cancel_requested or self.stop_requested or stop_latched:
            goal.fail(stop_error(self, goal))
            self._publish(now_s, state.position, still)
            return
        if goal.start_s is None:
            if np.max(np.abs(state.position - goal.move.start), initial=0.0) > 1e-12:
                goal.move = QuinticMove.plan(np.array(state.position), goal.move.goal,
                                             goal.max_velocity, goal.max_acceleration)
            goal.start_s = now_s - dt_s  # it began at the start of this tick
        elapsed = now_s - goal.start_s
        if elapsed > goal.timeout_s + 1e-9:
            goal.fail(MotionTimeout(f"{goal.what}: not done after {goal.timeout_s:.2f} s "
                                    f"(planned {goal.move.duration_s:.2f} s)"))
            self._publish(now_s, state.position, still)
            return
        position, velocity = goal.move.sample(elapsed)
        goal.progress = min(1.0, elapsed / goal.move.duration_s)
        if elapsed + 1e-9 >= goal.move.duration_s:
            self._publish(now_s, goal.move.goal, still)
            goal.succeed(None)
        else:
            self._publish(now_s, position, velocity)

    def _publish(self, now_s: float, position: Any, velocity: Any, force_fk: bool = False) -> None:
        state = self._state
        moved = force_fk or not np.array_equal(position, state.position)
        frames: Mapping[str, Pose] = state.frames
        if moved:
            joints = np.array(position, dtype=np.float64)
            with self._kin_lock:
                computed = {}
                for frame, solver in self._kinematics.items():
                    xyz, quat = solver.tool_pose(joints)
                    computed[frame] = Pose((float(xyz[0]), float(xyz[1]), float(xyz[2])),
                                           (float(quat[0]), float(quat[1]), float(quat[2]),
                                            float(quat[3])))
            frames = MappingProxyType(computed)
        self._state = ArmState(now_s, frozen(position) if moved else state.position,
                               frozen(velocity), state.effort, frames)
