"""The control loop: a fixed-rate read/update/write loop that owns a world and its components.

One thread runs it (ros2_control's controller manager has the same shape). Every tick:

    world.step()            physics advances one `dt` (if the loop has a world)
    component.read(now)     every component reads its hardware (or the simulator)
    listeners(now)          state publishers, recorders (at their own period)
    component.update(now)   active goals advance: trajectories, grasps, timers
    component.write()       commands go out

Clock modes (`CLOCKS`):
    lockstep: the clock is `ticks * dt` and advances only while there is work (a busy
        component, a timer); idle, it stands still, whatever the wall clock does. The same
        commands give the same ticks, so runs repeat exactly. As fast as the CPU allows.
    fast: as fast as the CPU allows while there is work; idle, ticks are paced to the wall
        clock, so idle time passes on the clock (utilisation means something) and a
        world keeps settling. The clock is `ticks * dt`.
    realtime: every tick is paced to the wall clock; with a world the clock is
        `ticks * dt`, without one it is wall seconds since start.
A fast or realtime loop with neither a world nor components sleeps until it has timers.

Anything that must touch the world (PyBullet allows one thread) goes through `call()`,
which runs between ticks on the loop thread.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from cellwright.robots.component import Component
from cellwright.robots.errors import MotionStopped
from cellwright.robots.goal import Goal

log = logging.getLogger(__name__)
T = TypeVar("T")
CLOCKS = ("lockstep", "fast", "realtime")
FALL_BEHIND_S = 0.5  # realtime: further behind than this, re-anchor instead of racing


class Stepper(Protocol):
    """A world the loop steps: PyBullet's `SimWorld` fits."""

    @property
    def dt(self) -> float: ...

    def step(self, n: int = 1) -> None: ...


@dataclass
class _Listener:
    fn: Callable[[float], None]
    period_s: float
    next_s: float
    next_wall: float


