"""Waiting for a condition with a timeout and a message that says what did not happen."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import packml_pb2

T = TypeVar("T")
POLL_S = 0.005


def wait_until(predicate: Callable[[], T], timeout_s: float, what: str, *,
               poll_s: float = POLL_S) -> T:
    """Poll `predicate()` until it returns something truthy and return that.

    Args:
        predicate: a cheap check, called from this thread.
        timeout_s: wall seconds to wait.
        what: the condition in words, for the message ("the arm stopped").

    Raises:
        TimeoutError: "timed out after 5 s waiting until the arm stopped (last seen: ...)".
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting until {what} "
                               f"(last seen: {value!r})")
        time.sleep(poll_s)


async def async_wait_until(predicate: Callable[[], T | Awaitable[T | None] | None], timeout_s: float, what: str,
                           *, poll_s: float = 0.02) -> T:
    """`wait_until` for asyncio: `predicate` may be a plain or an async function; polls
    every `poll_s` without blocking the event loop.

    Raises:
        TimeoutError: naming `what` and the last value seen.
    """
    last: list[object] = [None]

    async def poll() -> T:
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            last[0] = value
            if value:
                return value
            await asyncio.sleep(poll_s)

    try:
        return await asyncio.wait_for(poll(), timeout_s)
    except asyncio.TimeoutError:
        raise TimeoutError(f"timed out after {timeout_s:g} s waiting until {what} "
                           f"(last seen: {last[0]!r})") from None


async def cell_in_state(address: str, cell_id: str, packml_state: int,
                        timeout_s: float = 30.0) -> cell_pb.Cell:
    """Poll the orchestrator at `address` (GetCell) until the cell is connected in
    `packml_state` (a PackmlState value); return the Cell.

    Raises:
        TimeoutError: naming the cell, the state and what was last seen.
    """
    async with grpc.aio.insecure_channel(address) as channel:
        stub = cell_grpc.CellServiceStub(channel)

        async def reached() -> cell_pb.Cell | None:
            try:
                cell = (await stub.GetCell(cell_pb.GetCellRequest(cell_id=cell_id))).cell
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                return None
            return cell if cell.connected and cell.packml_state == packml_state else None

        return await async_wait_until(
            reached, timeout_s, f"cell {cell_id} is connected in PackML "
            f"{packml_pb2.PackmlState.Name(packml_state)}")  # type: ignore[arg-type]


__all__ = ["async_wait_until", "cell_in_state", "wait_until"]
