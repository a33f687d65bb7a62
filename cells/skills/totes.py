"""Humanoid tote skills: `pick_tote`, `place_tote`, `carry_tote` and `handover`.

A humanoid works a station from a floor pose in front of it: the layout location
`<station>_stand` unless `stand_at` names another. The tote is found through the cell's
PartLocator (the part of type `tote` nearest the station), held between both hands
(`robots.Carrier`: judged by the hands' contacts and the tote's rise), and put down where the
robot stands. A handover is a place or a pick at a station another robot's mount reaches,
under the station's reservation (the workflow's `reserve:`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cellwright.api.geometry import yaw_of
from cellwright.api.layout import Station
from cellwright.cells.skills._common import as_list, robot_errors, station, str_param
from cellwright.cells.skills.base import Params, Result, SkillContext, SkillError
from cellwright.cells.skills.walking import WALK_RESULT, Span, floor_pose, legs_of, walk
from cellwright.robots import Carrier, LeggedBase, PartSighting

TOTE_SEARCH_RADIUS_M = 0.3
"""A tote counts as at a station if its centre lies this near the station's centre (x, y)."""
PLACE_TOLERANCE_M = 0.12
"""A put-down tote must rest this near the station's centre (x, y), else `place_failed`.
Measured on the line: the tote slides 3-4 cm forward in the hands over a 3 m walk, and the
G1 stops within a few cm of its stand, so totes came to rest 55-83 mm from the centre."""

_ROBOT = {"type": "string", "description": "robot name; optional with one robot"}
_STAND = {"type": "string", "description": "the floor pose to work from (default "
                                           "<station>_stand)"}
_TOTE = {"type": "string", "default": "tote", "description": "the tote's part type"}
_RESULT = {
    "tote_id": {"type": "string", "description": "the tote's part id"},
    "at": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3,
           "description": "where the tote is at the end, x y z in m (world)"},
    "duration_s": {"type": "number", "minimum": 0, "description": "on the cell's clock"},
    **WALK_RESULT,
}
RESULT_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": _RESULT,
                                    "required": list(_RESULT)}


def carrier_of(ctx: SkillContext, robot: str | None) -> Carrier:
    """The robot's two-handed grip, or `not_found`."""
    return ctx.component(robot, Carrier)


def stand_pose(ctx: SkillContext, params: Params, box: Station) -> tuple[float, float, float]:
    return floor_pose(ctx, str_param(params, "stand_at", f"{box.name}_stand"))


def find_tote(ctx: SkillContext, box: Station, tote_type: str) -> PartSighting:
    """The tote nearest the station's centre, or `not_found` saying what is seen."""
    parts = ctx.locator()
    totes = [s for s in parts.parts() if s.type == tote_type]
    near = [s for s in totes if math.dist(s.pose.position[:2], box.center[:2]) <= TOTE_SEARCH_RADIUS_M]
    if not near:
        seen = ", ".join(f"{s.id} at {as_list(s.pose.position)}" for s in totes) or "none"
        raise SkillError("not_found", f"no {tote_type} at station {box.name}: the part locator "
                                      f"{parts.id} sees {seen}")
    return min(near, key=lambda s: math.dist(s.pose.position[:2], box.center[:2]))


def pick_tote(ctx: SkillContext, params: Params, source: str) -> PartSighting:
    """Walk to the stand pose, moved with the tote (the stand is to the tote where it
    stands to the station's centre: a tote put down a few cm off is still within reach),
    and lift the tote there with both hands."""
    robot = params.get("robot")
    box = station(ctx, source)
    tote = find_tote(ctx, box, str_param(params, "tote", "tote"))
    x, y, yaw = stand_pose(ctx, params, box)
    dx, dy = (tote.pose.position[i] - box.center[i] for i in range(2))
    legs = legs_of(ctx, robot)
    walk(ctx, legs, (x + dx, y + dy, yaw), f"walking to {tote.id} at {source}")
    # a walk ends 3-6 cm off its goal (a second walk steps only if still 3 cm off); the
    # hands pick a tote 0.19-0.33 m ahead, the stand is 0.25 m from it
    walk(ctx, legs, (x + dx, y + dy, yaw), f"stepping up to {tote.id} at {source}")
    with robot_errors(f"picking {tote.id} at {source}"):
        held = ctx.wait(carrier_of(ctx, robot).pick(tote.id))
    if not held.held:
        raise SkillError("grasp_failed", f"picking {tote.id} at {source}: {held.reason}",
                         retryable=True)
    return tote


def place_tote(ctx: SkillContext, params: Params, target: str) -> PartSighting:
    """Walk to the station's stand pose with the held tote and put it down there."""
    robot = params.get("robot")
    box = station(ctx, target)
    carrier = carrier_of(ctx, robot)
    tote_id = carrier.state().holding
    if not tote_id:
        raise SkillError("place_failed", f"nothing to place at {target}: {carrier.name} holds no tote")
    legs = legs_of(ctx, robot)
    stand = stand_pose(ctx, params, box)
    walk(ctx, legs, placing_stand(ctx, legs, box, stand, tote_id), f"walking to {target} with {tote_id}")
    # the tote slides in the hands on the way: once more, from where it is held now
    walk(ctx, legs, placing_stand(ctx, legs, box, stand, tote_id), f"stepping to put {tote_id} on {target}")
    with robot_errors(f"placing {tote_id} at {target}"):
        ctx.wait(carrier.place())
    final = ctx.locator().part(tote_id)
    off = math.dist(final.pose.position[:2], box.center[:2])
    if off > PLACE_TOLERANCE_M:
        raise SkillError("place_failed", f"{tote_id} came to rest {off * 1000:.0f} mm from the "
                                         f"centre of {target} (at {as_list(final.pose.position)})")
    return final


