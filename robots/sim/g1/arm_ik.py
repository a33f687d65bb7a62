"""Inverse kinematics of one G1 arm on the humanoid's own model (Pinocchio).

The chain runs from the torso link to the hand frame (`unitree_g1.HAND_LINKS`) through the
seven arm joints; everything else (legs, waist, fingers) is locked out of the model, so a
target given in the world frame is first expressed in the torso frame with the measured
torso pose: the same solution holds whatever the legs and waist do.

Damped least squares on the pose error in the hand frame (position, rotation vector), every step clipped to the
joint limits; it starts from the arm's current joints (a nearby solution, no jumps). A
solve takes ~0.1-0.3 ms (see `tests/robots/test_g1_arms.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pinocchio as pin

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.kinematics import IkSolution

TORSO_LINK = "torso_link"
DAMPING = 1e-3
"""Damping of the least-squares step (squared: regularises near singularities)."""
MAX_STEP_RAD = 0.3
"""Largest joint change of one iteration (keeps far targets from overshooting)."""
MAX_ITERATIONS = 60
GOOD_ENOUGH_POSITION_M = 5e-4
GOOD_ENOUGH_ORIENTATION_RAD = 5e-3


def se3(pose: Pose) -> pin.SE3:
    """A `Pose` (position, quaternion x, y, z, w) as a Pinocchio SE3."""
    return pin.XYZQUATToSE3(np.array([*pose.position, *pose.orientation], dtype=np.float64))


def pose_of(transform: pin.SE3) -> Pose:
    x, y, z, qx, qy, qz, qw = (float(v) for v in pin.SE3ToXYZQUAT(transform))
    return Pose((x, y, z), (qx, qy, qz, qw))


class ArmKinematics:
    """Forward and inverse kinematics of one arm, torso to hand frame.

    Args:
        side: "left" or "right".
        hands: the Dex3-hand model (its hand frame is the palm link) or the rubber-hand one.
    """

    def __init__(self, side: str, hands: bool) -> None:
        full = pin.buildModelFromUrdf(str(g1.original_urdf(hands)))
        self.joint_names = g1.ARM_JOINTS[side]
        self.frame = g1.HAND_LINKS[hands][side]
        keep = {full.getJointId(name) for name in self.joint_names}
        locked = [j for j in range(1, full.njoints) if j not in keep]
        self._model = pin.buildReducedModel(full, locked, pin.neutral(full))
        self._data = self._model.createData()
        names = list(self._model.names)
        self._slots = [self._model.idx_qs[names.index(n)] for n in self.joint_names]
        self._hand = self._model.getFrameId(self.frame)
        self.lower = self._model.lowerPositionLimit[self._slots].copy()
        self.upper = self._model.upperPositionLimit[self._slots].copy()
        pin.framesForwardKinematics(self._model, self._data, pin.neutral(self._model))
        self._model_torso = self._data.oMf[self._model.getFrameId(TORSO_LINK)].copy()

    def hand_in_torso(self, joints: FloatArray) -> pin.SE3:
        """The hand frame in the torso frame for arm `joints` (rad, `joint_names` order)."""
        self._forward(joints)
        return self._model_torso.actInv(self._data.oMf[self._hand])

    def solve(self, target: Pose, torso: Pose, seed: FloatArray) -> IkSolution:
        """Joints putting the hand frame at `target` (world) with the torso at `torso`
        (world, measured), starting from `seed`. The errors are those of the returned
        joints, which are within the limits; the caller decides what is close enough."""
        goal = self._model_torso * se3(torso).actInv(se3(target))
        q = np.clip(np.asarray(seed, dtype=np.float64), self.lower, self.upper)
        best: tuple[float, FloatArray, float, float] | None = None
        for _ in range(MAX_ITERATIONS):
            self._forward(q)
            hand = self._data.oMf[self._hand]
            error = np.concatenate((hand.rotation.T @ (goal.translation - hand.translation),
                                    pin.log3(hand.rotation.T @ goal.rotation)))
            position_error = float(np.linalg.norm(error[:3]))
            orientation_error = float(np.linalg.norm(error[3:]))
            score = position_error + 0.1 * orientation_error
            if best is None or score < best[0]:
                best = (score, q.copy(), position_error, orientation_error)
            if position_error < GOOD_ENOUGH_POSITION_M and orientation_error < GOOD_ENOUGH_ORIENTATION_RAD:
                break
            jacobian = pin.computeFrameJacobian(self._model, self._data, self._full_q(q), self._hand,
                                                pin.LOCAL)[:, self._slots]
            step = jacobian.T @ np.linalg.solve(jacobian @ jacobian.T + DAMPING * np.eye(6), error)
            largest = float(np.max(np.abs(step)))
            if largest > MAX_STEP_RAD:
                step *= MAX_STEP_RAD / largest
            q = np.clip(q + step, self.lower, self.upper)
        assert best is not None
        return IkSolution(best[1], best[2], best[3])

    def _full_q(self, joints: Sequence[float] | FloatArray) -> FloatArray:
        q: FloatArray = pin.neutral(self._model)
        q[self._slots] = joints
        return q

    def _forward(self, joints: Sequence[float] | FloatArray) -> None:
        pin.framesForwardKinematics(self._model, self._data, self._full_q(joints))


__all__ = ["ArmKinematics", "pose_of", "se3"]
