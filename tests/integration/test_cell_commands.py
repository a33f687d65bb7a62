"""CellService over real gRPC: a real orchestrator and real noop cell controllers.

Where a cell must hold a task in flight (noop without a world finishes at once), the
cell's side of the Connect stream is scripted with `cellwright.testing.ScriptedCell`, which
speaks the same protocol as `cells.controller.CellController`.
"""

from __future__ import annotations

import asyncio
import uuid
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


@pytest.fixture
def cells(channel: grpc.aio.Channel) -> cell_grpc.CellServiceStub:
    return cell_grpc.CellServiceStub(channel)


@pytest.fixture
def jobs(channel: grpc.aio.Channel) -> job_grpc.JobServiceStub:
    return job_grpc.JobServiceStub(channel)


async def submit(jobs: job_grpc.JobServiceStub, workflow: str = "noop", *, priority: int = 0
                 ) -> job_pb2.Job:
    response = await jobs.SubmitJob(job_svc.SubmitJobRequest(
        request_id=str(uuid.uuid4()), workflow=workflow, params=struct_pb2.Struct(),
        priority=priority), timeout=TIMEOUT_S)
    return response.job


async def command(cells: cell_grpc.CellServiceStub, cell_id: str, cmd: int, *,
                  all_cells: bool = False) -> cell_pb.CommandCellResponse:
    return await cells.CommandCell(cell_pb.CommandCellRequest(
        cell_id=cell_id, command=cmd, all_cells=all_cells), timeout=TIMEOUT_S)  # type: ignore[arg-type]


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


@pytest.fixture
async def scripted_cell(orchestrator: Any) -> Any:
    """Factory of ScriptedCells against `orchestrator`; all are dropped after the test."""
    made: list[ScriptedCell] = []

    def make(cell_id: str, boot_id: str = "", address: str = "") -> ScriptedCell:
        cell = ScriptedCell(address or orchestrator.address, cell_id, boot_id or uuid.uuid4().hex)
        made.append(cell)
        return cell

    yield make
    for cell in made:
        await cell.drop()


# --- listing ---------------------------------------------------------------------------

async def running_job(cell: Any, jobs: job_grpc.JobServiceStub) -> tuple[job_pb2.Job, cell_pb.Assign]:
    """Connect the scripted cell, submit a noop job, take its assignment and report RUNNING."""
    await cell.connect()
    job = await submit(jobs)
    assign = (await cell.next("assign")).assign
    await cell.send(task_update=cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                   state=job_pb2.TASK_STATE_RUNNING))
    return job, assign


async def test_list_cells_shows_a_connected_cell_with_skills_endpoint_and_execute(cells, start_cell):
    await start_cell("noop-1")
    listed = (await cells.ListCells(cell_pb.ListCellsRequest(), timeout=TIMEOUT_S)).cells
    assert [c.id for c in listed] == ["noop-1"]
    cell = listed[0]
    assert cell.connected
    assert [s.name for s in cell.skills] == ["noop"]
    assert cell.state_endpoint.startswith("tcp://127.0.0.1:")
    assert cell.packml_state == EXECUTE


async def test_list_cells_pages_in_cell_id_order(cells, scripted_cell):
    for cell_id in ("c-3", "c-1", "c-5", "c-2", "c-4"):
        await scripted_cell(cell_id).connect()
    pages, token = [], ""
    while True:
        page = await cells.ListCells(cell_pb.ListCellsRequest(page_size=2, page_token=token),
                                     timeout=TIMEOUT_S)
        pages.append([c.id for c in page.cells])
        token = page.next_page_token
        if not token:
            break
    assert pages == [["c-1", "c-2"], ["c-3", "c-4"], ["c-5"]]
    everything = await cells.ListCells(cell_pb.ListCellsRequest(), timeout=TIMEOUT_S)
    assert len(everything.cells) == 5 and not everything.next_page_token


async def test_a_list_cells_page_ends_once_it_passes_its_byte_bound(cells, scripted_cell, monkeypatch):
    from cellwright.orchestrator import server
    for cell_id in ("c-1", "c-2", "c-3"):
        await scripted_cell(cell_id).connect()
    monkeypatch.setattr(server, "MAX_PAGE_BYTES", 1)  # every cell passes it: one per page
    first = await cells.ListCells(cell_pb.ListCellsRequest(page_size=3), timeout=TIMEOUT_S)
    assert [c.id for c in first.cells] == ["c-1"] and first.next_page_token
    rest = await cells.ListCells(cell_pb.ListCellsRequest(page_size=3, page_token=first.next_page_token),
                                 timeout=TIMEOUT_S)
    assert [c.id for c in rest.cells] == ["c-2"]


