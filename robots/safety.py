"""Speed and separation monitoring after ISO/TS 15066, run by the control loop every tick.

NOT a certified safety function (ISO 13849 / IEC 62061 would need safety-rated sensors, a
safety PLC and validated stopping performance): it shows what a cell does around people.
docs/humanoids.md ("People nearby: speed and separation") gives the formulas.

Every tick, after `read()` and before `update()`, a cell's `SafetyMonitor` takes the people
its `Presence` components see and, for each of the cell's robots, the separation

    separation = min over people p, hazards h of  |xy(p) - xy(h)| - p.radius_m - h.radius_m

on the floor plane (so height never helps: conservative), at least 0, with the hazards of
all the robot's components (`Component.hazard_points()`). Then every component of that
robot gets a `speed_override`, skills and homing alike:

    zone        when                                       target override
    clear       separation >= warning_m                    1
    warning     protective_m <= separation < warning_m     slow_fraction
    protective  separation < protective_m                  0: a protective stop (goals pause)

A protective stop ends once the separation has stayed >= protective_m + hysteresis_m for
clear_s of the loop's clock. The override moves towards its target at 1 / RAMP_S per
second: a controlled stop along the path with power on (stop category 2).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from cellwright.robots.component import Component, Hazard
from cellwright.robots.presence import Person, Presence
from cellwright.robots.robot import Robot

log = logging.getLogger(__name__)

RAMP_S = 0.2
"""Seconds for the override to go from 1 to 0 (or back): the stopping time T_s."""
CLEAR, WARNING, PROTECTIVE, UNGUARDED = "clear", "warning", "protective", "unguarded"


@dataclass(frozen=True)
class SafetyConfig:
    """Distances (m) and times (s) of the monitor; a cell config's `safety:` entry.

    Raises:
        ValueError: "<key>: <problem>" for a value that is not a finite number >= 0,
            protective_m not above 0 or not below warning_m, slow_fraction outside (0, 1].
    """

    warning_m: float = 1.5
    protective_m: float = 0.8
    slow_fraction: float = 0.3
    clear_s: float = 1.0
    hysteresis_m: float = 0.1

    def __post_init__(self) -> None:
        for key in (f.name for f in fields(self)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{key}: expected a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"{key}: must not be negative, got {value}")
        if self.protective_m <= 0:
            raise ValueError(f"protective_m: must be above 0, got {self.protective_m}")
        if self.protective_m >= self.warning_m:
            raise ValueError(f"protective_m: {self.protective_m} m must be less than warning_m "
                             f"({self.warning_m} m): people are slowed for before they stop it")
        if not 0 < self.slow_fraction <= 1:
            raise ValueError(f"slow_fraction: must be in (0, 1], got {self.slow_fraction}")

    @classmethod
    def from_mapping(cls, entry: Mapping[str, Any]) -> SafetyConfig:
        """From a config mapping; unknown keys are refused like bad values."""
        known = {f.name for f in fields(cls)}
        for key in entry:
            if key not in known:
                raise ValueError(f"{key}: unknown key; allowed: {sorted(known)}")
        return cls(**entry)


@dataclass(frozen=True)
class ComponentSafety:
    """One guarded component now and so far: its robot's zone and separation (m, inf with
    nobody seen), the override it got, the minimum separation seen, and the count and total
    loop time (s) of its protective stops."""

    component: str
    zone: str
    speed_override: float
    separation_m: float
    min_separation_m: float
    protective_stops: int
    protective_stop_s: float


@dataclass(frozen=True)
class SafetyRecord:
    """What a cell's monitor has seen. `on` is False without a presence component; `note`
    says why it is off, or names robots it cannot guard (no hazard points)."""

    on: bool
    note: str
    config: SafetyConfig
    components: tuple[ComponentSafety, ...] = ()

    def of(self, component: str) -> ComponentSafety:
        """The entry of a component by qualified name (`panda/arm`).

        Raises:
            KeyError: not guarded by this monitor.
        """
        for entry in self.components:
            if entry.component == component:
                return entry
        raise KeyError(f"{component!r} is not guarded; guarded: {[e.component for e in self.components]}")


def separation_m(people: Iterable[Person], hazards: Sequence[Hazard]) -> float:
    """The floor-plane separation between the people and the hazards (inf with nobody)."""
    best = math.inf
    for person in people:
        px, py = person.position
        for hazard in hazards:
            hx, hy, _hz = hazard.position
            best = min(best, math.hypot(px - hx, py - hy) - person.radius_m - hazard.radius_m)
    return max(0.0, best)


@dataclass
class _Watch:
    """The monitor's state for one robot (loop thread)."""

    components: tuple[Component, ...]
    zone: str = CLEAR
    override: float = 1.0
    separation_m: float = math.inf
    min_separation_m: float = math.inf
    stops: int = 0
    stopped_s: float = 0.0
    clear_since_s: float | None = None

    def observe(self, separation: float, now_s: float, dt_s: float, config: SafetyConfig) -> None:
        """Advance the zone and the override by one tick."""
        self.separation_m = separation
        self.min_separation_m = min(self.min_separation_m, separation)
        if separation < config.protective_m:
            if self.zone != PROTECTIVE:
                self.stops += 1
            self.zone, self.clear_since_s = PROTECTIVE, None
        elif self.zone == PROTECTIVE:
            if separation < config.protective_m + config.hysteresis_m:
                self.clear_since_s = None
            else:
                if self.clear_since_s is None:
                    self.clear_since_s = now_s
                if now_s - self.clear_since_s >= config.clear_s - 1e-9:
                    self.zone = WARNING if separation < config.warning_m else CLEAR
                    self.clear_since_s = None
        else:
            self.zone = WARNING if separation < config.warning_m else CLEAR
        if self.zone == PROTECTIVE:
            self.stopped_s += dt_s
        step = dt_s / RAMP_S
        target = _target(self.zone, config)
        self.override = min(self.override + step, target) if target > self.override else max(
            self.override - step, target)


