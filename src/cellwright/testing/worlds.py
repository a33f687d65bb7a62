"""A bare PyBullet world for testing `pybullet.*` components without a world file."""

from __future__ import annotations

import pybullet as p
import pybullet_data

from cellwright.robots.paths import Obstacle
from cellwright.robots.presence import Person


class PlaneWorld:
    """A `robots.sim.PhysicsWorld`: a DIRECT client with gravity, a floor plane and the
    boxes a test adds (obstacles, or parts the robot may touch). A `ControlLoop` steps it.

    Args:
        dt: seconds per physics step.
    """

    def __init__(self, dt: float = 1.0 / 240.0) -> None:
        self.client = p.connect(p.DIRECT)
        self.dt = dt
        self.steps = 0
        p.setGravity(0, 0, -9.81, physicsClientId=self.client)
        p.setTimeStep(self.dt, physicsClientId=self.client)
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.client)
        self.plane = p.loadURDF("plane.urdf", physicsClientId=self.client)
        self.names = {self.plane: "floor"}
        self.parts: set[int] = set()
        self.shapes: dict[str, tuple[int, tuple[float, float, float], float]] = {}
        self.footprint: list[Obstacle] = []

    def add_box(self, name: str, center: tuple[float, float, float],
                half: tuple[float, float, float], *, part: bool = False, mass: float = 0.0) -> int:
        """Add a box (static unless it has mass); `part=True` lets robots touch it."""
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=self.client)
        body = int(p.createMultiBody(mass, shape, basePosition=center, physicsClientId=self.client))
        self.names[body] = name
        if part:
            self.parts.add(body)
            self.shapes[name] = (body, (2 * half[0], 2 * half[1], 2 * half[2]), mass)
        elif mass == 0.0:
            self.footprint.append(Obstacle(name, (center[0], center[1]), (2 * half[0], 2 * half[1])))
        return body

    def now_s(self) -> float:
        return self.steps * self.dt

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            p.stepSimulation(physicsClientId=self.client)
            self.steps += 1

    def is_part(self, body_id: int) -> bool:
        return body_id in self.parts

    def name_body(self, body_id: int, name: str) -> None:
        self.names[body_id] = name

    def body_name(self, body_id: int) -> str:
        return self.names.get(body_id, f"body {body_id}")

    def obstacles(self) -> list[Obstacle]:
        """The static boxes a test added (not parts): what a base walks around."""
        return list(self.footprint)

    def part_shape(self, part_id: str) -> tuple[int, tuple[float, float, float], float]:
        """A part box by its name: body id, size, mass (a `robots.sim.PartWorld` too)."""
        try:
            return self.shapes[part_id]
        except KeyError:
            raise KeyError(f"no part {part_id!r}; parts: {sorted(self.shapes)}") from None

    def people(self) -> tuple[Person, ...]:
        """Nobody walks on a bare plane (a `robots.sim.PeopleWorld` too)."""
        return ()

    def close(self) -> None:
        p.disconnect(physicsClientId=self.client)
