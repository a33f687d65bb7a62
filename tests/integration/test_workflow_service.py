"""WorkflowService and the v1 parts of JobService over real gRPC, against a real
orchestrator on loopback: stored workflow versions, validation against the plant, version
pinning, restarts, operator steps and outputs, reservations, placement and submit-time
refusals. Cells are `ScriptedCell`s speaking the real Connect protocol.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2

from cellwright.api.layout import load_layout
from cellwright.testing import ScriptedCell, async_wait_until
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc
from cellwright.v1 import workflow_service_pb2 as wf_pb
from cellwright.v1 import workflow_service_pb2_grpc as wf_grpc

TIMEOUT_S = 30.0
LAYOUT = Path(__file__).parents[2] / "sim_worlds" / "worlds" / "arm_cell.layout.yaml"
JobWaiter = Callable[..., Awaitable[job_pb2.Job]]
Make = Callable[..., ScriptedCell]

KIT_V1 = """\
apiVersion: cellwright/v1
kind: Workflow
name: kit
description: one noop step
steps:
  - id: first
    skill: noop
    with: {duration_s: 1}
"""

KIT_V2 = """\
apiVersion: cellwright/v1
kind: Workflow
name: kit
description: two noop steps
steps:
  - id: second
    skill: noop
    with: {duration_s: 2}
  - id: third
    skill: noop
    needs: [second]
"""

# Three errors: an unknown key (line 6), a need of no step (line 10), a bad timeout (line 11).
BROKEN = """\
apiVersion: cellwright/v1
kind: Workflow
name: broken
steps:
  - id: a
    skil: noop
  - id: b
    skill: noop
    needs:
      - nowhere
    timeout: -3s
"""

CHECKED = """\
apiVersion: cellwright/v1
kind: Workflow
name: checked
params:
  tray: {type: string, default: outfeed_a}
steps:
  - id: move
    skill: noop
  - id: check
    operator: {prompt: "Check the kit in ${params.tray}"}
    needs: [move]
outputs:
  tray: "${params.tray}"
  moved: "${steps.move.result}"
  checked_by: "${steps.check.result.by}"
"""

RESERVING = """\
apiVersion: cellwright/v1
kind: Workflow
name: reserving
steps:
  - id: place
    skill: noop
    reserve: [outfeed_a]
"""

WELD = """\
apiVersion: cellwright/v1
kind: Workflow
name: weld
steps:
  - id: join
    skill: noop
  - id: weld_seam
    skill: weld
    needs: [join]