@pytest.mark.parametrize(("size", "token", "problem"), [
    (-1, "", "page_size: -1 is outside 1..1000 (0: 500)"),
    (1001, "", "page_size: 1001 is outside 1..1000 (0: 500)"),
    (0, "djE6Mw==", "page_token: not a token from a previous ListCells answer"),  # a ListJobs token
    (0, "%%%", "page_token: not a token from a previous ListCells answer"),
])
async def test_list_cells_refuses_a_bad_page_size_or_token(cells, size, token, problem):
    error = await rpc_error(cells.ListCells(cell_pb.ListCellsRequest(page_size=size, page_token=token),
                                            timeout=TIMEOUT_S))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert problem in error.details()


async def test_a_cell_holding_a_task_is_out_of_the_idle_index_so_the_next_job_goes_elsewhere(
        jobs, scripted_cell):
    first, second = scripted_cell("c-1"), scripted_cell("c-2")
    await first.connect()
    await submit(jobs)
    held = (await first.next("assign")).assign
    await second.connect()  # idle after c-1, which would come first if still indexed idle
    await submit(jobs)
    assert (await second.next("assign")).assign.task_id != held.task_id


async def test_get_cell_shows_the_cell(cells, start_cell):
    running = await start_cell("noop-1")
    cell = (await cells.GetCell(cell_pb.GetCellRequest(cell_id="noop-1"), timeout=TIMEOUT_S)).cell
    assert cell.id == "noop-1"
    assert [s.name for s in cell.skills] == ["noop"]
    assert cell.state_endpoint == running.controller.state_endpoint
    assert cell.packml_state == EXECUTE


async def test_get_cell_of_unknown_cell_is_not_found(cells):
    error = await rpc_error(cells.GetCell(cell_pb.GetCellRequest(cell_id="ghost"), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.NOT_FOUND


# --- commands --------------------------------------------------------------------------

async def test_command_to_unknown_cell_is_not_found(cells):
    error = await rpc_error(command(cells, "ghost", packml_pb2.PACKML_COMMAND_HOLD))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "ghost" in error.details()


async def test_command_unspecified_is_invalid_argument(cells, start_cell):
    await start_cell("noop-1")
    error = await rpc_error(command(cells, "noop-1", packml_pb2.PACKML_COMMAND_UNSPECIFIED))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("command:")


async def test_invalid_transition_is_failed_precondition_naming_state_and_allowed_commands(
        cells, start_cell):
    await start_cell("noop-1")
    error = await rpc_error(command(cells, "noop-1", packml_pb2.PACKML_COMMAND_UNHOLD))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Unhold" in error.details()
    assert "Execute" in error.details()
    for allowed in ("Stop", "Hold", "Suspend", "Abort"):
        assert allowed in error.details()


async def test_command_to_a_disconnected_cell_is_unavailable(cells, start_cell):
    cell = await start_cell("noop-1")
    await cell.stop()

    async def disconnected() -> None:
        while (await cells.GetCell(cell_pb.GetCellRequest(cell_id="noop-1"))).cell.connected:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(disconnected(), TIMEOUT_S)
    error = await rpc_error(command(cells, "noop-1", packml_pb2.PACKML_COMMAND_HOLD))
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_held_cell_gets_no_task_until_unhold(cells, jobs, start_cell, scripted_cell,
                                                   cell_in_state, job_in_state):
    await start_cell("noop-1")
    await command(cells, "noop-1", packml_pb2.PACKML_COMMAND_HOLD)
    await cell_in_state("noop-1", packml_pb2.PACKML_STATE_HELD)
    job = await submit(jobs)
    marker = await submit(jobs, priority=1000)
    other = scripted_cell("cell-2")
    await other.connect()  # a dispatch round with both jobs READY and two cells connected
    assign = (await other.next("assign")).assign
    assert assign.task_id == marker.tasks[0].id  # the more urgent job; the held cell took none
    waiting = (await jobs.GetJob(job_svc.GetJobRequest(job_id=job.id), timeout=TIMEOUT_S)).job
    assert (waiting.state, waiting.tasks[0].epoch) == (job_pb2.JOB_STATE_QUEUED, 0)
    await command(cells, "noop-1", packml_pb2.PACKML_COMMAND_UNHOLD)
    done = await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)
    assert (done.tasks[0].cell_id, done.tasks[0].epoch) == ("noop-1", 1)


async def test_estop_all_cells_aborts_them_and_clear_reset_start_brings_work_back(
        cells, jobs, start_cell, cell_in_state, job_in_state):
    await start_cell("noop-1")
    await start_cell("noop-2")
    answer = await command(cells, "", packml_pb2.PACKML_COMMAND_ESTOP, all_cells=True)
    assert len(answer.results) == 2 and all(r.ok for r in answer.results)
    for cell_id in ("noop-1", "noop-2"):
        await cell_in_state(cell_id, packml_pb2.PACKML_STATE_ABORTED)
    for cmd, state in ((packml_pb2.PACKML_COMMAND_CLEAR, packml_pb2.PACKML_STATE_STOPPED),
                       (packml_pb2.PACKML_COMMAND_RESET, packml_pb2.PACKML_STATE_IDLE),
                       (packml_pb2.PACKML_COMMAND_START, EXECUTE)):
        assert (await command(cells, "noop-1", cmd)).results[0].ok
        await cell_in_state("noop-1", state)
    job = await submit(jobs)
    done = await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)
    assert done.tasks[0].cell_id == "noop-1"


