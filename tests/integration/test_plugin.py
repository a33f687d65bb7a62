"""The example plugin (examples/plugin, installed by the test command): its robot model and
skill are found through entry points, pass the conformance kit, and run in a real cell."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from cellwright.cells.config import load_config
from cellwright.cells.controller import CellController
from cellwright.cells.skills import SKILLS
from cellwright.robots import ROBOTS, BuildContext, ControlLoop, build_robot
from cellwright.testing import check_component
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

PLUGIN = Path(__file__).parents[2] / "examples" / "plugin"
WORKFLOW = """\
name: feed
version: 1
description: Feed one part on the infeed conveyor.
params: {}
steps:
  - {id: feed, skill: feed_part, with: {speed: 0.2}}
"""


def test_entry_points_register_the_model_and_the_skill() -> None:
    assert {"mock.acme_conveyor", "mock.acme_axis"} <= set(ROBOTS.ids()), \
        "pip install ./examples/plugin first"
    assert ROBOTS.origin("mock.acme_axis").startswith("entry point acme")
    assert SKILLS.get("feed_part").name == "feed_part"
    assert SKILLS.origin("feed_part").startswith("entry point acme")


@pytest.mark.parametrize("model", ["mock.acme_conveyor", "mock.acme_axis"])
def test_the_plugin_models_pass_the_conformance_kit(model: str) -> None:
    robot = build_robot(model, BuildContext("acme"), {})
    loop = ControlLoop(0.01)
    for component in robot.components.values():
        loop.add(component)
    loop.start()
    try:
        for component in robot.components.values():
            loop.call(component.activate)
            check_component(component, loop)
    finally:
        loop.stop()


@pytest.mark.timeout(120)
async def test_a_cell_of_the_plugin_runs_its_skill(start_orchestrator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "feed.yaml").write_text(WORKFLOW)
    orchestrator = await start_orchestrator(workflow_dirs=(workflows,))
    controller = CellController(load_config(PLUGIN / "conveyor-cell.yaml"), orchestrator.address)
    cell = asyncio.create_task(controller.run())
    try:
        async with grpc.aio.insecure_channel(orchestrator.address) as channel:
            jobs = job_grpc.JobServiceStub(channel)
            job = (await jobs.SubmitJob(job_svc.SubmitJobRequest(
                request_id=str(uuid.uuid4()), workflow="feed", params=struct_pb2.Struct()))).job
            while job.state not in (job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED):
                await asyncio.sleep(0.05)
                job = (await jobs.GetJob(job_svc.GetJobRequest(job_id=job.id))).job
    finally:
        cell.cancel()
        await asyncio.gather(cell, return_exceptions=True)
    assert job.state == job_pb2.JOB_STATE_SUCCEEDED, job
    fed_in = job.tasks[0].result["fed_in_s"]
    assert fed_in == pytest.approx(0.3 / 0.2, abs=0.1)  # belt travel / speed, on the loop's clock
