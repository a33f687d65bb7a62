"""Check a workflow file and build its `Workflow`: every problem at once, each pointing at
file:line:column.

`check(text, origin, catalog)` returns the workflow (only when there is no error) and all
diagnostics; `load` raises `WorkflowInvalid` instead. Three passes, each going on past
problems so that one run reports everything:

1. YAML (`source.compose`): syntax errors, keys given twice.
2. Structure: `workflow.schema.json` (JSON Schema 2020-12, the same file editors use)
   through `jsonschema`; errors become one clear message per place, unknown keys get a
   "did you mean". A file without `apiVersion` but with `version` is the 0.1 format: it is
   checked against the schema's `$defs/legacy` and gets warnings saying how to upgrade.
3. Meaning: step ids, needs (unknown, cycles), every `${...}` (parses, refers to what is in
   scope, has the right type), placement and on_failure references, skills and their
   params (with `Catalog.skills`), reservations (with `Catalog.layout`), outputs.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from cellwright.api.layout import Layout
from cellwright.api.schema import SchemaError, check_property, check_value, clip, validate
from cellwright.orchestrator.workflow.expressions import ExprError, Template, parse_template
from cellwright.orchestrator.workflow.model import (
    API_VERSION,
    LEGACY,
    FailureAction,
    OnFailure,
    Operator,
    Placement,
    Retry,
    Step,
    Workflow,
)
from cellwright.orchestrator.workflow.source import Path as NodePath
from cellwright.orchestrator.workflow.source import Source, SourceProblem, compose

SCHEMA_FILE = Path(__file__).with_name("workflow.schema.json")
ANY: Mapping[str, Any] = {"type": "any"}
NUMERIC = ("number", "integer")
DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)\s*$")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
OPERATOR_RESULT = {"type": "object", "properties": {"by": {"type": "string"}, "note": {"type": "string"}}}
JOB = {"type": "object", "properties": {"id": {"type": "string"}}}


@dataclass(frozen=True)
class Diagnostic:
    """One problem, where it is. `path` names the value, e.g. "steps[1].with.part";
    `code` is a stable word for tools and tests (yaml, unknown-key, type, required, ...)."""

    file: str
    line: int
    column: int
    path: str
    message: str
    hint: str = ""
    severity: str = "error"  # or "warning"
    code: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "path": self.path,
                "severity": self.severity, "code": self.code, "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class SkillSpec:
    """What a workflow may know of a skill: its params schema (cellwright.api.schema) and its
    result schema (None: unknown, an open object)."""

    name: str
    params_schema: Mapping[str, Any]
    result_schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Catalog:
    """What a workflow is checked against. `skills` None: skill names and params are not
    checked (one warning says so); `layout` None: reservations are not checked (one
    warning if the workflow reserves anything)."""

    skills: Mapping[str, SkillSpec] | None = None
    layout: Layout | None = None


class WorkflowInvalid(ValueError):
    """A workflow has errors; `diagnostics` holds them (and any warnings)."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        super().__init__("\n".join(str(d).split("\n")[0] for d in errors) or "invalid workflow")


def check(text: str, origin: str, catalog: Catalog = Catalog()) -> tuple[Workflow | None, list[Diagnostic]]:
    """Every problem of the workflow in `text` (from `origin`, a path or a name used in the
    diagnostics), sorted by position; the Workflow when none of them is an error."""
    checker = _Checker(text, origin, catalog)
    workflow = checker.run()
    found = sorted(checker.diagnostics, key=lambda d: (d.line, d.column))
    if any(d.severity == "error" for d in found):
        return None, found
    return workflow, found


def load(text: str, origin: str, catalog: Catalog = Catalog()) -> Workflow:
    """The workflow in `text`; WorkflowInvalid (listing every error) if it has errors."""
    workflow, found = check(text, origin, catalog)
    if workflow is None:
        raise WorkflowInvalid(found)
    return workflow


def bind_params(workflow: Workflow, params: Mapping[str, Any]) -> dict[str, Any]:
    """A job's params checked against the workflow's, with defaults filled in.

    Raises:
        cellwright.api.schema.SchemaError: naming the field as `params.<name>`.
    """
    return validate(workflow.params_schema, params, "params", f"workflow {workflow.name}")


@functools.cache
def schema() -> Mapping[str, Any]:
    """The shipped JSON schema of the v1 format (its `$defs/legacy` describes 0.1)."""
    return cast(Mapping[str, Any], json.loads(SCHEMA_FILE.read_text()))


@functools.cache
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    v1 = Draft202012Validator(schema())
    return v1, cast(Draft202012Validator, v1.evolve(schema=schema()["$defs"]["legacy"]))


# --- helpers ----------------------------------------------------------------------------


