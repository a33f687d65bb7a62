"""What a simulated robot needs from the world it lives in (`sim_worlds.SimWorld` fits).

Declared here as a protocol so that `robots` does not import `sim_worlds`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class PhysicsWorld(Protocol):
    """A PyBullet world stepped on a simulation clock, from one thread."""

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

    def step(self, n: int = 1) -> None:
        """Advance the physics `n` steps."""
        ...

    def add_step_listener(self, fn: Callable[[], None], every_n_steps: int = 1) -> None:
        """Call `fn` after every `every_n_steps` steps."""
        ...

    def is_part(self, body_id: int) -> bool:
        """True if the body is a movable part (which robots may touch)."""
        ...

    def body_name(self, body_id: int) -> str:
        """A readable name for a body, for error messages."""
        ...
