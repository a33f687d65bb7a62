"""The Franka Panda as ideal followers (`mock.panda`): no physics, grasps snap.

    build(context, config)   the registry's factory: {"arm": MockArm, "gripper": MockGripper}

`context.world` is a `KinematicScene` (the parts the gripper may grasp) or None (it grasps
nothing); `context.mount` is where the arm's base stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    TOOL_FRAME,
    URDF_PATH,
    arm_limits,
    joint_settings,
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
    limits, _effort = arm_limits()
    initial, configurations = joint_settings(name, config)
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


__all__ = ["APPROXIMATIONS", "build"]