def path_text(path: NodePath) -> str:
    """("steps", 1, "with") -> "steps[1].with"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def did_you_mean(word: str, choices: Any) -> str:
    """`did you mean `x`?` for the closest of `choices`, or ""."""
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def _listing(names: Any) -> str:
    names = sorted(str(n) for n in names)
    return ", ".join(names) if names else "none"


def _describe(value: Any) -> str:
    """`got ...` text: the type and a short quote of a value."""
    kind = _kind_of(value)
    if value is None or isinstance(value, dict | list):
        return kind
    return f"{kind} {clip(json.dumps(value) if not isinstance(value, str) else repr(value), 40)}"


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _kind(schema: Any) -> str:
    """The kind a JSON-schema-like type names; "any" when it names none."""
    if not isinstance(schema, Mapping):
        return "any"
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if kind is None and "properties" in schema:
        return "object"
    return "array" if kind is None and "items" in schema else "any"


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def duration_s(value: Any) -> float:
    """Seconds of a checked duration: a number, or "<n>ms|s|m|h"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = DURATION.match(str(value))
    return float(match.group(1)) * UNIT_S[match.group(2)] if match else 0.0


def _literal(value: Any) -> str:
    """An expression literal for a YAML scalar or list (for a literal for_each list)."""
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _literal_type(values: list[Any]) -> Mapping[str, Any]:
    kinds = {_kind_of(v) for v in values}
    if len(kinds) == 1:
        kind = kinds.pop()
        if kind in ("string", "integer", "number", "boolean"):
            return {"type": kind, "enum": list(dict.fromkeys(values))}
        return {"type": kind}
    return {"type": "number"} if kinds and kinds <= set(NUMERIC) else ANY


