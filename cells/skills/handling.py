"""Part handling skills: `pick`, `place` and `pick_place`.

Parts are found through the cell's PartLocator; stations and locations come from the line
layout. A grasp counts only if the gripper reports holding and the part rose with the
tool; a placement only if the part ends up where it should.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cellwright.api.layout import Station
from cellwright.cells.skills._common import (
    as_list,
    box_grasp_yaw,
    location,
    robot_errors,
    station,
    str_param,
    tool_down,
)
from cellwright.cells.skills.base import Params, Result, SkillContext, SkillError
from cellwright.cells.skills.motion import move_to
from cellwright.robots import PartLocator, PartSighting, Pose

PRE_GRASP_WIDTH_M = 0.07  # wide enough for the 40 mm parts of the packaged worlds
RELEASE_WIDTH_M = 0.055
GRIP_FORCE_N = 40.0
APPROACH_HEIGHT_M = 0.12
FINE_SPEED = 0.3
HELD_PART_RADIUS_M = 0.05
MIN_LIFT_FRACTION = 0.6
PLACE_TOLERANCE_M = 0.03
SLOT_PITCH_M = 0.07
SLOT_CLEARANCE_M = 0.055
SLOT_MARGIN_M = 0.06  # keeps open fingers clear of tray walls
FINE_TIMEOUT_S = 5.0

_ROBOT = {"type": "string", "description": "robot name; optional with one robot"}
_PART_ID = {"type": "string", "description": "the part's id in the world, e.g. red_cube_0"}
_PART_TYPE = {"type": "string", "description": "the part's type, e.g. red_cube"}
_POSITION = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}


def pick_part(ctx: SkillContext, robot: str | None, part_type: str, source: str, *,
              progress_to: float = 1.0) -> PartSighting:
    """Pick the `part_type` part nearest the centre of station `source`; return it as located."""
    box = station(ctx, source)
    parts = ctx.locator()
    if part_type not in parts.part_types():
        raise SkillError("not_found", f"no part type {part_type!r}; the part locator "
                                      f"{parts.id} knows {parts.part_types()}")
    part = parts.locate(part_type, box)
    if part is None:
        there = sorted(sighting.id for sighting in parts.parts_in(box))
        raise SkillError("not_found", f"no {part_type} in station {source}: the part locator "
                                      f"{parts.id} finds none there (it sees "
                                      f"{', '.join(there) if there else 'no parts'} there)")
    arm, gripper = ctx.arm(robot), ctx.gripper(robot)
    x, y, z = part.pose.position
    yaw = box_grasp_yaw(part.pose.orientation)
    above = tool_down((x, y, z + APPROACH_HEIGHT_M), yaw)
    with robot_errors(f"picking {part.id}"):
        ctx.wait(gripper.move(min(PRE_GRASP_WIDTH_M, gripper.info().stroke_m)))
        ctx.wait(arm.move_pose(above))
        ctx.progress(0.3 * progress_to)
        ctx.wait(arm.move_pose(tool_down((x, y, z), yaw), speed=FINE_SPEED, timeout_s=FINE_TIMEOUT_S))
        ctx.progress(0.5 * progress_to)
        closed = ctx.wait(gripper.move(0.0, force_n=GRIP_FORCE_N))
        ctx.wait(arm.move_pose(above, speed=FINE_SPEED, timeout_s=FINE_TIMEOUT_S))
        lifted = parts.part(part.id).pose.position[2] - z
        if not (closed and gripper.state().holding
                and lifted > MIN_LIFT_FRACTION * APPROACH_HEIGHT_M):
            ctx.wait(gripper.open())
            raise SkillError("grasp_failed",
                             f"grasp of {part.id} failed (holding: {closed}, "
                             f"part lifted {lifted * 1000:.0f} mm)", retryable=True)
    ctx.progress(progress_to)
    return part


def place_part(ctx: SkillContext, robot: str | None, at: str, *,
               progress_from: float = 0.0) -> PartSighting:
    """Put the held part down at location `at`; return where it came to rest."""
    target = location(ctx, at).pose
    parts = ctx.locator()
    arm, gripper = ctx.arm(robot), ctx.gripper(robot)
    held = parts.nearest(arm.tool_pose().position, HELD_PART_RADIUS_M)
    if held is None or not gripper.state().holding:
        raise SkillError("place_failed", f"nothing to place at {at}: the gripper holds no part")
    box = ctx.layout.stations.get(at)
    x, y = free_spot(parts, box, target.position[:2]) if box is not None else target.position[:2]
    z = target.position[2]
    release = Pose((x, y, z), target.orientation)
    above = Pose((x, y, z + APPROACH_HEIGHT_M), target.orientation)
    span = 1.0 - progress_from
    with robot_errors(f"placing {held.id} at {at}"):
        ctx.wait(arm.move_pose(above))
        ctx.progress(progress_from + 0.5 * span)
        ctx.wait(arm.move_pose(release, speed=FINE_SPEED, timeout_s=FINE_TIMEOUT_S))
        ctx.wait(gripper.move(min(RELEASE_WIDTH_M, gripper.info().stroke_m)))
        ctx.progress(progress_from + 0.8 * span)
        ctx.wait(arm.move_pose(above, speed=FINE_SPEED, timeout_s=FINE_TIMEOUT_S))
    final = parts.part(held.id)
    inside = (box.contains(final.pose.position) if box is not None
              else math.dist(final.pose.position[:2], (x, y)) < PLACE_TOLERANCE_M)
    if not inside:
        raise SkillError("place_failed",
                         f"{held.id} came to rest at {as_list(final.pose.position)}, not in {at}")
    ctx.progress(1.0)
    return final


def free_spot(parts: PartLocator, box: Station, preferred: tuple[float, ...]) -> tuple[float, float]:
    """The free slot of a station's grid nearest `preferred` (x, y), away from parts in it."""
    occupied = [part.pose.position[:2] for part in parts.parts_in(box)]
    slots = [(float(sx), float(sy))
             for sx in _slot_axis(box.center[0], box.size[0])
             for sy in _slot_axis(box.center[1], box.size[1])
             if all(math.dist((sx, sy), other) >= SLOT_CLEARANCE_M for other in occupied)]
    if not slots:
        raise SkillError("place_failed", f"{box.name} is full", retryable=True)
    return min(slots, key=lambda slot: math.dist(slot, preferred))


