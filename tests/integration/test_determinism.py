"""Determinism: the same seed and jobs give the same trajectories, tick for tick.

Two cells live in one PyBullet world (line2), hosted by one process. A job of four steps
runs on both: cell A picks a cube from the infeed, puts it on the shared handover table and
moves clear; cell B takes it from there to the outfeed. Every tick of the control loop records
every arm's joints, every gripper's width and every part's pose, and the test compares a
hash of the records of two runs: one plain, one with random delays injected into every
byte stream between the cells and the orchestrator (a TCP proxy). In lockstep the
simulation clock never follows the wall clock, so the delays change when things happen in
wall time and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import struct
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from cellwright.api.netproxy import DelayProxy
from cellwright.cells.config import load_config
from cellwright.cells.host import WorldHost
from cellwright.robots import Arm, Gripper
from cellwright.testing import cell_in_state
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

EXAMPLES = Path(__file__).parents[2] / "examples" / "line2"
TIMEOUT_S = 240.0
WORKFLOW = """\
apiVersion: cellwright/v1
kind: Workflow
name: handover
description: A cube from cell A's infeed to cell B's outfeed, over the shared table.
steps:
  - {id: pick, skill: pick, with: {part: red_cube, from: infeed}, place: {cell: arm-a}}
  - {id: hand_over, skill: place, with: {at: handover}, needs: [pick], place: {cell: arm-a}}
  - {id: clear, skill: move_to, with: {location: home}, needs: [hand_over], place: {cell: arm-a}}
  - {id: deliver, skill: pick_place, with: {part: red_cube, from: handover, place_at: outfeed},
     needs: [clear], place: {cell: arm-b}}
"""


class Recorder:
    """Packs every tick's joints, gripper widths and part poses (loop thread) into a hash."""

    def __init__(self, host: WorldHost) -> None:
        assert host.environment is not None
        self.environment = host.environment
        self.digest = hashlib.sha256()
        self.ticks = 0
        self.environment.loop.add_listener(self._record, self.environment.loop.dt, when_idle=False)

    def _record(self, now_s: float) -> None:
        values = [now_s]
        for runtime in self.environment.cells.values():
            for robot in runtime.robots.values():
                for arm in robot.of_kind(Arm):
                    state = arm.state()
                    values += [*state.position.tolist(), *state.velocity.tolist()]
                for gripper in robot.of_kind(Gripper):
                    values.append(gripper.state().width_m)
        world = self.environment.world
        for part_id in sorted(world.parts):
            pose = world.part_info(part_id).pose
            values += [*pose.position, *pose.orientation]
        self.digest.update(struct.pack(f"<{len(values)}d", *values))
        self.ticks += 1


async def run_line(address: str, cells_address: str) -> tuple[str, int, job_pb2.Job]:
    """Host both cells (dialling `cells_address`), start them one after the other, run the
    job through `address`, and return (hash of the records, ticks recorded, the job)."""
    configs = [load_config(EXAMPLES / "arm-a.yaml"), load_config(EXAMPLES / "arm-b.yaml")]
    configs = [dataclasses.replace(c, auto_start=False, clock="lockstep") for c in configs]
    host = WorldHost(configs, cells_address)
    task = asyncio.create_task(host.run())
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            cells, jobs = cell_grpc.CellServiceStub(channel), job_grpc.JobServiceStub(channel)
            for cell_id in ("arm-a", "arm-b"):
                await cell_in_state(address, cell_id, packml_pb2.PACKML_STATE_STOPPED, TIMEOUT_S)
            recorder = Recorder(host)
            for cell_id in ("arm-a", "arm-b"):  # one at a time: each homes on its own
                for command, reached in ((packml_pb2.PACKML_COMMAND_RESET, packml_pb2.PACKML_STATE_IDLE),
                                         (packml_pb2.PACKML_COMMAND_START, packml_pb2.PACKML_STATE_EXECUTE)):
                    await cells.CommandCell(cell_pb.CommandCellRequest(cell_id=cell_id, command=command))
                    await cell_in_state(address, cell_id, reached, TIMEOUT_S)
            job = (await jobs.SubmitJob(job_svc.SubmitJobRequest(
                request_id=str(uuid.uuid4()), workflow="handover", params=struct_pb2.Struct()))).job
            while job.state not in (job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED):
                await asyncio.sleep(0.05)
                job = (await jobs.GetJob(job_svc.GetJobRequest(job_id=job.id))).job
            # The job is over and the lockstep clock stands: read the records now, before the
            # shutdown's stops make the loop tick again.
            recorded = recorder.digest.hexdigest(), recorder.ticks
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return (*recorded, job)


@pytest.fixture
async def line_orchestrator(start_orchestrator, tmp_path: Path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "handover.yaml").write_text(WORKFLOW)
    info = await start_orchestrator(workflow_dirs=(workflows,), heartbeat_interval_s=0.2,
                                    lease_ttl_s=30.0)
    yield info.address


@pytest.mark.timeout(600)
async def test_same_seed_and_jobs_give_the_same_trajectories_despite_network_delays(
        line_orchestrator: str) -> None:
    plain_hash, plain_ticks, plain_job = await run_line(line_orchestrator, line_orchestrator)

    # every chunk, each way, held 0-30 ms (seeded)
    proxy = DelayProxy("127.0.0.1", int(line_orchestrator.rpartition(":")[2]), latency_s=0.015,
                       jitter_s=0.015, seed=7)
    port = await asyncio.to_thread(proxy.start)
    try:
        delayed_hash, delayed_ticks, delayed_job = await run_line(line_orchestrator, f"127.0.0.1:{port}")
    finally:
        await asyncio.to_thread(proxy.stop)

    for job in (plain_job, delayed_job):
        failures = [(t.step_id, t.cell_id, t.error.reason, t.error.message) for t in job.tasks]
        assert job.state == job_pb2.JOB_STATE_SUCCEEDED, failures
        cells = {task.step_id: task.cell_id for task in job.tasks}
        assert cells["pick"] == cells["hand_over"] == "arm-a" and cells["deliver"] == "arm-b"
        parts = {task.step_id: task.result["part_id"] for task in job.tasks if "part_id" in task.result}
        assert parts["hand_over"] == parts["deliver"], "the part A handed over is the one B delivered"
    assert proxy.chunks_passed > 0, "the proxy must have delayed the cells' traffic"
    assert plain_ticks > 1000, "the run must have moved (ticks recorded)"
    assert (delayed_ticks, delayed_hash) == (plain_ticks, plain_hash)
