"""PackML Stop, e-stop and Reset on a simulated arm: what stops stays stopped, and Reset recovers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import grpc
import numpy as np
from google.protobuf import struct_pb2

from cellwright.cells.config import CellConfig
from cellwright.cells.controller import CellController
from cellwright.cells.packml import Command, State
from cellwright.cells.skills._common import tool_down
from cellwright.robots import CollisionDetected
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc


async def eventually(probe: Any, timeout_s: float = 60.0) -> Any:
    """Poll the async `probe` until it returns something truthy."""
    async def poll() -> Any:
        while not (found := await probe()):
            await asyncio.sleep(0.05)
        return found
    return await asyncio.wait_for(poll(), timeout_s)


async def test_stop_right_after_reset_leaves_the_arm_still(channel: grpc.aio.Channel, start_cell,
                                                            cell_in_state, job_in_state) -> None:
    cell = await start_cell("arm-1", skills=("pick_place",), world="arm_cell", realtime=True)
    jobs, cells = job_grpc.JobServiceStub(channel), cell_grpc.CellServiceStub(channel)
    params = struct_pb2.Struct(fields={"part": struct_pb2.Value(string_value="red_cube")})
    job = (await jobs.SubmitJob(job_svc.SubmitJobRequest(
        request_id=str(uuid.uuid4()), workflow="pick-place", params=params))).job
    await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)  # the arm ends above a tray, not home

    async def command(cmd: int) -> None:
        await cells.CommandCell(cell_pb.CommandCellRequest(cell_id="arm-1", command=cmd))

    await command(packml_pb2.PACKML_COMMAND_STOP)
    await cell_in_state("arm-1", packml_pb2.PACKML_STATE_STOPPED)
    await command(packml_pb2.PACKML_COMMAND_RESET)  # starts homing...
    await command(packml_pb2.PACKML_COMMAND_STOP)   # ...and stops it at once
    await cell_in_state("arm-1", packml_pb2.PACKML_STATE_STOPPED)
    arm = cell.controller.robots["arm"]
    before = arm.state()
    await asyncio.sleep(1.0)  # real-time pacing: a second of simulated time passes
    after = arm.state()
    assert after.stamp_s > before.stamp_s + 0.5
    assert float(np.max(np.abs(after.position - before.position))) < 1e-3


async def test_reset_brings_home_an_arm_left_pressing_against_a_tray_wall() -> None:
    """A collision or an e-stop can leave the fingers pressing on a tray wall; the moves
    of Resetting must be allowed to leave that contact, or the cell can never recover."""
    controller = CellController(CellConfig(cell_id="arm-1", world="arm_cell"), "127.0.0.1:1")
    running = asyncio.create_task(controller.run())  # no orchestrator: commands applied directly

    async def state_is(state: State) -> bool:
        return controller.packml.state is state

    def press_on_tray_wall(owned: Any) -> None:
        arm, tray = controller.robots["arm"], owned.world.regions["outfeed_a"]
        (x, y, z), (sx, _, sz) = tray.center, tray.size
        arm.move_pose(tool_down((x + sx / 2, y, z + 0.10), 0.0))  # above the wall
        with contextlib.suppress(CollisionDetected):
            arm.move_pose(tool_down((x + sx / 2, y, z - sz / 2 + 0.01), 0.0))  # down onto it

    try:
        await eventually(lambda: state_is(State.EXECUTE))
        await controller.on_robot_thread(press_on_tray_wall)
        controller.apply(Command.STOP)
        await eventually(lambda: state_is(State.STOPPED))
        controller.apply(Command.RESET)
        await eventually(lambda: _settled(controller))
        assert controller.packml.state is State.IDLE
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def _settled(controller: CellController) -> bool:
    return controller.packml.state in (State.IDLE, State.ABORTED)
