"""The `feed_part` skill: run the conveyor until a part reaches its end sensor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acme_cells.conveyor import Conveyor
from cellwright.cells.skills import SkillContext, SkillError
from cellwright.robots import IO, RobotError

POLL_S = 0.05  # of the cell's clock


class FeedPart:
    """Bring the next part to the end of the belt and stop there."""

    name = "feed_part"
    description = "Run the infeed conveyor until a part is at its end sensor, then stop it."
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "speed": {"type": "number", "minimum": 0.01, "maximum": 0.5, "default": 0.2,
                      "description": "belt speed, m/s"},
            "timeout_s": {"type": "number", "minimum": 0.1, "default": 30,
                          "description": "give up after this long on the cell's clock"},
            "robot": {"type": "string", "description": "the conveyor robot; optional with one"},
        },
        "required": [],
    }
    result_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "fed_in_s": {"type": "number", "minimum": 0,
                         "description": "how long the belt ran on the cell's clock"},
        },
        "required": ["fed_in_s"],
    }

    def run(self, ctx: SkillContext, params: Mapping[str, Any]) -> dict[str, Any]:
        belt = ctx.component(params.get("robot"), IO)
        if isinstance(belt, Conveyor):
            belt.take_part()  # the previous part was taken by whoever fed on it
        start = ctx.clock()
        try:
            belt.set("speed", float(params["speed"]))
            belt.set("run", True)
            while not belt.get("part_present"):
                if ctx.clock() - start > params["timeout_s"]:
                    raise SkillError("timeout", f"no part at the end of {belt.name} after "
                                                f"{params['timeout_s']} s", retryable=True)
                assert ctx.sleep is not None
                ctx.wait(ctx.sleep(POLL_S))
            belt.set("run", False)
        except RobotError as exc:
            raise SkillError.from_robot(exc, f"feeding on {belt.name}") from exc
        ctx.progress(1.0)
        return {"fed_in_s": round(ctx.clock() - start, 3)}


SKILLS = [FeedPart()]
