"""Task specs and placements as the store keeps them: JSON text, defaults left out (so a
0.1 row, `{}`, reads as the defaults)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from cellwright.orchestrator.model import TaskSpec
from cellwright.orchestrator.workflow.model import OnFailure, Operator, Placement, Retry


def placement_from_dict(data: Mapping[str, Any]) -> Placement:
    return Placement(cells=tuple(data.get("cells", ())), tags=tuple(data.get("tags", ())),
                     kind=data.get("kind", ""), model=data.get("model", ""),
                     same_cell_as=data.get("same_cell_as", ""))


def spec_to_json(spec: TaskSpec) -> str:
    data: dict[str, Any] = {
        "with": dict(spec.with_), "when": spec.when, "place": spec.place.to_dict(),
        "reserve": list(spec.reserve), "timeout_s": spec.timeout_s,
        "retry": {"attempts": spec.retry.attempts, "backoff_s": spec.retry.backoff_s,
                  "on": list(spec.retry.on)},
        "on_failure": {"action": spec.on_failure.action, "step": spec.on_failure.step,
                       "then": spec.on_failure.then},
        "recovery_for": spec.recovery_for, "repeated": spec.repeated}
    if spec.operator is not None:
        data["operator"] = {"prompt": spec.operator.prompt, "timeout_s": spec.operator.timeout_s}
    return json.dumps(data, sort_keys=True)


@functools.lru_cache(maxsize=4096)  # the tasks of one step share their text; TaskSpec is frozen
def spec_from_json(text: str) -> TaskSpec:
    data = json.loads(text)
    retry, failure, operator = data.get("retry", {}), data.get("on_failure", {}), data.get("operator")
    return TaskSpec(
        with_=data.get("with", {}), when=data.get("when", ""),
        place=placement_from_dict(data.get("place", {})), reserve=tuple(data.get("reserve", ())),
        timeout_s=data.get("timeout_s", 0.0),
        retry=Retry(attempts=retry.get("attempts", 1), backoff_s=retry.get("backoff_s", 0.0),
                    on=tuple(retry.get("on", ()))),
        on_failure=OnFailure(action=failure.get("action", "fail"), step=failure.get("step", ""),
                             then=failure.get("then", "fail")),
        operator=None if operator is None else Operator(operator["prompt"], operator["timeout_s"]),
        recovery_for=data.get("recovery_for", ""), repeated=data.get("repeated", False))
