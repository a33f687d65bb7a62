"""The `noop` skill: does nothing, optionally letting simulated time pass."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from cellwright.cells.skills.base import Params, Result, SkillContext, SkillError


class Noop:
    """Do nothing for `duration_s` on the cell's clock (simulated time with a world)."""

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

    def run(self, ctx: SkillContext, params: Params) -> Result:
        duration = params.get("duration_s", 0)
        if isinstance(duration, bool) or not isinstance(duration, int | float) or not duration >= 0:
            raise SkillError("invalid_params",
                             f"duration_s must be a number >= 0, got {duration!r}")
        if ctx.world is not None:
            steps = round(duration / ctx.world.dt)
            for _ in range(steps):
                if ctx.cancelled():
                    raise SkillError("stopped", "noop cancelled")
                ctx.world.step()
        else:  # no world: wait on the wall clock, which is then the cell's clock
            end = time.monotonic() + duration
            while (left := end - time.monotonic()) > 0:
                if ctx.cancelled():
                    raise SkillError("stopped", "noop cancelled")
                time.sleep(min(left, 0.01))
        ctx.progress(1.0)
        return {"duration_s": duration}
