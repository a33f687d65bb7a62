"""Synchronised quintic joint trajectories: every joint starts and stops together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# Peaks of the quintic blend s(u) = 10u^3 - 15u^4 + 6u^5 and its derivatives on [0, 1].
_PEAK_VELOCITY = 1.875
_PEAK_ACCELERATION = 10.0 / np.sqrt(3.0)


@dataclass(frozen=True)
class QuinticMove:
    """A rest-to-rest joint move whose slowest joint just meets its limits."""

    start: FloatArray
    goal: FloatArray
    duration_s: float

    @classmethod
    def plan(cls, start: FloatArray, goal: FloatArray, max_velocity: FloatArray,
             max_acceleration: FloatArray, min_duration_s: float = 0.05) -> QuinticMove:
        """Pick the shortest duration within per-joint velocity and acceleration limits."""
        distance = np.abs(goal - start)
        by_velocity = float(np.max(_PEAK_VELOCITY * distance / max_velocity))
        by_acceleration = float(np.max(np.sqrt(_PEAK_ACCELERATION * distance / max_acceleration)))
        return cls(start.copy(), goal.copy(), max(by_velocity, by_acceleration, min_duration_s))

    def sample(self, t_s: float) -> tuple[FloatArray, FloatArray]:
        """Reference positions and velocities at time `t_s` after the start."""
        u = min(max(t_s / self.duration_s, 0.0), 1.0)
        s = u**3 * (10.0 - 15.0 * u + 6.0 * u**2)
        ds = 30.0 * u**2 * (1.0 - u) ** 2 / self.duration_s
        delta = self.goal - self.start
        return self.start + s * delta, ds * delta