class ControlLoop:
    """Runs components (and a world) at a fixed rate on its own thread.

    Args:
        dt_s: seconds per tick (the world's dt when there is a world).
        world: what to step every tick; None for a loop of drivers only.
        clock: "lockstep", "fast" or "realtime" (see the module docstring).
        name: the thread's name.
    """

    def __init__(self, dt_s: float, *, world: Stepper | None = None, clock: str = "lockstep",
                 name: str = "control-loop") -> None:
        if not dt_s > 0:
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}, got {clock!r}")
        self.dt = dt_s
        self.world = world
        self.clock = clock
        self.lockstep = clock == "lockstep"
        self.ticks = 0
        self._components: list[Component] = []
        self._listeners: list[_Listener] = []
        self._timers: list[tuple[float, Goal[None]]] = []
        self._calls: list[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = []
        self._settle_waiters: list[tuple[tuple[Component, ...], concurrent.futures.Future[None]]] = []
        self._wake = threading.Condition()
        self._running = False
        self._failed: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._pace = (time.monotonic(), 0)

    # --- clock -----------------------------------------------------------------------
    def now_s(self) -> float:
        """The loop's clock (see the module docstring)."""
        if self.clock != "realtime" or self.world is not None:
            return self.ticks * self.dt
        return time.monotonic() - self._t0

    # --- what the loop runs -------------------------------------------------------------
    def add(self, component: Component) -> None:
        """Run `component`'s read/update/write every tick (call before or via `call()`)."""
        component.wake = self.wake
        self._components.append(component)

    def remove(self, component: Component) -> None:
        self._components.remove(component)

    @property
    def components(self) -> tuple[Component, ...]:
        return tuple(self._components)

    def add_listener(self, fn: Callable[[float], None], period_s: float, *,
                     when_idle: bool = True) -> None:
        """Call `fn(now_s)` on the loop thread every `period_s` of the loop's clock while it
        ticks and, if `when_idle`, every `period_s` of wall time while it stands idle (so a
        state stream keeps flowing with the clock stopped; a recorder of ticks says False)."""
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self._listeners.append(_Listener(fn, period_s, self.now_s(),
                                         time.monotonic() if when_idle else math.inf))

    def remove_listener(self, fn: Callable[[float], None]) -> None:
        """Stop calling `fn` (takes effect between ticks)."""
        self.call(lambda: self._listeners.__setitem__(
            slice(None), [lst for lst in self._listeners if lst.fn != fn]))

    def sleep(self, duration_s: float) -> Goal[None]:
        """A goal that ends when the loop's clock has advanced `duration_s` (a wait on
        simulated time in simulation); cancelling it ends it with MotionStopped."""
        goal: Goal[None] = Goal(f"wait {duration_s:g} s", on_cancel=self.wake)
        with self._wake:
            self._timers.append((self.now_s() + max(0.0, duration_s), goal))
            self._wake.notify()
        return goal

    # --- working with the loop thread ------------------------------------------------------
    def call(self, fn: Callable[[], T], timeout_s: float | None = 60.0) -> T:
        """Run `fn()` on the loop thread between ticks and return its result (directly if
        already on the loop thread, or if the loop is not running)."""
        if threading.current_thread() is self._thread or not self._running:
            return fn()
        try:
            return self.submit(fn).result(timeout_s)
        except concurrent.futures.CancelledError:
            if self._running:
                raise
            return fn()  # the loop ended before it got to `fn`: nothing else runs the world now

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Queue `fn()` to run on the loop thread between ticks."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._wake:
            if self._failed is not None:
                future.set_exception(RuntimeError(f"the control loop died: {self._failed!r}"))
                return future
            self._calls.append((fn, future))
            self._wake.notify()
        return future

    def settled(self, components: Iterable[Component]) -> concurrent.futures.Future[None]:
        """A future that completes once none of `components` is busy (moving or halting),
        observed on the loop thread: after it, a stop has been acted on."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._wake:
            self._settle_waiters.append((tuple(components), future))
            self._wake.notify()
        return future

    def wake(self) -> None:
        """Wake an idle loop (a goal started, a stop came)."""
        with self._wake:
            self._wake.notify()

    # --- running -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the loop thread."""
        if self._thread is not None:
            raise RuntimeError("the control loop is already started")
        self._running = True
        self._pace = (time.monotonic(), self.ticks)
        self._thread = threading.Thread(target=self._run, name="control-loop", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """End the loop after the current tick and join its thread."""
        with self._wake:
            self._running = False
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._running

    def tick(self) -> None:
        """One tick: step, read, listeners, update, write (the loop thread calls this; tests
        without a thread may too)."""
        for component in self._components:
            component.admit()
        if self.world is not None:
            self.world.step()
        self.ticks += 1
        now = self.now_s()
        for component in self._components:
            component.read(now)
        for listener in self._listeners:
            if now + 1e-9 >= listener.next_s:
                listener.next_s = now + listener.period_s
                if listener.next_wall != math.inf:
                    listener.next_wall = time.monotonic() + listener.period_s
                listener.fn(now)
        for component in self._components:
            component.update(now, self.dt)
        self._end_timers(now)
        for component in self._components:
            component.write()

    def _run(self) -> None:
        try:
            for component in self._components:
                component.read(self.now_s())
            while True:
                with self._wake:
                    if not self._running:
                        break
                    calls, self._calls = self._calls, []
                for fn, future in calls:
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn())
                        except BaseException as exc:
                            future.set_exception(exc)
                self._release_settled()
                work = self._has_work()
                if work or (not self.lockstep and (self._components or self.world)):
                    if self.clock == "realtime" or not work:
                        self._pace_to_wall()
                    else:
                        self._pace = (time.monotonic(), self.ticks)
                    self.tick()
                else:
                    self._idle()
        except BaseException as exc:
            log.exception("control loop died")
            self._failed = exc
            for component in self._components:
                component.fail(f"control loop died: {exc!r}")
            raise
        finally:
            self._running = False
            with self._wake:
                calls, self._calls = self._calls, []
            for _fn, future in calls:
                future.cancel()

    def _has_work(self) -> bool:
        return bool(self._timers) or any(c.busy() or c.has_pending_goal for c in self._components)

    def _idle(self) -> None:
        """Nothing to advance: wait for work, serving listeners on wall time meanwhile."""
        wall = time.monotonic()
        deadline = min((lst.next_wall for lst in self._listeners), default=math.inf)
        deadline = min(deadline, wall + 1.0)
        if not self.lockstep and self._timers:  # no world, no components: timers only
            deadline = min(deadline, wall + max(0.0, min(t for t, _ in self._timers) - self.now_s()))
        with self._wake:
            if self._running and not self._calls and not self._has_work():
                self._wake.wait(max(0.0, deadline - wall))
        now, wall = self.now_s(), time.monotonic()
        for listener in self._listeners:
            if wall >= listener.next_wall:
                listener.next_wall = wall + listener.period_s
                listener.fn(now)
        if not self.lockstep:
            self._end_timers(now)

    def _end_timers(self, now: float) -> None:
        if not self._timers:
            return
        with self._wake:
            timers, self._timers = self._timers, []
        for end_s, goal in timers:
            if goal.cancel_requested:
                goal.fail(MotionStopped(f"{goal.what}: cancelled"))
            elif now + 1e-9 >= end_s:
                goal.succeed(None)
            else:
                with self._wake:
                    self._timers.append((end_s, goal))

    def _release_settled(self) -> None:
        if not self._settle_waiters:
            return
        with self._wake:
            waiters, self._settle_waiters = self._settle_waiters, []
        for components, future in waiters:
            if any(c.busy() or c.has_pending_goal for c in components):
                with self._wake:
                    self._settle_waiters.append((components, future))
            elif not future.done():
                future.set_result(None)

    def _pace_to_wall(self) -> None:
        origin_wall, origin_ticks = self._pace
        ahead = (self.ticks - origin_ticks) * self.dt - (time.monotonic() - origin_wall)
        if ahead > 0:
            with self._wake:  # sleep, but wake for calls and stops
                self._wake.wait(ahead)
        elif ahead < -FALL_BEHIND_S:
            self._pace = (time.monotonic(), self.ticks)
