"""Configuration chooses sim or mock: the arm cell's workflows succeed on `pybullet.panda`
and on `mock.panda`, and the two cell configs differ in one line."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from cellwright.cells.config import load_config
from cellwright.cells.controller import CellController
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

CELLS = Path(__file__).parents[2] / "examples" / "cells"


def settings(path: Path) -> list[str]:
    """The file's lines without comments and blank lines."""
    lines = (line.split("#", 1)[0].rstrip() for line in path.read_text().splitlines())
    return [line for line in lines if line.strip()]


def test_the_mock_cell_differs_from_the_sim_cell_in_one_line() -> None:
    sim, mock = settings(CELLS / "arm-cell.yaml"), settings(CELLS / "mock-arm-cell.yaml")
    changed = [(a, b) for a, b in zip(sim, mock, strict=True) if a != b]
    assert changed == [("  panda: pybullet.panda", "  panda: mock.panda")]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("config", ["arm-cell.yaml", "mock-arm-cell.yaml"])
async def test_the_arm_workflows_succeed(config: str, orchestrator, channel: grpc.aio.Channel,  # type: ignore[no-untyped-def]
                                         cell_in_state, job_in_state) -> None:
    controller = CellController(load_config(CELLS / config), orchestrator.address)
    running = asyncio.create_task(controller.run())
    try:
        await cell_in_state("arm-1", packml_pb2.PACKML_STATE_EXECUTE, timeout_s=120)
        jobs = job_grpc.JobServiceStub(channel)

        async def submit(workflow: str, **params: str) -> str:
            body = struct_pb2.Struct()
            body.update(params)
            return (await jobs.SubmitJob(job_svc.SubmitJobRequest(
                request_id=str(uuid.uuid4()), workflow=workflow, params=body))).job.id

        kit = await submit("kitting", first="red_cube", second="green_cube", tray="outfeed_b")
        single = await submit("pick-place", part="blue_cube", to="outfeed_a")
        for job_id in (kit, single):
            job = await job_in_state(job_id, job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED,
                                     timeout_s=240)
            assert job.state == job_pb2.JOB_STATE_SUCCEEDED, [t.error.message for t in job.tasks]
        placed = [t.result["part_type"] for t in job.tasks if t.step_id == "transfer"]
        assert placed == ["blue_cube"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