def placing_stand(ctx: SkillContext, legs: LeggedBase, box: Station, stand: tuple[float, float, float],
                  tote_id: str) -> tuple[float, float, float]:
    """The stand pose moved so that the held tote comes down on the station's centre: where
    the tote is held now, relative to the robot, carried over to the stand (a tote slides
    a few cm in the hands over a walk; put down where it is held, it missed the centre)."""
    x, y, yaw = stand
    base = legs.state().pose
    heading = yaw_of(base.orientation)
    tx, ty = (ctx.locator().part(tote_id).pose.position[i] - base.position[i] for i in range(2))
    ahead = tx * math.cos(heading) + ty * math.sin(heading)  # the tote in the robot's frame
    aside = -tx * math.sin(heading) + ty * math.cos(heading)
    landing_x = x + ahead * math.cos(yaw) - aside * math.sin(yaw)
    landing_y = y + ahead * math.sin(yaw) + aside * math.cos(yaw)
    return x + box.center[0] - landing_x, y + box.center[1] - landing_y, yaw


def _result(ctx: SkillContext, span: Span, tote: PartSighting) -> Result:
    final = ctx.locator().part(tote.id)
    ctx.progress(1.0)
    return {"tote_id": tote.id, "at": as_list(final.pose.position),
            "duration_s": round(ctx.clock() - span.start_s, 3), **span.report()}


class PickTote:
    name = "pick_tote"
    description = ("Walk to a station's stand pose (moved with the tote, if it lies off the "
                   "station's centre) and lift the tote there with both hands (a humanoid skill).")
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {"from": {"type": "string", "description": "station the tote is at"},
                       "stand_at": _STAND, "tote": _TOTE, "robot": _ROBOT},
        "required": ["from"],
    }
    result_schema = RESULT_SCHEMA

    def run(self, ctx: SkillContext, params: Params) -> Result:
        span = Span.begin(ctx, legs_of(ctx, params.get("robot")))
        return _result(ctx, span, pick_tote(ctx, params, str_param(params, "from")))


class PlaceTote:
    name = "place_tote"
    description = ("Walk with the held tote to a station's stand pose (moved so that the tote, "
                   "as held, comes down on the station's centre) and put it down there (a "
                   "humanoid skill).")
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {"at": {"type": "string", "description": "station to put the tote on"},
                       "stand_at": _STAND, "robot": _ROBOT},
        "required": ["at"],
    }
    result_schema = RESULT_SCHEMA

    def run(self, ctx: SkillContext, params: Params) -> Result:
        span = Span.begin(ctx, legs_of(ctx, params.get("robot")))
        return _result(ctx, span, place_tote(ctx, params, str_param(params, "at")))


class CarryTote:
    name = "carry_tote"
    description = ("Pick the tote at one station, walk, and put it down at another (a "
                   "humanoid skill); stand poses are <station>_stand.")
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {"from": {"type": "string", "description": "station the tote is at"},
                       "to": {"type": "string", "description": "station to carry it to"},
                       "tote": _TOTE, "robot": _ROBOT},
        "required": ["from", "to"],
    }
    result_schema = RESULT_SCHEMA

    def run(self, ctx: SkillContext, params: Params) -> Result:
        span = Span.begin(ctx, legs_of(ctx, params.get("robot")))
        tote = pick_tote(ctx, params, str_param(params, "from"))
        ctx.progress(0.3)
        place_tote(ctx, params, str_param(params, "to"))
        return _result(ctx, span, tote)


class Handover:
    name = "handover"
    description = ("Give the held tote to, or take a tote from, another robot through a "
                   "station both reach (reserve it in the workflow); a humanoid skill.")
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {"station": {"type": "string", "description": "the shared station"},
                       "direction": {"type": "string", "enum": ["give", "take"],
                                     "description": "give: put the held tote down there; "
                                                    "take: pick the tote there up"},
                       "stand_at": _STAND, "tote": _TOTE, "robot": _ROBOT},
        "required": ["station", "direction"],
    }
    result_schema = RESULT_SCHEMA

    def run(self, ctx: SkillContext, params: Params) -> Result:
        name = str_param(params, "station")
        box = station(ctx, name)
        if len(box.reach) < 2:
            raise SkillError("invalid_params", f"station {name} is not shared: the layout lets "
                                               f"only {list(box.reach)} reach it; a handover "
                                               "needs a station two mounts reach")
        span = Span.begin(ctx, legs_of(ctx, params.get("robot")))
        if str_param(params, "direction") == "give":
            tote = place_tote(ctx, params, name)
        else:
            tote = pick_tote(ctx, params, name)
        return _result(ctx, span, tote)
