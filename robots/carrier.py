"""`Carrier`: two hands holding one box-shaped load between them (a humanoid's tote grip).

Skills see this interface, never a simulator: `pick(part_id)` squeezes the part between the
hands and lifts it, `place()` lowers it where the robot stands and lets go. Whether a pick
held is judged by the hands' contacts and the load's rise, not assumed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from cellwright.robots.component import Component, ComponentInfo
from cellwright.robots.goal import Goal


@dataclass(frozen=True)
class CarrierInfo(ComponentInfo):
    """`payload_limit_kg`: the heaviest load the arms may carry (from the model);
    `approximation`: what is approximated ("" for nothing)."""

    payload_limit_kg: float = 0.0
    approximation: str = ""


@dataclass(frozen=True)
class CarrierState:
    """`holding`: the id of the part held between the hands ("" for none)."""

    stamp_s: float
    holding: str


@dataclass(frozen=True)
class HoldResult:
    """`held`: both hands press on the load and it rose (or, after a place, False once let
    go); `reason` says why not; `rise_m` how far it rose."""

    held: bool
    reason: str
    rise_m: float = 0.0


class Carrier(Component, ABC):
    """Both hands of a robot working as one grip on a box-shaped part."""

    kind = "carrier"

    @abstractmethod
    def info(self) -> CarrierInfo:
        ...

    @abstractmethod
    def state(self) -> CarrierState:
        ...

    def pick(self, part_id: str, *, timeout_s: float = 30.0) -> Goal[HoldResult]:
        """Squeeze the part between the hands and lift it.

        Raises (at once): PayloadExceeded (heavier than the payload limit), LimitViolation
        (already holding, an unknown part), NotActive, MotionStopped, EStopActive. The goal
        fails with Unreachable when no grip of the part is within reach.
        """
        self._check_can_move()
        return self._pick(part_id, timeout_s)

    def place(self, *, timeout_s: float = 20.0) -> Goal[HoldResult]:
        """Lower the held part by what it was lifted and let go.

        Raises (at once): LimitViolation (nothing held), NotActive, MotionStopped, EStopActive.
        """
        self._check_can_move()
        return self._place(timeout_s)

    @abstractmethod
    def _pick(self, part_id: str, timeout_s: float) -> Goal[HoldResult]:
        ...

    @abstractmethod
    def _place(self, timeout_s: float) -> Goal[HoldResult]:
        ...
