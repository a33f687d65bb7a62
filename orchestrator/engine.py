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

from cellwright.api.layout import EMPTY, Layout
from cellwright.api.schema import SchemaError, quote
from cellwright.orchestrator import expand, plant, progress, scheduler
from cellwright.orchestrator.catalog import WorkflowCatalog
from cellwright.orchestrator.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OrchestratorError,
)
from cellwright.orchestrator.model import (
    Job,
    JobState,
    KnownCell,
    Reservation,
    SkillSchema,
    StoredEvent,
    StoredWorkflow,
    Task,
    TaskError,
    TaskState,
)
from cellwright.orchestrator.store import Store, StoreReader
from cellwright.orchestrator.workflow import Diagnostic, bind_params
from cellwright.orchestrator.workflow.model import Placement, Step

log = logging.getLogger(__name__)

MAX_REQUEST_ID = 128
MAX_PARAMS_BYTES = 64 * 1024
MAX_LABELS = 32
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
MAX_LABEL_VALUE = 256
MAX_REASON = 1024
REJECTED = "rejected"  # a cell refused an assignment (not ready): not an attempt
NOT_FOUND = "not_found"  # this cell lacks what the step needs: offer it to another cell
MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True)
class Submission:
    request_id: str
    workflow: str
    params: dict[str, Any]
    priority: int = 0
    deadline: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    pin: Placement = Placement()


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
    cell: scheduler.CellOffer  # the offer it was made for (of one session of the cell)
    task: Task
    deadline: float

    @property
    def cell_id(self) -> str:
        return self.cell.cell_id


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

    def __init__(self, store: Store, *, encode_job: Callable[[Job], bytes],
                 on_event: Callable[[StoredEvent], None], layout: Layout = EMPTY,
                 clock: Callable[[], float] = time.time, reader: StoreReader | None = None) -> None:
        self.store = store
        self.reader = reader or store
        self.layout = layout
        self.workflows = WorkflowCatalog(store, layout, clock, self.reader)
        self._plant: tuple[scheduler.CellIndex, dict[str, SkillSchema]] | None = None
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
            known = [w.name for w in self.store.newest_workflows()]
            raise InvalidArgument("workflow", f"name a workflow; known: {known}")
        if not 0 <= sub.priority <= 1000:
            raise InvalidArgument("priority", f"{sub.priority} is outside 0..1000")
        if sub.deadline < 0:
            raise InvalidArgument("deadline", "must be after 1970")
        check_labels(sub.labels, "labels")
        body = json.dumps([sub.workflow, sub.params, sub.priority, sub.deadline, sub.labels,
                           *([sub.pin.to_dict()] if sub.pin.to_dict() else [])],
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
        plant.check_pin(sub.pin)
        workflow = self.workflows.resolve(sub.workflow)
        try:
            params = bind_params(workflow, sub.params)
        except SchemaError as exc:
            raise InvalidArgument(exc.field, exc.problem) from exc
        now = self._clock()
        job_id = f"job-{uuid.uuid4().hex[:16]}"
        try:
            tasks = expand.expand(workflow, params, job_id, self.layout)
        except expand.RenderError as exc:
            raise InvalidArgument("params", str(exc)) from exc
        plant.check_runnable(workflow, tasks, sub.pin, params, *self._known())
        job = Job(id=job_id, request_id=sub.request_id, workflow=sub.workflow,
                  workflow_version=workflow.version, params=params, priority=sub.priority,
                  deadline=sub.deadline, labels=dict(sub.labels), state=JobState.QUEUED,
                  tasks=tasks, created_at=now, updated_at=now,
                  outputs_spec=dict(workflow.outputs), pin=sub.pin)
        with self.store.transaction():
            self.store.insert_job(job, body_hash)
            self._advance(job_id, "")
        return self._job(job_id), True

    def put_workflow(self, source: str, origin: str) -> tuple[StoredWorkflow, bool, list[Diagnostic]]:
        """Validate and store a new workflow version durably (WorkflowService.PutWorkflow)."""
        with self.store.transaction():
            stored, created, diagnostics = self.workflows.put(source, origin)
        if created:
            log.info("workflow %s@%d stored (from %s)", stored.name, stored.version, origin)
        return stored, created, diagnostics

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

    def reservations(self) -> list[Reservation]:
        return self.reader.reservations()

    # --- the plant -----------------------------------------------------------------
    def remember_cell(self, cell: KnownCell, skills: Sequence[SkillSchema]) -> None:
        """Record a cell's hello durably. Raises FailedPrecondition (with the difference)
        if it advertises another schema for a skill name the plant knows."""
        cells, schemas = self._known()
        plant.check_schema_conflicts(cell.cell_id, skills, schemas)
        with self.store.transaction():
            self.store.remember_cell(cell, skills)
            self.store.after_commit(lambda: cells.put(plant.offer(cell)))
            changed = self.store.skill_schemas([s.name for s in skills])
            self.store.after_commit(lambda: schemas.update(changed))

    def hello(self, cell: KnownCell, boot_id: str, skills: Sequence[SkillSchema],
              reports: Sequence[TaskReport]) -> Reconciled:
        """A cell's hello, in one write: remember it (`remember_cell`), then `reconcile`
        the tasks it holds."""
        self.remember_cell(cell, skills)
        return self.reconcile(cell.cell_id, boot_id, reports)

    # --- operators -----------------------------------------------------------------
    def retry_task(self, job_id: str, task_ref: str, reason: str) -> tuple[Job, list[CancelOrder]]:
        """Run an UNKNOWN or HELD task of a HELD job again (once its needs are done). Its
        epoch rises now, so the cell that held it is fenced off: its late reports are stale
        and a run it still has is cancelled on its next hello."""
        job = self._job(job_id)
        task = self._task_of(job, task_ref)
        _require_reason(reason)
        if task.state not in (TaskState.UNKNOWN, TaskState.HELD):
            raise FailedPrecondition(
                f"task {task.id} is {task.state.value}; only a task whose outcome is unknown "
                "(UNKNOWN) or that is HELD can be retried")
        if job.state is not JobState.HELD:  # e.g. cancelled meanwhile: its tasks stay ended
            raise FailedPrecondition(f"job {job_id} is {job.state.value}; only a task of a HELD "
                                     "job can be retried")
        with self.store.transaction():
            self.store.update_task(  # PENDING: its needs, `when` and `with` are looked at anew
                task.id, expect_states=[task.state], expect_epoch=task.epoch,
                state=TaskState.PENDING, epoch=task.epoch + 1, error=None, finished_at=0.0,
                not_before=0.0, operator_note=f"retried by an operator: {reason}")
            orders = self._advance(job_id, task.id)
        log.warning("operator retried task %s of job %s: %s", task.id, job_id, reason)
        return self._job(job_id), orders

    def resume_job(self, job_id: str, reason: str) -> tuple[Job, list[CancelOrder]]:
        """An operator confirms the UNKNOWN tasks of a HELD job were done: they become
        SUCCEEDED (with their epoch raised, fencing the cell that held them) and the job
        goes on; operator-HELD tasks are released too."""
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
                    self.store.release(task.id, task.epoch)  # done: its cell left the station
                elif task.state is TaskState.HELD:
                    self._resume_task(task, reason)
            orders = self._advance(job_id, "")
        log.warning("operator resumed job %s: %s", job_id, reason)
        return self._job(job_id), orders

    def act(self, job_id: str, task_ref: str, action: str, reason: str, operator: str
            ) -> tuple[Job, list[CancelOrder]]:
        """An operator's action on one task: hold, resume, skip, cancel, retry, confirm or
        reject (see JobService.ActOnTask)."""
        if action == "retry":
            return self.retry_task(job_id, task_ref, reason)
        job = self._job(job_id)
        task = self._task_of(job, task_ref)
        _require_reason(reason)
        if action == "cancel":
            return self.cancel(job_id, f"step {task.step_id} cancelled by {operator or 'an operator'}: "
                               f"{reason}")
        if job.state.final:
            raise FailedPrecondition(f"job {job_id} is {job.state.value}; its tasks can no longer "
                                     "be changed")
        now, note = self._clock(), f"{action} by {operator or 'an operator'}: {reason}"
        allowed = {
            "hold": (TaskState.PENDING, TaskState.READY),
            "resume": (TaskState.HELD,),
            "skip": (TaskState.PENDING, TaskState.READY, TaskState.HELD, TaskState.UNKNOWN,
                     TaskState.AWAITING_OPERATOR, TaskState.FAILED, TaskState.ASSIGNED,
                     TaskState.RUNNING),
            "confirm": (TaskState.AWAITING_OPERATOR,),
            "reject": (TaskState.AWAITING_OPERATOR,),
        }
        if action not in allowed:
            raise InvalidArgument("action", f"{quote(action)} is not an action; use one of "
                                  f"{[*allowed, 'cancel', 'retry']}")
        if task.state not in allowed[action]:
            raise FailedPrecondition(
                f"task {task.id} is {task.state.value}; {action} applies to a task that is "
                f"{' or '.join(s.value for s in allowed[action])}")
        orders: list[CancelOrder] = []
        with self.store.transaction():
            if action == "hold":
                self.store.update_task(task.id, expect_states=[task.state], state=TaskState.HELD,
                                       operator_note=note)
            elif action == "resume":
                self._resume_task(task, reason)
            elif action == "skip":
                if task.state.in_flight:  # its rows stay until the cell reports the cancel
                    orders.append(CancelOrder(task.cell_id, task.id, task.epoch, f"skipped: {reason}"))
                self.store.update_task(task.id, expect_states=[task.state], state=TaskState.SKIPPED,
                                       epoch=task.epoch + 1, finished_at=now, operator_note=note)
            else:
                confirmed = action == "confirm"
                self.store.update_task(
                    task.id, expect_states=[TaskState.AWAITING_OPERATOR],
                    state=TaskState.SUCCEEDED if confirmed else TaskState.FAILED, finished_at=now,
                    result={"by": operator, "note": reason}, operator_note=note,
                    duration_s=now - task.assigned_at,
                    error=None if confirmed else TaskError("rejected_by_operator", note))
            orders += self._advance(job_id, task.id)
        log.warning("operator: %s task %s of job %s: %s", action, task.id, job_id, reason)
        return self._job(job_id), orders

    def _resume_task(self, task: Task, reason: str) -> None:
        """A HELD task runs (again): PENDING, so its needs and `when` are looked at anew."""
        self.store.update_task(task.id, expect_states=[TaskState.HELD], state=TaskState.PENDING,
                               error=None, not_before=0.0, epoch=task.epoch + 1,
                               operator_note=f"resumed by an operator: {reason}")

    def release_reservation(self, resource: str, reason: str) -> Reservation:
        """An operator checked the station and frees it."""
        _require_reason(reason)
        held = next((r for r in self.store.reservations() if r.resource == resource), None)
        if held is None:
            raise NotFound(f"{quote(resource)} is not reserved; reserved now: "
                           f"{[r.resource for r in self.store.reservations()]}")
        holder = self.store.get_task(held.task_id)
        if held.state == "HELD" and holder is not None and holder.state.in_flight and \
                holder.epoch == held.epoch:
            raise FailedPrecondition(
                f"{resource} is held by {held.task_id}, running on cell {held.cell_id}: it is "
                "freed when the task ends; skip or cancel the task to end it sooner")
        with self.store.transaction():  # a zone comes with its stations: the holder's rows go
            freed = self.store.release_holder(held.task_id, held.cell_id, held.boot_id, held.epoch)
        log.warning("operator released %s (held by %s, %s): %s", ", ".join(freed), held.task_id,
                    held.state, reason)
        return held

    def _task_of(self, job: Job, ref: str) -> Task:
        """The task `ref` names: its id, its id without the job, or its step id (if the
        step has one task)."""
        names = [t.id.partition("/")[2] for t in job.tasks]
        found = [t for t in job.tasks if ref in (t.id, t.id.partition("/")[2])] or \
            [t for t in job.tasks if t.step_id == ref]
        if not found:
            raise NotFound(f"job {job.id} has no task {quote(ref)}; its tasks: {names}")
        if len(found) > 1:
            raise InvalidArgument("task_id", f"step {quote(ref)} has {len(found)} tasks; name one: "
                                  f"{[t.id.partition('/')[2] for t in found]}")
        return found[0]

    def cancel(self, job_id: str, reason: str) -> tuple[Job, list[CancelOrder]]:
        """Ask for a job to end: queued tasks end now, running ones get a cancel; the job's
        reservations are released (a running task's when its cell reports it ended)."""
        job = self._job(job_id)
        if job.state.final:
            raise FailedPrecondition(f"job {job_id} is already {job.state.value}; nothing to cancel")
        with self.store.transaction():
            self.store.update_job(job_id, self._clock(), cancel_requested=True)
            released = self.store.release_job(job_id, keep_tasks=[  # those on a cell: on its report
                t.id for t in job.tasks if t.state.in_flight])
            orders = self._advance(job_id, "", cancel_reason=reason or "cancelled by client")
        if released:
            log.warning("job %s cancelled: released %s", job_id, ", ".join(released))
        return self._job(job_id), orders

    # --- dispatch ------------------------------------------------------------------
    def dispatch(self, cells: scheduler.CellIndex | Sequence[scheduler.CellOffer]
                 ) -> tuple[list[Assignment], list[CancelOrder]]:
        """Fail jobs whose deadline passed with READY tasks (cancelling their running
        tasks), fail operator steps past their timeout, then assign READY tasks to idle
        `cells` and take their reservations, all in one transaction (one fsync). An index
        given is used up: the cells assigned are taken out of it."""
        if not isinstance(cells, scheduler.CellIndex):
            cells = scheduler.CellIndex(cells)
        now = self._clock()
        assignments: list[Assignment] = []
        orders: list[CancelOrder] = []
        with self.store.transaction():
            for job_id, task_id in self.store.late_jobs(now):
                step = task_id.rpartition("/")[2]
                orders += self._fail_job(job_id, task_id, TaskError(
                    "deadline_exceeded", f"job deadline passed before step {step} could start"))
            for task in self.store.tasks_in_state(TaskState.AWAITING_OPERATOR):
                limit = task.spec.operator.timeout_s if task.spec.operator else 0.0
                if limit > 0 and now - task.assigned_at > limit:
                    self.store.update_task(
                        task.id, expect_states=[TaskState.AWAITING_OPERATOR], state=TaskState.FAILED,
                        finished_at=now, duration_s=now - task.assigned_at, error=TaskError(
                            "timeout", f"nobody confirmed operator step {task.step_id} within "
                            f"{limit:g} s"))
                    orders += self._advance(task.job_id, task.id)
            if not cells:
                return assignments, orders
            live = self.store.ready_tasks(cells.skills(), now, limit=8 + 4 * len(cells))
            held = {r.resource for r in self.store.reservations()} if live else set()
            for item, cell in scheduler.match(live, cells, held):
                try:
                    with self.store.transaction():  # a savepoint: one assignment or none of it
                        assigned = self._assign(item.task, cell, now)
                except _Contended as exc:
                    log.error("dispatch: %s; the task stays READY", exc)
                    continue
                if assigned is not None:
                    assignments.append(Assignment(cell, assigned, item.deadline))
        return assignments, orders

    def _assign(self, task: Task, cell: scheduler.CellOffer, now: float) -> Task | None:
        """Assign a READY task to `cell` under a new epoch and take its reservations."""
        epoch = task.epoch + 1
        if not self.store.update_task(
                task.id, expect_states=[TaskState.READY], state=TaskState.ASSIGNED,
                cell_id=cell.cell_id, boot_id=cell.boot_id, epoch=epoch,
                attempt=task.attempt + 1, assigned_at=now):
            return None
        if not self.store.reserve(Reservation(r, task.job_id, task.id, cell.cell_id, cell.boot_id,
                                              epoch, "HELD", now) for r in task.spec.reserve):
            holders = [f"{r.resource} by {r.task_id} ({r.state})" for r in self.store.reservations()
                       if r.resource in task.spec.reserve]
            raise _Contended(f"{task.id} needs {', '.join(task.spec.reserve)}, held: "
                             f"{', '.join(holders)} (the scheduler believed them free: a bug)")
        self.store.update_job(task.job_id, now, state=JobState.RUNNING, expect_state=JobState.QUEUED)
        self._record(task.job_id, task.id)
        return replace(task, state=TaskState.ASSIGNED, cell_id=cell.cell_id, epoch=epoch,
                       attempt=task.attempt + 1)

    def unassign(self, task_id: str, epoch: int) -> None:
        """An assignment that could not be sent (its cell's session ended meanwhile): the
        task is READY again, its reservations free, and the attempt does not count."""
        task = self.store.get_task(task_id)
        if task is None or task.state not in (TaskState.ASSIGNED, TaskState.UNKNOWN) or \
                task.epoch != epoch:
            return
        with self.store.transaction():  # UNKNOWN: lost by a reconnect before it was sent
            if self.store.update_task(task_id, expect_states=[task.state], expect_epoch=epoch,
                                      state=TaskState.READY, attempt=task.attempt - 1, error=None,
                                      finished_at=0.0):
                self.store.release(task_id, epoch)
                self._advance(task.job_id, task_id)

    # --- reports from cells --------------------------------------------------------
    def report(self, cell_id: str, boot_id: str, report: TaskReport
               ) -> tuple[bool, list[CancelOrder]]:
        """Apply a cell's task update. Returns (acknowledge?, cancels to send).

        Only the holder of the assignment may move a task: the same cell, the same process
        (boot id) and the same epoch. Anything else is stale: acknowledged and ignored, so
        the cell can forget it. A final report frees the task's reservations (even SUSPECT
        ones: this is the same boot, which knows what it did).
        """
        task = self.store.get_task(report.task_id)
        if task is None or (task.cell_id, task.boot_id, task.epoch) != (cell_id, boot_id, report.epoch):
            log.warning("ignoring stale report from %s (boot %s) for %s epoch %s", cell_id,
                        boot_id, report.task_id, report.epoch)
            if task is not None and report.state.final:  # out of the station: its own rows go
                with self.store.transaction():
                    self.store.release_holder(task.id, cell_id, boot_id, report.epoch)
            return True, []
        now = self._clock()
        with self.store.transaction():
            if report.state is TaskState.RUNNING:  # back from UNKNOWN: the cell_lost error goes
                if not self.store.update_task(task.id, expect_states=[TaskState.ASSIGNED, TaskState.UNKNOWN],
                                              expect_epoch=task.epoch, state=TaskState.RUNNING,
                                              error=None, finished_at=0.0):
                    return False, []
                if task.state is TaskState.ASSIGNED:  # its job is RUNNING already: nothing to advance
                    self._record(task.job_id, task.id)
                    return False, []
                self.store.unsuspect(task.id, task.epoch)
                return False, self._advance(task.job_id, task.id)
            if not report.state.final:
                return False, []
            fields = self._outcome(task, report, now)
            changed = self.store.update_task(
                task.id, expect_states=[TaskState.ASSIGNED, TaskState.RUNNING, TaskState.UNKNOWN],
                expect_epoch=task.epoch, result=report.result, duration_s=report.duration_s,
                finished_at=now, **fields)
            if changed:
                self.store.release(task.id, task.epoch)
            orders = self._advance(task.job_id, task.id) if changed else []
        return True, orders

    def _outcome(self, task: Task, report: TaskReport, now: float) -> dict[str, Any]:
        """What a final report makes of the task: its state and error, and for a retry its
        attempt, backoff or the cells it must avoid. A cell may end a task SUCCEEDED, FAILED,
        or CANCELLED when asked to (its job cancelled or ended); a CANCELLED nobody asked for
        is a failure (`stopped`), as is a FAILED without an error (`unknown`)."""
        if report.state is TaskState.SUCCEEDED:
            return {"state": TaskState.SUCCEEDED, "error": None}
        if report.state is TaskState.CANCELLED and self._cancel_asked(task.job_id):
            return {"state": TaskState.CANCELLED, "error": report.error}
        error = report.error or TaskError("unknown", f"cell {task.cell_id} reported the task "
                                          f"{report.state.value} without saying why")
        if report.state is TaskState.CANCELLED:  # nobody asked: the cell stopped it itself
            error = TaskError("stopped", f"cell {task.cell_id} ended the task itself (CANCELLED, "
                              f"not asked to): {error.message}")
        if error.reason == REJECTED:  # never started: not an attempt
            return {"state": TaskState.READY, "attempt": task.attempt - 1, "error": error}
        if error.reason == NOT_FOUND:
            excluded = (*task.excluded_cells, task.cell_id)
            others = [c for c in plant.capable(task, self._job(task.job_id).pin, self._known()[0])
                      if c not in excluded]
            if others:
                log.info("task %s: cell %s reported not_found; offering it to %s", task.id,
                         task.cell_id, ", ".join(others))
                return {"state": TaskState.READY, "attempt": task.attempt - 1, "error": error,
                        "excluded_cells": list(excluded)}
        retry = task.spec.retry
        retried = error.reason in retry.on if retry.on else error.retryable
        if retried and task.attempt < retry.attempts:
            backoff = min(MAX_BACKOFF_S, retry.backoff_s * 2 ** (task.attempt - 1))
            return {"state": TaskState.READY, "error": error,
                    "not_before": now + backoff if backoff else 0.0}
        return {"state": TaskState.FAILED, "error": error}  # on_failure: progress.advance

    def reconcile(self, cell_id: str, boot_id: str, reports: Sequence[TaskReport]) -> Reconciled:
        """A cell said hello listing the tasks it holds.

        Tasks the store has in flight (or UNKNOWN) on this cell that the cell does not list
        were never received if the cell did not restart (same boot id): they go back to
        READY (CANCELLED if their job has ended meanwhile) and free their reservations.
        After a restart the outcome of in-flight ones is unknown: UNKNOWN, the job HELD, and
        their reservations SUSPECT.
        """
        acks: list[tuple[str, int]] = []
        orders: list[CancelOrder] = []
        listed = {r.task_id for r in reports  # as the holder: a stale listing changes nothing
                  if (t := self.store.get_task(r.task_id)) is not None
                  and (t.cell_id, t.boot_id, t.epoch) == (cell_id, boot_id, r.epoch)}
        for report in reports:
            ack, more = self.report(cell_id, boot_id, report)
            orders += more
            if ack:
                acks.append((report.task_id, report.epoch))
            if report.state is TaskState.RUNNING:
                orders += self._unwanted(cell_id, boot_id, report)
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
                    self.store.release(task.id, task.epoch)
                else:
                    self._lose(task, f"cell {cell_id} restarted while holding the task; check "
                               "the cell, then cancel the job")
                orders += self._advance(task.job_id, task.id)
        unique = {(o.cell_id, o.task_id, o.epoch): o for o in orders}  # one cancel per task
        held = [t.id for t in self.store.tasks_on_cell(cell_id, [TaskState.ASSIGNED, TaskState.RUNNING])]
        return Reconciled(acks, list(unique.values()), held[0] if held else "")

    def _lose(self, task: Task, message: str) -> None:
        """The task's outcome is unknown: UNKNOWN, and what it reserved SUSPECT."""
        self.store.update_task(task.id, expect_states=[task.state], expect_epoch=task.epoch,
                               state=TaskState.UNKNOWN, finished_at=self._clock(),
                               error=TaskError("cell_lost", message))
        self.store.suspect(task.id, f"{message} (at {time.strftime('%Y-%m-%d %H:%M:%S')})")

    def _unwanted(self, cell_id: str, boot_id: str, report: TaskReport) -> list[CancelOrder]:
        """A cancel for a task a cell says it runs, if it should not: no longer its
        assignment (another epoch, or another boot's), or its job ended or is being
        cancelled (a cancel sent while the cell was away is not lost: it is sent again on
        every hello)."""
        task = self.store.get_task(report.task_id)
        if task is None or (task.epoch, task.boot_id) != (report.epoch, boot_id) or task.state.final:
            reason = "the orchestrator no longer assigns this task to you"
        else:
            job = self._job(task.job_id)
            if not (job.state.final or job.cancel_requested):
                return []
            reason = "job cancelled" if job.cancel_requested else f"job {job.state.value}"
        return [CancelOrder(cell_id, report.task_id, report.epoch, reason)]

    def cell_lost(self, cell_id: str, boot_id: str = "") -> list[CancelOrder]:
        """The lease of a cell's session (of `boot_id`, if known) expired: the tasks that
        boot holds become UNKNOWN, their jobs HELD, their reservations SUSPECT (kept until
        an operator or the same boot frees them)."""
        orders: list[CancelOrder] = []
        for task in self.store.tasks_on_cell(cell_id, [TaskState.ASSIGNED, TaskState.RUNNING]):
            if boot_id and task.boot_id != boot_id:  # a newer boot's: not this lease's
                continue
            with self.store.transaction():
                self._lose(task, f"lease of cell {cell_id} expired while it held the task")
                orders += self._advance(task.job_id, task.id)
        return orders

    # --- internals -----------------------------------------------------------------
    def _job(self, job_id: str) -> Job:
        """The job as the writer sees it (its own uncommitted changes included)."""
        return _found(self.store.get_job(_job_id(job_id)), job_id)

    def _record(self, job_id: str, task_id: str, job: Job | None = None) -> None:
        """Append the job's event: its snapshot as `job` (if given: the job as just written,
        so the writer need not read it back) or as read from the store."""
        now, snapshot = self._clock(), self._encode(job or self._job(job_id))
        event = StoredEvent(self.store.append_event(now, job_id, task_id, snapshot), now, job_id,
                            task_id, snapshot)
        self.store.after_commit(lambda: self._on_event(event))

    def _fail_job(self, job_id: str, task_id: str, error: TaskError) -> list[CancelOrder]:
        """Fail a job now (`progress.fail`); write it and record the event."""
        job = self._job(job_id)
        return self._apply(job, progress.fail(job, self._clock(), error), task_id)

    def _cancel_asked(self, job_id: str) -> bool:
        job = self._job(job_id)
        return job.cancel_requested or job.state.final

    def _known(self) -> tuple[scheduler.CellIndex, dict[str, SkillSchema]]:
        """The plant as the store has it: read once, then kept current by `remember_cell`
        (on this same writer thread, the only one that writes it) after each commit."""
        if self._plant is None:
            self._plant = (scheduler.CellIndex(plant.offer(c) for c in self.store.known_cells()),
                           self.store.skill_schemas())
        return self._plant

    def _start_recovery(self, job: Job, failed: Task, step_id: str) -> Task:
        """The recovery task, from the job's pinned version; if that cannot be read back (a
        newer Cellwright refusing an old text), the recovery fails, not the cell's report."""
        try:
            workflow = self.workflows.resolve(f"{job.workflow.partition('@')[0]}@{job.workflow_version}")
            return expand.recovery_task(job, failed, workflow.step(step_id), self.layout)
        except (OrchestratorError, KeyError) as exc:
            task = expand.recovery_task(job, failed, Step(step_id), self.layout)
            return replace(task, state=TaskState.FAILED, finished_at=self._clock(), error=TaskError(
                "internal", f"recovery step {step_id} of {job.workflow}@{job.workflow_version} "
                f"could not be read back: {exc}"))

    def _advance(self, job_id: str, task_id: str, cancel_reason: str = ""
                 ) -> list[CancelOrder]:
        """Move a job forward after a change (`progress.advance`). Call inside a transaction."""
        job = self._job(job_id)
        return self._apply(job, progress.advance(job, self._clock(), self._start_recovery,
                                                 cancel_reason), task_id)

    def _apply(self, job: Job, plan: progress.Plan, task_id: str) -> list[CancelOrder]:
        """Write what `plan` changes of `job` (compare-and-set per task), say what needs an
        operator, and record the event; the cancels to send."""
        job_id, now = job.id, self._clock()
        if plan.new_tasks:
            self.store.insert_tasks(job_id, len(job.tasks), plan.new_tasks)
        before = {t.id: t for t in job.tasks}
        for task in plan.tasks.values():
            old = before.get(task.id)
            if old is None or old == task:
                continue
            self.store.update_task(task.id, expect_states=[old.state], **{
                name: getattr(task, name) for name in _PROGRESS_FIELDS
                if getattr(task, name) != getattr(old, name)})
        updated = (plan.state, plan.error, plan.outputs) != (job.state, job.error, None)
        if updated:
            self.store.update_job(job_id, now, state=plan.state, error=plan.error,
                                  outputs=plan.outputs)
        if plan.state.final and not job.state.final:
            suspect = [r.resource for r in self.store.reservations()
                       if r.job_id == job_id and r.state == "SUSPECT"]
            if suspect:
                log.warning("job %s ended %s with %s SUSPECT: check, then `cellwright reservations "
                            "release RESOURCE --reason ...`", job_id, plan.state.value,
                            ", ".join(suspect))
        if plan.state is JobState.HELD and job.state is not JobState.HELD:
            waiting = [t.step_id for t in plan.tasks.values()
                       if t.state in (TaskState.UNKNOWN, TaskState.HELD)]
            log.warning("job %s is HELD and needs an operator: step(s) %s; check the cell, then "
                        "`cellwright job retry %s STEP --reason ...`, `cellwright job resume %s "
                        "--reason ...` or `cellwright job cancel %s`", job_id, ", ".join(waiting),
                        job_id, job_id, job_id)
        self._record(job_id, task_id, replace(  # as written above (update_job keeps a set error)
            job, tasks=tuple(plan.tasks.values()), state=plan.state,
            error=job.error if plan.error is None else plan.error,
            outputs=job.outputs if plan.outputs is None else plan.outputs,
            updated_at=now if updated else job.updated_at))
        return [CancelOrder(*c) for c in plan.cancels]


_PROGRESS_FIELDS = ("state", "params", "error", "finished_at", "same_cell", "assigned_at")


class _Contended(RuntimeError):
    """A reservation the scheduler thought free was held (its assignment is undone)."""


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
