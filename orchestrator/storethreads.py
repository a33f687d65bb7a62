"""Store work off the event loop: engine writes on one writer thread, reads on another.

SQLite calls block: a COMMIT waits for an fsync, and a write waits up to the busy timeout
for another process's lock. Done on the event loop, that froze heartbeats and reads. Here
every write runs on one thread (so engine calls stay serial and atomic) and every read on
a second thread with its own connection (so reads go on while a write waits). A database
error reaches callers as `Unavailable` with a plain message, and `on_writable` tells when
the store stops or starts accepting writes (the server reports it on gRPC health).

The writer takes every write queued at that moment as one group: one transaction, one
COMMIT (one fsync) and one hand-back to the event loop for all of them, each call in a
savepoint of its own (`Store.run_group`). No caller hears of its write before the group's
COMMIT. Work already admitted (dispatch, cells' reports, cancels) goes before new jobs,
in groups of its own: with one first-come queue, submissions arriving faster than jobs
finished pushed every dispatch behind them and READY tasks piled up (seconds from submit
to assign); now new jobs wait while cells have work to report, which is backpressure.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cellwright.orchestrator.errors import Unavailable

T = TypeVar("T")
URGENT, NEW_WORK, STOP = 0, 1, 2
MAX_GROUP = 64
RunGroup = Callable[[Sequence[Callable[[], Any]]], list[tuple[bool, Any]]]


@dataclass(order=True)
class _Write:
    priority: int
    order: int
    fn: Callable[[], Any] | None = field(compare=False)
    future: asyncio.Future[Any] | None = field(compare=False)


class _Writer:
    """The writer thread: runs queued writes in groups (see the module's docstring)."""

    def __init__(self, run_group: RunGroup) -> None:
        self._run_group = run_group
        self._queue: queue.PriorityQueue[_Write] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def submit(self, priority: int, fn: Callable[[], T]) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Write(priority, next(self._order), fn, future))
        return future

    def shutdown(self) -> None:
        """Run what is queued, then end the thread."""
        self._queue.put(_Write(STOP, next(self._order), None, None))
        self._thread.join()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]  # the most urgent queued; the rest of its kind joins it
            while len(group) < MAX_GROUP and not self._queue.empty():
                write = self._queue.get_nowait()
                if write.priority != group[0].priority:
                    self._queue.put(write)  # keeps its place: its order number comes along
                    break
                group.append(write)
            if group[0].priority == STOP:  # everything queued before it has run
                return
            writes = [(w.fn, w.future) for w in group if w.fn is not None and w.future is not None]
            try:
                outcomes = self._run_group([fn for fn, _ in writes])
            except BaseException as exc:  # the group as a whole failed: no write is durable
                outcomes = [(False, exc)] * len(writes)
            futures = [future for _, future in writes]
            futures[0].get_loop().call_soon_threadsafe(_settle, futures, outcomes)


def _settle(futures: list[asyncio.Future[Any]], outcomes: list[tuple[bool, Any]]) -> None:
    """On the event loop: hand each write its result or exception."""
    for future, (ok, value) in zip(futures, outcomes, strict=True):
        if future.done():  # its caller gave up waiting
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class StoreThreads:
    """Runs store work on its two threads; use from one event loop.

    Args:
        run_group: runs a group of writes in one transaction (`Store.run_group`).
        on_writable: awaited with False when a write fails on a database error, and with
            True when a write succeeds again.
    """

    def __init__(self, run_group: RunGroup, on_writable: Callable[[bool], Awaitable[None]]) -> None:
        self._writer = _Writer(run_group)
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="store-reader")
        self._on_writable = on_writable
        self.writable = True

    async def write(self, fn: Callable[..., T], *args: Any, new_work: bool = False) -> T:
        """`fn(*args)` on the writer thread, before any queued `new_work` (new jobs) unless
        it is new work itself. Raises Unavailable on a database error."""
        call = functools.partial(fn, *args)
        try:
            result = await self._translated(self._writer.submit(NEW_WORK if new_work else URGENT, call))
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
