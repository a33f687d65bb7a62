"""What a skill is, what it gets to work with, and how it fails.

A skill is one named capability of a cell (`pick_place`, `move_to`, ...). It runs on the
cell's robot thread, blocks until done, and either returns a JSON-able result dict or
raises `SkillError` with a stable `reason` word.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cellwright.robots import Robot, RobotError

Params = Mapping[str, Any]
Result = dict[str, Any]


class SkillError(Exception):
    """A skill failed. `reason` is one of: unreachable, grasp_failed, collision, timeout,
    limit, stopped, estop, not_found, invalid_params, not_active, internal."""

    def __init__(self, reason: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable

    @classmethod
    def from_robot(cls, exc: RobotError, doing: str) -> SkillError:
        """Wrap a robot error, keeping its reason: `raise SkillError.from_robot(e, "...") from e`."""
        return cls(exc.reason, f"{doing}: {exc}", retryable=exc.retryable)


class World(Protocol):
    """What skills need from the world around the robots (simulated or real)."""

    def now_s(self) -> float:
        """The world's clock, seconds (simulation time in simulation)."""
        ...


@dataclass
class SkillContext:
    """Everything a skill may use while it runs."""

    world: Any
    robots: Mapping[str, Robot]
    progress: Callable[[float], None] = field(default=lambda _fraction: None)
    cancelled: Callable[[], bool] = field(default=lambda: False)
    """True once the task was cancelled; skills that wait without moving a robot poll it
    (moving robots are stopped through `Robot.stop()`)."""

    def robot(self, name: str | None = None) -> Robot:
        """The named robot, or the only one when `name` is None."""
        if name is None:
            if len(self.robots) != 1:
                raise SkillError("invalid_params", f"name a robot: this cell has {sorted(self.robots)}")
            return next(iter(self.robots.values()))
        try:
            return self.robots[name]
        except KeyError:
            raise SkillError("not_found", f"no robot {name!r}; this cell has {sorted(self.robots)}") from None


class Skill(Protocol):
    """A named capability. `params_schema` is a JSON-schema subset: an object schema with
    `properties` (each with `type`: string|number|integer|boolean|array|object, optional
    `enum`, `minimum`, `maximum`, `description`, `default`) and `required`."""

    name: str
    description: str
    params_schema: Mapping[str, Any]

    def run(self, ctx: SkillContext, params: Params) -> Result:
        """Do the work; return a JSON-able result or raise SkillError."""
        ...
