"""The `walk_to` skill and what every humanoid skill uses to walk: floor poses from the
layout, a walk that reports its distance, time, worst stability margin and walking tier."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cellwright.api.geometry import yaw_of
from cellwright.cells.skills._common import location, robot_errors
from cellwright.cells.skills.base import Params, Result, SkillContext, SkillError
from cellwright.robots import LeggedBase

WALK_TIMEOUT_S = 120.0

_ROBOT = {"type": "string", "description": "robot name; optional with one robot"}
WALK_RESULT = {
    "distance_m": {"type": "number", "minimum": 0, "description": "distance walked, m"},
    "min_margin_m": {"type": "number",
                     "description": "the lowest stability margin held for the legs' debounce "
                                    "time during the skill, m (what the floor is judged by)"},
    "walking_tier": {"type": "string", "enum": ["dynamic", "guided"],
                     "description": "dynamic: balance of its own; guided: the pelvis driven "
                                    "by a constraint (docs/humanoids.md)"},
}


@dataclass
class Span:
    """What the legs did from `start_s` on: read with `report()`."""

    legs: LeggedBase
    start_s: float
    start_distance_m: float

    @classmethod
    def begin(cls, ctx: SkillContext, legs: LeggedBase) -> Span:
        return cls(legs, ctx.clock(), legs.state().distance_walked_m)

    def report(self) -> dict[str, Any]:
        """distance_m, min_margin_m and walking_tier since the span began."""
        state = self.legs.state()
        margin = self.legs.min_margin_since(self.start_s)
        return {"distance_m": round(state.distance_walked_m - self.start_distance_m, 3),
                "min_margin_m": round(margin if math.isfinite(margin) else state.margin_m, 4),
                "walking_tier": self.legs.info().tier}


def legs_of(ctx: SkillContext, robot: str | None) -> LeggedBase:
    """The robot's legged base, or `not_found` (an arm cell has none)."""
    return ctx.component(robot, LeggedBase)


def floor_pose(ctx: SkillContext, name: str) -> tuple[float, float, float]:
    """A layout location used as a floor pose: x, y and the yaw about z."""
    pose = location(ctx, name).pose
    return pose.position[0], pose.position[1], yaw_of(pose.orientation)


def walk(ctx: SkillContext, legs: LeggedBase, target: tuple[float, float, float],
         what: str) -> None:
    """Walk to a floor pose (x, y, yaw), around the world's footprint."""
    x, y, yaw = target
    with robot_errors(what):
        ctx.wait(legs.walk_to(x, y, yaw, timeout_s=WALK_TIMEOUT_S))


class WalkTo:
    """Walk to a floor pose: a layout location, or x, y and yaw."""

    name = "walk_to"
    description = ("Walk a legged robot to a floor pose of the layout (`to`, e.g. "
                   "kitting_stand) or to `x`, `y`, `yaw`, around the world's footprint.")
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "to": {"type": "string", "description": "a layout location, used as a floor pose"},
            "x": {"type": "number", "description": "world x, m (with y and yaw, instead of to)"},
            "y": {"type": "number", "description": "world y, m"},
            "yaw": {"type": "number", "description": "heading about world z, rad"},
            "robot": _ROBOT,
        },
    }
    result_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "arrived_at": {"type": "array", "items": {"type": "number"}, "minItems": 3,
                           "maxItems": 3, "description": "x, y (m) and yaw (rad) reached"},
            "duration_s": {"type": "number", "minimum": 0, "description": "on the cell's clock"},
            **WALK_RESULT,
        },
        "required": ["arrived_at", "duration_s", *WALK_RESULT],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        target = self._target(ctx, params)
        legs = legs_of(ctx, params.get("robot"))
        span = Span.begin(ctx, legs)
        walk(ctx, legs, target, f"walking to {params.get('to', target)}")
        pose = legs.state().pose
        ctx.progress(1.0)
        return {"arrived_at": [round(pose.position[0], 3), round(pose.position[1], 3),
                               round(yaw_of(pose.orientation), 3)],
                "duration_s": round(ctx.clock() - span.start_s, 3), **span.report()}

    @staticmethod
    def _target(ctx: SkillContext, params: Params) -> tuple[float, float, float]:
        given = [key for key in ("x", "y", "yaw") if key in params]
        if "to" in params:
            if given:
                raise SkillError("invalid_params", f"give `to` or x, y and yaw, not both "
                                                   f"(got to and {', '.join(given)})")
            return floor_pose(ctx, str(params["to"]))
        if len(given) != 3:
            raise SkillError("invalid_params", "give `to` (a layout location) or all of x, y "
                                               f"and yaw; got {given or 'neither'}")
        return float(params["x"]), float(params["y"]), float(params["yaw"])
