"""WatchJobs responses encoded around stored snapshots equal what protobuf would write."""

from __future__ import annotations

import pytest

from cellwright.orchestrator import convert
from cellwright.orchestrator.model import StoredEvent
from cellwright.orchestrator.server import MAX_RESPONSE_BYTES, encode_event, watch_responses
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc


def stored(seq: int, *, time: float = 1_700_000_000.123456, job_id: str = "job-a",
           task_id: str = "job-a/noop", tasks: int = 1) -> StoredEvent:
    job = job_pb2.Job(id=job_id, workflow="noop", state=job_pb2.JOB_STATE_RUNNING,
                      tasks=[job_pb2.Task(id=f"{job_id}/t{i}", step_id=f"t{i}") for i in range(tasks)])
    return StoredEvent(seq, time, job_id, task_id, job.SerializeToString())


def by_protobuf(event: StoredEvent) -> job_pb2.JobEvent:
    message = job_pb2.JobEvent(seq=event.seq, task_id=event.task_id,
                               time=convert.timestamp(event.time))
    message.job.ParseFromString(event.snapshot)
    return message


@pytest.mark.parametrize("event", [
    stored(1), stored(300, task_id=""), stored(2**40, time=1_700_000_000.0),
    stored(7, time=0.0), stored(8, time=0.5), stored(9, tasks=200), stored(10, task_id="é/ü"),
], ids=["plain", "no-task", "big-seq-whole-second", "no-time", "under-a-second", "large-job",
        "unicode-task"])
def test_an_encoded_event_is_byte_for_byte_what_protobuf_writes(event):
    assert encode_event(event) == by_protobuf(event).SerializeToString()


def test_unbatched_responses_carry_one_event_each_in_event():
    events = [stored(1), stored(2, job_id="job-b"), stored(3)]
    responses = [job_svc.WatchJobsResponse.FromString(r) for r in watch_responses(events, "", 0)]
    assert [r.event for r in responses] == [by_protobuf(e) for e in events]
    assert all(not r.events for r in responses)


def test_batched_responses_carry_up_to_max_batch_events_in_events():
    events = [stored(i) for i in range(1, 8)]
    responses = [job_svc.WatchJobsResponse.FromString(r) for r in watch_responses(events, "", 3)]
    assert [len(r.events) for r in responses] == [3, 3, 1]
    assert [e for r in responses for e in r.events] == [by_protobuf(e) for e in events]
    assert all(not r.HasField("event") for r in responses)


def test_a_job_filter_keeps_only_that_jobs_events():
    events = [stored(1), stored(2, job_id="job-b"), stored(3)]
    responses = [job_svc.WatchJobsResponse.FromString(r) for r in watch_responses(events, "job-a", 10)]
    assert [e.seq for r in responses for e in r.events] == [1, 3]


def test_a_batch_closes_before_the_response_size_limit():
    big = [stored(i, tasks=2000) for i in range(1, 40)]
    responses = list(watch_responses(big, "", 1000))
    assert len(responses) > 1
    assert all(len(r) <= MAX_RESPONSE_BYTES for r in responses)
    assert [e.seq for r in responses for e in job_svc.WatchJobsResponse.FromString(r).events] == \
        list(range(1, 40))
