"""The G1's two-arm payload limit, from its model.

With both arms in `arms.CARRY` (forearms forward at tote height) and a load hanging from
the two hands' press points (half each), every arm joint's static torque is the arm's own
gravity torque plus the load's: ``tau_i(m) = a_i + m * b_i`` (Pinocchio: generalized
gravity, and the press point's Jacobian transposed times half the weight). The limit is
the largest `m` with ``|tau_i(m)| <= SAFETY_FACTOR * effort_i`` for all fourteen joints,
efforts from the URDF (shoulders and elbow 25 N m, wrist roll 25 N m, wrist pitch and yaw
5 N m). The remaining 30 % covers accelerations while walking (a walking pelvis
accelerates up and down by up to ~0.2 g); the squeeze loads the wrist yaw, which the load
barely does.

Measured on example-robot-data 6.0.0, Dex3 model: 3.4 kg, bound by the wrist pitch joints
(5 N m; the hand's own weight takes 1.1 N m, the load acts 0.145 m ahead of the axis:
0.71 N m per kg). The shoulder pitch would allow 14 kg, the elbow 12 kg. With a safety
factor of 0.5 it would be 2.0 kg. Unitree rates a G1 arm at about 2-3 kg: the same order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from cellwright.robots.errors import PayloadExceeded
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.arms import CARRY, mirrored
from cellwright.robots.sim.g1.hands import press_point

SAFETY_FACTOR = 0.7
GRAVITY = 9.81


@dataclass(frozen=True)
class PayloadLimit:
    """The limit (kg), the joint that sets it and that joint's effort limit (N m)."""

    mass_kg: float
    joint: str
    effort_nm: float

    def describe(self) -> str:
        return (f"{self.mass_kg:.1f} kg for both arms (URDF effort limits at the carry "
                f"configuration with safety factor {SAFETY_FACTOR}; bound by {self.joint}, "
                f"{self.effort_nm:g} N m)")


@functools.cache
def payload_limit(hands: bool = True) -> PayloadLimit:
    """The payload limit of the G1 model (see the module docstring)."""
    model = pin.buildModelFromUrdf(str(g1.original_urdf(hands)))
    data = model.createData()
    q = pin.neutral(model)
    for side in g1.SIDES:
        for name, value in zip(g1.ARM_JOINTS[side], mirrored(CARRY, side), strict=True):
            q[model.joints[model.getJointId(name)].idx_q] = value
    own = pin.computeGeneralizedGravity(model, data, q)
    pin.computeJointJacobians(model, data, q)
    pin.updateFramePlacements(model, data)
    per_kg = np.zeros(model.nv)
    for side in g1.SIDES:
        frame = model.getFrameId(g1.HAND_LINKS[hands][side])
        placement = data.oMf[frame]
        jacobian = pin.getFrameJacobian(model, data, frame, pin.LOCAL_WORLD_ALIGNED)
        lever = placement.rotation @ np.array(press_point(side) if hands else (0.05, 0.0, 0.0))
        linear = jacobian[:3] - pin.skew(lever) @ jacobian[3:]  # velocity of the press point
        per_kg += linear.T @ np.array([0.0, 0.0, GRAVITY / 2])
    best = PayloadLimit(np.inf, "", 0.0)
    for side in g1.SIDES:
        names = g1.ARM_JOINTS[side]
        _, efforts = g1.limits(names, hands)
        for name, effort in zip(names, efforts, strict=True):
            v = model.joints[model.getJointId(name)].idx_v
            a, b = float(own[v]), float(per_kg[v])
            if abs(b) > 1e-9:
                mass = (SAFETY_FACTOR * float(effort) - a * np.sign(b)) / abs(b)
                if mass < best.mass_kg:
                    best = PayloadLimit(max(0.0, mass), name, float(effort))
    return best


def payload_limit_kg(hands: bool = True) -> float:
    """The most a G1 may carry with both arms (kg)."""
    return payload_limit(hands).mass_kg


def check_payload(owner: str, what: str, mass_kg: float, hands: bool = True) -> None:
    """Raise PayloadExceeded if `mass_kg` is beyond the limit, saying what, the limit and
    where it comes from."""
    limit = payload_limit(hands)
    if not mass_kg <= limit.mass_kg:
        raise PayloadExceeded(f"{owner}: {what} of {mass_kg:.1f} kg exceeds the G1's payload "
                              f"limit of {limit.describe()}")


__all__ = ["SAFETY_FACTOR", "PayloadLimit", "check_payload", "payload_limit", "payload_limit_kg"]
