"""What a simulated robot needs from the world it lives in (`sim_worlds.SimWorld` fits).

Declared here as a protocol so that `robots` does not import `sim_worlds`. The world is
stepped by the control loop (`robots.loop.ControlLoop`), never by a robot, so stepping is
not part of this protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cellwright.robots.paths import Obstacle
from cellwright.robots.presence import Person


@runtime_checkable
class PhysicsWorld(Protocol):
    """A PyBullet world on a simulation clock, touched from the control loop's thread."""

    @property
    def client(self) -> int:
        """The PyBullet physics client id."""
        ...

    @property
    def dt(self) -> float:
        """Seconds of simulation time per step."""
        ...

    def now_s(self) -> float:
        """Simulation time, seconds."""
        ...

    def is_part(self, body_id: int) -> bool:
        """True if the body is a movable part (which robots may touch)."""
        ...

    def body_name(self, body_id: int) -> str:
        """A readable name for a body, for error messages."""
        ...

    def name_body(self, body_id: int, name: str) -> None:
        """Give a body a readable name (a robot says which robot it is)."""
        ...

    def obstacles(self) -> list[Obstacle]:
        """The world's footprint on the floor: every static object a base must walk
        around (not the floor, parts or robots), for `robots.paths.plan_path`."""
        ...


@runtime_checkable
class PeopleWorld(Protocol):
    """A world with people in it (the simulated workers of `sim_worlds`), for the
    ground-truth presence sensor."""

    def now_s(self) -> float:
        """Simulation time, seconds."""
        ...

    def people(self) -> tuple[Person, ...]:
        """Every person in the world now, exactly (ground truth)."""
        ...


@runtime_checkable
class PartWorld(Protocol):
    """A world whose movable parts a robot may pick by id (`sim_worlds.SimWorld` fits)."""

    def part_shape(self, part_id: str) -> tuple[int, tuple[float, float, float], float]:
        """The part's body id, outside size (x, y, z in its own frame, m) and mass (kg).

        Raises:
            KeyError: no such part.
        """
        ...
