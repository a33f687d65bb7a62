"""Protobuf <-> domain conversion for the orchestrator: the only place that knows both."""

from __future__ import annotations

from google.protobuf import struct_pb2, timestamp_pb2

from cellwright.api.schema import SchemaError
from cellwright.api.structs import from_struct, to_struct
from cellwright.orchestrator.engine import Submission, TaskReport
from cellwright.orchestrator.errors import InvalidArgument
from cellwright.orchestrator.model import (
    Job,
    JobState,
    KnownCell,
    Reservation,
    SkillSchema,
    StoredWorkflow,
    Task,
    TaskError,
    TaskState,
)
from cellwright.orchestrator.workflow import Diagnostic, Workflow
from cellwright.orchestrator.workflow.model import Placement
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import workflow_service_pb2 as wf_pb

CELL_STATES = frozenset({TaskState.RUNNING, TaskState.SUCCEEDED, TaskState.FAILED,
                         TaskState.CANCELLED})
"""The task states a cell may report."""


def timestamp(unix_s: float) -> timestamp_pb2.Timestamp | None:
    if unix_s <= 0:
        return None
    seconds, nanos = divmod(int(unix_s * 1e9), 1_000_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)  # FromNanoseconds: 1.6x slower


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
        operator_note=task.operator_note, index=task.index, item=_value(task.item),
        placement=placement_to_proto(task.spec.place), reservations=task.spec.reserve,
        timeout_s=task.spec.timeout_s, max_attempts=task.max_attempts,
        not_before_time=timestamp(task.not_before), waiting_reason=task.waiting_reason,
        prompt=task.params.get("prompt", "") if task.spec.operator else "",
        excluded_cells=task.excluded_cells)


def _value(value: object) -> struct_pb2.Value | None:
    if value is None:
        return None
    return to_struct({"v": value}).fields["v"]


def placement_to_proto(place: Placement) -> job_pb2.Placement:
    return job_pb2.Placement(cells=place.cells, tags=place.tags, kind=place.kind,
                             model=place.model, same_cell_as=place.same_cell_as)


def placement_from_proto(message: job_pb2.Placement) -> Placement:
    return Placement(cells=tuple(message.cells), tags=tuple(message.tags), kind=message.kind,
                     model=message.model, same_cell_as=message.same_cell_as)


def job_to_proto(job: Job) -> job_pb2.Job:
    return job_pb2.Job(
        id=job.id, request_id=job.request_id, workflow=job.workflow,
        workflow_version=job.workflow_version, params=to_struct(job.params), priority=job.priority,
        deadline=timestamp(job.deadline), labels=job.labels, state=job_state_to_proto(job.state),
        tasks=[task_to_proto(t) for t in job.tasks], error=error_to_proto(job.error),
        create_time=timestamp(job.created_at), update_time=timestamp(job.updated_at),
        cycle_time_s=job.cycle_time_s, cancel_requested=job.cancel_requested,
        outputs=to_struct(job.outputs) if job.outputs else None,
        placement=placement_to_proto(job.pin), waiting_reason=job.waiting_reason)


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
                      priority=request.priority, deadline=deadline, labels=dict(request.labels),
                      pin=placement_from_proto(request.placement))


def task_report(update: cell_pb.TaskUpdate, field: str = "task_update") -> TaskReport:
    """A cell's task update as a domain report; InvalidArgument names `field` if its state
    is malformed. A result that cannot be stored (NaN, infinity) fails the task with reason
    `invalid_result` rather than refusing the update, so the cell is never locked out."""
    state = task_state_from_proto(update.state, f"{field}.state")
    if state not in CELL_STATES:
        raise InvalidArgument(f"{field}.state", f"a cell reports {sorted(s.value for s in CELL_STATES)}, "
                              f"not {state.value}")
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


def known_cell(hello: cell_pb.Hello, now: float) -> KnownCell:
    """What the plant remembers of a cell's hello."""
    return KnownCell(
        hello.cell_id, frozenset(s.name for s in hello.skills), frozenset(hello.tags),
        frozenset(c.kind for r in hello.robots for c in r.components),
        frozenset(r.model for r in hello.robots if r.model), last_seen=now)


def remembered_hello(cell: KnownCell) -> cell_pb.Hello:
    """What the plant remembers of a cell, as a hello (ListCells after a restart)."""
    return cell_pb.Hello(cell_id=cell.cell_id, tags=sorted(cell.tags),
                         skills=[cell_pb.Skill(name=s) for s in sorted(cell.skills)])


def skill_schemas(hello: cell_pb.Hello) -> list[SkillSchema]:
    return [SkillSchema(s.name, from_struct(s.params_schema, "params_schema"),
                        from_struct(s.result_schema, "result_schema"), hello.cell_id)
            for s in hello.skills]


def reservation_to_proto(r: Reservation) -> job_pb2.Reservation:
    return job_pb2.Reservation(
        resource=r.resource, job_id=r.job_id, task_id=r.task_id, cell_id=r.cell_id,
        epoch=r.epoch, state=job_pb2.ReservationState.Value(f"RESERVATION_STATE_{r.state}"),
        since_time=timestamp(r.since), note=r.note)


def diagnostic_to_proto(d: Diagnostic) -> wf_pb.Diagnostic:
    return wf_pb.Diagnostic(
        file=d.file, line=d.line, column=d.column, path=d.path, message=d.message, hint=d.hint,
        severity=wf_pb.SEVERITY_ERROR if d.severity == "error" else wf_pb.SEVERITY_WARNING,
        code=d.code)


def workflow_to_proto(stored: StoredWorkflow, parsed: Workflow) -> wf_pb.Workflow:
    return wf_pb.Workflow(
        name=stored.name, version=stored.version, description=parsed.description,
        source=stored.source, digest=stored.digest, create_time=timestamp(stored.created_at),
        origin=stored.origin, params_schema=to_struct(dict(parsed.params_schema)),
        steps=[s.id for s in parsed.steps])
