"""Poses and arrays shared by robots, layouts and worlds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Pose:
    """A pose in the world frame: position in metres, orientation quaternion (x, y, z, w)."""

    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)


ORIGIN = Pose((0.0, 0.0, 0.0))
"""The world frame's origin, unrotated."""


def check_pose(what: str, pose: Pose) -> None:
    """Raise ValueError unless the pose is finite with a unit quaternion."""
    values = (*pose.position, *pose.orientation)
    if len(pose.position) != 3 or len(pose.orientation) != 4 or not all(np.isfinite(values)):
        raise ValueError(f"{what}: pose must be 3 finite coordinates and a finite "
                             f"quaternion, got {pose}")
    if abs(float(np.linalg.norm(pose.orientation)) - 1.0) > 1e-3:
        raise ValueError(f"{what}: orientation must be a unit quaternion, got {pose.orientation}")


def quaternion_from_rpy(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """The quaternion (x, y, z, w) of fixed-axis roll, pitch, yaw (radians), as PyBullet's
    getQuaternionFromEuler."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy)


def yaw_of(orientation: tuple[float, float, float, float]) -> float:
    """The heading about world z (rad, in [-pi, pi]) of an x, y, z, w quaternion."""
    x, y, z, w = orientation
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