async def test_all_cells_with_a_cell_id_is_invalid_argument(cells, start_cell):
    await start_cell("noop-1")
    error = await rpc_error(command(cells, "noop-1", packml_pb2.PACKML_COMMAND_ESTOP, all_cells=True))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("cell_id:")


# --- sessions that drop ----------------------------------------------------------------

async def test_a_restarted_cell_controller_reconnects_and_takes_work(cells, jobs, start_cell,
                                                                    job_in_state):
    first = await start_cell("noop-1")
    await first.stop()
    second = await start_cell("noop-1")
    assert second.controller.boot_id != first.controller.boot_id
    listed = (await cells.ListCells(cell_pb.ListCellsRequest(), timeout=TIMEOUT_S)).cells
    assert [(c.id, c.connected) for c in listed] == [("noop-1", True)]
    job = await submit(jobs)
    await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)


async def test_task_in_flight_on_a_cell_that_restarts_becomes_unknown_and_holds_the_job(
        jobs, scripted_cell, start_cell, job_in_state):
    old = scripted_cell("cell-1")
    await old.connect()
    job = await submit(jobs)
    assign = (await old.next("assign")).assign
    await old.send(task_update=cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                  state=job_pb2.TASK_STATE_RUNNING))
    await job_in_state(job.id, job_pb2.JOB_STATE_RUNNING)
    await old.drop()
    await start_cell("cell-1")  # a real controller, new boot id, holding nothing
    held = await job_in_state(job.id, job_pb2.JOB_STATE_HELD)
    assert held.tasks[0].state == job_pb2.TASK_STATE_UNKNOWN
    assert held.tasks[0].error.reason == "cell_lost"


async def test_task_unacknowledged_by_a_cell_that_reconnects_with_same_boot_goes_back_to_ready(
        jobs, scripted_cell, job_in_state):
    first = scripted_cell("cell-1", boot_id="boot-a")
    await first.connect()
    job = await submit(jobs)
    assign = (await first.next("assign")).assign
    await first.drop()  # the assignment never reached the cell's executor
    again = scripted_cell("cell-1", boot_id="boot-a")
    await again.connect()
    reassign = (await again.next("assign")).assign
    assert reassign.task_id == assign.task_id
    assert reassign.epoch > assign.epoch
    await again.send(task_update=cell_pb.TaskUpdate(task_id=reassign.task_id, epoch=reassign.epoch,
                                                    state=job_pb2.TASK_STATE_SUCCEEDED))
    await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)


async def test_cell_whose_lease_expires_mid_task_leaves_the_task_unknown_and_the_job_held(
        jobs, scripted_cell, job_in_state):
    cell = scripted_cell("cell-1")
    job, _ = await running_job(cell, jobs)
    await cell.drop()
    held = await job_in_state(job.id, job_pb2.JOB_STATE_HELD)
    assert held.tasks[0].state == job_pb2.TASK_STATE_UNKNOWN


