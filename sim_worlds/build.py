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
        body = _multibody(client, _tray_boxes(spec.size, spec.wall_height, spec.wall_thickness),
                          0.0, spec.position, spec.orientation, spec.color)
    p.changeDynamics(body, -1, lateralFriction=spec.friction, physicsClientId=client)
    return body


def build_part(client: int, part_type: PartTypeSpec, position: Vec3, orientation: Quat) -> int:
    """Create one movable part (a box, or a tray-shaped tote) and return its body id."""
    boxes = ([((0.0, 0.0, 0.0), part_type.size)] if part_type.shape == "box" else
             _tray_boxes(part_type.size, part_type.wall_height, part_type.wall_thickness))
    body = _multibody(client, boxes, part_type.mass, position, orientation, part_type.color)
    p.changeDynamics(body, -1, lateralFriction=part_type.friction, spinningFriction=0.002,
                     rollingFriction=0.0001, physicsClientId=client)
    return body


def _tray_boxes(size: Vec3, h: float, t: float) -> list[tuple[Vec3, Vec3]]:
    """A tray: a floor plate of height `size[2]` with four walls of height `h` and
    thickness `t` on top of it."""
    sx, sy, floor = size
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
