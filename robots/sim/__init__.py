"""Simulated robots and the registry that builds robots from configuration ids.

A kind id (e.g. ``"pybullet.panda"``) maps to an ``"module:Class"`` entry point that is
imported only when first used, so listing or configuring robots never imports PyBullet.
Real drivers register their own ids here later.
"""

from __future__ import annotations

import importlib
from typing import Any

from cellwright.robots.interface import Robot

ROBOT_KINDS: dict[str, str] = {
    "pybullet.panda": "cellwright.robots.sim.panda:PandaArm",
}


def make_robot(kind: str, **kwargs: Any) -> Robot:
    """Build the robot registered as `kind`, passing `kwargs` to its constructor.

    Raises:
        KeyError: `kind` is not registered (the message lists the known kinds).
    """
    try:
        entry_point = ROBOT_KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown robot kind {kind!r}; known kinds: {sorted(ROBOT_KINDS)}") from None
    module_name, _, class_name = entry_point.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    robot = cls(**kwargs)
    if not isinstance(robot, Robot):
        raise TypeError(f"{entry_point} built {type(robot).__name__}, which is not a robots.Robot")
    return robot


__all__ = ["ROBOT_KINDS", "make_robot"]
