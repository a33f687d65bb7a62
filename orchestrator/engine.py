"""Job and task state machines on top of the store.

All methods are synchronous. Writes run on one thread (the orchestrator's writer
thread), so each one is atomic with respect to the others; each change is one durable
transaction that also appends a job event (the snapshot is encoded by the `encode_job`
callback, keeping the engine free of protobuf), announced through `on_event` only once
committed. Reads (`get`, `list_jobs`, `events_after`, `newest_seq`) use the reader
connection and may run on another thread. Methods return the messages the server must
send to cells.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cellwright.api.schema import quote
from cellwright.orchestrator import scheduler
from cellwright.orchestrator.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from cellwright.orchestrator.model import Job, JobState, StoredEvent, Task, TaskError, TaskState
from cellwright.orchestrator.store import Store, StoreReader
from cellwright.orchestrator.workflows import WorkflowRegistry

log = logging.getLogger(__name__)

MAX_REQUEST_ID = 128
MAX_PARAMS_BYTES = 64 * 1024
MAX_LABELS = 32
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
MAX_LABEL_VALUE = 256
MAX_REASON = 1024
REJECTED = "rejected"  # a cell refused an assignment (not ready): not an attempt


@dataclass(frozen=True)
class Submission:
    request_id: str
    workflow: str
    params: dict[str, Any]
    priority: int = 0
    deadline: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskReport:
    """What a cell says about a task it holds."""

    task_id: str
    epoch: int
    state: TaskState
    result: dict[str, Any] = field(default_factory=dict)
    error: TaskError | None = None
    duration_s: float = 0.0


@dataclass(frozen=True)
class Assignment:
    cell_id: str
    task: Task
    deadline: float


@dataclass(frozen=True)
class CancelOrder:
    cell_id: str
    task_id: str
    epoch: int
    reason: str


@dataclass(frozen=True)
class Reconciled:
    """The outcome of a cell's hello: acks and cancels to send, and the task it holds."""

    acks: list[tuple[str, int]]
    orders: list[CancelOrder]
    task_id: str  # the task in flight on the cell after reconciling ("" if none)


def check_labels(labels: Mapping[str, str], field_name: str) -> None:
    """Raise InvalidArgument unless labels are few, with short, plain keys and values."""
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(field_name, f"at most {MAX_LABELS} labels, got {len(labels)}")
    for key, value in labels.items():
        if not LABEL_KEY.match(key):
            raise InvalidArgument(f"{field_name}[{quote(key)}]", f"key must match {LABEL_KEY.pattern}")
        if len(value) > MAX_LABEL_VALUE:
            raise InvalidArgument(f"{field_name}[{quote(key)}]", f"value longer than {MAX_LABEL_VALUE}")