def _fits(actual: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    """Why a value of type `actual` (inferred) may not fit param `spec`; "" if it fits."""
    have, want = _kind(actual), _kind(spec)
    if "any" in (have, want) or have == "null":
        return ""
    if have != want and not (want == "number" and have == "integer"):
        return f"expected {want}, but the expression gives {_a(have)}"
    allowed, possible = spec.get("enum"), actual.get("enum")
    if isinstance(allowed, list) and isinstance(possible, list):
        bad = [v for v in possible if v not in allowed]
        if bad:
            return f"the expression can be {_listing(map(str, bad))}, which is not one of {_listing(allowed)}"
    if have == "array" and isinstance(actual.get("items"), Mapping) and isinstance(spec.get("items"), Mapping):
        inner = _fits(actual["items"], spec["items"])
        return f"items: {inner}" if inner else ""
    return ""


def _at(path: NodePath, message: str) -> str:
    """`message` prefixed with where it is (nothing for the file's top level)."""
    return f"{path_text(path)}: {message}" if path else message


def _description(spec: Any) -> str:
    """A property's description, following a `$ref` into the schema's $defs."""
    if not isinstance(spec, Mapping):
        return ""
    if "description" not in spec and str(spec.get("$ref", "")).startswith("#/$defs/"):
        spec = schema()["$defs"].get(str(spec["$ref"]).removeprefix("#/$defs/"), {})
    return str(spec.get("description", ""))


def _templates(value: Any, path: NodePath) -> Iterator[tuple[NodePath, str]]:
    """Every string holding `${` in a YAML value, with its path."""
    if isinstance(value, str):
        if "${" in value:
            yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _templates(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _templates(item, (*path, key))


# --- the checker ------------------------------------------------------------------------


FAILURE_REASONS = frozenset({  # what cells and the orchestrator give (cells/skills/base.py)
    "unreachable", "grasp_failed", "place_failed", "collision", "timeout", "limit", "stopped",
    "estop", "not_found", "invalid_params", "not_active", "internal", "unknown", "cell_lost",
    "invalid_result", "unknown_skill", "expression", "rejected_by_operator", "unstable", "fallen",
    "payload"})
LITERAL_KEYS = frozenset({"skill", "needs", "place", "reserve", "timeout", "retry", "on_failure"})


@dataclass
class _Scope:
    """What expressions of one place may use."""

    step: str  # "" for outputs
    steps: set[str]  # step ids whose results are visible
    repeated: str = ""  # "for_each", "count" or ""
    item: Mapping[str, Any] = field(default_factory=lambda: ANY)
    recovery: bool = False


class _Checker:
    def __init__(self, text: str, origin: str, catalog: Catalog) -> None:
        self.text, self.origin, self.catalog = text, origin, catalog
        self.diagnostics: list[Diagnostic] = []
        self.src = Source(None, text)
        self.bad: set[NodePath] = set()  # paths with structural errors
        self.params: dict[str, Any] = {}
        self.main: dict[str, int] = {}  # step id -> index in steps (the first one)
        self.recovery: dict[str, int] = {}
        self.needs: dict[str, list[str]] = {}
        self.kinds: dict[str, Mapping[str, Any]] = {}  # step id -> its type in `steps`
        self._seen: set[tuple[int, int, str]] = set()
        self.legacy = False

    # diagnostics

    def report(self, path: NodePath, message: str, hint: str = "", code: str = "", *,
               severity: str = "error", key: bool = False, at: tuple[int, int] | None = None) -> None:
        line, column = at or (self.src.key_position(path) if key else self.src.position(path))
        if (line, column, message) in self._seen:
            return
        self._seen.add((line, column, message))
        if severity == "error":
            self.bad.add(tuple(path))
        self.diagnostics.append(Diagnostic(self.origin, line, column, path_text(path), message, hint,
                                           severity, code))

    def broken(self, path: NodePath) -> bool:
        """True if a structural error was found at or below `path`."""
        n = len(path)
        return any(bad[:n] == tuple(path) for bad in self.bad)

    # passes

    def run(self) -> Workflow | None:
        try:
            self.src = compose(self.text)
        except SourceProblem as problem:
            self.report((), problem.message, problem.hint, problem.code, at=(problem.line, problem.column))
            return None
        data = self.src.data
        if not isinstance(data, dict):
            self.report((), f"a workflow is a mapping with apiVersion, kind, name and steps; got {_describe(data)}",
                        "start from: apiVersion: cellwright/v1, kind: Workflow, name: ..., steps: [...]", "type")
            return None
        legacy = self.legacy = "apiVersion" not in data and "version" in data
        v1, old = _validators()
        for error in (old if legacy else v1).iter_errors(data):
            self.schema_error(error)
        if legacy:
            self.legacy_warnings(data)
        self.check_params(data)
        self.check_steps(data)
        self.check_outputs(data)
        if any(d.severity == "error" for d in self.diagnostics):
            return None
        return self.build(data, legacy)

    # structure

    def schema_error(self, error: ValidationError) -> None:
        path: NodePath = tuple(error.absolute_path)
        keyword = str(error.validator)
        instance: Any = error.instance
        value: Any = error.validator_value
        schema_: Any = error.schema if isinstance(error.schema, Mapping) else {}
        own = schema_.get("errorMessage", {})
        message = own.get(keyword) if isinstance(own, Mapping) else None
        if keyword in ("oneOf", "anyOf"):
            branches: dict[Any, list[ValidationError]] = {}
            for sub in error.context or []:
                branches.setdefault(sub.relative_schema_path[0], []).append(sub)
            viable = [errs for errs in branches.values() if all(len(e.relative_path) > 0 for e in errs)]
            if viable and not (keyword == "oneOf" and len(branches) < len(value)):
                for sub in viable[0]:
                    self.schema_error(sub)
                return
            text = message or "does not match any allowed form"
            got = "" if keyword == "oneOf" and isinstance(instance, dict) else f", got {_describe(instance)}"
            self.report(path, _at(path, f"{text}{got}"), "", "type")
            return
        where = path_text(path) or "the file"
        if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
            path = (*path, instance)
            text = (message or "{value} is not a valid name").replace("{value}", f"`{instance}`")
            self.report(path, f"{path_text(path)}: {text}", "", "pattern", key=True)
        elif keyword == "additionalProperties" and value is False:
            allowed = list(schema_.get("properties", {}))
            for key in instance:
                if key not in allowed:
                    self.unknown_key((*path, key), key, allowed)
        elif keyword == "required":
            for name in value:
                if name not in instance:
                    spec = schema_.get("properties", {}).get(name, {})
                    self.report(path, _at(path, f"`{name}` is missing"), _description(spec), "required")
        elif keyword == "type":
            self.report(path, f"{where}: expected {_a(str(value))}, got {_describe(instance)}",
                        "", "type")
        elif keyword in ("enum", "const"):
            choices = value if keyword == "enum" else [value]
            guess = did_you_mean(instance, choices) if isinstance(instance, str) else ""
            self.report(path, f"{where}: expected {' | '.join(map(str, choices))}, got {_describe(instance)}",
                        guess, "enum")
        elif keyword == "pattern":
            text = (message or "{value} does not match " + str(value))
            self.report(path, f"{where}: " + text.replace("{value}", f"`{instance}`"), "", "pattern")
        elif keyword in ("minItems", "minLength") and value == 1:
            self.report(path, f"{where}: must not be empty", "", "required")
        elif keyword in ("minimum", "maximum", "exclusiveMinimum", "minItems", "maxItems"):
            bound = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                     "minItems": "at least", "maxItems": "at most"}[keyword]
            items = " items" if keyword.endswith("Items") else ""
            self.report(path, f"{where}: must be {bound} {value}{items}, got "
                        f"{len(instance) if items else instance}", "", "range")
        elif keyword == "not" and message:
            self.report(path, f"{where}: {message}", "", "type")
        else:
            self.report(path, f"{where}: {error.message}", "", "schema")

    def unknown_key(self, path: NodePath, key: str, allowed: Sequence[str]) -> None:
        hint = did_you_mean(key, allowed) or f"allowed here: {', '.join(allowed)}"
        if key == "retries":
            hint = "0.1 had `retries: n`; cellwright/v1 writes `retry: {attempts: n+1}`"
        elif key == "version" and len(path) == 1:
            hint = "drop it: the store numbers a workflow's versions"
        elif self.legacy and (key in schema()["properties"] or key in schema()["$defs"]["step"]["properties"]):
            hint = f"`{key}` is cellwright/v1: add `apiVersion: cellwright/v1` and `kind: Workflow` to use it"
        where = path_text(path[:-1])
        self.report(path, f"unknown key `{key}`" + (f" in {where}" if where else ""), hint, "unknown-key",
                    key=True)

    def legacy_warnings(self, data: dict[str, Any]) -> None:
        warn = functools.partial(self.report, severity="warning", code="legacy", key=True)
        warn((next(iter(data)),), "the 0.1 workflow format (no apiVersion) is deprecated",
             "add `apiVersion: cellwright/v1` and `kind: Workflow` at the top")
        warn(("version",), f"`version: {data['version']}` is not part of cellwright/v1",
             "drop it: the store numbers a workflow's versions")
        for i, step in enumerate(data.get("steps") or []):
            if isinstance(step, dict) and isinstance(step.get("retries"), int):
                n = step["retries"]
                warn(("steps", i, "retries"), f"`retries: {n}` is 0.1 syntax",
                     f"write `retry: {{attempts: {n + 1}}}` instead")

    # params

    def check_params(self, data: dict[str, Any]) -> None:
        params = data.get("params")
        if not isinstance(params, dict):
            return
        for name, spec in params.items():
            if not isinstance(spec, dict):
                continue
            self.params[name] = spec
            if self.broken(("params", name)):
                continue
            try:
                check_property(spec, f"params.{name}")
            except SchemaError as exc:
                parts = exc.field.split(".")[:len(("params", name, "x", "y", "z"))]
                path: NodePath = tuple(parts)
                self.report(path, f"{exc.field}: {exc.problem}", "", "params")

    # steps

    def step_list(self, data: dict[str, Any], key: str) -> list[tuple[NodePath, dict[str, Any], str]]:
        items = data.get(key)
        found: list[tuple[NodePath, dict[str, Any], str]] = []
        for i, step in enumerate(items if isinstance(items, list) else []):
            if isinstance(step, dict):
                sid = step.get("id")
                found.append(((key, i), step, sid if isinstance(sid, str) else ""))
        return found

    def check_steps(self, data: dict[str, Any]) -> None:
        steps, recovery = self.step_list(data, "steps"), self.step_list(data, "recovery")
        first: dict[str, NodePath] = {}
        for path, _step, sid in [*steps, *recovery]:
            if not sid:
                continue
            if sid in first:
                line = self.src.position(first[sid])[0]
                self.report((*path, "id"), f"step id `{sid}` is used twice",
                            f"the first is at line {line}; ids are unique among steps and recovery",
                            "duplicate")
                continue
            first[sid] = (*path, "id")
            (self.main if path[0] == "steps" else self.recovery)[sid] = cast(int, path[1])
        for path, step, sid in steps:
            self.needs.setdefault(sid, [])
            needs = step.get("needs")
            for j, need in enumerate(needs if isinstance(needs, list) else []):
                if not isinstance(need, str):
                    continue
                where: NodePath = (*path, "needs", j)
                if need in self.main:
                    if sid and self.main.get(sid) == path[1]:
                        self.needs[sid].append(need)
                elif need in self.recovery:
                    self.report(where, f"`{need}` is a recovery step; steps cannot need it",
                                "recovery steps run only from on_failure: {run: ...}", "undefined-step")
                else:
                    self.report(where, f"no step `{need}`",
                                did_you_mean(need, self.main) or f"steps: {_listing(self.main)}",
                                "undefined-step")
        self.check_cycles(steps)
        for _path, step, sid in steps:
            self.kinds[sid] = self.step_type(step)
        used: set[str] = set()
        skills_noted = False
        for path, step, sid in [*steps, *recovery]:
            in_recovery = path[0] == "recovery"
            scope = _Scope(sid, set() if in_recovery else self.ancestors(sid), recovery=in_recovery)
            if not in_recovery:
                self.check_repetition(path, step, scope)
                when = step.get("when")
                if isinstance(when, str) and not self.broken((*path, "when")):
                    kind = _kind(self.template((*path, "when"), when, scope))  # per repetition
                    if kind not in ("boolean", "any", "none"):
                        self.report((*path, "when"), f"`when` must be a boolean expression, but it gives {_a(kind)}",
                                    "compare something, e.g. ${params.mode == 'fast'}", "type")
            self.check_literal(path, step)
            self.check_reasons(path, step)
            self.check_place(path, step, sid, scope)
            self.check_on_failure(path, step, in_recovery, used)
            self.check_with(path, step, scope)
            operator = step.get("operator")
            if isinstance(operator, dict) and isinstance(operator.get("prompt"), str):
                self.template((*path, "operator", "prompt"), operator["prompt"], scope)
                if "with" in step:
                    self.report((*path, "with"), "an operator step takes no `with`",
                                "put what the operator needs to know into the prompt", "type", key=True)
            if isinstance(step.get("skill"), str) and self.catalog.skills is None and not skills_noted:
                skills_noted = True
                self.report((*path, "skill"), "skills and their params are not checked: no skill catalog",
                            "give one, e.g. `cellwright workflow validate --skills FILE`", "not-checked",
                            severity="warning")
            self.check_reserve(path, step)
        for rid, index in self.recovery.items():
            if rid not in used:
                self.report(("recovery", index, "id"), f"recovery step `{rid}` is never run",
                            "run it from a step: on_failure: {run: " + rid + "}", "unused", severity="warning")

    def check_cycles(self, steps: list[tuple[NodePath, dict[str, Any], str]]) -> None:
        """One error per strongly connected set of steps, naming one cycle in order."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        components: list[list[str]] = []
        for root in self.needs:
            if root in index:
                continue
            work: list[tuple[str, int]] = [(root, 0)]  # iterative Tarjan: (node, next need)
            while work:
                node, i = work.pop()
                if i == 0:
                    index[node] = low[node] = len(index)
                    stack.append(node)
                    on_stack.add(node)
                needs = self.needs.get(node, [])
                if i < len(needs):
                    work.append((node, i + 1))
                    nxt = needs[i]
                    if nxt not in index:
                        work.append((nxt, 0))
                    elif nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                    continue
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
        for component in components:
            members = set(component)
            if len(component) == 1 and component[0] not in self.needs.get(component[0], []):
                continue
            start = min(component, key=lambda s: self.main.get(s, 0))
            cycle = self.find_cycle(start, members)
            text = " -> ".join(cycle)
            step_path: NodePath = ("steps", self.main[start])
            needs = self.src.data["steps"][self.main[start]].get("needs")
            j = needs.index(cycle[1]) if isinstance(needs, list) and cycle[1] in needs else 0
            self.report((*step_path, "needs", j), f"the needs form a cycle: {text}",
                        "each step needs the next one; remove one of these needs", "cycle")

    def find_cycle(self, start: str, members: set[str]) -> list[str]:
        """A path start -> ... -> start through `members` (breadth-first: a shortest one)."""
        previous: dict[str, str] = {}
        frontier = [start]
        while frontier:
            following = []
            for node in frontier:
                for need in self.needs.get(node, []):
                    if need == start:
                        return self._order(start, node, previous)
                    if need in members and need not in previous and need != start:
                        previous[need] = node
                        following.append(need)
            frontier = following
        return [start, start]

    @staticmethod
    def _order(start: str, last: str, previous: dict[str, str]) -> list[str]:
        chain = [last]
        while chain[-1] != start:
            chain.append(previous[chain[-1]])
        return [*reversed(chain), start]

    def ancestors(self, sid: str) -> set[str]:
        """Every step `sid` needs, directly or not (cycles tolerated)."""
        found: set[str] = set()
        todo = list(self.needs.get(sid, []))
        while todo:
            need = todo.pop()
            if need not in found:
                found.add(need)
                todo.extend(self.needs.get(need, []))
        found.discard(sid)
        return found

    def step_type(self, step: dict[str, Any]) -> Mapping[str, Any]:
        result: Mapping[str, Any] = {"type": "object"}
        if "operator" in step:
            result = OPERATOR_RESULT
        elif self.catalog.skills is not None and isinstance(step.get("skill"), str):
            spec = self.catalog.skills.get(step["skill"])
            if spec is not None and spec.result_schema is not None:
                result = spec.result_schema
        if "for_each" in step or "count" in step:
            result = {"type": "array", "items": result}
        return {"type": "object", "properties": {"result": result, "state": {"type": "string"},
                                                 "cell": {"type": "string"}}}

    def check_repetition(self, path: NodePath, step: dict[str, Any], scope: _Scope) -> None:
        only_params = _Scope(scope.step, set())
        for_each, count = step.get("for_each"), step.get("count")
        if isinstance(for_each, list):
            scope.repeated, scope.item = "for_each", _literal_type(for_each)
            for where, _text in _templates(for_each, (*path, "for_each")):
                self.report(where, "a literal for_each list cannot hold ${...}",
                            "make the whole for_each one expression, e.g. ${params.parts}", "expression")
        elif isinstance(for_each, str) and not self.broken((*path, "for_each")):
            scope.repeated = "for_each"
            kind = self.template((*path, "for_each"), for_each, only_params, only="for_each")
            if _kind(kind) not in ("array", "any", "none"):
                self.report((*path, "for_each"), f"`for_each` needs a list, but it gives {_a(_kind(kind))}",
                            "use an array param, e.g. ${params.parts}", "type")
            elif isinstance(kind, Mapping):
                items = kind.get("items")
                scope.item = items if isinstance(items, Mapping) else ANY
        if count is not None and not self.broken((*path, "count")):
            scope.repeated = "count"
            if isinstance(count, str):
                kind = self.template((*path, "count"), count, only_params, only="count")
                if _kind(kind) not in ("integer", "any", "none"):
                    self.report((*path, "count"), f"`count` needs an integer, but it gives {_a(_kind(kind))}",
                                "use an integer param, e.g. ${params.n}", "type")

    def check_literal(self, path: NodePath, step: dict[str, Any]) -> None:
        """Keys whose values are taken as written: a `${...}` there is a mistake (it would
        be a cell named "${params.cell}")."""
        for key in LITERAL_KEYS & set(step):
            for where, text in _templates(step[key], (*path, key)):
                if not self.broken(where):
                    self.report(where, f"`{key}` is taken as written: `{text}` is not evaluated here",
                                "expressions work in with, when, for_each, count, prompts and outputs; "
                                "write the value itself", "expression")

    def check_reasons(self, path: NodePath, step: dict[str, Any]) -> None:
        """`retry.on` names reasons something gives; a typo would never retry."""
        retry = step.get("retry")
        reasons = retry.get("on") if isinstance(retry, dict) else None
        for i, reason in enumerate(reasons if isinstance(reasons, list) else []):
            if isinstance(reason, str) and "${" not in reason and reason not in FAILURE_REASONS:
                self.report((*path, "retry", "on", i), f"no skill of Cellwright fails with `{reason}`",
                            did_you_mean(reason, FAILURE_REASONS) or
                            "fine if your own skill gives it; reasons: " + _listing(FAILURE_REASONS),
                            "retry", severity="warning")

    def check_place(self, path: NodePath, step: dict[str, Any], sid: str, scope: _Scope) -> None:
        place = step.get("place")
        target = place.get("same_cell_as") if isinstance(place, dict) else None
        if not isinstance(target, str) or self.broken((*path, "place", "same_cell_as")):
            return
        where: NodePath = (*path, "place", "same_cell_as")
        if target not in self.main:
            self.report(where, f"no step `{target}`", did_you_mean(target, self.main) or
                        f"steps: {_listing(self.main)}", "undefined-step")
        elif target == sid:
            self.report(where, "a step cannot run on the cell of itself", "name a step it needs", "placement")
        elif not scope.recovery and target not in scope.steps:
            self.report(where, f"same_cell_as `{target}`: `{sid}` does not need `{target}`",
                        f"add `needs: [{target}]`", "not-needed")

    def check_on_failure(self, path: NodePath, step: dict[str, Any], in_recovery: bool, used: set[str]) -> None:
        action = step.get("on_failure")
        run = action.get("run") if isinstance(action, dict) else None
        if not isinstance(run, str) or self.broken((*path, "on_failure", "run")):
            return
        where: NodePath = (*path, "on_failure", "run")
        used.add(run)
        if in_recovery:
            self.report(where, "a recovery step cannot run another recovery step",
                        "use fail, hold or continue", "recovery")
        elif run in self.main:
            self.report(where, f"`{run}` is a step, not a recovery step",
                        "on_failure runs a step listed under `recovery:`; move it there", "undefined-step")
        elif run not in self.recovery:
            self.report(where, f"no recovery step `{run}`",
                        did_you_mean(run, self.recovery) or f"recovery steps: {_listing(self.recovery)}",
                        "undefined-step")

    def check_with(self, path: NodePath, step: dict[str, Any], scope: _Scope) -> None:
        with_ = step.get("with")
        with_ = with_ if isinstance(with_, dict) else {}
        types: dict[NodePath, Mapping[str, Any] | None] = {}
        for where, text in _templates(with_, (*path, "with")):
            if not self.broken(where):
                types[where] = self.template(where, text, scope)
        skill = step.get("skill")
        if (self.catalog.skills is None or not isinstance(skill, str) or self.broken((*path, "skill"))
                or self.broken((*path, "with"))):
            return
        spec = self.catalog.skills.get(skill)
        if spec is None:
            known = sorted(self.catalog.skills)
            self.report((*path, "skill"), f"no skill `{skill}`",
                        " ".join(filter(None, [did_you_mean(skill, known), f"known skills: {_listing(known)}"])),
                        "unknown-skill")
            return
        if not spec.params_schema:  # the skill declares no schema: nothing to check against
            return
        properties: Mapping[str, Any] = spec.params_schema.get("properties", {})
        required = set(spec.params_schema.get("required", []))
        for name, param in properties.items():
            if name in required and name not in with_ and "default" not in param:
                self.report((*path, "with") if "with" in step else (*path, "skill"),
                            f"skill `{skill}` needs param `{name}`",
                            str(param.get("description", "")), "skill-params", key=True)
        for name, value in with_.items():
            where = (*path, "with", name)
            if name not in properties:
                self.report(where, f"skill `{skill}` has no param `{name}`",
                            did_you_mean(name, properties) or f"it takes: {_listing(properties)}",
                            "skill-params", key=True)
                continue
            param = properties[name]
            if isinstance(value, str) and "${" in value:
                inferred = types.get(where)
                problem = _fits(inferred, param) if isinstance(inferred, Mapping) else ""
                if problem:
                    self.report(where, f"param `{name}` of skill `{skill}`: {problem}", "", "skill-params")
            elif not any(True for _ in _templates(value, ())):
                try:
                    check_value(param, value, name)
                except SchemaError as exc:
                    self.report(where, f"param `{name}` of skill `{skill}`: {exc.problem}", "", "skill-params")
                except (KeyError, TypeError):
                    pass  # the skill's schema is outside the subset: nothing to check against

    def check_reserve(self, path: NodePath, step: dict[str, Any]) -> None:
        reserve = step.get("reserve")
        names = [reserve] if isinstance(reserve, str) else reserve if isinstance(reserve, list) else []
        where = [(*path, "reserve")] if isinstance(reserve, str) else [(*path, "reserve", i) for i in range(len(names))]
        pairs = [(w, n) for w, n in zip(where, names, strict=True) if isinstance(n, str) and n]
        if not pairs:
            return
        layout = self.catalog.layout
        if layout is None:
            if not any(d.code == "not-checked" and "reservations" in d.message for d in self.diagnostics):
                self.report((*path, "reserve"), "reservations are not checked: no layout",
                            "give one, e.g. `cellwright workflow validate --layout FILE`", "not-checked",
                            severity="warning", key=True)
            return
        known = {*layout.stations, *layout.zones}
        seen: set[str] = set()
        for place, name in pairs:
            if name in seen:
                self.report(place, f"`{name}` is reserved twice in this step", "list it once", "reservation")
            elif name not in known:
                hint = did_you_mean(name, known)
                self.report(place, f"no station or zone `{name}` in layout {layout.name}",
                            f"{hint} known: {_listing(known)}".strip() if hint else f"known: {_listing(known)}",
                            "unknown-station")
            seen.add(name)
        for place, name in pairs:
            for zone in seen & set(layout.zones):
                if name in layout.zones[zone].stations:
                    self.report(place, f"station `{name}` is inside zone `{zone}`, which this step reserves too",
                                f"drop `{name}`: reserving the zone holds its stations", "reservation",
                                severity="warning")

    def check_outputs(self, data: dict[str, Any]) -> None:
        outputs = data.get("outputs")
        if isinstance(outputs, dict):
            for where, text in _templates(outputs, ("outputs",)):
                if not self.broken(where):
                    self.template(where, text, _Scope("", set(self.main)))

    # expressions

    def env(self, scope: _Scope) -> dict[str, Mapping[str, Any]]:
        types: dict[str, Mapping[str, Any]] = {
            "params": {"type": "object", "properties": dict(self.params)},
            "steps": {"type": "object", "properties": {s: self.kinds.get(s, ANY) for s in sorted(scope.steps)}},
            "job": JOB,
        }
        if scope.repeated:
            types["index"] = {"type": "integer"}
            if scope.repeated == "for_each":
                types["item"] = scope.item
        return types

    def template(self, path: NodePath, text: str, scope: _Scope, *, only: str = "") -> Mapping[str, Any] | None:
        """The type of the template at `path` (None after reporting a problem; {"type":
        "none"} for a plain string)."""
        if "${" not in text:
            if only:
                self.report(path, f"`{only}` must be an expression in ${{...}}, got {_describe(text)}",
                            "e.g. ${params.n}", "expression")
                return None
            return {"type": "none"}
        try:
            template: Template = parse_template(text)
        except ExprError as exc:
            self.report(path, f"in `${{...}}`: {exc.message}", exc.hint, "expression",
                        at=self.src.char_position(path, exc.offset))
            return None
        ok = True
        for expr, start in template.expressions():
            for parts, offset in expr.paths():
                ok = self.check_reference(path, parts, start + offset, scope, only) and ok
        if not ok:
            return None
        try:
            return template.infer(self.env(scope))
        except ExprError as exc:
            self.report(path, f"in `${{...}}`: {exc.message}", exc.hint, "expression",
                        at=self.src.char_position(path, exc.offset))
            return None

    def check_reference(self, path: NodePath, parts: tuple[str | int, ...], offset: int, scope: _Scope,
                        only: str) -> bool:
        def fail(message: str, hint: str, code: str) -> bool:
            self.report(path, message, hint, code, at=self.src.char_position(path, offset))
            return False

        root = parts[0]
        name = parts[1] if len(parts) > 1 else None
        if only and root != "params":
            return fail(f"`{only}` may use only params and literals, not `{root}`",
                        f"{only} is known when the job is submitted, before any step runs", "expression")
        if root == "params" and isinstance(name, str) and name not in self.params:
            return fail(f"no param `{name}`", did_you_mean(name, self.params) or
                        f"declare it under `params:`; params: {_listing(self.params)}", "undefined-param")
        if root == "steps" and isinstance(name, str):
            if scope.recovery:
                return fail("a recovery step cannot refer to `steps`", "use params or job", "not-needed")
            if name not in self.main:
                return fail(f"no step `{name}`", did_you_mean(name, self.main) or f"steps: {_listing(self.main)}",
                            "undefined-step")
            if name == scope.step:
                return fail(f"step `{name}` cannot refer to its own result", "", "not-needed")
            if name not in scope.steps:
                later = scope.step in self.ancestors(name)  # needs: [name] would close a loop
                return fail(f"`steps.{name}` is not among the needs of `{scope.step}`",
                            f"`{name}` runs after `{scope.step}` (it needs it), so its result is not "
                            "there yet; use it in a later step" if later else f"add `needs: [{name}]`",
                            "not-needed")
        if root in ("item", "index") and not scope.repeated:
            where = f"step `{scope.step}`" if scope.step else "outputs"
            return fail(f"`{root}` is defined only in a repeated step; {where} is not one",
                        "add for_each: or count: to the step", "expression")
        if root == "item" and scope.repeated == "count":
            return fail("`item` is defined only with for_each; this step has count", "use `index`", "expression")
        return True

    # building

    def build(self, data: dict[str, Any], legacy: bool) -> Workflow:
        params = data.get("params") or {}
        params_schema = {"type": "object", "properties": params,
                         "required": [n for n, spec in params.items() if "default" not in spec]}
        return Workflow(
            name=data["name"], description=str(data.get("description", "")), params_schema=params_schema,
            steps=tuple(self.build_step(s, legacy) for s in data["steps"]),
            recovery=tuple(self.build_step(s, legacy) for s in data.get("recovery", [])),
            outputs=dict(data.get("outputs", {})), source=self.text, origin=self.origin,
            format=LEGACY if legacy else API_VERSION)

    @staticmethod
    def build_step(raw: dict[str, Any], legacy: bool) -> Step:
        place = raw.get("place", {})
        retry = raw.get("retry", {})
        action = raw.get("on_failure", "fail")
        operator = raw.get("operator")
        for_each = raw.get("for_each", "")
        reserve = raw.get("reserve", [])
        return Step(
            id=raw["id"], skill=raw.get("skill", ""), with_=dict(raw.get("with") or {}),
            needs=tuple(raw.get("needs") or ()), when=raw.get("when", ""),
            place=Placement(cells=(place["cell"],) if "cell" in place else tuple(place.get("cells", ())),
                            tags=tuple(place.get("tags", ())), kind=place.get("kind", ""),
                            model=place.get("model", ""), same_cell_as=place.get("same_cell_as", "")),
            timeout_s=duration_s(raw.get("timeout", 0)),
            retry=Retry(attempts=raw.get("retries", 0) + 1, on=()) if legacy else
            Retry(attempts=retry.get("attempts", 1), backoff_s=duration_s(retry.get("backoff", 0)),
                  on=tuple(retry.get("on", ()))),
            on_failure=OnFailure(cast(FailureAction, action)) if isinstance(action, str) else
            OnFailure("run", step=action["run"], then=action.get("then", "fail")),
            for_each="${" + _literal(for_each) + "}" if isinstance(for_each, list) else for_each,
            count=str(raw.get("count", "")),
            reserve=(reserve,) if isinstance(reserve, str) else tuple(reserve),
            operator=Operator(operator["prompt"], duration_s(operator.get("timeout", 0)))
            if isinstance(operator, dict) else None,
            description=str(raw.get("description", "")))


__all__ = ["Catalog", "Diagnostic", "SkillSpec", "WorkflowInvalid", "bind_params", "check", "duration_s",
           "load", "path_text", "schema"]
