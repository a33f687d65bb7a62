"""World files and the worlds registry: lookup, paths, `at:` placement, seeds, errors."""

from __future__ import annotations

import importlib.metadata
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellwright.api.layout import LayoutError
from cellwright.api.registry import RegistryError
from cellwright.sim_worlds import WORLDS, WorldConfigError, WorldEntry, load_world, resolve_world_path
from cellwright.sim_worlds.registry import WORLDS_DIR
from cellwright.sim_worlds.spec import read_world, spawn_poses

LAYOUT = """\
apiVersion: cellwright/v1
kind: Layout
mounts:
  arm: {position: [0, 0, 0.4]}
stations:
  bench: {center: [0.5, 0.1, 0.5], size: [0.4, 0.4, 0.2], surface_z: 0.43, reach: [arm]}
"""


def write_world(tmp_path: Path, objects: str, *, layout: str = LAYOUT, extra: str = "") -> Path:
    (tmp_path / "cell.layout.yaml").write_text(layout)
    path = tmp_path / "cell.yaml"
    path.write_text(f"name: cell\nlayout: cell.layout.yaml\nobjects:\n"
                    f"{textwrap.indent(objects, '  ')}{extra}")
    return path


# --- registry and paths ------------------------------------------------------------------
def test_packaged_worlds_are_registered() -> None:
    assert {"arm_cell", "line2"} <= set(WORLDS.ids())
    assert WORLDS.get("arm_cell").path == WORLDS_DIR / "arm_cell.yaml"
    assert WORLDS.origin("line2") == "cellwright (built in)"
    assert resolve_world_path("line2") == WORLDS_DIR / "line2.yaml"


def test_unknown_world_name_suggests_a_close_one() -> None:
    with pytest.raises(RegistryError, match=r"unknown world 'arm_cel'; did you mean 'arm_cell'\?"):
        resolve_world_path("arm_cel")
    with pytest.raises(RegistryError, match=r"known: \[.*'arm_cell'.*'line2'"):
        load_world("no_such_world")


def test_yaml_paths_are_used_as_given(tmp_path: Path) -> None:
    assert resolve_world_path("some/where/cell.yaml") == Path("some/where/cell.yaml")
    assert resolve_world_path("cell.yml") == Path("cell.yml")
    with pytest.raises(WorldConfigError, match=r"missing\.yaml: No such file"):
        load_world(str(tmp_path / "missing.yaml"))


def test_registry_refuses_bad_entries(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"must be a cellwright\.sim_worlds\.registry\.WorldEntry"):
        WORLDS.register("arm_cell")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no file"):
        WORLDS.register(WorldEntry("ghost", tmp_path / "ghost.yaml"))
    with pytest.raises(RegistryError, match="'arm_cell' is already registered"):
        WORLDS.register(WorldEntry("arm_cell", WORLDS_DIR / "line2.yaml"))


