"""The simulated workers of a world: one PyBullet body each, moved along its route.

Each worker is a static body (mass 0: a vertical cylinder of its radius and height) that
`SimWorld.step()` puts where its route says before every physics step
(`resetBasePositionAndOrientation`). So a worker never yields: a robot that meets one is
pushed by the solver's contact and penetration recovery as by an immovable wall walking at
the worker's speed (an arm's collision check reports it by name), but contact friction does
not see the worker's velocity, which moves by teleporting `speed * dt` a step. Workers are
not parts: robots may not touch them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pybullet as p

from cellwright.robots.presence import Person
from cellwright.sim_worlds.routes import walk
from cellwright.sim_worlds.spec import WorkerSpec


class Workers:
    """A world's workers (one thread: the world's). `build()` creates their bodies."""

    def __init__(self, specs: Sequence[WorkerSpec]) -> None:
        self.specs = tuple(specs)
        self._bodies: list[int] = []
        self._client = -1

    def build(self, client: int, now_s: float) -> dict[int, str]:
        """Create the bodies where the workers stand at `now_s`; return body id -> name."""
        self._client = client
        for spec in self.specs:
            shape = p.createCollisionShape(p.GEOM_CYLINDER, radius=spec.radius_m, height=spec.height_m,
                                           physicsClientId=client)
            visual = p.createVisualShape(p.GEOM_CYLINDER, radius=spec.radius_m, length=spec.height_m,
                                         rgbaColor=list(spec.color), physicsClientId=client)
            self._bodies.append(int(p.createMultiBody(0.0, shape, visual, self._position(spec, now_s),
                                                      physicsClientId=client)))
        return {body: spec.name for body, spec in zip(self._bodies, self.specs, strict=True)}

    def move(self, t_s: float) -> None:
        """Put every worker where its route says at simulation time `t_s`."""
        for body, spec in zip(self._bodies, self.specs, strict=True):
            p.resetBasePositionAndOrientation(body, self._position(spec, t_s), (0.0, 0.0, 0.0, 1.0),
                                              physicsClientId=self._client)

    def people(self, t_s: float) -> tuple[Person, ...]:
        """Every worker at `t_s`, exactly (ground truth)."""
        result = []
        for spec in self.specs:
            now = walk(spec, t_s)
            result.append(Person(spec.name, now.position, now.velocity, spec.radius_m))
        return tuple(result)

    @staticmethod
    def _position(spec: WorkerSpec, t_s: float) -> tuple[float, float, float]:
        x, y = walk(spec, t_s).position
        return (x, y, spec.height_m / 2)


__all__ = ["Workers"]
