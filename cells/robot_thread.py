"""The cell's robot thread: the one thread that touches the world and its robots.

Skills block while robots move, and PyBullet wants one thread, so work is handed to this
thread as callables. While it has no work it keeps the world alive: the simulation steps
paced to wall time, so the clock runs on and state keeps streaming.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class RobotThread:
    """Runs `setup()` once on a fresh thread, then the callables given to `submit`.

    Args:
        setup: builds what the thread owns (world, publisher) and returns it; every job
            receives it. Exceptions from setup are raised by `start()`.
        idle: called with the setup result when no job came within `wait_s`; it should
            return within ~10 ms (a simulation steps a slice of wall time).
        teardown: called last on the thread with the setup result.
        wait_s: how long to wait for a job before calling `idle` (0 for a simulation,
            which must keep stepping).
    """

    def __init__(self, setup: Callable[[], Any], idle: Callable[[Any], None],
                 teardown: Callable[[Any], None], wait_s: float = 0.0) -> None:
        self._setup, self._idle, self._teardown = setup, idle, teardown
        self._wait_s = wait_s
        self._jobs: queue.Queue[tuple[Callable[[Any], Any], concurrent.futures.Future[Any]] | None]
        self._jobs = queue.Queue()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name="robot-thread", daemon=True)

    def start(self) -> None:
        """Start the thread and wait until setup is done."""
        self._thread.start()
        self._ready.result()

    def submit(self, job: Callable[[Any], T]) -> concurrent.futures.Future[T]:
        """Run `job(owned)` on the robot thread; its result or exception lands in the future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((job, future))
        return future

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish queued jobs, tear down, and join the thread."""
        self._jobs.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            owned = self._setup()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            while True:
                try:
                    item = self._jobs.get(timeout=self._wait_s) if self._wait_s else \
                        self._jobs.get_nowait()
                except queue.Empty:
                    self._idle(owned)
                    continue
                if item is None:
                    break
                job, future = item
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(job(owned))
                    except BaseException as exc:
                        future.set_exception(exc)
        finally:
            self._teardown(owned)
