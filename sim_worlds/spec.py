"""The world file format: YAML parsed into frozen dataclasses, checked with clear errors.

A world file describes a simulated scene: physics, scenery, parts, workers and cameras. Where
things are in the line (robot mounts, stations, locations, zones) is the line layout's
business (`cellwright.api.layout`, docs/layout.md); the world file refers to its layout.
Robots are not in the world: cell configs name them and the layout mount they stand on.

Top-level keys (all optional; a key not listed here is an error)::

    name: arm_cell                   # default: the file's stem
    description: one line
    layout: arm_cell.layout.yaml     # the line layout, relative to this file; without it
                                     # the world has the empty layout (no stations)
    physics: {dt: 0.0041667, gravity: [0, 0, -9.81], solver_iterations: 100}
    spawn_jitter: {position_m: 0.003, yaw_deg: 8}    # seeded noise on part spawn poses
    objects:        # static scenery: kind urdf (pybullet_data or relative path), box, tray
      - {name: floor, kind: urdf, urdf: plane.urdf}
      - {name: table, kind: box, size: [x, y, z], position: [x, y, z], orientation_rpy: [r, p, y],
         color: [r, g, b, a], friction: 0.8}
      - {name: infeed, kind: tray, size: [x, y, floor_z], wall_height: 0.03, wall_thickness: 0.01,
         at: infeed}                  # stands on the layout station `infeed` (see below)
    part_types:     # movable parts: size (m), mass (kg), color, friction; shape box (default)
                    # or tray (a tote: size x, y, floor height; wall_height, wall_thickness)
      red_cube: {size: [0.04, 0.04, 0.04], mass: 0.05, color: [0.8, 0.1, 0.1, 1], friction: 1.0}
    parts:          # spawned parts: type, position (centre), yaw_deg
      - {type: red_cube, position: [x, y, z], yaw_deg: 0}
    cameras:
      overview: {eye: [x, y, z], target: [x, y, z], up: [0, 0, 1], fov_deg: 50}
    workers:        # people walking routes on the floor (sim_worlds.workers), not parts
      - {name: alice, route: [[x, y], [x, y], ...], mode: back_and_forth, speed_m_s: 1.2,
         start_delay_s: 0, pause_s: 0, radius_m: 0.25, height_m: 1.75}

Object keys: `name` (default `object<i>`), `kind` (required), `urdf` (kind urdf), `size`
(box, tray: for a tray, x, y and the floor plate's height), `position` (default origin),
`at`, `orientation_rpy` (rad), `color` (RGBA 0..1), `friction`, and for trays
`wall_height`, `wall_thickness` (m; walls stand on the floor plate).

`at: <station>` places a box or tray on a station of the layout: its x, y are the station
centre's and its top (a box's top face, a tray's floor top: both `position.z + size.z / 2`)
is the station's `surface_z`, so parts placed in it rest at `surface_z`. `at` excludes
`position`, and allows only a yaw in `orientation_rpy`; urdf objects cannot use it.

Worker keys: `name` (required, unique), `route` (required: at least two [x, y] floor
waypoints, world frame), `mode` (`loop`: back to the first waypoint and round again;
`back_and_forth`: to the last and back), `speed_m_s` (walking speed, > 0 and at most 1.6,
ISO 13855's walking speed; default 1.2), `start_delay_s` (stands at the first waypoint until
then), `pause_s` (stands still at each end: both ends of a back-and-forth route, the first
waypoint of a loop), `radius_m` and `height_m` (the body, a vertical cylinder; default 0.25
and 1.75), `color`. Times are on the simulation clock, which starts when the world loads;
a worker's walk is a function of that clock alone, so every run (every seed) repeats it.

Units: metres, kilograms, radians, except keys ending `_deg`. Every error names the file
and the key (`arm_cell.yaml: objects[2].size: expected a list of 3 numbers ...`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellwright.api import fields
from cellwright.api.geometry import quaternion_from_rpy
from cellwright.api.layout import EMPTY, Layout, load_layout
from cellwright.api.yamlfile import load_yaml

Vec3 = fields.Vec3
Quat = fields.Quat
Color = tuple[float, float, float, float]

TOP_KEYS = {"name", "description", "layout", "physics", "spawn_jitter", "objects", "part_types",
            "parts", "cameras", "workers"}
MOVED_KEYS = {
    "regions": "regions are stations of the line layout now (`stations`, with `surface_z`); "
               "refer to the layout with `layout: <file>` (docs/layout.md)",
    "locations": "tool-pose locations are in the line layout now (`locations`); joint-space "
                 "ones like `home` come from the robot model (docs/layout.md)",
    "robots": "robots are named by cell configs now, standing on the layout's `mounts` "
              "(docs/layout.md)",
}
OBJECT_KEYS = {"name", "kind", "urdf", "size", "position", "at", "orientation_rpy", "color",
               "friction", "wall_height", "wall_thickness"}
OBJECT_KINDS = ("urdf", "box", "tray")
PART_SHAPES = ("box", "tray")
WORKER_KEYS = {"name", "route", "mode", "speed_m_s", "start_delay_s", "pause_s", "radius_m",
               "height_m", "color"}
ROUTE_MODES = ("loop", "back_and_forth")
MAX_WALKING_SPEED_M_S = 1.6
"""ISO 13855's walking speed of a person approaching a machine."""


