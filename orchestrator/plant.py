"""Submit-time truth: what the plant (every cell ever seen, and the skills' schemas) can run.

A job is refused at submit, naming the step, when no known cell could run one of its
steps, or when a skill would refuse the parameters already bound. While the plant knows
no cell at all (a new orchestrator), nothing is refused: jobs wait for cells.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cellwright.api.schema import CELL_ID, SchemaError, quote, validate
from cellwright.orchestrator.errors import FailedPrecondition, InvalidArgument
from cellwright.orchestrator.expand import RenderError, render
from cellwright.orchestrator.model import KnownCell, ReadyTask, SkillSchema, Task, TaskSpec, TaskState
from cellwright.orchestrator.scheduler import CellIndex, CellOffer
from cellwright.orchestrator.workflow.expressions import is_template
from cellwright.orchestrator.workflow.model import Placement, Workflow


def check_pin(pin: Placement) -> None:
    """A job's pin names cells and tags only."""
    if pin.kind or pin.model or pin.same_cell_as:
        raise InvalidArgument("placement", "a job pins cells and tags only; kind, model and "
                              "same_cell_as belong to steps (place: in the workflow)")
    for cell in pin.cells:
        if not CELL_ID.match(cell):
            raise InvalidArgument("placement.cells", f"{quote(cell)} is not a cell id")


def offer(cell: KnownCell) -> CellOffer:
    return CellOffer(cell.cell_id, "", cell.skills, cell.tags, cell.kinds, cell.models)


def capable(task: Task, pin: Placement, cells: CellIndex) -> list[str]:
    """Known cells that could run `task` within `pin` (and on its `same_cell`, once set)."""
    return cells.admitting(ReadyTask(task, 0, 0.0, 0.0, pin=pin))


def check_runnable(workflow: Workflow, tasks: Sequence[Task], pin: Placement,
                   params: Mapping[str, Any], cells: CellIndex,
                   skills: Mapping[str, SkillSchema]) -> None:
    """Raise FailedPrecondition naming the step no known cell could run, or
    InvalidArgument naming a parameter its skill would refuse."""
    if not cells:
        return
    for task in tasks:
        if task.spec.operator is not None:
            continue
        if cells.find(ReadyTask(task, 0, 0.0, 0.0, pin=pin)) is None:
            raise FailedPrecondition(_cannot_run("step", task, pin, cells))
        follow = task.spec.place.same_cell_as
        sources = [t for t in tasks if t.step_id == follow]
        able = capable(task, pin, cells) if follow and sources else []
        if follow and sources and not set(able) & {c for t in sources for c in capable(t, pin, cells)}:
            raise FailedPrecondition(
                f"step {task.step_id} must run on the cell that ran {follow} (same_cell_as), "
                f"and no known cell can run both: {task.step_id} on {able}, {follow} on "
                f"{sorted({c for t in sources for c in capable(t, pin, cells)})}; the job could "
                "never finish")
        schema = skills.get(task.skill)
        if schema is None or not schema.params_schema:  # none declared: nothing to check
            continue
        try:
            validate(_without_required(schema.params_schema, task), _bound(task, params),
                     f"steps.{task.step_id}.with",
                     f"skill {task.skill}")
        except SchemaError as exc:
            raise InvalidArgument(exc.field, f"{exc.problem} (step {task.step_id} of "
                                  f"{workflow.name}@{workflow.version}, bound from the job's "
                                  "params)") from exc
    for step in workflow.recovery:  # runs only after a failure, and then needs a cell too
        task = Task(step.id, "", step.id, step.skill, {}, (), TaskState.PENDING,
                    spec=TaskSpec(place=step.place))
        if step.operator is None and cells.find(ReadyTask(task, 0, 0.0, 0.0, pin=pin)) is None:
            raise FailedPrecondition(_cannot_run("recovery step", task, pin, cells))


def _cannot_run(what: str, task: Task, pin: Placement, cells: CellIndex) -> str:
    return (f"{what} {task.step_id}: no known cell can run it: it needs skill "
            f"{quote(task.skill)}{_terms(task.spec.place, pin)}; known cells: "
            f"{_describe(cells)}. Connect such a cell, or change the workflow or the pin")


def check_schema_conflicts(cell_id: str, advertised: Sequence[SkillSchema],
                           known: Mapping[str, SkillSchema]) -> None:
    """One skill name means one schema across the plant: FailedPrecondition with the
    difference if `cell_id` advertises another schema for a known name (a schema not
    declared, `{}`, differs from none)."""
    for skill in advertised:
        before = known.get(skill.name)
        if before is None or before.first_cell == cell_id:
            continue
        for what, mine, theirs in (("params", skill.params_schema, before.params_schema),
                                   ("result", skill.result_schema, before.result_schema)):
            if mine and theirs and _canon(mine) != _canon(theirs):  # {}: not declared
                raise FailedPrecondition(
                    f"cell {cell_id} advertises skill {skill.name} with another {what} schema "
                    f"than the plant knows (first from cell {before.first_cell}): "
                    f"{_difference(theirs, mine)}. One skill name means one schema: rename the "
                    "skill, or make the schemas equal")


def _bound(task: Task, params: Mapping[str, Any]) -> dict[str, Any]:
    """The `with` values known at submit: literals and templates of params alone."""
    env = {"params": params, "job": {"id": task.job_id}, "item": task.item, "index": task.index}
    bound = {}
    for key, value in task.spec.with_.items():
        if is_template(value) and "steps." in json.dumps(value):
            continue
        try:
            bound[key] = render(value, env)
        except RenderError:
            continue
    return bound


def _without_required(schema: Mapping[str, Any], task: Task) -> dict[str, Any]:
    """The skill's schema, with params filled only at run time (from step results) not
    required yet."""
    later = {k for k, v in task.spec.with_.items() if is_template(v) and "steps." in json.dumps(v)}
    return {**schema, "required": [r for r in schema.get("required", []) if r not in later],
            "properties": {k: v for k, v in schema.get("properties", {}).items() if k not in later}}


def _terms(place: Placement, pin: Placement) -> str:
    terms = [f"{k}={v}" for k, v in place.to_dict().items() if k != "same_cell_as"]
    terms += [f"job pin {k}={v}" for k, v in pin.to_dict().items()]
    return f" on a cell with {', '.join(terms)}" if terms else ""


def _describe(cells: CellIndex) -> str:
    first = sorted(cells, key=lambda c: c.cell_id)[:10]
    return "; ".join(f"{c.cell_id} (skills {sorted(c.skills)}, tags {sorted(c.tags)}, kinds "
                     f"{sorted(c.kinds)}, models {sorted(c.models)})" for c in first)


def _canon(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True)


def _difference(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    props_b, props_n = before.get("properties", {}), now.get("properties", {})
    parts = [f"{k}: {_canon(props_b[k])} -> {_canon(props_n[k])}"
             for k in sorted(set(props_b) & set(props_n)) if props_b[k] != props_n[k]]
    parts += [f"+{k}" for k in sorted(set(props_n) - set(props_b))]
    parts += [f"-{k}" for k in sorted(set(props_b) - set(props_n))]
    if before.get("required", []) != now.get("required", []):
        parts.append(f"required {before.get('required', [])} -> {now.get('required', [])}")
    return ", ".join(parts) or f"{_canon(before)} -> {_canon(now)}"
