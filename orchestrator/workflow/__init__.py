"""The workflow language v1: the records (`model`), expressions in `${...}`
(`expressions`), YAML with positions (`source`) and checking/loading (`validate`).

    workflow = load(text, "kitting.yaml", Catalog(skills=..., layout=...))  # WorkflowInvalid
    workflow, diagnostics = check(text, "kitting.yaml")                    # every problem
    params = bind_params(workflow, {"parts": ["red_cube"]})               # SchemaError
"""

from cellwright.orchestrator.workflow.model import OnFailure, Operator, Placement, Retry, Step, Workflow
from cellwright.orchestrator.workflow.validate import (
    Catalog,
    Diagnostic,
    SkillSpec,
    WorkflowInvalid,
    bind_params,
    check,
    load,
)

__all__ = ["Catalog", "Diagnostic", "OnFailure", "Operator", "Placement", "Retry", "SkillSpec", "Step",
           "Workflow", "WorkflowInvalid", "bind_params", "check", "load"]