class WorldConfigError(ValueError):
    """A world file is malformed; the message names the file and the offending key."""


@dataclass(frozen=True)
class PhysicsSpec:
    dt: float = 1.0 / 240.0
    gravity: Vec3 = (0.0, 0.0, -9.81)
    solver_iterations: int = 100


@dataclass(frozen=True)
class ObjectSpec:
    """A static object: `kind` is urdf, box or tray; `at` the station it stands on, if any."""

    name: str
    kind: str
    position: Vec3
    orientation: Quat
    size: Vec3 = (0.0, 0.0, 0.0)
    urdf: str = ""
    color: Color = (0.7, 0.7, 0.7, 1.0)
    friction: float = 0.8
    wall_height: float = 0.03
    wall_thickness: float = 0.01
    at: str = ""


@dataclass(frozen=True)
class PartTypeSpec:
    """A movable part type: `shape` box (`size` the box) or tray (a tote: `size` x, y and the
    floor plate's height, walls of `wall_height` and `wall_thickness` on top, like tray
    objects)."""

    name: str
    size: Vec3
    mass: float
    color: Color
    friction: float = 1.0
    shape: str = "box"
    wall_height: float = 0.0
    wall_thickness: float = 0.01


@dataclass(frozen=True)
class PartSpec:
    type: str
    position: Vec3
    yaw_rad: float = 0.0


@dataclass(frozen=True)
class CameraSpec:
    name: str
    eye: Vec3
    target: Vec3
    up: Vec3 = (0.0, 0.0, 1.0)
    fov_deg: float = 50.0


@dataclass(frozen=True)
class WorkerSpec:
    """A simulated person walking `route` ([x, y] floor waypoints) in `mode` loop or
    back_and_forth; speed (m/s), start delay and pause at the ends (s), body size (m)."""

    name: str
    route: tuple[tuple[float, float], ...]
    mode: str = "back_and_forth"
    speed_m_s: float = 1.2
    start_delay_s: float = 0.0
    pause_s: float = 0.0
    radius_m: float = 0.25
    height_m: float = 1.75
    color: Color = (1.0, 0.45, 0.0, 1.0)


@dataclass(frozen=True)
class SpawnJitter:
    position_m: float = 0.0
    yaw_rad: float = 0.0


@dataclass(frozen=True)
class WorldSpec:
    """A checked world file. `layout` is the layout it refers to (EMPTY without one);
    `source` the file it was read from."""

    name: str
    layout: Layout
    physics: PhysicsSpec
    spawn_jitter: SpawnJitter
    objects: tuple[ObjectSpec, ...]
    part_types: Mapping[str, PartTypeSpec]
    parts: tuple[PartSpec, ...]
    cameras: Mapping[str, CameraSpec]
    source: str = ""
    workers: tuple[WorkerSpec, ...] = ()


@dataclass(frozen=True)
class SpawnPose:
    """Where a part is spawned: its id (`<type>-<n>`), type, centre and yaw."""

    id: str
    type: str
    position: Vec3
    yaw_rad: float


def read_world(path: str | Path) -> WorldSpec:
    """Read and check a world file and the layout it refers to (relative to the file).

    Raises:
        WorldConfigError: unreadable, not YAML, or invalid, naming the file and key.
        LayoutError: the layout file is invalid (naming the layout file and key).
    """
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise WorldConfigError(f"{source}: {exc.strerror}") from exc
    try:
        data = load_yaml(text, source)
    except ValueError as exc:
        raise WorldConfigError(str(exc)) from exc
    layout = EMPTY
    if isinstance(data, Mapping) and "layout" in data:
        ref = data["layout"]
        if not isinstance(ref, str) or not ref:
            raise WorldConfigError(f"{source}: layout: expected a file name, got {ref!r}")
        layout_path = Path(path).parent / ref
        if not layout_path.is_file():
            raise WorldConfigError(f"{source}: layout: no file {str(layout_path)!r} "
                                   f"(the path is relative to the world file)")
        layout = load_layout(layout_path)
    return parse_world(data, source, layout)


