"""Operators resolving HELD jobs over real gRPC: RetryTask and ResumeJob.

A job goes HELD when a task's outcome is unknown: here a scripted cell (speaking the real
Connect protocol) takes the task, reports it RUNNING, and comes back as a new process
(another boot id) holding nothing, or stays away until its lease ends.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from cellwright.testing import ScriptedCell
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

TIMEOUT_S = 30.0
EXECUTE = packml_pb2.PACKML_STATE_EXECUTE
SKILLS = ("noop", "pick_place", "move_to")
JobWaiter = Callable[..., Awaitable[job_pb2.Job]]
Jobs = job_grpc.JobServiceStub
Cells = cell_grpc.CellServiceStub


Make = Callable[..., ScriptedCell]


@pytest.fixture
async def scripted_cell(orchestrator: Any) -> AsyncIterator[Make]:
    made: list[ScriptedCell] = []

    def make(cell_id: str = "cell-1", boot_id: str = "") -> ScriptedCell:
        cell = ScriptedCell(orchestrator.address, cell_id, boot_id or uuid.uuid4().hex, SKILLS)
        made.append(cell)
        return cell

    yield make
    for cell in made:
        await cell.drop()


@pytest.fixture
def jobs(channel: grpc.aio.Channel) -> job_grpc.JobServiceStub:
    return job_grpc.JobServiceStub(channel)


@pytest.fixture
def cells(channel: grpc.aio.Channel) -> cell_grpc.CellServiceStub:
    return cell_grpc.CellServiceStub(channel)


async def submit(jobs: job_grpc.JobServiceStub, workflow: str = "noop",
                 params: dict[str, Any] | None = None) -> job_pb2.Job:
    struct = struct_pb2.Struct()
    struct.update(params or {})
    response: job_svc.SubmitJobResponse = await jobs.SubmitJob(job_svc.SubmitJobRequest(
        request_id=str(uuid.uuid4()), workflow=workflow, params=struct), timeout=TIMEOUT_S)
    return response.job


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def disconnected(cells: cell_grpc.CellServiceStub, cell_id: str) -> None:
    """Wait until the orchestrator has seen the cell's stream end."""
    async def poll() -> None:
        while (await cells.GetCell(cell_pb.GetCellRequest(cell_id=cell_id))).cell.connected:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), TIMEOUT_S)


async def held_by_a_restart(jobs: job_grpc.JobServiceStub, cells: cell_grpc.CellServiceStub,
                            scripted_cell: Make, job_in_state: JobWaiter, workflow: str = "noop",
                            params: dict[str, Any] | None = None
                            ) -> tuple[job_pb2.Job, cell_pb.Assign, ScriptedCell]:
    """A job whose first task was RUNNING on cell-1 when cell-1 restarted: the task is
    UNKNOWN and the job HELD. Returns the job, the old assignment and the new process
    (connected, idle, in Execute)."""
    old = scripted_cell("cell-1", "boot-old")
    await old.connect()
    job = await submit(jobs, workflow, params)
    assign = (await old.next("assign")).assign
    await old.report(assign, job_pb2.TASK_STATE_RUNNING)
    await job_in_state(job.id, job_pb2.JOB_STATE_RUNNING)
    await old.drop()
    await disconnected(cells, "cell-1")
    new = scripted_cell("cell-1", "boot-new")
    new.busy = True  # takes nothing until the test says so
    await new.connect()
    held = await job_in_state(job.id, job_pb2.JOB_STATE_HELD)
    assert held.tasks[0].state == job_pb2.TASK_STATE_UNKNOWN
    assert held.tasks[0].error.reason == "cell_lost"
    return held, assign, new


async def test_retry_task_runs_the_unknown_task_again_to_succeeded_on_a_cell(
        jobs: Jobs, cells: Cells, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    job, assign, cell = await held_by_a_restart(jobs, cells, scripted_cell, job_in_state)
    retried = (await jobs.RetryTask(job_svc.RetryTaskRequest(
        job_id=job.id, task_id="noop", reason="tray checked: part not moved"), timeout=TIMEOUT_S)).job
    task = retried.tasks[0]
    assert (retried.state, task.state) == (job_pb2.JOB_STATE_RUNNING, job_pb2.TASK_STATE_READY)
    assert task.epoch > assign.epoch
    assert "tray checked: part not moved" in task.operator_note
    cell.busy = False
    again = (await cell.next("assign")).assign
    assert again.task_id == assign.task_id and again.epoch > task.epoch
    await cell.report(again, job_pb2.TASK_STATE_RUNNING)
    await cell.report(again, job_pb2.TASK_STATE_SUCCEEDED)
    done = await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)
    assert (done.tasks[0].state, done.tasks[0].epoch) == (job_pb2.TASK_STATE_SUCCEEDED, again.epoch)
    assert done.tasks[0].cell_id == "cell-1"
    assert "tray checked: part not moved" in done.tasks[0].operator_note


