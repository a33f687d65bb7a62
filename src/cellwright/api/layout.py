"""The line layout: where things are in a line, for the cells and the orchestrator alike.

A layout is a YAML file that a real line has as well as a simulated one::

    apiVersion: cellwright/v1
    kind: Layout
    name: arm_cell
    mounts:          # where robots stand; a cell config's robot names its mount
      panda: {position: [0, 0, 0.4], orientation_rpy: [0, 0, 0]}
    stations:        # places parts rest on: trays, tables, handover points
      infeed: {center: [0.5, 0, 0.46], size: [0.34, 0.34, 0.12], surface_z: 0.41,
               reach: [panda]}
    locations:       # named tool poses (world frame) that skills move to or place at
      outfeed_a: {position: [0.35, 0.42, 0.438], orientation_rpy: [3.14159265, 0, 0],
                  reach: [panda]}
    zones:           # volumes that no two cells may use at once (reserved by workflows)
      handover: {center: [...], size: [...], stations: [handover_table], reach: [a, b]}

Units: metres, radians. `reach` lists the mounts whose robots reach the place; a cell
reaches it when one of its robots stands on such a mount. Every name used in `reach` and
`zones.*.stations` must be defined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellwright.api import fields
from cellwright.api.geometry import Pose
from cellwright.api.yamlfile import load_yaml

Vec3 = fields.Vec3
TOP_KEYS = {"apiVersion", "kind", "name", "description", "mounts", "stations", "locations", "zones"}


class LayoutError(ValueError):
    """A layout file is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in the world frame."""

    center: Vec3
    size: Vec3

    def contains(self, position: tuple[float, ...]) -> bool:
        """True if `position` lies inside the box."""
        return all(abs(position[i] - self.center[i]) <= self.size[i] / 2 for i in range(3))


@dataclass(frozen=True)
class Station(Box):
    """A place parts rest on. `surface_z`: the height of the surface parts stand on."""

    name: str = ""
    surface_z: float = 0.0
    reach: tuple[str, ...] = ()


@dataclass(frozen=True)
class Location:
    """A named tool pose."""

    name: str
    pose: Pose
    reach: tuple[str, ...] = ()


@dataclass(frozen=True)
class Zone(Box):
    """A shared volume; `stations` inside it are reserved with it."""

    name: str = ""
    stations: tuple[str, ...] = ()
    reach: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    name: str
    mounts: Mapping[str, Pose]
    stations: Mapping[str, Station]
    locations: Mapping[str, Location]
    zones: Mapping[str, Zone]
    source: str = ""

    def station(self, name: str) -> Station:
        """The named station, or KeyError listing the known ones."""
        try:
            return self.stations[name]
        except KeyError:
            raise KeyError(f"no station {name!r} in layout {self.name}; "
                           f"it has {sorted(self.stations)}") from None

    def location(self, name: str) -> Location:
        """The named location, or KeyError listing the known ones."""
        try:
            return self.locations[name]
        except KeyError:
            raise KeyError(f"no location {name!r} in layout {self.name}; "
                           f"it has {sorted(self.locations)}") from None

    def mount(self, name: str) -> Pose:
        """The named mount's pose, or KeyError listing the known ones."""
        try:
            return self.mounts[name]
        except KeyError:
            raise KeyError(f"no mount {name!r} in layout {self.name}; "
                           f"it has {sorted(self.mounts)}") from None

    def reachable_by(self, mounts: set[str]) -> set[str]:
        """Names of stations, locations and zones that robots on `mounts` reach."""
        places: list[Station | Location | Zone] = [
            *self.stations.values(), *self.locations.values(), *self.zones.values()]
        return {p.name for p in places if mounts & set(p.reach)}


EMPTY = Layout("empty", {}, {}, {}, {})
"""The layout of a cell that declares none: no mounts, stations, locations or zones."""


def parse_layout(data: Any, source: str) -> Layout:
    """Check and convert a parsed YAML document.

    Raises:
        LayoutError: naming the file and key.
    """
    err = LayoutError
    doc = fields.mapping(data, source, err)
    fields.only_keys(doc, TOP_KEYS, source, err, top=True)
    if doc.get("apiVersion", "cellwright/v1") != "cellwright/v1":
        raise err(f"{source}: apiVersion: {doc['apiVersion']!r} is not supported; use cellwright/v1")
    if doc.get("kind", "Layout") != "Layout":
        raise err(f"{source}: kind: expected Layout, got {doc['kind']!r}")

    def section(key: str) -> Mapping[str, Mapping[str, Any]]:
        raw = fields.mapping(doc.get(key, {}), f"{source}: {key}", err)
        return {str(n): fields.mapping(v, f"{source}: {key}.{n}", err) for n, v in raw.items()}

    def pose(entry: Mapping[str, Any], where: str) -> Pose:
        return Pose(fields.vec3(entry, "position", where, err), fields.orientation(entry, where, err))

    def reach(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
        return fields.names(entry.get("reach", []), f"{where}.reach", err)

    mounts: dict[str, Pose] = {}
    for name, entry in section("mounts").items():
        where = f"{source}: mounts.{name}"
        fields.only_keys(entry, {"position", "orientation_rpy"}, where, err)
        mounts[name] = pose(entry, where)
    stations: dict[str, Station] = {}
    for name, entry in section("stations").items():
        where = f"{source}: stations.{name}"
        fields.only_keys(entry, {"center", "size", "surface_z", "reach"}, where, err)
        center, size = fields.vec3(entry, "center", where, err), fields.vec3(entry, "size", where, err)
        surface = entry.get("surface_z", center[2] - size[2] / 2)
        if isinstance(surface, bool) or not isinstance(surface, int | float):
            raise err(f"{where}.surface_z: expected a number (metres), got {surface!r}")
        stations[name] = Station(center, size, name, float(surface), reach(entry, where))
    locations: dict[str, Location] = {}
    for name, entry in section("locations").items():
        where = f"{source}: locations.{name}"
        fields.only_keys(entry, {"position", "orientation_rpy", "reach"}, where, err)
        locations[name] = Location(name, pose(entry, where), reach(entry, where))
    zones: dict[str, Zone] = {}
    for name, entry in section("zones").items():
        where = f"{source}: zones.{name}"
        fields.only_keys(entry, {"center", "size", "stations", "reach"}, where, err)
        inside = fields.names(entry.get("stations", []), f"{where}.stations", err)
        for station in inside:
            if station not in stations:
                raise err(f"{where}.stations: {station!r} is not a station; "
                          f"stations: {sorted(stations)}")
        zones[name] = Zone(fields.vec3(entry, "center", where, err),
                           fields.vec3(entry, "size", where, err), name, inside,
                           reach(entry, where))
    named: list[tuple[str, Station | Location | Zone]] = [
        *(("stations", v) for v in stations.values()), *(("locations", v) for v in locations.values()),
        *(("zones", v) for v in zones.values())]
    for kind, place in named:
        for mount in place.reach:
            if mount not in mounts:
                raise err(f"{source}: {kind}.{place.name}.reach: {mount!r} is not a mount; "
                          f"mounts: {sorted(mounts)}")
    return Layout(str(doc.get("name", Path(source).stem)), mounts, stations, locations, zones, source)


def load_layout(path: str | Path) -> Layout:
    """Read and check a layout file.

    Raises:
        LayoutError: unreadable, not YAML, or invalid (naming the key).
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise LayoutError(f"{path}: {exc.strerror}") from exc
    try:
        data = load_yaml(text, str(path))
    except ValueError as exc:
        raise LayoutError(str(exc)) from exc
    return parse_layout(data, str(path))
