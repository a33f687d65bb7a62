"""PackML Stop, e-stop and Reset on a simulated arm: what stops stays stopped, and Reset recovers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np
from google.protobuf import struct_pb2

from cellwright.cells.config import CellConfig, RobotEntry
from cellwright.cells.controller import CellController
from cellwright.cells.packml import Command, InvalidTransition, State
from cellwright.cells.skills._common import tool_down
from cellwright.robots import Arm, ArmState, CollisionDetected
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

PANDA = {"panda": RobotEntry("pybullet.panda", "panda")}


async def eventually(probe: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    """Poll `probe` (plain or async) until it returns something truthy; return that."""
    async def poll() -> Any:
        while True:
            found = probe()
            if inspect.isawaitable(found):
                found = await found
            if found:
                return found
            await asyncio.sleep(0.01)
    return await asyncio.wait_for(poll(), timeout_s)


async def test_stop_right_after_reset_leaves_the_arm_still(channel: grpc.aio.Channel, start_cell,
                                                            cell_in_state, job_in_state) -> None:
    cell = await start_cell("arm-1", skills=("pick_place",), world="arm_cell", robots=PANDA, clock="realtime")
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
    arm = the_arm(cell.controller)
    before = arm.state()
    after = await eventually(lambda: _later_state(arm, before.stamp_s + 0.5))
    assert float(np.max(np.abs(after.position - before.position))) < 1e-3


async def test_reset_brings_home_an_arm_left_pressing_against_a_tray_wall() -> None:
    """A collision or an e-stop can leave the fingers pressing on a tray wall; the moves
    of Resetting must be allowed to leave that contact, or the cell can never recover."""
    controller = CellController(CellConfig(cell_id="arm-1", world="arm_cell", robots=PANDA), "127.0.0.1:1")
    running = asyncio.create_task(controller.run())  # no orchestrator: commands applied directly

    def press_on_tray_wall() -> None:
        assert controller.runtime is not None
        arm, tray = the_arm(controller), controller.runtime.layout.station("outfeed_a")
        (x, y, z), (sx, _, sz) = tray.center, tray.size
        arm.move_pose(tool_down((x + sx / 2, y, z + 0.10), 0.0)).result(60)  # above the wall
        with contextlib.suppress(CollisionDetected):
            arm.move_pose(tool_down((x + sx / 2, y, z - sz / 2 + 0.01), 0.0)).result(60)  # onto it

    try:
        await eventually(lambda: controller.packml.state is State.EXECUTE)
        await controller.tasks.on_skill_thread(press_on_tray_wall)
        controller.apply(Command.STOP)
        await eventually(lambda: controller.packml.state is State.STOPPED)
        controller.apply(Command.RESET)
        await eventually(lambda: _settled(controller))
        assert controller.packml.state is State.IDLE
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_reset_stop_reset_reaches_idle_only_once_the_arm_is_home_and_still() -> None:
    """The first Resetting's homing must neither complete nor abort the second Resetting,
    and the second may not release the Stop before the robot thread has acted on it.

    The skill thread is held while Reset and Stop land, so the homing of the first Reset is
    still queued when the cell would accept the second; it runs once the cell waits for it.
    """
    controller = CellController(CellConfig(cell_id="arm-1", world="arm_cell", robots=PANDA), "127.0.0.1:1")
    running = asyncio.create_task(controller.run())  # no orchestrator: commands applied directly
    seen: list[tuple[State, ArmState]] = []
    gate, held = threading.Event(), threading.Event()

    def hold_skill_thread() -> None:
        held.set()
        gate.wait(60.0)

    def reset_again() -> bool:
        try:
            controller.apply(Command.RESET)
        except InvalidTransition:  # still Stopping: it waits for the skill thread
            gate.set()
            return False
        return True

    try:
        await eventually(lambda: controller.packml.state is State.EXECUTE)
        arm = the_arm(controller)
        assert controller.runtime is not None
        camera = controller.runtime.layout.location("camera").pose
        await controller.tasks.on_skill_thread(lambda: arm.move_pose(camera).result(60))
        controller.apply(Command.STOP)
        await eventually(lambda: controller.packml.state is State.STOPPED)
        controller.packml.add_listener(lambda _old, new: seen.append((new, arm.state())))
        holding = asyncio.create_task(controller.tasks.on_skill_thread(hold_skill_thread))
        await eventually(held.is_set)
        arm.resume()  # so that the coming Stop shows: stop_requested turns True when it lands

        controller.apply(Command.RESET)
        controller.apply(Command.STOP)
        await eventually(lambda: arm.stop_requested)
        await eventually(reset_again)
        await eventually(lambda: not arm.stop_requested)  # the second Resetting began
        gate.set()
        await holding
        await eventually(lambda: _settled(controller))

        assert [state for state, _ in seen] == [
            State.RESETTING, State.STOPPING, State.STOPPED, State.RESETTING, State.IDLE]
        at_idle = seen[-1][1]
        home = np.array(arm.info().configurations["home"])
        assert float(np.max(np.abs(at_idle.position - home))) < 2e-3
        assert float(np.max(np.abs(at_idle.velocity))) < 2e-2
        later = await eventually(lambda: _later_state(arm, at_idle.stamp_s + 0.5))
        assert float(np.max(np.abs(later.position - at_idle.position))) < 1e-3
        assert controller.packml.state is State.IDLE
    finally:
        gate.set()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def the_arm(controller: CellController) -> Arm:
    assert controller.runtime is not None
    return controller.runtime.robots["panda"].of_kind(Arm)[0]


def _later_state(arm: Arm, stamp_s: float) -> ArmState | None:
    """The arm's state once its clock has reached `stamp_s`, else None."""
    state = arm.state()
    return state if state.stamp_s >= stamp_s else None


def _settled(controller: CellController) -> bool:
    return controller.packml.state in (State.IDLE, State.ABORTED)


async def test_an_unexpected_error_while_resetting_aborts_the_cell_instead_of_sticking() -> None:
    """A driver's (or plugin's) bug inside Resetting's homing must not leave the cell in
    Resetting for good: it is logged and the cell aborts, where Clear can recover it."""
    config = CellConfig(cell_id="arm-1", robots={"panda": RobotEntry("mock.panda", "panda")},
                        auto_start=False)
    controller = CellController(config, "127.0.0.1:1")
    running = asyncio.create_task(controller.run())  # no orchestrator: commands applied directly
    try:
        await eventually(lambda: controller.runtime is not None and controller.packml.state is State.STOPPED)
        arm = the_arm(controller)

        def broken(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("driver bug")

        arm.move_pose = broken  # type: ignore[method-assign]
        controller.apply(Command.RESET)
        await eventually(lambda: controller.packml.state is State.ABORTED)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
