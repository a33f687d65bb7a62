"""Footsteps and the centre-of-mass reference of a walk (pure: no simulator, no model).

A walk is a list of `Footstep`s along a path and a timeline: an initial double support
that moves the ZMP from between the feet onto the first stance foot, then per step a
single support (the other foot swings to its footstep) and a double support (the ZMP
moves onto the foot that has just landed), and a final double support back to between
the feet. The ZMP reference is piecewise linear in time (`ZmpTimeline`); the divergent
component of motion (DCM, capture point) reference is its exact exponentially weighted
future integral (`ZmpTimeline.dcm`), so a changed footstep re-plans it at once.

Linear inverted pendulum: the CoM height `z_c` is constant, `omega = sqrt(g / z_c)`,
DCM `xi = c + c_dot / omega`, `xi_dot = omega (xi - p)` (p: the ZMP).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from cellwright.api.geometry import FloatArray

GRAVITY = 9.81
SOLE = ((-0.055, -0.03), (0.125, -0.035), (0.125, 0.035), (-0.055, 0.03))
"""The sole's corners in the foot (ankle roll) frame, x forward (m): the URDF's contact
spheres (x -0.05 and 0.12, y +-0.025 / +-0.03) grown by their 5 mm radius."""
ARRIVED_M = 0.03
ARRIVED_RAD = 0.03
"""The body is at a goal within these (floor distance, yaw): no more steps to take."""
SOLE_CENTRE = (0.035, 0.0)
"""The sole's centre in the foot frame (m): where the ZMP reference sits on a foot."""


