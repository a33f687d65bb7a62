"""Mock components: ideal followers without physics (ros2_control's mock_components).

    MockArm(Arm)          follows a quintic joint trajectory exactly on the loop's clock;
                          frames by forward kinematics of the URDF (ShadowKinematics)
    MockGripper(Gripper)  fingers at a fixed speed; grasps snap parts of a KinematicScene
    MockBase(Base)        a planar base that drives straight to its target at a fixed speed
    MockIO(IO)            points from a list; outputs apply on the next tick; tests set inputs

Threads: as for every component (see `robots.component`): the loop thread runs the
lifecycle and `read/update/write`; motion methods check, start a `Goal` and return;
`info()` and `state()` return immutable snapshots (frozen dataclasses, read-only arrays,
read-only mappings) replaced whole, so any thread may read them without a lock.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.arm import Arm, ArmInfo, ArmState, JointLimits
from cellwright.robots.base import MOBILITIES, Base, BaseInfo, BaseState
from cellwright.robots.errors import (
    EStopActive,
    LimitViolation,
    MotionStopped,
    MotionTimeout,
    RobotError,
    Unreachable,
)
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper, GripperInfo, GripperState
from cellwright.robots.io import IO, IOInfo, IOPoint, IOState, Value
from cellwright.robots.mock.scene import KinematicScene
from cellwright.robots.trajectory import QuinticMove

DRIVER = "mock"
IK_POSITION_TOLERANCE_M = 5e-3
IK_ORIENTATION_TOLERANCE_RAD = 0.03
ORIGIN = Pose((0.0, 0.0, 0.0))
FINGER_SPEED_M_S = 0.1
"""How fast mock fingers open and close (each finger half of it)."""


def _frozen(values: Any) -> FloatArray:
    """A read-only float64 copy, so a published snapshot cannot be changed by anyone."""
    array = np.array(values, dtype=np.float64)
    array.flags.writeable = False
    return array


def _stop_error(component: Any, goal: Goal[Any]) -> RobotError:
    if component.estopped:
        return EStopActive(f"{goal.what}: e-stopped during motion")
    return MotionStopped(f"{goal.what}: stopped on request")


@functools.cache
def urdf_indices(urdf_path: str) -> tuple[Mapping[str, int], Mapping[str, int]]:
    """(joint name -> index, link name -> index) as PyBullet numbers them.

    PyBullet's indices follow its own traversal of the URDF tree, so they are read from a
    throwaway DIRECT client rather than guessed from the file's order."""
    import pybullet as p

    client = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(urdf_path, useFixedBase=True, physicsClientId=client)
        infos = [p.getJointInfo(body, j, physicsClientId=client)
                 for j in range(p.getNumJoints(body, physicsClientId=client))]
    finally:
        p.disconnect(physicsClientId=client)
    return ({i[1].decode(): int(i[0]) for i in infos}, {i[12].decode(): int(i[0]) for i in infos})


# --- the arm ---------------------------------------------------------------------------------
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
        frozen_limits = JointLimits(_frozen(limits.lower), _frozen(limits.upper),
                                    _frozen(limits.velocity))
        self._info = ArmInfo(name, self.kind, model, DRIVER, joint_names=tuple(joint_names),
                             limits=frozen_limits, frames=tuple(frames),
                             configurations=MappingProxyType(dict(configurations)))
        self._urdf_path, self._mount = urdf_path, mount
        self._max_acceleration = _frozen(max_acceleration)
        self._kinematics: dict[str, Any] = {}  # frame -> ShadowKinematics
        self._kin_lock = threading.Lock()  # PyBullet clients are not for two threads at once
        zeros = _frozen(np.zeros(len(joint_names)))
        self._state = ArmState(0.0, _frozen(initial), zeros, zeros, MappingProxyType({}))
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
            goal.fail(_stop_error(self, goal))
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
        self._state = ArmState(now_s, _frozen(position) if moved else state.position,
                               _frozen(velocity), state.effort, frames)


# --- the gripper -------------------------------------------------------------------------------
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
            goal.fail(_stop_error(self, goal))
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


# --- the base ----------------------------------------------------------------------------------
class _BaseMotion(Goal[None]):
    def __init__(self, what: str, target: tuple[float, float, float], speed: float,
                 timeout_s: float, on_cancel: Callable[[], None]) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.target, self.speed, self.timeout_s = target, speed, timeout_s
        self.start_s: float | None = None
        self.distance = 0.0


def _yaw(q: tuple[float, float, float, float]) -> float:
    x, y, z, w = q
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


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
        self._xyyaw = (start.position[0], start.position[1], _yaw(start.orientation))
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
            goal.fail(_stop_error(self, goal))
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


# --- IO -----------------------------------------------------------------------------------------
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


__all__ = ["MockArm", "MockBase", "MockGripper", "MockIO", "urdf_indices"]
