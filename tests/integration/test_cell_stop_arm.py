"""PackML Stop during Resetting halts a simulated arm that is homing, for good."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf import struct_pb2

from cells.config import CellConfig
from cells.controller import CellController
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

GOTO = "name: goto\nversion: 1\nparams: {to: {type: string}}\n" \
       "steps:\n  - {id: go, skill: move_to, with: {location: '${params.to}'}}\n"


async def eventually(probe: Any, timeout_s: float = 60.0) -> Any:
    """Poll the async `probe` until it returns something truthy."""
    async def poll() -> Any:
        while not (found := await probe()):
            await asyncio.sleep(0.05)
        return found
    return await asyncio.wait_for(poll(), timeout_s)


async def test_stop_right_after_reset_leaves_the_arm_still(tmp_path: Path, start_orchestrator: Any) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "goto.yaml").write_text(GOTO)
    orchestrator = await start_orchestrator(workflow_dirs=(flows,))
    controller = CellController(CellConfig(cell_id="arm-1", world="arm_cell", realtime=True),
                                orchestrator.address)
    running = asyncio.create_task(controller.run())
    try:
        async with grpc.aio.insecure_channel(orchestrator.address) as channel:
            jobs, cells = job_grpc.JobServiceStub(channel), cell_grpc.CellServiceStub(channel)

            async def cell_in(state: int) -> bool:
                listed = (await cells.ListCells(cell_pb.ListCellsRequest())).cells
                return any(c.id == "arm-1" and c.connected and c.packml_state == state for c in listed)

            async def job_done() -> bool:
                found = (await jobs.GetJob(job_svc.GetJobRequest(job_id=job.id))).job
                return found.state == job_pb2.JOB_STATE_SUCCEEDED

            await eventually(lambda: cell_in(packml_pb2.PACKML_STATE_EXECUTE))
            params = struct_pb2.Struct(fields={"to": struct_pb2.Value(string_value="outfeed_a")})
            job = (await jobs.SubmitJob(job_svc.SubmitJobRequest(
                request_id=str(uuid.uuid4()), workflow="goto", params=params))).job
            await eventually(job_done)  # the arm is away from home

            async def command(cmd: int) -> None:
                await cells.CommandCell(cell_pb.CommandCellRequest(cell_id="arm-1", command=cmd))

            await command(packml_pb2.PACKML_COMMAND_STOP)
            await eventually(lambda: cell_in(packml_pb2.PACKML_STATE_STOPPED))
            await command(packml_pb2.PACKML_COMMAND_RESET)  # starts homing...
            await command(packml_pb2.PACKML_COMMAND_STOP)   # ...and stops it at once
            await eventually(lambda: cell_in(packml_pb2.PACKML_STATE_STOPPED))
            arm = controller.robots["arm"]
            before = arm.state()
            await asyncio.sleep(1.0)  # real-time pacing: a second of simulated time passes
            after = arm.state()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert after.stamp_s > before.stamp_s + 0.5
    assert float(np.max(np.abs(after.position - before.position))) < 1e-3
