"""`LeggedBase`: a base that walks, and the whole-body state of a legged robot.

A legged base is a `Base` with mobility "legged": `walk_to(x, y, yaw)` is its `move_to`,
planned around the world's footprint. Its state carries what balance is judged by: feet
in contact, centre of mass, the zero-moment point (or centre of pressure), the support
polygon and the stability margin, plus the walking tier that moves it:

    dynamic   no body constraint and no helper force: balance is the controller's alone
    guided    the pelvis is driven along the planned gait by a constraint; the feet still
              step in real contact, and the constraint's wrench is reported so nobody
              mistakes it for balance
"""

from __future__ import annotations

import collections
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from cellwright.robots.base import Base, BaseInfo, BaseState
from cellwright.robots.goal import Goal

WALKING_TIERS = ("dynamic", "guided")


@dataclass(frozen=True)
class LeggedBaseInfo(BaseInfo):
    """`tier`: the walking tier (`WALKING_TIERS`); `max_speed_m_s`, `max_turn_rad_s`: the
    gait's limits; `margin_floor_m`: below this stability margin a motion fails `unstable`;
    `helper_forces`: named forces or torques applied to the body besides contacts (empty
    unless configured)."""

    tier: str = "dynamic"
    max_speed_m_s: float = 0.0
    max_turn_rad_s: float = 0.0
    margin_floor_m: float = 0.0
    helper_forces: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeggedBaseState(BaseState):
    """The whole body: base pose (the pelvis, world frame), every joint, feet in contact,
    CoM, ZMP (the centre of pressure of the foot contacts), the support polygon (convex
    hull of the foot contact points, counter-clockwise, world x, y) and the stability
    margin: the signed distance (m) of the ZMP inside that polygon (in quasi-static phases,
    of the CoM's floor projection), negative outside, -inf with no foot on the floor.

    `phase`: standing, walking, stopping, fallen. `helper_wrench`: force (N) and torque
    (N m) on the pelvis from the guided tier's constraint (zeros in the dynamic tier)."""

    tier: str = "dynamic"
    phase: str = "standing"
    joints: Mapping[str, float] = field(default_factory=dict)
    feet_in_contact: tuple[str, ...] = ()
    com: tuple[float, float, float] = (0.0, 0.0, 0.0)
    zmp: tuple[float, float] = (0.0, 0.0)
    support_polygon: tuple[tuple[float, float], ...] = ()
    margin_m: float = -math.inf
    helper_wrench: tuple[float, float, float, float, float, float] = (0.0,) * 6
    distance_walked_m: float = 0.0


class MarginRecord:
    """The stability margin's minimum over time, in buckets of `bucket_s` (loop clock), so
    a skill can ask for the worst margin of its own span. Keeps at most `max_buckets`
    (the oldest drop out): 0.1 s buckets, 10 hours."""

    def __init__(self, bucket_s: float = 0.1, max_buckets: int = 360_000) -> None:
        self._bucket_s = bucket_s
        self._minima: collections.deque[tuple[int, float]] = collections.deque(maxlen=max_buckets)

    def add(self, now_s: float, margin_m: float) -> None:
        """Record one tick's margin (loop thread)."""
        bucket = int(now_s // self._bucket_s)
        if self._minima and self._minima[-1][0] == bucket:
            if margin_m < self._minima[-1][1]:
                self._minima[-1] = (bucket, margin_m)
        else:
            self._minima.append((bucket, margin_m))

    def min_since(self, start_s: float) -> float:
        """The lowest margin recorded from `start_s` on (to a bucket), inf if none."""
        first = int(start_s // self._bucket_s)
        return min((m for b, m in list(self._minima) if b >= first), default=math.inf)


class LeggedBase(Base, ABC):
    """A walking base. `walk_to` is `move_to` by its legged name; `stop()` brings it to a
    statically stable stance (it finishes the step in progress and stands), never cuts
    torque. Implementations record every tick's margin in `margins`."""

    def __init__(self, name: str, model: str, driver: str) -> None:
        super().__init__(name, model, driver)
        self.margins = MarginRecord()

    def min_margin_since(self, start_s: float) -> float:
        """The lowest stability margin (m) from `start_s` (loop clock) until now."""
        return self.margins.min_since(start_s)

    def walk_to(self, x_m: float, y_m: float, yaw_rad: float, *, speed: float = 1.0,
                timeout_s: float = 120.0) -> Goal[None]:
        """Walk to a floor pose (world frame) along a path around the world's footprint.

        Raises (at once): LimitViolation (non-finite, outside the workspace), Unreachable
        (no path), NotActive, MotionStopped, EStopActive. The goal fails with Unstable,
        Fallen, MotionTimeout, MotionStopped or EStopActive.
        """
        return self.move_to(x_m, y_m, yaw_rad, speed=speed, timeout_s=timeout_s)

    @abstractmethod
    def info(self) -> LeggedBaseInfo:
        ...

    @abstractmethod
    def state(self) -> LeggedBaseState:
        ...
