"""`check_component`: does a component keep the contract of its kind? (Gymnasium's
`check_env`, for robots.)

    loop = ControlLoop(1 / 240)          # with world=... for a simulated one
    loop.add(arm)
    loop.start()
    check_component(arm, loop)            # AssertionError listing every broken promise

It checks, in order, and collects every failure before raising:

    lifecycle   activate() is idempotent; deactivate() refuses motion with NotActive;
                activate() again works
    info        a qualified name (`robot/x`), the class's kind, a driver; per kind: joint
                names and limits of one length, lower < upper, velocity > 0, a frame (arm);
                stroke and force > 0 (gripper); a known mobility (base); well-formed points (IO)
    state       arrays of the right length, finite, in range (so in SI units), a finite
                stamp, unit quaternions (that info() and state() are cheap snapshots is
                part of the contract but not timed here: no wall-clock limits in tests)
    limits      NaN, Inf, out-of-limit and wrong-shape targets (and per kind: width, force,
                workspace, IO points and types) raise LimitViolation at once, never clamp,
                and nothing moves
    stop flags  stop() refuses motion (MotionStopped) until resume(); estop() refuses it
                (EStopActive) until reset_estop() and resume()
    motion      (motion=True) a small safe motion reaches its target; stop(), estop() and
                cancel() during a motion end its goal (MotionStopped / EStopActive) within
                `stop_within_s` of loop time and the component holds still

A component of a kind it does not know gets the lifecycle and stop-flag checks.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from cellwright.api.geometry import Pose, yaw_of
from cellwright.robots.arm import Arm
from cellwright.robots.base import MOBILITIES, Base
from cellwright.robots.component import Component, Lifecycle
from cellwright.robots.errors import EStopActive, LimitViolation, MotionStopped, NotActive, RobotError
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper
from cellwright.robots.io import IO, IOPoint
from cellwright.robots.loop import ControlLoop
from cellwright.testing.waiting import wait_until

ARM_TOLERANCE_RAD = 5e-3
GRIPPER_TOLERANCE_M = 1e-3
BASE_TOLERANCE_M = 1e-2
LEGGED_TOLERANCE_M = 3e-2
"""A legged base arrives where its last footsteps land: within 3 cm (the G1's gait)."""
HOLD_TOLERANCE = 5e-3
"""How far a stopped component may drift while it holds (rad or m)."""
"""What one info() or state() call may cost on average."""

Command = Callable[[], Any]


@dataclass
class _Report:
    name: str
    failures: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failures.append(message)

    @contextlib.contextmanager
    def section(self, what: str) -> Iterator[None]:
        """Run a group of checks; an assertion or an unexpected error becomes one failure."""
        try:
            yield
        except AssertionError as exc:
            self.fail(f"{what}: {exc}")
        except Exception as exc:
            self.fail(f"{what}: unexpected {type(exc).__name__}: {exc}")


@dataclass
class _Env:
    component: Component
    loop: ControlLoop
    report: _Report
    wall_timeout_s: float
    stop_within_s: float

    def call(self, fn: Callable[[], Any]) -> Any:
        return self.loop.call(fn, self.wall_timeout_s)

    def advance(self, ticks: int) -> None:
        """Let the loop tick at least `ticks` times (a timer keeps a lockstep loop going)."""
        self.loop.sleep(ticks * self.loop.dt).result(self.wall_timeout_s)

    def settle(self) -> None:
        self.loop.settled([self.component]).result(self.wall_timeout_s)

    def finish(self, goal: Goal[Any]) -> None:
        """End a goal the kit did not want (cancel it, wait for it)."""
        goal.cancel()
        goal.wait(self.wall_timeout_s)
        self.settle()

    def expect(self, error: type[RobotError], what: str, command: Command) -> None:
        """`command()` must raise `error` at once; anything else is a failure."""
        try:
            result = command()
        except error:
            return
        except RobotError as exc:
            self.report.fail(f"{what}: raised {type(exc).__name__} ({exc}); expected {error.__name__}")
            return
        except Exception as exc:
            self.report.fail(f"{what}: raised {type(exc).__name__} ({exc}); expected {error.__name__}")
            return
        clamp = " (was it clamped?)" if error is LimitViolation else ""
        self.report.fail(f"{what}: was accepted{clamp}; expected {error.__name__} at once")
        if isinstance(result, Goal):
            self.finish(result)


# --- per kind -------------------------------------------------------------------------------
class _Kind:
    """The checks of one kind; the generic one knows no commands."""

    def __init__(self, env: _Env) -> None:
        self.env = env
        self.c: Any = env.component

    def info_problems(self) -> list[str]:
        return []

    def state_problems(self) -> list[str]:
        return []

    def safe_command(self) -> Command | None:
        """A command that moves nothing (to the current position), or None."""
        return None

    def limit_cases(self) -> list[tuple[str, Command]]:
        return []

    def snapshot(self) -> Any:
        return None

    def drift(self, before: Any, after: Any) -> float:
        return 0.0

    def small_motion(self) -> None:
        """Command a small safe motion and assert it gets there."""

    def long_motion(self) -> Goal[Any] | None:
        """A motion long enough to be interrupted, or None."""
        return None


def _finite(values: Any) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, dtype=np.float64))))


