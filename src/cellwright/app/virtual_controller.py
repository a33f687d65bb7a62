"""`cellwright virtual-controller`: a real OPC UA server for a robot in a PyBullet world, so a
cell configured with the OPC UA driver runs unchanged against simulation (virtual
commissioning; docs/drivers.md)."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from cellwright.app.sim_host import SimRobotHost, serve_until_signal, start_sim_robot
from cellwright.robots import Arm, Gripper

if TYPE_CHECKING:  # the CLI starts without asyncua; the command imports it
    from cellwright.api.netproxy import DelayProxy
    from cellwright.robots.drivers.opcua.server import RobotServer
    from cellwright.sim_worlds import SimWorld

DEFAULT_PKI = Path("~/.cellwright/opcua/virtual-controller")
PAYLOAD_LINKS = {"pybullet.panda": "panda_hand"}
"""The link a payload is added to, per model: what a gripped tool or part would weigh on."""


@dataclass(frozen=True)
class Perturbation:
    """How a virtual controller differs from the simulation a workflow was proven in
    (`--perturb friction=0.7,payload_kg=0.5,latency_ms=20,jitter_ms=10,seed=1`).

    Attributes:
        friction: factor on the lateral friction of every part and object of the world (not
            the robot's own links); matters where parts are touched, not in free motion.
        payload_kg: mass added to the robot's hand link (a tool or part it carries).
        latency_ms: network delay added each way between the cells and the server.
        jitter_ms: the delay varies uniformly by this much either side (<= latency_ms).
        seed: seeds the jitter.
    """

    friction: float = 1.0
    payload_kg: float = 0.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, text: str) -> Perturbation:
        """`key=value` pairs separated by commas; every key optional.

        Raises:
            ValueError: an unknown key, a value that is not a number, or out of range; the
                message names the key and what is allowed.
        """
        known = [f.name for f in fields(cls)]
        values: dict[str, float | int] = {}
        for item in (i.strip() for i in text.split(",")):
            if not item:
                continue
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(f"{item!r} must be KEY=VALUE, e.g. friction=0.7; keys: {known}")
            if key not in known:
                raise ValueError(f"unknown perturbation {key!r}; known: {known}")
            if key in values:
                raise ValueError(f"{key} is given twice")
            try:
                number = float(raw)
            except ValueError:
                raise ValueError(f"{key}={raw!r} is not a number") from None
            if not math.isfinite(number):
                raise ValueError(f"{key}={raw!r} must be finite")
            if key == "seed":
                if not number.is_integer() or number < 0:
                    raise ValueError(f"seed={raw!r} must be an integer >= 0")
                values[key] = int(number)
            else:
                values[key] = number
        perturbation = cls(**values)  # type: ignore[arg-type]
        perturbation.check()
        return perturbation

    def check(self) -> None:
        """Raises ValueError naming the key whose value is out of range."""
        if self.friction <= 0:
            raise ValueError(f"friction={self.friction:g} must be > 0 (a factor on the friction)")
        if self.payload_kg < 0:
            raise ValueError(f"payload_kg={self.payload_kg:g} must be >= 0 (mass added)")
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise ValueError(f"latency_ms={self.latency_ms:g} and jitter_ms={self.jitter_ms:g} must be >= 0")
        if self.jitter_ms > self.latency_ms:
            raise ValueError(f"jitter_ms={self.jitter_ms:g} must not exceed latency_ms={self.latency_ms:g} "
                             f"(a delay is never negative)")

    @property
    def physics(self) -> bool:
        return self.friction != 1.0 or self.payload_kg != 0.0

    @property
    def network(self) -> bool:
        return self.latency_ms > 0

    def labels(self, payload_link: str = "the hand") -> list[str]:
        """What is perturbed, one phrase each (empty: nothing)."""
        said = []
        if self.friction != 1.0:
            said.append(f"friction x{self.friction:g} (lateral friction of the world's parts and objects)")
        if self.payload_kg:
            said.append(f"payload +{self.payload_kg:g} kg on {payload_link}")
        if self.network:
            said.append(f"network delay {self.latency_ms:g} ± {self.jitter_ms:g} ms each way "
                        f"(seed {self.seed}, a TCP proxy on loopback)")
        return said


def perturb_physics(world: SimWorld, robot: str, model: str, perturbation: Perturbation) -> str:
    """Scale the lateral friction of every body of `world` but the robot's, and add the
    payload to the robot's hand link (on the loop thread). Returns the payload link's name.

    Raises:
        ValueError: a payload for a model without a known hand link, or no such robot body.
    """
    import pybullet as p

    client = world.client
    bodies = [p.getBodyUniqueId(i, physicsClientId=client) for i in range(p.getNumBodies(physicsClientId=client))]
    names = {f"robot {robot}", f"robot {robot} on mount {robot}"}  # how pybullet.* models name their body
    robot_bodies = [b for b in bodies if world.body_name(b) in names]
    if len(robot_bodies) != 1:
        raise ValueError(f"found {len(robot_bodies)} bodies named {robot!r} in the world; expected one")
    if perturbation.friction != 1.0:
        for body in bodies:
            if body == robot_bodies[0] or world.body_name(body).startswith("worker "):
                continue
            for link in range(-1, p.getNumJoints(body, physicsClientId=client)):
                friction = p.getDynamicsInfo(body, link, physicsClientId=client)[1]
                p.changeDynamics(body, link, lateralFriction=friction * perturbation.friction,
                                 physicsClientId=client)
    if perturbation.payload_kg == 0:
        return ""
    if model not in PAYLOAD_LINKS:
        raise ValueError(f"payload_kg: no hand link known for {model}; known: {sorted(PAYLOAD_LINKS)}")
    body = robot_bodies[0]
    links = {p.getJointInfo(body, j, physicsClientId=client)[12].decode(): j
             for j in range(p.getNumJoints(body, physicsClientId=client))}
    link = links[PAYLOAD_LINKS[model]]
    mass = p.getDynamicsInfo(body, link, physicsClientId=client)[0]
    p.changeDynamics(body, link, mass=mass + perturbation.payload_kg, physicsClientId=client)
    return PAYLOAD_LINKS[model]


@dataclass
class VirtualController:
    """A simulated robot and the OPC UA server that serves it."""

    host: SimRobotHost
    server: RobotServer
    proxy: DelayProxy | None = None
    perturbed: tuple[str, ...] = ()
    """What differs from the simulation, one phrase each (empty: nothing)."""

    @property
    def url(self) -> str:
        """The endpoint cells use: the delay proxy's when there is one, else the server's."""
        if self.proxy is None:
            return self.server.url
        return f"opc.tcp://{self.proxy.url_host_port}"

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        self.server.stop()
        self.host.close()


def start_virtual_controller(world: str, robot: str, *, model: str = "pybullet.panda",
                             url: str = "opc.tcp://127.0.0.1:4840", pki: Path = DEFAULT_PKI,
                             policy: str = "Basic256Sha256", trust: tuple[Path, ...] = (),
                             seed: int = 0, perturbation: Perturbation | None = None) -> VirtualController:
    """Build `model` as `robot` in `world` on a real-time loop and serve its arm and gripper;
    with `perturbation`, change the physics, and for a network delay let a delay proxy take
    `url` with the server behind it on a free port (cells use `url` either way)."""
    from cellwright.api.netproxy import DelayProxy
    from cellwright.robots.drivers.opcua import security
    from cellwright.robots.drivers.opcua.server import RobotServer

    perturbation = perturbation or Perturbation()
    perturbation.check()

    pki = pki.expanduser()
    for certificate in trust:
        security.trust(pki, certificate)
    host = start_sim_robot(world, robot, model, seed=seed)
    try:
        arms, grippers = host.robot.of_kind(Arm), host.robot.of_kind(Gripper)
        if len(arms) != 1:
            raise ValueError(f"{model} has {len(arms)} arms; a virtual controller serves one")
        listen_host, _, listen_port = url.removeprefix("opc.tcp://").rpartition(":")
        server_url = f"opc.tcp://{listen_host}:0" if perturbation.network else url
        server = RobotServer(arms[0], grippers[0] if grippers else None, robot=robot, url=server_url,
                             pki=pki, policy=policy)
        payload_link = ""
        if perturbation.physics:
            payload_link = host.loop.call(lambda: perturb_physics(host.world, robot, model, perturbation))
        server.start()
    except BaseException:
        host.close()
        raise
    controller = VirtualController(host, server, perturbed=tuple(perturbation.labels(payload_link)))
    if perturbation.network:
        host_name, _, port = server.url.removeprefix("opc.tcp://").rpartition(":")
        controller.proxy = DelayProxy(host_name, int(port), latency_s=perturbation.latency_ms / 1000,
                                      jitter_s=perturbation.jitter_ms / 1000, seed=perturbation.seed,
                                      listen_host=listen_host, listen_port=int(listen_port))
        try:
            controller.proxy.start()
        except BaseException:
            controller.close()
            raise
    return controller


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
    parser.add_argument("--perturb", type=_perturbation, default=Perturbation(), metavar="KEY=VALUE,...",
                        help="differ from the simulation: friction=FACTOR (parts' and objects' "
                             "lateral friction), payload_kg=KG (on the hand), latency_ms=MS and "
                             "jitter_ms=MS (each way, through a delay proxy), seed=N; e.g. "
                             "friction=0.7,payload_kg=0.5,latency_ms=20,jitter_ms=10,seed=1")
    parser.set_defaults(func=run)


def _perturbation(text: str) -> Perturbation:
    try:
        return Perturbation.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    controller = start_virtual_controller(args.world, args.robot, model=args.model, url=args.url,
                                          pki=args.pki, policy=args.security, trust=tuple(args.trust),
                                          seed=args.seed, perturbation=args.perturb)
    certificate = "" if args.security == "None" else f"; certificate {controller.server.certificate}"
    perturbed = "; ".join(controller.perturbed) or "none"
    behind = f"; the server itself at {controller.server.url}" if controller.proxy is not None else ""
    return serve_until_signal(f"{controller.url} ready ({args.security}{certificate})\n"
                              f"perturbed: {perturbed}{behind}", controller.close)