def parse_world(data: Any, source: str, layout: Layout = EMPTY) -> WorldSpec:
    """Check and convert a parsed YAML document; `layout` is the one its `layout` key names.

    Raises:
        WorldConfigError: naming the file and key that is wrong.
    """
    err = WorldConfigError
    doc = fields.mapping(data, source, err)
    for key, moved in MOVED_KEYS.items():
        if key in doc:
            raise err(f"{source}: {key}: no longer a world key: {moved}")
    fields.only_keys(doc, TOP_KEYS, source, err, top=True)
    physics = fields.mapping(doc.get("physics", {}), f"{source}: physics", err)
    fields.only_keys(physics, {"dt", "gravity", "solver_iterations"}, f"{source}: physics", err)
    jitter = fields.mapping(doc.get("spawn_jitter", {}), f"{source}: spawn_jitter", err)
    fields.only_keys(jitter, {"position_m", "yaw_deg"}, f"{source}: spawn_jitter", err)
    part_types = {str(name): _part_type(str(name), value, source)
                  for name, value in _section(doc, "part_types", source).items()}
    parts = tuple(_part(i, v, part_types, source)
                  for i, v in enumerate(fields.items(doc.get("parts", []), f"{source}: parts", err)))
    objects = tuple(_object(i, v, layout, source)
                    for i, v in enumerate(fields.items(doc.get("objects", []),
                                                       f"{source}: objects", err)))
    cameras = {str(name): _camera(str(name), value, source)
               for name, value in _section(doc, "cameras", source).items()}
    workers = tuple(_worker(i, v, source)
                    for i, v in enumerate(fields.items(doc.get("workers", []), f"{source}: workers", err)))
    names = [worker.name for worker in workers]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise err(f"{source}: workers: names must be unique; given twice: {twice}")
    solver = physics.get("solver_iterations", 100)
    if isinstance(solver, bool) or not isinstance(solver, int) or solver < 1:
        raise err(f"{source}: physics.solver_iterations: expected a positive integer, "
                  f"got {solver!r}")
    return WorldSpec(
        name=str(doc.get("name", Path(source).stem)),
        layout=layout,
        physics=PhysicsSpec(
            dt=_number(physics, "dt", f"{source}: physics", 1.0 / 240.0, positive=True),
            gravity=fields.vec3(physics, "gravity", f"{source}: physics", err, (0.0, 0.0, -9.81)),
            solver_iterations=solver),
        spawn_jitter=SpawnJitter(
            _number(jitter, "position_m", f"{source}: spawn_jitter", 0.0, minimum=0.0),
            math.radians(_number(jitter, "yaw_deg", f"{source}: spawn_jitter", 0.0, minimum=0.0))),
        objects=objects, part_types=part_types, parts=parts, cameras=cameras, source=source,
        workers=workers)


def spawn_poses(spec: WorldSpec, seed: int) -> list[SpawnPose]:
    """The parts' spawn poses with the seeded jitter: equal seeds give equal poses.

    Part ids are `<type>-<n>`, numbered per type in file order.
    """
    rng = random.Random(seed)
    jitter = spec.spawn_jitter
    counts: dict[str, int] = {}
    poses = []
    for spawn in spec.parts:
        counts[spawn.type] = counts.get(spawn.type, 0) + 1
        x, y, z = spawn.position
        position = (x + rng.uniform(-1, 1) * jitter.position_m,
                    y + rng.uniform(-1, 1) * jitter.position_m, z)
        yaw = spawn.yaw_rad + rng.uniform(-1, 1) * jitter.yaw_rad
        poses.append(SpawnPose(f"{spawn.type}-{counts[spawn.type]}", spawn.type, position, yaw))
    return poses


