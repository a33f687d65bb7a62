"""A cell whose robot controller dies: it stops its other components, Aborts with the reason,
and recovers when an operator Clears, Resets and Starts it once the controller is back."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from cellwright.app.virtual_controller import start_virtual_controller
from cellwright.cells.config import RobotEntry
from cellwright.cells.packml import Command, State
from cellwright.robots import Lifecycle
from cellwright.testing import wait_until

TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(condition: Any, what: str) -> None:
    await asyncio.to_thread(wait_until, condition, TIMEOUT_S, what)


async def test_a_cell_that_loses_its_controller_aborts_with_the_reason_and_recovers_when_told(
        start_cell: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="cellwright.cells")
    url = f"opc.tcp://127.0.0.1:{_free_port()}"

    def controller() -> Any:
        return start_virtual_controller("arm_cell", "panda", url=url, pki=tmp_path / "controller",
                                        policy="None")

    virtual = await asyncio.to_thread(controller)
    try:
        options = {"endpoint": url, "security_policy": "None", "link_timeout_s": 0.5}
        cell = await start_cell("arm-1", skills=("move_to",), clock="realtime",
                                robots={"panda": RobotEntry("opcua.panda", "", options)})
        runtime = cell.controller.runtime
        arm, gripper = runtime.robots["panda"].components["arm"], runtime.robots["panda"].components["gripper"]

        await asyncio.to_thread(virtual.close)  # the controller goes away
        await _until(lambda: cell.controller.packml.state is State.ABORTED, "the cell aborts")
        assert arm.lifecycle is Lifecycle.ERROR and gripper.lifecycle is Lifecycle.ERROR
        reasons = [r.getMessage() for r in caplog.records if "entered ERROR" in r.getMessage()]
        assert any("lost the OPC UA link" in r for r in reasons), reasons

        cell.controller.apply(Command.CLEAR)  # while the controller is still down: aborts again
        await _until(lambda: cell.controller.packml.state is State.ABORTED and any(
            "Clearing failed" in r.getMessage() or "PackML Clearing failed" in r.getMessage()
            for r in caplog.records), "Clear fails while the controller is down")

        virtual = await asyncio.to_thread(controller)  # back, on the same endpoint
        cell.controller.apply(Command.CLEAR)
        await _until(lambda: cell.controller.packml.state is State.STOPPED, "Clear reconnects")
        assert arm.lifecycle is Lifecycle.ACTIVE and gripper.lifecycle is Lifecycle.ACTIVE
        cell.controller.apply(Command.RESET)
        await _until(lambda: cell.controller.packml.state is State.IDLE, "Reset homes the arm")
        cell.controller.apply(Command.START)
        await _until(lambda: cell.controller.packml.state is State.EXECUTE, "the cell takes work again")
    finally:
        await asyncio.to_thread(virtual.close)
