"""The control loop: a fixed-rate read/update/write loop that owns a world and its components.

One thread runs it (ros2_control's controller manager has the same shape). Every tick:

    component.admit()       queued goals become active; stops so far are counted
    world.step()            physics advances one `dt` (if the loop has a world)
    component.read(now)     every component reads its hardware (or the simulator)
    listeners(now)          state publishers, recorders (at their own period)
    guards(now, dt)         safety monitors set speed overrides (robots.safety)
    component.update(now)   active goals advance: trajectories, grasps, timers
    component.write()       commands go out

A component that raises in read, update or write goes to ERROR (its goals end with
NotActive) and is left out of later ticks; a listener that raises is logged and dropped.
If the loop itself dies, every component fails, and every goal, timer and waiter ends.

Clock modes (`CLOCKS`):
    lockstep: the clock is `ticks * dt` and advances only while there is work (a busy
        component, a queued goal, a stop not yet acted on, a timer); idle, it stands
        still, whatever the wall clock does. As fast as the CPU allows. While one cell
        works at a time, the same commands give the same ticks, so runs repeat exactly;
        goals of cells working at once interleave by thread timing.
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

from cellwright.robots.component import Component, Lifecycle
from cellwright.robots.errors import MotionStopped, NotActive
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


class LoopStopped(NotActive):
    """The control loop has stopped or died: nothing runs on it any more."""


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
        self.name = name
        self.ticks = 0
        self._components: list[Component] = []
        self._listeners: list[_Listener] = []
        self._timers: list[tuple[float, Goal[None]]] = []
        self._guards: list[tuple[Callable[[float, float], None], tuple[Component, ...]]] = []
        self._calls: list[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = []
        self._settle_waiters: list[tuple[tuple[Component, ...], concurrent.futures.Future[None]]] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._ended: str = ""  # why the loop no longer runs ("" while it may)
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
        with self._wake:
            self._listeners.append(_Listener(fn, period_s, self.now_s(),
                                             time.monotonic() if when_idle else math.inf))
            self._wake.notify()

    def remove_listener(self, fn: Callable[[float], None]) -> None:
        """Stop calling `fn` (from the next tick on)."""
        with self._wake:
            self._listeners = [lst for lst in self._listeners if lst.fn != fn]

    def add_guard(self, guard: Callable[[float, float], None], guarded: Iterable[Component]) -> None:
        """Call `guard(now_s, dt_s)` every tick after read and the listeners, before update
        (a safety monitor sets speed overrides there; call before the loop starts or via
        `call()`). A guard that raises is dropped and fails every component it guards, so
        nothing moves on unguarded."""
        self._guards.append((guard, tuple(guarded)))

    def sleep(self, duration_s: float) -> Goal[None]:
        """A goal that ends when the loop's clock has advanced `duration_s` (a wait on
        simulated time in simulation); cancelling it ends it with MotionStopped, and so
        does the loop stopping."""
        goal: Goal[None] = Goal(f"wait {duration_s:g} s", on_cancel=self.wake)
        with self._wake:
            if self._ended:
                goal.fail(LoopStopped(f"{goal.what}: {self._ended}"))
                return goal
            self._timers.append((self.now_s() + max(0.0, duration_s), goal))
            self._wake.notify()
        return goal

    # --- working with the loop thread ------------------------------------------------------
    def call(self, fn: Callable[[], T], timeout_s: float | None = 60.0) -> T:
        """Run `fn()` on the loop thread between ticks and return its result; directly
        where no loop thread is alive (not started, or ended), so never on two threads."""
        thread = self._thread
        if thread is threading.current_thread() or thread is None or not thread.is_alive():
            return fn()
        try:
            return self.submit(fn).result(timeout_s)
        except (concurrent.futures.CancelledError, LoopStopped):
            thread.join(timeout_s)  # the loop ended before it got to `fn`
            if thread.is_alive():
                raise
            return fn()

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Queue `fn()` to run on the loop thread between ticks."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._wake:
            if self._ended:
                future.set_exception(LoopStopped(f"the control loop {self.name}: {self._ended}"))
                return future
            self._calls.append((fn, future))
            self._wake.notify()
        return future

    def settled(self, components: Iterable[Component]) -> concurrent.futures.Future[None]:
        """A future that completes once none of `components` is busy, has a queued goal or
        a stop not yet acted on, observed on the loop thread: after it, a stop has been
        acted on. It fails with LoopStopped if the loop ends first."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._wake:
            if self._ended:
                future.set_exception(LoopStopped(f"the control loop {self.name}: {self._ended}"))
                return future
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
        self._pace = (time.monotonic(), self.ticks)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """End the loop after the current tick and join its thread; True if it has ended
        (False: still running after `timeout_s`, so its world must not be torn down)."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        thread = self._thread
        if thread is None:
            self._end("stopped")
            return True
        if thread is not threading.current_thread():
            thread.join(timeout_s)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._ended

    def tick(self) -> None:
        """One tick: admit, step, read, listeners, update, write (the loop thread calls this;
        tests without a thread may too)."""
        working = [c for c in self._components if c.lifecycle is not Lifecycle.ERROR]
        for component in working:
            component.admit()
        if self.world is not None:
            self.world.step()
        self.ticks += 1
        now = self.now_s()
        self._each(working, "read", lambda c: c.read(now))
        self._call_listeners(now, lambda lst: now + 1e-9 >= lst.next_s)
        self._run_guards(now)
        self._each(working, "update", lambda c: c.update(now, self.dt))
        for component in working:
            component.updated()
        self._end_timers(now)
        self._each(working, "write", lambda c: c.write())

    def _each(self, components: list[Component], what: str, call: Callable[[Component], None]) -> None:
        for component in components:
            if component.lifecycle is Lifecycle.ERROR:
                continue
            try:
                call(component)
            except Exception as exc:  # one broken component must not stop the others
                log.exception("%s.%s() raised; the component goes to ERROR", component.name, what)
                component.fail(f"{what}() raised {type(exc).__name__}: {exc}")

    def _run_guards(self, now: float) -> None:
        for entry in list(self._guards):
            guard, guarded = entry
            try:
                guard(now, self.dt)
            except Exception as exc:  # fail safe: what it guards stops with it
                log.exception("a guard of the control loop raised; the components it guards go to ERROR")
                self._guards.remove(entry)
                for component in guarded:
                    component.fail(f"its safety guard raised {type(exc).__name__}: {exc}")

    def _call_listeners(self, now: float, due: Callable[[_Listener], bool]) -> None:
        wall = time.monotonic()
        for listener in list(self._listeners):
            if not due(listener):
                continue
            listener.next_s = now + listener.period_s
            if listener.next_wall != math.inf:
                listener.next_wall = wall + listener.period_s
            try:
                listener.fn(now)
            except Exception:  # a broken publisher must not stop the robots
                log.exception("a listener of the control loop raised; it is dropped")
                self.remove_listener(listener.fn)

    def _run(self) -> None:
        why = "stopped"
        try:
            self._each(list(self._components), "read", lambda c: c.read(self.now_s()))
            while True:
                with self._wake:
                    if self._stopping:
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
        except BaseException as exc:  # logged and ended: every goal and waiter hears of it
            log.exception("control loop %s died", self.name)
            why = f"died: {exc!r}"
            for component in self._components:
                component.fail(f"the control loop {why}")
        finally:
            self._end(why)

    def _end(self, why: str) -> None:
        """Nothing runs any more: end every timer, waiter and queued call."""
        with self._wake:
            self._ended = why
            calls, self._calls = self._calls, []
            timers, self._timers = self._timers, []
            waiters, self._settle_waiters = self._settle_waiters, []
        error = LoopStopped(f"the control loop {self.name} {why}")
        for _fn, future in calls:
            future.cancel()
        for _end_s, goal in timers:
            goal.fail(error)
        for _components, future in waiters:
            if not future.done():
                future.set_exception(error)

    def _has_work(self) -> bool:
        return bool(self._timers) or any(self._unsettled(c) for c in self._components)

    @staticmethod
    def _unsettled(component: Component) -> bool:
        if component.lifecycle is Lifecycle.ERROR:
            return False
        return component.busy() or component.has_pending_goal or component.stop_unseen

    def _idle(self) -> None:
        """Nothing to advance: wait for work, serving listeners on wall time meanwhile."""
        wall = time.monotonic()
        deadline = min((lst.next_wall for lst in self._listeners), default=math.inf)
        deadline = min(deadline, wall + 1.0)
        if not self.lockstep and self._timers:  # no world, no components: timers only
            deadline = min(deadline, wall + max(0.0, min(t for t, _ in self._timers) - self.now_s()))
        with self._wake:
            if not self._stopping and not self._calls and not self._has_work():
                self._wake.wait(max(0.0, deadline - wall))
        wall = time.monotonic()
        self._call_listeners(self.now_s(), lambda lst: wall >= lst.next_wall)
        if not self.lockstep:
            self._end_timers(self.now_s())

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
            if any(self._unsettled(c) for c in components):
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
