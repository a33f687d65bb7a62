"""Floor paths for mobile bases: around the world's footprint, then timed within limits.

A pure core (numpy only): `plan_path` finds the shortest polyline from a start to a goal
around rectangular obstacles grown by a clearance; `time_path` turns it into a `Profile`
that a base follows, sampled at any time.

Planning. Every obstacle is grown by `clearance_m` on each side (a rectangle with square
corners, which contains the exact rounded Minkowski sum: conservative by at most
`clearance_m * (sqrt(2) - 1)` at the corners). The shortest path around polygons bends only
at their convex corners, so a visibility graph over start, goal and the grown corners,
searched with Dijkstra, gives the exact shortest path (among paths that keep the clearance).
A path may touch a grown rectangle's edge or corner but never enters it.

Leaving a margin. A robot that stands closer than `clearance_m` to an obstacle (next to a
table it worked at) may still plan: for the first segment only, each obstacle the start is
inside (grown) is grown by the start's own clearance instead, so the first segment moves
away from it or along it, never closer. A start inside an obstacle itself is refused.

Timing. The base turns in place to face each segment (no blending at corners: the speed and
turn limits then hold exactly and a walker always walks forwards), walks the segment with a
trapezoidal speed profile from rest to rest, and at the end turns in place to the goal yaw.
Walking speed is capped at `MAX_WALK_SPEED_M_S` (1.0 m/s) whatever the caller asks: issue 8's
limit for a humanoid walking among people (ISO/TS 15066 context).

Frames and units: world frame, x and y in metres, yaw in radians about +z (counter-clockwise
from +x), seconds.

Errors::

    Unreachable (robots.errors)
    └── NoPath          no collision-free path: the goal or start is inside an obstacle,
                        outside the bounds, or walled in (reason "unreachable")
    LimitViolation      a non-finite point, a bad clearance, bounds or limit, or a speed
                        above MAX_WALK_SPEED_M_S
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from cellwright.robots.errors import LimitViolation, Unreachable

Point = tuple[float, float]
"""x, y in metres, world frame."""

Bounds = tuple[float, float, float, float]
"""x_min, y_min, x_max, y_max in metres: the floor area a path must stay in."""

MAX_WALK_SPEED_M_S = 1.0
"""The highest walking speed `time_path` accepts (issue 8: humanoids among people)."""

_EPS_M = 1e-7
"""Geometric tolerance: a path may graze a grown obstacle by this much."""


class NoPath(Unreachable):
    """No collision-free path to the goal; the message says which obstacle or bound is in
    the way. `goal` is the goal asked for."""

    def __init__(self, message: str, goal: Point) -> None:
        super().__init__(message)
        self.goal = goal


@dataclass(frozen=True)
class Obstacle:
    """A rectangle on the floor that a base must walk around.

    Attributes:
        name: the world object's name, for error messages.
        center_m: the rectangle's centre (x, y), world frame.
        size_m: its full lengths along its own x and y axes (positive).
        yaw_rad: its rotation about +z (0: sides along the world axes).
    """

    name: str
    center_m: Point
    size_m: Point
    yaw_rad: float = 0.0

    def __post_init__(self) -> None:
        values = (*self.center_m, *self.size_m, self.yaw_rad)
        if len(values) != 5 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"obstacle {self.name!r}: expected finite centre (x, y), size (x, y) "
                             f"and yaw, got {self.center_m}, {self.size_m}, {self.yaw_rad}")
        if min(self.size_m) <= 0.0:
            raise ValueError(f"obstacle {self.name!r}: sizes must be positive, got {self.size_m}")

    def corners(self, clearance_m: float = 0.0) -> list[Point]:
        """The four corners, counter-clockwise, of the rectangle grown by `clearance_m`."""
        hx, hy = self.size_m[0] / 2 + clearance_m, self.size_m[1] / 2 + clearance_m
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        cx, cy = self.center_m
        return [(cx + c * lx - s * ly, cy + s * lx + c * ly)
                for lx, ly in ((hx, hy), (-hx, hy), (-hx, -hy), (hx, -hy))]

    def clearance_of(self, point: Point) -> float:
        """How far the rectangle could grow before `point` is inside it: the largest `g`
        with `point` on or outside the rectangle grown by `g` (negative inside)."""
        lx, ly = self._local(point)
        return max(abs(lx) - self.size_m[0] / 2, abs(ly) - self.size_m[1] / 2)

    def contains(self, point: Point, clearance_m: float = 0.0) -> bool:
        """True if `point` is strictly inside the rectangle grown by `clearance_m`."""
        return self.clearance_of(point) < clearance_m - _EPS_M

    def _local(self, point: Point) -> Point:
        dx, dy = point[0] - self.center_m[0], point[1] - self.center_m[1]
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        return (c * dx + s * dy, -s * dx + c * dy)


def plan_path(start: Point, goal: Point, obstacles: Sequence[Obstacle], clearance_m: float,
              bounds: Bounds | None = None) -> list[Point]:
    """The shortest path from `start` to `goal` keeping `clearance_m` from every obstacle.

    Args:
        start: where the base stands (x, y).
        goal: where it should go (x, y).
        obstacles: the footprint to walk around (`PhysicsWorld.obstacles()`).
        clearance_m: distance to keep from every obstacle (>= 0): the base's radius plus a
            margin. The first segment may keep less from an obstacle the start is already
            closer to (see the module docstring).
        bounds: the floor area the path must stay in, or None for no limit.

    Returns:
        The waypoints, start first and goal last; just `[start]` if the goal is the start.
        Consecutive points are joined by straight segments.

    Raises:
        NoPath: the goal (or start) is inside an obstacle grown by the clearance (the start:
            inside the obstacle itself) or outside the bounds, or obstacles wall it in.
        LimitViolation: non-finite points, a negative or non-finite clearance, empty bounds.
    """
    start, goal = _point("start", start), _point("goal", goal)
    if not math.isfinite(clearance_m) or clearance_m < 0.0:
        raise LimitViolation(f"clearance_m must be finite and >= 0, got {clearance_m}")
    if bounds is not None:
        bounds = _bounds(bounds)
        for what, point in (("goal", goal), ("start", start)):
            if not _in_bounds(point, bounds):
                raise NoPath(f"{what} {_fmt(point)} is outside the bounds x {bounds[0]:g}..{bounds[2]:g}, "
                             f"y {bounds[1]:g}..{bounds[3]:g}", goal)
    inside_start = [o.name for o in obstacles if o.contains(start)]
    if inside_start:
        raise NoPath(f"start {_fmt(start)} is inside obstacle {_names(inside_start)}: the base's "
                     f"position overlaps the world's footprint", goal)
    blocking = [o for o in obstacles if o.contains(goal, clearance_m)]
    if blocking:
        spans = "; ".join(f"{o.name!r} spans {_span(o, clearance_m)}" for o in blocking)
        raise NoPath(f"goal {_fmt(goal)} is inside obstacle {_names([o.name for o in blocking])} "
                     f"grown by the clearance {clearance_m:g} m ({spans})", goal)
    if math.dist(start, goal) <= _EPS_M:
        return [start]

    world = _Rectangles(obstacles)
    full = world.half + clearance_m
    # The first segment keeps from each obstacle at least what the start keeps now.
    kept = np.array([min(clearance_m, o.clearance_of(start)) for o in obstacles], dtype=float)
    first = world.half + kept.reshape(-1, 1)
    nodes = [start, goal]
    for obstacle in obstacles:
        for corner in obstacle.corners(clearance_m):
            if (bounds is None or _in_bounds(corner, bounds)) and not any(
                    o.contains(corner, clearance_m) for o in obstacles):
                nodes.append(corner)
    path = _dijkstra(nodes, lambda i, j: not world.blocks(nodes[i], nodes[j],
                                                           first if i == 0 else full))
    if path is None:
        where = "" if bounds is None else (f" within x {bounds[0]:g}..{bounds[2]:g}, "
                                           f"y {bounds[1]:g}..{bounds[3]:g}")
        raise NoPath(f"no route from {_fmt(start)} to goal {_fmt(goal)}{where}: obstacles "
                     f"{_names([o.name for o in obstacles])} grown by {clearance_m:g} m wall it in",
                     goal)
    return [nodes[i] for i in path]


def path_length_m(waypoints: Sequence[Point]) -> float:
    """The length of the polyline through `waypoints`, metres."""
    return sum(math.dist(a, b) for a, b in itertools.pairwise(waypoints))


class PathSample(NamedTuple):
    """Where the base should be at one instant: pose and velocity, world frame."""

    x_m: float
    y_m: float
    yaw_rad: float
    vx_m_s: float
    vy_m_s: float
    wz_rad_s: float


@dataclass(frozen=True)
class _Phase:
    """A rest-to-rest trapezoid: a straight walk (`turn` False) or a turn in place."""

    start_s: float
    duration_s: float
    x_m: float
    y_m: float
    yaw_rad: float
    turn: bool
    distance: float  # metres along `direction`, or signed radians for a turn
    direction: Point
    peak: float  # peak speed (m/s or rad/s)
    accel: float  # m/s^2 or rad/s^2

    def at(self, t_s: float) -> PathSample:
        s, v = _trapezoid_at(min(max(t_s - self.start_s, 0.0), self.duration_s), abs(self.distance),
                             self.peak, self.accel, self.duration_s)
        if self.turn:
            sign = 1.0 if self.distance >= 0.0 else -1.0
            return PathSample(self.x_m, self.y_m, _wrap(self.yaw_rad + sign * s), 0.0, 0.0, sign * v)
        dx, dy = self.direction
        return PathSample(self.x_m + dx * s, self.y_m + dy * s, self.yaw_rad, dx * v, dy * v, 0.0)


@dataclass(frozen=True)
class Profile:
    """A timed path: turn in place, walk a segment, ..., turn to the goal yaw.

    Attributes:
        waypoints: the path it follows, start first.
        duration_s: time from start to standing at the goal with the goal yaw.
        length_m: distance walked.
        max_speed_m_s, max_accel_m_s2, max_turn_rad_s, max_turn_accel_rad_s2: the limits
            it keeps.
    """

    waypoints: tuple[Point, ...]
    duration_s: float
    length_m: float
    max_speed_m_s: float
    max_accel_m_s2: float
    max_turn_rad_s: float
    max_turn_accel_rad_s2: float
    _phases: tuple[_Phase, ...] = field(repr=False)
    _end: PathSample = field(repr=False)

    def sample(self, t_s: float) -> PathSample:
        """Pose and velocity `t_s` seconds after the start (clamped to the start and end);
        yaw in [-pi, pi), velocities in the world frame."""
        if not self._phases or t_s >= self.duration_s:
            return self._end
        i = max(bisect.bisect_right(self._phases, t_s, key=lambda phase: phase.start_s) - 1, 0)
        return self._phases[i].at(t_s)


def time_path(waypoints: Sequence[Point], start_yaw_rad: float, goal_yaw_rad: float, *,
              max_speed_m_s: float = MAX_WALK_SPEED_M_S, max_accel_m_s2: float,
              max_turn_rad_s: float, max_turn_accel_rad_s2: float | None = None) -> Profile:
    """Time a path: turn to face each segment, walk it rest to rest, turn to `goal_yaw_rad`.

    Args:
        waypoints: the path, start first (`plan_path`'s result); at least one point.
        start_yaw_rad: the base's yaw at the start.
        goal_yaw_rad: the yaw to end with.
        max_speed_m_s: walking speed limit, at most `MAX_WALK_SPEED_M_S`.
        max_accel_m_s2: walking acceleration and deceleration limit.
        max_turn_rad_s: turn rate limit.
        max_turn_accel_rad_s2: turn acceleration limit; by default the turn reaches full
            rate in the time the walk reaches full speed
            (`max_turn_rad_s * max_accel_m_s2 / max_speed_m_s`).

    Raises:
        LimitViolation: a speed above `MAX_WALK_SPEED_M_S`, a non-positive or non-finite
            limit, non-finite waypoints or yaws, or no waypoints.
    """
    if not math.isfinite(max_speed_m_s) or max_speed_m_s > MAX_WALK_SPEED_M_S:
        raise LimitViolation(f"max_speed_m_s {max_speed_m_s} exceeds {MAX_WALK_SPEED_M_S} m/s, the "
                             f"walking speed limit among people (issue 8, ISO/TS 15066 context)")
    if max_turn_accel_rad_s2 is None:
        max_turn_accel_rad_s2 = max_turn_rad_s * max_accel_m_s2 / max_speed_m_s
    for name, value in (("max_speed_m_s", max_speed_m_s), ("max_accel_m_s2", max_accel_m_s2),
                        ("max_turn_rad_s", max_turn_rad_s),
                        ("max_turn_accel_rad_s2", max_turn_accel_rad_s2)):
        if not math.isfinite(value) or value <= 0.0:
            raise LimitViolation(f"{name} must be positive and finite, got {value}")
    if not waypoints:
        raise LimitViolation("time_path needs at least one waypoint (the start)")
    points = [_point(f"waypoints[{i}]", w) for i, w in enumerate(waypoints)]
    for name, value in (("start_yaw_rad", start_yaw_rad), ("goal_yaw_rad", goal_yaw_rad)):
        if not math.isfinite(value):
            raise LimitViolation(f"{name} must be finite, got {value}")

    phases: list[_Phase] = []
    t, yaw = 0.0, _wrap(start_yaw_rad)

    def turn_to(target: float, at: Point) -> None:
        nonlocal t, yaw
        delta = _wrap(target - yaw)
        if abs(delta) > 1e-12:
            peak, duration = _trapezoid(abs(delta), max_turn_rad_s, max_turn_accel_rad_s2)
            phases.append(_Phase(t, duration, at[0], at[1], yaw, True, delta, (0.0, 0.0), peak,
                                 max_turn_accel_rad_s2))
            t += duration
        yaw = _wrap(target)

    for a, b in itertools.pairwise(points):
        distance = math.dist(a, b)
        if distance <= _EPS_M:
            continue
        direction = ((b[0] - a[0]) / distance, (b[1] - a[1]) / distance)
        turn_to(math.atan2(direction[1], direction[0]), a)
        peak, duration = _trapezoid(distance, max_speed_m_s, max_accel_m_s2)
        phases.append(_Phase(t, duration, a[0], a[1], yaw, False, distance, direction, peak,
                             max_accel_m_s2))
        t += duration
    turn_to(goal_yaw_rad, points[-1])
    end = PathSample(points[-1][0], points[-1][1], _wrap(goal_yaw_rad), 0.0, 0.0, 0.0)
    return Profile(tuple(points), t, path_length_m(points), max_speed_m_s, max_accel_m_s2,
                   max_turn_rad_s, max_turn_accel_rad_s2, tuple(phases), end)


# --- geometry --------------------------------------------------------------------------
class _Rectangles:
    """Obstacles as arrays, for testing a segment against all of them at once."""

    def __init__(self, obstacles: Sequence[Obstacle]) -> None:
        self.center = np.array([o.center_m for o in obstacles], dtype=float).reshape(-1, 2)
        self.half = np.array([o.size_m for o in obstacles], dtype=float).reshape(-1, 2) / 2
        yaw = np.array([o.yaw_rad for o in obstacles], dtype=float)
        self.cos, self.sin = np.cos(yaw), np.sin(yaw)

    def blocks(self, a: Point, b: Point, half: NDArray[np.float64]) -> bool:
        """True if segment a-b enters the interior of any rectangle of half sizes `half`
        (one row per obstacle), shrunk by the tolerance (Liang-Barsky clipping)."""
        if not len(self.center):
            return False
        h = np.asarray(half, dtype=float) - _EPS_M
        rel = np.asarray(a, dtype=float) - self.center
        d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
        p = np.stack([self.cos * rel[:, 0] + self.sin * rel[:, 1],
                      -self.sin * rel[:, 0] + self.cos * rel[:, 1]], axis=1)
        q = np.stack([self.cos * d[0] + self.sin * d[1], -self.sin * d[0] + self.cos * d[1]], axis=1)
        t_in = np.zeros(len(p))
        t_out = np.ones(len(p))
        hit = np.all(h > 0.0, axis=1)
        for k in range(2):
            moving = np.abs(q[:, k]) > 1e-15
            hit &= moving | (np.abs(p[:, k]) < h[:, k])
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                t1 = np.where(moving, (-h[:, k] - p[:, k]) / q[:, k], -np.inf)
                t2 = np.where(moving, (h[:, k] - p[:, k]) / q[:, k], np.inf)
            t_in = np.maximum(t_in, np.minimum(t1, t2))
            t_out = np.minimum(t_out, np.maximum(t1, t2))
        return bool(np.any(hit & (t_out > t_in + 1e-12)))


def _dijkstra(nodes: list[Point], visible: Callable[[int, int], bool]) -> list[int] | None:
    """Shortest path from node 0 to node 1 over the visibility graph; edges are tested
    lazily, only when they would improve a distance."""
    n = len(nodes)
    dist = [math.inf] * n
    previous = [-1] * n
    done = [False] * n
    dist[0] = 0.0
    heap = [(0.0, 0)]
    while heap:
        d, u = heapq.heappop(heap)
        if done[u]:
            continue
        done[u] = True
        if u == 1:
            path = [1]
            while path[-1] != 0:
                path.append(previous[path[-1]])
            return path[::-1]
        for v in range(n):
            if done[v]:
                continue
            candidate = d + math.dist(nodes[u], nodes[v])
            if candidate < dist[v] and visible(u, v):
                dist[v], previous[v] = candidate, u
                heapq.heappush(heap, (candidate, v))
    return None


def _trapezoid(distance: float, peak: float, accel: float) -> tuple[float, float]:
    """Peak speed reached and duration of a rest-to-rest move of `distance`."""
    if distance >= peak * peak / accel:
        return peak, distance / peak + peak / accel
    reached = math.sqrt(distance * accel)
    return reached, 2.0 * reached / accel


def _trapezoid_at(t: float, distance: float, peak: float, accel: float,
                  duration: float) -> tuple[float, float]:
    """Distance covered and speed at time `t` of a rest-to-rest trapezoid."""
    ramp = peak / accel
    if t <= ramp:
        return 0.5 * accel * t * t, accel * t
    if t >= duration - ramp:
        left = max(duration - t, 0.0)
        return distance - 0.5 * accel * left * left, accel * left
    return 0.5 * accel * ramp * ramp + peak * (t - ramp), peak


def _wrap(angle: float) -> float:
    """An angle in [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _point(what: str, value: Sequence[float]) -> Point:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        raise LimitViolation(f"{what}: expected (x, y) in metres, got {value!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise LimitViolation(f"{what}: expected finite (x, y), got {value!r}")
    return (x, y)


def _bounds(bounds: Bounds) -> Bounds:
    try:
        x0, y0, x1, y1 = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise LimitViolation(f"bounds: expected (x_min, y_min, x_max, y_max), got {bounds!r}") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x0 >= x1 or y0 >= y1:
        raise LimitViolation(f"bounds: expected finite x_min < x_max and y_min < y_max, got {bounds!r}")
    return (x0, y0, x1, y1)


def _in_bounds(point: Point, bounds: Bounds) -> bool:
    return (bounds[0] - _EPS_M <= point[0] <= bounds[2] + _EPS_M
            and bounds[1] - _EPS_M <= point[1] <= bounds[3] + _EPS_M)


def _span(obstacle: Obstacle, clearance_m: float) -> str:
    corners = obstacle.corners(clearance_m)
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    return f"x {min(xs):.3f}..{max(xs):.3f}, y {min(ys):.3f}..{max(ys):.3f}"


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _fmt(point: Point) -> str:
    return f"({point[0]:.3f}, {point[1]:.3f})"


__all__ = ["MAX_WALK_SPEED_M_S", "Bounds", "NoPath", "Obstacle", "PathSample", "Point", "Profile",
           "path_length_m", "plan_path", "time_path"]