async def test_a_retried_task_fences_off_its_old_holder_that_comes_back_late(
        jobs: Jobs, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    """The same process returns after its lease ended, still running the task under the old
    epoch: it is told to cancel, and its late result changes nothing."""
    old = scripted_cell("cell-1", "boot-a")
    await old.connect()
    job = await submit(jobs)
    assign = (await old.next("assign")).assign
    await old.report(assign, job_pb2.TASK_STATE_RUNNING)
    await job_in_state(job.id, job_pb2.JOB_STATE_RUNNING)
    await old.drop()
    await job_in_state(job.id, job_pb2.JOB_STATE_HELD)  # its lease expired
    retried = (await jobs.RetryTask(job_svc.RetryTaskRequest(
        job_id=job.id, task_id=assign.task_id, reason="cell unreachable"), timeout=TIMEOUT_S)).job
    back = scripted_cell("cell-1", "boot-a")
    back.busy = True  # still running the old attempt
    await back.connect(tasks=(cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                 state=job_pb2.TASK_STATE_RUNNING),))
    cancel = (await back.next("cancel")).cancel
    assert (cancel.task_id, cancel.epoch) == (assign.task_id, assign.epoch)
    await back.report(assign, job_pb2.TASK_STATE_SUCCEEDED)  # the old run finished anyway
    ack = (await back.next("ack")).ack  # sent once the report was dealt with
    assert (ack.task_id, ack.epoch) == (assign.task_id, assign.epoch)
    unchanged = (await jobs.GetJob(job_svc.GetJobRequest(job_id=job.id), timeout=TIMEOUT_S)).job
    assert unchanged.state == job_pb2.JOB_STATE_RUNNING
    assert (unchanged.tasks[0].state, unchanged.tasks[0].epoch) == (
        job_pb2.TASK_STATE_READY, retried.tasks[0].epoch)
    back.busy = False
    again = (await back.next("assign")).assign
    assert again.epoch > retried.tasks[0].epoch
    await back.report(again, job_pb2.TASK_STATE_SUCCEEDED)
    await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)


async def test_resume_job_marks_the_unknown_task_succeeded_and_the_job_goes_on(
        jobs: Jobs, cells: Cells, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    job, assign, cell = await held_by_a_restart(
        jobs, cells, scripted_cell, job_in_state, "kitting", {"first": "red_cube",
                                                              "second": "blue_cube"})
    resumed = (await jobs.ResumeJob(job_svc.ResumeJobRequest(
        job_id=job.id, reason="red cube is in the tray"), timeout=TIMEOUT_S)).job
    assert resumed.state == job_pb2.JOB_STATE_RUNNING
    first = resumed.tasks[0]
    assert first.state == job_pb2.TASK_STATE_SUCCEEDED and first.epoch > assign.epoch
    assert not first.HasField("error")
    assert "red cube is in the tray" in first.operator_note
    assert resumed.tasks[1].state == job_pb2.TASK_STATE_READY
    cell.busy = False
    for step in ("second", "home"):
        given = (await cell.next("assign")).assign
        assert given.task_id == f"{job.id}/{step}"
        await cell.report(given, job_pb2.TASK_STATE_SUCCEEDED)
    await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)


async def test_a_late_report_from_the_old_holder_of_a_resumed_task_changes_nothing(
        jobs: Jobs, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    old = scripted_cell("cell-1", "boot-a")
    await old.connect()
    job = await submit(jobs)
    assign = (await old.next("assign")).assign
    await old.report(assign, job_pb2.TASK_STATE_RUNNING)
    await job_in_state(job.id, job_pb2.JOB_STATE_RUNNING)
    await old.drop()
    await job_in_state(job.id, job_pb2.JOB_STATE_HELD)  # its lease expired
    resumed = (await jobs.ResumeJob(job_svc.ResumeJobRequest(
        job_id=job.id, reason="part is in the tray"), timeout=TIMEOUT_S)).job
    assert resumed.state == job_pb2.JOB_STATE_SUCCEEDED
    back = scripted_cell("cell-1", "boot-a")
    failed = cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                state=job_pb2.TASK_STATE_FAILED,
                                error=job_pb2.TaskError(reason="collision", message="late"))
    await back.connect(tasks=(failed,))
    ack = (await back.next("ack")).ack  # sent once the report was dealt with
    assert (ack.task_id, ack.epoch) == (assign.task_id, assign.epoch)
    after = (await jobs.GetJob(job_svc.GetJobRequest(job_id=job.id), timeout=TIMEOUT_S)).job
    assert after == resumed


