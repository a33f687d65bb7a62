"""Helpers shared by the skills: parameter access, robot-error translation, tool poses."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from cellwright.cells.skills.base import Params, SkillContext, SkillError
from cellwright.robots import Pose, RobotError


class PartPose(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def pose(self) -> Pose: ...


class RegionBox(Protocol):
    @property
    def center(self) -> tuple[float, float, float]: ...

    @property
    def size(self) -> tuple[float, float, float]: ...

    def contains(self, position: tuple[float, ...]) -> bool: ...


class CellWorld(Protocol):
    """What the motion and handling skills need from the world (`sim_worlds.SimWorld` fits)."""

    @property
    def dt(self) -> float: ...

    @property
    def locations(self) -> Mapping[str, Pose]: ...

    @property
    def joint_locations(self) -> Mapping[str, tuple[float, ...]]: ...

    @property
    def regions(self) -> Mapping[str, RegionBox]: ...

    def now_s(self) -> float: ...

    def step(self, n: int = 1) -> None: ...

    def part_types(self) -> list[str]: ...

    def part_info(self, part_id: str) -> PartPose: ...

    def parts_in(self, region: str) -> list[PartPose]: ...

    def locate_part(self, part_type: str, region: str = "infeed") -> PartPose | None: ...

    def nearest_part(self, position: tuple[float, float, float],
                     max_distance_m: float) -> PartPose | None: ...


def world_of(ctx: SkillContext) -> CellWorld:
    """The context's world, or an `internal` error when the cell has none."""
    if ctx.world is None:
        raise SkillError("internal", "this skill needs a world model, and the cell has none")
    world: CellWorld = ctx.world
    return world


def str_param(params: Params, key: str, default: str | None = None) -> str:
    """A string parameter, or `invalid_params` naming it."""
    value: Any = params.get(key, default)
    if not isinstance(value, str) or not value:
        raise SkillError("invalid_params",
                         f"parameter {key!r} must be a non-empty string, got {value!r}")
    return value


@contextmanager
def robot_errors(doing: str) -> Iterator[None]:
    """Turn a `RobotError` inside the block into a `SkillError` with the same reason."""
    try:
        yield
    except RobotError as exc:
        raise SkillError.from_robot(exc, doing) from exc


def tool_down(position: tuple[float, float, float], yaw_rad: float) -> Pose:
    """A tool pose at `position` pointing straight down, turned by `yaw_rad` about world z."""
    half = yaw_rad / 2
    # Rotation about z by yaw, then pi about x: the tool z axis points down.
    quaternion = (math.cos(half), math.sin(half), 0.0, 0.0)
    return Pose(position, quaternion)


def box_grasp_yaw(orientation: tuple[float, float, float, float]) -> float:
    """The part's yaw folded into [-pi/4, pi/4]: box-shaped parts look alike every 90 deg."""
    x, y, z, w = orientation
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return float((yaw + math.pi / 4) % (math.pi / 2) - math.pi / 4)


def as_list(position: tuple[float, ...]) -> list[float]:
    """A JSON-able position rounded to 0.1 mm."""
    return [round(float(v), 4) for v in np.asarray(position)]
