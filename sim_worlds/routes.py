"""Where a simulated worker is: a pure function of its `WorkerSpec` and the simulation
clock, with no randomness, so every run repeats it (whatever the seed)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from cellwright.sim_worlds.spec import WorkerSpec

Point = tuple[float, float]


@dataclass(frozen=True)
class Walk:
    """A worker's floor position (m) and velocity (m/s), world frame."""

    position: Point
    velocity: Point


def walk(spec: WorkerSpec, t_s: float) -> Walk:
    """Where `spec`'s worker is at simulation time `t_s`.

    It stands at the first waypoint until `start_delay_s`, then walks at `speed_m_s`: a loop
    goes round through the first waypoint again and pauses there `pause_s` after each lap;
    back and forth pauses `pause_s` at the last waypoint and again at the first.
    """
    path = (*spec.route, spec.route[0]) if spec.mode == "loop" else spec.route
    length = sum(math.dist(a, b) for a, b in itertools.pairwise(path))
    leg_s = length / spec.speed_m_s
    t = t_s - spec.start_delay_s
    if t <= 0:
        return Walk(path[0], (0.0, 0.0))
    if spec.mode == "loop":
        phase = t % (leg_s + spec.pause_s)
        return _along(path, phase * spec.speed_m_s, spec.speed_m_s) if phase < leg_s else Walk(path[0], (0.0, 0.0))
    phase = t % (2 * (leg_s + spec.pause_s))
    if phase < leg_s:
        return _along(path, phase * spec.speed_m_s, spec.speed_m_s)
    phase -= leg_s + spec.pause_s
    if phase < 0:
        return Walk(path[-1], (0.0, 0.0))
    if phase < leg_s:
        return _along(path, length - phase * spec.speed_m_s, -spec.speed_m_s)
    return Walk(path[0], (0.0, 0.0))


def _along(path: Sequence[Point], distance_m: float, speed_m_s: float) -> Walk:
    """At `distance_m` along the polyline, walking at `speed_m_s` (negative: backwards)."""
    for a, b in itertools.pairwise(path):
        segment = math.dist(a, b)
        if segment == 0.0:
            continue
        if distance_m <= segment:
            ux, uy = (b[0] - a[0]) / segment, (b[1] - a[1]) / segment
            return Walk((a[0] + ux * distance_m, a[1] + uy * distance_m), (ux * speed_m_s, uy * speed_m_s))
        distance_m -= segment
    return Walk(path[-1], (0.0, 0.0))


__all__ = ["Walk", "walk"]
