"""A robot is a named set of components built from a registered model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cellwright.api.geometry import ORIGIN, Pose
from cellwright.robots.component import Component

C = TypeVar("C", bound=Component)


@dataclass
class Robot:
    """One robot of a cell.

    `components` are keyed by local name (`arm`, `gripper`); each component's own name is
    qualified (`panda/arm`). `approximations` lists, in plain words, what this
    implementation approximates (empty for a real driver); reports and `info` show it.
    """

    name: str
    registry_id: str
    model: str
    driver: str
    components: Mapping[str, Component]
    approximations: tuple[str, ...] = ()

    def of_kind(self, cls: type[C]) -> list[C]:
        """The components that are instances of `cls` (e.g. `Arm`), in declaration order."""
        return [c for c in self.components.values() if isinstance(c, cls)]


@dataclass(frozen=True)
class BuildContext:
    """What a model's factory gets besides its configuration.

    Attributes:
        robot_name: the robot's name in its cell (`panda`, `g1`).
        mount: where the robot's base stands, world frame (from the line layout).
        mount_name: the layout mount's name ("" without a layout), for readable messages.
        world: the environment the driver needs, if any: a PyBullet world for `pybullet.*`,
            a kinematic scene (or None) for `mock.*`, None for real drivers.
        seed: for any randomness of the implementation.
    """

    robot_name: str
    mount: Pose = ORIGIN
    world: Any = None
    seed: int = 0
    mount_name: str = ""


@dataclass(frozen=True)
class RobotModel:
    """A registry entry: a model with its driver, a config validator and a factory.

    Attributes:
        id: `<driver>.<model short name>`, e.g. `pybullet.panda`, `mock.panda`.
        model: what the robot is (`franka_panda`); the same for every driver of it.
        driver: the implementation (`pybullet`, `mock`, `opcua`, `modbus`).
        build: `build(context, config) -> Robot`, config already validated.
        config_schema: a `cellwright.api.schema` object schema for the cell config's
            entry of this robot (besides `model` and `mount`).
        description: one line for `cellwright registry list`.
    """

    id: str
    model: str
    driver: str
    build: Callable[[BuildContext, Mapping[str, Any]], Robot]
    config_schema: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}})
    description: str = ""
