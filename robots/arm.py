"""`Arm`: a serial chain of joints with named tool frames."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from cellwright.api.geometry import FloatArray, Pose, check_pose
from cellwright.robots.component import Component, ComponentInfo, check_speed_and_timeout
from cellwright.robots.errors import LimitViolation
from cellwright.robots.goal import Goal


@dataclass(frozen=True)
class JointLimits:
    """Per-joint position limits (rad) and speed limits (rad/s), in joint order."""

    lower: FloatArray
    upper: FloatArray
    velocity: FloatArray


@dataclass(frozen=True)
class ArmInfo(ComponentInfo):
    """An arm: its joints with limits, its named frames (the first is the default tool
    frame) and named joint configurations (`home`)."""

    joint_names: tuple[str, ...] = ()
    limits: JointLimits = field(default_factory=lambda: JointLimits(
        np.zeros(0), np.zeros(0), np.zeros(0)))
    frames: tuple[str, ...] = ()
    configurations: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ArmState:
    """Joint arrays in `ArmInfo.joint_names` order and the world pose of every named frame.

    `stamp_s` is on the control loop's clock (simulation seconds in simulation)."""

    stamp_s: float
    position: FloatArray
    velocity: FloatArray
    effort: FloatArray
    frames: Mapping[str, Pose]


class Arm(Component, ABC):
    """A joint chain. `move_joints` and `move_pose` check their targets (shape, NaN, Inf,
    limits: refused, never clamped) and return a `Goal` at once.

    Implementations provide `info()`, `state()`, `_move_joints()` and `_move_pose()`.
    """

    kind = "arm"

    @abstractmethod
    def info(self) -> ArmInfo:
        ...

    @abstractmethod
    def state(self) -> ArmState:
        """The latest state; cheap, callable from any thread."""
        ...

    def move_joints(self, target_rad: Sequence[float] | FloatArray, *, speed: float = 1.0,
                    timeout_s: float = 20.0) -> Goal[None]:
        """Move to joint positions within the velocity limits.

        Args:
            target_rad: one position per joint, radians, in `info().joint_names` order.
            speed: fraction of the velocity limits, (0, 1].
            timeout_s: time budget on the loop's clock.

        Raises (at once): LimitViolation, NotActive, MotionStopped, EStopActive. The goal
        fails with MotionTimeout, CollisionDetected, MotionStopped or EStopActive.
        """
        target = self.check_joint_target(target_rad)
        check_speed_and_timeout(speed, timeout_s)
        self._check_can_move()
        return self._move_joints(target, speed, timeout_s)

    def move_pose(self, pose: Pose, *, frame: str | None = None, speed: float = 1.0,
                  timeout_s: float = 20.0) -> Goal[None]:
        """Move a named frame (the default tool frame if None) to a world-frame pose.

        Raises (at once): LimitViolation (non-finite pose, unknown frame), Unreachable (no
        inverse kinematics solution), and what `move_joints` raises.
        """
        try:
            check_pose(self.name, pose)
        except ValueError as exc:
            raise LimitViolation(str(exc)) from None
        frames = self.info().frames
        name = frames[0] if frame is None and frames else frame
        if name not in frames:
            raise LimitViolation(f"{self.name}: no frame {frame!r}; it has {list(frames)}")
        check_speed_and_timeout(speed, timeout_s)
        self._check_can_move()
        return self._move_pose(pose, str(name), speed, timeout_s)

    def tool_pose(self, frame: str | None = None) -> Pose:
        """The current world pose of a named frame (the default tool frame if None)."""
        frames = self.state().frames
        name = frame if frame is not None else self.info().frames[0]
        try:
            return frames[name]
        except KeyError:
            raise LimitViolation(f"{self.name}: no frame {name!r}; it has {sorted(frames)}") from None

    def check_joint_target(self, target_rad: Sequence[float] | FloatArray) -> FloatArray:
        """Return the target as an array, or raise LimitViolation saying what is wrong."""
        info = self.info()
        return check_joints(self.name, target_rad, info.joint_names, info.limits)

    # --- implementation hooks --------------------------------------------------------
    @abstractmethod
    def _move_joints(self, target: FloatArray, speed: float, timeout_s: float) -> Goal[None]:
        ...

    @abstractmethod
    def _move_pose(self, pose: Pose, frame: str, speed: float, timeout_s: float) -> Goal[None]:
        ...


def check_joints(owner: str, values: Sequence[float] | FloatArray, joint_names: Sequence[str],
                 limits: JointLimits) -> FloatArray:
    """`values` as an array of one finite angle per joint within the limits, or
    LimitViolation naming `owner`, the joint and the limits (refused, never clamped)."""
    try:
        target = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise LimitViolation(f"{owner}: expected {len(joint_names)} joint positions (rad), "
                             f"got {values!r}") from None
    if target.shape != (len(joint_names),):
        raise LimitViolation(
            f"{owner}: expected {len(joint_names)} joint positions "
            f"({', '.join(joint_names)}), got shape {target.shape}")
    for i, joint in enumerate(joint_names):
        value, low, high = target[i], limits.lower[i], limits.upper[i]
        if not np.isfinite(value):
            raise LimitViolation(f"{owner}: joint {joint} target is {value}; give a finite angle")
        if not low <= value <= high:
            raise LimitViolation(
                f"{owner}: joint {joint} target {value:.4f} rad is outside its limits "
                f"[{low:.4f}, {high:.4f}] rad")
    return target
