"""Store work off the event loop: engine writes on one writer thread, reads on another.

SQLite calls block: a COMMIT waits for an fsync, and a write waits up to the busy timeout
for another process's lock. Done on the event loop, that froze heartbeats and reads. Here
every write runs on one thread (so engine calls stay serial and atomic) and every read on
a second thread with its own connection (so reads go on while a write waits). A database
error reaches callers as `Unavailable` with a plain message, and `on_writable` tells when
the store stops or starts accepting writes (the server reports it on gRPC health).

The writer serves work already admitted (dispatch, cells' reports, cancels) before new
jobs: with one first-come queue, submissions arriving faster than jobs finish pushed
every dispatch behind them, and READY tasks piled up (seconds from submit to assign).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from cellwright.orchestrator.errors import Unavailable

T = TypeVar("T")
URGENT, NEW_WORK = 0, 1


class _PriorityThread:
    """One thread running callables, lower priority numbers first, then in arrival order."""

    def __init__(self, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], Any] | None, Future[Any] | None]]
        self._queue = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, priority: int, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((priority, next(self._order), fn, future))
        return future

    def shutdown(self) -> None:
        """Run what is queued, then end the thread."""
        self._queue.put((NEW_WORK + 1, next(self._order), None, None))
        self._thread.join()

    def _run(self) -> None:
        while True:
            _, _, fn, future = self._queue.get()
            if fn is None or future is None:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)


class StoreThreads:
    """Runs store work on its two threads; use from one event loop.

    Args:
        on_writable: awaited with False when a write fails on a database error, and with
            True when a write succeeds again.
    """

    def __init__(self, on_writable: Callable[[bool], Awaitable[None]]) -> None:
        self._writer = _PriorityThread("store-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="store-reader")
        self._on_writable = on_writable
        self.writable = True

    async def write(self, fn: Callable[..., T], *args: Any, new_work: bool = False) -> T:
        """`fn(*args)` on the writer thread, before any queued `new_work` (new jobs) unless
        it is new work itself. Raises Unavailable on a database error."""
        call = functools.partial(fn, *args)
        try:
            result = await self._translated(asyncio.wrap_future(
                self._writer.submit(NEW_WORK if new_work else URGENT, call)))
        except Unavailable:
            await self._set_writable(False)
            raise
        await self._set_writable(True)
        return result

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the reader thread. Raises Unavailable on a database error."""
        loop = asyncio.get_running_loop()
        return await self._translated(loop.run_in_executor(self._reader, functools.partial(fn, *args)))

    def close(self) -> None:
        """Finish queued work and end both threads."""
        self._writer.shutdown()
        self._reader.shutdown(wait=True)

    @staticmethod
    async def _translated(work: Awaitable[T]) -> T:
        try:
            return await work
        except sqlite3.OperationalError as exc:  # locked past the busy timeout, disk full, I/O
            raise Unavailable(f"the job database cannot be used now ({exc}); nothing was "
                              "changed; try again later") from exc

    async def _set_writable(self, writable: bool) -> None:
        if writable != self.writable:
            self.writable = writable
            await self._on_writable(writable)
