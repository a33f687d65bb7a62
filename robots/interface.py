"""The one robot contract shared by simulated and real robots.

Implementations subclass `Robot` and fill in the `_`-prefixed hooks. The public methods
check every target first (shape, NaN, Inf, joint limits) so no implementation can skip
the checks: bad targets raise `LimitViolation`, they are never clamped.

Threading: motion methods block until done and run on the robot's own thread (the
simulation thread for PyBullet robots). `stop()`, `estop()` and `state()` may be called
from any thread.
"""

from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cellwright.robots.errors import EStopActive, LimitViolation, MotionStopped, NotActive

FloatArray = NDArray[np.float64]


class Lifecycle(enum.Enum):
    """Lifecycle states (after ros2_control): motion is allowed only in ACTIVE."""

    UNCONFIGURED = "unconfigured"
    INACTIVE = "inactive"
    ACTIVE = "active"
    FINALIZED = "finalized"


@dataclass(frozen=True)
class Pose:
    """A pose in the world frame: position in metres, orientation quaternion (x, y, z, w)."""

    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class JointLimits:
    """Per-joint position limits (rad) and speed limits (rad/s), in joint order."""

    lower: FloatArray
    upper: FloatArray
    velocity: FloatArray


@dataclass(frozen=True)
class RobotInfo:
    """What a robot is: model, joints with limits, and capabilities ("arm", "gripper", ...)."""

    name: str
    model: str
    joint_names: tuple[str, ...]
    limits: JointLimits
    capabilities: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class RobotState:
    """A snapshot of the robot: joint arrays in `info().joint_names` order.

    `stamp_s` is on the robot's clock (simulation seconds for simulated robots).
    """

    stamp_s: float
    position: FloatArray
    velocity: FloatArray
    effort: FloatArray
    tool_pose: Pose
    gripper_width_m: float
    gripper_holding: bool
    estopped: bool


