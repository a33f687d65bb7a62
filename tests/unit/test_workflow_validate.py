"""Workflow v1 checking: golden files (every kind of problem, exact output), the model a
valid file builds, positions, params binding, and properties over random workflows."""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from cellwright.api.layout import load_layout
from cellwright.api.schema import SchemaError, check_schema
from cellwright.app import workflow_cli
from cellwright.app.cli import main
from cellwright.orchestrator.workflow import (
    Catalog,
    Diagnostic,
    OnFailure,
    Retry,
    SkillSpec,
    WorkflowInvalid,
    bind_params,
    check,
    load,
)
from cellwright.orchestrator.workflow.expressions import parse_template
from cellwright.orchestrator.workflow.model import LEGACY
from cellwright.orchestrator.workflow.source import SourceProblem, compose
from cellwright.orchestrator.workflow.validate import schema

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "workflows"
BUILTIN = ROOT / "orchestrator" / "builtin_workflows"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yaml") if not p.name.startswith("_"))
CATALOG = Catalog(skills=workflow_cli.skills_file(str(GOLDEN / "_skills.yaml")),
                  layout=load_layout(GOLDEN / "_layout.yaml"))
HEAD = "apiVersion: cellwright/v1\nkind: Workflow\nname: t\n"


def errors(text: str, catalog: Catalog = CATALOG) -> list[Diagnostic]:
    return [d for d in check(text, "t.yaml", catalog)[1] if d.severity == "error"]