async def test_unknown_task_resolves_when_the_cell_comes_back_with_its_result(
        jobs, scripted_cell, job_in_state):
    cell = scripted_cell("cell-1", boot_id="boot-a")
    job, assign = await running_job(cell, jobs)
    await cell.drop()
    await job_in_state(job.id, job_pb2.JOB_STATE_HELD)  # lease expired
    back = scripted_cell("cell-1", boot_id="boot-a")
    await back.connect(tasks=(cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                 state=job_pb2.TASK_STATE_SUCCEEDED),))
    ack = (await back.next("ack")).ack
    assert (ack.task_id, ack.epoch) == (assign.task_id, assign.epoch)
    await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)


async def test_unknown_task_the_cell_never_got_is_retried_when_it_returns_with_the_same_boot(
        jobs, scripted_cell, job_in_state):
    cell = scripted_cell("cell-1", boot_id="boot-a")
    await cell.connect()
    job = await submit(jobs)
    assign = (await cell.next("assign")).assign
    await cell.drop()  # lost before the cell confirmed it: the cell never ran it
    await job_in_state(job.id, job_pb2.JOB_STATE_HELD)  # lease expired
    back = scripted_cell("cell-1", boot_id="boot-a")
    await back.connect()  # same process, holding nothing: the task never reached it
    reassign = (await back.next("assign")).assign
    assert (reassign.task_id, reassign.epoch) == (assign.task_id, assign.epoch + 1)
    await back.send(task_update=cell_pb.TaskUpdate(task_id=reassign.task_id, epoch=reassign.epoch,
                                                   state=job_pb2.TASK_STATE_SUCCEEDED))
    await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)


async def test_command_to_a_cell_that_disconnects_before_answering_is_unavailable(
        cells, scripted_cell):
    cell = scripted_cell("cell-1")
    await cell.connect()
    answer = asyncio.create_task(command(cells, "cell-1", packml_pb2.PACKML_COMMAND_HOLD))
    await cell.next("command")
    await cell.drop()
    error = await rpc_error(answer)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "disconnected" in error.details()


async def test_command_to_a_cell_that_never_answers_is_unavailable(cells, scripted_cell,
                                                                    monkeypatch):
    monkeypatch.setattr("cellwright.orchestrator.live.COMMAND_TIMEOUT_S", 0.2)
    cell = scripted_cell("cell-1")
    await cell.connect()
    error = await rpc_error(command(cells, "cell-1", packml_pb2.PACKML_COMMAND_HOLD))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "did not answer within 0.2 s" in error.details()


# --- orchestrator restarts -------------------------------------------------------------

