"""`SimPresence`: the people of a simulated world, read from the simulator's ground truth.

    SimPresence(Presence)   reads `PeopleWorld.people()` every tick (loop thread)
    build(context, config)  the `pybullet.presence` factory: a Robot with one component
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellwright.robots.presence import MODEL, Presence, PresenceInfo, PresenceState
from cellwright.robots.robot import BuildContext, Robot
from cellwright.robots.sim._world import PeopleWorld

REGISTRY_ID = "pybullet.presence"
DRIVER = "pybullet"
APPROXIMATION = ("reads the simulator's ground truth of worker positions; a real one would be a "
                 "safety laser scanner or a camera, with its own latency and misses")


class SimPresence(Presence):
    """Sees every worker of the world, exactly, wherever its mount is, with no latency."""

    def __init__(self, name: str, world: PeopleWorld) -> None:
        super().__init__(name, MODEL, DRIVER)
        self._world = world
        self._info = PresenceInfo(name, self.kind, MODEL, DRIVER, approximation=APPROXIMATION)
        self._state = PresenceState(0.0, ())

    def info(self) -> PresenceInfo:
        return self._info

    def state(self) -> PresenceState:
        return self._state

    def read(self, now_s: float) -> None:
        self._state = PresenceState(now_s, self._world.people())

    def _configure(self) -> None:
        self.read(self._world.now_s())


def build(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    """The `pybullet.presence` factory.

    Raises:
        ValueError: no world. TypeError: a world that cannot tell its people (`PeopleWorld`).
    """
    world = context.world
    if world is None:
        raise ValueError(f"{REGISTRY_ID} needs a PyBullet world: give the cell a world "
                         f"(robot {context.robot_name!r})")
    if not isinstance(world, PeopleWorld):
        raise TypeError(f"{REGISTRY_ID} needs a world with now_s() and people(); got "
                        f"{type(world).__name__}")
    name = context.robot_name
    return Robot(name=name, registry_id=REGISTRY_ID, model=MODEL, driver=DRIVER,
                 components={"presence": SimPresence(f"{name}/presence", world)},
                 approximations=(APPROXIMATION,))


__all__ = ["APPROXIMATION", "SimPresence", "build"]