def _pose_problems(what: str, pose: Any) -> list[str]:
    if not isinstance(pose, Pose):
        return [f"{what} is a {type(pose).__name__}, not a Pose"]
    if len(pose.position) != 3 or len(pose.orientation) != 4:
        return [f"{what} needs 3 coordinates and a 4-element quaternion, got {pose}"]
    if not _finite((*pose.position, *pose.orientation)):
        return [f"{what} is not finite: {pose}"]
    norm = float(np.linalg.norm(pose.orientation))
    if abs(norm - 1.0) > 1e-3:
        return [f"{what} orientation is not a unit quaternion (norm {norm:.4f})"]
    return []


class _ArmKind(_Kind):
    c: Arm

    def info_problems(self) -> list[str]:
        info, problems = self.c.info(), []
        n = len(info.joint_names)
        if n == 0 or len(set(info.joint_names)) != n:
            problems.append(f"joint_names must be unique and non-empty, got {info.joint_names}")
        limits = info.limits
        for what in ("lower", "upper", "velocity"):
            array = np.asarray(getattr(limits, what))
            if array.shape != (n,):
                problems.append(f"limits.{what} has shape {array.shape}; {n} joints need ({n},)")
        if problems:
            return problems
        lower, upper, velocity = (np.asarray(a, dtype=np.float64)
                                  for a in (limits.lower, limits.upper, limits.velocity))
        for i, joint in enumerate(info.joint_names):
            if not (np.isfinite(lower[i]) and np.isfinite(upper[i]) and lower[i] < upper[i]):
                problems.append(f"joint {joint}: limits need finite lower < upper, got "
                                f"[{lower[i]}, {upper[i]}]")
            if not (np.isfinite(velocity[i]) and velocity[i] > 0):
                problems.append(f"joint {joint}: velocity limit must be > 0, got {velocity[i]}")
        if not info.frames:
            problems.append("an arm needs at least one frame (the first is the tool frame)")
        for key, values in info.configurations.items():
            array = np.asarray(values, dtype=np.float64)
            if array.shape != (n,) or not _finite(array):
                problems.append(f"configuration {key!r} must be {n} finite angles, got {values}")
            elif np.any(array < lower - 1e-9) or np.any(array > upper + 1e-9):
                problems.append(f"configuration {key!r} is outside the joint limits: {values}")
        return problems

    def state_problems(self) -> list[str]:
        info, state, problems = self.c.info(), self.c.state(), []
        n = len(info.joint_names)
        if not math.isfinite(state.stamp_s):
            problems.append(f"stamp_s is {state.stamp_s}")
        for what in ("position", "velocity", "effort"):
            array = np.asarray(getattr(state, what))
            if array.shape != (n,):
                problems.append(f"{what} has shape {array.shape}, expected ({n},)")
            elif not _finite(array):
                problems.append(f"{what} is not finite: {array}")
        if not problems:
            position = np.asarray(state.position, dtype=np.float64)
            if (np.any(position < np.asarray(info.limits.lower) - 1e-2)
                    or np.any(position > np.asarray(info.limits.upper) + 1e-2)):
                problems.append(f"position {position} is outside the joint limits (radians?)")
        for frame in info.frames:
            if frame not in state.frames:
                problems.append(f"frame {frame!r} of info().frames is missing from state().frames")
            else:
                problems += _pose_problems(f"frame {frame!r}", state.frames[frame])
        return problems

    def _here(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        info = self.c.info()
        return np.clip(np.asarray(self.c.state().position, dtype=np.float64),
                       np.asarray(info.limits.lower), np.asarray(info.limits.upper))

    def safe_command(self) -> Command:
        here = self._here()
        return lambda: self.c.move_joints(here)

    def limit_cases(self) -> list[tuple[str, Command]]:
        info, here, arm = self.c.info(), self._here(), self.c
        lower, upper = np.asarray(info.limits.lower), np.asarray(info.limits.upper)
        last = len(here) - 1

        def target(joint: int, value: float) -> list[float]:
            values: list[float] = here.tolist()
            values[joint] = value
            return values

        pose = arm.state().frames.get(info.frames[0]) if info.frames else None
        position = pose.position if pose is not None else (0.3, 0.0, 0.5)
        cases: list[tuple[str, Command]] = [
            ("move_joints with NaN for the first joint", lambda: arm.move_joints(target(0, math.nan))),
            ("move_joints with +Inf for the last joint", lambda: arm.move_joints(target(last, math.inf))),
            ("move_joints with -Inf for the first joint", lambda: arm.move_joints(target(0, -math.inf))),
            ("move_joints 0.1 rad above the first joint's upper limit",
             lambda: arm.move_joints(target(0, float(upper[0]) + 0.1))),
            ("move_joints 0.1 rad below the last joint's lower limit",
             lambda: arm.move_joints(target(last, float(lower[last]) - 0.1))),
            ("move_joints with one joint too few", lambda: arm.move_joints(here[:-1].tolist())),
            ("move_joints with one joint too many", lambda: arm.move_joints([*here.tolist(), 0.0])),
            ("move_joints with a 2-D target", lambda: arm.move_joints([here.tolist()])),
            ("move_joints at speed 0", lambda: arm.move_joints(here.tolist(), speed=0.0)),
            ("move_joints at speed 1.5", lambda: arm.move_joints(here.tolist(), speed=1.5)),
            ("move_joints with timeout_s NaN", lambda: arm.move_joints(here.tolist(), timeout_s=math.nan)),
            ("move_pose with a NaN position",
             lambda: arm.move_pose(Pose((math.nan, position[1], position[2])))),
            ("move_pose with a quaternion of norm 2",
             lambda: arm.move_pose(Pose(tuple(position), (0.0, 0.0, 0.0, 2.0)))),  # type: ignore[arg-type]
            ("move_pose of an unknown frame",
             lambda: arm.move_pose(Pose(tuple(position)), frame="no_such_frame")),  # type: ignore[arg-type]
        ]
        return cases

    def snapshot(self) -> Any:
        return np.array(self.c.state().position, dtype=np.float64)

    def drift(self, before: Any, after: Any) -> float:
        return float(np.max(np.abs(after - before), initial=0.0))

    def _roomiest_joint(self) -> tuple[int, float, float]:
        info = self.c.info()
        lower, upper = np.asarray(info.limits.lower), np.asarray(info.limits.upper)
        joint = int(np.argmax(upper - lower))
        return joint, float(lower[joint]), float(upper[joint])

    def small_motion(self) -> None:
        here = self._here()
        joint, low, high = self._roomiest_joint()
        target = here.copy()
        target[joint] += 0.05 if here[joint] < (low + high) / 2 else -0.05
        self.c.move_joints(target, speed=0.5, timeout_s=10.0).result(self.env.wall_timeout_s)
        self.env.settle()
        error = float(np.max(np.abs(np.asarray(self.c.state().position) - target)))
        assert error <= ARM_TOLERANCE_RAD, (
            f"a 0.05 rad move of joint {self.c.info().joint_names[joint]} ended {error:.4f} rad "
            f"from its target (tolerance {ARM_TOLERANCE_RAD} rad)")

    def long_motion(self) -> Goal[Any]:
        here = self._here()
        joint, low, high = self._roomiest_joint()
        target = here.copy()
        far = high if here[joint] < (low + high) / 2 else low
        target[joint] = here[joint] + float(np.clip(far - here[joint], -1.0, 1.0))
        return self.c.move_joints(target, speed=0.1, timeout_s=120.0)


class _GripperKind(_Kind):
    c: Gripper

    def info_problems(self) -> list[str]:
        info, problems = self.c.info(), []
        if not (math.isfinite(info.stroke_m) and info.stroke_m > 0):
            problems.append(f"stroke_m must be > 0, got {info.stroke_m}")
        if not (math.isfinite(info.max_force_n) and info.max_force_n > 0):
            problems.append(f"max_force_n must be > 0, got {info.max_force_n}")
        return problems

    def state_problems(self) -> list[str]:
        info, state, problems = self.c.info(), self.c.state(), []
        if not math.isfinite(state.stamp_s):
            problems.append(f"stamp_s is {state.stamp_s}")
        if not (math.isfinite(state.width_m) and -1e-3 <= state.width_m <= info.stroke_m + 1e-3):
            problems.append(f"width_m {state.width_m} is not in [0, {info.stroke_m}] m (metres?)")
        if not isinstance(state.holding, bool | np.bool_):
            problems.append(f"holding must be a bool, got {state.holding!r}")
        return problems

    def _width(self) -> float:
        return float(np.clip(self.c.state().width_m, 0.0, self.c.info().stroke_m))

    def safe_command(self) -> Command:
        width = self._width()
        return lambda: self.c.move(width)

    def limit_cases(self) -> list[tuple[str, Command]]:
        g, info = self.c, self.c.info()
        return [
            ("move to 1 cm wider than the stroke", lambda: g.move(info.stroke_m + 0.01)),
            ("move to -1 cm", lambda: g.move(-0.01)),
            ("move to NaN", lambda: g.move(math.nan)),
            ("move to +Inf", lambda: g.move(math.inf)),
            ("move with 1 N more than max_force_n", lambda: g.move(info.stroke_m / 2,
                                                                  force_n=info.max_force_n + 1.0)),
            ("move with force 0 N", lambda: g.move(info.stroke_m / 2, force_n=0.0)),
            ("move with force NaN", lambda: g.move(info.stroke_m / 2, force_n=math.nan)),
            ("move with timeout_s 0", lambda: g.move(info.stroke_m / 2, timeout_s=0.0)),
        ]

    def snapshot(self) -> Any:
        return self.c.state().width_m

    def drift(self, before: Any, after: Any) -> float:
        return abs(float(after) - float(before))

    def small_motion(self) -> None:
        stroke, width = self.c.info().stroke_m, self._width()
        target = width - 0.01 if width > stroke / 2 else width + 0.01
        self.c.move(target).result(self.env.wall_timeout_s)
        self.env.settle()
        error = abs(self.c.state().width_m - target)
        assert error <= GRIPPER_TOLERANCE_M, (
            f"a 10 mm move ended {error * 1000:.2f} mm from its target of {target * 1000:.1f} mm "
            f"(tolerance {GRIPPER_TOLERANCE_M * 1000:.1f} mm)")

    def long_motion(self) -> Goal[Any]:
        stroke, width = self.c.info().stroke_m, self._width()
        return self.c.move(0.0 if width > stroke / 2 else stroke, timeout_s=60.0)


class _BaseKind(_Kind):
    c: Base

    def info_problems(self) -> list[str]:
        info, problems = self.c.info(), []
        if info.mobility not in MOBILITIES:
            problems.append(f"mobility {info.mobility!r} is not one of {MOBILITIES}")
        workspace = info.workspace
        if len(workspace) != 4 or any(math.isnan(v) for v in workspace):
            problems.append(f"workspace must be (x_min, y_min, x_max, y_max), got {workspace}")
        elif not (workspace[0] <= workspace[2] and workspace[1] <= workspace[3]):
            problems.append(f"workspace minimums exceed maximums: {workspace}")
        return problems

    def state_problems(self) -> list[str]:
        state, problems = self.c.state(), []
        if not math.isfinite(state.stamp_s):
            problems.append(f"stamp_s is {state.stamp_s}")
        if not isinstance(state.moving, bool | np.bool_):
            problems.append(f"moving must be a bool, got {state.moving!r}")
        return problems + _pose_problems("pose", state.pose)

    def _here(self) -> tuple[float, float, float]:
        pose = self.c.state().pose
        return pose.position[0], pose.position[1], yaw_of(pose.orientation)

    def _movable(self) -> bool:
        return self.c.info().mobility != "fixed"

    def safe_command(self) -> Command | None:
        if not self._movable():
            return None
        x, y, yaw = self._here()
        return lambda: self.c.move_to(x, y, yaw)

    def limit_cases(self) -> list[tuple[str, Command]]:
        base, (x, y, yaw) = self.c, self._here()
        cases: list[tuple[str, Command]] = [
            ("move_to with x NaN", lambda: base.move_to(math.nan, y, yaw)),
            ("move_to with y +Inf", lambda: base.move_to(x, math.inf, yaw)),
            ("move_to with yaw NaN", lambda: base.move_to(x, y, math.nan)),
            ("move_to at speed 0", lambda: base.move_to(x, y, yaw, speed=0.0)),
        ]
        if not self._movable():
            cases.append(("move_to of a fixed base", lambda: base.move_to(x, y, yaw)))
        _x_min, y_min, x_max, _y_max = self.c.info().workspace
        if math.isfinite(x_max):
            cases.append(("move_to 1 m beyond the workspace's x_max",
                          lambda: base.move_to(x_max + 1.0, y, yaw)))
        if math.isfinite(y_min):
            cases.append(("move_to 1 m below the workspace's y_min",
                          lambda: base.move_to(x, y_min - 1.0, yaw)))
        return cases

    def snapshot(self) -> Any:
        return self.c.state().pose.position

    def drift(self, before: Any, after: Any) -> float:
        return float(math.dist(before, after))

    def _step_x(self, distance: float) -> float:
        x, _y, _yaw = self._here()
        x_min, _, x_max, _ = self.c.info().workspace
        return x + distance if x + distance <= x_max else max(x - distance, x_min)

    def small_motion(self) -> None:
        if not self._movable():
            return
        _x, y, yaw = self._here()
        target = self._step_x(0.05)
        self.c.move_to(target, y, yaw, timeout_s=30.0).result(self.env.wall_timeout_s)
        self.env.settle()
        position = self.c.state().pose.position
        error = math.dist(position[:2], (target, y))
        tolerance = LEGGED_TOLERANCE_M if self.c.info().mobility == "legged" else BASE_TOLERANCE_M
        assert error <= tolerance, (
            f"a 5 cm drive ended {error * 100:.1f} cm from its target (tolerance "
            f"{tolerance * 100:.0f} cm)")

    def long_motion(self) -> Goal[Any] | None:
        if not self._movable():
            return None
        _x, y, yaw = self._here()
        return self.c.move_to(self._step_x(1.0), y, yaw, speed=0.2, timeout_s=120.0)


class _IOKind(_Kind):
    c: IO

    def _points(self) -> tuple[IOPoint, ...]:
        return tuple(self.c.info().points)

    def _output(self) -> IOPoint | None:
        return next((p for p in self._points() if p.direction == "out"), None)

    def info_problems(self) -> list[str]:
        problems, names = [], [p.name for p in self._points()]
        for point in self._points():
            where = f"point {point.name!r}"
            if not point.name or names.count(point.name) > 1:
                problems.append(f"{where}: names must be non-empty and unique")
            if point.direction not in ("in", "out"):
                problems.append(f"{where}: direction {point.direction!r} is not 'in' or 'out'")
            if point.type not in ("digital", "analog"):
                problems.append(f"{where}: type {point.type!r} is not 'digital' or 'analog'")
            if point.type == "analog" and not (math.isfinite(point.low) and math.isfinite(point.high)
                                               and point.low < point.high):
                problems.append(f"{where}: analog needs finite low < high, got [{point.low}, {point.high}]")
        return problems

    def state_problems(self) -> list[str]:
        state, problems = self.c.state(), []
        if not math.isfinite(state.stamp_s):
            problems.append(f"stamp_s is {state.stamp_s}")
        for point in self._points():
            if point.name not in state.values:
                problems.append(f"point {point.name!r} has no value in state().values")
                continue
            value = state.values[point.name]
            if point.type == "digital" and not isinstance(value, bool):
                problems.append(f"digital point {point.name!r} reads {value!r}, not a bool")
            if point.type == "analog" and (isinstance(value, bool) or not isinstance(value, int | float)
                                           or not math.isfinite(value)
                                           or not point.low - 1e-9 <= value <= point.high + 1e-9):
                problems.append(f"analog point {point.name!r} reads {value!r}, not a finite number "
                                f"in [{point.low}, {point.high}] {point.unit}")
        return problems

    def safe_command(self) -> Command | None:
        point = self._output()
        if point is None:
            return None
        value = self.c.state().values[point.name]
        return lambda: self.c.set(point.name, value)

    def limit_cases(self) -> list[tuple[str, Command]]:
        io = self.c
        cases: list[tuple[str, Command]] = [
            ("set of an unknown point", lambda: io.set("no_such_point", True)),
            ("get of an unknown point", lambda: io.get("no_such_point")),
        ]
        for point in self._points():
            name = point.name
            if point.direction == "in":
                cases.append((f"set of input {name!r}", partial(io.set, name, False)))
                continue
            if point.type == "digital":
                wrong: Any = "on"
                cases += [(f"set of digital {name!r} to 1", partial(io.set, name, 1)),
                          (f"set of digital {name!r} to 'on'", partial(io.set, name, wrong))]
            else:
                cases += [(f"set of analog {name!r} to True", partial(io.set, name, True)),
                          (f"set of analog {name!r} to NaN", partial(io.set, name, math.nan)),
                          (f"set of analog {name!r} to +Inf", partial(io.set, name, math.inf)),
                          (f"set of analog {name!r} above its high", partial(io.set, name, point.high + 1.0)),
                          (f"set of analog {name!r} below its low", partial(io.set, name, point.low - 1.0))]
        return cases

    def snapshot(self) -> Any:
        return dict(self.c.state().values)

    def drift(self, before: Any, after: Any) -> float:
        outputs = {p.name for p in self._points() if p.direction == "out"}
        return 0.0 if all(before.get(k) == after.get(k) for k in outputs) else math.inf

    def small_motion(self) -> None:
        point = self._output()
        if point is None:
            return
        old = self.c.state().values[point.name]
        new: bool | float = (not old) if point.type == "digital" else (point.low + point.high) / 2
        self.c.set(point.name, new)
        self.env.advance(3)
        seen = self.c.state().values[point.name]
        try:
            assert seen == new, f"output {point.name!r} reads {seen!r} 3 ticks after set({new!r})"
        finally:
            self.c.set(point.name, old)
            self.env.advance(3)


def _kind_of(env: _Env) -> _Kind:
    component = env.component
    for cls, kind in ((Arm, _ArmKind), (Gripper, _GripperKind), (Base, _BaseKind), (IO, _IOKind)):
        if isinstance(component, cls):
            return kind(env)
    return _Kind(env)


# --- the checks ---------------------------------------------------------------------------------
def _lifecycle(component: Component) -> Lifecycle:
    """Read afresh (keeps type checkers from narrowing across lifecycle calls)."""
    return component.lifecycle


def _check_lifecycle(env: _Env, kind: _Kind) -> None:
    c = env.component
    with env.report.section("lifecycle"):
        env.call(c.activate)
        assert c.lifecycle is Lifecycle.ACTIVE, f"after activate() it is {c.lifecycle.value}"
        env.call(c.activate)
        assert c.lifecycle is Lifecycle.ACTIVE, (
            f"a second activate() left it {c.lifecycle.value}; activate() must be idempotent")
        env.call(c.deactivate)
        assert _lifecycle(c) is Lifecycle.INACTIVE, f"after deactivate() it is {c.lifecycle.value}"
        command = kind.safe_command()
        try:
            if command is not None:
                env.expect(NotActive, "lifecycle: a command while INACTIVE", command)
        finally:
            env.call(c.activate)
        assert _lifecycle(c) is Lifecycle.ACTIVE, f"activate() after deactivate() left it {c.lifecycle.value}"


def _check_info(env: _Env, kind: _Kind) -> None:
    c = env.component
    with env.report.section("info()"):
        info = c.info()
        robot, slash, local = info.name.partition("/")
        problems = []
        if not (robot and slash and local):
            problems.append(f"name {info.name!r} is not qualified as '<robot>/<component>'")
        if info.name != c.name:
            problems.append(f"name {info.name!r} differs from the component's {c.name!r}")
        if info.kind != type(c).kind:
            problems.append(f"kind {info.kind!r} is not its class's kind {type(c).kind!r}")
        if not info.driver:
            problems.append("driver is empty")
        if not info.model:
            problems.append("model is empty")
        problems += kind.info_problems()
        assert not problems, "; ".join(problems)


def _check_state(env: _Env, kind: _Kind) -> None:
    c = env.component
    if not hasattr(c, "state"):
        return
    with env.report.section("state()"):
        problems = kind.state_problems()
        assert not problems, "; ".join(problems)


def _check_limits(env: _Env, kind: _Kind) -> None:
    c = env.component
    with env.report.section("limits"):
        env.settle()
        before = kind.snapshot()
        for what, command in kind.limit_cases():
            env.expect(LimitViolation, f"limits: {what}", command)
        assert not c.has_pending_goal and c.goal is None, (
            f"a refused command left a goal behind ({c.goal or 'a queued one'})")
        env.advance(3)
        drift = kind.drift(before, kind.snapshot())
        assert drift <= HOLD_TOLERANCE, f"refused commands still moved it ({before} -> {kind.snapshot()})"


def _check_stop_flags(env: _Env, kind: _Kind) -> None:
    c = env.component
    command = kind.safe_command()

    def accepted(what: str) -> None:
        if command is None:
            return
        result = command()
        if isinstance(result, Goal):
            result.wait(env.wall_timeout_s)
            assert result.done(), f"{what}: a command to stay put did not end"
        env.settle()

    with env.report.section("stop() and resume()"):
        c.stop()
        assert c.stop_requested, "stop_requested is False after stop()"
        if command is not None:
            env.expect(MotionStopped, "stop(): a command after stop()", command)
        c.resume()
        assert not c.stop_requested, "stop_requested is still True after resume()"
        accepted("after stop() and resume()")
    with env.report.section("estop(), reset_estop() and resume()"):
        c.estop()
        assert c.estopped and c.stop_requested, "estop() did not set estopped and stop_requested"
        if command is not None:
            env.expect(EStopActive, "estop(): a command after estop()", command)
        c.resume()
        assert c.estopped and c.stop_requested, "resume() alone cleared an e-stop"
        if command is not None:
            env.expect(EStopActive, "estop(): a command after resume() without reset_estop()", command)
        c.reset_estop()
        assert not c.estopped, "estopped is still True after reset_estop()"
        if command is not None:
            env.expect(MotionStopped, "estop(): a command after reset_estop() without resume()",
                       command)
        c.resume()
        assert not c.stop_requested, "stop_requested is still True after reset_estop() and resume()"
        accepted("after reset_estop() and resume()")


def _check_small_motion(env: _Env, kind: _Kind) -> None:
    with env.report.section("a small safe motion"):
        kind.small_motion()


def _interrupt(env: _Env, kind: _Kind, how: str) -> None:
    """Start a long motion, interrupt it `how` (stop, estop, cancel) and check the end."""
    c, loop = env.component, env.loop
    expected: type[RobotError] = EStopActive if how == "estop" else MotionStopped
    with env.report.section(f"{how}() during a motion"):
        # The interruption comes from a listener on the loop thread at the motion's 5th
        # tick: a lockstep loop without a world may finish a short motion before a test
        # thread could react, and a fixed tick keeps runs repeatable. On a wall-clock loop
        # (a real device, moving in real time behind a network) at its first running tick.
        after = 5 if loop.lockstep else 1
        holder: list[Goal[Any]] = []
        interrupted: list[float] = []
        ended = threading.Event()

        def interrupt(now_s: float) -> None:
            if ended.is_set() or not holder:
                return
            goal = holder[0]
            if goal.done():
                ended.set()
            elif not c.has_pending_goal and c.goal is goal:  # admitted: it is moving
                interrupted.append(now_s)
                if len(interrupted) >= after:
                    {"stop": c.stop, "estop": c.estop, "cancel": goal.cancel}[how]()
                    ended.set()

        env.call(lambda: loop.add_listener(interrupt, loop.dt, when_idle=False))
        try:
            goal = kind.long_motion()
        except BaseException:
            loop.remove_listener(interrupt)
            raise
        if goal is None:
            loop.remove_listener(interrupt)
            return
        holder.append(goal)
        try:
            wait_until(ended.is_set, env.wall_timeout_s, f"the motion ran {after} ticks and {how}() was called")
            loop.remove_listener(interrupt)
            assert len(interrupted) >= after, (
                f"the motion ended ({goal.error() or 'succeeded'}) before {how}() could be tested")
            started = interrupted[-1]
            assert goal.wait(env.wall_timeout_s), f"the goal did not end after {how}()"
            took = loop.now_s() - started
            error = goal.error()
            assert isinstance(error, expected), (
                f"the goal ended with {type(error).__name__ if error else 'success'} "
                f"({error}); expected {expected.__name__}")
            assert took <= env.stop_within_s + 1e-9, (
                f"the goal took {took:.3f} s of loop time to end (bound {env.stop_within_s} s)")
            env.settle()
            held = kind.snapshot()
            env.advance(10)
            drift = kind.drift(held, kind.snapshot())
            assert drift <= HOLD_TOLERANCE, f"it kept moving after {how}() ({drift:.4f})"
            command = kind.safe_command()
            if how == "stop" and command is not None:
                env.expect(MotionStopped, "stop(): a command before resume()", command)
            if how == "estop" and command is not None:
                env.expect(EStopActive, "estop(): a command before reset_estop()", command)
        finally:
            loop.remove_listener(interrupt)
            if not goal.done():
                env.finish(goal)
            c.reset_estop()
            c.resume()
            env.settle()
        command = kind.safe_command()
        if command is not None:
            result = command()
            if isinstance(result, Goal):
                assert result.wait(env.wall_timeout_s), f"after {how}(): a command to stay put hung"
                assert result.error() is None, (
                    f"after {how}() (and resume): a command to stay put failed: {result.error()}")


def check_component(component: Component, loop: ControlLoop, *, motion: bool = True,
                    stop_within_s: float = 0.5, wall_timeout_s: float = 60.0) -> None:
    """Check that `component` keeps the contract of its kind (see the module docstring).

    Args:
        component: added to `loop` (`loop.add`), which is running (`loop.start()`); it is
            activated if it is not, and left ACTIVE, resumed and not e-stopped.
        loop: the control loop that runs it (lockstep, fast or realtime).
        motion: also command motions (a small one, and ones to stop, e-stop and cancel).
        stop_within_s: loop time a stopped, e-stopped or cancelled goal may take to end.
        wall_timeout_s: a guard against hangs (wall seconds per wait).

    Raises:
        AssertionError: listing every failed check, one per line, each naming the check.
    """
    report = _Report(component.name)
    if not loop.running:
        raise AssertionError(f"{component.name}: the control loop is not running; start() it first")
    if component not in loop.components:
        raise AssertionError(f"{component.name}: add it to the control loop first (loop.add)")
    env = _Env(component, loop, report, wall_timeout_s, stop_within_s)
    kind = _kind_of(env)
    _check_lifecycle(env, kind)
    _check_info(env, kind)
    _check_state(env, kind)
    _check_limits(env, kind)
    _check_stop_flags(env, kind)
    if motion:
        _check_small_motion(env, kind)
        for how in ("stop", "estop", "cancel"):
            _interrupt(env, kind, how)
    if report.failures:
        lines = "\n".join(f"  - {failure}" for failure in report.failures)
        raise AssertionError(f"{component.name} ({type(component).__name__}, kind "
                             f"{type(component).kind}) failed {len(report.failures)} "
                             f"conformance check(s):\n{lines}")


__all__ = ["check_component"]


def check_link_loss(component: Component, loop: ControlLoop, break_link: Callable[[], None],
                    restore_link: Callable[[], None], *, wall_timeout_s: float = 60.0) -> float:
    """Check that a lost connection is an error, never a hang, and that `activate()` recovers.

    During a long motion (if the kind has one) `break_link()` cuts or stalls the link; the
    component must go to ERROR with a reason, the motion's goal (unless it had already
    ended) must end with NotActive and a command must be refused with NotActive. After
    `restore_link()`, `activate()` must bring it back to ACTIVE and a small motion must reach
    its target.

    Returns:
        The loop seconds from the break to ERROR (how long the driver took to notice).

    Raises:
        AssertionError: naming every broken promise.
    """
    report = _Report(component.name)
    env = _Env(component, loop, report, wall_timeout_s, 0.0)
    kind = _kind_of(env)
    env.call(component.activate)
    goal = kind.long_motion()
    if goal is not None:
        wait_until(lambda: component.goal is goal or goal.done(), wall_timeout_s, "the motion starts")
    broken_at = loop.now_s()
    break_link()
    ended_before = goal is None or goal.done()  # a short motion may finish before the break lands
    took = math.inf
    with report.section("a lost link"):
        try:
            wait_until(lambda: _lifecycle(component) is Lifecycle.ERROR, wall_timeout_s,
                       "the component goes to ERROR after its link was lost")
        except TimeoutError:
            raise AssertionError(f"still {component.lifecycle.value} {wall_timeout_s} s after the link "
                                 f"was lost: a lost link must become an error, not a hang") from None
        took = loop.now_s() - broken_at
        assert component.error_reason, "ERROR without a reason"
        if goal is not None:
            assert goal.wait(wall_timeout_s), "the motion's goal hung on the lost link"
            assert ended_before or isinstance(goal.error(), NotActive), (
                f"the motion ended with {goal.error()!r}; expected NotActive")
        command = kind.safe_command()
        if command is not None:
            env.expect(NotActive, "a command after the link was lost", command)
    restore_link()
    with report.section("recovery"):
        env.call(component.activate)
        assert component.lifecycle is Lifecycle.ACTIVE, f"after activate() it is {component.lifecycle.value}"
        kind.small_motion()
    if report.failures:
        lines = "\n".join(f"  - {failure}" for failure in report.failures)
        raise AssertionError(f"{component.name} failed {len(report.failures)} link-loss check(s):\n{lines}")
    return took
