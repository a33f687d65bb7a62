"""The Franka Emika Panda with its hand: facts shared by every driver of it.

Joint position and velocity limits come from the URDF (`pybullet_data/franka_panda`), the
acceleration limits and the hand's stroke and force from Franka's datasheet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pybullet_data

from cellwright.api.geometry import FloatArray
from cellwright.robots.arm import JointLimits, check_joints
from cellwright.robots.models.urdf import joint_limits

MODEL = "franka_panda"
URDF_PATH = os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")
ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
TOOL_FRAME = "panda_grasptarget"
"""The grasp point between the fingertips: the arm's default frame."""
FLANGE_FRAME = "panda_link8"
READY_POSE = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
MAX_ACCELERATION = np.array([15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0])
"""rad/s^2, per joint; the URDF has none."""
GRIPPER_STROKE_M = 0.08
"""The hand opens to 80 mm between the fingers."""
GRIPPER_MAX_FORCE_N = 70.0
"""Continuous grasp force of the Franka Hand."""

CONFIG_SCHEMA = {
    "type": "object",
    "properties": {
        "initial_joints": {"type": "array",
                           "description": "arm joint positions at activation, rad (default: "
                                          "the ready pose)"},
        "configurations": {"type": "object",
                           "description": "named joint configurations, rad; `home` defaults "
                                          "to the ready pose"},
    },
}


def arm_limits() -> tuple[JointLimits, FloatArray]:
    """The arm's joint limits and effort limits (N m), from the URDF."""
    return joint_limits(URDF_PATH, ARM_JOINTS)


def joint_settings(robot: str, config: Mapping[str, Any]
                   ) -> tuple[tuple[float, ...], dict[str, tuple[float, ...]]]:
    """The initial joints and the named configurations (`home` = the ready pose unless
    given) of a cell config's robot entry, checked against the limits.

    Raises:
        LimitViolation (a ValueError): naming `robots.<robot>.<key>` and the joint.
    """
    limits, _effort = arm_limits()

    def checked(key: str, values: Any) -> tuple[float, ...]:
        return tuple(check_joints(f"robots.{robot}.{key}", values, ARM_JOINTS, limits).tolist())

    initial = checked("initial_joints", config.get("initial_joints", READY_POSE))
    configurations = {"home": tuple(READY_POSE)}
    for key, values in dict(config.get("configurations") or {}).items():
        configurations[str(key)] = checked(f"configurations.{key}", values)
    return initial, configurations
