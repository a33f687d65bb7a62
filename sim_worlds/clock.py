"""The simulation clock: time advances only when the world steps."""

from __future__ import annotations

DEFAULT_DT_S = 1.0 / 240.0


class SimClock:
    """Counts physics steps of fixed size `dt` seconds."""

    def __init__(self, dt: float = DEFAULT_DT_S) -> None:
        if not dt > 0.0:
            raise ValueError(f"dt must be positive, got {dt}")
        self.dt = dt
        self.steps = 0

    def now_s(self) -> float:
        """Simulation seconds since the world was created."""
        return self.steps * self.dt

    def advance(self, n: int = 1) -> None:
        """Count `n` more steps."""
        self.steps += n
