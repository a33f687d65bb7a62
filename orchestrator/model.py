"""The orchestrator's domain records: jobs and tasks as frozen dataclasses."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple


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

    @property
    def final(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)

    @property
    def in_flight(self) -> bool:
        return self in (TaskState.ASSIGNED, TaskState.RUNNING)


@dataclass(frozen=True)
class TaskError:
    reason: str
    message: str
    retryable: bool = False


@dataclass(frozen=True)
class Task:
    id: str
    job_id: str
    step_id: str
    skill: str
    params: dict[str, Any]
    needs: tuple[str, ...]
    retries: int
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


class StoredEvent(NamedTuple):
    """A committed change of a job, as the event log keeps it: its seq, the commit's wall
    time, the job, the task that changed ("" for the job itself) and the job after the
    change (an encoded `cellwright.v1.Job`)."""

    seq: int
    time: float
    job_id: str
    task_id: str
    snapshot: bytes