def _section(doc: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    return fields.mapping(doc.get(key, {}), f"{source}: {key}", WorldConfigError)


def _object(index: int, value: Any, layout: Layout, source: str) -> ObjectSpec:
    err = WorldConfigError
    where = f"{source}: objects[{index}]"
    entry = fields.mapping(value, where, err)
    fields.only_keys(entry, OBJECT_KEYS, where, err)
    kind = fields.required(entry, "kind", where, err)
    if kind not in OBJECT_KINDS:
        raise err(f"{where}.kind: {kind!r} is not one of {', '.join(OBJECT_KINDS)}")
    urdf = ""
    if kind == "urdf":
        urdf = fields.required(entry, "urdf", where, err)
        if not isinstance(urdf, str) or not urdf:
            raise err(f"{where}.urdf: expected a file name, got {urdf!r}")
        size = fields.vec3(entry, "size", where, err, (0.0, 0.0, 0.0))
    else:
        if "urdf" in entry:
            raise err(f"{where}.urdf: only for kind urdf")
        size = fields.vec3(entry, "size", where, err)
        if min(size) <= 0:
            raise err(f"{where}.size: expected positive sizes (m), got {list(size)}")
    if kind != "tray":
        for key in ("wall_height", "wall_thickness"):
            if key in entry:
                raise err(f"{where}.{key}: only for kind tray")
    rpy = fields.vec3(entry, "orientation_rpy", where, err, (0.0, 0.0, 0.0))
    position = fields.vec3(entry, "position", where, err, (0.0, 0.0, 0.0))
    at = ""
    if "at" in entry:
        at = _station_position_check(entry, kind, rpy, where)
        try:
            station = layout.station(at)
        except KeyError:
            raise err(f"{where}.at: {at!r} is not a station of the layout "
                      f"{layout.source or layout.name}; "
                      f"stations: {sorted(layout.stations)}") from None
        position = (station.center[0], station.center[1], station.surface_z - size[2] / 2)
    return ObjectSpec(
        name=str(entry.get("name", f"object{index}")), kind=kind, position=position,
        orientation=quaternion_from_rpy(*rpy), size=size, urdf=urdf,
        color=_color(entry, where, (0.7, 0.7, 0.7, 1.0)),
        friction=_number(entry, "friction", where, 0.8, minimum=0.0),
        wall_height=_number(entry, "wall_height", where, 0.03, positive=True),
        wall_thickness=_number(entry, "wall_thickness", where, 0.01, positive=True), at=at)


def _station_position_check(entry: Mapping[str, Any], kind: str, rpy: Vec3, where: str) -> str:
    """Check the keys that go with `at` and return the station name."""
    err = WorldConfigError
    at = entry["at"]
    if not isinstance(at, str) or not at:
        raise err(f"{where}.at: expected a station name, got {at!r}")
    if kind == "urdf":
        raise err(f"{where}.at: only boxes and trays can stand on a station (a URDF's top is "
                  f"unknown); give `position`")
    if "position" in entry:
        raise err(f"{where}.position: give either `at` or `position`, not both")
    if rpy[0] != 0.0 or rpy[1] != 0.0:
        raise err(f"{where}.orientation_rpy: with `at`, only the yaw may be non-zero, "
                  f"got {list(rpy)}")
    return at


def _part_type(name: str, value: Any, source: str) -> PartTypeSpec:
    err = WorldConfigError
    where = f"{source}: part_types.{name}"
    entry = fields.mapping(value, where, err)
    fields.only_keys(entry, {"size", "mass", "color", "friction", "shape", "wall_height",
                             "wall_thickness"}, where, err)
    fields.required(entry, "mass", where, err)
    size = fields.vec3(entry, "size", where, err)
    if min(size) <= 0:
        raise err(f"{where}.size: expected positive sizes (m), got {list(size)}")
    shape = entry.get("shape", "box")
    if shape not in PART_SHAPES:
        raise err(f"{where}.shape: expected one of {list(PART_SHAPES)}, got {shape!r}")
    if shape == "box" and ("wall_height" in entry or "wall_thickness" in entry):
        raise err(f"{where}: wall_height and wall_thickness are for `shape: tray`")
    wall_height = _number(entry, "wall_height", where, 0.1 if shape == "tray" else 0.0, minimum=0.0)
    wall_thickness = _number(entry, "wall_thickness", where, 0.01, positive=True)
    if shape == "tray" and 2 * wall_thickness >= min(size[:2]):
        raise err(f"{where}.wall_thickness: {wall_thickness} m leaves no room inside a "
                  f"{size[0]} x {size[1]} m tray")
    return PartTypeSpec(name, size, _number(entry, "mass", where, 0.0, positive=True),
                        _color(entry, where, (0.5, 0.5, 0.5, 1.0)),
                        _number(entry, "friction", where, 1.0, minimum=0.0), shape,
                        wall_height, wall_thickness)


def _part(index: int, value: Any, types: Mapping[str, PartTypeSpec], source: str) -> PartSpec:
    err = WorldConfigError
    where = f"{source}: parts[{index}]"
    entry = fields.mapping(value, where, err)
    fields.only_keys(entry, {"type", "position", "yaw_deg"}, where, err)
    part_type = str(fields.required(entry, "type", where, err))
    if part_type not in types:
        raise err(f"{where}.type: {part_type!r} is not in part_types {sorted(types)}")
    return PartSpec(part_type, fields.vec3(entry, "position", where, err),
                    math.radians(_number(entry, "yaw_deg", where, 0.0)))


def _worker(index: int, value: Any, source: str) -> WorkerSpec:
    err = WorldConfigError
    where = f"{source}: workers[{index}]"
    entry = fields.mapping(value, where, err)
    fields.only_keys(entry, WORKER_KEYS, where, err)
    name = fields.required(entry, "name", where, err)
    if not isinstance(name, str) or not name:
        raise err(f"{where}.name: expected a name, got {name!r}")
    waypoints = fields.items(fields.required(entry, "route", where, err), f"{where}.route", err)
    route = tuple(tuple(fields.floats(point, 2, f"{where}.route[{i}]", err)) for i, point in enumerate(waypoints))
    if len(route) < 2 or all(point == route[0] for point in route):
        raise err(f"{where}.route: expected at least two different [x, y] waypoints, got {waypoints!r}")
    mode = entry.get("mode", "back_and_forth")
    if mode not in ROUTE_MODES:
        raise err(f"{where}.mode: expected one of {list(ROUTE_MODES)}, got {mode!r}")
    speed = _number(entry, "speed_m_s", where, 1.2, positive=True)
    if speed > MAX_WALKING_SPEED_M_S:
        raise err(f"{where}.speed_m_s: {speed} m/s is faster than people walk (at most "
                  f"{MAX_WALKING_SPEED_M_S} m/s, ISO 13855)")
    return WorkerSpec(
        name=name, route=tuple((x, y) for x, y in route), mode=mode, speed_m_s=speed,
        start_delay_s=_number(entry, "start_delay_s", where, 0.0, minimum=0.0),
        pause_s=_number(entry, "pause_s", where, 0.0, minimum=0.0),
        radius_m=_number(entry, "radius_m", where, 0.25, positive=True),
        height_m=_number(entry, "height_m", where, 1.75, positive=True),
        color=_color(entry, where, (1.0, 0.45, 0.0, 1.0)))


def _camera(name: str, value: Any, source: str) -> CameraSpec:
    err = WorldConfigError
    where = f"{source}: cameras.{name}"
    entry = fields.mapping(value, where, err)
    fields.only_keys(entry, {"eye", "target", "up", "fov_deg"}, where, err)
    fov = _number(entry, "fov_deg", where, 50.0, positive=True)
    if fov >= 180.0:
        raise err(f"{where}.fov_deg: expected less than 180, got {fov}")
    return CameraSpec(name, fields.vec3(entry, "eye", where, err),
                      fields.vec3(entry, "target", where, err),
                      fields.vec3(entry, "up", where, err, (0.0, 0.0, 1.0)), fov)


def _color(entry: Mapping[str, Any], where: str, default: Color) -> Color:
    if "color" not in entry:
        return default
    r, g, b, a = fields.floats(entry["color"], 4, f"{where}.color", WorldConfigError)
    if not all(0.0 <= c <= 1.0 for c in (r, g, b, a)):
        raise WorldConfigError(f"{where}.color: expected RGBA values in 0..1, got {entry['color']!r}")
    return (r, g, b, a)


def _number(entry: Mapping[str, Any], key: str, where: str, default: float, *,
            positive: bool = False, minimum: float | None = None) -> float:
    """A finite number (`fields` has vectors only); `positive`: > 0; `minimum`: >= it."""
    if key not in entry:
        return default
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WorldConfigError(f"{where}.{key}: expected a number, got {value!r}")
    if positive and value <= 0:
        raise WorldConfigError(f"{where}.{key}: must be positive, got {value}")
    if minimum is not None and value < minimum:
        raise WorldConfigError(f"{where}.{key}: must be at least {minimum:g}, got {value}")
    return float(value)