def _slot_axis(center: float, size: float) -> list[float]:
    count = max(1, int((size - 2 * SLOT_MARGIN_M) // SLOT_PITCH_M) + 1)
    first = center - (count - 1) * SLOT_PITCH_M / 2
    return [first + i * SLOT_PITCH_M for i in range(count)]


class Pick:
    """Pick a part of a given type from a station."""

    name = "pick"
    description = "Pick a part of the given type from a station (default: the infeed)."
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "part": {"type": "string", "description": "part type, e.g. red_cube"},
            "from": {"type": "string", "default": "infeed", "description": "station to pick from"},
            "robot": _ROBOT,
        },
        "required": ["part"],
    }
    result_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "part_id": _PART_ID, "part_type": _PART_TYPE,
            "picked_from": {**_POSITION, "description": "where the part was, x y z in m (world)"},
        },
        "required": ["part_id", "part_type", "picked_from"],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        part = pick_part(ctx, params.get("robot"), str_param(params, "part"),
                         str_param(params, "from", "infeed"))
        return {"part_id": part.id, "part_type": part.type,
                "picked_from": as_list(part.pose.position)}


class Place:
    """Place the held part at a named location."""

    name = "place"
    description = ("Place the part held by the gripper at a named location (e.g. outfeed_a), "
                   "then optionally move out of the way (retreat_to).")
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "at": {"type": "string", "description": "location to place at"},
            "retreat_to": {"type": "string",
                           "description": "a configuration or location to move to after "
                                          "letting go (out of a shared station), e.g. home"},
            "robot": _ROBOT,
        },
        "required": ["at"],
    }
    result_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "part_id": _PART_ID, "part_type": _PART_TYPE,
            "placed_at": {**_POSITION, "description": "where the part came to rest, x y z in m"},
        },
        "required": ["part_id", "part_type", "placed_at"],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        robot = params.get("robot")
        retreat_to = str_param(params, "retreat_to") if "retreat_to" in params else None
        final = place_part(ctx, robot, str_param(params, "at"))
        if retreat_to is not None:  # within the step, so within its reservations
            move_to(ctx, robot, retreat_to)
        return {"part_id": final.id, "part_type": final.type,
                "placed_at": as_list(final.pose.position)}


class PickPlace:
    """Pick a part of a given type and place it at a named location."""

    name = "pick_place"
    description = ("Pick a part of the given type from a station and place it at a location, "
                   "then optionally move out of the way (retreat_to).")
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "part": {"type": "string", "description": "part type, e.g. red_cube"},
            "from": {"type": "string", "default": "infeed", "description": "station to pick from"},
            "place_at": {"type": "string", "description": "location to place at"},
            "retreat_to": {"type": "string",
                           "description": "a configuration or location to move to after "
                                          "letting go (out of a shared station), e.g. home"},
            "robot": _ROBOT,
        },
        "required": ["part", "place_at"],
    }
    result_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "part_id": _PART_ID, "part_type": _PART_TYPE,
            "placed_at": {**_POSITION, "description": "where the part came to rest, x y z in m"},
            "cycle_time_s": {"type": "number", "minimum": 0,
                             "description": "pick and place on the cell's clock"},
        },
        "required": ["part_id", "part_type", "placed_at", "cycle_time_s"],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        robot = params.get("robot")
        place_at = str_param(params, "place_at")
        start = ctx.clock()
        pick_part(ctx, robot, str_param(params, "part"), str_param(params, "from", "infeed"),
                  progress_to=0.5)
        final = place_part(ctx, robot, place_at, progress_from=0.5)
        if "retreat_to" in params:  # within the step, so within its reservations
            move_to(ctx, robot, str_param(params, "retreat_to"))
        return {"part_id": final.id, "part_type": final.type,
                "placed_at": as_list(final.pose.position),
                "cycle_time_s": round(ctx.clock() - start, 4)}
