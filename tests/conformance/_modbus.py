"""Environments for the `modbus.*` models: a virtual device on loopback, backed by PyBullet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cellwright.app.virtual_device import start_virtual_device
from cellwright.robots import IO, ROBOTS, Gripper
from cellwright.robots.models.conveyor import SPEED


def modbus_environment(model_id: str) -> tuple[dict[str, Any], Callable[[], None]]:
    """Start the virtual device `model_id` talks to (a free loopback port; its own control
    loop in real time) and return the robot config for `build_robot(model_id, ...)` and a
    function that closes the device.

    Raises:
        ValueError: `model_id` is not a `modbus.*` model this knows.
    """
    kinds = {"modbus.gripper": "gripper", "modbus.conveyor": "conveyor"}
    if model_id not in kinds:
        raise ValueError(f"no virtual device for {model_id}; known: {sorted(kinds)}")
    ROBOTS.get(model_id)
    device = start_virtual_device(kinds[model_id], port=0)
    config: dict[str, Any] = {"host": device.server.host, "port": device.server.port}
    backing = device.backing
    if isinstance(backing, Gripper):
        info = backing.info()
        config |= {"stroke_m": info.stroke_m, "max_force_n": info.max_force_n}
    elif isinstance(backing, IO):
        config["max_speed_m_s"] = backing.point(SPEED).high
    return config, device.close
