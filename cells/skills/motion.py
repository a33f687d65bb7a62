"""The `move_to` skill: move the tool to a named location or joint configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellwright.cells.skills._common import robot_errors, str_param, world_of
from cellwright.cells.skills.base import Params, Result, SkillContext, SkillError


class MoveTo:
    """Move the tool to a named pose, or the arm to a named joint configuration."""

    name = "move_to"
    description = "Move the robot's tool to a named location (e.g. home, infeed, outfeed_a)."
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "a named location of the world"},
            "robot": {"type": "string", "description": "robot name; optional with one robot"},
        },
        "required": ["location"],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        robot = ctx.robot(params.get("robot"))
        world = world_of(ctx)
        location = str_param(params, "location")
        start = world.now_s()
        with robot_errors(f"moving to {location}"):
            if location in world.joint_locations:
                robot.move_joints(world.joint_locations[location])
            elif location in world.locations:
                robot.move_pose(world.locations[location])
            else:
                known = sorted({*world.locations, *world.joint_locations})
                raise SkillError("not_found", f"no location {location!r}; known: {known}")
        ctx.progress(1.0)
        return {"location": location, "duration_s": round(world.now_s() - start, 4)}
