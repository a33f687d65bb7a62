"""From a workflow to a job's tasks, and from finished steps to the values of later ones.

At submission every step becomes its tasks (one per repetition of a `for_each` / `count`
step), each carrying a copy of its step's spec, so a new workflow version never alters a
running job. When a task's needs are done, its `when` and `with` are rendered against the
job's params and the results of the steps it needs; when the job succeeds, its outputs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from cellwright.api.layout import Layout
from cellwright.orchestrator.model import Job, Task, TaskSpec, TaskState
from cellwright.orchestrator.workflow.expressions import ExprError, is_template, parse_template
from cellwright.orchestrator.workflow.model import Step, Workflow

MAX_REPETITIONS = 1000
STEP_REF = re.compile(r"steps\.([a-z0-9_][a-z0-9_-]{0,62})")


class RenderError(ValueError):
    """An expression could not be evaluated for this job (a value missing at run time)."""


def render(value: Any, env: Mapping[str, Any]) -> Any:
    """`value` with every template in it rendered against `env`."""
    if is_template(value):
        try:
            return parse_template(value).render(env)
        except ExprError as exc:
            raise RenderError(f"{value}: {exc}") from exc
    if isinstance(value, list):
        return [render(v, env) for v in value]
    if isinstance(value, Mapping):
        return {k: render(v, env) for k, v in value.items()}
    return value


def reserved(names: tuple[str, ...], layout: Layout) -> tuple[str, ...]:
    """The resources a step holds: each station named, and each zone named with the
    stations inside it (a zone and a station in it can never be held at once)."""
    held = set(names)
    for name in names:
        zone = layout.zones.get(name)
        if zone is not None:
            held.update(zone.stations)
    return tuple(sorted(held))


def spec_of(step: Step, layout: Layout, recovery_for: str = "") -> TaskSpec:
    return TaskSpec(with_=dict(step.with_), when=step.when, place=step.place,
                    reserve=reserved(step.reserve, layout), timeout_s=step.timeout_s,
                    retry=step.retry, on_failure=step.on_failure, operator=step.operator,
                    recovery_for=recovery_for, repeated=step.repeated)


def repetitions(step: Step, env: Mapping[str, Any]) -> list[tuple[int, Any]]:
    """(index, item) of each repetition; [(0, None)] for a step that is not repeated."""
    if step.for_each:
        items = render(step.for_each, env)
        if not isinstance(items, list):
            raise RenderError(f"step {step.id}: for_each gave {type(items).__name__}, not a list")
        if len(items) > MAX_REPETITIONS:
            raise RenderError(f"step {step.id}: for_each gave {len(items)} items; at most "
                              f"{MAX_REPETITIONS}")
        return list(enumerate(items))
    if step.count:
        count = render(step.count, env)
        if isinstance(count, str) and count.isdigit():  # a literal count: the model keeps its text
            count = int(count)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_REPETITIONS:
            raise RenderError(f"step {step.id}: count gave {count!r}; give an integer "
                              f"0..{MAX_REPETITIONS}")
        return [(i, None) for i in range(count)]
    return [(0, None)]


def task_id(job_id: str, step: Step, index: int) -> str:
    return f"{job_id}/{step.id}[{index}]" if step.repeated else f"{job_id}/{step.id}"


def expand(workflow: Workflow, params: Mapping[str, Any], job_id: str, layout: Layout
           ) -> tuple[Task, ...]:
    """Every task of a new job, PENDING (the engine then makes the free ones READY)."""
    env = {"params": params, "job": {"id": job_id}}
    return tuple(
        Task(id=task_id(job_id, step, index), job_id=job_id, step_id=step.id, skill=step.skill,
             params={}, needs=step.needs, state=TaskState.PENDING, spec=spec_of(step, layout),
             index=index, item=item)
        for step in workflow.steps for index, item in repetitions(step, env))


def recovery_task(job: Job, failed: Task, step: Step, layout: Layout) -> Task:
    """The task of recovery step `step` started by `failed`'s failure."""
    return Task(id=f"{failed.id}/{step.id}", job_id=job.id, step_id=step.id, skill=step.skill,
                params={}, needs=(), state=TaskState.PENDING,
                spec=spec_of(step, layout, recovery_for=failed.id), index=failed.index,
                item=failed.item)


def step_view(tasks: list[Task]) -> dict[str, Any]:
    """What `${steps.<id>}` gives for a step's tasks: result (a list for a repeated step;
    null when skipped), state and cell."""
    first = tasks[0]
    def result(task: Task) -> Any:
        return None if task.state is TaskState.SKIPPED else task.result
    return {"result": [result(t) for t in tasks] if first.spec.repeated else result(first),
            "state": first.state.value if len(tasks) == 1 else
            ("SUCCEEDED" if all(t.state is TaskState.SUCCEEDED for t in tasks) else "MIXED"),
            "cell": first.cell_id}


def environment(job: Job, task: Task | None = None) -> dict[str, Any]:
    """The values expressions see: params, job, steps (main steps, by id), and for a
    repeated task item and index."""
    by_step: dict[str, list[Task]] = {}
    for t in job.tasks:
        if not t.spec.recovery_for:
            by_step.setdefault(t.step_id, []).append(t)
    steps = {s: step_view(ts) for s, ts in by_step.items()}
    for step_id in _named_steps(job, task) - steps.keys():  # repeated zero times: no tasks
        steps[step_id] = {"result": [], "state": TaskState.SUCCEEDED.value, "cell": ""}
    env: dict[str, Any] = {"params": job.params, "job": {"id": job.id}, "steps": steps}
    if task is not None and task.spec.repeated:
        env["item"], env["index"] = task.item, task.index
    return env


def _named_steps(job: Job, task: Task | None) -> set[str]:
    """Steps the job's tasks need, and those named by the outputs (and `task`'s own
    expressions): a step among them with no task was repeated zero times."""
    named = {need for t in job.tasks for need in t.needs}
    texts: list[Any] = [dict(job.outputs_spec)]
    if task is not None:
        texts += [dict(task.spec.with_), task.spec.when]
    named.update(STEP_REF.findall(json.dumps(texts, default=str)))
    return named
