"""The base of every component: identity, lifecycle, stop hooks and control-loop hooks.

A component is one part of a robot with one kind of job (`arm`, `gripper`, `base`, `io`).
Kind interfaces (`Arm`, `Gripper`, ...) subclass `Component` and put the checks every
implementation inherits in their public methods; implementations (`pybullet`, `mock`,
real drivers) fill in the `_`-prefixed hooks.

Threads:
    - `read()`, `update()`, `write()` and the lifecycle run on the control loop's thread
      (the only thread that may touch a simulator or a driver's session);
    - motion methods may be called from any thread: they check, start a `Goal` and return;
    - `stop()`, `estop()`, `state()` and `info()` are safe from any thread and never wait
      behind queued work: `_on_stop()` / `_on_estop()` are where a driver pushes the stop to
      hardware at once.

People nearby (`robots.safety`, docs/humanoids.md): while a person is near its robot, the
cell's safety monitor sets `speed_override` (0..1) on the loop thread before `update()`;
implementations scale how fast their goals advance by it (0: hold where they are, the
goal still alive). `hazard_points()` tells the monitor where the robot is.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from cellwright.robots.errors import EStopActive, LimitViolation, MotionStopped, NotActive
from cellwright.robots.goal import Goal


class Lifecycle(enum.Enum):
    """Lifecycle states after ros2_control's hardware components: motion only in ACTIVE."""

    UNCONFIGURED = "unconfigured"
    INACTIVE = "inactive"
    ACTIVE = "active"
    ERROR = "error"
    FINALIZED = "finalized"


class Hazard(NamedTuple):
    """A sphere of a robot that people must keep clear of: centre (world frame, m), radius (m)."""

    position: tuple[float, float, float]
    radius_m: float = 0.0


@dataclass(frozen=True)
class ComponentInfo:
    """What a component is. `name` is qualified by its robot: `panda/arm`, `g1/left_arm`."""

    name: str
    kind: str
    model: str
    driver: str


