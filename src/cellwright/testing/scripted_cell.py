"""`ScriptedCell`: the cell side of the Connect stream, driven step by step by a test.

It speaks the same protocol as `cells.controller.CellController` but does only what the
test tells it: say hello, read the orchestrator's messages, send task updates, stop
heartbeating, drop the stream. Use it where a real cell would finish too soon or could not
be made to misbehave on cue::

    cell = ScriptedCell(orchestrator_address, "cell-1", boot_id="boot-a")
    await cell.connect()
    assign = (await cell.next("assign")).assign
    await cell.send(task_update=cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                   state=job_pb2.TASK_STATE_RUNNING))
    await cell.drop()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import grpc

from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import packml_pb2

TIMEOUT_S = 30.0
"""How long `next()` waits for a message."""
EXECUTE = packml_pb2.PACKML_STATE_EXECUTE
HEARTBEAT_S = 0.1


class ScriptedCell:
    """The cell side of one Connect stream, driven step by step by a test.

    Args:
        address: the orchestrator's `host:port`.
        cell_id, boot_id: what the hello says (the same boot id means the same process).
        skills: the skills its hello offers.

    Attributes:
        busy: what its heartbeats say (a busy cell gets no task).
    """

    def __init__(self, address: str, cell_id: str, boot_id: str,
                 skills: Sequence[str] = ("noop",)) -> None:
        self.cell_id, self.boot_id, self.skills = cell_id, boot_id, tuple(skills)
        self.channel = grpc.aio.insecure_channel(address)
        self.call: Any = None
        self.beats: asyncio.Task[None] | None = None
        self.writing = asyncio.Lock()  # gRPC allows one write at a time per stream
        self.busy = False  # what its heartbeats say

    async def connect(self, tasks: tuple[cell_pb.TaskUpdate, ...] = ()) -> None:
        """Say hello (in Execute, offering its skills, reporting `tasks` it holds) and wait for
        the welcome; then heartbeat every 0.1 s until `stop_beating()` or `drop()`."""
        self.call = cell_grpc.CellServiceStub(self.channel).Connect()
        await self.call.write(cell_pb.ConnectRequest(hello=cell_pb.Hello(
            cell_id=self.cell_id, boot_id=self.boot_id, packml_state=EXECUTE,
            skills=[cell_pb.Skill(name=s) for s in self.skills], tasks=tasks)))
        assert (await self.next("welcome")).HasField("welcome")
        self.beats = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        """Heartbeats in Execute, as a live cell sends them, to keep the lease."""
        try:
            while True:
                await self.send(heartbeat=cell_pb.Heartbeat(packml_state=EXECUTE, busy=self.busy))
                await asyncio.sleep(HEARTBEAT_S)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return  # the stream ended; the test notices through its own calls

    async def next(self, kind: str) -> cell_pb.ConnectResponse:
        """The next message of `kind` (`welcome`, `assign`, `cancel`, `ack`, `command`...)
        from the orchestrator; others are skipped. Fails after `TIMEOUT_S`, or if the
        orchestrator ends the stream."""
        async def read() -> cell_pb.ConnectResponse:
            while True:
                message = await self.call.read()
                assert message is not grpc.aio.EOF, "the orchestrator ended the stream"
                if message.WhichOneof("msg") == kind:
                    return message  # type: ignore[no-any-return]
        return await asyncio.wait_for(read(), TIMEOUT_S)

    async def send(self, **message: Any) -> None:
        """Send one ConnectRequest built from `message` (e.g. `task_update=...`)."""
        async with self.writing:
            await self.call.write(cell_pb.ConnectRequest(**message))

    async def report(self, assign: cell_pb.Assign, state: int) -> None:
        """Send a task update of `state` (a TaskState value) for an assignment."""
        await self.send(task_update=cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                       state=state))  # type: ignore[arg-type]

    async def stop_beating(self) -> None:
        """Send no more heartbeats (they would restate Execute); the stream stays open."""
        if self.beats is not None:
            self.beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.beats

    async def drop(self) -> None:
        """Lose the stream, as a crash or a network failure would."""
        await self.stop_beating()
        if self.call is not None:
            self.call.cancel()
        await self.channel.close()


__all__ = ["ScriptedCell"]
