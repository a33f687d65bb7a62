"""Goals: motions (and waits) that run on the control loop, with a handle to watch them.

A component method such as `Arm.move_joints()` checks its target, starts a `Goal` and
returns at once; the control loop advances the goal every tick and ends it. The caller
keeps the handle: `progress`, `cancel()`, `result()` (blocks until the goal ends).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from cellwright.robots.errors import MotionStopped, MotionTimeout, RobotError

T = TypeVar("T")


class Goal(Generic[T]):
    """A handle on one goal. Thread-safe: the loop ends it, any thread may watch or cancel.

    Args:
        what: a short description for messages ("arm: joint move").
        on_cancel: called once (on the cancelling thread) when `cancel()` is first called;
            the component halts the motion on its next tick, then ends the goal with
            `MotionStopped`.
    """

    def __init__(self, what: str, on_cancel: Callable[[], None] | None = None) -> None:
        self.what = what
        self._on_cancel = on_cancel
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._result: Any = None
        self._error: RobotError | None = None
        self._cancelled = False
        self.progress = 0.0
        """Fraction done, 0..1 (by planned time for motions)."""

    # --- caller side ---------------------------------------------------------------
    def done(self) -> bool:
        """True once the goal ended (succeeded or failed)."""
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait (wall time) until the goal ends; True if it has."""
        return self._done.wait(timeout_s)

    def cancel(self) -> None:
        """Ask the component to end the goal; it holds and fails with MotionStopped."""
        with self._lock:
            if self._cancelled or self._done.is_set():
                return
            self._cancelled = True
        if self._on_cancel is not None:
            self._on_cancel()

    @property
    def cancel_requested(self) -> bool:
        return self._cancelled

    def result(self, timeout_s: float | None = None) -> T:
        """Wait (wall time) for the end and return the result, or raise the goal's error.

        `timeout_s` bounds the wall-clock wait only (a safety net for a loop that died);
        motion time budgets are on the loop's clock and fail the goal with MotionTimeout.

        Raises:
            RobotError: the goal failed (MotionStopped, MotionTimeout, CollisionDetected...).
        """
        if not self._done.wait(timeout_s):
            raise MotionTimeout(f"{self.what}: no result after {timeout_s} s of wall time; "
                                "is the control loop running?")
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[no-any-return]

    def error(self) -> RobotError | None:
        """The error the goal failed with, once done (None while running or on success)."""
        return self._error

    # --- component side (control loop thread) ---------------------------------------
    def succeed(self, result: T) -> None:
        """End the goal with `result` (first end wins)."""
        with self._lock:
            if self._done.is_set():
                return
            self._result, self.progress = result, 1.0
            self._done.set()

    def fail(self, error: RobotError) -> None:
        """End the goal with `error` (first end wins)."""
        with self._lock:
            if self._done.is_set():
                return
            self._error = error
            self._done.set()

    def stopped(self) -> None:
        """End the goal as cancelled or stopped."""
        self.fail(MotionStopped(f"{self.what}: stopped on request"))


def finished(what: str, result: T) -> Goal[T]:
    """A goal that is already done with `result` (nothing to move)."""
    goal: Goal[T] = Goal(what)
    goal.succeed(result)
    return goal