@dataclass(frozen=True)
class Footstep:
    """Where a foot's frame (ankle roll) goes: floor x, y (m) and yaw (rad), world."""

    side: str
    x: float
    y: float
    yaw: float

    def point(self, local: Sequence[float] = SOLE_CENTRE) -> FloatArray:
        """A point given in the foot frame, world x, y."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([self.x + c * local[0] - s * local[1], self.y + s * local[0] + c * local[1]])

    def shifted(self, dx: float, dy: float) -> Footstep:
        return replace(self, x=self.x + dx, y=self.y + dy)


@dataclass(frozen=True)
class GaitParams:
    """Gait shape and limits. Lengths in m, times in s, angles in rad."""

    step_length_m: float = 0.10
    """Most a footstep moves the body forward (the stride is twice this)."""
    lateral_step_m: float = 0.05
    step_width_m: float = 0.11
    """Half the distance between the feet (each foot this far from the body's centre line)."""
    single_support_s: float = 0.6
    double_support_s: float = 0.2
    initial_double_support_s: float = 0.6
    final_double_support_s: float = 0.6
    turn_per_step_rad: float = 0.2
    step_height_m: float = 0.05
    com_height_m: float = 0.67
    zmp_inward_m: float = 0.01
    """How far the ZMP reference sits inside the foot centre towards the other foot."""

    @property
    def step_s(self) -> float:
        return self.single_support_s + self.double_support_s

    @property
    def omega(self) -> float:
        return math.sqrt(GRAVITY / self.com_height_m)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def body_of(left: Footstep, right: Footstep) -> tuple[float, float, float]:
    """The body's floor pose between two feet: the midpoint and the mean yaw."""
    yaw = left.yaw + _wrap(right.yaw - left.yaw) / 2
    return ((left.x + right.x) / 2, (left.y + right.y) / 2, yaw)


def foot_at(side: str, body: tuple[float, float, float], width: float) -> Footstep:
    x, y, yaw = body
    sign = 1.0 if side == "left" else -1.0
    return Footstep(side, x - math.sin(yaw) * sign * width, y + math.cos(yaw) * sign * width, yaw)


def plan_footsteps(left: Footstep, right: Footstep, waypoints: Sequence[tuple[float, float]],
                   final_yaw: float, params: GaitParams, *, first_step_scale: float = 0.5,
                   first_swing: str | None = None) -> list[Footstep]:
    """Footsteps from the current feet along `waypoints` (the last is the goal), ending
    with both feet side by side at the goal facing `final_yaw`.

    The body walks forward along each segment, turning at most `turn_per_step_rad` a
    step; a segment whose heading differs by more than 0.5 rad is turned into (short
    steps) before walking; near the goal it turns to `final_yaw` in place. The first step
    is `first_step_scale` long (acceleration); `first_swing` names the foot that steps
    first (default: the one on the side the walk turns or moves to)."""
    bx, by, byaw = body_of(left, right)
    width, limit = params.step_width_m, params.step_length_m
    steps: list[Footstep] = []
    swing = first_swing or _first_swing(left, right, waypoints, final_yaw)
    points = [np.array(w, dtype=float) for w in waypoints]
    target_index = 0
    pass_m = max(ARRIVED_M, limit)  # an intermediate waypoint this close is passed
    scale = first_step_scale
    for _ in range(1000):
        position = np.array([bx, by])
        while target_index < len(points) - 1 and np.linalg.norm(points[target_index] - position) < pass_m:
            target_index += 1
        target = points[target_index]
        to_target = target - position
        distance = float(np.linalg.norm(to_target))
        last = target_index == len(points) - 1
        if last and distance < ARRIVED_M:
            error = _wrap(final_yaw - byaw)
            if abs(error) < ARRIVED_RAD:
                break
            byaw += max(-params.turn_per_step_rad, min(params.turn_per_step_rad, error))
        else:
            heading = math.atan2(to_target[1], to_target[0])
            if last and distance < 2 * limit:
                # close to the goal: sidestep onto it, facing between heading and the goal yaw
                heading = byaw + max(-0.5, min(0.5, _wrap(final_yaw - byaw)))
            error = _wrap(heading - byaw)
            turn = max(-params.turn_per_step_rad, min(params.turn_per_step_rad, error))
            byaw += turn
            if abs(_wrap(math.atan2(to_target[1], to_target[0]) - byaw)) < 0.5 or distance < 2 * limit:
                c, s = math.cos(byaw), math.sin(byaw)
                forward = c * to_target[0] + s * to_target[1]
                lateral = -s * to_target[0] + c * to_target[1]
                forward = max(-limit / 2, min(limit * scale, forward))
                lateral = max(-params.lateral_step_m, min(params.lateral_step_m, lateral))
                bx += c * forward - s * lateral
                by += s * forward + c * lateral
                scale = 1.0
        steps.append(foot_at(swing, (bx, by, byaw), width))
        swing = "right" if swing == "left" else "left"
    # both feet side by side at the goal: the other foot joins (if it is not there yet)
    joined = foot_at(swing, (bx, by, byaw), width)
    feet = {"left": left, "right": right, **{step.side: step for step in steps}}
    if steps or math.hypot(joined.x - feet[swing].x, joined.y - feet[swing].y) > ARRIVED_M / 2 \
            or abs(_wrap(joined.yaw - feet[swing].yaw)) > ARRIVED_RAD:
        steps.append(joined)
    return _no_crossing(steps, left, right, params)


def _first_swing(left: Footstep, right: Footstep, waypoints: Sequence[tuple[float, float]],
                 final_yaw: float) -> str:
    """Step first with the foot on the side the walk turns or moves to."""
    bx, by, byaw = body_of(left, right)
    target = waypoints[0]
    dx, dy = target[0] - bx, target[1] - by
    lateral = -math.sin(byaw) * dx + math.cos(byaw) * dy
    if math.hypot(dx, dy) < 1e-3:
        return "left" if _wrap(final_yaw - byaw) > 0 else "right"
    heading = _wrap(math.atan2(dy, dx) - byaw)
    if abs(heading) > 0.3:
        return "left" if heading > 0 else "right"
    return "left" if lateral >= 0 else "right"


def _no_crossing(steps: list[Footstep], left: Footstep, right: Footstep,
                 params: GaitParams) -> list[Footstep]:
    """Keep each footstep at least 0.16 m from the other foot sideways (in the other
    foot's frame), so the legs never cross or collide."""
    feet = {"left": left, "right": right}
    out: list[Footstep] = []
    for step in steps:
        other = feet["right" if step.side == "left" else "left"]
        c, s = math.cos(other.yaw), math.sin(other.yaw)
        dx, dy = step.x - other.x, step.y - other.y
        lateral = -s * dx + c * dy
        sign = 1.0 if step.side == "left" else -1.0
        minimum = 0.16
        if sign * lateral < minimum:
            push = minimum - sign * lateral
            step = step.shifted(-s * sign * push, c * sign * push)
        out.append(step)
        feet[step.side] = step
    return out


class ZmpTimeline:
    """The ZMP reference of a walk as a piecewise-linear function of time, and its DCM.

    Args:
        start_zmp: the ZMP at time 0 (between the feet when standing).
        left, right: where the feet are at time 0.
        steps: the footsteps, in order.
        params: timings.
    """

    def __init__(self, start_zmp: Sequence[float], left: Footstep, right: Footstep,
                 steps: Sequence[Footstep], params: GaitParams) -> None:
        self.params = params
        self.steps = list(steps)
        self.initial = {"left": left, "right": right}
        self._start_zmp = np.asarray(start_zmp, dtype=float)
        self.version = 0
        """Counts the re-builds (a controller notices a re-plan by it)."""
        self.build()

    # --- the timeline ---------------------------------------------------------------------------
    def build(self) -> None:
        """(Re)compute the breakpoints from the footsteps (after one was adjusted)."""
        self.version += 1
        pr = self.params
        feet = dict(self.initial)
        times = [0.0]
        points = [self._start_zmp]
        t = pr.initial_double_support_s
        self.step_start: list[float] = []  # start of each step's single support
        for k, step in enumerate(self.steps):
            stance = feet["right" if step.side == "left" else "left"]
            p_stance = self._zmp_on(stance, feet[step.side])
            times.append(t)
            points.append(p_stance)
            self.step_start.append(t)
            t += pr.single_support_s
            times.append(t)
            points.append(p_stance)
            feet[step.side] = step
            if k + 1 < len(self.steps):
                t += pr.double_support_s
        t += pr.final_double_support_s
        times.append(t)
        points.append((feet["left"].point() + feet["right"].point()) / 2)
        self.times = np.array(times)
        self.points = np.array(points)
        self.end_s = t

    def _zmp_on(self, stance: Footstep, other: Footstep) -> FloatArray:
        centre = stance.point()
        if self.params.zmp_inward_m == 0.0:
            return centre
        towards = other.point() - centre
        norm = float(np.linalg.norm(towards))
        return centre + (towards / norm * self.params.zmp_inward_m if norm > 0 else 0.0)

    def zmp(self, t: float) -> FloatArray:
        return np.array([np.interp(t, self.times, self.points[:, i]) for i in range(2)])

    def dcm(self, t: float) -> FloatArray:
        """The DCM reference at `t`: xi(t) = integral over s > t of
        omega exp(-omega (s - t)) p(s) ds, exact for the piecewise-linear ZMP."""
        omega = self.params.omega
        times, points = self.times, self.points
        after = np.searchsorted(times, t, side="right")
        if after >= len(times):
            return np.array(points[-1], dtype=np.float64)
        knots_t = np.concatenate(([t], times[after:]))
        knots_p = np.vstack((self.zmp(t), points[after:]))
        decay = np.exp(-omega * (knots_t - t))
        a_t, b_t = knots_t[:-1], knots_t[1:]
        a_p, b_p = knots_p[:-1], knots_p[1:]
        ea, eb = decay[:-1, None], decay[1:, None]
        span = (b_t - a_t)[:, None]
        slope = np.divide(b_p - a_p, span, out=np.zeros_like(b_p), where=span > 1e-12)
        total = (ea * a_p - eb * b_p + slope / omega * (ea - eb)).sum(axis=0)
        return np.asarray(total + decay[-1] * knots_p[-1])

    # --- where the feet are ----------------------------------------------------------------------
    def phase(self, t: float) -> tuple[int, str, float]:
        """(step index, "double" or "single", fraction of that phase done). Before the first
        single support the index is 0 and the phase "double"; after the last, the index is
        len(steps) and the phase "double"."""
        pr = self.params
        for k, start in enumerate(self.step_start):
            if t < start:
                previous_end = (self.step_start[k - 1] + pr.single_support_s) if k else 0.0
                return k, "double", (t - previous_end) / max(1e-9, start - previous_end)
            if t < start + pr.single_support_s:
                return k, "single", (t - start) / pr.single_support_s
        last_end = (self.step_start[-1] + pr.single_support_s) if self.step_start else 0.0
        return len(self.steps), "double", min(1.0, (t - last_end) / max(1e-9, self.end_s - last_end))

    def feet_before(self, k: int) -> dict[str, Footstep]:
        """Where both feet are before step `k` swings."""
        feet = dict(self.initial)
        for step in self.steps[:k]:
            feet[step.side] = step
        return feet


def swing_profile(fraction: float, height_m: float) -> tuple[float, float]:
    """(horizontal progress 0..1, height) of a swing foot at `fraction` of single support:
    horizontal progress done by 85% (the foot comes down vertically), height a smooth
    bump with zero velocity at both ends."""
    f = min(1.0, max(0.0, fraction))
    h = min(1.0, max(0.0, (f - 0.05) / 0.8))
    progress = h * h * h * (10 - 15 * h + 6 * h * h)
    height = height_m * 16 * f * f * (1 - f) * (1 - f)
    return progress, height


def interpolate_yaw(a: float, b: float, s: float) -> float:
    return a + _wrap(b - a) * s


__all__ = ["SOLE", "SOLE_CENTRE", "Footstep", "GaitParams", "ZmpTimeline", "body_of", "foot_at",
           "interpolate_yaw", "plan_footsteps", "swing_profile"]
