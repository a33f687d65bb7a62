"""Inverse and forward kinematics on a private copy of a robot.

PyBullet solves IK from the body's current joint state and FK needs joint resets, so
doing either on the live robot would disturb the physics. `ShadowKinematics` loads the
same URDF into its own DIRECT client and works there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pybullet as p
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

GOOD_ENOUGH_POSITION_M = 1e-3
"""Stop refining below this position error (moves accept up to 5 mm)."""
GOOD_ENOUGH_ORIENTATION_RAD = 0.01
"""Stop refining below this orientation error (moves accept up to 0.03 rad)."""


@dataclass(frozen=True)
class IkSolution:
    """Joint positions and how far their forward kinematics miss the requested pose."""

    joints: FloatArray
    position_error_m: float
    orientation_error_rad: float


class ShadowKinematics:
    """IK/FK for one serial chain of a URDF robot, in a separate PyBullet client."""

    def __init__(self, urdf_path: str, base_position: Sequence[float],
                 base_orientation: Sequence[float], joint_indices: Sequence[int],
                 tool_link: int, rest_pose: FloatArray) -> None:
        self._client = p.connect(p.DIRECT)
        self._body = p.loadURDF(urdf_path, base_position, base_orientation, useFixedBase=True,
                                physicsClientId=self._client)
        self._joints = list(joint_indices)
        self._tool = tool_link
        movable = [j for j in range(p.getNumJoints(self._body, physicsClientId=self._client))
                   if p.getJointInfo(self._body, j, physicsClientId=self._client)[2]
                   != p.JOINT_FIXED]
        infos = [p.getJointInfo(self._body, j, physicsClientId=self._client) for j in movable]
        self._lower = [float(i[8]) for i in infos]
        self._upper = [float(i[9]) for i in infos]
        self._ranges = [u - lo for lo, u in zip(self._lower, self._upper, strict=True)]
        self._rest = [float(v) for v in rest_pose] + [0.0] * (len(movable) - len(rest_pose))
        arm_lower = np.array([self._lower[movable.index(j)] for j in self._joints])
        arm_upper = np.array([self._upper[movable.index(j)] for j in self._joints])
        self._arm_limits = (arm_lower, arm_upper)
        self._arm_slots = [movable.index(j) for j in self._joints]

    def solve(self, position: Sequence[float], orientation: Sequence[float], seed: FloatArray,
              attempts: int = 8, link: int | None = None) -> IkSolution:
        """Solve IK for the tool link (or `link`) starting from `seed`, refining a few times.

        The first attempt uses PyBullet's null-space solver (joint limits and rest pose), which
        keeps the arm in a sensible configuration but stops 0.5-4 mm short of the target; the
        next attempts refine from there without the null-space terms, which closes that gap
        in one attempt. It stops as soon as a solution is within `GOOD_ENOUGH_POSITION_M` and
        `GOOD_ENOUGH_ORIENTATION_RAD` (well inside what a move accepts).

        The result is clipped to the joint limits and then checked by forward kinematics,
        so the reported errors are true errors of the returned joints.
        """
        joints = seed.copy()
        best: IkSolution | None = None
        target_position, target_orientation = list(position), list(orientation)
        tool = self._tool if link is None else link
        for attempt in range(attempts):
            self._set(joints)
            if attempt % 4 == 0:  # null space: limits and rest pose (again if refining failed)
                raw = p.calculateInverseKinematics(
                    self._body, tool, target_position, target_orientation,
                    lowerLimits=self._lower, upperLimits=self._upper, jointRanges=self._ranges,
                    restPoses=self._rest, maxNumIterations=200, residualThreshold=1e-6,
                    physicsClientId=self._client)
            else:  # refine from the previous joints
                raw = p.calculateInverseKinematics(
                    self._body, tool, target_position, target_orientation,
                    maxNumIterations=200, residualThreshold=1e-6, physicsClientId=self._client)
            joints = np.clip(np.array([raw[k] for k in self._arm_slots], dtype=np.float64),
                             *self._arm_limits)
            solution = self._check(joints, position, orientation, tool)
            if best is None or _score(solution) < _score(best):
                best = solution
            if (best.position_error_m < GOOD_ENOUGH_POSITION_M
                    and best.orientation_error_rad < GOOD_ENOUGH_ORIENTATION_RAD):
                break
        assert best is not None
        return best

    def tool_pose(self, joints: FloatArray, link: int | None = None) -> tuple[FloatArray, FloatArray]:
        """Forward kinematics: position and quaternion (x, y, z, w) of the tool link (or
        `link`) for `joints`."""
        self._set(joints)
        state = p.getLinkState(self._body, self._tool if link is None else link,
                               computeForwardKinematics=True, physicsClientId=self._client)
        return np.array(state[4], dtype=np.float64), np.array(state[5], dtype=np.float64)

    def close(self) -> None:
        """Release the private PyBullet client."""
        p.disconnect(physicsClientId=self._client)

    def _check(self, joints: FloatArray, position: Sequence[float],
               orientation: Sequence[float], link: int) -> IkSolution:
        reached_position, reached_orientation = self.tool_pose(joints, link)
        position_error = float(np.linalg.norm(reached_position - np.asarray(position)))
        dot = min(abs(float(np.dot(reached_orientation, np.asarray(orientation)))), 1.0)
        return IkSolution(joints, position_error, 2.0 * float(np.arccos(dot)))

    def _set(self, joints: FloatArray) -> None:
        for index, value in zip(self._joints, joints, strict=True):
            p.resetJointState(self._body, index, float(value), physicsClientId=self._client)


def _score(solution: IkSolution) -> float:
    """Lower is better: metres plus radians weighted so 0.01 rad counts like 1 mm."""
    return solution.position_error_m + 0.1 * solution.orientation_error_rad
