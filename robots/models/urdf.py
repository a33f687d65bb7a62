"""Reading what a URDF says about its joints, without a simulator."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence

import numpy as np

from cellwright.api.geometry import FloatArray
from cellwright.robots.arm import JointLimits


@functools.cache
def _limit_table(path: str) -> dict[str, tuple[float, float, float, float]]:
    table: dict[str, tuple[float, float, float, float]] = {}
    for joint in ElementTree.parse(path).getroot().iter("joint"):
        limit = joint.find("limit")
        if limit is not None:
            lower, upper, velocity, effort = (float(limit.attrib.get(key, "0"))
                                              for key in ("lower", "upper", "velocity", "effort"))
            table[joint.attrib["name"]] = (lower, upper, velocity, effort)
    return table


def joint_limits(path: str, joints: Sequence[str]) -> tuple[JointLimits, FloatArray]:
    """The `<limit>` of each of `joints` (in that order): position and velocity limits, and
    the effort limits. A plain XML read: building a robot does no simulator I/O."""
    table = _limit_table(path)
    rows = np.array([table[name] for name in joints], dtype=np.float64)
    return JointLimits(rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy()), rows[:, 3].copy()
