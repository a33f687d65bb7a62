"""Errors raised by robots.

    RobotError                 every robot failure; `reason` is a stable word
    ├── LimitViolation         target NaN/Inf/out of limits (reason "limit")
    ├── Unreachable            no IK solution within tolerance (reason "unreachable")
    ├── MotionTimeout          target not reached in time (reason "timeout")
    ├── CollisionDetected      unexpected contact during motion (reason "collision")
    ├── MotionStopped          stop() interrupted the motion (reason "stopped")
    ├── EStopActive            e-stopped; reset_estop() first (reason "estop")
    ├── NotActive              motion outside the ACTIVE lifecycle state (reason "not_active")
    ├── Unstable               the stability margin fell below its floor (reason "unstable")
    ├── Fallen                 a legged robot fell (reason "fallen"): the cell aborts
    └── PayloadExceeded        a load beyond what the robot may carry (reason "payload")
"""

from __future__ import annotations


class RobotError(Exception):
    """Root of robot errors. `retryable` tells whether trying again may succeed."""

    reason = "robot_error"
    retryable = False


class LimitViolation(RobotError, ValueError):
    """A commanded target is NaN, infinite, of the wrong size or outside the joint limits."""

    reason = "limit"


class Unreachable(RobotError):
    """The requested pose has no inverse-kinematics solution within tolerance."""

    reason = "unreachable"


class MotionTimeout(RobotError):
    """A motion did not reach its target within its time budget (robot clock)."""

    reason = "timeout"
    retryable = True


class CollisionDetected(RobotError):
    """The robot touched something it was not meant to touch."""

    reason = "collision"


class MotionStopped(RobotError):
    """stop() interrupted the motion; the robot holds its position."""

    reason = "stopped"


class EStopActive(RobotError):
    """The robot is e-stopped; motion is refused until reset_estop()."""

    reason = "estop"


class NotActive(RobotError):
    """Motion was commanded while the robot is not in its ACTIVE lifecycle state."""

    reason = "not_active"


class Unstable(RobotError):
    """The stability margin of a legged robot fell below its configured floor: the motion
    was ended and the robot brought to a stable stance before it could fall."""

    reason = "unstable"


class Fallen(RobotError):
    """A legged robot fell (its pelvis too low, or a link other than a foot on the floor).
    Nothing may move it until a person has seen to it: the cell goes PackML Aborted."""

    reason = "fallen"


class PayloadExceeded(RobotError, ValueError):
    """A load heavier than the robot's payload limit (from its model)."""

    reason = "payload"
