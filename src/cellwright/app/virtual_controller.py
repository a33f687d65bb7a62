"""`cellwright virtual-controller`: a real OPC UA server for a robot in a PyBullet world, so a
cell configured with the OPC UA driver runs unchanged against simulation (virtual
commissioning; docs/drivers.md)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cellwright.app.sim_host import SimRobotHost, serve_until_signal, start_sim_robot
from cellwright.robots import Arm, Gripper

if TYPE_CHECKING:  # the CLI starts without asyncua; the command imports it
    from cellwright.robots.drivers.opcua.server import RobotServer

DEFAULT_PKI = Path("~/.cellwright/opcua/virtual-controller")


@dataclass
class VirtualController:
    """A simulated robot and the OPC UA server that serves it."""

    host: SimRobotHost
    server: RobotServer

    def close(self) -> None:
        self.server.stop()
        self.host.close()


def start_virtual_controller(world: str, robot: str, *, model: str = "pybullet.panda",
                             url: str = "opc.tcp://127.0.0.1:4840", pki: Path = DEFAULT_PKI,
                             policy: str = "Basic256Sha256", trust: tuple[Path, ...] = (),
                             seed: int = 0) -> VirtualController:
    """Build `model` as `robot` in `world` on a real-time loop and serve its arm and gripper."""
    from cellwright.robots.drivers.opcua import security
    from cellwright.robots.drivers.opcua.server import RobotServer

    pki = pki.expanduser()
    for certificate in trust:
        security.trust(pki, certificate)
    host = start_sim_robot(world, robot, model, seed=seed)
    try:
        arms, grippers = host.robot.of_kind(Arm), host.robot.of_kind(Gripper)
        if len(arms) != 1:
            raise ValueError(f"{model} has {len(arms)} arms; a virtual controller serves one")
        server = RobotServer(arms[0], grippers[0] if grippers else None, robot=robot, url=url,
                             pki=pki, policy=policy)
        server.start()
    except BaseException:
        host.close()
        raise
    return VirtualController(host, server)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `cellwright virtual-controller`."""
    parser = sub.add_parser("virtual-controller", help="serve a PyBullet robot as an OPC UA robot "
                                                       "controller (OPC 40010)")
    parser.add_argument("--world", default="arm_cell", help="world name or file (default %(default)s)")
    parser.add_argument("--robot", default="panda", help="the robot's name, also its layout mount "
                                                         "(default %(default)s)")
    parser.add_argument("--model", default="pybullet.panda", help="registry id (default %(default)s)")
    parser.add_argument("--url", default="opc.tcp://127.0.0.1:4840",
                        help="endpoint to bind; port 0 picks a free one (default %(default)s)")
    parser.add_argument("--security", default="Basic256Sha256", choices=("Basic256Sha256", "None"),
                        help="Basic256Sha256 = SignAndEncrypt (default); None only when named")
    parser.add_argument("--pki", type=Path, default=DEFAULT_PKI,
                        help="the server's certificate folder, made on first use (default %(default)s)")
    parser.add_argument("--trust", type=Path, action="append", default=[],
                        help="a client certificate (DER) to trust; repeat for several")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    controller = start_virtual_controller(args.world, args.robot, model=args.model, url=args.url,
                                          pki=args.pki, policy=args.security, trust=tuple(args.trust),
                                          seed=args.seed)
    certificate = "" if args.security == "None" else f"; certificate {controller.server.certificate}"
    return serve_until_signal(f"{controller.server.url} ready ({args.security}{certificate})",
                              controller.close)
