"""The `modbus.gripper` and `modbus.conveyor` factories (configs: `models.modbus`, validated)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellwright.robots.drivers.modbus._link import Endpoint
from cellwright.robots.drivers.modbus.conveyor import ModbusIO
from cellwright.robots.drivers.modbus.gripper import DRIVER, ModbusGripper
from cellwright.robots.models.conveyor import MODEL as CONVEYOR_MODEL
from cellwright.robots.models.modbus import GRIPPER_MODEL
from cellwright.robots.robot import BuildContext, Robot


def endpoint(config: Mapping[str, Any]) -> Endpoint:
    return Endpoint(config["host"], config["port"], config["unit"], config["timeout_s"])


def build_gripper(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    name = context.robot_name
    gripper = ModbusGripper(f"{name}/gripper", GRIPPER_MODEL, endpoint(config),
                            stroke_m=config["stroke_m"], max_force_n=config["max_force_n"],
                            poll_hz=config["poll_hz"], max_missed_polls=config["max_missed_polls"],
                            activation_timeout_s=config["activation_timeout_s"])
    return Robot(name=name, registry_id="modbus.gripper", model=GRIPPER_MODEL, driver=DRIVER,
                 components={"gripper": gripper})


def build_conveyor(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    name = context.robot_name
    conveyor = ModbusIO(f"{name}/conveyor", CONVEYOR_MODEL, endpoint(config),
                        max_speed_m_s=config["max_speed_m_s"], poll_hz=config["poll_hz"],
                        max_missed_polls=config["max_missed_polls"])
    return Robot(name=name, registry_id="modbus.conveyor", model=CONVEYOR_MODEL, driver=DRIVER,
                 components={"conveyor": conveyor})
