"""Workflow files (orchestrator.workflows): loading, validation messages, name@version."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cellwright.orchestrator.errors import InvalidArgument, NotFound
from cellwright.orchestrator.workflows import WorkflowError, WorkflowRegistry, parse_workflow

VALID = """\
name: demo
version: 1
params:
  part: {type: string, enum: [red_cube, blue_cube]}
  to: {type: string, default: outfeed_a}
steps:
  - id: grab
    skill: pick_place
    with: {part: "${params.part}", place_at: "${params.to}", note: "to ${params.to}"}
    retries: 1
  - id: home
    skill: move_to
    with: {location: home}
    needs: [grab]
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(text: str, source: str = "flows/bad.yaml") -> str:
    with pytest.raises(WorkflowError) as info:
        parse_workflow(textwrap.dedent(text), source)
    return str(info.value)


# --- loading ---------------------------------------------------------------------------

def test_builtin_workflows_load():
    registry = WorkflowRegistry()
    assert registry.names() == ["kitting", "noop", "pick-place"]
    assert [s.id for s in registry.resolve("kitting").steps] == ["first", "second", "home"]


def test_a_valid_workflow_binds_params_with_defaults_and_expands_references():
    flow = parse_workflow(VALID, "demo.yaml")
    params = flow.bind({"part": "red_cube"})
    assert params == {"part": "red_cube", "to": "outfeed_a"}
    (grab, grab_params), (home, home_params) = flow.expand(params)
    assert grab_params == {"part": "red_cube", "place_at": "outfeed_a", "note": "to outfeed_a"}
    assert (grab.retries, home.needs, home_params) == (1, ("grab",), {"location": "home"})


def test_a_whole_value_reference_keeps_the_params_type():
    flow = WorkflowRegistry().resolve("noop")
    [(_, params)] = flow.expand(flow.bind({"duration_s": 2.5}))
    assert params == {"duration_s": 2.5}


def test_binding_bad_params_is_invalid_argument_naming_the_field():
    flow = parse_workflow(VALID, "demo.yaml")
    with pytest.raises(InvalidArgument) as info:
        flow.bind({"part": "green_cube"})
    assert info.value.field == "params.part"


def test_workflows_from_extra_folders_are_added(tmp_path):
    write(tmp_path, "demo.yaml", VALID)
    assert "demo" in WorkflowRegistry([tmp_path]).names()


def test_an_invalid_file_in_a_folder_fails_loading_naming_the_file(tmp_path):
    path = write(tmp_path, "broken.yaml", VALID.replace("version: 1", "version: 0"))
    with pytest.raises(WorkflowError, match=f"^{path}: version:"):
        WorkflowRegistry([tmp_path])


def test_the_same_name_and_version_twice_is_an_error_naming_both_files(tmp_path):
    write(tmp_path, "a.yaml", VALID)
    second = write(tmp_path, "b.yaml", VALID)
    with pytest.raises(WorkflowError, match=f"^{second}: demo@1 is already defined in .*a.yaml"):
        WorkflowRegistry([tmp_path])


