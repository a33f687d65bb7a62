"""Helpers shared by the skills: parameter access, robot-error translation, tool poses."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from cellwright.api.geometry import yaw_of
from cellwright.api.layout import Location, Station
from cellwright.cells.skills.base import Params, SkillContext, SkillError
from cellwright.robots import Pose, RobotError


def str_param(params: Params, key: str, default: str | None = None) -> str:
    """A string parameter, or `invalid_params` naming it."""
    value: Any = params.get(key, default)
    if not isinstance(value, str) or not value:
        raise SkillError("invalid_params",
                         f"parameter {key!r} must be a non-empty string, got {value!r}")
    return value


def station(ctx: SkillContext, name: str) -> Station:
    """A station of the layout, or `invalid_params` listing the known ones."""
    try:
        return ctx.layout.station(name)
    except KeyError as exc:
        raise SkillError("invalid_params", str(exc.args[0])) from None


def location(ctx: SkillContext, name: str) -> Location:
    """A location of the layout, or `invalid_params` listing the known ones."""
    try:
        return ctx.layout.location(name)
    except KeyError as exc:
        raise SkillError("invalid_params", str(exc.args[0])) from None


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
    return float((yaw_of(orientation) + math.pi / 4) % (math.pi / 2) - math.pi / 4)


def as_list(position: tuple[float, ...]) -> list[float]:
    """A JSON-able position rounded to 0.1 mm."""
    return [round(float(v), 4) for v in np.asarray(position)]
