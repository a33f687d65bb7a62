"""Cancelling a job reaches the skill running on a simulated arm, and the arm stops."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

from cells.config import CellConfig
from cells.controller import CellController
from cells.statebus import StateSubscriber, robot_topic
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2, state_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc
from orchestrator.server import serve


@pytest.fixture
async def address(tmp_path: Path) -> AsyncIterator[str]:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve("127.0.0.1:0", tmp_path / "o.db", [], ready=port.set_result))
    yield f"127.0.0.1:{await asyncio.wait_for(port, 30)}"
    server.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await server


async def wait_job(jobs: job_grpc.JobServiceStub, job_id: str, predicate, timeout_s: float = 120
                   ) -> job_pb2.Job:
    async def poll() -> job_pb2.Job:
        while True:
            job = (await jobs.GetJob(job_svc.GetJobRequest(job_id=job_id))).job
            if predicate(job):
                return job
            await asyncio.sleep(0.02)
    return await asyncio.wait_for(poll(), timeout_s)


async def test_cancel_reaches_a_running_pick_and_the_arm_stops(address: str) -> None:
    # Real-time pacing gives the cancel a window of seconds while the arm moves.
    config = CellConfig(cell_id="arm-1", world="arm_cell", skills=("pick_place", "move_to"), realtime=True)
    controller = CellController(config, address)
    cell_task = asyncio.create_task(controller.run())
    async with grpc.aio.insecure_channel(address) as channel:
        jobs, cells = job_grpc.JobServiceStub(channel), cell_grpc.CellServiceStub(channel)

        async def cell_executing() -> cell_pb.Cell:
            while True:
                found = {c.id: c for c in (await cells.ListCells(cell_pb.ListCellsRequest())).cells}
                if "arm-1" in found and found["arm-1"].packml_state == packml_pb2.PACKML_STATE_EXECUTE:
                    return found["arm-1"]
                await asyncio.sleep(0.05)

        cell = await asyncio.wait_for(cell_executing(), 120)
        params = struct_pb2.Struct()
        params.update({"part": "blue_cube", "to": "outfeed_b"})
        job = (await jobs.SubmitJob(job_svc.SubmitJobRequest(
            request_id=str(uuid.uuid4()), workflow="pick-place", params=params))).job

        with StateSubscriber(cell.state_endpoint, robot_topic("arm-1", "")) as stream:
            def speed() -> float:
                message = stream.recv(5000)
                assert message is not None, "no robot state within 5 s"
                assert isinstance(message.payload, state_pb2.RobotState)
                return float(np.max(np.abs(message.payload.velocity_rad_s)))

            await wait_job(jobs, job.id, lambda j: j.tasks[0].state == job_pb2.TASK_STATE_RUNNING)
            moving = await asyncio.to_thread(lambda: max(speed() for _ in range(60)))
            assert moving > 0.05, "the arm should be moving before the cancel"

            await jobs.CancelJob(job_svc.CancelJobRequest(job_id=job.id, reason="test"))
            done = await wait_job(jobs, job.id, lambda j: j.state == job_pb2.JOB_STATE_CANCELLED)

            # Drain what was queued before the stop, then the arm must be still.
            await asyncio.to_thread(lambda: [stream.recv(1000) for _ in range(60)])
            still = await asyncio.to_thread(lambda: max(speed() for _ in range(30)))

    cell_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await cell_task
    task = done.tasks[0]
    assert task.state == job_pb2.TASK_STATE_CANCELLED
    assert task.error.reason == "stopped"
    assert still < 0.02, f"arm still moving at {still:.3f} rad/s after the cancel"
