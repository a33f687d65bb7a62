"""The `noop` skill: does nothing, optionally letting the cell's clock run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellwright.cells.skills.base import Params, Result, SkillContext, SkillError
from cellwright.robots import RobotError


class Noop:
    """Do nothing for `duration_s` of the cell's clock (simulated time in simulation)."""

    name = "noop"
    description = "Do nothing for duration_s seconds of the cell's clock (tests, benchmarks)."
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "duration_s": {"type": "number", "default": 0, "minimum": 0,
                           "description": "seconds to wait on the cell's clock"},
        },
        "required": [],
    }
    result_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "duration_s": {"type": "number", "minimum": 0,
                           "description": "the seconds waited, as asked"},
        },
        "required": ["duration_s"],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        duration = params.get("duration_s", 0)
        if isinstance(duration, bool) or not isinstance(duration, int | float) or not duration >= 0:
            raise SkillError("invalid_params",
                             f"duration_s must be a number >= 0, got {duration!r}")
        if duration > 0:
            if ctx.sleep is None:
                raise SkillError("internal", "noop needs the cell's clock, and the context has none")
            try:
                ctx.wait(ctx.sleep(duration))
            except RobotError as exc:
                raise SkillError("stopped", f"noop ended early: {exc}") from exc
        ctx.progress(1.0)
        return {"duration_s": duration}
