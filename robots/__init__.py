"""Robots as components: kind interfaces, goals, the control loop, the registry.

    Component                    lifecycle, stop/e-stop hooks, read/update/write hooks
    ├── Arm                      joints, named frames          (robots.arm)
    ├── Gripper                  width, force, holding         (robots.gripper)
    ├── Base                     fixed, planar or legged       (robots.base)
    │   └── LeggedBase           walk_to, whole-body state     (robots.legged)
    ├── IO                       digital and analog points     (robots.io)
    ├── Carrier                  two hands as one grip on a load (robots.carrier)
    └── Presence                 people near the cell          (robots.presence)
    Robot                        a named set of components     (robots.robot)
    PartLocator                  how skills find parts         (robots.parts)
    ControlLoop                  read/update/write at a fixed rate (robots.loop)
    SafetyMonitor                speed and separation after ISO/TS 15066 (robots.safety)
    ROBOTS, register()           model ids to factories        (robots.registry)

Implementations: `robots.sim` (PyBullet), `robots.mock` (ideal followers, no physics).
"""

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.arm import Arm, ArmInfo, ArmState, JointLimits
from cellwright.robots.base import Base, BaseInfo, BaseState
from cellwright.robots.carrier import Carrier, CarrierInfo, CarrierState, HoldResult
from cellwright.robots.component import Component, ComponentInfo, Lifecycle
from cellwright.robots.errors import (
    CollisionDetected,
    EStopActive,
    Fallen,
    LimitViolation,
    MotionStopped,
    MotionTimeout,
    NotActive,
    PayloadExceeded,
    RobotError,
    Unreachable,
    Unstable,
)
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper, GripperInfo, GripperState
from cellwright.robots.io import IO, IOInfo, IOPoint, IOState
from cellwright.robots.legged import LeggedBase, LeggedBaseInfo, LeggedBaseState
from cellwright.robots.loop import ControlLoop
from cellwright.robots.parts import PartLocator, PartSighting
from cellwright.robots.registry import ROBOTS, build_robot, register
from cellwright.robots.robot import BuildContext, Robot, RobotModel

__all__ = [
    "IO",
    "ROBOTS",
    "Arm",
    "ArmInfo",
    "ArmState",
    "Base",
    "BaseInfo",
    "BaseState",
    "BuildContext",
    "Carrier",
    "CarrierInfo",
    "CarrierState",
    "CollisionDetected",
    "Component",
    "ComponentInfo",
    "ControlLoop",
    "EStopActive",
    "Fallen",
    "FloatArray",
    "Goal",
    "Gripper",
    "GripperInfo",
    "GripperState",
    "HoldResult",
    "IOInfo",
    "IOPoint",
    "IOState",
    "JointLimits",
    "LeggedBase",
    "LeggedBaseInfo",
    "LeggedBaseState",
    "Lifecycle",
    "LimitViolation",
    "MotionStopped",
    "MotionTimeout",
    "NotActive",
    "PartLocator",
    "PartSighting",
    "PayloadExceeded",
    "Pose",
    "Robot",
    "RobotError",
    "RobotModel",
    "Unreachable",
    "Unstable",
    "build_robot",
    "register",
]
