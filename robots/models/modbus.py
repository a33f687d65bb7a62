"""Modbus TCP devices' configuration (docs/modbus.md): the connection keys every Modbus
device shares, and the config schemas of `modbus.gripper` and `modbus.conveyor`."""

from __future__ import annotations

from typing import Any

from cellwright.robots.models.conveyor import MAX_SPEED_PROPERTY

GRIPPER_MODEL = "generic_2f_gripper"
"""A two-finger electric gripper with a Robotiq/Schunk-style register map."""
DEFAULT_STROKE_M = 0.085
DEFAULT_MAX_FORCE_N = 235.0

CONNECTION: dict[str, Any] = {
    "host": {"type": "string", "default": "127.0.0.1", "description": "the device's address"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 502,
             "description": "Modbus TCP port"},
    "unit": {"type": "integer", "minimum": 0, "maximum": 255, "default": 1,
             "description": "unit (slave) id"},
    "poll_hz": {"type": "number", "minimum": 1, "maximum": 1000, "default": 50,
                "description": "how often the device's state is read"},
    "timeout_s": {"type": "number", "minimum": 0.01, "maximum": 30, "default": 0.5,
                  "description": "each request's answer must come within this, s"},
    "max_missed_polls": {"type": "integer", "minimum": 1, "maximum": 100, "default": 3,
                         "description": "failed polls in a row before the component goes to ERROR"},
}

GRIPPER_CONFIG_SCHEMA = {
    "type": "object",
    "properties": {
        **CONNECTION,
        "stroke_m": {"type": "number", "minimum": 0.001, "maximum": 6.5, "default": DEFAULT_STROKE_M,
                     "description": "widest opening, m (at most the device's STROKE)"},
        "max_force_n": {"type": "number", "minimum": 0.1, "maximum": 6500, "default": DEFAULT_MAX_FORCE_N,
                        "description": "grip force limit, N (at most the device's MAX_FORCE)"},
        "activation_timeout_s": {"type": "number", "minimum": 0.1, "maximum": 60, "default": 5.0,
                                 "description": "activate() waits this long for the device's "
                                                "activation to complete, s"},
    },
}

CONVEYOR_CONFIG_SCHEMA = {
    "type": "object",
    "properties": {**CONNECTION, "max_speed_m_s": MAX_SPEED_PROPERTY},
}
