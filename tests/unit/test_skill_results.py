"""Skills declare what they return (`result_schema`), a result that breaks it is a bug in
the skill, and a pick of a part the locator cannot find fails with `not_found`. Skills run
on a mock arm cell (kinematic, no physics) in the arm_cell world."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from cellwright.api.schema import check_schema
from cellwright.cells.config import load_config
from cellwright.cells.environment import CellRuntime, Environment
from cellwright.cells.skills import SKILLS, SkillContext, SkillError, check_result, result_schema
from cellwright.robots import Arm, Robot

MOCK_CELL = Path(__file__).parents[2] / "examples" / "cells" / "mock-arm-cell.yaml"
BUILT_IN = ("move_to", "pick", "place", "pick_place", "noop")


@pytest.fixture(scope="module")
def mock_cell() -> Iterator[CellRuntime]:
    environment = Environment.build([load_config(MOCK_CELL)])
    environment.start()
    try:
        yield environment.cells["arm-1"]
    finally:
        environment.close()


def context(runtime: CellRuntime) -> SkillContext:
    return SkillContext(runtime.robots, runtime.layout, runtime.parts, runtime.loop.now_s,
                        runtime.loop.sleep)


def run(runtime: CellRuntime, skill: str, **params: Any) -> dict[str, Any]:
    """Run a registered skill as the cell does: params checked, result checked."""
    from cellwright.api.schema import validate
    entry = SKILLS.get(skill)
    result = entry.run(context(runtime), validate(entry.params_schema, params, "params", skill))
    check_result(result_schema(entry), result, f"skill {skill}")
    return result


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_skill_declares_a_result_schema_in_the_schema_subset(name: str) -> None:
    schema = result_schema(SKILLS.get(name))
    assert schema["type"] == "object" and schema["properties"] and schema["required"]
    check_schema(schema, f"{name}.result_schema")


def test_the_example_plugins_skill_declares_its_result() -> None:
    acme = pytest.importorskip("acme_cells.skills")
    (feed,) = acme.SKILLS
    check_schema(feed.result_schema, "feed_part.result_schema")
    check_result(feed.result_schema, {"fed_in_s": 1.25}, "skill feed_part")


def test_what_the_built_in_skills_return_meets_their_result_schemas(mock_cell: CellRuntime) -> None:
    assert run(mock_cell, "noop", duration_s=0.1) == {"duration_s": 0.1}
    assert run(mock_cell, "move_to", location="home")["location"] == "home"
    picked = run(mock_cell, "pick", part="red_cube")
    placed = run(mock_cell, "place", at="outfeed_a", retreat_to="home")
    assert placed["part_id"] == picked["part_id"]
    home = mock_cell.robots["panda"].of_kind(Arm)[0]
    assert list(home.state().position) == pytest.approx(list(home.info().configurations["home"]), abs=1e-3)
    moved = run(mock_cell, "pick_place", part="blue_cube", place_at="outfeed_b")
    assert moved["part_type"] == "blue_cube" and len(moved["placed_at"]) == 3


SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"part_id": {"type": "string"},
                   "placed_at": {"type": "array", "items": {"type": "number"}, "minItems": 3,
                                 "maxItems": 3}},
    "required": ["part_id"],
}


@pytest.mark.parametrize(("result", "field"), [
    ({"part_id": 7}, "result.part_id: expected string"),
    ({"part_id": "p", "placed_at": [0.1, "x", 0.3]}, "result.placed_at[1]: expected number"),
    ({"part_id": "p", "placed_at": [0.1, 0.2]}, "result.placed_at: has 2 items"),
    ({"part_id": "p", "speed": 1}, "result.speed: not in the result_schema"),
    ({"placed_at": [0, 0, 0]}, "result.part_id: missing"),
])
def test_a_result_that_breaks_the_declared_schema_is_an_internal_error_naming_the_field(
        result: dict[str, Any], field: str) -> None:
    with pytest.raises(SkillError) as raised:
        check_result(SCHEMA, result, "skill fake")
    assert raised.value.reason == "internal" and not raised.value.retryable
    assert raised.value.message.startswith("skill fake broke its result_schema: ")
    assert field in raised.value.message


def test_a_skill_that_declares_no_result_schema_is_not_checked() -> None:
    check_result({}, {"anything": object()}, "skill old")
    with pytest.raises(SkillError, match="returned list, not a dict"):
        check_result({}, [], "skill old")  # type: ignore[arg-type]


@pytest.mark.parametrize(("params", "message"), [
    ({"part": "red_cube", "from": "outfeed_b"}, "no red_cube in station outfeed_b"),
    ({"part": "purple_cube"}, "no part type 'purple_cube'"),
])
@pytest.mark.parametrize("skill", ["pick", "pick_place"])
def test_a_pick_of_a_part_the_locator_cannot_find_fails_with_not_found(
        mock_cell: CellRuntime, skill: str, params: dict[str, Any], message: str) -> None:
    if skill == "pick_place":
        params = {**params, "place_at": "outfeed_a"}
    with pytest.raises(SkillError) as raised:
        run(mock_cell, skill, **params)
    assert (raised.value.reason, raised.value.retryable) == ("not_found", False)
    assert message in raised.value.message


def test_a_skill_finds_the_one_robot_with_the_component_it_needs(mock_cell: CellRuntime) -> None:
    """A cell's presence sensor (a robot without an arm) does not make its arm ambiguous;
    two robots with arms do, and the error names them."""
    (panda,) = mock_cell.robots.values()
    sensor = Robot("people", "pybullet.presence", "presence", "pybullet", {})
    ctx = SkillContext({"panda": panda, "people": sensor})
    assert ctx.arm() is panda.of_kind(Arm)[0]
    with pytest.raises(SkillError) as two:
        SkillContext({"a": panda, "b": panda}).arm()
    assert two.value.reason == "invalid_params"
    assert "['a', 'b'] each have a component of kind 'arm'" in two.value.message
    with pytest.raises(SkillError) as none:
        SkillContext({"people": sensor, "other": sensor}).arm()
    assert none.value.reason == "not_found" and "['other', 'people']" in none.value.message
