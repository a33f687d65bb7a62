"""The `noop` skill: does nothing, optionally letting simulated time pass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cells.skills.base import Params, Result, SkillContext, SkillError


class Noop:
    """Do nothing; with a world, step it for `duration_s` of simulated time."""

    name = "noop"
    description = "Do nothing (for tests and benchmarks); with a world, let duration_s pass."
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "duration_s": {"type": "number", "default": 0, "minimum": 0,
                           "description": "simulated seconds to wait"},
        },
        "required": [],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        duration = params.get("duration_s", 0)
        if isinstance(duration, bool) or not isinstance(duration, int | float) or not duration >= 0:
            raise SkillError("invalid_params",
                             f"duration_s must be a number >= 0, got {duration!r}")
        if ctx.world is not None and duration > 0:
            ctx.world.step(max(1, round(duration / ctx.world.dt)))
        ctx.progress(1.0)
        return {"duration_s": duration}