async def job_state_at(address: str, job_id: str, state: int) -> job_pb2.Job:
    """Poll GetJob on the orchestrator at `address` until the job is in `state`."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = job_grpc.JobServiceStub(channel)

        async def poll() -> job_pb2.Job:
            while (job := (await stub.GetJob(job_svc.GetJobRequest(job_id=job_id))).job
                   ).state != state:
                await asyncio.sleep(0.02)
            return job

        return await asyncio.wait_for(poll(), TIMEOUT_S)


async def test_a_task_running_across_an_orchestrator_restart_finishes_when_its_cell_reports(
        orchestrator, start_orchestrator, jobs, scripted_cell):
    cell = scripted_cell("cell-1", boot_id="boot-a")
    await cell.connect()
    job = await submit(jobs)
    assign = (await cell.next("assign")).assign
    running = cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                 state=job_pb2.TASK_STATE_RUNNING)
    await cell.send(task_update=running)
    await job_state_at(orchestrator.address, job.id, job_pb2.JOB_STATE_RUNNING)
    await orchestrator.stop()
    await cell.drop()
    restarted = await start_orchestrator(orchestrator.db_path)
    back = scripted_cell("cell-1", boot_id="boot-a", address=restarted.address)
    await back.connect(tasks=(running,))
    await back.send(task_update=cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                   state=job_pb2.TASK_STATE_SUCCEEDED))
    await job_state_at(restarted.address, job.id, job_pb2.JOB_STATE_SUCCEEDED)


async def test_after_an_orchestrator_restart_a_task_whose_cell_never_returns_becomes_unknown(
        orchestrator, start_orchestrator, jobs, scripted_cell):
    cell = scripted_cell("cell-1")
    await cell.connect()
    job = await submit(jobs)
    await cell.next("assign")
    await orchestrator.stop()
    await cell.drop()
    restarted = await start_orchestrator(orchestrator.db_path)
    held = await job_state_at(restarted.address, job.id, job_pb2.JOB_STATE_HELD)
    assert held.tasks[0].state == job_pb2.TASK_STATE_UNKNOWN


async def test_cancel_of_a_running_job_reaches_its_cell_and_ends_when_the_cell_reports(
        jobs, scripted_cell, job_in_state):
    cell = scripted_cell("cell-1")
    job, assign = await running_job(cell, jobs)
    await job_in_state(job.id, job_pb2.JOB_STATE_RUNNING)
    answer = await jobs.CancelJob(job_svc.CancelJobRequest(job_id=job.id, reason="wrong part"),
                                  timeout=TIMEOUT_S)
    assert answer.job.state == job_pb2.JOB_STATE_RUNNING and answer.job.cancel_requested
    cancel = (await cell.next("cancel")).cancel
    assert (cancel.task_id, cancel.epoch, cancel.reason) == (assign.task_id, assign.epoch, "wrong part")
    await cell.send(task_update=cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                   state=job_pb2.TASK_STATE_CANCELLED))
    ack = (await cell.next("ack")).ack
    assert (ack.task_id, ack.epoch) == (assign.task_id, assign.epoch)
    await job_in_state(job.id, job_pb2.JOB_STATE_CANCELLED)


async def test_a_cell_that_says_it_is_busy_gets_no_task_until_it_says_it_is_free(
        jobs, scripted_cell, job_in_state):
    cell = scripted_cell("cell-1")
    cell.busy = True  # e.g. still stopping a task the orchestrator cancelled
    await cell.connect()
    job = await submit(jobs)
    marker = await submit(jobs, priority=1000)
    other = scripted_cell("cell-2")
    await other.connect()  # a dispatch round with both jobs READY and two cells connected
    assign = (await other.next("assign")).assign
    assert assign.task_id == marker.tasks[0].id  # the more urgent job; the busy cell took none
    waiting = (await jobs.GetJob(job_svc.GetJobRequest(job_id=job.id), timeout=TIMEOUT_S)).job
    assert (waiting.state, waiting.tasks[0].epoch) == (job_pb2.JOB_STATE_QUEUED, 0)
    cell.busy = False
    assign = (await cell.next("assign")).assign
    assert (assign.task_id, assign.epoch) == (job.tasks[0].id, 1)


# --- found in review -------------------------------------------------------------------

async def test_estop_all_cells_names_each_cell_and_reports_the_ones_it_could_not_reach(
        cells, start_cell, scripted_cell):
    await start_cell("noop-1")
    gone = scripted_cell("gone-1")
    await gone.connect()
    await gone.drop()
    answer = await command(cells, "", packml_pb2.PACKML_COMMAND_ESTOP, all_cells=True)
    by_cell = {r.cell_id: r for r in answer.results}
    assert by_cell["noop-1"].ok
    assert not by_cell["gone-1"].ok and "not connected" in by_cell["gone-1"].error


async def test_stop_interrupts_a_task_that_moves_no_robot_and_fails_it_as_stopped(
        cells, jobs, start_cell, cell_in_state, job_in_state):
    await start_cell("noop-1")
    response = await jobs.SubmitJob(job_svc.SubmitJobRequest(
        request_id=str(uuid.uuid4()), workflow="noop", params=struct_pb2.Struct(
            fields={"duration_s": struct_pb2.Value(number_value=60)})), timeout=TIMEOUT_S)
    await job_in_state(response.job.id, job_pb2.JOB_STATE_RUNNING)
    await command(cells, "noop-1", packml_pb2.PACKML_COMMAND_STOP)
    failed = await job_in_state(response.job.id, job_pb2.JOB_STATE_FAILED)  # not 60 s later
    assert failed.tasks[0].error.reason == "stopped"
    await cell_in_state("noop-1", packml_pb2.PACKML_STATE_STOPPED)


async def test_a_second_process_under_a_live_cell_id_is_refused(scripted_cell):
    first = scripted_cell("cell-1", boot_id="boot-a")
    await first.connect()
    impostor = scripted_cell("cell-1", boot_id="boot-b")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await impostor.connect()
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "in use by another live process" in info.value.details()


async def test_a_cancel_sent_while_the_cell_was_away_is_sent_again_when_it_returns(
        jobs, scripted_cell):
    cell = scripted_cell("cell-1", boot_id="boot-a")
    job, assign = await running_job(cell, jobs)
    await cell.drop()
    await jobs.CancelJob(job_svc.CancelJobRequest(job_id=job.id), timeout=TIMEOUT_S)
    back = scripted_cell("cell-1", boot_id="boot-a")
    await back.connect(tasks=(cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                 state=job_pb2.TASK_STATE_RUNNING),))
    cancel = (await back.next("cancel")).cancel
    assert (cancel.task_id, cancel.epoch) == (assign.task_id, assign.epoch)


async def test_a_result_with_nan_fails_the_task_but_is_acknowledged(jobs, scripted_cell, job_in_state):
    cell = scripted_cell("cell-1")
    job, assign = await running_job(cell, jobs)
    result = struct_pb2.Struct(fields={"x": struct_pb2.Value(number_value=float("nan"))})
    await cell.send(task_update=cell_pb.TaskUpdate(task_id=assign.task_id, epoch=assign.epoch,
                                                   state=job_pb2.TASK_STATE_SUCCEEDED, result=result))
    ack = (await cell.next("ack")).ack
    assert (ack.task_id, ack.epoch) == (assign.task_id, assign.epoch)
    failed = await job_in_state(job.id, job_pb2.JOB_STATE_FAILED)
    assert failed.tasks[0].error.reason == "invalid_result"


# --- what a cell says is checked --------------------------------------------------------

def _hello(**fields: Any) -> cell_pb.ConnectRequest:
    base: dict[str, Any] = {"cell_id": "cell-1", "boot_id": "boot-a", "packml_state": EXECUTE,
                            "skills": [cell_pb.Skill(name="noop")]}
    return cell_pb.ConnectRequest(hello=cell_pb.Hello(**{**base, **fields}))


async def _stream_error(channel: grpc.aio.Channel, *messages: cell_pb.ConnectRequest
                        ) -> grpc.aio.AioRpcError:
    """Send `messages` on a Connect stream and return the error that ends it."""
    call = cell_grpc.CellServiceStub(channel).Connect()
    for message in messages:
        await call.write(message)

    async def read_to_end() -> None:
        while await call.read() is not grpc.aio.EOF:
            pass
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await asyncio.wait_for(read_to_end(), TIMEOUT_S)
    return info.value


@pytest.mark.parametrize("fields, field", [
    ({"boot_id": ""}, "hello.boot_id"),
    ({"packml_state": 999}, "hello.packml_state"),
    ({"skills": [cell_pb.Skill(name="noop"), cell_pb.Skill(name="noop")]}, "hello.skills[1].name"),
    ({"robots": [cell_pb.Robot(name="r", joints=[cell_pb.Joint(name="j", lower_rad=float("nan"))])]},
     "hello.robots[0].joints[0]"),
])
async def test_a_hello_with_bad_facts_is_invalid_argument_naming_the_field(channel, fields, field):
    error = await _stream_error(channel, _hello(**fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}:")


async def test_a_heartbeat_with_nan_stats_ends_the_stream_naming_the_field(channel):
    beat = cell_pb.Heartbeat(packml_state=EXECUTE, stats=cell_pb.CellStats(clock_s=float("nan")))
    error = await _stream_error(channel, _hello(), cell_pb.ConnectRequest(heartbeat=beat))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("heartbeat.stats.clock_s:")


async def test_a_command_result_nobody_asked_for_changes_nothing(cells, scripted_cell):
    cell = scripted_cell("cell-1")
    await cell.connect()
    await cell.stop_beating()  # a heartbeat would restate Execute and hide a change
    await cell.send(command_result=cell_pb.CommandResult(command_id="made-up", ok=True,
                                                         packml_state=packml_pb2.PACKML_STATE_ABORTED))
    # The orchestrator handles a stream's messages in order: the ack of this (stale) update
    # comes after the command result was dealt with, and proves the stream is still open.
    await cell.send(task_update=cell_pb.TaskUpdate(task_id="job-none/none", epoch=1,
                                                   state=job_pb2.TASK_STATE_SUCCEEDED))
    ack = (await cell.next("ack")).ack
    assert ack.task_id == "job-none/none"
    seen = (await cells.GetCell(cell_pb.GetCellRequest(cell_id="cell-1"), timeout=TIMEOUT_S)).cell
    assert seen.connected and seen.packml_state == EXECUTE
