"""The cell controller's side of the Connect session, against a scripted orchestrator.

`ScriptedOrchestrator` is a real gRPC server on loopback implementing only
`CellService.Connect`; the test decides what it answers and when, which a real
orchestrator does not let a test do (hold a welcome, send a stale cancel, break a stream).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from cellwright.cells.config import RobotEntry
from cellwright.cells.packml import Command, State
from cellwright.cells.session import BACKOFF_START_S
from cellwright.testing import wait_until
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

TIMEOUT_S = 30.0
FINAL = (job_pb2.TASK_STATE_SUCCEEDED, job_pb2.TASK_STATE_FAILED, job_pb2.TASK_STATE_CANCELLED)


class Session:
    """One Connect stream as the orchestrator sees it; the cell's hello is already read."""

    def __init__(self, hello: cell_pb.Hello, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.hello, self._context = hello, context
        self.ended: asyncio.Future[grpc.StatusCode] = asyncio.get_running_loop().create_future()

    async def send(self, **message: Any) -> None:
        await self._context.write(cell_pb.ConnectResponse(**message))

    async def welcome(self, lease_ttl_ms: int = 5000) -> None:
        await self.send(welcome=cell_pb.Welcome(heartbeat_interval_ms=1000, lease_ttl_ms=lease_ttl_ms))

    async def update(self, task_id: str, *states: int) -> cell_pb.TaskUpdate:
        """The next TaskUpdate for `task_id` in one of `states` (other messages are skipped)."""
        async def read() -> cell_pb.TaskUpdate:
            while True:
                message = await self._context.read()
                assert message is not grpc.aio.EOF, "the cell ended the stream"
                update = message.task_update
                if message.HasField("task_update") and update.task_id == task_id \
                        and update.state in states:
                    return update
        return await asyncio.wait_for(read(), TIMEOUT_S)

    def end(self, code: grpc.StatusCode) -> None:
        """End the stream with `code` (OK: a clean end; anything else: a broken stream)."""
        self.ended.set_result(code)


class ScriptedOrchestrator(cell_grpc.CellServiceServicer):
    """Accepts Connect streams and hands each to the test as a `Session`."""

    def __init__(self) -> None:
        self.address = "127.0.0.1:0"
        self._server: grpc.aio.Server | None = None
        self._sessions: asyncio.Queue[Session] = asyncio.Queue()

    async def start(self) -> None:
        """Listen on `address`: a free port the first time, the same one after `stop()`."""
        server = grpc.aio.server()
        cell_grpc.add_CellServiceServicer_to_server(self, server)
        self.address = f"127.0.0.1:{server.add_insecure_port(self.address)}"
        await server.start()
        self._server = server

    async def stop(self) -> None:
        """Stop listening; open streams break (UNAVAILABLE), as in an orchestrator restart."""
        if self._server is not None:
            await self._server.stop(None)
            self._server = None

    async def Connect(self, request_iterator: Any, context: Any) -> None:
        first = await context.read()
        session = Session(first.hello, context)
        self._sessions.put_nowait(session)
        code = await session.ended
        if code is not grpc.StatusCode.OK:
            await context.abort(code, "scripted end of the stream")

    async def accept(self) -> Session:
        """The next stream a cell opened (its hello read, nothing answered yet)."""
        return await asyncio.wait_for(self._sessions.get(), TIMEOUT_S)


@pytest.fixture
async def scripted_orchestrator() -> AsyncIterator[ScriptedOrchestrator]:
    """A started `ScriptedOrchestrator`, stopped after the test."""
    orchestrator = ScriptedOrchestrator()
    await orchestrator.start()
    yield orchestrator
    await orchestrator.stop()


def noop(task_id: str, epoch: int, duration_s: float) -> cell_pb.Assign:
    params = struct_pb2.Struct()
    params.update({"duration_s": duration_s})
    return cell_pb.Assign(task_id=task_id, epoch=epoch, skill="noop", params=params)


async def test_a_result_finished_between_hello_and_welcome_is_sent_after_the_welcome(
        scripted_orchestrator: ScriptedOrchestrator, start_cell: Any) -> None:
    cell = await start_cell("noop-1", address=scripted_orchestrator.address, wait_execute=False)
    first = await scripted_orchestrator.accept()
    await first.welcome()
    await first.send(assign=noop("t-1", 1, duration_s=600))  # ends only when stopped below
    await first.update("t-1", job_pb2.TASK_STATE_RUNNING)
    task = cell.controller.tasks.current
    first.end(grpc.StatusCode.UNAVAILABLE)

    second = await scripted_orchestrator.accept()
    assert [(t.task_id, t.state) for t in second.hello.tasks] == [("t-1", job_pb2.TASK_STATE_RUNNING)]
    cell.controller.apply(Command.STOP)  # the task ends while the welcome is held back
    await asyncio.wait_for(task.done.wait(), TIMEOUT_S)
    await second.welcome()

    final = await second.update("t-1", *FINAL)
    assert (final.state, final.error.reason) == (job_pb2.TASK_STATE_FAILED, "stopped")


async def test_a_cancel_with_an_older_epoch_does_not_end_the_running_task(
        scripted_orchestrator: ScriptedOrchestrator, start_cell: Any) -> None:
    await start_cell("noop-1", address=scripted_orchestrator.address, wait_execute=False)
    session = await scripted_orchestrator.accept()
    await session.welcome()
    await session.send(assign=noop("t-1", 2, duration_s=0.5))
    await session.update("t-1", job_pb2.TASK_STATE_RUNNING)
    await session.send(cancel=cell_pb.Cancel(task_id="t-1", epoch=1, reason="an older assignment"))

    final = await session.update("t-1", *FINAL)
    assert final.state == job_pb2.TASK_STATE_SUCCEEDED


async def test_a_cell_comes_back_after_each_of_several_orchestrator_restarts_at_the_first_delay(
        scripted_orchestrator: ScriptedOrchestrator, start_cell: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cellwright.cells.session")
    await start_cell("noop-1", address=scripted_orchestrator.address, wait_execute=False)
    for _ in range(5):
        session = await scripted_orchestrator.accept()
        await session.welcome()
        await scripted_orchestrator.stop()  # the welcomed stream breaks with an error
        await scripted_orchestrator.start()
    await scripted_orchestrator.accept()  # the cell came back after the last restart too

    delays = delays_after_welcomes(caplog.records)
    assert len(delays) == 5
    assert all(d <= BACKOFF_START_S * 1.5 for d in delays), delays


def delays_after_welcomes(records: list[logging.LogRecord]) -> list[float]:
    """The reconnect delay the cell chose after each session it was welcomed in (read from
    its log: the choice, not how long anything took)."""
    delays, welcomed = [], False
    for record in records:
        if record.msg == "connected to %s":
            welcomed = True
        elif record.msg == "reconnecting in %.1f s" and welcomed:
            assert isinstance(record.args, tuple)
            delays.append(float(record.args[0]))
            welcomed = False
    return delays


@pytest.mark.timeout(60)
async def test_a_cell_shuts_down_at_once_while_a_long_noop_runs(orchestrator, start_cell,  # type: ignore[no-untyped-def]
                                                                channel: grpc.aio.Channel) -> None:
    """Shutdown interrupts the task in flight: it must not wait out a minute of noop."""
    cell = await start_cell("long-1")
    jobs = job_grpc.JobServiceStub(channel)
    params = struct_pb2.Struct()
    params.update({"duration_s": 60})
    await jobs.SubmitJob(job_svc.SubmitJobRequest(request_id=str(uuid.uuid4()), workflow="noop",
                                                  params=params))
    while cell.controller.tasks.current is None:
        await asyncio.sleep(0.02)
    await asyncio.wait_for(cell.stop(), 45)  # a hang guard below the noop: it takes a tick


# --- task timeouts, on the cell's clock -------------------------------------------------
PANDA = {"panda": RobotEntry("pybullet.panda", "panda")}


def with_timeout(assign: cell_pb.Assign, timeout_s: float) -> cell_pb.Assign:
    assign.timeout_s = timeout_s
    return assign


async def test_a_task_past_its_timeout_on_the_cell_clock_is_stopped_and_fails_with_timeout(
        scripted_orchestrator: ScriptedOrchestrator, start_cell: Any) -> None:
    # A lockstep clock runs as fast as the CPU allows: 30 s of it pass in far less wall time,
    # so only a limit on the cell's clock (not the wall's) ends the noop at 30 s of it.
    cell = await start_cell("arm-1", skills=("noop", "move_to"), world="arm_cell", robots=PANDA,
                            clock="lockstep", address=scripted_orchestrator.address,
                            wait_execute=False)
    session = await scripted_orchestrator.accept()
    await session.welcome()
    await session.send(assign=with_timeout(noop("t-1", 1, duration_s=600), 30))

    final = await session.update("t-1", *FINAL)
    assert final.state == job_pb2.TASK_STATE_FAILED
    assert (final.error.reason, final.error.retryable) == ("timeout", False)
    assert final.error.message == "step exceeded its timeout of 30 s on the cell's clock (ran 30.0 s)"
    assert 30 <= final.duration_s < 600
    assert not final.HasField("result")
    # Stopped as a cancel stops it: the components hold until the next task resumes them.
    runtime = cell.controller.runtime
    assert runtime is not None and runtime.components()
    assert all(component.stop_requested for component in runtime.components())

    # The next task runs normally (the stop was released for it), as does one in time.
    params = struct_pb2.Struct()
    params.update({"location": "home"})
    await session.send(assign=with_timeout(cell_pb.Assign(
        task_id="t-2", epoch=1, skill="move_to", params=params), 30))
    moved = await session.update("t-2", *FINAL)
    assert moved.state == job_pb2.TASK_STATE_SUCCEEDED, moved.error


async def test_a_task_that_ends_within_its_timeout_is_unaffected(
        scripted_orchestrator: ScriptedOrchestrator, start_cell: Any) -> None:
    await start_cell("noop-1", skills=("noop",), world="arm_cell", clock="lockstep",
                     address=scripted_orchestrator.address, wait_execute=False)
    session = await scripted_orchestrator.accept()
    await session.welcome()
    await session.send(assign=with_timeout(noop("t-1", 1, duration_s=20), 30))

    final = await session.update("t-1", *FINAL)
    assert final.state == job_pb2.TASK_STATE_SUCCEEDED, final.error
    assert dict(final.result) == {"duration_s": 20}
    assert 20 <= final.duration_s < 30


# --- result schemas -----------------------------------------------------------------------
class BrokenResult:
    """Declares a string part_id and returns a number: a bug in the skill."""

    name = "broken_result"
    description = "returns what its result_schema does not allow"
    params_schema: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    result_schema: dict[str, Any] = {"type": "object", "properties": {"part_id": {"type": "string"}},
                                     "required": ["part_id"]}

    def run(self, ctx: Any, params: Any) -> dict[str, Any]:
        return {"part_id": 7}


async def test_the_hello_advertises_result_schemas_and_a_result_breaking_one_fails_as_internal(
        scripted_orchestrator: ScriptedOrchestrator, start_cell: Any) -> None:
    cell = await start_cell("noop-1", address=scripted_orchestrator.address, wait_execute=False)
    cell.controller.skills["broken_result"] = BrokenResult()  # the runner reads this mapping
    session = await scripted_orchestrator.accept()
    advertised = {skill.name: skill for skill in session.hello.skills}["noop"]
    assert dict(advertised.result_schema["properties"]) == {"duration_s": {
        "type": "number", "minimum": 0, "description": "the seconds waited, as asked"}}
    await session.welcome()

    await session.send(assign=cell_pb.Assign(task_id="t-1", epoch=1, skill="broken_result"))
    final = await session.update("t-1", *FINAL)
    assert final.state == job_pb2.TASK_STATE_FAILED
    assert (final.error.reason, final.error.retryable) == ("internal", False)
    assert final.error.message == ("skill broken_result broke its result_schema: result.part_id: "
                                   "expected string, got int 7")
    assert not final.HasField("result")


async def test_without_its_orchestrator_a_cell_runs_through_the_grace_then_stops_its_robots_and_holds(
        scripted_orchestrator: ScriptedOrchestrator, start_cell: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="cellwright.cells.operations")
    cell = await start_cell("noop-1", address=scripted_orchestrator.address, wait_execute=False,
                            orchestrator_grace_s=0.2)
    controller = cell.controller
    session = await scripted_orchestrator.accept()
    await session.welcome(lease_ttl_ms=1500)  # the lease is the grace's floor: 1.5 s, not 0.2
    await session.send(assign=noop("t-1", 1, duration_s=600))
    await session.update("t-1", job_pb2.TASK_STATE_RUNNING)
    await scripted_orchestrator.stop()
    assert controller.tasks.current is not None, "the task stopped when the orchestrator went"

    await asyncio.to_thread(wait_until, lambda: controller.packml.state is State.HELD, TIMEOUT_S,
                            "the cell Holds once the grace has passed")
    held = [r.getMessage() for r in caplog.records if "no orchestrator for" in r.getMessage()]
    match = re.search(r"no orchestrator for ([0-9.]+) s \(grace 1.50 s\)", held[0])
    assert match is not None and float(match.group(1)) >= 1.5, held
    assert controller.tasks.current is None  # the robots were stopped, the task ended

    await scripted_orchestrator.start()  # back: the result was kept and goes out after the welcome
    session = await scripted_orchestrator.accept()
    await session.welcome()
    final = await session.update("t-1", *FINAL)
    assert final.state == job_pb2.TASK_STATE_FAILED and final.error.reason == "stopped", final
    assert controller.packml.state is State.HELD  # holding until told otherwise
    await session.send(command=cell_pb.Command(command_id="c-1", command=packml_pb2.PACKML_COMMAND_UNHOLD))
    await asyncio.to_thread(wait_until, lambda: controller.packml.state is State.EXECUTE, TIMEOUT_S,
                            "an operator's Unhold returns the cell to Execute")
