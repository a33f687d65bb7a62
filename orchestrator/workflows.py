"""Workflows: YAML files of steps that expand a job into tasks.

Minimal form (grows into the full integrator language later; unknown keys are refused
so that growing never changes the meaning of an old file)::

    name: pick-place            # [a-z0-9-]
    version: 1                  # integer >= 1; jobs name "pick-place" or "pick-place@1"
    description: ...
    params:                     # what a job must/may pass (cellwright.schema); no default
                                # means required
      part: {type: string, enum: [red_cube, blue_cube]}
      to: {type: string, default: outfeed_a}
    steps:
      - id: transfer            # unique within the workflow
        skill: pick_place       # a skill some cell offers
        with: {part: "${params.part}", place_at: "${params.to}"}
        needs: []               # ids of steps that must succeed first
        retries: 1              # extra attempts after a retryable failure
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellwright.api.schema import SchemaError, check_schema, quote, validate
from cellwright.api.yamlfile import load_yaml
from cellwright.orchestrator.errors import InvalidArgument, NotFound

BUILTIN_DIR = Path(__file__).parent / "builtin_workflows"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
STEP_ID = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,62}$")
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REF = re.compile(r"\$\{params\.([A-Za-z_][A-Za-z0-9_]*)\}")
ANY_REF = re.compile(r"\$\{[^}]*\}?")
STEP_KEYS = {"id", "skill", "with", "needs", "retries"}
TOP_KEYS = {"name", "version", "description", "params", "steps"}


class WorkflowError(ValueError):
    """A workflow file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Step:
    id: str
    skill: str
    with_: Mapping[str, Any]
    needs: tuple[str, ...]
    retries: int


