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
              attempts: int = 8) -> IkSolution:
        """Solve IK for the tool link starting from `seed`, refining a few times.

        The result is clipped to the joint limits and then checked by forward kinematics,
        so the reported errors are true errors of the returned joints.
        """
        joints = seed.copy()
        best: IkSolution | None = None
        for _ in range(attempts):
            self._set(joints)
            raw = p.calculateInverseKinematics(
                self._body, self._tool, list(position), list(orientation),
                lowerLimits=self._lower, upperLimits=self._upper, jointRanges=self._ranges,
                restPoses=self._rest, maxNumIterations=200, residualThreshold=1e-6,
                physicsClientId=self._client)
            joints = np.clip(np.array([raw[k] for k in self._arm_slots], dtype=np.float64),
                             *self._arm_limits)
            solution = self._check(joints, position, orientation)
            if best is None or solution.position_error_m < best.position_error_m:
                best = solution
            if solution.position_error_m < 1e-4 and solution.orientation_error_rad < 1e-3:
                break
        assert best is not None
        return best

    def tool_pose(self, joints: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Forward kinematics: tool position and quaternion (x, y, z, w) for `joints`."""
        self._set(joints)
        link = p.getLinkState(self._body, self._tool, computeForwardKinematics=True,
                              physicsClientId=self._client)
        return np.array(link[4], dtype=np.float64), np.array(link[5], dtype=np.float64)

    def close(self) -> None:
        """Release the private PyBullet client."""
        p.disconnect(physicsClientId=self._client)

    def _check(self, joints: FloatArray, position: Sequence[float],
               orientation: Sequence[float]) -> IkSolution:
        reached_position, reached_orientation = self.tool_pose(joints)
        position_error = float(np.linalg.norm(reached_position - np.asarray(position)))
        dot = min(abs(float(np.dot(reached_orientation, np.asarray(orientation)))), 1.0)
        return IkSolution(joints, position_error, 2.0 * float(np.arccos(dot)))

    def _set(self, joints: FloatArray) -> None:
        for index, value in zip(self._joints, joints, strict=True):
            p.resetJointState(self._body, index, float(value), physicsClientId=self._client)
