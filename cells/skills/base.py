"""What a skill is, what it gets to work with, and how it fails.

A skill is one named capability of a cell (`pick_place`, `move_to`, ...). It runs on the
cell's skill thread, starts goals on the cell's components and waits for them, and either
returns a JSON-able result dict or raises `SkillError` with a stable `reason` word. Skills
see components and a `PartLocator`, never a simulator: the same skill runs on `pybullet.*`,
`mock.*` and real drivers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from cellwright.api.layout import EMPTY, Layout
from cellwright.api.schema import SchemaError, check_value
from cellwright.robots import Arm, Component, Goal, Gripper, PartLocator, Robot, RobotError

Params = Mapping[str, Any]
Result = dict[str, Any]
T = TypeVar("T")
C = TypeVar("C", bound=Component)
CANCEL_POLL_S = 0.02  # how often a waiting skill looks at its task's cancel flag (wall)
HANG_GUARD_S = 3600.0  # wall-clock bound on one wait: a dead loop must not hang a task forever


class SkillError(Exception):
    """A skill failed. `reason` is one of: unreachable, grasp_failed, place_failed,
    collision, timeout, limit, stopped, estop, not_found, invalid_params, not_active,
    unstable, fallen, payload, internal."""

    def __init__(self, reason: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable

    @classmethod
    def from_robot(cls, exc: RobotError, doing: str) -> SkillError:
        """Wrap a robot error, keeping its reason: `raise SkillError.from_robot(e, "...") from e`."""
        return cls(exc.reason, f"{doing}: {exc}", retryable=exc.retryable)


@dataclass
class SkillContext:
    """Everything a skill may use while it runs.

    Attributes:
        robots: the cell's robots by name.
        layout: the line layout (stations, locations).
        parts: how to find parts, if the cell has a locator.
        clock: the cell's clock (simulation seconds in simulation).
        sleep: a goal that ends after some seconds of the cell's clock.
        progress: report the fraction done, 0..1.
        cancelled: True once the task is cancelled or stopped.
    """

    robots: Mapping[str, Robot]
    layout: Layout = EMPTY
    parts: PartLocator | None = None
    clock: Callable[[], float] = field(default=lambda: 0.0)
    sleep: Callable[[float], Goal[None]] | None = None
    progress: Callable[[float], None] = field(default=lambda _fraction: None)
    cancelled: Callable[[], bool] = field(default=lambda: False)

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

    def arm(self, robot: str | None = None) -> Arm:
        """The first arm of the robot (the only robot if None)."""
        return self.component(robot, Arm)

    def gripper(self, robot: str | None = None) -> Gripper:
        """The first gripper of the robot (the only robot if None)."""
        return self.component(robot, Gripper)

    def locator(self) -> PartLocator:
        """The cell's PartLocator, or an `internal` error if it has none."""
        if self.parts is None:
            raise SkillError("internal", "this skill finds parts, and the cell has no part "
                                         "locator (set `parts:` in the cell config)")
        return self.parts

    def wait(self, goal: Goal[T]) -> T:
        """Wait for a goal to end and return its result; cancel it if the task is cancelled.

        Raises:
            RobotError: the goal failed (a cancel ends it with MotionStopped).
        """
        waited = 0.0
        while not goal.wait(CANCEL_POLL_S) and waited < HANG_GUARD_S:
            if self.cancelled():
                goal.cancel()
            waited += CANCEL_POLL_S
        return goal.result(timeout_s=HANG_GUARD_S)

    def component(self, robot: str | None, kind: type[C]) -> C:
        """The robot's first component of `kind` (e.g. `IO`), or `not_found`. With `robot`
        None, the one robot of the cell that has such a component (a cell's presence sensor
        does not make its arm ambiguous)."""
        if robot is None and len(self.robots) > 1:
            having = [name for name, r in self.robots.items() if r.of_kind(kind)]
            if len(having) > 1:
                raise SkillError("invalid_params", f"name a robot: {sorted(having)} each have a "
                                                   f"component of kind {kind.kind!r}")
            if not having:
                raise SkillError("not_found", f"no robot of this cell has a component of kind "
                                              f"{kind.kind!r}; its robots: {sorted(self.robots)}")
            robot = having[0]
        found = self.robot(robot).of_kind(kind)
        if not found:
            raise SkillError("not_found", f"robot {self.robot(robot).name} has no {kind.kind}")
        return found[0]


class Skill(Protocol):
    """A named capability. `params_schema` is a JSON-schema subset: an object schema with
    `properties` (each with `type`: string|number|integer|boolean|array|object, optional
    `enum`, `minimum`, `maximum`, `description`, `default`; arrays `items`, `minItems`,
    `maxItems`) and `required`. `result_schema`, in the same subset, says what `run`
    returns: every key it may return (no others), `required` the keys it always returns.
    Workflows type `${steps.<id>.result...}` with it; a result that breaks it fails the
    task with reason `internal` (a bug in the skill). A skill without one (older plugins)
    declares nothing, and its result is not checked."""

    name: str
    description: str
    params_schema: Mapping[str, Any]
    result_schema: Mapping[str, Any]

    def run(self, ctx: SkillContext, params: Params) -> Result:
        """Do the work; return a JSON-able result or raise SkillError."""
        ...


def result_schema(skill: object) -> Mapping[str, Any]:
    """The skill's declared `result_schema`, or {} if it declares none."""
    schema = getattr(skill, "result_schema", None)
    return schema if isinstance(schema, Mapping) else {}


def check_result(schema: Mapping[str, Any], result: Any, owner: str) -> None:
    """Raise SkillError (`internal`: a bug in the skill) unless `result` meets `schema`, a
    result schema of the `cellwright.api.schema` subset; the message names the field.
    An empty schema (none declared) accepts any dict."""
    if not isinstance(result, Mapping):
        raise SkillError("internal", f"{owner} returned {type(result).__name__}, not a dict")
    if not schema:
        return
    properties: Mapping[str, Any] = schema.get("properties", {})
    try:
        for name, value in result.items():
            if name not in properties:
                raise SchemaError(f"result.{name}", f"not in the result_schema of {owner} "
                                                    f"(it declares {sorted(properties)})")
            check_value(properties[name], value, f"result.{name}")
        for name in schema.get("required", []):
            if name not in result:
                raise SchemaError(f"result.{name}", f"missing; the result_schema of {owner} "
                                                    "requires it")
    except SchemaError as exc:
        raise SkillError("internal", f"{owner} broke its result_schema: {exc}") from None