class Robot(ABC):
    """A robot arm (with optional gripper). Constructors do no I/O: call `activate()`."""

    def __init__(self) -> None:
        self._lifecycle = Lifecycle.UNCONFIGURED
        self._stop_requested = threading.Event()
        self._estopped = threading.Event()

    # --- lifecycle -----------------------------------------------------------------
    @property
    def lifecycle(self) -> Lifecycle:
        return self._lifecycle

    def activate(self) -> None:
        """Connect/load the robot and allow motion."""
        if self._lifecycle is Lifecycle.FINALIZED:
            raise NotActive(f"{type(self).__name__} is finalized; create a new one")
        self._activate()
        self._lifecycle = Lifecycle.ACTIVE

    def deactivate(self) -> None:
        """Stop and release the robot; no further motion."""
        if self._lifecycle is Lifecycle.ACTIVE:
            self._deactivate()
        self._lifecycle = Lifecycle.FINALIZED

    # --- queries -------------------------------------------------------------------
    @abstractmethod
    def info(self) -> RobotInfo:
        """Model, joint names and limits, capabilities."""

    @abstractmethod
    def state(self) -> RobotState:
        """The latest state; cheap, callable from any thread."""

    # --- motion (checked here, implemented by subclasses) --------------------------
    def move_joints(self, target_rad: Sequence[float], *, speed: float = 1.0,
                    timeout_s: float = 20.0) -> None:
        """Move to joint positions along a trajectory within the velocity limits.

        Args:
            target_rad: one position per joint, radians, in `info().joint_names` order.
            speed: fraction of the velocity limits, (0, 1].
            timeout_s: time budget on the robot's clock.

        Raises:
            LimitViolation, MotionTimeout, CollisionDetected, MotionStopped, EStopActive,
            NotActive.
        """
        target = self.check_joint_target(target_rad)
        self._check_motion(speed, timeout_s)
        self._begin_motion()
        self._move_joints(target, speed, timeout_s)

    def move_pose(self, pose: Pose, *, speed: float = 1.0, timeout_s: float = 20.0) -> None:
        """Move the tool to a world-frame pose (inverse kinematics, then a joint move).

        Raises:
            LimitViolation (non-finite pose), Unreachable, and what move_joints raises.
        """
        values = (*pose.position, *pose.orientation)
        if not all(np.isfinite(values)):
            raise LimitViolation(f"pose must be finite, got {pose}")
        if abs(float(np.linalg.norm(pose.orientation)) - 1.0) > 1e-3:
            raise LimitViolation(f"pose orientation must be a unit quaternion, got {pose.orientation}")
        self._check_motion(speed, timeout_s)
        self._begin_motion()
        self._move_pose(pose, speed, timeout_s)

    def gripper(self, width_m: float, *, force_n: float = 40.0, timeout_s: float = 3.0) -> bool:
        """Open or close the gripper to `width_m` (0 = fully closed) with at most `force_n`.

        Returns:
            True if an object is held between the fingers afterwards (by contact).
        """
        if not (np.isfinite(width_m) and np.isfinite(force_n)) or width_m < 0 or force_n <= 0:
            raise LimitViolation(f"gripper width must be >= 0 and force > 0, got {width_m}, {force_n}")
        self._check_motion(1.0, timeout_s)
        self._begin_motion()
        return self._gripper(width_m, force_n, timeout_s)

    def stop(self) -> None:
        """Interrupt the current motion (any thread); the robot holds its position and
        refuses further motion with MotionStopped until resume()."""
        self._stop_requested.set()

    def resume(self) -> None:
        """Allow motion again after stop() (an e-stop also needs reset_estop())."""
        self._stop_requested.clear()

    def estop(self) -> None:
        """Emergency stop (any thread): halt now and refuse motion until reset_estop()."""
        self._estopped.set()
        self._stop_requested.set()

    def reset_estop(self) -> None:
        """Allow motion again after an e-stop."""
        self._estopped.clear()

    @property
    def estopped(self) -> bool:
        return self._estopped.is_set()

    @property
    def stop_requested(self) -> bool:
        """True from stop() or estop() until resume(): motion must end now."""
        return self._stop_requested.is_set()

    # --- checks shared by every implementation -------------------------------------
    def check_joint_target(self, target_rad: Sequence[float]) -> FloatArray:
        """Return the target as an array, or raise LimitViolation saying what is wrong."""
        info = self.info()
        target = np.asarray(target_rad, dtype=np.float64)
        if target.shape != (len(info.joint_names),):
            raise LimitViolation(
                f"{info.name}: expected {len(info.joint_names)} joint positions "
                f"({', '.join(info.joint_names)}), got shape {target.shape}")
        for i, name in enumerate(info.joint_names):
            value, low, high = target[i], info.limits.lower[i], info.limits.upper[i]
            if not np.isfinite(value):
                raise LimitViolation(f"{info.name}: joint {name} target is {value}; give a finite angle")
            if not low <= value <= high:
                raise LimitViolation(
                    f"{info.name}: joint {name} target {value:.4f} rad is outside its limits "
                    f"[{low:.4f}, {high:.4f}] rad")
        return target

    @staticmethod
    def _check_motion(speed: float, timeout_s: float) -> None:
        if not (np.isfinite(speed) and 0.0 < speed <= 1.0):
            raise LimitViolation(f"speed must be in (0, 1], got {speed}")
        if not (np.isfinite(timeout_s) and timeout_s > 0):
            raise LimitViolation(f"timeout_s must be a finite number > 0, got {timeout_s}")

    def _begin_motion(self) -> None:
        if self._lifecycle is not Lifecycle.ACTIVE:
            raise NotActive(f"{type(self).__name__} is {self._lifecycle.value}; call activate() first")
        if self._estopped.is_set():
            raise EStopActive("robot is e-stopped; reset the e-stop (PackML Clear) before moving")
        if self._stop_requested.is_set():
            raise MotionStopped("robot was stopped; call resume() before moving again")

    # --- hooks for implementations -------------------------------------------------
    @abstractmethod
    def _activate(self) -> None: ...

    @abstractmethod
    def _deactivate(self) -> None: ...

    @abstractmethod
    def _move_joints(self, target: FloatArray, speed: float, timeout_s: float) -> None: ...

    @abstractmethod
    def _move_pose(self, pose: Pose, speed: float, timeout_s: float) -> None: ...

    @abstractmethod
    def _gripper(self, width_m: float, force_n: float, timeout_s: float) -> bool: ...