def _target(zone: str, config: SafetyConfig) -> float:
    if zone == PROTECTIVE:
        return 0.0
    if zone == WARNING:
        return config.slow_fraction
    return 1.0


class SafetyMonitor:
    """Speed and separation monitoring for one cell's robots; the control loop calls
    `check()` every tick (`ControlLoop.add_guard`). Off (and saying so in `record()`) when
    no robot of the cell has a `Presence` component.

    Args:
        config: distances and times.
        robots: the cell's robots: their presence components are the sensors, every other
            component is guarded, by the hazards of its own robot.
    """

    def __init__(self, config: SafetyConfig, robots: Iterable[Robot]) -> None:
        self.config = config
        sensors: list[Presence] = []
        self._watches: list[_Watch] = []
        for robot in robots:
            sensors += [c for c in robot.components.values() if isinstance(c, Presence)]
            guarded = tuple(c for c in robot.components.values() if not isinstance(c, Presence))
            if guarded:
                self._watches.append(_Watch(guarded))
        self.sensors = tuple(sensors)
        self.on = bool(sensors)
        note = "" if self.on else "off: no presence component in this cell (e.g. `people: pybullet.presence`)"
        self._record = SafetyRecord(self.on, note, config, self._entries())

    @property
    def guarded(self) -> tuple[Component, ...]:
        """Every component this monitor sets the speed override of."""
        return tuple(c for watch in self._watches for c in watch.components)

    def record(self) -> SafetyRecord:
        """A snapshot (any thread): zones, overrides, separations, protective stops."""
        return self._record

    def check(self, now_s: float, dt_s: float) -> None:
        """One tick (loop thread, after read, before update): set every guarded component's
        speed override from the separation of its robot to the people seen."""
        people = [person for sensor in self.sensors for person in sensor.state().people]
        unguarded = []
        for watch in self._watches:
            hazards = [h for c in watch.components for h in c.hazard_points()]
            if hazards:
                watch.observe(separation_m(people, hazards), now_s, dt_s, self.config)
            else:
                if watch.zone != UNGUARDED:
                    log.warning("%s: no hazard points, so people near it are not monitored",
                                watch.components[0].name)
                watch.zone, watch.override = UNGUARDED, 1.0
                unguarded.append(watch.components[0].name.partition("/")[0])
            for component in watch.components:
                component.speed_override = watch.override
        note = f"unguarded (no hazard points): {', '.join(unguarded)}" if unguarded else ""
        self._record = SafetyRecord(True, note, self.config, self._entries())

    def _entries(self) -> tuple[ComponentSafety, ...]:
        return tuple(ComponentSafety(c.name, w.zone, w.override, w.separation_m, w.min_separation_m,
                                     w.stops, w.stopped_s)
                     for w in self._watches for c in w.components)


__all__ = ["CLEAR", "PROTECTIVE", "RAMP_S", "UNGUARDED", "WARNING", "ComponentSafety", "SafetyConfig",
           "SafetyMonitor", "SafetyRecord", "separation_m"]
