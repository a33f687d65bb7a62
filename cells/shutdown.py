"""Building and shutting down on worker threads, whatever cancels the awaiting task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def _wait_out(future: asyncio.Future[T]) -> tuple[T, bool]:
    """Wait for `future` however often this task is cancelled; (result, was cancelled)."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    return future.result(), cancelled


async def shut_down(fn: Callable[[], None]) -> None:
    """Run `fn` on a worker thread and wait until it has returned, even if the awaiting
    task is cancelled again meanwhile (a second Ctrl-C, a host cancelling its cells): a
    half-done shutdown leaves sockets open and a world stepping. A cancel that came
    meanwhile is raised once `fn` is done."""
    _, cancelled = await _wait_out(asyncio.ensure_future(asyncio.to_thread(fn)))
    if cancelled:
        raise asyncio.CancelledError


async def build(fn: Callable[[], T], undo: Callable[[T], None]) -> T:
    """Run `fn` on a worker thread and return what it built; if the awaiting task is
    cancelled meanwhile, wait for `fn` to finish, `undo` what it built, and raise the
    cancel (so nothing built is left open)."""
    built, cancelled = await _wait_out(asyncio.ensure_future(asyncio.to_thread(fn)))
    if cancelled:
        await shut_down(lambda: undo(built))
        raise asyncio.CancelledError
    return built
