"""The `move_to` skill: move the arm to a named joint configuration or the tool to a
named location of the layout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellwright.cells.skills._common import robot_errors, str_param
from cellwright.cells.skills.base import Params, Result, SkillContext, SkillError


def move_to(ctx: SkillContext, robot: str | None, name: str) -> None:
    """Move to the arm's configuration `name` (e.g. `home`) or the layout location `name`."""
    arm = ctx.arm(robot)
    configurations = arm.info().configurations
    with robot_errors(f"moving to {name}"):
        if name in configurations:
            ctx.wait(arm.move_joints(configurations[name]))
        elif name in ctx.layout.locations:
            ctx.wait(arm.move_pose(ctx.layout.locations[name].pose))
        else:
            known = sorted({*configurations, *ctx.layout.locations})
            raise SkillError("not_found", f"no location {name!r}; known: {known}")


class MoveTo:
    """Move to a named joint configuration of the arm or a named location of the layout."""

    name = "move_to"
    description = ("Move the arm to a named configuration (home) or its tool to a named "
                   "location of the layout (infeed, outfeed_a, ...).")
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "a configuration or layout location"},
            "robot": {"type": "string", "description": "robot name; optional with one robot"},
        },
        "required": ["location"],
    }
    result_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "where the arm went"},
            "duration_s": {"type": "number", "minimum": 0,
                           "description": "how long the move took on the cell's clock"},
        },
        "required": ["location", "duration_s"],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        name = str_param(params, "location")
        start = ctx.clock()
        move_to(ctx, params.get("robot"), name)
        ctx.progress(1.0)
        return {"location": name, "duration_s": round(ctx.clock() - start, 4)}
