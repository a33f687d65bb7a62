"""Shared fixtures: a real orchestrator on loopback and real cell controllers.

Everything runs in the test's event loop and is torn down cleanly (no leaked channels,
servers or tasks, since warnings are errors). Use them like this::

    async def test_something(orchestrator, channel, start_cell):
        await start_cell("cell-1")                     # a noop cell, in PackML Execute
        jobs = job_grpc.JobServiceStub(channel)        # talks to `orchestrator.address`

Fixtures:
    orchestrator: a running orchestrator (`orchestrator.server.serve`) on 127.0.0.1:0
        with a fresh SQLite file in tmp_path; short heartbeat and lease (see
        `OrchestratorInfo`). `start_orchestrator` makes more (or differently tuned) ones.
    channel: a grpc.aio channel to `orchestrator`, closed after the test.
    start_cell: start a `cells.controller.CellController` (noop skill, no world) as a task
        connected to `orchestrator`; returns a `RunningCell`, stopped after the test.
    cell_in_state / job_in_state: wait, with a timeout, until the orchestrator reports a
        cell's PackML state / a job's state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from cellwright.cells.config import CellConfig
from cellwright.cells.controller import CellController
from cellwright.orchestrator.serve import serve
from cellwright.testing import waiting
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

START_TIMEOUT_S = 30.0
"""Upper bound for anything to come up; generous for a loaded 2-core machine."""


@dataclass
class OrchestratorInfo:
    """A running orchestrator: where it listens and which files it uses."""

    address: str
    port: int
    db_path: Path
    task: asyncio.Task[None]
    heartbeat_interval_s: float
    lease_ttl_s: float

    async def stop(self) -> None:
        """Stop it (as SIGTERM would) and wait until its server and database are closed."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@dataclass
class RunningCell:
    """A cell controller running as a task; `stop()` ends it like a crash of its process."""

    controller: CellController
    task: asyncio.Task[None]

    @property
    def cell_id(self) -> str:
        return self.controller.config.cell_id

    async def stop(self) -> None:
        """Cancel the controller (its session drops) and wait until it has shut down."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


StartOrchestrator = Callable[..., Awaitable[OrchestratorInfo]]
StartCell = Callable[..., Awaitable[RunningCell]]


@pytest.fixture
async def start_orchestrator(tmp_path: Path) -> AsyncIterator[StartOrchestrator]:
    """Factory: `await start_orchestrator(db_path=None, heartbeat_interval_s=0.1,
    lease_ttl_s=2.0, workflow_dirs=(), address="127.0.0.1:0", **options)` starts `serve()` on
    `address` (give a stopped one's address to restart it on the same port; `options` go to
    `serve()`, e.g. busy_timeout_s) and waits until it listens.
    Every orchestrator started is stopped (and its database closed) after the test."""
    started: list[OrchestratorInfo] = []

    async def start(db_path: Path | None = None, *, heartbeat_interval_s: float = 0.1,
                    lease_ttl_s: float = 2.0, workflow_dirs: tuple[Path, ...] = (),
                    address: str = "127.0.0.1:0", **options: Any) -> OrchestratorInfo:
        path = db_path or tmp_path / f"orchestrator-{len(started)}.db"
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(
            address, path, list(workflow_dirs), heartbeat_interval_s=heartbeat_interval_s,
            lease_ttl_s=lease_ttl_s, ready=port.set_result, **options))
        done, _ = await asyncio.wait({port, task}, timeout=START_TIMEOUT_S,
                                     return_when=asyncio.FIRST_COMPLETED)
        if port not in done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task  # raises serve()'s own error, if it failed
            raise TimeoutError("the orchestrator did not start listening")
        info = OrchestratorInfo(f"{address.rpartition(':')[0]}:{port.result()}", port.result(), path, task,
                                heartbeat_interval_s, lease_ttl_s)
        started.append(info)
        return info

    yield start
    for info in reversed(started):
        await info.stop()


@pytest.fixture
async def orchestrator(start_orchestrator: StartOrchestrator) -> OrchestratorInfo:
    """One running orchestrator with default test settings (heartbeat 0.1 s, lease 2 s)."""
    return await start_orchestrator()


@pytest.fixture
async def channel(orchestrator: OrchestratorInfo) -> AsyncIterator[grpc.aio.Channel]:
    """An async gRPC channel to `orchestrator`, closed after the test."""
    async with grpc.aio.insecure_channel(orchestrator.address) as chan:
        await asyncio.wait_for(chan.channel_ready(), START_TIMEOUT_S)
        yield chan


@pytest.fixture
async def start_cell(orchestrator: OrchestratorInfo) -> AsyncIterator[StartCell]:
    """Factory: `await start_cell(cell_id, skills=("noop",), wait_execute=True, address=None,
    **config)` runs a real CellController against `orchestrator` (or `address`); without a
    world unless `world="arm_cell"` (or another) and
    `robots={"panda": RobotEntry("pybullet.panda", "panda")}` are among the CellConfig fields
    in `config`.
    With `wait_execute` it returns once the orchestrator lists the cell connected and in
    PackML Execute. Cells still running after the test are stopped."""
    running: list[RunningCell] = []

    async def start(cell_id: str, *, skills: tuple[str, ...] = ("noop",),
                    wait_execute: bool = True, address: str | None = None,
                    **config: Any) -> RunningCell:
        controller = CellController(
            CellConfig(cell_id=cell_id, skills=skills, **config),
            address or orchestrator.address)
        cell = RunningCell(controller, asyncio.create_task(controller.run()))
        running.append(cell)
        if wait_execute:
            await waiting.cell_in_state(address or orchestrator.address, cell_id,
                                packml_pb2.PACKML_STATE_EXECUTE, START_TIMEOUT_S)
        return cell

    yield start
    for cell in reversed(running):
        await cell.stop()


@pytest.fixture
def cell_in_state(orchestrator: OrchestratorInfo) -> Callable[..., Awaitable[cell_pb.Cell]]:
    """`await cell_in_state(cell_id, packml_state)`: wait (with a timeout) until the
    orchestrator sees the cell connected and in that PackML state; returns the Cell."""
    async def wait(cell_id: str, packml_state: int, timeout_s: float = START_TIMEOUT_S
                   ) -> cell_pb.Cell:
        return await waiting.cell_in_state(orchestrator.address, cell_id, packml_state, timeout_s)
    return wait


@pytest.fixture
def job_in_state(channel: grpc.aio.Channel) -> Callable[..., Awaitable[job_pb2.Job]]:
    """`await job_in_state(job_id, *states, timeout_s=30)`: poll GetJob until the job is in
    one of `states` (JobState values); returns the Job. Raises TimeoutError otherwise."""
    stub = job_grpc.JobServiceStub(channel)

    async def wait(job_id: str, *states: int, timeout_s: float = START_TIMEOUT_S) -> job_pb2.Job:
        async def poll() -> job_pb2.Job:
            while True:
                job = (await stub.GetJob(job_svc.GetJobRequest(job_id=job_id))).job
                if job.state in states:
                    return job
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(poll(), timeout_s)
    return wait
