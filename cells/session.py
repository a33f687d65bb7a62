"""A cell's session with the orchestrator: the Connect stream, kept up with back-off.

The session knows the protocol's shape (hello, welcome, outbox, heartbeats), not what the
messages mean: the controller gives it the hello and heartbeat to send and a handler for
what comes down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import grpc

from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.2
BACKOFF_MAX_S = 5.0
WELCOME_TIMEOUT_S = 10.0
# Ping the orchestrator every 10 s, so a half-open connection ends within ~15 s.
KEEPALIVE = [("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000),
             ("grpc.keepalive_permit_without_calls", 1)]


class Backoff:
    """Delays between connection attempts: `start_s`, doubling with every attempt up to
    `max_s`, and `start_s` again after `reset()`, which the session calls on every welcome,
    so a session that was welcomed resets it however it ended (a broken stream included).
    Jitter is the caller's."""

    def __init__(self, start_s: float = BACKOFF_START_S, max_s: float = BACKOFF_MAX_S) -> None:
        self.start_s, self.max_s = start_s, max_s
        self._next_s = start_s

    def reset(self) -> None:
        self._next_s = self.start_s

    def next_s(self) -> float:
        """The delay before the next attempt."""
        delay, self._next_s = self._next_s, min(self._next_s * 2, self.max_s)
        return delay


class Session:
    """Keeps a Connect stream to `orchestrator` open.

    Args:
        orchestrator: host:port.
        hello: builds the hello for each new stream.
        heartbeat: builds a heartbeat message.
        handle: called with every message from the orchestrator.
        welcomed: called after each welcome, before queued messages flow (to send again
            what the orchestrator may have missed).
    """

    def __init__(self, orchestrator: str, hello: Callable[[], cell_pb.Hello],
                 heartbeat: Callable[[], cell_pb.ConnectRequest],
                 handle: Callable[[cell_pb.ConnectResponse], None],
                 welcomed: Callable[[], None]) -> None:
        self.orchestrator = orchestrator
        self._hello, self._heartbeat, self._handle = hello, heartbeat, handle
        self._welcomed = welcomed
        self._outbox: asyncio.Queue[cell_pb.ConnectRequest] | None = None
        self.lease_ttl_s = 0.0
        """The lease the orchestrator announced in its last welcome (0 before any)."""
        self._lost_at: float | None = None  # monotonic wall time; None while welcomed or never

    def offline_s(self) -> float:
        """Wall seconds since a welcomed session ended (0 while connected, or before the first
        welcome: a cell never welcomed has no work of the orchestrator's to protect)."""
        return 0.0 if self._lost_at is None else time.monotonic() - self._lost_at

    def send(self, message: cell_pb.ConnectRequest) -> None:
        """Queue a message for the orchestrator; dropped while not welcomed (the next hello
        carries what matters, the task in flight and unacknowledged results, and the
        controller sends both again after the welcome)."""
        if self._outbox is not None:
            self._outbox.put_nowait(message)

    def beat_soon(self) -> None:
        """Send a heartbeat now (state changed)."""
        self.send(self._heartbeat())

    async def run(self) -> None:
        """Connect, and reconnect with back-off, until cancelled."""
        backoff = Backoff()
        while True:
            try:
                async with grpc.aio.insecure_channel(self.orchestrator, options=KEEPALIVE) as channel:
                    await self._stream(cell_grpc.CellServiceStub(channel), backoff.reset)
            except grpc.aio.AioRpcError as exc:
                log.warning("orchestrator %s: %s %s", self.orchestrator, exc.code().name,
                            exc.details())
            except Exception:  # a bug must not end the cell: log it, reconnect, go on
                log.exception("session with %s failed", self.orchestrator)
            delay = backoff.next_s() * random.uniform(1.0, 1.5)
            log.info("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _stream(self, stub: cell_grpc.CellServiceStub, reset_backoff: Callable[[], None]) -> None:
        call = stub.Connect()
        await call.write(cell_pb.ConnectRequest(hello=self._hello()))
        first = await asyncio.wait_for(call.read(), WELCOME_TIMEOUT_S)
        if first is grpc.aio.EOF or not first.HasField("welcome"):
            return
        reset_backoff()
        self.lease_ttl_s, self._lost_at = first.welcome.lease_ttl_ms / 1000, None
        log.info("connected to %s", self.orchestrator)
        outbox: asyncio.Queue[cell_pb.ConnectRequest] = asyncio.Queue()
        self._outbox = outbox
        self._welcomed()
        interval = max(0.05, first.welcome.heartbeat_interval_ms / 1000)
        writer = asyncio.create_task(self._write(call, outbox))
        beats = asyncio.create_task(self._beat_every(interval))
        self.beat_soon()
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                self._handle(message)
        finally:
            self._outbox, self._lost_at = None, time.monotonic()
            beats.cancel()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            call.cancel()

    @staticmethod
    async def _write(call: Any, outbox: asyncio.Queue[cell_pb.ConnectRequest]) -> None:
        while True:
            await call.write(await outbox.get())

    async def _beat_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.beat_soon()
