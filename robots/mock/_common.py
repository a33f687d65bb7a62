"""What the mock components share: snapshots, stop errors, URDF indices."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from cellwright.api.geometry import FloatArray
from cellwright.robots.errors import (
    EStopActive,
    MotionStopped,
    RobotError,
)
from cellwright.robots.goal import Goal

DRIVER = "mock"


def frozen(values: Any) -> FloatArray:
    """A read-only float64 copy, so a published snapshot cannot be changed by anyone."""
    array = np.array(values, dtype=np.float64)
    array.flags.writeable = False
    return array


def stop_error(component: Any, goal: Goal[Any]) -> RobotError:
    if component.estopped:
        return EStopActive(f"{goal.what}: e-stopped during motion")
    return MotionStopped(f"{goal.what}: stopped on request")


@functools.cache
def urdf_indices(urdf_path: str) -> tuple[Mapping[str, int], Mapping[str, int]]:
    """(joint name -> index, link name -> index) as PyBullet numbers them.

    PyBullet's indices follow its own traversal of the URDF tree, so they are read from a
    throwaway DIRECT client rather than guessed from the file's order."""
    import pybullet as p

    client = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(urdf_path, useFixedBase=True, physicsClientId=client)
        infos = [p.getJointInfo(body, j, physicsClientId=client)
                 for j in range(p.getNumJoints(body, physicsClientId=client))]
    finally:
        p.disconnect(physicsClientId=client)
    return ({i[1].decode(): int(i[0]) for i in infos}, {i[12].decode(): int(i[0]) for i in infos})
