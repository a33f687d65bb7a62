"""Loading, stepping, querying and rendering the packaged worlds, and the ground-truth
part locator on a running control loop. (Robots in a world are tested with the robots.)"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from cellwright.robots.loop import ControlLoop
from cellwright.robots.parts import PartSighting
from cellwright.sim_worlds import SETTLE_S, SimWorld, WorldConfigError, load_world
from cellwright.sim_worlds.locator import GroundTruthLocator

T = TypeVar("T")


@pytest.fixture
def world() -> Iterator[SimWorld]:
    world = load_world("arm_cell")
    yield world
    world.close()


@pytest.fixture
def loop(world: SimWorld) -> Iterator[ControlLoop]:
    """A running control loop that owns `world` (lockstep: it ticks only with work)."""
    loop = ControlLoop(world.dt, world=world)
    loop.start()
    yield loop
    loop.stop()


def test_arm_cell_has_its_layout_and_parts_but_no_robots(world: SimWorld) -> None:
    assert not hasattr(world, "robots")
    assert world.layout.name == "arm_cell"
    assert set(world.layout.mounts) == {"panda"}
    assert world.layout.mount("panda").position == (0.0, 0.0, 0.4)
    assert set(world.layout.stations) == {"infeed", "outfeed_a", "outfeed_b"}
    assert set(world.layout.locations) == {"infeed", "outfeed_a", "outfeed_b", "camera"}
    assert world.part_types() == ["blue_cube", "green_cube", "red_cube"]
    assert len(world.parts) == 9
    infeed = world.layout.station("infeed")
    for part_id in world.parts:
        position = world.part_info(part_id).pose.position
        assert infeed.contains(position)
        # settled on the tray floor: centre half a cube above surface_z
        assert position[2] == pytest.approx(infeed.surface_z + 0.02, abs=2e-3)


def test_loading_settles_the_parts_and_step_only_steps(world: SimWorld) -> None:
    assert world.now_s() == pytest.approx(SETTLE_S, abs=world.dt)
    steps = world.clock.steps
    before = {part_id: world.part_info(part_id).pose for part_id in world.parts}
    world.step(24)
    assert world.clock.steps == steps + 24
    assert world.now_s() == pytest.approx((steps + 24) * world.dt)
    after = {part_id: world.part_info(part_id).pose for part_id in world.parts}
    for part_id, pose in before.items():  # settled parts stay put
        assert math.dist(pose.position, after[part_id].position) < 1e-4


def test_bodies_have_their_world_file_names(world: SimWorld) -> None:
    part = world.parts["red_cube-1"]
    assert world.is_part(part.body_id) and world.body_name(part.body_id) == "red_cube-1"
    assert {world.body_name(b) for b in range(5)} == {"floor", "table", "infeed", "outfeed_a",
                                                      "outfeed_b"}
    assert not any(world.is_part(b) for b in range(5))
    with pytest.raises(KeyError, match="no part 'red_cube-9'"):
        world.part_info("red_cube-9")


def test_line2_holds_two_cells_with_a_shared_handover() -> None:
    world = load_world("line2", seed=3)
    try:
        layout = world.layout
        assert set(layout.mounts) == {"arm_a", "arm_b"}
        assert math.dist(layout.mount("arm_a").position, layout.mount("arm_b").position) == \
            pytest.approx(1.0)
        assert layout.reachable_by({"arm_a"}) == {"infeed", "handover", "camera_a", "handover_zone"}
        assert layout.reachable_by({"arm_b"}) == {"outfeed", "handover", "camera_b", "handover_zone"}
        assert layout.zones["handover_zone"].stations == ("handover",)
        for name, station in layout.stations.items():
            place = layout.location(name).pose.position
            assert place[:2] == station.center[:2]
            assert place[2] == pytest.approx(station.surface_z + 0.028)
            # every station lies within the Panda's reach (~0.85 m) of the arms that reach it
            for mount in station.reach:
                assert math.dist(layout.mount(mount).position[:2], station.center[:2]) < 0.7
        infeed = layout.station("infeed")
        positions = [world.part_info(part_id).pose.position for part_id in world.parts]
        assert len(positions) == 6 and all(infeed.contains(p) for p in positions)
    finally:
        world.close()


def test_ground_truth_locator_reads_on_the_loop_thread(world: SimWorld, loop: ControlLoop) -> None:
    threads: list[str] = []

    def on_loop(fn: Callable[[], T]) -> T:
        def recorded() -> T:
            threads.append(threading.current_thread().name)
            return fn()
        return loop.call(recorded)

    locator = GroundTruthLocator(world, on_loop)
    assert locator.id == "pybullet.ground_truth"
    assert "ground truth" in locator.approximation and "no perception" in locator.approximation
    assert "ground truth" in (GroundTruthLocator.__doc__ or "")
    assert locator.part_types() == ["blue_cube", "green_cube", "red_cube"]
    sightings = locator.parts()
    assert [s.id for s in sightings] == sorted(world.parts)
    assert all(isinstance(s, PartSighting) for s in sightings)
    assert locator.part("blue_cube-2") == PartSighting(
        "blue_cube-2", "blue_cube", world.part_info("blue_cube-2").pose)
    assert threads and set(threads) == {"control-loop"}
    assert threading.current_thread().name != "control-loop"
    with pytest.raises(KeyError, match="no part 'ghost'"):
        locator.part("ghost")


def test_ground_truth_locator_finds_parts_in_stations(world: SimWorld, loop: ControlLoop) -> None:
    locator = GroundTruthLocator(world, loop.call)
    layout = world.layout
    infeed, outfeed = layout.station("infeed"), layout.station("outfeed_b")
    assert len(locator.parts_in(infeed)) == 9
    assert locator.parts_in(outfeed) == []
    found = locator.locate("blue_cube", infeed)
    # the blue cube nearest the centre is the one spawned at the centre
    assert found is not None and found.id == "blue_cube-2"
    assert math.dist(found.pose.position[:2], infeed.center[:2]) < 0.01
    assert found.pose.position[2] == pytest.approx(infeed.surface_z + 0.02, abs=2e-3)
    assert locator.locate("blue_cube", outfeed) is None
    near = locator.nearest((0.41, -0.09, 0.43), max_distance_m=0.02)
    assert near is not None and near.id == "red_cube-1"
    assert locator.nearest((0.0, 0.0, 1.5), max_distance_m=0.1) is None


def test_render_png_writes_an_image(world: SimWorld, tmp_path: Path) -> None:
    path = tmp_path / "overview.png"
    world.render_png(path, width=64, height=48)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(KeyError, match=r"no camera 'top'; this world has \['inspection', 'overview'\]"):
        world.render_png(path, camera="top")


def test_malformed_world_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nobjects:\n  - {kind: box, size: [1, 2]}\n")
    with pytest.raises(WorldConfigError, match=r"bad.yaml: objects\[0\]\.size"):
        load_world(str(path))
