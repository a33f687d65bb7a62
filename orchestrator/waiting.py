"""Why a job is not moving, in words, for `GetJob` (computed when asked, never stored: it
changes as cells come and go)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from cellwright.orchestrator.model import Job, KnownCell, ReadyTask, Reservation, Task, TaskState
from cellwright.orchestrator.plant import offer
from cellwright.orchestrator.scheduler import CellIndex, admits


def explain(job: Job, connected: CellIndex, known: Sequence[KnownCell],
            reservations: Sequence[Reservation], now: float) -> Job:
    """`job` with `waiting_reason` set on each task that waits and on the job (the first)."""
    if job.state.final:
        return job
    held = {r.resource: r for r in reservations}
    tasks = tuple(replace(t, waiting_reason=reason) if (reason := _reason(job, t, connected, known, held, now))
                  else t for t in job.tasks)
    first = next((t.waiting_reason for t in tasks if t.waiting_reason), "")
    return replace(job, tasks=tasks, waiting_reason=first)


def _reason(job: Job, task: Task, connected: CellIndex, known: Sequence[KnownCell],
            held: dict[str, Reservation], now: float) -> str:
    if task.state is TaskState.AWAITING_OPERATOR:
        return f"step {task.step_id} waits for a person to confirm: {task.params.get('prompt', '')}"
    if task.state is TaskState.HELD:
        why = task.error.message if task.error else task.operator_note
        return f"step {task.step_id} is held for an operator ({why}); resume, retry, skip or cancel it"
    if task.state is TaskState.UNKNOWN:
        return f"the outcome of step {task.step_id} is unknown ({task.error.message if task.error else ''})"
    if task.state is not TaskState.READY:
        return ""
    if task.not_before > now:
        return f"step {task.step_id} retries after its backoff, at " + \
            time.strftime("%H:%M:%S", time.localtime(task.not_before))
    item = ReadyTask(task, job.priority, job.deadline, job.created_at, pin=job.pin)
    if connected.find(item) is None:
        could = [c.cell_id for c in known if admits(item, offer(c))]
        return (f"no connected cell can run step {task.step_id} (skill {task.skill}); known cells "
                f"that could: {', '.join(could) or 'none'}; it waits for one to connect")
    for resource in task.spec.reserve:
        holder = held.get(resource)  # a READY task holds nothing, not even its own old attempt's
        if holder is not None:
            suspect = " (SUSPECT: its cell was lost; an operator must check the station and " \
                      "release it)" if holder.state == "SUSPECT" else ""
            who = f"its own earlier attempt (epoch {holder.epoch})" if holder.task_id == task.id \
                else holder.task_id
            return f"step {task.step_id} waits for {resource}, held by {who}{suspect}"
    return ""
