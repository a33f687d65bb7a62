"""A world's parts as a kinematic scene for `mock.*` robots: no PyBullet, no physics."""

from __future__ import annotations

import math

from cellwright.api.geometry import Pose, quaternion_from_rpy
from cellwright.api.layout import Layout
from cellwright.robots.mock.scene import KinematicScene
from cellwright.sim_worlds.registry import resolve_world_path
from cellwright.sim_worlds.spec import read_world, spawn_poses


def kinematic_scene(world: str, seed: int, layout: Layout | None = None) -> tuple[KinematicScene, Layout, float]:
    """The parts of `world` spawned with `seed` (the same poses a PyBullet world would give
    them, each set down on the station surface below it), the layout (`layout` or the
    world's) and the world's physics dt for the loop."""
    spec = read_world(resolve_world_path(world))
    layout = layout if layout is not None else spec.layout
    parts = []
    for spawn in spawn_poses(spec, seed):
        size = spec.part_types[spawn.type].size
        x, y, z = spawn.position
        below = [s for s in layout.stations.values()
                 if abs(x - s.center[0]) <= s.size[0] / 2 and abs(y - s.center[1]) <= s.size[1] / 2
                 and s.surface_z <= z]
        if below:
            z = max(s.surface_z for s in below) + size[2] / 2
        orientation = quaternion_from_rpy(0.0, 0.0, math.remainder(spawn.yaw_rad, 2 * math.pi))
        parts.append((spawn.id, spawn.type, size, Pose((x, y, z), orientation)))
    return KinematicScene(parts, layout.stations), layout, spec.physics.dt
