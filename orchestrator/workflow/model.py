"""A workflow as the orchestrator runs it: frozen records, built by `workflow.parse` from
YAML that passed validation (so every field here is already checked).

Strings that may hold expressions (`with` values, `when`, `for_each`, `count`, `outputs`)
stay as written; `cellwright.orchestrator.workflow.expressions` parses them, and the
engine renders them when their inputs are known (job params at submit, step results when
a task becomes ready).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

API_VERSION = "cellwright/v1"
LEGACY = "0.1"  # a 0.1 file (name, version, steps with retries): still loads
FailureAction = Literal["fail", "hold", "continue", "run"]


@dataclass(frozen=True)
class Placement:
    """Where a step may run; every term given must hold (an empty Placement: any cell
    offering the skill)."""

    cells: tuple[str, ...] = ()  # one of these cell ids
    tags: tuple[str, ...] = ()  # a cell with all of these tags
    kind: str = ""  # a cell with a component of this kind: arm, gripper, base, io
    model: str = ""  # a cell with a robot of this model, e.g. franka_panda
    same_cell_as: str = ""  # the cell that ran this step (a step this one needs)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in {"cells": list(self.cells), "tags": list(self.tags),
                                  "kind": self.kind, "model": self.model,
                                  "same_cell_as": self.same_cell_as}.items() if v}


@dataclass(frozen=True)
class Retry:
    """How often a failed step runs again. `attempts` counts the first run too."""

    attempts: int = 1  # 1..10
    backoff_s: float = 0.0  # wait before the 2nd attempt; doubles for each later one
    on: tuple[str, ...] = ()  # failure reasons retried; empty: those the cell marks retryable


@dataclass(frozen=True)
class OnFailure:
    """What a step's final failure does to its job."""

    action: FailureAction = "fail"  # fail the job | hold it for an operator | continue as if
    step: str = ""  # it succeeded | run the recovery step `step`, then `then`
    then: Literal["fail", "hold", "continue"] = "fail"


@dataclass(frozen=True)
class Operator:
    """A person confirms through the API (ConfirmStep) instead of a cell running a skill."""

    prompt: str
    timeout_s: float = 0.0  # 0: waits for ever; on the orchestrator's clock


@dataclass(frozen=True)
class Step:
    id: str
    skill: str = ""  # "" for an operator step
    with_: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    when: str = ""  # an expression text; "" = always
    place: Placement = Placement()
    timeout_s: float = 0.0  # start-to-close on the cell's clock; 0 = none
    retry: Retry = Retry()
    on_failure: OnFailure = OnFailure()
    for_each: str = ""  # an expression (params and literals only) giving the list to repeat over
    count: str = ""  # an integer or an expression (params only) giving how many times
    reserve: tuple[str, ...] = ()  # stations or zones of the layout held while the step runs
    operator: Operator | None = None
    description: str = ""

    @property
    def repeated(self) -> bool:
        return bool(self.for_each or self.count)


@dataclass(frozen=True)
class Workflow:
    name: str
    description: str
    params_schema: Mapping[str, Any]  # an object schema (cellwright.api.schema)
    steps: tuple[Step, ...]
    recovery: tuple[Step, ...] = ()  # steps that run only from an on_failure: {run: ...}
    outputs: Mapping[str, Any] = field(default_factory=dict)  # name -> value or template
    source: str = ""  # the YAML text as written
    origin: str = ""  # where it came from: a file path, "PutWorkflow", ...
    format: str = API_VERSION  # or LEGACY
    version: int = 0  # assigned by the store; 0 until stored

    def step(self, step_id: str) -> Step:
        """The step (or recovery step) with this id; KeyError if none."""
        for step in (*self.steps, *self.recovery):
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"
