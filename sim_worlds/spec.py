"""The world file format: YAML parsed into frozen dataclasses, checked with clear errors.

A world file has these top-level keys (all but `name` optional)::

    name: arm_cell
    physics: {dt: 0.0041667, gravity: [0, 0, -9.81], solver_iterations: 100}
    spawn_jitter: {position_m: 0.003, yaw_deg: 8}    # seeded noise on part spawn poses
    objects:        # static scenery: kind urdf (pybullet_data or relative path), box, tray
      - {name: table, kind: box, size: [x, y, z], position: [x, y, z], orientation_rpy: [r, p, y],
         color: [r, g, b, a], friction: 0.8}
      - {name: infeed, kind: tray, size: [x, y, floor_z], wall_height: 0.03, wall_thickness: 0.01,
         position: [...]}
      - {name: floor, kind: urdf, urdf: plane.urdf}
    part_types:     # movable parts, box-shaped: size (m), mass (kg), color, friction
      red_cube: {size: [0.04, 0.04, 0.04], mass: 0.05, color: [0.8, 0.1, 0.1, 1], friction: 1.0}
    parts:          # spawned parts: type, position (centre), yaw_deg
      - {type: red_cube, position: [x, y, z], yaw_deg: 0}
    regions:        # axis-aligned boxes parts can be found in or placed into
      infeed: {center: [x, y, z], size: [x, y, z]}
    locations:      # named tool poses, or joint-space configurations for the robots
      home: {joints: [q1, ..., q7]}
      outfeed_a: {position: [x, y, z], orientation_rpy: [3.14159, 0, 0]}
    cameras:
      overview: {eye: [x, y, z], target: [x, y, z], up: [0, 0, 1], fov_deg: 50}
    robots:         # kind is a robots.sim registry id; other keys go to the constructor
      - {name: arm, kind: pybullet.panda, base: {position: [...], orientation_rpy: [...]},
         initial_joints: [...]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pybullet as p

from cellwright.robots.interface import Pose

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]


class WorldConfigError(ValueError):
    """A world file is malformed; the message names the offending key."""


@dataclass(frozen=True)
class PhysicsSpec:
    dt: float = 1.0 / 240.0
    gravity: Vec3 = (0.0, 0.0, -9.81)
    solver_iterations: int = 100


@dataclass(frozen=True)
class ObjectSpec:
    """A static object: `kind` is urdf, box or tray."""

    name: str
    kind: str
    position: Vec3
    orientation: Quat
    size: Vec3 = (0.0, 0.0, 0.0)
    urdf: str = ""
    color: tuple[float, float, float, float] = (0.7, 0.7, 0.7, 1.0)
    friction: float = 0.8
    wall_height: float = 0.03
    wall_thickness: float = 0.01


@dataclass(frozen=True)
class PartTypeSpec:
    name: str
    size: Vec3
    mass: float
    color: tuple[float, float, float, float]
    friction: float = 1.0


@dataclass(frozen=True)
class PartSpec:
    type: str
    position: Vec3
    yaw_rad: float = 0.0


@dataclass(frozen=True)
class Region:
    """An axis-aligned box in the world frame."""

    name: str
    center: Vec3
    size: Vec3

    def contains(self, position: tuple[float, ...]) -> bool:
        """True if `position` lies inside the box."""
        return all(abs(position[i] - self.center[i]) <= self.size[i] / 2 for i in range(3))


@dataclass(frozen=True)
class CameraSpec:
    name: str
    eye: Vec3
    target: Vec3
    up: Vec3 = (0.0, 0.0, 1.0)
    fov_deg: float = 50.0


@dataclass(frozen=True)
class RobotSpec:
    """A robot: registry `kind`, base pose, and extra constructor arguments."""

    name: str
    kind: str
    position: Vec3
    orientation: Quat
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpawnJitter:
    position_m: float = 0.0
    yaw_rad: float = 0.0


@dataclass(frozen=True)
class WorldSpec:
    name: str
    physics: PhysicsSpec
    spawn_jitter: SpawnJitter
    objects: tuple[ObjectSpec, ...]
    part_types: Mapping[str, PartTypeSpec]
    parts: tuple[PartSpec, ...]
    regions: Mapping[str, Region]
    locations: Mapping[str, Pose]
    joint_locations: Mapping[str, tuple[float, ...]]
    cameras: Mapping[str, CameraSpec]
    robots: tuple[RobotSpec, ...]


def parse_world(data: Any, source: str) -> WorldSpec:
    """Check and convert a loaded YAML document.

    Raises:
        WorldConfigError: naming the file and key that is wrong.
    """
    doc = _mapping(data, source)
    physics = _mapping(doc.get("physics", {}), f"{source}: physics")
    jitter = _mapping(doc.get("spawn_jitter", {}), f"{source}: spawn_jitter")
    part_types = {name: _part_type(name, _mapping(v, f"{source}: part_types.{name}"), source)
                  for name, v in _mapping(doc.get("part_types", {}), source).items()}
    parts = tuple(_part(i, _mapping(v, f"{source}: parts[{i}]"), part_types, source)
                  for i, v in enumerate(_list(doc.get("parts", []), f"{source}: parts")))
    locations: dict[str, Pose] = {}
    joint_locations: dict[str, tuple[float, ...]] = {}
    for name, value in _mapping(doc.get("locations", {}), f"{source}: locations").items():
        where = f"{source}: locations.{name}"
        entry = _mapping(value, where)
        if "joints" in entry:
            joint_locations[name] = tuple(_floats(entry["joints"], None, f"{where}.joints"))
        else:
            locations[name] = Pose(_vec3(entry, "position", where), _orientation(entry, where))
    return WorldSpec(
        name=str(doc.get("name", source)),
        physics=PhysicsSpec(dt=float(physics.get("dt", 1.0 / 240.0)),
                            gravity=_vec3(physics, "gravity", source, (0.0, 0.0, -9.81)),
                            solver_iterations=int(physics.get("solver_iterations", 100))),
        spawn_jitter=SpawnJitter(float(jitter.get("position_m", 0.0)),
                                 math.radians(float(jitter.get("yaw_deg", 0.0)))),
        objects=tuple(_object(i, _mapping(v, f"{source}: objects[{i}]"), source)
                      for i, v in enumerate(_list(doc.get("objects", []), f"{source}: objects"))),
        part_types=part_types,
        parts=parts,
        regions={name: Region(name, _vec3(r, "center", f"{source}: regions.{name}"),
                              _vec3(r, "size", f"{source}: regions.{name}"))
                 for name, r in ((n, _mapping(v, f"{source}: regions.{n}")) for n, v in
                                 _mapping(doc.get("regions", {}), source).items())},
        locations=locations,
        joint_locations=joint_locations,
        cameras={name: CameraSpec(name, _vec3(c, "eye", f"{source}: cameras.{name}"),
                                  _vec3(c, "target", f"{source}: cameras.{name}"),
                                  _vec3(c, "up", f"{source}: cameras.{name}", (0.0, 0.0, 1.0)),
                                  float(c.get("fov_deg", 50.0)))
                 for name, c in ((n, _mapping(v, f"{source}: cameras.{n}")) for n, v in
                                 _mapping(doc.get("cameras", {}), source).items())},
        robots=tuple(_robot(i, _mapping(v, f"{source}: robots[{i}]"), source)
                     for i, v in enumerate(_list(doc.get("robots", []), f"{source}: robots"))),
    )


def _object(index: int, entry: Mapping[str, Any], source: str) -> ObjectSpec:
    where = f"{source}: objects[{index}]"
    kind = _required(entry, "kind", where)
    if kind not in ("urdf", "box", "tray"):
        raise WorldConfigError(f"{where}.kind: {kind!r} is not one of urdf, box, tray")
    if kind == "urdf":
        _required(entry, "urdf", where)
    else:
        _vec3(entry, "size", where)
    return ObjectSpec(
        name=str(entry.get("name", f"object{index}")), kind=kind,
        position=_vec3(entry, "position", where, (0.0, 0.0, 0.0)),
        orientation=_orientation(entry, where),
        size=_vec3(entry, "size", where, (0.0, 0.0, 0.0)), urdf=str(entry.get("urdf", "")),
        color=_color(entry, where, (0.7, 0.7, 0.7, 1.0)),
        friction=float(entry.get("friction", 0.8)),
        wall_height=float(entry.get("wall_height", 0.03)),
        wall_thickness=float(entry.get("wall_thickness", 0.01)))


def _part_type(name: str, entry: Mapping[str, Any], source: str) -> PartTypeSpec:
    where = f"{source}: part_types.{name}"
    mass = float(_required(entry, "mass", where))
    if mass <= 0:
        raise WorldConfigError(f"{where}.mass: must be positive, got {mass}")
    return PartTypeSpec(name, _vec3(entry, "size", where), mass,
                        _color(entry, where, (0.5, 0.5, 0.5, 1.0)),
                        float(entry.get("friction", 1.0)))


def _part(index: int, entry: Mapping[str, Any], types: Mapping[str, PartTypeSpec],
          source: str) -> PartSpec:
    where = f"{source}: parts[{index}]"
    part_type = str(_required(entry, "type", where))
    if part_type not in types:
        raise WorldConfigError(f"{where}.type: {part_type!r} is not in part_types {sorted(types)}")
    return PartSpec(part_type, _vec3(entry, "position", where),
                    math.radians(float(entry.get("yaw_deg", 0.0))))


def _robot(index: int, entry: Mapping[str, Any], source: str) -> RobotSpec:
    where = f"{source}: robots[{index}]"
    base = _mapping(entry.get("base", {}), f"{where}.base")
    options = {k: v for k, v in entry.items() if k not in ("name", "kind", "base")}
    return RobotSpec(str(_required(entry, "name", where)), str(_required(entry, "kind", where)),
                     _vec3(base, "position", f"{where}.base", (0.0, 0.0, 0.0)),
                     _orientation(base, f"{where}.base"), options)


def _orientation(entry: Mapping[str, Any], where: str) -> Quat:
    roll, pitch, yaw = _vec3(entry, "orientation_rpy", where, (0.0, 0.0, 0.0))
    x, y, z, w = p.getQuaternionFromEuler((roll, pitch, yaw))
    return (float(x), float(y), float(z), float(w))


def _color(entry: Mapping[str, Any], where: str,
           default: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    if "color" not in entry:
        return default
    r, g, b, a = _floats(entry["color"], 4, f"{where}.color")
    return (r, g, b, a)


def _vec3(entry: Mapping[str, Any], key: str, where: str, default: Vec3 | None = None) -> Vec3:
    if key not in entry:
        if default is None:
            raise WorldConfigError(f"{where}: missing {key!r}")
        return default
    x, y, z = _floats(entry[key], 3, f"{where}.{key}")
    return (x, y, z)


def _floats(value: Any, length: int | None, where: str) -> list[float]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise WorldConfigError(
            f"{where}: expected a list of {length or 'some'} numbers, got {value!r}")
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        raise WorldConfigError(f"{where}: expected numbers, got {value!r}") from None


def _required(entry: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in entry:
        raise WorldConfigError(f"{where}: missing {key!r}")
    return entry[key]


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WorldConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise WorldConfigError(f"{where}: expected a list, got {type(value).__name__}")
    return value