@pytest.mark.parametrize("reason", ["", "  "])
async def test_retry_and_resume_without_a_reason_are_invalid_argument(
        jobs: Jobs, cells: Cells, scripted_cell: Make, job_in_state: JobWaiter,
        reason: str) -> None:
    job, _, _ = await held_by_a_restart(jobs, cells, scripted_cell, job_in_state)
    for call in (jobs.RetryTask(job_svc.RetryTaskRequest(job_id=job.id, task_id="noop",
                                                         reason=reason), timeout=TIMEOUT_S),
                 jobs.ResumeJob(job_svc.ResumeJobRequest(job_id=job.id, reason=reason),
                                timeout=TIMEOUT_S)):
        error = await rpc_error(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("reason:")
    still = (await jobs.GetJob(job_svc.GetJobRequest(job_id=job.id), timeout=TIMEOUT_S)).job
    assert (still.state, still.tasks[0].state) == (job_pb2.JOB_STATE_HELD, job_pb2.TASK_STATE_UNKNOWN)


async def test_retry_and_resume_of_a_job_that_is_not_held_are_failed_precondition(
        jobs: Jobs) -> None:
    job = await submit(jobs)  # no cell: QUEUED, its task READY
    error = await rpc_error(jobs.RetryTask(job_svc.RetryTaskRequest(
        job_id=job.id, task_id="noop", reason="checked"), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "READY" in error.details()
    error = await rpc_error(jobs.ResumeJob(job_svc.ResumeJobRequest(
        job_id=job.id, reason="checked"), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "QUEUED" in error.details()


async def test_retry_of_an_unknown_step_or_without_a_task_is_refused_naming_it(
        jobs: Jobs, cells: Cells, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    job, _, _ = await held_by_a_restart(jobs, cells, scripted_cell, job_in_state)
    error = await rpc_error(jobs.RetryTask(job_svc.RetryTaskRequest(
        job_id=job.id, task_id="nope", reason="checked"), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "'nope'" in error.details()
    error = await rpc_error(jobs.RetryTask(job_svc.RetryTaskRequest(
        job_id=job.id, reason="checked"), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("task_id:")


async def test_a_task_whose_cell_returns_running_it_is_back_without_the_cell_lost_error(
        jobs: Jobs, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    cell = scripted_cell("cell-1", "boot-a")
    await cell.connect()
    job = await submit(jobs)
    assign = (await cell.next("assign")).assign
    await cell.report(assign, job_pb2.TASK_STATE_RUNNING)
    await job_in_state(job.id, job_pb2.JOB_STATE_RUNNING)
    await cell.drop()
    held = await job_in_state(job.id, job_pb2.JOB_STATE_HELD)  # its lease expired
    assert held.tasks[0].error.reason == "cell_lost"
    back = scripted_cell("cell-1", "boot-a")
    back.busy = True
    await back.connect(tasks=(cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                 state=job_pb2.TASK_STATE_RUNNING),))
    running = await job_in_state(job.id, job_pb2.JOB_STATE_RUNNING)
    assert running.tasks[0].state == job_pb2.TASK_STATE_RUNNING
    assert not running.tasks[0].HasField("error")
    await back.report(assign, job_pb2.TASK_STATE_SUCCEEDED)
    await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)


async def test_a_job_going_held_logs_a_warning_telling_the_operator_what_to_do(
        jobs: Jobs, cells: Cells, scripted_cell: Make, job_in_state: JobWaiter,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cellwright.orchestrator.engine")
    job, _, _ = await held_by_a_restart(jobs, cells, scripted_cell, job_in_state)
    warnings = [r for r in caplog.records if r.name == "cellwright.orchestrator.engine"
                and r.levelno == logging.WARNING and job.id in r.getMessage()]
    assert len(warnings) == 1
    assert "HELD" in warnings[0].getMessage()
    assert f"cellwright job resume {job.id}" in warnings[0].getMessage()


async def test_retry_of_a_task_of_a_job_cancelled_while_held_is_failed_precondition(
        jobs: Jobs, cells: Cells, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    job, _, _ = await held_by_a_restart(jobs, cells, scripted_cell, job_in_state)
    cancelled = (await jobs.CancelJob(job_svc.CancelJobRequest(job_id=job.id, reason="scrap it"),
                                      timeout=TIMEOUT_S)).job
    assert cancelled.state == job_pb2.JOB_STATE_CANCELLED
    assert cancelled.tasks[0].state == job_pb2.TASK_STATE_UNKNOWN
    error = await rpc_error(jobs.RetryTask(job_svc.RetryTaskRequest(
        job_id=job.id, task_id="noop", reason="changed my mind"), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
