"""`cellwright virtual-device {gripper,conveyor}`: a Modbus TCP device served from PyBullet
(virtual commissioning, docs/modbus.md).

The command loads a world, builds the backing robot in it (`pybullet.panda`, whose
`gripper` the gripper device serves; `pybullet.conveyor` for the conveyor), runs its
control loop in real time, serves the device's register map with `ModbusServer`, prints
`modbus-tcp://HOST:PORT ready` and runs until SIGINT or SIGTERM. Tests start the same
thing in-process with `start_virtual_device`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cellwright.api.geometry import Pose
from cellwright.app.sim_host import SimRobotHost, serve_until_signal, start_sim_robot
from cellwright.robots import IO, Component, Gripper
from cellwright.robots.models.conveyor import SPEED

if TYPE_CHECKING:  # the CLI starts without pymodbus; the command imports it
    from cellwright.robots.drivers.modbus.server import ModbusServer

DEFAULT_WORLD = "arm_cell"
BACKING = {"gripper": ("panda", "pybullet.panda"), "conveyor": ("conveyor", "pybullet.conveyor")}
"""Device kind -> (the backing robot's name, its model). The Panda stands on the layout's
mount `panda`; the conveyor at `CONVEYOR_MOUNT`."""
CONVEYOR_MOUNT = Pose((0.3, 1.0, 0.0))
"""The belt's bottom centre: beside arm_cell's table, running along x."""


@dataclass
class VirtualDevice:
    """A running virtual device: the simulated robot behind it and its server."""

    kind: str
    sim: SimRobotHost
    server: ModbusServer

    @property
    def backing(self) -> Component:
        """The component the device serves."""
        return self.sim.robot.components[self.kind]

    def client_config(self) -> dict[str, Any]:
        """The config of the `modbus.*` robot that talks to this device: its endpoint and
        the backing's limits (stroke and force, or the highest speed)."""
        config: dict[str, Any] = {"host": self.server.host, "port": self.server.port,
                                  "unit": self.server.unit}
        backing = self.backing
        if isinstance(backing, Gripper):
            info = backing.info()
            config |= {"stroke_m": info.stroke_m, "max_force_n": info.max_force_n}
        elif isinstance(backing, IO):
            config["max_speed_m_s"] = backing.point(SPEED).high
        return config

    def close(self) -> None:
        """Stop serving, then shut the robot, its loop and its world down."""
        self.server.close()
        self.sim.close()


def start_virtual_device(kind: str, *, host: str = "127.0.0.1", port: int = 0,
                         world: str = DEFAULT_WORLD, unit: int = 1,
                         config: Mapping[str, Any] | None = None) -> VirtualDevice:
    """Load `world`, build and activate the backing robot (with `config`), and serve it on
    `host:port` (0: a free port; `server.port` tells which).

    Raises:
        ValueError: an unknown kind. OSError: the port cannot be bound.
    """
    from cellwright.robots.drivers.modbus.server import ModbusServer
    from cellwright.robots.drivers.modbus.virtual import ConveyorDevice, GripperDevice

    if kind not in BACKING:
        raise ValueError(f"a virtual device is one of {sorted(BACKING)}, got {kind!r}")
    name, model_id = BACKING[kind]
    sim = start_sim_robot(world, name, model_id, config=config,
                          mount=CONVEYOR_MOUNT if kind == "conveyor" else None)
    try:
        backing = sim.robot.components[kind]
        if isinstance(backing, Gripper):
            server = ModbusServer(GripperDevice(backing), host=host, port=port, unit=unit)
        elif isinstance(backing, IO):
            server = ModbusServer(ConveyorDevice(backing), host=host, port=port, unit=unit)
        else:
            raise TypeError(f"{backing.name} is a {backing.kind}; a virtual {kind} needs a {kind}")
        server.start()
    except BaseException:
        sim.close()
        raise
    return VirtualDevice(kind, sim, server)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `cellwright virtual-device`."""
    parser = sub.add_parser("virtual-device", help="serve a PyBullet gripper or conveyor as a "
                                                   "Modbus TCP device")
    parser.add_argument("kind", choices=sorted(BACKING))
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=5020,
                        help="TCP port, 0 for any free one (default %(default)s)")
    parser.add_argument("--unit", type=int, default=1, help="unit id (default %(default)s)")
    parser.add_argument("--world", default=DEFAULT_WORLD, help="world name or file (default %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    device = start_virtual_device(args.kind, host=args.host, port=args.port, world=args.world,
                                  unit=args.unit)
    return serve_until_signal(f"{device.server.endpoint} ready", device.close)


__all__ = ["VirtualDevice", "add_parser", "start_virtual_device"]
