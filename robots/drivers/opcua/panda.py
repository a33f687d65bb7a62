"""The Franka Panda on an OPC UA controller (`opcua.panda`): its arm and hand over one session.

    robots:
      panda:
        model: opcua.panda
        endpoint: opc.tcp://192.168.0.10:4840
        server_certificate: pki/controller-cert.der   # the controller's, trusted explicitly

The joints, limits and frames are the model's (robots/models/franka_panda.py); the controller
must serve them (docs/drivers.md: the address space). Nothing is approximated by the driver;
what the controller does (real arm, or a virtual controller's PyBullet physics) is its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cellwright.robots.drivers.opcua.arm import DRIVER, OpcUaArm
from cellwright.robots.drivers.opcua.gripper import OpcUaGripper
from cellwright.robots.drivers.opcua.link import LinkConfig, RobotLink
from cellwright.robots.models.franka_panda import (
    ARM_JOINTS,
    FLANGE_FRAME,
    GRIPPER_MAX_FORCE_N,
    GRIPPER_STROKE_M,
    MODEL,
    TOOL_FRAME,
    arm_limits,
    joint_settings,
)
from cellwright.robots.models.opcua import DEFAULT_PKI
from cellwright.robots.robot import BuildContext, Robot

REGISTRY_ID = "opcua.panda"
def build(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    """The `opcua.panda` factory (no I/O: `configure()` connects)."""
    name = context.robot_name
    certificate = str(config.get("server_certificate") or "")
    link = RobotLink(LinkConfig(
        endpoint=str(config["endpoint"]), robot=str(config.get("controller_robot") or name),
        device=str(config.get("device", "arm")), joints=ARM_JOINTS,
        policy=str(config.get("security_policy", "Basic256Sha256")),
        pki=Path(str(config.get("pki_dir", DEFAULT_PKI))).expanduser(),
        server_certificate=Path(certificate).expanduser() if certificate else None,
        request_timeout_s=float(config.get("request_timeout_s", 2.0)),
        link_timeout_s=float(config.get("link_timeout_s", 1.0)),
        publish_ms=float(config.get("publish_ms", 10.0)), gripper=True))
    limits, _effort = arm_limits()
    _initial, configurations = joint_settings(name, {"configurations": config.get("configurations") or {}})
    arm = OpcUaArm(f"{name}/arm", MODEL, link, joint_names=ARM_JOINTS, limits=limits,
                   frames=(TOOL_FRAME, FLANGE_FRAME), configurations=configurations)
    gripper = OpcUaGripper(f"{name}/gripper", MODEL, link, stroke_m=GRIPPER_STROKE_M,
                           max_force_n=GRIPPER_MAX_FORCE_N, tool_frame=TOOL_FRAME)
    return Robot(name=name, registry_id=REGISTRY_ID, model=MODEL, driver=DRIVER,
                 components={"arm": arm, "gripper": gripper})
