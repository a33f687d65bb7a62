"""Robots: the one shared contract (`Robot`) and its implementations."""

from cellwright.robots.errors import (
    CollisionDetected,
    EStopActive,
    LimitViolation,
    MotionStopped,
    MotionTimeout,
    NotActive,
    RobotError,
    Unreachable,
)
from cellwright.robots.interface import JointLimits, Lifecycle, Pose, Robot, RobotInfo, RobotState

__all__ = [
    "CollisionDetected",
    "EStopActive",
    "JointLimits",
    "Lifecycle",
    "LimitViolation",
    "MotionStopped",
    "MotionTimeout",
    "NotActive",
    "Pose",
    "Robot",
    "RobotError",
    "RobotInfo",
    "RobotState",
    "Unreachable",
]