@pytest.fixture
def plugin_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A plugin package declaring a world in the entry-point group `cellwright.worlds`."""
    world = write_world(tmp_path, "- {name: bench_top, kind: box, size: [0.4, 0.4, 0.05], at: bench}\n")
    (tmp_path / "acme_worlds.py").write_text(
        "from pathlib import Path\n"
        "from cellwright.sim_worlds.registry import WorldEntry\n"
        f"WORLDS = [WorldEntry('acme_cell', Path({str(world)!r}))]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint("acme", "acme_worlds:WORLDS", "cellwright.worlds")
    monkeypatch.setattr("cellwright.api.registry.entry_points",
                        lambda group: [point] if group == "cellwright.worlds" else [])
    monkeypatch.setattr(WORLDS, "_loaded", False)
    yield world
    WORLDS.unregister("acme_cell")


def test_plugins_add_worlds_through_entry_points(plugin_world: Path) -> None:
    assert resolve_world_path("acme_cell") == plugin_world
    assert WORLDS.origin("acme_cell") == "entry point acme (acme_worlds:WORLDS)"


# --- the world format ----------------------------------------------------------------------
def test_at_puts_the_top_on_the_station_surface(tmp_path: Path) -> None:
    spec = read_world(write_world(tmp_path, (
        "- {name: plate, kind: box, size: [0.3, 0.2, 0.04], at: bench, orientation_rpy: [0, 0, 0.5]}\n"
        "- {name: tray, kind: tray, size: [0.3, 0.3, 0.01], wall_height: 0.03, at: bench}\n"
        "- {name: free, kind: box, size: [0.1, 0.1, 0.1], position: [1, 2, 3]}\n")))
    plate, tray, free = spec.objects
    assert plate.at == "bench" and plate.position == pytest.approx((0.5, 0.1, 0.43 - 0.02))
    assert tray.position == pytest.approx((0.5, 0.1, 0.43 - 0.005))  # floor top at surface_z
    assert (free.at, free.position) == ("", (1.0, 2.0, 3.0))
    assert spec.layout.station("bench").surface_z == 0.43


def test_packaged_trays_stand_on_their_stations() -> None:
    for name in ("arm_cell", "line2"):
        spec = read_world(resolve_world_path(name))
        trays = [o for o in spec.objects if o.kind == "tray"]
        assert trays and all(o.at for o in trays)
        for tray in trays:
            station = spec.layout.station(tray.at)
            assert tray.position[2] + tray.size[2] / 2 == pytest.approx(station.surface_z)
            assert tray.position[:2] == station.center[:2]
    arm_cell = read_world(resolve_world_path("arm_cell"))
    positions = [c for o in arm_cell.objects if o.kind == "tray" for c in o.position]
    assert positions == pytest.approx([0.5, 0.0, 0.405, 0.35, 0.42, 0.405,
                                       0.35, -0.42, 0.405])  # where they were before layouts


@pytest.mark.parametrize(("objects", "message"), [
    ("- {kind: box, size: [0.1, 0.1, 0.1], at: shelf}\n",
     "objects[0].at: 'shelf' is not a station of the layout "),
    ("- {kind: box, size: [0.1, 0.1, 0.1], at: bench, position: [0, 0, 0]}\n",
     "objects[0].position: give either `at` or `position`, not both"),
    ("- {kind: urdf, urdf: plane.urdf, at: bench}\n", "objects[0].at: only boxes and trays"),
    ("- {kind: box, size: [0.1, 0.1, 0.1], at: bench, orientation_rpy: [0.1, 0, 0]}\n",
     "objects[0].orientation_rpy: with `at`, only the yaw may be non-zero"),
    ("- {kind: box, size: [0.1, 0.1, 0.1], at: [bench]}\n", "objects[0].at: expected a station name"),
    ("- {kind: box, size: [0.1, 0.1]}\n", "objects[0].size: expected a list of 3 numbers"),
    ("- {kind: box, size: [0.1, 0.1, 0.1], colour: [1, 0, 0, 1]}\n", "objects[0].colour: unknown key"),
    ("- {kind: box, size: [0.1, 0.1, 0.1], wall_height: 0.1}\n",
     "objects[0].wall_height: only for kind tray"),
    ("- {kind: cone, size: [0.1, 0.1, 0.1]}\n", "objects[0].kind: 'cone' is not one of urdf, box, tray"),
    ("- {kind: box, size: [0.1, 0.1, 0.1], friction: high}\n", "objects[0].friction: expected a number"),
    ("- {kind: box, size: [0.1, 0.1, 0.1], color: [2, 0, 0, 1]}\n",
     "objects[0].color: expected RGBA values in 0..1"),
])
def test_object_errors_name_the_file_and_key(tmp_path: Path, objects: str, message: str) -> None:
    path = write_world(tmp_path, objects)
    with pytest.raises(WorldConfigError) as caught:
        read_world(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(("extra", "message"), [
    ("regions: {}\n", "regions: no longer a world key: regions are stations of the line layout"),
    ("locations: {}\n", "locations: no longer a world key"),
    ("robots: []\n", "robots: no longer a world key: robots are named by cell configs"),
    ("gravity: [0, 0, -9.81]\n", ": gravity: unknown key"),
    ("physics: {dt: 0}\n", "physics.dt: must be positive"),
    ("physics: {substeps: 2}\n", "physics.substeps: unknown key"),
    ("physics: {solver_iterations: 2.5}\n", "physics.solver_iterations: expected a positive integer"),
    ("spawn_jitter: {position_m: -1}\n", "spawn_jitter.position_m: must be at least 0"),
    ("part_types: {cube: {size: [0.04, 0.04, 0.04]}}\n", "part_types.cube: missing 'mass'"),
    ("part_types: {cube: {size: [0.04, 0.04, 0.04], mass: 0}}\n", "part_types.cube.mass: must be positive"),
    ("part_types: {cube: {size: [0.04, 0.04, 0.04], mass: 1}}\nparts: [{type: ball, position: [0, 0, 1]}]\n",
     "parts[0].type: 'ball' is not in part_types ['cube']"),
    ("part_types: {cube: {size: [0.04, 0.04, 0.04], mass: 1}}\nparts: [{type: cube, pos: [0, 0, 1]}]\n",
     "parts[0].pos: unknown key"),
    ("cameras: {top: {eye: [0, 0, 2]}}\n", "cameras.top: missing 'target'"),
    ("part_types: {tote: {size: [0.4, 0.3, 0.01], mass: 1, shape: bag}}\n",
     "part_types.tote.shape: expected one of ['box', 'tray'], got 'bag'"),
    ("part_types: {cube: {size: [0.04, 0.04, 0.04], mass: 1, wall_height: 0.1}}\n",
     "part_types.cube: wall_height and wall_thickness are for `shape: tray`"),
    ("part_types: {tote: {size: [0.04, 0.3, 0.01], mass: 1, shape: tray, wall_thickness: 0.02}}\n",
     "part_types.tote.wall_thickness: 0.02 m leaves no room inside"),
])
def test_world_errors_name_the_file_and_key(tmp_path: Path, extra: str, message: str) -> None:
    path = write_world(tmp_path, "[]\n", extra=extra)
    with pytest.raises(WorldConfigError) as caught:
        read_world(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_layout_reference_errors(tmp_path: Path) -> None:
    path = tmp_path / "cell.yaml"
    path.write_text("layout: nowhere.layout.yaml\n")
    with pytest.raises(WorldConfigError, match=r"cell.yaml: layout: no file .*nowhere.layout.yaml"):
        read_world(path)
    with pytest.raises(LayoutError, match=r"cell.layout.yaml: mounts.arm.position"):
        read_world(write_world(tmp_path, "[]\n", layout="mounts: {arm: {position: [0, 0]}}\n"))


def test_a_world_without_a_layout_has_the_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text("objects: [{kind: box, size: [1, 1, 1]}]\n")
    spec = read_world(path)
    assert (spec.name, spec.layout.name, dict(spec.layout.stations)) == ("bare", "empty", {})


# --- seeds ------------------------------------------------------------------------------------
def test_spawn_poses_follow_the_seed() -> None:
    spec = read_world(resolve_world_path("arm_cell"))
    assert spawn_poses(spec, 3) == spawn_poses(spec, 3)
    assert spawn_poses(spec, 3) != spawn_poses(spec, 4)
    assert [s.id for s in spawn_poses(spec, 0)][:3] == ["red_cube-1", "green_cube-1", "blue_cube-1"]


def test_same_seed_same_world_other_seed_other_world() -> None:
    def settled_poses(seed: int) -> list[object]:
        world = load_world("arm_cell", seed=seed)
        try:
            assert world.seed == seed
            return [world.part_info(part_id).pose for part_id in world.parts]
        finally:
            world.close()

    first = settled_poses(7)
    assert settled_poses(7) == first  # bit for bit, after settling
    assert settled_poses(8) != first


def test_a_tray_shaped_part_carries_what_lies_in_it(tmp_path: Path) -> None:
    """A tote is a movable tray: a cube put in it rides along when the tote is moved."""
    import pybullet as p

    path = write_world(tmp_path, "[{name: floor, kind: urdf, urdf: plane.urdf}]\n", extra=(
        "part_types:\n"
        "  tote: {size: [0.4, 0.3, 0.01], mass: 1.5, shape: tray, wall_height: 0.12}\n"
        "  cube: {size: [0.04, 0.04, 0.04], mass: 0.05}\n"
        "parts: [{type: tote, position: [0, 0, 0.005]}, {type: cube, position: [0, 0, 0.031]}]\n"))
    world = load_world(str(path))
    try:
        tote = world.parts["tote-1"].body_id
        assert p.getDynamicsInfo(tote, -1, physicsClientId=world.client)[0] == 1.5
        for _ in range(120):  # push the tote 0.5 s, let it slide
            p.applyExternalForce(tote, -1, (30.0, 0.0, 0.0), (0.0, 0.0, 0.0), p.WORLD_FRAME,
                                 physicsClientId=world.client)
            world.step()
        tote_x = world.part_info("tote-1").pose.position[0]
        cube_x = world.part_info("cube-1").pose.position[0]
        assert tote_x > 0.1
        assert abs(cube_x - tote_x) < 0.2 - 0.02  # still between the tote's walls
    finally:
        world.close()
