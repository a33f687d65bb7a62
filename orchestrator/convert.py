"""Protobuf <-> domain conversion for the orchestrator: the only place that knows both."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from cellwright.api.schema import SchemaError
from cellwright.api.structs import from_struct, to_struct
from cellwright.orchestrator.engine import Submission, TaskReport
from cellwright.orchestrator.errors import InvalidArgument
from cellwright.orchestrator.model import Job, JobState, Task, TaskError, TaskState
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc


def timestamp(unix_s: float) -> timestamp_pb2.Timestamp | None:
    if unix_s <= 0:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromNanoseconds(int(unix_s * 1e9))
    return message


def job_state_to_proto(state: JobState) -> job_pb2.JobState.ValueType:
    return job_pb2.JobState.Value(f"JOB_STATE_{state.value}")


def job_state_from_proto(value: int) -> JobState:
    return JobState(job_pb2.JobState.Name(job_pb2.JobState.ValueType(value)).removeprefix("JOB_STATE_"))


def task_state_from_proto(value: int, field: str) -> TaskState:
    """The task state of a proto value; InvalidArgument naming `field` if unset or unknown."""
    if value == job_pb2.TASK_STATE_UNSPECIFIED or value not in job_pb2.TaskState.values():
        raise InvalidArgument(field, f"{value} is not a task state; use one of "
                              f"{job_pb2.TaskState.keys()[1:]}")
    return TaskState(job_pb2.TaskState.Name(job_pb2.TaskState.ValueType(value)).removeprefix("TASK_STATE_"))


def error_to_proto(error: TaskError | None) -> job_pb2.TaskError | None:
    if error is None:
        return None
    return job_pb2.TaskError(reason=error.reason, message=error.message, retryable=error.retryable)


def task_to_proto(task: Task) -> job_pb2.Task:
    return job_pb2.Task(
        id=task.id, job_id=task.job_id, step_id=task.step_id, skill=task.skill,
        params=to_struct(task.params), needs=task.needs,
        state=job_pb2.TaskState.Value(f"TASK_STATE_{task.state.value}"), cell_id=task.cell_id,
        epoch=task.epoch, attempt=task.attempt, result=to_struct(task.result),
        error=error_to_proto(task.error), duration_s=task.duration_s,
        assigned_time=timestamp(task.assigned_at), finished_time=timestamp(task.finished_at),
        operator_note=task.operator_note)


def job_to_proto(job: Job) -> job_pb2.Job:
    return job_pb2.Job(
        id=job.id, request_id=job.request_id, workflow=job.workflow,
        workflow_version=job.workflow_version, params=to_struct(job.params), priority=job.priority,
        deadline=timestamp(job.deadline), labels=job.labels, state=job_state_to_proto(job.state),
        tasks=[task_to_proto(t) for t in job.tasks], error=error_to_proto(job.error),
        create_time=timestamp(job.created_at), update_time=timestamp(job.updated_at),
        cycle_time_s=job.cycle_time_s, cancel_requested=job.cancel_requested)


def encode_job(job: Job) -> bytes:
    return job_to_proto(job).SerializeToString()


def submission(request: job_svc.SubmitJobRequest) -> Submission:
    try:
        deadline = request.deadline.ToNanoseconds() / 1e9 if request.HasField("deadline") else 0.0
    except ValueError as exc:
        raise InvalidArgument("deadline", f"not a valid timestamp: {exc}") from exc
    try:
        params = from_struct(request.params, "params")
    except SchemaError as exc:
        raise InvalidArgument(exc.field, exc.problem) from exc
    return Submission(request_id=request.request_id, workflow=request.workflow, params=params,
                      priority=request.priority, deadline=deadline, labels=dict(request.labels))


def task_report(update: cell_pb.TaskUpdate, field: str = "task_update") -> TaskReport:
    """A cell's task update as a domain report; InvalidArgument names `field` if its state
    is malformed. A result that cannot be stored (NaN, infinity) fails the task with reason
    `invalid_result` rather than refusing the update, so the cell is never locked out."""
    state = task_state_from_proto(update.state, f"{field}.state")
    error = None
    if update.HasField("error"):
        error = TaskError(update.error.reason, update.error.message, update.error.retryable)
    try:
        result = from_struct(update.result, "result")
    except SchemaError as exc:
        result, error = {}, TaskError("invalid_result", f"the cell's {exc}")
        state = TaskState.FAILED if state.final else state
    return TaskReport(task_id=update.task_id, epoch=update.epoch, state=state, result=result,
                      error=error, duration_s=update.duration_s)
