"""How a job moves on after a change: a pure function from the job as stored to the job
as it should be (tasks released, skipped, failed over to recovery; the job's own state and
outputs), plus the cancels to send. The engine writes the difference in one transaction.

Rules (docs/workflows.md, "How a job runs"):
- a step's tasks become ready when every task of every step it `needs` is done
  (SUCCEEDED, SKIPPED, or FAILED under `on_failure: continue`); its `when` is checked
  then: false makes it SKIPPED; its `with` is rendered; an operator step waits for a
  person (AWAITING_OPERATOR);
- a task failed for good follows its `on_failure`: `fail` fails the job; `continue` counts
  it as done; `hold` holds the task for an operator (HELD); `run: X` starts recovery task
  X once, then its `then` applies;
- a job is HELD while a task is HELD or UNKNOWN, SUCCEEDED when every task is done (its
  outputs rendered then), FAILED or CANCELLED once nothing of it is in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cellwright.orchestrator.expand import RenderError, environment, render
from cellwright.orchestrator.model import Job, JobState, Task, TaskError, TaskState


@dataclass
class Plan:
    """What to write: the tasks as they should be, new (recovery) tasks, the job's state,
    error and outputs, and (cell, task id, epoch, reason) of tasks to cancel."""

    tasks: dict[str, Task]
    new_tasks: list[Task] = field(default_factory=list)
    state: JobState = JobState.QUEUED
    error: TaskError | None = None
    outputs: dict[str, Any] | None = None
    cancels: list[tuple[str, str, int, str]] = field(default_factory=list)


StartRecovery = Callable[[Job, Task, str], Task]  # (job, failed task, recovery step id)


def counts_done(task: Task, tasks: dict[str, Task]) -> bool:
    if task.state.done:
        return True
    if task.state is not TaskState.FAILED:
        return False
    action = task.spec.on_failure
    if action.action == "continue":
        return True
    if action.action == "run":
        recovery = tasks.get(f"{task.id}/{action.step}")
        return recovery is not None and recovery.state.done and action.then == "continue"
    return False


def failing(task: Task, tasks: dict[str, Task]) -> bool:
    """A task whose failure fails its job (now, or once its recovery ended that way)."""
    if task.spec.recovery_for:
        return task.state is TaskState.FAILED
    if task.state is not TaskState.FAILED:
        return False
    action = task.spec.on_failure
    if action.action == "fail":
        return True
    if action.action == "run":
        recovery = tasks.get(f"{task.id}/{action.step}")
        return recovery is not None and recovery.state.final and action.then == "fail"
    return False


def advance(job: Job, now: float, start_recovery: StartRecovery, cancel_reason: str = "") -> Plan:
    """The job after applying the rules above until nothing more changes."""
    plan = Plan({t.id: t for t in job.tasks}, state=job.state, error=job.error)
    tasks = plan.tasks
    if job.state.final:  # a task of an ended job still running (e.g. back from UNKNOWN)
        plan.cancels = [(t.cell_id, t.id, t.epoch, cancel_reason or f"job {job.state.value}")
                        for t in tasks.values() if t.state.in_flight]
        return plan
    changed = True
    while changed:
        changed = _release(job, plan, now) | _on_failure(job, plan, start_recovery)
    # a recovery task is inserted as it ended up (e.g. READY), not as it was started
    plan.new_tasks = [tasks[t.id] for t in plan.new_tasks]
    # every task done: SUCCEEDED, even if a cancel came too late to stop anything
    if all(counts_done(t, tasks) for t in tasks.values() if not t.spec.recovery_for) and \
            all(t.state.final for t in tasks.values()):
        try:
            env = environment(replace(job, tasks=tuple(tasks.values())))
            plan.outputs = render(dict(job.outputs_spec), env)
            plan.state = JobState.SUCCEEDED
        except RenderError as exc:
            plan.state, plan.error = JobState.FAILED, TaskError("outputs", str(exc))
        return plan
    failed = next((t for t in tasks.values() if failing(t, tasks)), None)
    if job.cancel_requested or failed is not None:
        _stop_rest(plan, now, cancel_reason or ("job cancelled" if job.cancel_requested else "job failed"))
        if failed is not None and not job.cancel_requested:
            plan.state, plan.error = JobState.FAILED, failed.error
        elif not plan.cancels:
            plan.state = JobState.CANCELLED
        return plan
    if any(t.state in (TaskState.UNKNOWN, TaskState.HELD) for t in tasks.values()):
        plan.state = JobState.HELD
    elif job.state is not JobState.QUEUED or any(t.attempt > 0 for t in tasks.values()) or \
            any(t.state is not TaskState.PENDING and t.state is not TaskState.READY
                for t in tasks.values()):
        plan.state = JobState.RUNNING
    else:
        plan.state = JobState.QUEUED
    return plan


def fail(job: Job, now: float, error: TaskError) -> Plan:
    """The job failed now for a reason of its own (its deadline passed): FAILED with
    `error`, tasks not started cancelled, running ones sent a cancel."""
    plan = Plan({t.id: t for t in job.tasks}, state=JobState.FAILED, error=error)
    _stop_rest(plan, now, error.message)
    return plan


def _stop_rest(plan: Plan, now: float, reason: str) -> None:
    """Cancel what has not started; ask the cells to stop what runs."""
    for task in list(plan.tasks.values()):
        if task.state in (TaskState.PENDING, TaskState.READY, TaskState.HELD,
                          TaskState.AWAITING_OPERATOR):
            plan.tasks[task.id] = replace(task, state=TaskState.CANCELLED, finished_at=now)
        elif task.state.in_flight:
            plan.cancels.append((task.cell_id, task.id, task.epoch, reason))


def _release(job: Job, plan: Plan, now: float) -> bool:
    """Make PENDING tasks whose needs are done READY (or SKIPPED, or waiting for an
    operator). Returns whether anything changed."""
    tasks = plan.tasks
    by_step: dict[str, list[Task]] = {}
    for t in tasks.values():
        if not t.spec.recovery_for:
            by_step.setdefault(t.step_id, []).append(t)
    changed = False
    base: dict[str, Any] | None = None  # what expressions see; rebuilt after each change
    for task in list(tasks.values()):
        if task.state is not TaskState.PENDING:
            continue
        if not all(counts_done(t, tasks) for need in task.needs for t in by_step.get(need, [])):
            continue
        if base is None:
            base = environment(replace(job, tasks=tuple(tasks.values())))
        env = {**base, "item": task.item, "index": task.index} if task.spec.repeated else base
        tasks[task.id] = _released(task, env, by_step, now)
        changed, base = True, None
    return changed


def _released(task: Task, env: dict[str, Any], by_step: dict[str, list[Task]], now: float) -> Task:
    """A task whose needs are done: SKIPPED, READY with its params, waiting for a person,
    or FAILED (reason `expression`) if a value it needs cannot be rendered."""
    try:
        if task.spec.when and render(task.spec.when, env) is not True:
            return replace(task, state=TaskState.SKIPPED, finished_at=now)
        params = render(dict(task.spec.with_), env)
        same_cell = _same_cell(task, by_step)
        prompt = render(task.spec.operator.prompt, env) if task.spec.operator else ""
    except RenderError as exc:
        return replace(task, state=TaskState.FAILED, finished_at=now,
                       error=TaskError("expression", str(exc)))
    if task.spec.operator is not None:
        return replace(task, state=TaskState.AWAITING_OPERATOR, assigned_at=now,
                       params={"prompt": prompt})
    return replace(task, state=TaskState.READY, params=params, same_cell=same_cell)


def _same_cell(task: Task, by_step: dict[str, list[Task]]) -> str:
    step = task.spec.place.same_cell_as
    if not step:
        return ""
    ran = by_step.get(step, [])
    source = next((t for t in ran if t.index == task.index), ran[0] if ran else None)
    if source is None or not source.cell_id:
        raise RenderError(f"same_cell_as: {step} did not run on any cell (it was skipped); "
                          f"step {task.step_id} has no cell to follow")
    return source.cell_id


def _on_failure(job: Job, plan: Plan, start_recovery: StartRecovery) -> bool:
    """A failed task's `on_failure`: `hold` holds it for an operator (whatever failed it: a
    cell, a person, a timeout, an expression); `run: X` starts recovery task X once, and
    after a recovery that succeeded `then: hold` holds the failed task."""
    changed = False
    for task in list(plan.tasks.values()):
        action = task.spec.on_failure
        if task.state is not TaskState.FAILED or task.spec.recovery_for:
            continue
        recovery_id = f"{task.id}/{action.step}"
        if action.action == "hold":
            plan.tasks[task.id] = replace(task, state=TaskState.HELD)
        elif action.action == "run" and recovery_id not in plan.tasks:
            recovery = start_recovery(job, task, action.step)
            plan.tasks[recovery.id] = recovery
            plan.new_tasks.append(recovery)
        elif action.action == "run" and action.then == "hold" and plan.tasks[recovery_id].state.done:
            plan.tasks[task.id] = replace(task, state=TaskState.HELD)
        else:
            continue
        changed = True
    return changed