class Engine:
    """Submits, dispatches, advances and cancels jobs; reconciles cells' reports."""

    def __init__(self, store: Store, workflows: WorkflowRegistry, *,
                 encode_job: Callable[[Job], bytes], on_event: Callable[[StoredEvent], None],
                 clock: Callable[[], float] = time.time, reader: StoreReader | None = None) -> None:
        self.store = store
        self.reader = reader or store
        self.workflows = workflows
        self._encode = encode_job
        self._on_event = on_event
        self._clock = clock

    # --- jobs ----------------------------------------------------------------------
    def submit(self, sub: Submission) -> tuple[Job, bool]:
        """Store a new job durably, or return the one stored under the same request_id."""
        if not sub.request_id:
            raise InvalidArgument("request_id", "required: a unique idempotency key per job, e.g. a UUID")
        if len(sub.request_id) > MAX_REQUEST_ID:
            raise InvalidArgument("request_id", f"longer than {MAX_REQUEST_ID} characters")
        if not sub.workflow:
            raise InvalidArgument("workflow", f"name a workflow; known: {self.workflows.names()}")
        if not 0 <= sub.priority <= 1000:
            raise InvalidArgument("priority", f"{sub.priority} is outside 0..1000")
        if sub.deadline < 0:
            raise InvalidArgument("deadline", "must be after 1970")
        check_labels(sub.labels, "labels")
        body = json.dumps([sub.workflow, sub.params, sub.priority, sub.deadline, sub.labels],
                          sort_keys=True, default=str)
        if len(body) > MAX_PARAMS_BYTES:
            raise InvalidArgument("params", f"request body over {MAX_PARAMS_BYTES} bytes")
        body_hash = hashlib.sha256(body.encode()).hexdigest()
        earlier = self.store.find_request(sub.request_id)
        if earlier is not None:
            job_id, earlier_hash = earlier
            if earlier_hash != body_hash:
                raise AlreadyExists(
                    f"request_id {quote(sub.request_id)} was used for job {job_id} with a different "
                    "body; use a new request_id for a new job")
            return self._job(job_id), False
        workflow = self.workflows.resolve(sub.workflow)
        params = workflow.bind(sub.params)
        now = self._clock()
        job_id = f"job-{uuid.uuid4().hex[:16]}"
        tasks = tuple(
            Task(id=f"{job_id}/{step.id}", job_id=job_id, step_id=step.id, skill=step.skill,
                 params=step_params, needs=step.needs, retries=step.retries,
                 state=TaskState.PENDING if step.needs else TaskState.READY)
            for step, step_params in workflow.expand(params))
        job = Job(id=job_id, request_id=sub.request_id, workflow=sub.workflow,
                  workflow_version=workflow.version, params=params, priority=sub.priority,
                  deadline=sub.deadline, labels=dict(sub.labels), state=JobState.QUEUED,
                  tasks=tasks, created_at=now, updated_at=now)
        with self.store.transaction():
            self.store.insert_job(job, body_hash)
            self._record(job_id, "")
        return self._job(job_id), True

    # --- reads (reader connection) ---------------------------------------------------
    def get(self, job_id: str) -> Job:
        """The job as last committed. Raises InvalidArgument or NotFound."""
        return _found(self.reader.get_job(_job_id(job_id)), job_id)

    def list_jobs(self, *, states: Sequence[JobState], workflow: str, labels: dict[str, str],
                  after_seq: int, limit: int) -> list[tuple[int, Job]]:
        """(seq, job) in submission order after `after_seq`; see `Store.list_jobs`."""
        return self.reader.list_jobs(states=states, workflow=workflow, labels=labels,
                                     after_seq=after_seq, limit=limit)

    def events_after(self, seq: int, job_id: str, limit: int) -> list[StoredEvent]:
        """Events after `seq` (of one job if `job_id`), oldest first."""
        return self.reader.events_after(seq, job_id, limit)

    def newest_seq(self) -> int:
        return self.reader.newest_seq()

    def in_flight_cells(self) -> set[str]:
        """Cells holding ASSIGNED or RUNNING tasks (after a restart: wait a lease for them)."""
        return {t.cell_id for t in self.reader.in_flight_tasks()}

    def probe(self) -> None:
        """A small durable write: raises while the database cannot be written."""
        self.store.probe(self._clock())

    # --- operators -----------------------------------------------------------------
    def retry_task(self, job_id: str, task_ref: str, reason: str) -> tuple[Job, list[CancelOrder]]:
        """Run an UNKNOWN task of a HELD job again. Its epoch rises now, so the cell that
        held it is fenced off: its late reports are stale and a run it still has is
        cancelled on its next hello."""
        job = self._job(job_id)
        task = self._task_of(job, task_ref)
        _require_reason(reason)
        if task.state is not TaskState.UNKNOWN:
            raise FailedPrecondition(
                f"task {task.id} is {task.state.value}; only a task whose outcome is unknown "
                "(UNKNOWN, in a HELD job) can be retried")
        if job.state is not JobState.HELD:  # e.g. cancelled meanwhile: its tasks stay ended
            raise FailedPrecondition(f"job {job_id} is {job.state.value}; only a task of a HELD "
                                     "job can be retried")
        with self.store.transaction():
            self.store.update_task(
                task.id, expect_states=[TaskState.UNKNOWN], expect_epoch=task.epoch,
                state=TaskState.READY, epoch=task.epoch + 1, error=None, finished_at=0.0,
                operator_note=f"retried by an operator: {reason}")
            orders = self._advance(job_id, task.id)
        log.warning("operator retried task %s of job %s: %s", task.id, job_id, reason)
        return self._job(job_id), orders

    def resume_job(self, job_id: str, reason: str) -> tuple[Job, list[CancelOrder]]:
        """An operator confirms the UNKNOWN tasks of a HELD job were done: they become
        SUCCEEDED (with their epoch raised, fencing the cell that held them) and the job
        goes on."""
        job = self._job(job_id)
        _require_reason(reason)
        if job.state is not JobState.HELD:
            raise FailedPrecondition(f"job {job_id} is {job.state.value}; only a HELD job can be "
                                     "resumed")
        now = self._clock()
        with self.store.transaction():
            for task in job.tasks:
                if task.state is TaskState.UNKNOWN:
                    self.store.update_task(
                        task.id, expect_states=[TaskState.UNKNOWN], expect_epoch=task.epoch,
                        state=TaskState.SUCCEEDED, epoch=task.epoch + 1, error=None,
                        finished_at=now, operator_note=f"confirmed done by an operator: {reason}")
            orders = self._advance(job_id, "")
        log.warning("operator resumed job %s: %s", job_id, reason)
        return self._job(job_id), orders

    def _task_of(self, job: Job, ref: str) -> Task:
        task = next((t for t in job.tasks if ref in (t.id, t.step_id)), None)
        if task is None:
            raise NotFound(f"job {job.id} has no task {quote(ref)}; its steps: "
                           f"{[t.step_id for t in job.tasks]}")
        return task

    def cancel(self, job_id: str, reason: str) -> tuple[Job, list[CancelOrder]]:
        """Ask for a job to end: queued tasks end now, running ones get a cancel."""
        job = self._job(job_id)
        if job.state.final:
            raise FailedPrecondition(f"job {job_id} is already {job.state.value}; nothing to cancel")
        with self.store.transaction():
            self.store.update_job(job_id, self._clock(), cancel_requested=True)
            orders = self._advance(job_id, "", cancel_reason=reason or "cancelled by client")
        return self._job(job_id), orders

    # --- dispatch ------------------------------------------------------------------
    def dispatch(self, cells: Sequence[scheduler.CellOffer]
                 ) -> tuple[list[Assignment], list[CancelOrder]]:
        """Fail jobs whose deadline passed with READY tasks (cancelling their running
        tasks), then assign READY tasks to idle cells, all in one transaction (one fsync)."""
        now = self._clock()
        assignments: list[Assignment] = []
        orders: list[CancelOrder] = []
        with self.store.transaction():
            for job_id, task_id in self.store.late_jobs(now):
                step = task_id.rpartition("/")[2]
                orders += self._fail_job(job_id, task_id, TaskError(
                    "deadline_exceeded", f"job deadline passed before step {step} could start"))
            skills = sorted({skill for cell in cells for skill in cell.skills})
            live = self.store.ready_tasks(skills, limit=max(64, 4 * len(cells)))
            for item, cell in scheduler.match(live, cells):
                task = item.task
                if not self.store.update_task(
                        task.id, expect_states=[TaskState.READY], state=TaskState.ASSIGNED,
                        cell_id=cell.cell_id, boot_id=cell.boot_id, epoch=task.epoch + 1,
                        attempt=task.attempt + 1, assigned_at=now):
                    continue
                job = self.store.get_job(task.job_id)
                if job is not None and job.state is JobState.QUEUED:
                    self.store.update_job(task.job_id, now, state=JobState.RUNNING)
                self._record(task.job_id, task.id)
                assigned = replace(task, state=TaskState.ASSIGNED, cell_id=cell.cell_id,
                                   epoch=task.epoch + 1, attempt=task.attempt + 1)
                assignments.append(Assignment(cell.cell_id, assigned, item.deadline))
        return assignments, orders

    def unassign(self, task_id: str, epoch: int) -> None:
        """An assignment that could not be sent (its cell's session ended meanwhile): the
        task is READY again, and the attempt does not count."""
        task = self.store.get_task(task_id)
        if task is None or task.state is not TaskState.ASSIGNED or task.epoch != epoch:
            return
        with self.store.transaction():
            if self.store.update_task(task_id, expect_states=[TaskState.ASSIGNED], expect_epoch=epoch,
                                      state=TaskState.READY, attempt=task.attempt - 1):
                self._advance(task.job_id, task_id)

    # --- reports from cells --------------------------------------------------------
    def report(self, cell_id: str, boot_id: str, report: TaskReport
               ) -> tuple[bool, list[CancelOrder]]:
        """Apply a cell's task update. Returns (acknowledge?, cancels to send).

        Only the holder of the assignment may move a task: the same cell, the same process
        (boot id) and the same epoch. Anything else is stale: acknowledged and ignored, so
        the cell can forget it.
        """
        task = self.store.get_task(report.task_id)
        if task is None or (task.cell_id, task.boot_id, task.epoch) != (cell_id, boot_id, report.epoch):
            log.warning("ignoring stale report from %s (boot %s) for %s epoch %s", cell_id,
                        boot_id, report.task_id, report.epoch)
            return True, []
        now = self._clock()
        with self.store.transaction():
            if report.state is TaskState.RUNNING:  # back from UNKNOWN: the cell_lost error goes
                if self.store.update_task(task.id, expect_states=[TaskState.ASSIGNED, TaskState.UNKNOWN],
                                          expect_epoch=task.epoch, state=TaskState.RUNNING,
                                          error=None, finished_at=0.0):
                    return False, self._advance(task.job_id, task.id)
                return False, []
            if not report.state.final:
                return False, []
            new_state, attempt = report.state, task.attempt
            if new_state is TaskState.FAILED and report.error is not None:
                if report.error.reason == REJECTED:  # never started: not an attempt
                    new_state, attempt = TaskState.READY, task.attempt - 1
                elif report.error.retryable and task.attempt <= task.retries:
                    new_state = TaskState.READY  # try again: the next assignment raises the epoch
            changed = self.store.update_task(
                task.id, expect_states=[TaskState.ASSIGNED, TaskState.RUNNING, TaskState.UNKNOWN],
                expect_epoch=task.epoch, state=new_state, result=report.result,
                error=report.error, duration_s=report.duration_s, finished_at=now, attempt=attempt)
            orders = self._advance(task.job_id, task.id) if changed else []
        return True, orders

    def reconcile(self, cell_id: str, boot_id: str, reports: Sequence[TaskReport]) -> Reconciled:
        """A cell said hello listing the tasks it holds.

        Tasks the store has in flight (or UNKNOWN) on this cell that the cell does not list
        were never received if the cell did not restart (same boot id): they go back to
        READY (CANCELLED if their job has ended meanwhile). After a restart the outcome of
        in-flight ones is unknown: UNKNOWN, and the job is HELD.
        """
        acks: list[tuple[str, int]] = []
        orders: list[CancelOrder] = []
        listed = {r.task_id for r in reports}
        for report in reports:
            ack, more = self.report(cell_id, boot_id, report)
            orders += more
            if ack:
                acks.append((report.task_id, report.epoch))
            if report.state is TaskState.RUNNING:
                orders += self._unwanted(cell_id, report)
        now = self._clock()
        for task in self.store.tasks_on_cell(
                cell_id, [TaskState.ASSIGNED, TaskState.RUNNING, TaskState.UNKNOWN]):
            if task.id in listed or (task.state is TaskState.UNKNOWN and task.boot_id != boot_id):
                continue
            with self.store.transaction():
                if task.boot_id == boot_id:  # never reached the cell: not an attempt
                    ended = self._job(task.job_id).state.final
                    self.store.update_task(
                        task.id, expect_states=[task.state], expect_epoch=task.epoch,
                        state=TaskState.CANCELLED if ended else TaskState.READY, error=None,
                        attempt=task.attempt - 1, finished_at=now if ended else 0.0)
                else:
                    self.store.update_task(
                        task.id, expect_states=[task.state], expect_epoch=task.epoch,
                        state=TaskState.UNKNOWN, finished_at=now, error=TaskError(
                            "cell_lost", f"cell {cell_id} restarted while holding the task; "
                            "check the cell, then cancel the job"))
                orders += self._advance(task.job_id, task.id)
        unique = {(o.cell_id, o.task_id, o.epoch): o for o in orders}  # one cancel per task
        held = [t.id for t in self.store.tasks_on_cell(cell_id, [TaskState.ASSIGNED, TaskState.RUNNING])]
        return Reconciled(acks, list(unique.values()), held[0] if held else "")

    def _unwanted(self, cell_id: str, report: TaskReport) -> list[CancelOrder]:
        """A cancel for a task a cell says it runs, if it should not: no longer its
        assignment, or its job ended or is being cancelled (a cancel sent while the cell
        was away is not lost: it is sent again on every hello)."""
        task = self.store.get_task(report.task_id)
        if task is None or task.epoch != report.epoch or task.state.final:
            reason = "the orchestrator no longer assigns this task to you"
        else:
            job = self._job(task.job_id)
            if not (job.state.final or job.cancel_requested):
                return []
            reason = "job cancelled" if job.cancel_requested else f"job {job.state.value}"
        return [CancelOrder(cell_id, report.task_id, report.epoch, reason)]

    def cell_lost(self, cell_id: str) -> list[CancelOrder]:
        """The cell's lease expired: its in-flight tasks become UNKNOWN, their jobs HELD."""
        orders: list[CancelOrder] = []
        for task in self.store.in_flight_tasks():
            if task.cell_id != cell_id:
                continue
            with self.store.transaction():
                self.store.update_task(
                    task.id, expect_states=[task.state], expect_epoch=task.epoch,
                    state=TaskState.UNKNOWN, finished_at=self._clock(), error=TaskError(
                        "cell_lost", f"lease of cell {cell_id} expired while it held the task"))
                orders += self._advance(task.job_id, task.id)
        return orders

    # --- internals -----------------------------------------------------------------
    def _job(self, job_id: str) -> Job:
        """The job as the writer sees it (its own uncommitted changes included)."""
        return _found(self.store.get_job(_job_id(job_id)), job_id)

    def _record(self, job_id: str, task_id: str) -> None:
        now, snapshot = self._clock(), self._encode(self._job(job_id))
        event = StoredEvent(self.store.append_event(now, job_id, task_id, snapshot), now, job_id,
                            task_id, snapshot)
        self.store.after_commit(lambda: self._on_event(event))

    def _fail_job(self, job_id: str, task_id: str, error: TaskError) -> list[CancelOrder]:
        """Fail a job now: queued tasks are cancelled, running ones are sent a cancel."""
        now = self._clock()
        self.store.update_job(job_id, now, state=JobState.FAILED, error=error)
        orders = []
        for task in self._job(job_id).tasks:
            if task.state in (TaskState.PENDING, TaskState.READY):
                self.store.update_task(task.id, expect_states=[task.state],
                                       state=TaskState.CANCELLED, finished_at=now)
            elif task.state.in_flight:
                orders.append(CancelOrder(task.cell_id, task.id, task.epoch, error.message))
        self._record(job_id, task_id)
        return orders

    def _advance(self, job_id: str, task_id: str, cancel_reason: str = ""
                 ) -> list[CancelOrder]:
        """Move a job forward after a change; record the event. Call inside a transaction."""
        job = self._job(job_id)
        now = self._clock()
        cancel_reason = cancel_reason or ("job cancelled" if job.cancel_requested else "job failed")
        orders: list[CancelOrder] = []
        if job.state.final:  # a task of an ended job still running (e.g. back from UNKNOWN)
            orders = [CancelOrder(t.cell_id, t.id, t.epoch, cancel_reason)
                      for t in job.tasks if t.state.in_flight]
            self._record(job_id, task_id)
            return orders
        failed = next((t for t in job.tasks if t.state is TaskState.FAILED), None)
        if all(t.state is TaskState.SUCCEEDED for t in job.tasks):  # even if a cancel came late
            self.store.update_job(job_id, now, state=JobState.SUCCEEDED)
        elif job.cancel_requested or failed is not None:
            for task in job.tasks:
                if task.state in (TaskState.PENDING, TaskState.READY):
                    self.store.update_task(task.id, expect_states=[task.state],
                                           state=TaskState.CANCELLED, finished_at=now)
                elif task.state.in_flight:
                    orders.append(CancelOrder(task.cell_id, task.id, task.epoch, cancel_reason))
            if job.cancel_requested and not orders:
                self.store.update_job(job_id, now, state=JobState.CANCELLED)
            elif failed is not None:
                self.store.update_job(job_id, now, state=JobState.FAILED, error=failed.error)
        else:
            done = {t.step_id for t in job.tasks if t.state is TaskState.SUCCEEDED}
            for task in job.tasks:
                if task.state is TaskState.PENDING and set(task.needs) <= done:
                    self.store.update_task(task.id, expect_states=[TaskState.PENDING],
                                           state=TaskState.READY)
            unknown = any(t.state is TaskState.UNKNOWN for t in job.tasks)
            started = job.state is not JobState.QUEUED or any(t.attempt > 0 for t in job.tasks)
            state = JobState.HELD if unknown else JobState.RUNNING if started else JobState.QUEUED
            if state is not job.state:
                self.store.update_job(job_id, now, state=state)
            if state is JobState.HELD and job.state is not JobState.HELD:
                lost = [t.step_id for t in job.tasks if t.state is TaskState.UNKNOWN]
                log.warning("job %s is HELD and needs an operator: the outcome of step(s) %s is "
                            "unknown; check the cell, then `cellwright job retry %s STEP`, "
                            "`cellwright job resume %s` or `cellwright job cancel %s`",
                            job_id, ", ".join(lost), job_id, job_id, job_id)
        self._record(job_id, task_id)
        return orders


def _job_id(job_id: str) -> str:
    if not job_id:
        raise InvalidArgument("job_id", "required: the id SubmitJob returned, e.g. job-1a2b...")
    return job_id


def _found(job: Job | None, job_id: str) -> Job:
    if job is None:
        raise NotFound(f"job {quote(job_id)} not found")
    return job


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise InvalidArgument("reason", "required: say what you checked, for the record")
    if len(reason) > MAX_REASON:
        raise InvalidArgument("reason", f"longer than {MAX_REASON} characters")
