"""Create PyBullet bodies for the static objects and parts of a world spec."""

from __future__ import annotations

import os
from pathlib import Path

import pybullet as p
import pybullet_data

from cellwright.sim_worlds.spec import ObjectSpec, PartTypeSpec, Quat, Vec3


def build_object(client: int, spec: ObjectSpec, world_dir: Path) -> int:
    """Create one static object and return its body id."""
    if spec.kind == "urdf":
        local = world_dir / spec.urdf
        path = str(local) if local.exists() else os.path.join(pybullet_data.getDataPath(),
                                                              spec.urdf)
        body = int(p.loadURDF(path, spec.position, spec.orientation, useFixedBase=True,
                              physicsClientId=client))
    elif spec.kind == "box":
        body = _multibody(client, [((0.0, 0.0, 0.0), spec.size)], 0.0, spec.position,
                          spec.orientation, spec.color)
    else:
        body = _multibody(client, _tray_boxes(spec), 0.0, spec.position, spec.orientation,
                          spec.color)
    p.changeDynamics(body, -1, lateralFriction=spec.friction, physicsClientId=client)
    return body


def build_part(client: int, part_type: PartTypeSpec, position: Vec3, orientation: Quat) -> int:
    """Create one movable box-shaped part and return its body id."""
    body = _multibody(client, [((0.0, 0.0, 0.0), part_type.size)], part_type.mass, position,
                      orientation, part_type.color)
    p.changeDynamics(body, -1, lateralFriction=part_type.friction, spinningFriction=0.002,
                     rollingFriction=0.0001, physicsClientId=client)
    return body


def _tray_boxes(spec: ObjectSpec) -> list[tuple[Vec3, Vec3]]:
    """A tray: a floor plate of height `size[2]` with four walls on top of it."""
    sx, sy, floor = spec.size
    t, h = spec.wall_thickness, spec.wall_height
    wall_z = floor / 2 + h / 2
    return [((0.0, 0.0, 0.0), (sx, sy, floor)),
            ((sx / 2 - t / 2, 0.0, wall_z), (t, sy, h)),
            ((-sx / 2 + t / 2, 0.0, wall_z), (t, sy, h)),
            ((0.0, sy / 2 - t / 2, wall_z), (sx, t, h)),
            ((0.0, -sy / 2 + t / 2, wall_z), (sx, t, h))]


def _multibody(client: int, boxes: list[tuple[Vec3, Vec3]], mass: float, position: Vec3,
               orientation: Quat, color: tuple[float, float, float, float]) -> int:
    offsets = [offset for offset, _ in boxes]
    half_extents = [[s / 2 for s in size] for _, size in boxes]
    collision = p.createCollisionShapeArray([p.GEOM_BOX] * len(boxes), halfExtents=half_extents,
                                            collisionFramePositions=offsets,
                                            physicsClientId=client)
    visual = p.createVisualShapeArray([p.GEOM_BOX] * len(boxes), halfExtents=half_extents,
                                      visualFramePositions=offsets,
                                      rgbaColors=[list(color)] * len(boxes),
                                      physicsClientId=client)
    return int(p.createMultiBody(mass, collision, visual, position, orientation,
                                 physicsClientId=client))
