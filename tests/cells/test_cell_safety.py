"""A cell config's `safety:` entry and the monitor its environment builds: on with a
presence component, off (and saying so) without one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cellwright.cells.config import ConfigError, parse_config
from cellwright.cells.environment import Environment
from cellwright.robots.safety import PROTECTIVE, SafetyConfig

# A worker standing 1 m from the Panda's base (it sets off after a minute).
WORLD = """
objects: [{name: floor, kind: urdf, urdf: plane.urdf}]
workers: [{name: walker, route: [[1.0, 0.0], [4.0, 0.0]], start_delay_s: 60}]
"""


@pytest.fixture
def world(tmp_path: Path) -> str:
    path = tmp_path / "walker.yaml"
    path.write_text(WORLD)
    return str(path)


def _config(world: str, **extra: Any) -> dict[str, Any]:
    return {"cell_id": "arm-1", "world": world, "robots": {"panda": "pybullet.panda"}, **extra}


@pytest.fixture
def built() -> Iterator[list[Environment]]:
    environments: list[Environment] = []
    yield environments
    for env in environments:
        env.close()


def test_a_cell_with_a_presence_robot_monitors_every_other_component(world: str, built: list[Environment]) -> None:
    config = parse_config(_config(world, robots={"panda": "pybullet.panda", "people": "pybullet.presence"},
                                  safety={"warning_m": 2.0, "protective_m": 1.0}), "cell.yaml")
    env = Environment.build([config])
    built.append(env)
    runtime = env.cells["arm-1"]
    assert runtime.safety.config == SafetyConfig(warning_m=2.0, protective_m=1.0)
    env.loop.tick()
    record = runtime.safety.record()
    assert record.on
    assert [entry.component for entry in record.components] == ["panda/arm", "panda/gripper"]
    assert record.of("panda/arm").zone == PROTECTIVE
    assert runtime.robots["panda"].components["arm"].speed_override < 1.0


def test_without_a_presence_robot_the_monitor_is_off_and_says_so(world: str, built: list[Environment]) -> None:
    env = Environment.build([parse_config(_config(world), "cell.yaml")])
    built.append(env)
    env.loop.tick()
    record = env.cells["arm-1"].safety.record()
    assert not record.on
    assert record.note == "off: no presence component in this cell (e.g. `people: pybullet.presence`)"
    assert env.cells["arm-1"].robots["panda"].components["arm"].speed_override == 1.0


def test_safety_without_a_presence_robot_is_refused(world: str) -> None:
    config = parse_config(_config(world, safety={}), "cell.yaml")
    with pytest.raises(ConfigError, match=r"cell.yaml: safety: given, but no robot of the cell has a presence "
                                          r"component, so nobody would be watched"):
        Environment.build([config])


@pytest.mark.parametrize("safety, message", [
    ({"warning_m": 1.0, "protective_m": 1.0},
     "cell.yaml: safety.protective_m: 1.0 m must be less than warning_m (1.0 m)"),
    ({"protective_m": -0.5}, "cell.yaml: safety.protective_m: must not be negative, got -0.5"),
    ({"clear_s": -1}, "cell.yaml: safety.clear_s: must not be negative, got -1"),
    ({"slow_fraction": 0}, "cell.yaml: safety.slow_fraction: must be in (0, 1], got 0"),
    ({"warn_m": 1.0}, "cell.yaml: safety.warn_m: unknown key; allowed:"),
    ([1.5, 0.8], "cell.yaml: safety: expected a mapping"),
])
def test_bad_safety_entries_are_refused_naming_the_key(safety: Any, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(_config("w.yaml", safety=safety), "cell.yaml")
    assert str(refused.value).startswith(message)
