"""Config schemas of the OPC UA driver's robot models (no driver imports: the registry lists
them without loading asyncua)."""

from __future__ import annotations

from typing import Any

POLICIES = ("Basic256Sha256", "None")
"""`Basic256Sha256` means SignAndEncrypt; `None` (no security) only when a config names it."""
DEFAULT_PKI = "~/.cellwright/opcua/cell"
PANDA_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "endpoint": {"type": "string", "description": "the controller's URL, opc.tcp://host:port"},
        "controller_robot": {"type": "string", "default": "",
                             "description": "its MotionDeviceSystem under DeviceSet (default: "
                                            "the robot's name in the cell)"},
        "device": {"type": "string", "default": "arm", "description": "the MotionDevice's name"},
        "security_policy": {"type": "string", "enum": list(POLICIES), "default": "Basic256Sha256",
                            "description": "Basic256Sha256 (SignAndEncrypt); None only if named"},
        "pki_dir": {"type": "string", "default": DEFAULT_PKI,
                    "description": "the cell's certificate and key, made here on first use"},
        "server_certificate": {"type": "string", "default": "",
                               "description": "the controller's certificate (DER), trusted "
                                              "explicitly; required unless security_policy is None"},
        "request_timeout_s": {"type": "number", "minimum": 0.05, "maximum": 60, "default": 2.0},
        "link_timeout_s": {"type": "number", "minimum": 0.05, "maximum": 60, "default": 1.0,
                           "description": "no heartbeat for this long: the link is lost"},
        "publish_ms": {"type": "number", "minimum": 1, "maximum": 1000, "default": 10.0,
                       "description": "the subscription's publishing interval"},
        "configurations": {"type": "object", "description": "named joint configurations, rad"},
    },
    "required": ["endpoint"],
}