"""


@pytest.fixture
async def scripted_cell(orchestrator: Any) -> AsyncIterator[Make]:
    """`scripted_cell(cell_id, skills=("noop",), address=None)`: a ScriptedCell (not yet
    connected); every one is dropped after the test."""
    made: list[ScriptedCell] = []

    def make(cell_id: str = "cell-1", skills: tuple[str, ...] = ("noop",),
             address: str | None = None) -> ScriptedCell:
        cell = ScriptedCell(address or orchestrator.address, cell_id, uuid.uuid4().hex, skills)
        made.append(cell)
        return cell

    yield make
    for cell in made:
        await cell.drop()


def stubs(channel: grpc.aio.Channel) -> tuple[wf_grpc.WorkflowServiceStub, job_grpc.JobServiceStub]:
    return wf_grpc.WorkflowServiceStub(channel), job_grpc.JobServiceStub(channel)


async def put(workflows: wf_grpc.WorkflowServiceStub, source: str, origin: str = ""
              ) -> wf_pb.PutWorkflowResponse:
    response: wf_pb.PutWorkflowResponse = await workflows.PutWorkflow(
        wf_pb.PutWorkflowRequest(source=source, origin=origin), timeout=TIMEOUT_S)
    return response


async def submit(jobs: job_grpc.JobServiceStub, workflow: str, params: dict[str, Any] | None = None,
                 placement: job_pb2.Placement | None = None, priority: int = 0) -> job_pb2.Job:
    struct = struct_pb2.Struct()
    struct.update(params or {})
    response: job_svc.SubmitJobResponse = await jobs.SubmitJob(job_svc.SubmitJobRequest(
        request_id=str(uuid.uuid4()), workflow=workflow, params=struct, placement=placement,
        priority=priority), timeout=TIMEOUT_S)
    return response.job


async def get_job(jobs: job_grpc.JobServiceStub, job_id: str) -> job_pb2.Job:
    response: job_svc.GetJobResponse = await jobs.GetJob(job_svc.GetJobRequest(job_id=job_id),
                                                         timeout=TIMEOUT_S)
    return response.job


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def restart(orchestrator: Any, start_orchestrator: Any, **settings: Any) -> Any:
    """Stop the orchestrator and start it again on the same database and port."""
    await orchestrator.stop()
    return await start_orchestrator(orchestrator.db_path, address=orchestrator.address, **settings)


async def task_in_state(jobs: job_grpc.JobServiceStub, job_id: str, step_id: str, state: int
                        ) -> job_pb2.Job:
    async def seen() -> job_pb2.Job | None:
        job = await get_job(jobs, job_id)
        return job if any(t.step_id == step_id and t.state == state for t in job.tasks) else None
    return await async_wait_until(seen, TIMEOUT_S, f"step {step_id} of {job_id} is "
                                  f"{job_pb2.TaskState.Name(state)}")


# --- put, get, list, validate ------------------------------------------------------------

async def test_put_numbers_versions_and_the_same_text_again_stores_nothing(channel: grpc.aio.Channel) -> None:
    workflows, _ = stubs(channel)
    first = await put(workflows, KIT_V1, "kit.yaml")
    assert (first.created, first.workflow.name, first.workflow.version) == (True, "kit", 1)
    assert first.workflow.origin == "kit.yaml"
    assert first.workflow.digest == hashlib.sha256(KIT_V1.encode()).hexdigest()
    assert list(first.workflow.steps) == ["first"]
    assert first.workflow.create_time.seconds > 0
    again = await put(workflows, KIT_V1, "kit.yaml")
    assert (again.created, again.workflow.version) == (False, 1)
    second = await put(workflows, KIT_V2)
    assert (second.created, second.workflow.version) == (True, 2)
    assert second.workflow.origin == "PutWorkflow"
    assert list(second.workflow.steps) == ["second", "third"]


async def test_get_gives_the_newest_version_or_the_one_asked_for(channel: grpc.aio.Channel) -> None:
    workflows, _ = stubs(channel)
    await put(workflows, KIT_V1, "kit.yaml")
    await put(workflows, KIT_V2, "kit-2.yaml")
    newest = (await workflows.GetWorkflow(wf_pb.GetWorkflowRequest(name="kit"))).workflow
    assert (newest.version, newest.source, newest.description) == (2, KIT_V2, "two noop steps")
    old = (await workflows.GetWorkflow(wf_pb.GetWorkflowRequest(name="kit", version=1))).workflow
    assert (old.version, old.source, old.origin) == (1, KIT_V1, "kit.yaml")
    missing = await rpc_error(workflows.GetWorkflow(wf_pb.GetWorkflowRequest(name="kit", version=3)))
    assert missing.code() == grpc.StatusCode.NOT_FOUND and "1..2" in (missing.details() or "")
    unknown = await rpc_error(workflows.GetWorkflow(wf_pb.GetWorkflowRequest(name="nothing")))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


async def test_list_gives_the_newest_of_every_workflow_or_every_version_of_one(
        channel: grpc.aio.Channel) -> None:
    workflows, _ = stubs(channel)
    await put(workflows, KIT_V1)
    await put(workflows, KIT_V2)
    newest = (await workflows.ListWorkflows(wf_pb.ListWorkflowsRequest())).workflows
    by_name = {w.name: w.version for w in newest}
    assert by_name["kit"] == 2
    assert {"noop", "kitting", "pick-place"} <= set(by_name)  # the built-in ones
    versions = (await workflows.ListWorkflows(wf_pb.ListWorkflowsRequest(name="kit"))).workflows
    assert [(w.version, list(w.steps)) for w in versions] == [(1, ["first"]), (2, ["second", "third"])]


async def test_validate_returns_every_diagnostic_with_line_and_column_and_stores_nothing(
        channel: grpc.aio.Channel) -> None:
    workflows, _ = stubs(channel)
    response: wf_pb.ValidateWorkflowResponse = await workflows.ValidateWorkflow(
        wf_pb.ValidateWorkflowRequest(source=BROKEN, origin="broken.yaml"))
    assert not response.valid
    errors = [d for d in response.diagnostics if d.severity == wf_pb.SEVERITY_ERROR]
    assert {d.file for d in errors} == {"broken.yaml"}
    assert {d.line for d in errors} >= {6, 10, 11}, [(d.line, d.message) for d in errors]
    assert all(d.column >= 1 and d.message and d.code for d in errors)
    ok: wf_pb.ValidateWorkflowResponse = await workflows.ValidateWorkflow(
        wf_pb.ValidateWorkflowRequest(source=KIT_V1))
    assert ok.valid and not [d for d in ok.diagnostics if d.severity == wf_pb.SEVERITY_ERROR]
    listed = (await workflows.ListWorkflows(wf_pb.ListWorkflowsRequest(name="broken"))).workflows
    assert not listed


async def test_validate_checks_skills_against_the_cells_the_plant_knows(
        channel: grpc.aio.Channel, scripted_cell: Make) -> None:
    workflows, _ = stubs(channel)
    await scripted_cell("cell-1", ("noop",)).connect()
    response: wf_pb.ValidateWorkflowResponse = await workflows.ValidateWorkflow(
        wf_pb.ValidateWorkflowRequest(source=WELD, origin="weld.yaml"))
    unknown = [d for d in response.diagnostics if d.code == "unknown-skill"]
    assert [(d.line, d.severity) for d in unknown] == [(8, wf_pb.SEVERITY_WARNING)]
    assert "weld" in unknown[0].message


async def test_put_of_a_broken_workflow_is_invalid_argument_listing_every_error(
        channel: grpc.aio.Channel) -> None:
    workflows, _ = stubs(channel)
    checked: wf_pb.ValidateWorkflowResponse = await workflows.ValidateWorkflow(
        wf_pb.ValidateWorkflowRequest(source=BROKEN, origin="broken.yaml"))
    errors = [d for d in checked.diagnostics if d.severity == wf_pb.SEVERITY_ERROR]
    refused = await rpc_error(put(workflows, BROKEN, "broken.yaml"))
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = refused.details() or ""
    for error in errors:
        assert f"broken.yaml:{error.line}:{error.column}: error: {error.message}" in details
    assert not (await workflows.ListWorkflows(wf_pb.ListWorkflowsRequest(name="broken"))).workflows


async def test_put_of_a_workflow_with_many_errors_still_lists_every_error(
        channel: grpc.aio.Channel) -> None:
    workflows, _ = stubs(channel)
    steps = "".join(f"  - id: s{i}\n    skill: noop\n    needs: [nowhere{i}]\n" for i in range(25))
    source = f"apiVersion: cellwright/v1\nkind: Workflow\nname: many\nsteps:\n{steps}"
    checked: wf_pb.ValidateWorkflowResponse = await workflows.ValidateWorkflow(
        wf_pb.ValidateWorkflowRequest(source=source, origin="many.yaml"))
    errors = [d for d in checked.diagnostics if d.severity == wf_pb.SEVERITY_ERROR]
    assert len(errors) == 25
    refused = await rpc_error(put(workflows, source, "many.yaml"))
    details = refused.details() or ""
    assert all(f"many.yaml:{e.line}:{e.column}:" in details for e in errors)


# --- versions pinned by jobs, restarts -----------------------------------------------------

async def test_a_job_keeps_the_version_it_started_with_when_a_new_one_is_put(
        channel: grpc.aio.Channel, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    workflows, jobs = stubs(channel)
    await put(workflows, KIT_V1)
    job = await submit(jobs, "kit")  # no cell yet: it waits
    assert (job.workflow_version, [t.step_id for t in job.tasks]) == (1, ["first"])
    assert (await put(workflows, KIT_V2)).workflow.version == 2
    waiting = await get_job(jobs, job.id)
    assert waiting.workflow_version == 1
    assert [(t.step_id, t.params["duration_s"]) for t in waiting.tasks] == [("first", 1)]
    cell = scripted_cell("cell-1")
    await cell.connect()
    assign = (await cell.next("assign")).assign
    assert assign.task_id == f"{job.id}/first" and assign.params["duration_s"] == 1
    await cell.report(assign, job_pb2.TASK_STATE_SUCCEEDED)
    done = await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)
    assert done.workflow_version == 1 and [t.step_id for t in done.tasks] == ["first"]
    newer = await submit(jobs, "kit")
    assert newer.workflow_version == 2 and [t.step_id for t in newer.tasks] == ["second", "third"]
    pinned = await submit(jobs, "kit@1")
    assert pinned.workflow_version == 1


async def test_workflows_survive_an_orchestrator_restart(orchestrator: Any, start_orchestrator: Any) -> None:
    async with grpc.aio.insecure_channel(orchestrator.address) as channel:
        workflows, _ = stubs(channel)
        await put(workflows, KIT_V1, "kit.yaml")
        await put(workflows, KIT_V2, "kit-2.yaml")
    again = await restart(orchestrator, start_orchestrator)
    async with grpc.aio.insecure_channel(again.address) as channel:
        workflows, jobs = stubs(channel)
        versions = (await workflows.ListWorkflows(wf_pb.ListWorkflowsRequest(name="kit"))).workflows
        assert [(w.version, w.source, w.origin) for w in versions] == [
            (1, KIT_V1, "kit.yaml"), (2, KIT_V2, "kit-2.yaml")]
        unchanged = await put(workflows, KIT_V2)
        assert (unchanged.created, unchanged.workflow.version) == (False, 2)
        assert (await submit(jobs, "kit@1")).workflow_version == 1


# --- operator steps and outputs ----------------------------------------------------------

async def test_an_operator_step_waits_for_confirm_then_the_job_succeeds_with_its_outputs(
        channel: grpc.aio.Channel, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    workflows, jobs = stubs(channel)
    cell = scripted_cell("cell-1")
    await cell.connect()
    await put(workflows, CHECKED)
    job = await submit(jobs, "checked", {"tray": "outfeed_b"})
    assign = (await cell.next("assign")).assign
    result = struct_pb2.Struct()
    result.update({"part_id": "p-7"})
    await cell.send(task_update=cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                   state=job_pb2.TASK_STATE_SUCCEEDED, result=result))
    awaiting = await task_in_state(jobs, job.id, "check", job_pb2.TASK_STATE_AWAITING_OPERATOR)
    check = next(t for t in awaiting.tasks if t.step_id == "check")
    assert check.prompt == "Check the kit in outfeed_b"
    assert awaiting.state not in (job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED)
    no_reason = await rpc_error(jobs.ActOnTask(job_svc.ActOnTaskRequest(
        job_id=job.id, task_id="check", action=job_svc.TASK_ACTION_CONFIRM)))
    assert no_reason.code() == grpc.StatusCode.INVALID_ARGUMENT
    acted: job_svc.ActOnTaskResponse = await jobs.ActOnTask(job_svc.ActOnTaskRequest(
        job_id=job.id, task_id="check", action=job_svc.TASK_ACTION_CONFIRM,
        reason="kit complete, lid on", operator="ana"))
    assert next(t for t in acted.job.tasks if t.step_id == "check").state == job_pb2.TASK_STATE_SUCCEEDED
    done = await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)
    assert json_format.MessageToDict(done.outputs) == {
        "tray": "outfeed_b", "moved": {"part_id": "p-7"}, "checked_by": "ana"}
    again = await rpc_error(jobs.ActOnTask(job_svc.ActOnTaskRequest(
        job_id=job.id, task_id="check", action=job_svc.TASK_ACTION_CONFIRM, reason="twice")))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_rejecting_an_operator_step_fails_the_job(
        channel: grpc.aio.Channel, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    workflows, jobs = stubs(channel)
    cell = scripted_cell("cell-1")
    await cell.connect()
    await put(workflows, CHECKED)
    job = await submit(jobs, "checked")
    await cell.report((await cell.next("assign")).assign, job_pb2.TASK_STATE_SUCCEEDED)
    await task_in_state(jobs, job.id, "check", job_pb2.TASK_STATE_AWAITING_OPERATOR)
    await jobs.ActOnTask(job_svc.ActOnTaskRequest(
        job_id=job.id, task_id="check", action=job_svc.TASK_ACTION_REJECT, reason="a part missing",
        operator="ana"))
    failed = await job_in_state(job.id, job_pb2.JOB_STATE_FAILED)
    check = next(t for t in failed.tasks if t.step_id == "check")
    assert (check.state, check.error.reason) == (job_pb2.TASK_STATE_FAILED, "rejected_by_operator")


# --- reservations ------------------------------------------------------------------------

async def test_a_running_step_holds_its_station_until_it_ends(
        start_orchestrator: Any, scripted_cell: Make) -> None:
    info = await start_orchestrator(layout=load_layout(LAYOUT))
    async with grpc.aio.insecure_channel(info.address) as channel:
        workflows, jobs = stubs(channel)
        cell = scripted_cell("cell-1", address=info.address)
        await cell.connect()
        await put(workflows, RESERVING)
        job = await submit(jobs, "reserving")
        assign = (await cell.next("assign")).assign
        await cell.report(assign, job_pb2.TASK_STATE_RUNNING)
        held = (await jobs.ListReservations(job_svc.ListReservationsRequest())).reservations
        assert [(r.resource, r.state, r.job_id, r.task_id, r.cell_id) for r in held] == [
            ("outfeed_a", job_pb2.RESERVATION_STATE_HELD, job.id, assign.task_id, "cell-1")]
        running = await get_job(jobs, job.id)
        assert list(running.tasks[0].reservations) == ["outfeed_a"]
        no_reason = await rpc_error(jobs.ReleaseReservation(
            job_svc.ReleaseReservationRequest(resource="outfeed_a")))
        assert no_reason.code() == grpc.StatusCode.INVALID_ARGUMENT
        live = await rpc_error(jobs.ReleaseReservation(  # the cell is in the station now
            job_svc.ReleaseReservationRequest(resource="outfeed_a", reason="looks empty")))
        assert live.code() == grpc.StatusCode.FAILED_PRECONDITION
        await cell.report(assign, job_pb2.TASK_STATE_SUCCEEDED)

        async def succeeded() -> bool:
            return (await get_job(jobs, job.id)).state == job_pb2.JOB_STATE_SUCCEEDED
        await async_wait_until(succeeded, TIMEOUT_S, f"{job.id} SUCCEEDED")
        assert not (await jobs.ListReservations(job_svc.ListReservationsRequest())).reservations
        gone = await rpc_error(jobs.ReleaseReservation(
            job_svc.ReleaseReservationRequest(resource="outfeed_a", reason="again")))
        assert gone.code() == grpc.StatusCode.NOT_FOUND


async def test_a_step_waits_for_a_reserved_station_and_runs_once_its_holder_ends(
        start_orchestrator: Any, scripted_cell: Make) -> None:
    info = await start_orchestrator(layout=load_layout(LAYOUT))
    async with grpc.aio.insecure_channel(info.address) as channel:
        workflows, jobs = stubs(channel)
        await put(workflows, RESERVING)
        await put(workflows, KIT_V1)
        one = scripted_cell("cell-1", address=info.address)
        await one.connect()
        holder = await submit(jobs, "reserving")
        held = (await one.next("assign")).assign
        await one.report(held, job_pb2.TASK_STATE_RUNNING)
        two = scripted_cell("cell-2", address=info.address)
        await two.connect()
        blocked = await submit(jobs, "reserving", priority=1000)  # most urgent, but outfeed_a is held
        free = await submit(jobs, "kit")
        first = (await two.next("assign")).assign
        assert first.task_id == f"{free.id}/first", "the step reserving a held station was dispatched"
        await one.report(held, job_pb2.TASK_STATE_SUCCEEDED)  # out of the station: cell-1 is
        second = (await one.next("assign")).assign             # the idle one (cell-2 still busy)
        assert second.task_id == f"{blocked.id}/place"
        assert holder.id != blocked.id


# --- what the plant can run --------------------------------------------------------------

async def test_submit_refuses_a_job_no_known_cell_could_run_even_after_a_restart(
        orchestrator: Any, start_orchestrator: Any, scripted_cell: Make) -> None:
    async with grpc.aio.insecure_channel(orchestrator.address) as channel:
        workflows, jobs = stubs(channel)
        cell = scripted_cell("cell-1", ("noop",))
        await cell.connect()
        stored = await put(workflows, WELD, "weld.yaml")
        assert [d.code for d in stored.warnings] == ["unknown-skill"]
        await put(workflows, KIT_V1)
        refused = await rpc_error(submit(jobs, "weld"))
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "step weld_seam" in (refused.details() or "")
        await cell.drop()
    again = await restart(orchestrator, start_orchestrator)
    async with grpc.aio.insecure_channel(again.address) as channel:
        workflows, jobs = stubs(channel)
        still = await rpc_error(submit(jobs, "weld"))
        assert still.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "step weld_seam" in (still.details() or "")
        job = await submit(jobs, "kit")  # cell-1 runs noop: known, though not connected
        waiting = await get_job(jobs, job.id)
        assert waiting.state == job_pb2.JOB_STATE_QUEUED
        assert "wait" in waiting.waiting_reason and "first" in waiting.waiting_reason
        assert "wait" in waiting.tasks[0].waiting_reason


async def test_a_job_pinned_to_cells_or_tags_no_known_cell_has_is_refused(
        channel: grpc.aio.Channel, scripted_cell: Make, job_in_state: JobWaiter) -> None:
    workflows, jobs = stubs(channel)
    await scripted_cell("cell-1").connect()
    await scripted_cell("cell-2").connect()
    await put(workflows, KIT_V1)
    for pin in (job_pb2.Placement(cells=["cell-9"]), job_pb2.Placement(tags=["gripper-2f"])):
        refused = await rpc_error(submit(jobs, "kit", placement=pin))
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "step first" in (refused.details() or "")
    per_step = await rpc_error(submit(jobs, "kit", placement=job_pb2.Placement(kind="arm")))
    assert per_step.code() == grpc.StatusCode.INVALID_ARGUMENT
    job = await submit(jobs, "kit", placement=job_pb2.Placement(cells=["cell-2"]))
    done = await job_in_state(job.id, job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_SUCCEEDED)
    assert done.tasks[0].cell_id == "cell-2"


async def test_a_workflow_reserving_stations_survives_a_restart_on_the_same_layout(
        start_orchestrator: Any) -> None:
    layout = load_layout(LAYOUT)
    info = await start_orchestrator(layout=layout)
    async with grpc.aio.insecure_channel(info.address) as channel:
        await put(stubs(channel)[0], RESERVING)
    again = await restart(info, start_orchestrator, layout=layout)
    async with grpc.aio.insecure_channel(again.address) as channel:
        workflows, _ = stubs(channel)
        stored = (await workflows.GetWorkflow(wf_pb.GetWorkflowRequest(name="reserving"))).workflow
        assert (stored.version, stored.source) == (1, RESERVING)


async def test_stored_workflows_stay_readable_after_a_restart_with_another_layout(
        start_orchestrator: Any) -> None:
    info = await start_orchestrator(layout=load_layout(LAYOUT))
    async with grpc.aio.insecure_channel(info.address) as channel:
        await put(stubs(channel)[0], RESERVING)
    again = await restart(info, start_orchestrator)  # no layout now
    async with grpc.aio.insecure_channel(again.address) as channel:
        workflows, _ = stubs(channel)
        listed = (await workflows.ListWorkflows(wf_pb.ListWorkflowsRequest())).workflows
        assert "reserving" in {w.name for w in listed}
        stored = (await workflows.GetWorkflow(wf_pb.GetWorkflowRequest(name="reserving"))).workflow
        assert stored.source == RESERVING
