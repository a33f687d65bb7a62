"""A component that enters ERROR (a fall, a dead driver) aborts its cell, and stays refused."""

from __future__ import annotations

import asyncio

from cellwright.cells.config import CellConfig, RobotEntry
from cellwright.cells.controller import CellController
from cellwright.cells.packml import Command, State
from tests.integration.test_cell_stop_arm import eventually

MOCK = {"panda": RobotEntry("mock.panda", "panda")}


async def test_a_component_in_error_aborts_the_cell_once() -> None:
    controller = CellController(CellConfig(cell_id="arm-1", world="arm_cell", robots=MOCK),
                                "127.0.0.1:1")  # no orchestrator: the cell runs on its own
    running = asyncio.create_task(controller.run())
    try:
        await eventually(lambda: controller.packml.state is State.EXECUTE)
        assert controller.runtime is not None
        gripper = controller.runtime.robots["panda"].components["gripper"]
        controller.runtime.loop.call(lambda: gripper.fail("fallen: a test"))
        await eventually(lambda: controller.packml.state is State.ABORTED)
        controller.apply(Command.CLEAR)  # the operator clears; the gripper is still in ERROR
        await eventually(lambda: controller.packml.state is State.STOPPED)
        await asyncio.sleep(0.2)  # the watch does not abort again for the same fault
        assert controller.packml.state is State.STOPPED
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
