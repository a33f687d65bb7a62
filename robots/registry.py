"""The robot registry: model ids (`pybullet.panda`) to factories, plus entry points in the
group `cellwright.robots`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellwright.api.registry import Registry
from cellwright.api.schema import SchemaError, check_schema, validate
from cellwright.robots.builtin import MODELS
from cellwright.robots.robot import BuildContext, Robot, RobotModel


def _check_model(entry: object) -> None:
    if not isinstance(entry, RobotModel):
        raise TypeError(f"a robot registry entry must be a cellwright.robots.RobotModel, "
                        f"got {type(entry).__name__}")
    check_schema(entry.config_schema, f"robot model {entry.id}: config_schema")
    driver, dot, _short = entry.id.partition(".")
    if not dot or driver != entry.driver:
        raise TypeError(f"robot model id {entry.id!r} must read '<driver>.<name>' with driver "
                        f"{entry.driver!r}, e.g. '{entry.driver}.panda'")


ROBOTS: Registry[RobotModel] = Registry("cellwright.robots", "robot model",
                                        key=lambda m: m.id, check=_check_model)


for _model in MODELS:
    ROBOTS.register(_model, origin="cellwright (built in)")


def register(model: RobotModel, *, replace: bool = False) -> RobotModel:
    """Add a robot model to the registry (plugins may use entry points instead)."""
    return ROBOTS.register(model, replace=replace)


def check_robot_config(model_id: str, config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate a cell config's robot entry against the model's schema; defaults filled.

    Raises:
        RegistryError: unknown model id. SchemaError: a bad key or value, named by `where`.
    """
    model = ROBOTS.get(model_id)
    return validate(model.config_schema, config, where, f"robot model {model_id}")


def build_robot(model_id: str, context: BuildContext, config: Mapping[str, Any]) -> Robot:
    """Validate `config` and build the robot (components constructed, not yet activated)."""
    checked = check_robot_config(model_id, config, f"robots.{context.robot_name}")
    robot = ROBOTS.get(model_id).build(context, checked)
    if not isinstance(robot, Robot):
        raise TypeError(f"robot model {model_id} built {type(robot).__name__}, not a Robot")
    return robot


__all__ = ["ROBOTS", "SchemaError", "build_robot", "check_robot_config", "register"]
