"""WatchJobs replaying a long history from the store, over real gRPC on a real SQLite file.

The store is filled through the engine before the orchestrator starts, so everything up to
its newest seq is replayed from the store (memory only holds events committed since).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from cellwright.orchestrator import convert
from cellwright.orchestrator.engine import Engine, Submission, TaskReport
from cellwright.orchestrator.model import TaskState
from cellwright.orchestrator.scheduler import CellOffer
from cellwright.orchestrator.server import WATCH_BATCH
from cellwright.orchestrator.store import Store
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

TIMEOUT_S = 60.0
JOBS = 3 * WATCH_BATCH + 17  # several store batches and a partial one


def prefill(path: Path, jobs: int) -> tuple[str, int]:
    """`jobs` queued noop jobs, and one (submitted in the middle) that runs to SUCCEEDED
    across the others' submissions; returns that job's id and the newest seq."""
    store = Store(path)
    try:
        engine = Engine(store, encode_job=convert.encode_job, on_event=lambda _: None)
        engine.workflows.put_folders([])

        def submit(count: int, priority: int = 0) -> list[Any]:
            return [v for _, v in store.run_group([functools.partial(
                engine.submit, Submission(str(uuid.uuid4()), "noop", {}, priority=priority))
                for _ in range(count)])]

        submit(jobs // 2)
        [(tracked, _)] = submit(1, priority=1000)
        [(ok, (assignments, _))] = store.run_group([functools.partial(
            engine.dispatch, [CellOffer("c1", "boot", frozenset({"noop"}))])])
        [assignment] = assignments
        assert ok and assignment.task.job_id == tracked.id
        engine.report("c1", "boot", TaskReport(assignment.task.id, 1, TaskState.RUNNING))
        submit(jobs - jobs // 2)
        engine.report("c1", "boot", TaskReport(assignment.task.id, 1, TaskState.SUCCEEDED))
        return str(tracked.id), store.newest_seq()
    finally:
        store.close()


@pytest.fixture
async def replay(tmp_path: Path, start_orchestrator: Callable[..., Awaitable[Any]]
                 ) -> Any:
    """An orchestrator on a prefilled store: (stub, tracked job id, newest seq)."""
    db = tmp_path / "replay.db"
    tracked, newest = prefill(db, JOBS)
    info = await start_orchestrator(db)
    async with grpc.aio.insecure_channel(info.address) as channel:
        yield job_grpc.JobServiceStub(channel), tracked, newest


async def events_until(jobs: job_grpc.JobServiceStub, last_seq: int, **request: Any
                       ) -> tuple[list[job_pb2.JobEvent], int]:
    """Events (and responses) of one WatchJobs call until the event with `last_seq`."""
    call = jobs.WatchJobs(job_svc.WatchJobsRequest(**request), timeout=TIMEOUT_S)
    events: list[job_pb2.JobEvent] = []
    responses = 0
    try:
        async for response in call:
            responses += 1
            events += response.events if request.get("max_batch") else [response.event]
            if events[-1].seq >= last_seq:
                break
    finally:
        call.cancel()
    return events, responses


async def test_replay_from_0_gives_every_stored_event_once_in_seq_order(replay):
    jobs, _, newest = replay
    events, responses = await events_until(jobs, newest)
    assert [e.seq for e in events] == list(range(1, newest + 1))
    assert responses == newest  # unbatched by default: one event per response
    assert all(e.job.id and e.job.workflow == "noop" for e in events)


async def test_replay_from_a_middle_seq_starts_right_after_it(replay):
    jobs, _, newest = replay
    middle = newest // 2 + 3
    events, _ = await events_until(jobs, newest, after_seq=middle)
    assert [e.seq for e in events] == list(range(middle + 1, newest + 1))


async def test_replay_of_one_job_gives_only_its_events_from_the_store(replay):
    jobs, tracked, newest = replay
    call = jobs.WatchJobs(job_svc.WatchJobsRequest(job_id=tracked), timeout=TIMEOUT_S)
    try:
        events = [(await call.read()).event for _ in range(4)]
    finally:
        call.cancel()
    assert {e.job.id for e in events} == {tracked}
    assert [e.job.state for e in events] == [job_pb2.JOB_STATE_QUEUED, job_pb2.JOB_STATE_RUNNING,
                                             job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_SUCCEEDED]
    assert events[-1].seq == newest and events[3].seq - events[2].seq > WATCH_BATCH


async def test_batched_replay_carries_the_same_events_in_fewer_responses(replay):
    jobs, _, newest = replay
    unbatched, _ = await events_until(jobs, newest)
    batched, responses = await events_until(jobs, newest, max_batch=100)
    assert batched == unbatched
    assert responses <= -(-newest // 100) + newest // WATCH_BATCH  # store reads may cut batches


async def test_batched_replay_of_one_job(replay):
    jobs, tracked, newest = replay
    events, responses = await events_until(jobs, newest, job_id=tracked, max_batch=10)
    assert [e.job.id for e in events] == [tracked] * 4 and responses <= 2


async def test_replay_beyond_the_newest_seq_is_out_of_range(replay):
    jobs, _, newest = replay
    call = jobs.WatchJobs(job_svc.WatchJobsRequest(after_seq=newest + 1), timeout=TIMEOUT_S)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.OUT_OF_RANGE


async def test_no_event_is_lost_or_repeated_while_jobs_are_committed_during_a_replay(replay):
    jobs, _, newest = replay
    new_jobs = 40  # one event each: no cell runs them
    call = jobs.WatchJobs(job_svc.WatchJobsRequest(max_batch=50), timeout=TIMEOUT_S)
    seqs: list[int] = []
    submitted: list[str] = []

    async def submit_during_replay() -> None:
        while len(submitted) < new_jobs:
            params = struct_pb2.Struct()
            response = await jobs.SubmitJob(job_svc.SubmitJobRequest(
                request_id=str(uuid.uuid4()), workflow="noop", params=params), timeout=TIMEOUT_S)
            submitted.append(response.job.id)
            await asyncio.sleep(0)

    try:
        first = await call.read()  # the replay has begun before the new jobs
        seqs += [e.seq for e in first.events]
        submitting = asyncio.create_task(submit_during_replay())
        seen: list[str] = []
        while seqs[-1] < newest + new_jobs:
            for event in (await call.read()).events:
                seqs.append(event.seq)
                seen.append(event.job.id)
        await submitting
    finally:
        call.cancel()
    assert seqs == list(range(1, newest + new_jobs + 1))
    assert seen[-new_jobs:] == submitted


async def test_a_client_far_behind_reading_slowly_stalls_no_one(replay):
    jobs, tracked, newest = replay
    slow = jobs.WatchJobs(job_svc.WatchJobsRequest(), timeout=TIMEOUT_S)  # one event per message
    try:
        assert (await slow.read()).event.seq == 1  # then it reads nothing for a while
        job = (await jobs.GetJob(job_svc.GetJobRequest(job_id=tracked), timeout=TIMEOUT_S)).job
        assert job.state == job_pb2.JOB_STATE_SUCCEEDED
        other, _ = await events_until(jobs, newest, max_batch=WATCH_BATCH)
        assert other[-1].seq == newest
        assert (await slow.read()).event.seq == 2  # the slow replay is still at its start
    finally:
        slow.cancel()
