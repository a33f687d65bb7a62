"""The humanoid's skills on the line world, on real physics: walking reports what it did,
and bad targets get precise errors (a goal inside a table, a station nobody shares, an
overweight tote, no tote where one is asked for)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cellwright.cells.config import CellConfig, RobotEntry
from cellwright.cells.environment import Environment
from cellwright.cells.skills import SkillContext, SkillError, check_result, get_skill
from cellwright.robots import Carrier, LeggedBase
from cellwright.sim_worlds.registry import WORLDS_DIR

G1 = {"g1": RobotEntry("pybullet.g1", "g1")}


def humanoid(world: str | Path = "line") -> Environment:
    environment = Environment.build([CellConfig(cell_id="humanoid", world=str(world), robots=G1,
                                                seed=1, clock="lockstep")])
    environment.start()
    return environment


@pytest.fixture
def line() -> Iterator[Environment]:
    environment = humanoid()
    yield environment
    environment.close()


def context(environment: Environment) -> SkillContext:
    runtime = environment.cells["humanoid"]
    return SkillContext(runtime.robots, runtime.layout, runtime.parts, runtime.loop.now_s,
                        runtime.loop.sleep)


def test_the_g1_is_built_of_legs_arms_hands_and_a_grip(line: Environment) -> None:
    robot = line.cells["humanoid"].robots["g1"]
    assert sorted(robot.components) == ["carrier", "left_arm", "left_hand", "legs", "right_arm",
                                        "right_hand"]
    legs = robot.of_kind(LeggedBase)[0]
    assert legs.info().tier == "dynamic" and legs.info().helper_forces == ()
    assert robot.of_kind(Carrier)[0].info().payload_limit_kg > 3.0
    assert any("spinning" in a or "torsional" in a for a in robot.approximations)


def test_walk_to_reports_distance_margin_and_tier(line: Environment) -> None:
    skill = get_skill("walk_to")
    result = skill.run(context(line), {"x": 1.1, "y": 0.25, "yaw": 3.14159265})
    check_result(skill.result_schema, result, "walk_to")
    assert abs(result["arrived_at"][0] - 1.1) < 0.1 and abs(result["arrived_at"][1] - 0.25) < 0.1
    # the feet's midpoint, turning steps included: a 180 deg turn each way and 0.3 m ahead
    assert 0.3 < result["distance_m"] < 2.0
    assert result["min_margin_m"] > -0.02 and result["walking_tier"] == "dynamic"
    assert result["duration_s"] > 0


def test_a_goal_inside_a_table_is_refused_naming_it(line: Environment) -> None:
    with pytest.raises(SkillError) as caught:
        get_skill("walk_to").run(context(line), {"x": 0.2, "y": 3.0, "yaw": 0.0})
    assert caught.value.reason == "unreachable"
    assert "assembly_table" in caught.value.message


def test_walk_to_needs_a_location_or_all_three_coordinates(line: Environment) -> None:
    with pytest.raises(SkillError, match=r"give `to` .* or all of x, y and yaw") as caught:
        get_skill("walk_to").run(context(line), {"x": 1.0})
    assert caught.value.reason == "invalid_params"


def test_a_handover_needs_a_station_two_mounts_reach(line: Environment) -> None:
    with pytest.raises(SkillError, match="station assembly is not shared") as caught:
        get_skill("handover").run(context(line), {"station": "assembly", "direction": "give"})
    assert caught.value.reason == "invalid_params"


def test_placing_with_empty_hands_is_refused(line: Environment) -> None:
    with pytest.raises(SkillError, match="holds no tote") as caught:
        get_skill("place_tote").run(context(line), {"at": "assembly"})
    assert caught.value.reason == "place_failed"


def test_an_overweight_tote_is_refused_before_the_hands_touch_it(tmp_path: Path) -> None:
    spec = yaml.safe_load((WORLDS_DIR / "line.yaml").read_text())
    spec["layout"] = str(WORLDS_DIR / "line.layout.yaml")
    spec["part_types"]["tote"]["mass"] = 8.0
    path = tmp_path / "heavy_line.yaml"
    path.write_text(yaml.safe_dump(spec))
    environment = humanoid(path)
    try:
        with pytest.raises(SkillError) as caught:
            get_skill("pick_tote").run(context(environment), {"from": "kitting"})
        assert caught.value.reason == "payload"
        assert "8.0 kg exceeds the G1's payload limit" in caught.value.message
    finally:
        environment.close()
