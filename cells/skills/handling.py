"""Part handling skills: `pick`, `place` and `pick_place`.

Grasps are judged by physics only: the gripper must report contact on both fingers and
the part must have risen with the tool. Placement is judged by where the part ends up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cellwright.cells.skills._common import (
    CellWorld,
    PartPose,
    as_list,
    box_grasp_yaw,
    robot_errors,
    str_param,
    tool_down,
    world_of,
)
from cellwright.cells.skills.base import Params, Result, SkillContext, SkillError
from cellwright.robots import Pose, Robot

OPEN_WIDTH_M = 0.08
PRE_GRASP_WIDTH_M = 0.07
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


def pick_part(ctx: SkillContext, robot: Robot, world: CellWorld, part_type: str,
              region: str, *, progress_to: float = 1.0) -> PartPose:
    """Pick the `part_type` part nearest the centre of `region`; return it as located."""
    if region not in world.regions:
        raise SkillError("invalid_params", f"no region {region!r}; known: {sorted(world.regions)}")
    if part_type not in world.part_types():
        raise SkillError("not_found", f"no part type {part_type!r}; known: {world.part_types()}")
    part = world.locate_part(part_type, region)
    if part is None:
        raise SkillError("not_found", f"no {part_type} in {region}")
    x, y, z = part.pose.position
    yaw = box_grasp_yaw(part.pose.orientation)
    above = tool_down((x, y, z + APPROACH_HEIGHT_M), yaw)
    with robot_errors(f"picking {part.id}"):
        robot.gripper(PRE_GRASP_WIDTH_M)
        robot.move_pose(above)
        ctx.progress(0.3 * progress_to)
        robot.move_pose(tool_down((x, y, z), yaw), speed=FINE_SPEED, timeout_s=FINE_TIMEOUT_S)
        ctx.progress(0.5 * progress_to)
        closed = robot.gripper(0.0, force_n=GRIP_FORCE_N)
        robot.move_pose(above, speed=FINE_SPEED, timeout_s=FINE_TIMEOUT_S)
        lifted = world.part_info(part.id).pose.position[2] - z
        if not (closed and robot.state().gripper_holding
                and lifted > MIN_LIFT_FRACTION * APPROACH_HEIGHT_M):
            robot.gripper(OPEN_WIDTH_M)
            raise SkillError("grasp_failed",
                             f"grasp of {part.id} failed (contact on both fingers: {closed}, "
                             f"part lifted {lifted * 1000:.0f} mm)", retryable=True)
    ctx.progress(progress_to)
    return part


def place_part(ctx: SkillContext, robot: Robot, world: CellWorld, at: str, *,
               progress_from: float = 0.0) -> PartPose:
    """Put the held part down at location `at`; return where it came to rest."""
    if at not in world.locations:
        raise SkillError("invalid_params", f"no location {at!r}; known: {sorted(world.locations)}")
    target = world.locations[at]
    held = world.nearest_part(robot.state().tool_pose.position, HELD_PART_RADIUS_M)
    if held is None or not robot.state().gripper_holding:
        raise SkillError("place_failed", f"nothing to place at {at}: the gripper holds no part")
    x, y = free_spot(world, at, target.position[:2]) if at in world.regions else target.position[:2]
    z = target.position[2]
    release = Pose((x, y, z), target.orientation)
    above = Pose((x, y, z + APPROACH_HEIGHT_M), target.orientation)
    span = 1.0 - progress_from
    with robot_errors(f"placing {held.id} at {at}"):
        robot.move_pose(above)
        ctx.progress(progress_from + 0.5 * span)
        robot.move_pose(release, speed=FINE_SPEED, timeout_s=FINE_TIMEOUT_S)
        robot.gripper(RELEASE_WIDTH_M)
        ctx.progress(progress_from + 0.8 * span)
        robot.move_pose(above, speed=FINE_SPEED, timeout_s=FINE_TIMEOUT_S)
    final = world.part_info(held.id)
    region = world.regions.get(at)
    inside = (region.contains(final.pose.position) if region is not None
              else math.dist(final.pose.position[:2], (x, y)) < PLACE_TOLERANCE_M)
    if not inside:
        raise SkillError("place_failed",
                         f"{held.id} came to rest at {as_list(final.pose.position)}, not in {at}")
    ctx.progress(1.0)
    return final


def free_spot(world: CellWorld, region_name: str,
              preferred: tuple[float, ...]) -> tuple[float, float]:
    """The free slot of a region's grid nearest `preferred` (x, y), away from parts in it."""
    region = world.regions[region_name]
    occupied = [part.pose.position[:2] for part in world.parts_in(region_name)]
    slots = [(float(sx), float(sy))
             for sx in _slot_axis(region.center[0], region.size[0])
             for sy in _slot_axis(region.center[1], region.size[1])
             if all(math.dist((sx, sy), other) >= SLOT_CLEARANCE_M for other in occupied)]
    if not slots:
        raise SkillError("place_failed", f"{region_name} is full", retryable=True)
    return min(slots, key=lambda slot: math.dist(slot, preferred))


def _slot_axis(center: float, size: float) -> list[float]:
    count = max(1, int((size - 2 * SLOT_MARGIN_M) // SLOT_PITCH_M) + 1)
    first = center - (count - 1) * SLOT_PITCH_M / 2
    return [first + i * SLOT_PITCH_M for i in range(count)]


class Pick:
    """Pick a part of a given type from a region."""

    name = "pick"
    description = "Pick a part of the given type from a region (default: the infeed)."
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "part": {"type": "string", "description": "part type, e.g. red_cube"},
            "from": {"type": "string", "default": "infeed", "description": "region to pick from"},
            "robot": _ROBOT,
        },
        "required": ["part"],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        world = world_of(ctx)
        part = pick_part(ctx, ctx.robot(params.get("robot")), world, str_param(params, "part"),
                         str_param(params, "from", "infeed"))
        return {"part_id": part.id, "part_type": part.type,
                "picked_from": as_list(part.pose.position)}


class Place:
    """Place the held part at a named location."""

    name = "place"
    description = "Place the part held by the gripper at a named location (e.g. outfeed_a)."
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "at": {"type": "string", "description": "location to place at"},
            "robot": _ROBOT,
        },
        "required": ["at"],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        world = world_of(ctx)
        final = place_part(ctx, ctx.robot(params.get("robot")), world, str_param(params, "at"))
        return {"part_id": final.id, "part_type": final.type,
                "placed_at": as_list(final.pose.position)}


class PickPlace:
    """Pick a part of a given type and place it at a named location."""

    name = "pick_place"
    description = "Pick a part of the given type from a region and place it at a location."
    params_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "part": {"type": "string", "description": "part type, e.g. red_cube"},
            "from": {"type": "string", "default": "infeed", "description": "region to pick from"},
            "place_at": {"type": "string", "description": "location to place at"},
            "robot": _ROBOT,
        },
        "required": ["part", "place_at"],
    }

    def run(self, ctx: SkillContext, params: Params) -> Result:
        world = world_of(ctx)
        robot = ctx.robot(params.get("robot"))
        place_at = str_param(params, "place_at")
        start = world.now_s()
        pick_part(ctx, robot, world, str_param(params, "part"),
                  str_param(params, "from", "infeed"), progress_to=0.5)
        final = place_part(ctx, robot, world, place_at, progress_from=0.5)
        return {"part_id": final.id, "part_type": final.type,
                "placed_at": as_list(final.pose.position),
                "cycle_time_s": round(world.now_s() - start, 4)}