# --- invalid files name the file and the field ----------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    (("name: demo", "name: Demo_Flow"), "name"),
    (("name: demo", "name: 12"), "name"),
    (("version: 1", "version: 0"), "version"),
    (("version: 1", "version: one"), "version"),
    (("version: 1", "version: 1.5"), "version"),
    (("version: 1", "version: true"), "version"),
    (("version: 1", "version: 1\nauthor: me"), "author"),
    (("    retries: 1", "    retries: 1\n    timeout: 3"), "steps[0].timeout"),
    (("  - id: home", "  - id: grab"), "steps[1].id"),
    (("  - id: home", "  - id: Home!"), "steps[1].id"),
    (("    skill: move_to\n", "    skill: ''\n"), "steps[1].skill"),
    (("needs: [grab]", "needs: [fetch]"), "steps[1].needs"),
    (("needs: [grab]", "needs: grab"), "steps[1].needs"),
    (("    retries: 1", "    retries: 11"), "steps[0].retries"),
    (("${params.to}\", note", "${params.dest}\", note"), "steps[0].with"),
    (("part: {type: string,", "part: {type: text,"), "params.part"),
    (("to: {type: string, default: outfeed_a}", "to: {type: string, default: 3}"), "params.to.default"),
    (("to: {type: string, default: outfeed_a}", "to: {type: string, min: 3}"), "params.to.min"),
    (("enum: [red_cube, blue_cube]", "enum: red_cube"), "params.part.enum"),
    (("to: {type: string, default: outfeed_a}", "to: {type: string, minimum: 3}"),
     "params.to.minimum"),
    (("  to: {type: string", "  bad-name: {type: string"), "params.bad-name"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_an_invalid_workflow_names_file_and_field(change, field):
    old, new = change
    assert old in VALID
    message = error_of(VALID.replace(old, new))
    assert message.startswith(f"flows/bad.yaml: {field}:"), message


def test_a_cycle_in_needs_is_an_error():
    text = VALID.replace("    retries: 1", "    retries: 1\n    needs: [home]")
    message = error_of(text)
    assert message.startswith("flows/bad.yaml: steps:")
    assert "cycle" in message


def test_a_step_needing_itself_is_a_cycle():
    assert "cycle" in error_of(VALID.replace("needs: [grab]", "needs: [home]"))


def test_a_reference_to_an_undeclared_param_is_an_error_naming_it():
    message = error_of(VALID.replace("${params.part}", "${params.colour}"))
    assert message.startswith("flows/bad.yaml: steps[0].with:")
    assert "${params.colour}" in message


def test_a_file_without_steps_is_an_error():
    assert error_of("name: demo\nversion: 1\nsteps: []\n").startswith("flows/bad.yaml: steps:")


def test_a_file_that_is_not_yaml_is_an_error_naming_the_file():
    assert error_of("name: [unclosed\n").startswith("flows/bad.yaml: not valid YAML")


def test_a_file_that_is_not_a_mapping_is_an_error():
    assert error_of("- just\n- a list\n").startswith("flows/bad.yaml: (top):")


# --- name@version ----------------------------------------------------------------------

@pytest.fixture
def registry(tmp_path: Path) -> WorkflowRegistry:
    write(tmp_path, "demo-1.yaml", VALID)
    write(tmp_path, "demo-2.yaml", VALID.replace("version: 1", "version: 2"))
    return WorkflowRegistry([tmp_path])


def test_a_bare_name_resolves_to_the_newest_version(registry):
    assert registry.resolve("demo").version == 2


def test_name_at_version_resolves_to_that_version(registry):
    assert registry.resolve("demo@1").version == 1


def test_an_unknown_workflow_is_not_found_listing_the_known_ones(registry):
    with pytest.raises(NotFound) as info:
        registry.resolve("weld")
    assert "'weld'" in str(info.value)
    assert "['demo', 'kitting', 'noop', 'pick-place']" in str(info.value)


@pytest.mark.parametrize("ref", ["demo@3", "demo@x", "demo@", "demo@-1"])
def test_an_unknown_version_is_not_found_listing_the_versions(registry, ref):
    with pytest.raises(NotFound) as info:
        registry.resolve(ref)
    assert "versions: [1, 2]" in str(info.value)


@pytest.mark.parametrize("with_, problem", [
    ("{p: '${param.n}'}", "is not a reference"),
    ("{p: 'x${params.n'}", "is not a reference"),
])
def test_a_misspelt_or_unclosed_reference_is_refused(with_, problem):
    text = f"name: w\nversion: 1\nparams: {{n: {{type: string}}}}\nsteps:\n  - {{id: a, skill: s, with: {with_}}}\n"
    with pytest.raises(WorkflowError, match=problem):
        parse_workflow(text, "w.yaml")


def test_a_key_given_twice_is_refused_with_its_line():
    with pytest.raises(WorkflowError, match=r"(?s)key .version. is given twice.*line 3"):
        parse_workflow("name: w\nversion: 1\nversion: 2\nsteps:\n  - {id: a, skill: s}\n", "w.yaml")


def test_workflow_folders_must_exist_and_hold_workflows(tmp_path):
    with pytest.raises(WorkflowError, match="not a folder"):
        WorkflowRegistry([tmp_path / "missing"])
    with pytest.raises(WorkflowError, match="no workflow files"):
        WorkflowRegistry([tmp_path])
    (tmp_path / "w.yml").write_text("name: w\nversion: 1\nsteps:\n  - {id: a, skill: s}\n")
    assert "w" in WorkflowRegistry([tmp_path]).names()
