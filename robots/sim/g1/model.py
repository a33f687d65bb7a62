"""The G1's kinematics on Pinocchio: centre of mass, frames and the legs' inverse kinematics.

The controller computes with its own model, built from the URDF as shipped (Pinocchio
reads `package://` paths through `unitree_g1.package_dirs()`); the simulator only
simulates. A configuration `q` is Pinocchio's: pelvis position, pelvis quaternion
(x, y, z, w), then the joints in the model's order; `joint_names` gives that order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pinocchio as pin

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.models import unitree_g1 as g1

IK_TOLERANCE = 1e-5
"""Stop the leg IK's Newton iterations below this error (m, and rad)."""
IK_MAX_ITERATIONS = 8
IK_DAMPING = 1e-6


class G1Model:
    """Pinocchio model of the G1 with a free-flying pelvis (loop thread only: one data)."""

    def __init__(self, hands: bool = False) -> None:
        self.model = pin.buildModelFromUrdf(str(g1.original_urdf(hands)), pin.JointModelFreeFlyer())
        self.data = self.model.createData()
        names = [self.model.names[i] for i in range(2, self.model.njoints)]
        self.joint_names: tuple[str, ...] = tuple(names)
        self.q_index = {n: self.model.joints[self.model.getJointId(n)].idx_q for n in names}
        self.v_index = {n: self.model.joints[self.model.getJointId(n)].idx_v for n in names}
        self.mass = float(sum(inertia.mass for inertia in self.model.inertias))
        self.foot_frame = {side: self.model.getFrameId(g1.FOOT_LINKS[side]) for side in g1.SIDES}
        self.foot_joint = {side: self.model.getJointId(g1.LEG_JOINTS[side][-1]) for side in g1.SIDES}
        self.leg_q = {side: np.array([self.q_index[j] for j in g1.LEG_JOINTS[side]]) for side in g1.SIDES}
        self.leg_v = {side: np.array([self.v_index[j] for j in g1.LEG_JOINTS[side]]) for side in g1.SIDES}
        self.lower = self.model.lowerPositionLimit.copy()
        self.upper = self.model.upperPositionLimit.copy()
        self._frame_ids: dict[str, int] = {}

    # --- configurations ---------------------------------------------------------------------
    def configuration(self, pelvis: Pose, joints: Mapping[str, float]) -> FloatArray:
        """`q` from the pelvis pose (world) and joint angles by name (missing joints 0)."""
        q = pin.neutral(self.model)
        q[:3] = pelvis.position
        q[3:7] = pelvis.orientation
        for name, value in joints.items():
            index = self.q_index.get(name)
            if index is not None:
                q[index] = value
        return np.asarray(q, dtype=np.float64)

    def set_joints(self, q: FloatArray, names: Sequence[str], values: Iterable[float]) -> None:
        for name, value in zip(names, values, strict=True):
            q[self.q_index[name]] = value

    def velocity(self, linear: FloatArray, angular: FloatArray, pelvis: Pose,
                 joints: Mapping[str, float]) -> FloatArray:
        """`v` from the pelvis' world linear and angular velocity and joint velocities."""
        v = np.zeros(self.model.nv)
        rotation = pin.Quaternion(np.array(pelvis.orientation)).toRotationMatrix()
        v[:3] = rotation.T @ linear  # Pinocchio's free-flyer velocity is in the pelvis frame
        v[3:6] = rotation.T @ angular
        for name, value in joints.items():
            index = self.v_index.get(name)
            if index is not None:
                v[index] = value
        return v

    # --- whole body ---------------------------------------------------------------------------
    def com(self, q: FloatArray, payloads: Iterable[tuple[str, float, Sequence[float]]] = ()) -> FloatArray:
        """Centre of mass (world), including payloads (link, mass kg, offset in the link)."""
        com = np.array(pin.centerOfMass(self.model, self.data, q), dtype=np.float64)
        loads = list(payloads)
        if not loads:
            return np.array(com)
        pin.framesForwardKinematics(self.model, self.data, q)
        total, moment = self.mass, com * self.mass
        for link, mass, offset in loads:
            placement = self.data.oMf[self.frame_id(link)]
            moment = moment + mass * (placement.rotation @ np.asarray(offset) + placement.translation)
            total += mass
        return np.asarray(moment / total, dtype=np.float64)

    def com_and_velocity(self, q: FloatArray, v: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Centre of mass and its velocity (world), robot only."""
        pin.centerOfMass(self.model, self.data, q, v)
        return np.array(self.data.com[0]), np.array(self.data.vcom[0])

    def frame_id(self, link: str) -> int:
        if link not in self._frame_ids:
            self._frame_ids[link] = self.model.getFrameId(link)
        return self._frame_ids[link]

    def frame_pose(self, q: FloatArray, link: str) -> pin.SE3:
        """A link frame's placement (world) at `q` (runs forward kinematics)."""
        pin.forwardKinematics(self.model, self.data, q)
        return pin.updateFramePlacement(self.model, self.data, self.frame_id(link)).copy()

    # --- legs -----------------------------------------------------------------------------------
    def leg_ik(self, side: str, q: FloatArray, target: pin.SE3) -> tuple[FloatArray, float]:
        """Leg joints (the side's six, in `LEG_JOINTS` order) putting the foot frame at
        `target` (world), with the pelvis where `q` has it; starts from `q`'s leg angles.
        Returns the joints and the remaining error (norm of the 6-d log, m and rad)."""
        model, data = self.model, self.data
        qi, vi = self.leg_q[side], self.leg_v[side]
        joint = self.foot_joint[side]
        q = q.copy()
        error = np.inf
        for _ in range(IK_MAX_ITERATIONS):
            pin.forwardKinematics(model, data, q)
            current = data.oMi[joint]
            err = pin.log6(current.actInv(target)).vector
            error = float(np.linalg.norm(err))
            if error < IK_TOLERANCE:
                break
            jacobian = pin.computeJointJacobian(model, data, q, joint)[:, vi]
            jjt = jacobian @ jacobian.T + IK_DAMPING * np.eye(6)
            step = jacobian.T @ np.linalg.solve(jjt, err)
            q[qi] = np.clip(q[qi] + step, self.lower[qi], self.upper[qi])
        return q[qi].copy(), error

    def foot_pose(self, q: FloatArray, side: str) -> pin.SE3:
        """The foot (ankle roll) frame, world, at `q`."""
        pin.forwardKinematics(self.model, self.data, q)
        return self.data.oMi[self.foot_joint[side]].copy()


def se3(position: Sequence[float], yaw: float = 0.0, roll: float = 0.0, pitch: float = 0.0) -> pin.SE3:
    """A placement from a position and roll, pitch, yaw (rad; R = Rz(yaw) Ry(pitch) Rx(roll))."""
    return pin.SE3(pin.rpy.rpyToMatrix(roll, pitch, yaw), np.asarray(position, dtype=np.float64))


__all__ = ["G1Model", "se3"]
