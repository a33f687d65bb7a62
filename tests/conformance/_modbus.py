"""Environments for the `modbus.*` models: a virtual device on loopback, backed by PyBullet."""

from __future__ import annotations

from _served import Served

from cellwright.app.virtual_device import start_virtual_device

KINDS = {"modbus.gripper": "gripper", "modbus.conveyor": "conveyor"}


def modbus_environment(model_id: str) -> Served:
    """Start the virtual device `model_id` talks to (a free loopback port; its own control
    loop in real time): the robot config for `build_robot(model_id, ...)`, a function that
    closes the device, and the link broken by killing its server (restored on the same port).

    Raises:
        ValueError: `model_id` is not a `modbus.*` model with a virtual device.
    """
    if model_id not in KINDS:
        raise ValueError(f"no virtual device for {model_id}; known: {sorted(KINDS)}")
    device = start_virtual_device(KINDS[model_id], port=0)
    return Served(device.client_config(), device.close, device.server.kill, device.server.start)