class Component:
    """A component of a robot. Constructors do no I/O: `configure()` and `activate()` do.

    Args:
        name: qualified name, `<robot>/<component>` (e.g. `panda/gripper`).
        model: the robot model (`franka_panda`).
        driver: the implementation (`pybullet`, `mock`, `opcua`, `modbus`).
    """

    kind: ClassVar[str] = "component"

    def __init__(self, name: str, model: str, driver: str) -> None:
        self.name, self.model, self.driver = name, model, driver
        self.__lifecycle = Lifecycle.UNCONFIGURED
        self.__error = ""
        self.__stopped = threading.Event()
        self.__estopped = threading.Event()
        self._goal: Goal[Any] | None = None
        """The active goal (admitted by the loop; it may be done): implementations read it in
        update(). Everything else of the base class's state is private (double underscore),
        so a subclass cannot overwrite it by accident."""
        self.__pending: Goal[Any] | None = None
        self.__stops = 0  # stop() and estop() calls so far
        self.__stops_seen = 0  # of those, how many an update() has run after
        self.__stops_at_tick = 0
        self.__goal_lock = threading.Lock()  # guards _pending between callers and the loop
        self.__speed_override = 1.0
        self.wake: Callable[[], None] = lambda: None
        """Set by the control loop that runs this component: wakes a lockstep loop that
        waits for work. Called after a goal starts and after a stop."""

    # --- lifecycle (control loop thread) --------------------------------------------
    @property
    def lifecycle(self) -> Lifecycle:
        return self.__lifecycle

    @property
    def error_reason(self) -> str:
        """Why the component is in ERROR ("" otherwise)."""
        return self.__error

    def configure(self) -> None:
        """Load or connect (UNCONFIGURED or ERROR -> INACTIVE); no motion yet."""
        if self.__lifecycle is Lifecycle.FINALIZED:
            raise NotActive(f"{self.name} is finalized; build a new one")
        if self.__lifecycle in (Lifecycle.UNCONFIGURED, Lifecycle.ERROR):
            self._configure()
            self.__lifecycle, self.__error = Lifecycle.INACTIVE, ""

    def activate(self) -> None:
        """Allow motion (configures first if needed). Calling it when ACTIVE does nothing."""
        if self.__lifecycle is Lifecycle.ACTIVE:
            return
        self.configure()
        self._activate()
        self.__lifecycle = Lifecycle.ACTIVE

    def deactivate(self) -> None:
        """Stop the motion and refuse new motion (ACTIVE -> INACTIVE)."""
        if self.__lifecycle is Lifecycle.ACTIVE:
            self._end_goal()
            self._deactivate()
            self.__lifecycle = Lifecycle.INACTIVE

    def fail(self, reason: str) -> None:
        """Enter ERROR (a lost driver, a fault, a dead control loop): the queued and the
        active goal end at once with NotActive, the hardware is told to stop, and new motion
        is refused until `activate()` configures it again."""
        if self.__lifecycle is Lifecycle.FINALIZED:
            return
        self.__lifecycle, self.__error = Lifecycle.ERROR, reason
        error = NotActive(f"{self.name} failed: {reason}")
        with self.__goal_lock:
            pending, self.__pending = self.__pending, None
        for goal in (pending, self._goal):
            if goal is not None:
                goal.fail(error)
        self._on_stop()

    def shutdown(self) -> None:
        """Release everything (-> FINALIZED); the component cannot be used again."""
        if self.__lifecycle is not Lifecycle.FINALIZED:
            self.deactivate()
            self._shutdown()
            self.__lifecycle = Lifecycle.FINALIZED

    # --- stop and e-stop (any thread, never waits) ------------------------------------
    def stop(self) -> None:
        """Halt the current motion the component's own way (an arm holds position) and refuse
        motion with MotionStopped until `resume()`."""
        self.__stopped.set()
        self.__stops += 1
        self._end_goal()
        self._on_stop()
        self.wake()

    def estop(self) -> None:
        """Emergency stop: halt now and refuse motion until `reset_estop()`."""
        self.__estopped.set()
        self.__stopped.set()
        self.__stops += 1
        self._end_goal()
        self._on_estop()
        self.wake()

    def resume(self) -> None:
        """Allow motion again after `stop()` (an e-stop also needs `reset_estop()`)."""
        if not self.__estopped.is_set():
            self.__stopped.clear()

    def reset_estop(self) -> None:
        """Clear the e-stop (PackML Clear); motion still waits for `resume()`."""
        self.__estopped.clear()

    @property
    def estopped(self) -> bool:
        return self.__estopped.is_set()

    @property
    def stop_requested(self) -> bool:
        """True from stop() or estop() until resume()."""
        return self.__stopped.is_set()

    @property
    def stop_unseen(self) -> bool:
        """A stop came that no `update()` has run after yet: the loop ticks for it (even in
        lockstep, with nothing moving), so the implementation acts on it before anything
        may resume."""
        return self.__stops != self.__stops_seen

    def updated(self) -> None:
        """Called by the loop after this tick's `update()`: the stops counted when the tick
        began (in `admit()`) have been seen."""
        self.__stops_seen = self.__stops_at_tick

    # --- people nearby (control loop thread) ---------------------------------------------
    @property
    def speed_override(self) -> float:
        """How fast goals may advance, 0..1, set by the cell's safety monitor every tick before
        `update()` (1 with no monitor). Implementations honour it in `update()`: a trajectory
        advances `dt * speed_override` of its own time per tick, so 0.3 moves at 30 % speed
        along the same path and 0 holds where it is (a protective stop: the goal stays alive
        and resumes when the override rises; its timeout must not run while paused)."""
        return self.__speed_override

    @speed_override.setter
    def speed_override(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{self.name}: speed_override must be in [0, 1], got {value}")
        self.__speed_override = float(value)

    def hazard_points(self) -> tuple[Hazard, ...]:
        """Where this component's robot is, as spheres people must keep clear of (world
        frame; loop thread). The default, (), says nothing: the safety monitor guards a
        robot by the hazards of all its components and reports a robot with none as
        unguarded. An arm gives its link origins and tool; a mobile base its footprint."""
        return ()

    # --- control loop hooks (control loop thread) -------------------------------------
    def read(self, now_s: float) -> None:
        """Read the hardware (or simulator) into the cached state."""

    def update(self, now_s: float, dt_s: float) -> None:
        """Advance the active goal by one tick and decide the commands."""

    def write(self) -> None:
        """Send the commands to the hardware (or simulator)."""

    def busy(self) -> bool:
        """True while something moves or settles: a lockstep loop keeps stepping for it
        (a queued goal counts too; the loop checks `has_pending_goal` itself)."""
        return self._goal is not None and not self._goal.done()

    def info(self) -> ComponentInfo:
        """What this component is (kinds return a richer subclass)."""
        return ComponentInfo(self.name, self.kind, self.model, self.driver)

    # --- helpers for kinds and implementations ---------------------------------------
    def _begin(self, goal: Goal[Any]) -> Goal[Any]:
        """Check that motion is allowed and queue `goal`; the loop makes it the active goal
        at the start of its next tick (`admit()`), so a goal started from another thread
        always begins on a tick boundary, and runs repeat tick for tick."""
        self._check_can_move()
        with self.__goal_lock:
            previous, self.__pending = self.__pending, goal
        if previous is not None:
            previous.fail(MotionStopped(f"{previous.what}: preempted by {goal.what}"))
        self.wake()
        return goal

    def admit(self) -> None:
        """Start of a tick (loop thread): count the stops so far, and make the queued goal
        the active one, preempting the previous."""
        self.__stops_at_tick = self.__stops
        with self.__goal_lock:
            goal, self.__pending = self.__pending, None
        if goal is None:
            return
        previous, self._goal = self._goal, goal
        if previous is not None and not previous.done():
            previous.fail(MotionStopped(f"{previous.what}: preempted by {goal.what}"))
        if goal.cancel_requested:
            goal.stopped()

    @property
    def has_pending_goal(self) -> bool:
        """A goal was started and waits for the next tick."""
        return self.__pending is not None

    def _check_can_move(self) -> None:
        if self.__lifecycle is not Lifecycle.ACTIVE:
            why = f" ({self.__error})" if self.__error else ""
            raise NotActive(f"{self.name} is {self.__lifecycle.value}{why}; activate() it first")
        if self.__estopped.is_set():
            raise EStopActive(f"{self.name} is e-stopped; reset the e-stop (PackML Clear) first")
        if self.__stopped.is_set():
            raise MotionStopped(f"{self.name} was stopped; resume() it before moving again")

    @property
    def goal(self) -> Goal[Any] | None:
        """The goal in progress, if any."""
        goal = self._goal
        return goal if goal is not None and not goal.done() else None

    def _end_goal(self) -> None:
        """Cancel the queued goal and mark the active one cancelled; the loop halts it
        (implementations decide how)."""
        with self.__goal_lock:
            pending, self.__pending = self.__pending, None
        if pending is not None:
            pending.cancel()
            if self.__estopped.is_set():
                pending.fail(EStopActive(f"{pending.what}: e-stopped before it began"))
            pending.stopped()
        goal = self._goal
        if goal is not None:
            goal.cancel()

    # --- hooks for implementations ---------------------------------------------------
    def _configure(self) -> None:
        """Load models, open connections."""

    def _activate(self) -> None:
        """Enable motion (e.g. servo on)."""

    def _deactivate(self) -> None:
        """Disable motion (e.g. servo off)."""

    def _shutdown(self) -> None:
        """Release connections and private resources."""

    def _on_stop(self) -> None:
        """Push a stop to the hardware now (any thread; must not block)."""

    def _on_estop(self) -> None:
        """Push an emergency stop to the hardware now (any thread; must not block)."""
        self._on_stop()


def check_finite(what: str, values: Any) -> None:
    """Raise LimitViolation unless every value is a finite number."""
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise LimitViolation(f"{what} must be finite numbers, got {values}")


def check_range(what: str, value: float, low: float, high: float, unit: str) -> float:
    """Return `value` as a float, or raise LimitViolation if it is not finite or not in
    [low, high]; targets are refused, never clamped."""
    number = float(value)
    if not np.isfinite(number):
        raise LimitViolation(f"{what} is {number}; give a finite value in [{low}, {high}] {unit}")
    if not low <= number <= high:
        raise LimitViolation(f"{what} {number:.4f} {unit} is outside [{low:.4f}, {high:.4f}] {unit}")
    return number


def check_speed_and_timeout(speed: float, timeout_s: float) -> None:
    """Speed is a fraction of the limits in (0, 1]; a timeout is finite and > 0."""
    if not (np.isfinite(speed) and 0.0 < speed <= 1.0):
        raise LimitViolation(f"speed must be in (0, 1], got {speed}")
    if not (np.isfinite(timeout_s) and timeout_s > 0):
        raise LimitViolation(f"timeout_s must be a finite number > 0, got {timeout_s}")
