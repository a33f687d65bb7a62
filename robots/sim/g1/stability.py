"""Balance geometry, pure: support polygon, centre of pressure, stability margin.

Points are floor (x, y) in metres, world frame. No simulator, no model: the legs feed it
the foot contact points and forces they read from PyBullet each tick.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

Point = tuple[float, float]
FloatArray = NDArray[np.float64]


def convex_hull(points: Iterable[Sequence[float]]) -> tuple[Point, ...]:
    """The convex hull, counter-clockwise, without collinear points (Andrew's monotone
    chain). One point gives itself; two give a segment (both ends)."""
    unique = sorted({(float(p[0]), float(p[1])) for p in points})
    if len(unique) <= 2:
        return tuple(unique)

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    for point in unique:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], point) <= 1e-12:
            lower.pop()
        lower.append(point)
    upper: list[Point] = []
    for point in reversed(unique):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], point) <= 1e-12:
            upper.pop()
        upper.append(point)
    return tuple(lower[:-1] + upper[:-1])


def _segment_distance(point: Point, a: Point, b: Point) -> float:
    ax, ay = b[0] - a[0], b[1] - a[1]
    length2 = ax * ax + ay * ay
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((point[0] - a[0]) * ax + (point[1] - a[1]) * ay) / length2))
    return math.hypot(point[0] - a[0] - t * ax, point[1] - a[1] - t * ay)


def signed_distance(point: Sequence[float] | FloatArray, polygon: Sequence[Point]) -> float:
    """Distance (m) of `point` from the polygon's boundary: positive inside, negative
    outside; -inf for an empty polygon. A segment or a single point has no inside, so a
    point on it is at 0 and any other point is outside.

    `polygon` is convex and counter-clockwise (as `convex_hull` returns it)."""
    if not polygon:
        return -math.inf
    xy = (float(point[0]), float(point[1]))
    if len(polygon) == 1:
        return -math.hypot(xy[0] - polygon[0][0], xy[1] - polygon[0][1])
    ring = list(polygon)
    edges = list(zip(ring, ring[1:] + ring[:1], strict=True))
    if len(polygon) == 2:
        edges = edges[:1]
    distance = min(_segment_distance(xy, a, b) for a, b in edges)
    if len(polygon) == 2:
        return -distance
    inside = all((b[0] - a[0]) * (xy[1] - a[1]) - (b[1] - a[1]) * (xy[0] - a[0]) >= 0.0 for a, b in edges)
    return distance if inside else -distance


def centre_of_pressure(contacts: Iterable[tuple[Sequence[float], float]]) -> Point | None:
    """The force-weighted mean of contact points ((x, y, z), normal force N): on a flat
    floor, the ZMP. None when nothing presses."""
    total = sx = sy = 0.0
    for position, force in contacts:
        if force > 0.0:
            total += force
            sx += force * float(position[0])
            sy += force * float(position[1])
    if total <= 0.0:
        return None
    return (sx / total, sy / total)


__all__ = ["centre_of_pressure", "convex_hull", "signed_distance"]
