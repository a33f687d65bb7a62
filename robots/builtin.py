"""The robot models this package ships, registered without importing their drivers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellwright.robots import presence
from cellwright.robots.models import conveyor, franka_panda, modbus, opcua, unitree_g1
from cellwright.robots.robot import BuildContext, Robot, RobotModel


def _pybullet_panda(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    from cellwright.robots.sim.panda import build

    return build(context, config)


def _mock_panda(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    from cellwright.robots.mock.panda import build

    return build(context, config)


def _pybullet_g1(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    from cellwright.robots.sim.g1.robot import build

    return build(context, config)


def _pybullet_presence(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    from cellwright.robots.sim.presence import build

    return build(context, config)


def _pybullet_conveyor(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    from cellwright.robots.sim.conveyor import build

    return build(context, config)


def _modbus_gripper(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    from cellwright.robots.drivers.modbus.build import build_gripper

    return build_gripper(context, config)


def _modbus_conveyor(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    from cellwright.robots.drivers.modbus.build import build_conveyor

    return build_conveyor(context, config)


def _opcua_panda(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    from cellwright.robots.drivers.opcua.panda import build

    return build(context, config)


MODELS = (
    RobotModel("pybullet.panda", franka_panda.MODEL, "pybullet", _pybullet_panda,
               franka_panda.CONFIG_SCHEMA,
               "Franka Panda arm and hand in a PyBullet world: physics, contacts, grasps by friction"),
    RobotModel("mock.panda", franka_panda.MODEL, "mock", _mock_panda, franka_panda.CONFIG_SCHEMA,
               "Franka Panda as ideal followers: no physics; grasps snap parts of a kinematic scene"),
    RobotModel("pybullet.g1", unitree_g1.MODEL, "pybullet", _pybullet_g1, unitree_g1.CONFIG_SCHEMA,
               "Unitree G1 humanoid (29 dof, Dex3 hands) in a PyBullet world: balance and "
               "walking on physics, bimanual tote grip by friction"),
    RobotModel("pybullet.presence", presence.MODEL, "pybullet", _pybullet_presence,
               description="People near the cell: the world's workers from the simulator's "
                           "ground truth (turns on speed and separation monitoring)"),
    RobotModel("pybullet.conveyor", conveyor.MODEL, "pybullet", _pybullet_conveyor,
               conveyor.CONFIG_SCHEMA,
               "Belt conveyor in a PyBullet world: carries the bodies on it, a part-present ray"),
    RobotModel("modbus.gripper", modbus.GRIPPER_MODEL, "modbus", _modbus_gripper,
               modbus.GRIPPER_CONFIG_SCHEMA,
               "Two-finger gripper over Modbus TCP (Robotiq/Schunk-style registers, docs/modbus.md)"),
    RobotModel("modbus.conveyor", conveyor.MODEL, "modbus", _modbus_conveyor,
               modbus.CONVEYOR_CONFIG_SCHEMA,
               "Belt conveyor over Modbus TCP: run coil, speed setpoint, part-present input"),
    RobotModel("opcua.panda", franka_panda.MODEL, "opcua", _opcua_panda, opcua.PANDA_CONFIG_SCHEMA,
               "Franka Panda arm and hand on an OPC UA controller (OPC 40010 Robotics, "
               "docs/drivers.md): a real one, or `cellwright virtual-controller`"),
)