# --- golden files ------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`cellwright workflow validate` prints exactly <case>.txt for <case>.yaml
    (UPDATE_GOLDEN=1 rewrites the .txt files)."""
    monkeypatch.chdir(GOLDEN)
    code = main(["workflow", "validate", "--skills", "_skills.yaml", "--layout", "_layout.yaml", f"{case}.yaml"])
    out = capsys.readouterr().out
    expected = GOLDEN / f"{case}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected.write_text(out)
    assert out == expected.read_text()
    assert code == (1 if " error: " in out else 0)


def test_every_golden_case_but_valid_and_legacy_has_an_error_and_says_what_it_checks() -> None:
    for case in CASES:
        text = (GOLDEN / f"{case}.yaml").read_text()
        assert text.startswith("# "), f"{case}.yaml: say in a first comment what it shows"
        found = check(text, case, CATALOG)[1]
        assert bool(errors(text)) == (case not in ("valid", "legacy")), case
        assert found == check(text, case, CATALOG)[1]  # deterministic


def test_the_golden_cases_cover_every_code() -> None:
    codes = {d.code for case in CASES for d in check((GOLDEN / f"{case}.yaml").read_text(), case, CATALOG)[1]}
    assert codes >= {"yaml", "unknown-key", "type", "required", "pattern", "duplicate", "undefined-param",
                     "undefined-step", "not-needed", "cycle", "unknown-skill", "skill-params", "expression",
                     "unknown-station", "reservation", "legacy", "enum", "range", "params", "unused"}


def test_json_format_lists_diagnostics_as_dicts(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(GOLDEN)
    code = main(["workflow", "validate", "--format", "json", "--skills", "_skills.yaml", "cycle.yaml", "valid.yaml"])
    found = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [d["code"] for d in found if d["severity"] == "error"] == ["cycle", "cycle"]
    assert set(found[0]) == {"file", "line", "column", "path", "severity", "code", "message", "hint"}
    assert found[0]["path"] == "steps[0].needs[0]"


def test_validate_without_skills_uses_the_installed_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["workflow", "validate", *map(str, sorted(BUILTIN.glob("*.yaml")))])
    out = capsys.readouterr().out
    assert code == 0
    assert out.strip().endswith("0 errors, 9 warnings in 3 files")
    assert "not checked" not in out
    assert "pick_place" in workflow_cli.installed_skills()


@pytest.mark.parametrize(("content", "problem"), [
    ("- a list", "expected a mapping"),
    ("pick: {params: {}}", "expected {params_schema"),
    ("pick: {params_schema: {type: object}, extra: 1}", "unknown key 'extra'"),
    ("pick: {params_schema: {properties: {x: {type: nope}}}}", "params_schema.x: needs a type"),
    ("pick: {params_schema: {}, result_schema: 3}", "result_schema: expected a mapping"),
])
def test_a_bad_skills_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                            problem: str) -> None:
    (tmp_path / "skills.yaml").write_text(content)
    code = main(["workflow", "validate", "--skills", str(tmp_path / "skills.yaml"), str(GOLDEN / "valid.yaml")])
    assert code == 2
    assert problem in capsys.readouterr().err


def test_an_unreadable_file_is_an_error_of_that_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["workflow", "validate", "--skills", str(GOLDEN / "_skills.yaml"), str(tmp_path / "missing.yaml")])
    out = capsys.readouterr().out
    assert code == 1
    assert "missing.yaml:1:1: error: cannot read the file" in out


def test_graph_writes_svg(tmp_path: Path) -> None:
    out = tmp_path / "valid.svg"
    assert main(["workflow", "graph", str(GOLDEN / "valid.yaml"), "-o", str(out)]) == 0
    assert out.read_bytes().lstrip().startswith(b"<")
    assert main(["workflow", "graph", str(GOLDEN / "cycle.yaml"), "-o", str(out)]) == 1
    assert main(["workflow", "graph", str(GOLDEN / "valid.yaml"), "-o", str(tmp_path / "x.gif")]) == 2


# --- the model a valid file builds -------------------------------------------------------

def test_a_valid_file_builds_its_workflow() -> None:
    text = (GOLDEN / "valid.yaml").read_text()
    workflow = load(text, "valid.yaml", CATALOG)
    assert workflow.name == "kitting" and workflow.origin == "valid.yaml" and workflow.source == text
    assert workflow.params_schema["required"] == ["parts"]
    pick, check_step, hand_over, confirm = workflow.steps
    assert pick.for_each == "${params.parts}" and pick.repeated
    assert pick.timeout_s == 30 and pick.retry == Retry(3, 0.5, ("grasp_failed",))
    assert pick.on_failure == OnFailure("run", "go_home", "hold")
    assert pick.reserve == ("infeed",) and pick.place.kind == "arm" and pick.place.tags == ("gripper-2f",)
    assert check_step.count == "2" and check_step.place.same_cell_as == "pick" and check_step.needs == ("pick",)
    assert hand_over.on_failure == OnFailure("continue") and hand_over.reserve == ("handover",)
    assert confirm.operator is not None and confirm.operator.timeout_s == 600 and confirm.skill == ""
    assert confirm.count == "${params.passes}"
    assert [s.id for s in workflow.recovery] == ["go_home"]
    assert workflow.outputs["tray"] == "${params.tray}"
    assert workflow.step("go_home").with_ == {"location": "home"}


def test_a_literal_for_each_list_becomes_an_expression_giving_it() -> None:
    text = HEAD + "steps:\n  - {id: a, skill: move_to, with: {location: '${item}'}, for_each: [x, \"it's\", 2, true]}\n"
    step = load(text, "t", CATALOG).steps[0]
    assert parse_template(step.for_each).render({}) == ["x", "it's", 2, True]


def test_a_0_1_file_loads_as_legacy_with_retries_as_attempts() -> None:
    for path in sorted(BUILTIN.glob("*.yaml")):
        workflow = load(path.read_text(), str(path))
        assert workflow.format == LEGACY and workflow.version == 0
    kitting = load((BUILTIN / "kitting.yaml").read_text(), "kitting.yaml")
    assert kitting.steps[0].retry == Retry(attempts=2, on=()) and kitting.steps[2].retry == Retry()
    assert kitting.steps[1].needs == ("first",)


@pytest.mark.parametrize(("value", "seconds"), [("500ms", 0.5), ("2s", 2), ("1.5m", 90), ("1h", 3600), (7, 7),
                                                (0.25, 0.25)])
def test_durations(value: object, seconds: float) -> None:
    text = HEAD + f"steps:\n  - {{id: a, skill: move_to, with: {{location: x}}, timeout: {value}}}\n"
    assert load(text, "t", CATALOG).steps[0].timeout_s == seconds


def test_load_raises_with_every_error() -> None:
    with pytest.raises(WorkflowInvalid) as info:
        load((GOLDEN / "many.yaml").read_text(), "many.yaml", CATALOG)
    assert len(info.value.diagnostics) == 8
    assert str(info.value).splitlines()[0] == "many.yaml:10:21: error: no param `prt`"
    assert len(str(info.value).splitlines()) == 8


def test_without_a_catalog_skills_and_reservations_are_not_checked_with_one_warning_each() -> None:
    text = HEAD + "steps:\n" + "".join(
        f"  - {{id: s{i}, skill: nope, reserve: [nowhere]}}\n" for i in range(3))
    workflow, found = check(text, "t", Catalog())
    assert workflow is not None
    assert [(d.code, d.severity, d.line) for d in found] == [("not-checked", "warning", 5)] * 2


def test_diagnostic_text_and_dict() -> None:
    d = Diagnostic("w.yaml", 3, 7, "steps[0].with", "bad", "fix it", code="type")
    assert str(d) == "w.yaml:3:7: error: bad\n    hint: fix it"
    assert str(Diagnostic("w.yaml", 1, 1, "", "old", severity="warning")) == "w.yaml:1:1: warning: old"
    assert d.to_dict()["path"] == "steps[0].with" and d.to_dict()["hint"] == "fix it"


# --- params --------------------------------------------------------------------------------

def test_bind_params_fills_defaults_and_checks_items() -> None:
    workflow = load((GOLDEN / "valid.yaml").read_text(), "valid.yaml", CATALOG)
    bound = bind_params(workflow, {"parts": ["red_cube"]})
    assert bound == {"parts": ["red_cube"], "tray": "outfeed_b", "speed": 1.0, "inspect": False, "passes": 2}
    for params, problem in [({}, "params.parts: required"), ({"parts": []}, "fewer than minItems 1"),
                            ({"parts": ["gold"]}, "params.parts[0]: 'gold' is not one of"),
                            ({"parts": ["red_cube"], "x": 1}, "params.x: unknown parameter")]:
        with pytest.raises(SchemaError, match=re.escape(problem)):
            bind_params(workflow, params)


def test_param_specs_take_items_min_items_and_max_items() -> None:
    spec = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "maxItems": 2}
    check_schema({"properties": {"p": spec}}, "params")
    for bad, field in [({**spec, "maxItems": 0}, "params.p.maxItems"), ({**spec, "minItems": -1}, "params.p.minItems"),
                       ({"type": "string", "minItems": 1}, "params.p.minItems"),
                       ({**spec, "items": {"type": "integer", "default": 1}}, "params.p.items.default"),
                       ({**spec, "items": {"type": "what"}}, "params.p.items"),
                       ({**spec, "default": [-1]}, "params.p.default[0]")]:
        with pytest.raises(SchemaError) as info:
            check_schema({"properties": {"p": bad}}, "params")
        assert info.value.field == field


# --- source positions ----------------------------------------------------------------------

def test_positions_of_nodes_keys_and_characters() -> None:
    text = "a:\n  - x: \"ab\\tc${d}\"\n    'y': 'it''s ${e}'\n    z: plain ${f}\n"
    src = compose(text)
    assert src.data == {"a": [{"x": "ab\tc${d}", "y": "it's ${e}", "z": "plain ${f}"}]}
    assert src.position(("a", 0, "x")) == (2, 8) and src.key_position(("a", 0, "x")) == (2, 5)
    assert src.char_position(("a", 0, "x"), 4) == (2, 14)  # the $ after the escape \t
    assert src.char_position(("a", 0, "y"), 5) == (3, 17)
    assert src.char_position(("a", 0, "z"), 6) == (4, 14)
    assert src.position(("a", 0, "missing", 3)) == (2, 5)


@pytest.mark.parametrize(("text", "code", "where"), [
    ("a: 1\na: 2\n", "duplicate", (2, 1)), ("a: [1\n", "yaml", (2, 1)), ("a: &x [*x]\n", "yaml", (1, 4)),
    ("a: 1\n---\nb: 2\n", "yaml", (2, 1)), ("[a]: 1\n", "type", (1, 1)), ("a: *nothing\n", "yaml", (1, 4)),
])
def test_source_problems(text: str, code: str, where: tuple[int, int]) -> None:
    with pytest.raises(SourceProblem) as info:
        compose(text)
    assert (info.value.code, (info.value.line, info.value.column)) == (code, where)


def test_keys_stay_text() -> None:
    assert compose("on: 1\nyes: 2\n3: 4\n").data == {"on": 1, "yes": 2, "3": 4}


def test_the_shipped_schema_is_valid_and_describes_every_property() -> None:
    Draft202012Validator.check_schema(schema())

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                assert "description" in prop or "$ref" in prop, f"{where}.{name}"
                if "$ref" in prop and "description" not in prop:
                    target = schema()["$defs"][prop["$ref"].removeprefix("#/$defs/")]
                    assert "description" in target, f"{where}.{name}"
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(schema(), "#")


# --- properties over random workflows ------------------------------------------------------

@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """Step id -> its needs, with no cycle (each step needs only steps made before it)."""
    n = draw(st.integers(1, 8))
    ids = [f"s{i}" for i in range(n)]
    graph = {sid: sorted(draw(st.sets(st.sampled_from(ids[:i])))) if i else [] for i, sid in enumerate(ids)}
    order = draw(st.permutations(ids))
    return {sid: graph[sid] for sid in order}


def as_yaml(graph: dict[str, list[str]], refs: dict[str, list[str]] | None = None) -> str:
    """The workflow; each step refers to the cell of its first need in `refs` (default: `graph`)."""
    refs = refs or graph
    steps = [{"id": sid, "skill": "move_to",
              "with": {"location": f"${{steps.{refs[sid][0]}.cell}}" if refs[sid] else "home"},
              **({"needs": needs} if needs else {})} for sid, needs in graph.items()]
    return yaml.safe_dump({"apiVersion": "cellwright/v1", "kind": "Workflow", "name": "dag", "steps": steps},
                          sort_keys=False)


def ancestors(graph: dict[str, list[str]], sid: str) -> set[str]:
    found: set[str] = set()
    todo = list(graph[sid])
    while todo:
        need = todo.pop()
        if need not in found:
            found.add(need)
            todo.extend(graph[need])
    return found


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(dags())
def test_a_random_dag_has_no_errors(graph: dict[str, list[str]]) -> None:
    workflow, found = check(as_yaml(graph), "dag.yaml", CATALOG)
    assert found == [] and workflow is not None
    assert {s.id: list(s.needs) for s in workflow.steps} == graph


@FAST
@given(dags(), st.data())
def test_a_back_edge_gives_exactly_one_cycle_error_naming_a_real_cycle(graph: dict[str, list[str]],
                                                                       data: st.DataObject) -> None:
    later = data.draw(st.sampled_from(sorted(graph)))
    earlier = data.draw(st.sampled_from(sorted(ancestors(graph, later) | {later})))
    before = dict(graph)
    graph[earlier] = [*graph[earlier], later]  # earlier is needed by later, now needs it too
    found = check(as_yaml(graph, before), "dag.yaml", CATALOG)[1]
    assert [d.code for d in found] == ["cycle"], [str(d) for d in found]
    cycle = found[0].message.split(": ", 1)[1].split(" -> ")
    assert cycle[0] == cycle[-1] and len(set(cycle[:-1])) == len(cycle) - 1
    for step, need in itertools.pairwise(cycle):
        assert need in graph[step]


VALID = compose((GOLDEN / "valid.yaml").read_text()).data
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 2000), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["${params.tray}", "${", "${steps.pick.result}", "${item"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                           max_size=3), max_leaves=6)


def paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*path, i))
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_of_a_valid_file_never_crash_the_validator(data: st.DataObject) -> None:
    doc = json.loads(json.dumps(VALID))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(doc)[1:]))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = data.draw(st.sampled_from(["delete", "rename", "replace"]))
        if action == "delete":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=8))] = parent.pop(last)
        else:
            parent[last] = data.draw(VALUES)
    text = yaml.safe_dump(doc, sort_keys=False)
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(text)))
        text = text[:cut] + data.draw(st.sampled_from(["", ":", "[", "- ", "\n  ", "{"])) + text[cut + 1:]
    workflow, found = check(text, "m.yaml", CATALOG)
    assert all(isinstance(d, Diagnostic) and d.line >= 1 and d.column >= 1 for d in found)
    assert (workflow is None) == any(d.severity == "error" for d in found)
    if workflow is not None:
        assert workflow.steps


def test_a_skill_spec_without_result_schema_gives_an_open_result() -> None:
    catalog = Catalog(skills={"go": SkillSpec("go", {"type": "object", "properties": {"to": {"type": "string"}}})})
    text = HEAD + ("steps:\n  - {id: a, skill: go, with: {to: x}}\n"
                   "  - {id: b, skill: go, needs: [a], with: {to: '${steps.a.result.anything.at_all}'}}\n")
    assert errors(text, catalog) == []


@pytest.mark.parametrize("escape", ["\\U0011FFFF", "\\U99999999"])
def test_an_escape_past_unicode_is_a_yaml_error_at_its_line_not_a_crash(escape: str) -> None:
    text = f'apiVersion: cellwright/v1\nkind: Workflow\nname: "{escape}"\n'
    workflow, found = check(text, "m.yaml", CATALOG)
    assert workflow is None
    assert [(d.severity, d.line) for d in found] == [("error", 3)], found
    assert "names no Unicode character" in found[0].message
