"""Store work off the event loop: engine writes on one writer thread, reads on another.

SQLite calls block: a COMMIT waits for an fsync, and a write waits up to the busy timeout
for another process's lock. Done on the event loop, that froze heartbeats and reads. Here
every write runs on one thread (so engine calls stay serial and atomic) and every read on
a second thread with its own connection (so reads go on while a write waits). A database
error reaches callers as `Unavailable` with a plain message, and `on_writable` tells when
the store stops or starts accepting writes (the server reports it on gRPC health).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cellwright.orchestrator.errors import Unavailable

T = TypeVar("T")


class StoreThreads:
    """Runs store work on its two threads; use from one event loop.

    Args:
        on_writable: awaited with False when a write fails on a database error, and with
            True when a write succeeds again.
    """

    def __init__(self, on_writable: Callable[[bool], Awaitable[None]]) -> None:
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="store-reader")
        self._on_writable = on_writable
        self.writable = True

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the writer thread. Raises Unavailable on a database error."""
        try:
            result = await self._run(self._writer, fn, args)
        except Unavailable:
            await self._set_writable(False)
            raise
        await self._set_writable(True)
        return result

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the reader thread. Raises Unavailable on a database error."""
        return await self._run(self._reader, fn, args)

    def close(self) -> None:
        """Finish queued work and end both threads."""
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    @staticmethod
    async def _run(pool: ThreadPoolExecutor, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args))
        except sqlite3.OperationalError as exc:  # locked past the busy timeout, disk full, I/O
            raise Unavailable(f"the job database cannot be used now ({exc}); nothing was "
                              "changed; try again later") from exc

    async def _set_writable(self, writable: bool) -> None:
        if writable != self.writable:
            self.writable = writable
            await self._on_writable(writable)
