"""The orchestrator's domain records: jobs and tasks as frozen dataclasses."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cellwright.orchestrator.workflow.model import OnFailure, Operator, Placement, Retry


class JobState(enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    HELD = "HELD"

    @property
    def final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class TaskState(enum.Enum):
    PENDING = "PENDING"
    READY = "READY"
    ASSIGNED = "ASSIGNED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"
    SKIPPED = "SKIPPED"
    AWAITING_OPERATOR = "AWAITING_OPERATOR"
    HELD = "HELD"

    @property
    def final(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED)

    @property
    def done(self) -> bool:
        """Counts as done for the steps that need it."""
        return self in (TaskState.SUCCEEDED, TaskState.SKIPPED)

    @property
    def in_flight(self) -> bool:
        return self in (TaskState.ASSIGNED, TaskState.RUNNING)


@dataclass(frozen=True)
class TaskError:
    reason: str
    message: str
    retryable: bool = False


@dataclass(frozen=True)
class TaskSpec:
    """What a task's step says, copied into the task at submission, so a new version of
    the workflow never alters a running job."""

    with_: Mapping[str, Any] = field(default_factory=dict)  # templates, rendered when READY
    when: str = ""
    place: Placement = Placement()
    reserve: tuple[str, ...] = ()  # stations and zones, zones expanded to their stations
    timeout_s: float = 0.0
    retry: Retry = Retry()
    on_failure: OnFailure = OnFailure()
    operator: Operator | None = None
    recovery_for: str = ""  # a recovery task: the id of the task whose failure ran it
    repeated: bool = False  # one repetition of a for_each / count step


@dataclass(frozen=True)
class Task:
    id: str
    job_id: str
    step_id: str
    skill: str
    params: dict[str, Any]
    needs: tuple[str, ...]
    state: TaskState
    cell_id: str = ""
    boot_id: str = ""
    epoch: int = 0
    attempt: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    error: TaskError | None = None
    duration_s: float = 0.0
    assigned_at: float = 0.0
    finished_at: float = 0.0
    operator_note: str = ""  # what an operator did to the task (retry, resume) and why
    spec: TaskSpec = TaskSpec()
    index: int = 0  # repetition number of a for_each / count step
    item: Any = None  # the for_each element of this repetition
    not_before: float = 0.0  # a retry waits out its backoff until then (unix seconds)
    excluded_cells: tuple[str, ...] = ()  # cells that reported it `not_found`
    same_cell: str = ""  # the cell `same_cell_as` resolved to
    waiting_reason: str = ""

    @property
    def max_attempts(self) -> int:
        return self.spec.retry.attempts


@dataclass(frozen=True)
class Job:
    id: str
    request_id: str
    workflow: str
    workflow_version: int
    params: dict[str, Any]
    priority: int
    deadline: float  # unix seconds; 0 = none
    labels: dict[str, str]
    state: JobState
    tasks: tuple[Task, ...]
    created_at: float
    updated_at: float
    error: TaskError | None = None
    cancel_requested: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)
    outputs_spec: Mapping[str, Any] = field(default_factory=dict)  # the workflow's outputs
    pin: Placement = Placement()  # cells / tags every task must run within
    waiting_reason: str = ""

    @property
    def cycle_time_s(self) -> float:
        """Sum of task durations on the cells' clocks."""
        return sum(t.duration_s for t in self.tasks)


@dataclass(frozen=True)
class ReadyTask:
    """A READY task with what the scheduler orders by."""

    task: Task
    priority: int
    deadline: float
    job_created_at: float
    last_cell: str = ""  # cell that ran the job's latest assigned step, if any
    pin: Placement = Placement()  # the job's pin


class StoredEvent(NamedTuple):
    """A committed change of a job, as the event log keeps it: its seq, the commit's wall
    time, the job, the task that changed ("" for the job itself) and the job after the
    change (an encoded `cellwright.v1.Job`)."""

    seq: int
    time: float
    job_id: str
    task_id: str
    snapshot: bytes


@dataclass(frozen=True)
class KnownCell:
    """What a cell advertised in its latest hello, kept across restarts of the orchestrator."""

    cell_id: str
    skills: frozenset[str]
    tags: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()
    last_seen: float = 0.0  # unix seconds of its latest hello


@dataclass(frozen=True)
class SkillSchema:
    """One skill name's schemas across the plant (the first cell to advertise it sets them)."""

    name: str
    params_schema: Mapping[str, Any]
    result_schema: Mapping[str, Any]
    first_cell: str


@dataclass(frozen=True)
class Reservation:
    """A station or zone held by a task, fenced by the task's cell, boot and epoch."""

    resource: str
    job_id: str
    task_id: str
    cell_id: str
    boot_id: str
    epoch: int
    state: str  # HELD or SUSPECT (its holder's lease expired)
    since: float
    note: str = ""


@dataclass(frozen=True)
class StoredWorkflow:
    name: str
    version: int
    source: str
    digest: str
    origin: str
    created_at: float
