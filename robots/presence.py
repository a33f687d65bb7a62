"""`Presence`: a sensor of the people near a cell (a safety laser scanner, a camera, or the
simulator's ground truth). It moves nothing; the cell's safety monitor (`robots.safety`)
reads it every tick."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from cellwright.robots.component import Component, ComponentInfo

MODEL = "presence_sensor"


@dataclass(frozen=True)
class Person:
    """One person seen: a name (a track id for a real sensor), where they stand on the floor
    and how fast they walk (world frame, m and m/s), and their body's radius (m)."""

    name: str
    position: tuple[float, float]
    velocity: tuple[float, float]
    radius_m: float


@dataclass(frozen=True)
class PresenceInfo(ComponentInfo):
    """`approximation`: what the sensor approximates ("" for a real, safety-rated one)."""

    approximation: str = ""


@dataclass(frozen=True)
class PresenceState:
    """The people seen at `stamp_s` (the loop's clock)."""

    stamp_s: float
    people: tuple[Person, ...]


class Presence(Component, ABC):
    """The people near the cell now. `state()` is a snapshot cached by `read()`."""

    kind = "presence"

    @abstractmethod
    def info(self) -> PresenceInfo:
        ...

    @abstractmethod
    def state(self) -> PresenceState:
        ...
