"""A cell whose robot controller dies in the middle of a task: the task fails with the reason,
the cell stops its other components and Aborts, and it recovers when an operator Clears,
Resets and Starts it once the controller is back; the same job then succeeds."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from cellwright.api.netproxy import DelayProxy
from cellwright.app.virtual_controller import start_virtual_controller
from cellwright.cells.config import RobotEntry
from cellwright.cells.packml import Command, State
from cellwright.robots import Lifecycle
from cellwright.testing import wait_until
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc
from cellwright.v1 import workflow_service_pb2 as wf_pb
from cellwright.v1 import workflow_service_pb2_grpc as wf_grpc

TIMEOUT_S = 60.0
REPO = Path(__file__).parents[2]
TOUR = REPO / "examples" / "promote" / "tour.yaml"
LAYOUT = REPO / "sim_worlds" / "worlds" / "arm_cell.layout.yaml"


async def _until(condition: Any, what: str) -> None:
    await asyncio.to_thread(wait_until, condition, TIMEOUT_S, what)


async def test_a_controller_lost_mid_task_fails_the_task_aborts_the_cell_and_clear_recovers(
        channel: grpc.aio.Channel, start_cell: Any, job_in_state: Any, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="cellwright.cells")
    controller = await asyncio.to_thread(lambda: start_virtual_controller(
        "arm_cell", "panda", url="opc.tcp://127.0.0.1:0", pki=tmp_path / "controller", policy="None"))
    target = controller.server.url.removeprefix("opc.tcp://").rsplit(":", 1)
    # The cell reaches the controller through a proxy: stopping it drops the connection at
    # once (a crashed controller, a pulled cable); a new one on the same port brings it back.
    proxy = DelayProxy(target[0], int(target[1]))
    port = await asyncio.to_thread(proxy.start)
    try:
        options = {"endpoint": f"opc.tcp://127.0.0.1:{port}", "security_policy": "None"}
        cell = await start_cell("arm-1", skills=("move_to",), clock="realtime", layout=str(LAYOUT),
                                robots={"panda": RobotEntry("opcua.panda", "panda", options)})
        arm = cell.controller.runtime.robots["panda"].components["arm"]
        await wf_grpc.WorkflowServiceStub(channel).PutWorkflow(
            wf_pb.PutWorkflowRequest(source=TOUR.read_text(), origin=str(TOUR)))
        jobs = job_grpc.JobServiceStub(channel)

        async def tour() -> str:
            response = await jobs.SubmitJob(job_svc.SubmitJobRequest(request_id=str(uuid.uuid4()), workflow="tour"))
            return str(response.job.id)

        first = await tour()
        await job_in_state(first, job_pb2.JOB_STATE_RUNNING)
        start = arm.state().position.copy()
        await _until(lambda: abs(arm.state().position - start).max() > 0.05, "the arm moves in the task")
        await asyncio.to_thread(proxy.stop)  # the controller is gone, mid-motion

        await _until(lambda: cell.controller.packml.state is State.ABORTED, "the cell aborts")
        assert all(c.lifecycle is Lifecycle.ERROR for c in cell.controller.runtime.components())
        reasons = [r.getMessage() for r in caplog.records if "entered ERROR" in r.getMessage()]
        assert any("lost the OPC UA link" in r for r in reasons), reasons
        failed = await job_in_state(first, job_pb2.JOB_STATE_FAILED, timeout_s=TIMEOUT_S)
        running = [t for t in failed.tasks if t.state == job_pb2.TASK_STATE_FAILED]
        assert running and running[0].error.reason == "not_active", failed.tasks
        assert "lost the OPC UA link" in running[0].error.message, running[0].error.message

        cell.controller.apply(Command.CLEAR)  # the controller still away: Clear fails, Aborted again
        await _until(lambda: cell.controller.packml.state is State.ABORTED and any(
            "PackML Clearing failed" in r.getMessage() for r in caplog.records), "Clear fails while it is away")

        proxy = DelayProxy(target[0], int(target[1]), listen_port=port)  # back, same endpoint
        await asyncio.to_thread(proxy.start)
        for command, state in ((Command.CLEAR, State.STOPPED), (Command.RESET, State.IDLE),
                               (Command.START, State.EXECUTE)):
            cell.controller.apply(command)
            await _until(lambda s=state: cell.controller.packml.state is s, f"{command.value} lands in {state.value}")
        assert all(c.lifecycle is Lifecycle.ACTIVE for c in cell.controller.runtime.components())
        done = await job_in_state(await tour(), job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED,
                                  timeout_s=TIMEOUT_S)
        assert done.state == job_pb2.JOB_STATE_SUCCEEDED, [(t.step_id, t.error.message) for t in done.tasks]
    finally:
        await asyncio.to_thread(proxy.stop)
        await asyncio.to_thread(controller.close)
