"""JobService over real gRPC: a real orchestrator on loopback, real SQLite, real noop cells."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

TIMEOUT_S = 30.0
JobWaiter = Callable[..., Awaitable[job_pb2.Job]]


def request(workflow: str = "noop", params: dict[str, Any] | None = None, *,
            request_id: str | None = None, **fields: Any) -> job_svc.SubmitJobRequest:
    struct = struct_pb2.Struct()
    struct.update(params or {})
    return job_svc.SubmitJobRequest(request_id=request_id or str(uuid.uuid4()), workflow=workflow,
                                    params=struct, **fields)


@pytest.fixture
def jobs(channel: grpc.aio.Channel) -> job_grpc.JobServiceStub:
    return job_grpc.JobServiceStub(channel)


async def submit(jobs: job_grpc.JobServiceStub, *args: Any, **kwargs: Any) -> job_pb2.Job:
    return (await jobs.SubmitJob(request(*args, **kwargs), timeout=TIMEOUT_S)).job


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def collect_events(jobs: job_grpc.JobServiceStub, *, job_id: str = "", after_seq: int = 0,
                         until: Callable[[job_pb2.JobEvent], bool]) -> list[job_pb2.JobEvent]:
    """WatchJobs events until `until(event)` holds for one (included), with a timeout."""
    call = jobs.WatchJobs(job_svc.WatchJobsRequest(after_seq=after_seq, job_id=job_id))
    events: list[job_pb2.JobEvent] = []

    async def read() -> None:
        async for response in call:
            events.append(response.event)
            if until(response.event):
                return

    try:
        await asyncio.wait_for(read(), TIMEOUT_S)
    finally:
        call.cancel()
    return events


def finished(event: job_pb2.JobEvent) -> bool:
    return event.job.state == job_pb2.JOB_STATE_SUCCEEDED


# --- running jobs ----------------------------------------------------------------------

async def test_noop_job_runs_to_succeeded_on_a_noop_cell(jobs, start_cell, job_in_state):
    await start_cell("noop-1")
    job = await submit(jobs, "noop", {"duration_s": 0})
    assert job.state == job_pb2.JOB_STATE_QUEUED
    done = await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)
    assert [t.state for t in done.tasks] == [job_pb2.TASK_STATE_SUCCEEDED]
    assert done.tasks[0].cell_id == "noop-1"
    assert done.tasks[0].epoch == 1


async def test_watch_jobs_streams_a_jobs_events_in_seq_order_until_it_succeeds(jobs, start_cell):
    await start_cell("noop-1")
    job = await submit(jobs)
    events = await collect_events(jobs, job_id=job.id, until=finished)
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e.job.id == job.id for e in events)
    states = [e.job.state for e in events]
    assert states[0] == job_pb2.JOB_STATE_QUEUED
    assert job_pb2.JOB_STATE_RUNNING in states
    assert states[-1] == job_pb2.JOB_STATE_SUCCEEDED


async def test_watch_jobs_resumes_after_a_seq_without_repeating_or_losing_events(jobs, start_cell):
    await start_cell("noop-1")
    job = await submit(jobs)
    everything = await collect_events(jobs, until=finished)
    first = everything[0].seq
    resumed = await collect_events(jobs, after_seq=first, until=finished)
    assert [e.seq for e in resumed] == [e.seq for e in everything[1:]]
    assert resumed[-1].job.id == job.id


async def test_watch_jobs_after_a_seq_beyond_the_newest_event_is_out_of_range(jobs):
    job = await submit(jobs)  # no cell: its submission is the newest event
    [submitted] = await collect_events(jobs, until=lambda e: e.job.id == job.id)
    call = jobs.WatchJobs(job_svc.WatchJobsRequest(after_seq=submitted.seq + 1), timeout=TIMEOUT_S)
    error = await rpc_error(call.read())
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    assert f"after_seq {submitted.seq + 1}" in error.details()


async def test_watch_jobs_on_a_store_without_events_after_seq_1_is_out_of_range(jobs):
    call = jobs.WatchJobs(job_svc.WatchJobsRequest(after_seq=1), timeout=TIMEOUT_S)
    error = await rpc_error(call.read())
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE


async def test_watch_jobs_after_the_newest_seq_waits_for_the_next_event(jobs):
    first = await submit(jobs)  # no cell: its submission is the newest event
    [newest] = await collect_events(jobs, until=lambda e: e.job.id == first.id)
    call = jobs.WatchJobs(job_svc.WatchJobsRequest(after_seq=newest.seq), timeout=TIMEOUT_S)
    try:
        second = await submit(jobs)
        response = await call.read()
        assert (response.event.seq, response.event.job.id) == (newest.seq + 1, second.id)
    finally:
        call.cancel()


async def test_watch_jobs_of_unknown_job_is_not_found(jobs):
    call = jobs.WatchJobs(job_svc.WatchJobsRequest(job_id="job-nope"))
    error = await rpc_error(call.read())
    assert error.code() == grpc.StatusCode.NOT_FOUND


# --- submission errors -----------------------------------------------------------------

async def test_unknown_workflow_is_not_found_and_lists_known_workflows(jobs):
    error = await rpc_error(jobs.SubmitJob(request("no-such-flow"), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-flow" in error.details()
    for name in ("kitting", "noop", "pick-place"):
        assert name in error.details()


@pytest.mark.parametrize(("params", "problem"), [
    ({"part": "purple_cube"}, "not one of"),
    ({"part": 3}, "expected string"),
    ({"part": "red_cube", "colour": "red"}, "unknown parameter"),
    ({}, "required"),
], ids=["wrong-enum", "wrong-type", "unknown-param", "missing-required"])
async def test_bad_params_are_invalid_argument_naming_the_field(jobs, params, problem):
    field = "params.colour" if "colour" in params else "params.part"
    error = await rpc_error(jobs.SubmitJob(request("pick-place", params), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}:")
    assert problem in error.details()


async def test_empty_request_id_is_invalid_argument_naming_request_id(jobs):
    message = job_svc.SubmitJobRequest(request_id="", workflow="noop")
    error = await rpc_error(jobs.SubmitJob(message, timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("request_id:")


@pytest.mark.parametrize("priority", [-1, 1001])
async def test_priority_outside_0_to_1000_is_invalid_argument(jobs, priority):
    error = await rpc_error(jobs.SubmitJob(request(priority=priority), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("priority:")


async def test_bad_label_key_is_invalid_argument_naming_the_label(jobs):
    error = await rpc_error(jobs.SubmitJob(request(labels={"bad key!": "x"}), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("labels['bad key!']:")


async def test_oversized_request_is_resource_exhausted(jobs):
    big = request(labels={"blob": "x" * (4 * 1024 * 1024 + 1)})
    error = await rpc_error(jobs.SubmitJob(big, timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


# --- idempotency -----------------------------------------------------------------------

async def test_same_request_id_and_body_returns_the_same_job_not_created(jobs):
    first = await jobs.SubmitJob(request(request_id="order-1", labels={"line": "a"}),
                                 timeout=TIMEOUT_S)
    again = await jobs.SubmitJob(request(request_id="order-1", labels={"line": "a"}),
                                 timeout=TIMEOUT_S)
    assert first.created is True
    assert again.created is False
    assert again.job.id == first.job.id


async def test_same_request_id_with_another_body_is_already_exists(jobs):
    await jobs.SubmitJob(request(request_id="order-1"), timeout=TIMEOUT_S)
    error = await rpc_error(jobs.SubmitJob(request(request_id="order-1", priority=5),
                                           timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "order-1" in error.details()


# --- get and cancel --------------------------------------------------------------------

async def test_get_job_of_unknown_id_is_not_found(jobs):
    error = await rpc_error(jobs.GetJob(job_svc.GetJobRequest(job_id="job-nope"), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_cancel_job_of_unknown_id_is_not_found(jobs):
    error = await rpc_error(jobs.CancelJob(job_svc.CancelJobRequest(job_id="job-nope"),
                                           timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_cancel_of_a_queued_job_cancels_it_at_once(jobs):
    job = await submit(jobs)  # no cell: stays queued
    cancelled = (await jobs.CancelJob(job_svc.CancelJobRequest(job_id=job.id, reason="test"),
                                      timeout=TIMEOUT_S)).job
    assert cancelled.state == job_pb2.JOB_STATE_CANCELLED
    assert [t.state for t in cancelled.tasks] == [job_pb2.TASK_STATE_CANCELLED]


async def test_cancel_of_a_finished_job_is_failed_precondition(jobs, start_cell, job_in_state):
    await start_cell("noop-1")
    job = await submit(jobs)
    await job_in_state(job.id, job_pb2.JOB_STATE_SUCCEEDED)
    error = await rpc_error(jobs.CancelJob(job_svc.CancelJobRequest(job_id=job.id),
                                           timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "SUCCEEDED" in error.details()


# --- listing ---------------------------------------------------------------------------

async def test_list_jobs_pages_through_every_job_once_in_submission_order(jobs):
    submitted = [(await submit(jobs)).id for _ in range(5)]
    seen: list[str] = []
    token, pages = "", 0
    while True:
        page = await jobs.ListJobs(job_svc.ListJobsRequest(page_size=2, page_token=token),
                                   timeout=TIMEOUT_S)
        pages += 1
        assert len(page.jobs) <= 2
        seen += [j.id for j in page.jobs]
        token = page.next_page_token
        if not token:
            break
        assert pages < 10
    assert seen == submitted
    assert pages == 3


async def test_list_jobs_filters_by_state(jobs):
    kept = await submit(jobs)
    gone = await submit(jobs)
    await jobs.CancelJob(job_svc.CancelJobRequest(job_id=gone.id), timeout=TIMEOUT_S)
    queued = await jobs.ListJobs(job_svc.ListJobsRequest(states=[job_pb2.JOB_STATE_QUEUED]),
                                 timeout=TIMEOUT_S)
    cancelled = await jobs.ListJobs(job_svc.ListJobsRequest(states=[job_pb2.JOB_STATE_CANCELLED]),
                                    timeout=TIMEOUT_S)
    assert [j.id for j in queued.jobs] == [kept.id]
    assert [j.id for j in cancelled.jobs] == [gone.id]


async def test_list_jobs_by_workflow_name_includes_jobs_that_named_a_version(jobs):
    plain = await submit(jobs, "noop")
    pinned = await submit(jobs, "noop@1")
    await submit(jobs, "pick-place", {"part": "red_cube"})
    by_name = await jobs.ListJobs(job_svc.ListJobsRequest(workflow="noop"), timeout=TIMEOUT_S)
    by_version = await jobs.ListJobs(job_svc.ListJobsRequest(workflow="noop@1"), timeout=TIMEOUT_S)
    assert [j.id for j in by_name.jobs] == [plain.id, pinned.id]
    assert [j.id for j in by_version.jobs] == [pinned.id]


async def test_list_jobs_filters_by_every_given_label(jobs):
    both = await submit(jobs, labels={"line": "a", "shift": "night"})
    await submit(jobs, labels={"line": "a", "shift": "day"})
    await submit(jobs, labels={"line": "b", "shift": "night"})
    page = await jobs.ListJobs(job_svc.ListJobsRequest(labels={"line": "a", "shift": "night"}),
                               timeout=TIMEOUT_S)
    assert [j.id for j in page.jobs] == [both.id]


@pytest.mark.parametrize("token", ["garbage", base64.urlsafe_b64encode(b"v9:3").decode(),
                                   base64.urlsafe_b64encode(b"v1:x").decode()])
async def test_list_jobs_with_a_bad_page_token_is_invalid_argument(jobs, token):
    error = await rpc_error(jobs.ListJobs(job_svc.ListJobsRequest(page_token=token),
                                          timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("page_token:")


async def test_list_jobs_with_an_unknown_state_value_is_invalid_argument(jobs):
    error = await rpc_error(jobs.ListJobs(job_svc.ListJobsRequest(states=[99]), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("states:")


# --- standard services -----------------------------------------------------------------

async def test_health_check_reports_serving(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "cellwright.v1.JobService", "cellwright.v1.CellService"):
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_S)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_server_reflection_lists_job_and_cell_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                     timeout=TIMEOUT_S)
    names = [s.name async for answer in call for s in answer.list_services_response.service]
    assert "cellwright.v1.JobService" in names
    assert "cellwright.v1.CellService" in names


async def test_jobs_survive_an_orchestrator_restart_and_queued_ones_then_run(
        orchestrator, start_orchestrator, jobs, start_cell):
    submitted = [await submit(jobs, labels={"batch": "7"}) for _ in range(2)]
    await orchestrator.stop()
    restarted = await start_orchestrator(orchestrator.db_path)
    async with grpc.aio.insecure_channel(restarted.address) as channel:
        again = job_grpc.JobServiceStub(channel)
        listed = await again.ListJobs(job_svc.ListJobsRequest(labels={"batch": "7"}),
                                      timeout=TIMEOUT_S)
        assert [j.id for j in listed.jobs] == [j.id for j in submitted]
        await start_cell("noop-1", address=restarted.address)
        for job in submitted:
            async def done(job_id: str = job.id) -> None:
                while (await again.GetJob(job_svc.GetJobRequest(job_id=job_id))).job.state \
                        != job_pb2.JOB_STATE_SUCCEEDED:
                    await asyncio.sleep(0.02)
            await asyncio.wait_for(done(), TIMEOUT_S)


async def test_submit_with_nan_in_params_is_invalid_argument_naming_the_field(jobs):
    params = struct_pb2.Struct(fields={"duration_s": struct_pb2.Value(number_value=float("nan"))})
    message = job_svc.SubmitJobRequest(request_id="nan-1", workflow="noop", params=params)
    error = await rpc_error(jobs.SubmitJob(message, timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("params.duration_s: must be a finite number")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2), encoded by hand."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


async def test_a_request_protobuf_cannot_parse_is_invalid_argument_not_unknown(channel):
    params = b""
    for _ in range(150):  # a Struct nested deeper than protobuf's parse depth limit
        params = _field(1, _field(1, b"a") + _field(2, _field(5, params)))
    raw = _field(1, b"deep-1") + _field(2, b"noop") + _field(3, params)
    submit = channel.unary_unary("/cellwright.v1.JobService/SubmitJob")
    error = await rpc_error(submit(raw, timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("request: not a valid cellwright.v1.JobService.SubmitJob request")


async def test_a_deadline_protobuf_calls_invalid_is_invalid_argument_naming_deadline(jobs):
    message = request("noop", deadline=timestamp_pb2.Timestamp(seconds=-99_999_999_999_999))
    error = await rpc_error(jobs.SubmitJob(message, timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("deadline: not a valid timestamp")
