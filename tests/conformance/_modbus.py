"""Environments for the `modbus.*` models: a virtual device on loopback, backed by PyBullet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cellwright.app.virtual_device import start_virtual_device

KINDS = {"modbus.gripper": "gripper", "modbus.conveyor": "conveyor"}


def modbus_environment(model_id: str) -> tuple[dict[str, Any], Callable[[], None]]:
    """Start the virtual device `model_id` talks to (a free loopback port; its own control
    loop in real time) and return the robot config for `build_robot(model_id, ...)` and a
    function that closes the device.

    Raises:
        ValueError: `model_id` is not a `modbus.*` model with a virtual device.
    """
    if model_id not in KINDS:
        raise ValueError(f"no virtual device for {model_id}; known: {sorted(KINDS)}")
    device = start_virtual_device(KINDS[model_id], port=0)
    return device.client_config(), device.close
