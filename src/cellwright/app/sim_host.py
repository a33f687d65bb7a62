"""A PyBullet world with one robot in it on a real-time control loop: what a virtual
controller or a virtual device serves (virtual commissioning)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cellwright.api.geometry import ORIGIN, Pose
from cellwright.robots import BuildContext, ControlLoop, Robot, build_robot

if TYPE_CHECKING:  # the CLI starts without PyBullet; the commands import it
    from cellwright.sim_worlds import SimWorld


@dataclass
class SimRobotHost:
    """A world, its real-time control loop, and one robot in it (activated)."""

    world: SimWorld
    loop: ControlLoop
    robot: Robot

    def close(self) -> None:
        """Shut the robot down, stop the loop, close the world."""
        for component in self.robot.components.values():
            self.loop.call(component.shutdown)
        if self.loop.stop():
            self.world.close()


def start_sim_robot(world: str, name: str, model_id: str, *, mount: Pose | None = None,
                    config: Mapping[str, Any] | None = None, seed: int = 0) -> SimRobotHost:
    """Load `world`, build `model_id` as robot `name` on the layout's mount of that name (or
    `mount`, or the origin), run the loop in real time and activate the robot.

    Raises:
        RegistryError: an unknown world or model. SchemaError: a bad robot config.
    """
    from cellwright.sim_worlds import load_world

    sim = load_world(world, seed=seed)
    loop = ControlLoop(sim.dt, world=sim, clock="realtime", name=f"virtual {name}")
    try:
        where = mount if mount is not None else sim.layout.mounts.get(name, ORIGIN)
        robot = build_robot(model_id, BuildContext(name, where, sim, seed, name), config or {})
        for component in robot.components.values():
            loop.add(component)
        loop.start()
        for component in robot.components.values():
            loop.call(component.activate)
    except BaseException:
        if loop.stop():
            sim.close()
        raise
    return SimRobotHost(sim, loop, robot)


def serve_until_signal(ready: str, close: Callable[[], None]) -> int:
    """Print `ready`, wait for SIGINT or SIGTERM, then `close()`."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        print(ready, flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        close()
    return 0
