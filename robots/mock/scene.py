"""A kinematic scene: a thread-safe table of parts for mock robots, with no physics.

Parts are boxes with an id, a type, a size and a pose. A mock gripper that closes on a part
between its fingers attaches it (the part then follows the tool); when it opens, the part
drops straight down onto the surface of the station under it. Nothing else moves a part:
no gravity, no contacts, no collisions.

    KinematicScene     the table (any thread)
    MockPartLocator    `PartLocator` over it (`mock.parts`)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from cellwright.api.geometry import Pose, yaw_of
from cellwright.api.layout import Station
from cellwright.robots.parts import PartLocator, PartSighting

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]
GRASP_MARGIN_M = 0.01
"""How far the tool point may lie outside a part's box for the part to count as between
the fingers."""


# --- small quaternion helpers (x, y, z, w) -------------------------------------------------
def quat_multiply(a: Quat, b: Quat) -> Quat:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz)


def quat_conjugate(q: Quat) -> Quat:
    return (-q[0], -q[1], -q[2], q[3])


def quat_rotate(q: Quat, v: Vec3) -> Vec3:
    """`v` rotated by the unit quaternion `q`."""
    x, y, z, _ = quat_multiply(quat_multiply(q, (v[0], v[1], v[2], 0.0)), quat_conjugate(q))
    return (x, y, z)


def compose(a: Pose, b: Pose) -> Pose:
    """The pose `b` (given in frame `a`) in the world frame."""
    offset = quat_rotate(a.orientation, b.position)
    return Pose((a.position[0] + offset[0], a.position[1] + offset[1], a.position[2] + offset[2]),
                _normalised(quat_multiply(a.orientation, b.orientation)))


def relative(a: Pose, b: Pose) -> Pose:
    """The world pose `b` expressed in frame `a` (so that `compose(a, relative(a, b)) == b`)."""
    inverse = quat_conjugate(a.orientation)
    delta = (b.position[0] - a.position[0], b.position[1] - a.position[1],
             b.position[2] - a.position[2])
    return Pose(quat_rotate(inverse, delta), _normalised(quat_multiply(inverse, b.orientation)))


def yaw_only(q: Quat) -> Quat:
    """The rotation about world z that `q` makes (roll and pitch dropped)."""
    yaw = yaw_of(q)
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def _normalised(q: Quat) -> Quat:
    norm = math.sqrt(sum(c * c for c in q)) or 1.0
    return (q[0] / norm, q[1] / norm, q[2] / norm, q[3] / norm)


# --- the scene ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScenePart:
    """One part as the scene holds it now. `size`: box edges along the part's own x, y, z
    (metres); `held_by`: the gripper that holds it ("" if none)."""

    id: str
    type: str
    size: Vec3
    pose: Pose
    held_by: str = ""


@dataclass(frozen=True)
class _Hold:
    gripper: str
    offset: Pose  # the part's pose in the tool frame
    tool: Pose  # the tool pose the part was last placed at


class KinematicScene:
    """Parts on stations, moved only by mock grippers. Every method is thread-safe.

    Args:
        parts: (id, type, size_xyz, pose) of every part; ids must be unique.
        stations: the layout's stations, where released parts come to rest.
    """

    def __init__(self, parts: Iterable[tuple[str, str, Iterable[float], Pose]] = (),
                 stations: Mapping[str, Station] | None = None) -> None:
        self._lock = threading.Lock()
        self._parts: dict[str, ScenePart] = {}
        self._holds: dict[str, _Hold] = {}
        self.stations: Mapping[str, Station] = dict(stations or {})
        for part_id, part_type, size, pose in parts:
            self.add(part_id, part_type, size, pose)

    # --- the table ---------------------------------------------------------------------------
    def add(self, part_id: str, part_type: str, size: Iterable[float], pose: Pose) -> None:
        """Put a part in the scene.

        Raises:
            ValueError: a duplicate id, a size that is not 3 positive finite numbers, or a
                non-finite pose.
        """
        dims = tuple(float(v) for v in size)
        if len(dims) != 3 or not all(math.isfinite(v) and v > 0 for v in dims):
            raise ValueError(f"part {part_id!r}: size must be 3 positive numbers (m), got {dims}")
        if not all(math.isfinite(v) for v in (*pose.position, *pose.orientation)):
            raise ValueError(f"part {part_id!r}: pose must be finite, got {pose}")
        with self._lock:
            if part_id in self._parts:
                raise ValueError(f"part {part_id!r} is already in the scene")
            self._parts[part_id] = ScenePart(part_id, part_type, (dims[0], dims[1], dims[2]), pose)

    def remove(self, part_id: str) -> None:
        """Take a part out of the scene (e.g. it left the cell); KeyError if unknown."""
        with self._lock:
            self._known(part_id)
            del self._parts[part_id]
            self._holds.pop(part_id, None)

    def parts(self) -> list[ScenePart]:
        """Every part, in id order (immutable snapshots)."""
        with self._lock:
            return [self._parts[k] for k in sorted(self._parts)]

    def part(self, part_id: str) -> ScenePart:
        """One part; KeyError naming the known ones."""
        with self._lock:
            return self._known(part_id)

    def set_pose(self, part_id: str, pose: Pose) -> None:
        """Move a part by hand (tests, a scene script); a held part is let go first."""
        with self._lock:
            part = self._known(part_id)
            self._holds.pop(part_id, None)
            self._parts[part_id] = ScenePart(part.id, part.type, part.size, pose)

    def station_under(self, x: float, y: float, z: float = math.inf) -> Station | None:
        """The station whose footprint contains (x, y) with the highest surface at or
        below `z`, or None."""
        under = [s for s in self.stations.values()
                 if abs(x - s.center[0]) <= s.size[0] / 2 and abs(y - s.center[1]) <= s.size[1] / 2
                 and s.surface_z <= z + 1e-9]
        return max(under, default=None, key=lambda s: s.surface_z)

    # --- what mock grippers do ---------------------------------------------------------------
    def part_between(self, tool: Pose, opening_m: float) -> tuple[str, float] | None:
        """The free part between open fingers at `tool`, and its width across them.

        A part is between the fingers when the tool point lies in its box (within
        `GRASP_MARGIN_M`) and its extent along the tool's y axis (the Panda's fingers close
        along it) fits in `opening_m`. The nearest such part wins.
        """
        closing_axis = quat_rotate(tool.orientation, (0.0, 1.0, 0.0))
        best: tuple[float, str, float] | None = None
        with self._lock:
            for part in self._parts.values():
                if part.id in self._holds:
                    continue
                local = relative(part.pose, Pose(tool.position))
                if any(abs(local.position[i]) > part.size[i] / 2 + GRASP_MARGIN_M for i in range(3)):
                    continue
                width = self._extent(part, closing_axis)
                if width > opening_m + 1e-9:
                    continue
                distance = math.dist(part.pose.position, tool.position)
                if best is None or distance < best[0]:
                    best = (distance, part.id, width)
        return None if best is None else (best[1], best[2])

    def attach(self, part_id: str, gripper: str, tool: Pose) -> None:
        """`gripper` holds the part: from now on it follows the tool (see `follow`)."""
        with self._lock:
            part = self._known(part_id)
            self._holds[part_id] = _Hold(gripper, relative(tool, part.pose), tool)
            self._parts[part_id] = ScenePart(part.id, part.type, part.size, part.pose, gripper)

    def follow(self, gripper: str, tool: Pose) -> None:
        """Move the parts `gripper` holds with its tool."""
        with self._lock:
            for part_id, hold in self._holds.items():
                if hold.gripper == gripper and hold.tool != tool:  # unmoved: exactly as it was
                    self._holds[part_id] = _Hold(hold.gripper, hold.offset, tool)
                    part = self._parts[part_id]
                    self._parts[part_id] = ScenePart(part.id, part.type, part.size,
                                                     compose(tool, hold.offset), gripper)

    def release(self, part_id: str, tool: Pose) -> ScenePart:
        """Let go of a part: it comes to rest upright (its yaw kept) at the tool's x, y on the
        surface of the station under it (`surface_z` + half its height) or, over no station,
        stays where it is. Returns the part as it rests."""
        with self._lock:
            part = self._known(part_id)
            self._holds.pop(part_id, None)
            x, y = tool.position[0], tool.position[1]
            station = self.station_under(x, y, part.pose.position[2])
            if station is None:
                pose = part.pose
            else:
                pose = Pose((x, y, station.surface_z + part.size[2] / 2), yaw_only(part.pose.orientation))
            self._parts[part_id] = rested = ScenePart(part.id, part.type, part.size, pose)
            return rested

    def held_by(self, gripper: str) -> list[str]:
        """Ids of the parts `gripper` holds."""
        with self._lock:
            return sorted(k for k, hold in self._holds.items() if hold.gripper == gripper)

    # --- internals (lock held) -----------------------------------------------------------------
    def _known(self, part_id: str) -> ScenePart:
        try:
            return self._parts[part_id]
        except KeyError:
            raise KeyError(f"no part {part_id!r} in the scene; it has {sorted(self._parts)}") from None

    @staticmethod
    def _extent(part: ScenePart, axis: Vec3) -> float:
        """The part's box extent along a world axis."""
        return float(sum(abs(float(np.dot(axis, quat_rotate(part.pose.orientation, unit)))) * part.size[i]
                         for i, unit in enumerate(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)))))


class MockPartLocator(PartLocator):
    """Parts as the kinematic scene has them: exact poses, no sensing."""

    id = "mock.parts"
    approximation = ("a kinematic table of parts: exact poses with no sensing or noise; no physics "
                     "(no gravity, contacts or collisions); grasps snap a part to the tool and "
                     "releases drop it onto the station surface below")

    def __init__(self, scene: KinematicScene) -> None:
        self.scene = scene

    def part_types(self) -> list[str]:
        return sorted({part.type for part in self.scene.parts()})

    def parts(self) -> list[PartSighting]:
        return [PartSighting(part.id, part.type, part.pose) for part in self.scene.parts()]


__all__ = ["KinematicScene", "MockPartLocator", "ScenePart"]
