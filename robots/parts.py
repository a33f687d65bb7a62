"""`PartLocator`: how skills find parts (perception), whatever provides it.

Implementations: the simulated one reads the simulator's ground truth (exact, which no
camera is) and says so in its `approximation`; the mock one keeps a kinematic table of
parts; a camera-based one would estimate poses. Skills depend on this interface only.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from cellwright.api.geometry import Pose
from cellwright.api.layout import Station


@dataclass(frozen=True)
class PartSighting:
    """A part as located: stable id, part type, world pose."""

    id: str
    type: str
    pose: Pose


class PartLocator(ABC):
    """Finds parts. Methods may be called from any thread (implementations marshal to the
    thread that owns their source).

    Attributes:
        id: registry-style name, e.g. `pybullet.ground_truth`, `mock.parts`.
        approximation: what this locator approximates, in plain words ("" if nothing).
    """

    id: str = ""
    approximation: str = ""

    @abstractmethod
    def part_types(self) -> list[str]:
        """The part types this locator can recognise."""

    @abstractmethod
    def parts(self) -> list[PartSighting]:
        """Every part it sees now, in id order."""

    def part(self, part_id: str) -> PartSighting:
        """The part with id `part_id`.

        Raises:
            KeyError: no such part is seen.
        """
        for sighting in self.parts():
            if sighting.id == part_id:
                return sighting
        raise KeyError(f"no part {part_id!r} is seen")

    def parts_in(self, station: Station) -> list[PartSighting]:
        """Parts whose centre lies in the station's box, in id order."""
        return [s for s in self.parts() if station.contains(s.pose.position)]

    def locate(self, part_type: str, station: Station) -> PartSighting | None:
        """The part of `part_type` in `station` nearest the station's centre, or None."""
        candidates = [s for s in self.parts_in(station) if s.type == part_type]
        return min(candidates, default=None, key=lambda s: math.dist(
            s.pose.position[:2], station.center[:2]))

    def nearest(self, position: tuple[float, float, float],
                max_distance_m: float) -> PartSighting | None:
        """The part whose centre is nearest `position`, if within `max_distance_m`."""
        sightings = self.parts()
        if not sightings:
            return None
        best = min(sightings, key=lambda s: math.dist(s.pose.position, position))
        return best if math.dist(best.pose.position, position) <= max_distance_m else None
