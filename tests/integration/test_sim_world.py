"""Loading, stepping, querying and rendering the simulated arm cell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cellwright.sim_worlds import SimWorld, WorldConfigError, load_world


@pytest.fixture
def world() -> Iterator[SimWorld]:
    world = load_world("arm_cell")
    yield world
    world.close()


def test_arm_cell_has_its_robot_parts_and_locations(world: SimWorld) -> None:
    assert list(world.robots) == ["arm"]
    assert world.part_types() == ["blue_cube", "green_cube", "red_cube"]
    assert len(world.parts_in("infeed")) == 9
    assert world.parts_in("outfeed_a") == []
    assert {"infeed", "outfeed_a", "outfeed_b", "camera"} <= set(world.locations)
    assert "home" in world.joint_locations


def test_locate_part_reads_the_pose_from_physics(world: SimWorld) -> None:
    found = world.locate_part("green_cube")
    assert found is not None and found.type == "green_cube"
    assert found.pose.position[2] == pytest.approx(0.43, abs=2e-3)  # resting on the tray floor
    assert world.locate_part("green_cube", region="outfeed_b") is None


def test_same_seed_gives_the_same_world() -> None:
    poses = []
    for _ in range(2):
        world = load_world("arm_cell", seed=7)
        poses.append([world.part_info(part_id).pose for part_id in world.parts])
        world.close()
    assert poses[0] == poses[1]


def test_step_listeners_run_at_their_rate(world: SimWorld) -> None:
    calls: list[float] = []
    world.add_step_listener(lambda: calls.append(world.now_s()), every_n_steps=2)
    start = world.now_s()
    world.step(10)
    assert len(calls) == 5
    assert world.now_s() - start == pytest.approx(10 * world.dt)


def test_idle_for_keeps_the_clock_running(world: SimWorld) -> None:
    start, stamp = world.now_s(), world.robots["arm"].state().stamp_s
    world.idle_for(0.05)
    assert world.now_s() > start
    assert world.robots["arm"].state().stamp_s > stamp


def test_render_png_writes_an_image(world: SimWorld, tmp_path: Path) -> None:
    path = tmp_path / "overview.png"
    world.render_png(path, width=64, height=48)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_malformed_world_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nobjects:\n  - {kind: box, size: [1, 2]}\n")
    with pytest.raises(WorldConfigError, match=r"objects\[0\]\.size"):
        load_world(str(path))


def test_unknown_world_name_lists_packaged_worlds() -> None:
    with pytest.raises(FileNotFoundError, match="arm_cell"):
        load_world("no_such_world")