@dataclass(frozen=True)
class Workflow:
    name: str
    version: int
    description: str
    params_schema: Mapping[str, Any]
    steps: tuple[Step, ...]
    source: str

    def bind(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate job params and fill defaults; errors name the field as `params.<name>`."""
        try:
            return validate(self.params_schema, params, "params", f"workflow {self.name}")
        except SchemaError as exc:
            raise InvalidArgument(exc.field, exc.problem) from exc

    def expand(self, params: Mapping[str, Any]) -> list[tuple[Step, dict[str, Any]]]:
        """Each step with its `with` parameters resolved against bound job params."""
        return [(step, _substitute(dict(step.with_), params)) for step in self.steps]


def _substitute(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        whole = REF.fullmatch(value)
        if whole:
            return params[whole.group(1)]
        return REF.sub(lambda m: str(params[m.group(1)]), value)
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    return value


def _references(value: Any) -> Iterable[str]:
    """Every `${...}` in the strings of `value` (an unclosed one runs to the string's end)."""
    if isinstance(value, str):
        yield from ANY_REF.findall(value)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _references(v)


def parse_workflow(text: str, source: str) -> Workflow:
    """Parse and validate one workflow document; WorkflowError says where and what."""
    def fail(field: str, problem: str) -> WorkflowError:
        return WorkflowError(f"{source}: {field}: {problem}")

    try:
        doc = load_yaml(text, source)
    except ValueError as exc:
        raise WorkflowError(str(exc)) from exc
    if not isinstance(doc, dict):
        raise fail("(top)", "expected a mapping with name, version, steps")
    if extra := set(doc) - TOP_KEYS:
        raise fail(sorted(extra)[0], f"unknown key; allowed: {sorted(TOP_KEYS)}")
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not NAME.match(name):
        raise fail("name", f"{name!r} must match {NAME.pattern}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail("version", f"{version!r} must be an integer >= 1")
    properties = doc.get("params") or {}
    if not isinstance(properties, dict):
        raise fail("params", "expected a mapping of parameter specs")
    for param in properties:
        if not isinstance(param, str) or not PARAM_NAME.match(param):
            raise fail(f"params.{param}", f"a parameter name must match {PARAM_NAME.pattern}")
    schema = {"type": "object", "properties": properties,
              "required": [n for n, spec in properties.items()
                           if not isinstance(spec, dict) or "default" not in spec]}
    try:
        check_schema(schema, "params")
    except SchemaError as exc:
        raise fail(exc.field, exc.problem) from exc
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail("steps", "give at least one step")
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        steps.append(_parse_step(raw, f"steps[{i}]", fail, set(properties)))
    ids = [s.id for s in steps]
    for i, step in enumerate(steps):
        if step.id in ids[:i]:
            raise fail(f"steps[{i}].id", f"duplicate step id {step.id!r}")
        for need in step.needs:
            if need not in ids:
                raise fail(f"steps[{i}].needs", f"no step {need!r}; steps are {ids}")
    _check_acyclic(steps, fail)
    return Workflow(name, version, str(doc.get("description", "")), schema, tuple(steps), source)


def _parse_step(raw: Any, where: str, fail: Any, param_names: set[str]) -> Step:
    if not isinstance(raw, dict):
        raise fail(where, "expected a mapping with id and skill")
    if extra := set(raw) - STEP_KEYS:
        raise fail(f"{where}.{sorted(extra)[0]}", f"unknown key; allowed: {sorted(STEP_KEYS)}")
    step_id, skill = raw.get("id"), raw.get("skill")
    if not isinstance(step_id, str) or not STEP_ID.match(step_id):
        raise fail(f"{where}.id", f"{step_id!r} must match {STEP_ID.pattern}")
    if not isinstance(skill, str) or not skill:
        raise fail(f"{where}.skill", "name the skill to run")
    with_ = raw.get("with") or {}
    if not isinstance(with_, dict):
        raise fail(f"{where}.with", "expected a mapping of skill parameters")
    for ref in _references(with_):
        match = REF.fullmatch(ref)
        if match is None:
            raise fail(f"{where}.with", f"{ref!r} is not a reference; write ${{params.<name>}}")
        if match.group(1) not in param_names:
            raise fail(f"{where}.with", f"{ref} is not a declared parameter")
    needs = raw.get("needs") or []
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise fail(f"{where}.needs", "expected a list of step ids")
    retries = raw.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise fail(f"{where}.retries", f"{retries!r} must be an integer 0..10")
    return Step(step_id, skill, with_, tuple(needs), retries)


def _check_acyclic(steps: list[Step], fail: Any) -> None:
    needs = {s.id: set(s.needs) for s in steps}
    done: set[str] = set()
    while needs:
        free = [s for s, n in needs.items() if n <= done]
        if not free:
            raise fail("steps", f"the needs of {sorted(needs)} form a cycle")
        for s in free:
            done.add(s)
            del needs[s]


class WorkflowRegistry:
    """Every workflow version found in the built-in folder and the given folders."""

    def __init__(self, folders: Iterable[Path] = ()) -> None:
        self._versions: dict[str, dict[int, Workflow]] = {}
        for folder in (BUILTIN_DIR, *folders):
            if not Path(folder).is_dir():
                raise WorkflowError(f"{folder}: not a folder; give a folder of workflow files")
            paths = sorted([*Path(folder).glob("*.yaml"), *Path(folder).glob("*.yml")])
            if not paths:
                raise WorkflowError(f"{folder}: no workflow files (*.yaml, *.yml) in it")
            for path in paths:
                self.add(parse_workflow(path.read_text(), str(path)))

    def add(self, workflow: Workflow) -> None:
        versions = self._versions.setdefault(workflow.name, {})
        if workflow.version in versions:
            raise WorkflowError(f"{workflow.source}: {workflow.name}@{workflow.version} is "
                                f"already defined in {versions[workflow.version].source}")
        versions[workflow.version] = workflow

    def names(self) -> list[str]:
        return sorted(self._versions)

    def resolve(self, ref: str) -> Workflow:
        """`name` (newest version) or `name@version`; NotFound lists what exists."""
        name, at, version = ref.partition("@")
        versions = self._versions.get(name)
        if not versions:
            raise NotFound(f"workflow {quote(name)} not found; known workflows: {self.names()}")
        if not at:
            return versions[max(versions)]
        if not version.isdigit() or int(version) not in versions:
            raise NotFound(f"workflow {quote(name)} has no version {quote(version)}; "
                           f"versions: {sorted(versions)}")
        return versions[int(version)]
