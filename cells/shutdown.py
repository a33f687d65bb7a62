"""Shutting down all the way, however often the caller is cancelled meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def shut_down(fn: Callable[[], None]) -> None:
    """Run `fn` on a worker thread and wait until it has returned, even if the awaiting
    task is cancelled again meanwhile (a second Ctrl-C, a host cancelling its cells): a
    half-done shutdown leaves sockets open and a world stepping. A cancel that came
    meanwhile is raised once `fn` is done."""
    done = asyncio.ensure_future(asyncio.to_thread(fn))
    cancelled = False
    while not done.done():
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            cancelled = True
    done.result()
    if cancelled:
        raise asyncio.CancelledError
