"""The Franka Panda as ideal followers (`mock.panda`): no physics, grasps snap.

    build(context, config)   the registry's factory: {"arm": MockArm, "gripper": MockGripper}

`context.world` is a `KinematicScene` (the parts the gripper may grasp) or None (it grasps
nothing); `context.mount` is where the arm's base stands.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from typing import Any

import numpy as np

from cellwright.robots.arm import JointLimits
from cellwright.robots.mock._common import DRIVER
from cellwright.robots.mock.arm import MockArm
from cellwright.robots.mock.gripper import MockGripper
from cellwright.robots.mock.scene import KinematicScene
from cellwright.robots.models.franka_panda import (
    ARM_JOINTS,
    FLANGE_FRAME,
    GRIPPER_MAX_FORCE_N,
    GRIPPER_STROKE_M,
    MAX_ACCELERATION,
    MODEL,
    READY_POSE,
    TOOL_FRAME,
    URDF_PATH,
)
from cellwright.robots.robot import BuildContext, Robot

REGISTRY_ID = "mock.panda"
APPROXIMATIONS = (
    "mock arm: joints follow the planned quintic trajectory exactly (no dynamics, effort, "
    "tracking error or collisions)",
    "mock gripper: fingers move at a fixed 0.1 m/s; a grasp snaps a part between the fingers "
    "to the tool, without force or friction",
    "mock scene: released parts drop straight onto the station surface below; no gravity "
    "or contacts otherwise",
    "states are exact, without sensor noise or latency",
)


@functools.cache
def joint_limits(urdf_path: str = URDF_PATH) -> JointLimits:
    """The arm's limits from the URDF's <limit> tags.

    A tiny XML parse rather than a PyBullet client: building a robot does no simulator I/O
    (the registry may build robots only to describe them), and the limits are plain
    attributes of the file."""
    table: dict[str, tuple[float, float, float]] = {}
    for joint in ElementTree.parse(urdf_path).getroot().iter("joint"):
        limit = joint.find("limit")
        if limit is not None:
            table[joint.attrib["name"]] = (float(limit.attrib.get("lower", "0")),
                                           float(limit.attrib.get("upper", "0")),
                                           float(limit.attrib.get("velocity", "0")))
    rows = np.array([table[name] for name in ARM_JOINTS], dtype=np.float64)
    return JointLimits(rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy())


def _joints(what: str, values: Any, limits: JointLimits) -> tuple[float, ...]:
    """A joint configuration from the cell config, checked against the limits."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be {len(ARM_JOINTS)} numbers (rad), got {values!r}") from None
    if array.shape != (len(ARM_JOINTS),) or not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be {len(ARM_JOINTS)} finite numbers (rad), got {values!r}")
    for i, joint in enumerate(ARM_JOINTS):
        if not limits.lower[i] <= array[i] <= limits.upper[i]:
            raise ValueError(f"{what}: {joint} = {array[i]:.4f} rad is outside its limits "
                             f"[{limits.lower[i]:.4f}, {limits.upper[i]:.4f}] rad")
    return tuple(float(v) for v in array)


def build(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    """The `mock.panda` factory.

    Raises:
        TypeError: `context.world` is neither a KinematicScene nor None.
        ValueError: a bad `initial_joints` or `configurations` entry.
    """
    scene = context.world
    if scene is not None and not isinstance(scene, KinematicScene):
        raise TypeError(f"{REGISTRY_ID} needs a cellwright.robots.mock.KinematicScene (or no "
                        f"world); got {type(scene).__name__} (robot {context.robot_name!r})")
    name = context.robot_name
    limits = joint_limits()
    initial = _joints(f"robots.{name}.initial_joints", config.get("initial_joints", READY_POSE), limits)
    configurations = {"home": tuple(READY_POSE)}
    for key, values in dict(config.get("configurations") or {}).items():
        configurations[str(key)] = _joints(f"robots.{name}.configurations.{key}", values, limits)
    arm = MockArm(f"{name}/arm", MODEL, urdf_path=URDF_PATH, joint_names=ARM_JOINTS,
                  frames=(TOOL_FRAME, FLANGE_FRAME), limits=limits,
                  max_acceleration=tuple(MAX_ACCELERATION), configurations=configurations,
                  initial=initial, mount=context.mount)

    def tool_pose() -> Any:
        return arm.state().frames.get(TOOL_FRAME)

    gripper = MockGripper(f"{name}/gripper", MODEL, stroke_m=GRIPPER_STROKE_M,
                          max_force_n=GRIPPER_MAX_FORCE_N, tool_frame=TOOL_FRAME,
                          tool_pose=tool_pose, scene=scene)
    return Robot(name=name, registry_id=REGISTRY_ID, model=MODEL, driver=DRIVER,
                 components={"arm": arm, "gripper": gripper}, approximations=APPROXIMATIONS)


__all__ = ["APPROXIMATIONS", "build", "joint_limits"]
