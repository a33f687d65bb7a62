"""The per-tick whole-body controller of the G1's legs (pure computation on Pinocchio).

Every control tick (the world's dt; tested at 480 Hz), given the measured pelvis pose and
velocity and every joint's angle and speed:

1. reference: the DCM (capture point) reference of the walk's ZMP timeline
   (`gait.ZmpTimeline`, exact for its piecewise-linear ZMP), and a CoM reference
   integrated from it (`c_dot = omega (xi_ref - c)`): re-planned every tick, since an
   adjusted footstep changes the timeline at once;
2. stabilizer, from the measured DCM `xi = c + c_dot / omega` (Pinocchio, measured
   joints and pelvis state, payloads included):
   - step adjustment: during single support the swing foot's landing point moves so
     that the re-planned DCM reference passes through the measured DCM (capture
     stepping), with a dead band, a rate and a bounded reach (`StabilizerGains`);
   - ankle strategy: the CoM command leads the reference against the DCM error (the ZMP
     moves inside the stance sole to push the DCM back);
   - hip strategy: pelvis roll and pitch errors (and rates) tilt the pelvis command the
     other way through the stance hips;
3. whole-body leg IK (Pinocchio): the pelvis placed so that the whole-body CoM (arms as
   measured, payloads included) is at the command, upright and facing between the feet;
   each stance foot flat where it stands, the swing foot along its swing trajectory,
   solved against the *measured* pelvis so that it lands flat and where planned.

It returns the twelve leg joint targets; the legs component sends them (position control
capped at the URDF torques).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pinocchio as pin

from cellwright.api.geometry import FloatArray
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.gait import (
    Footstep,
    GaitParams,
    ZmpTimeline,
    body_of,
    foot_at,
    interpolate_yaw,
    swing_profile,
)
from cellwright.robots.sim.g1.model import G1Model, se3

LEG_JOINTS = g1.LEG_JOINTS["left"] + g1.LEG_JOINTS["right"]


@dataclass(frozen=True)
class StabilizerGains:
    """Gains of the stabilizer (see the module docstring)."""

    attitude_p: float = 0.0
    """Pelvis tilt command per rad of measured tilt (hip strategy)."""
    attitude_d: float = 0.0
    """... per rad/s of measured tilt rate."""
    ankle: float = 0.5
    """CoM command offset per m of DCM error (ankle strategy)."""
    step_gain: float = 0.0
    """Fraction of the footstep shift that would cancel the DCM error applied per tick."""
    step_deadband_m: float = 0.01
    step_reach_m: tuple[float, float, float, float] = (-0.06, 0.08, -0.02, 0.08)
    """Bounds of a footstep adjustment: backward, forward, inward, outward (m)."""
    step_until: float = 0.75
    """No adjustment after this fraction of single support (the foot is coming down)."""
    swing_tilt: float = 0.0
    """How much of the measured pelvis tilt the swing leg is solved against (1: all,
    so the foot comes down flat on a tilted body), faded out from 60 % of single
    support to touchdown."""
    dcm_filter_s: float = 0.02
    """Time constant of the measured DCM's low-pass filter (contacts chatter at 480 Hz)."""
    replan_fade_s: float = 0.2
    """How long the DCM reference's jump at a re-plan takes to enter the error (s)."""
    com_follow: float = 0.0
    """Fraction of (measured - reference) CoM blended into the reference per tick."""


@dataclass
class Measured:
    """What the controller reads each tick (world frame)."""

    pelvis_position: FloatArray
    pelvis_orientation: FloatArray  # quaternion x, y, z, w
    pelvis_linear: FloatArray
    pelvis_angular: FloatArray
    q_joints: FloatArray  # model order (G1Model.joint_names)
    v_joints: FloatArray
    payloads: list[tuple[str, float, tuple[float, float, float]]] = field(default_factory=list)
    feet: dict[str, Footstep] = field(default_factory=dict)
    """Where the feet are (floor x, y and yaw of the ankle-roll frames)."""


@dataclass
class Estimate:
    """What the controller computed this tick (for the state and the logs)."""

    com: FloatArray
    com_velocity: FloatArray
    dcm: FloatArray
    dcm_ref: FloatArray
    zmp_ref: FloatArray
    com_ref: FloatArray
    phase: str
    step_index: int
    swing: str | None
    adjustment: FloatArray


def _rpy(quaternion: FloatArray) -> tuple[float, float, float]:
    rotation = pin.Quaternion(np.asarray(quaternion)).toRotationMatrix()
    roll, pitch, yaw = pin.rpy.matrixToRpy(rotation)
    return float(roll), float(pitch), float(yaw)


class WholeBodyController:
    """Walks and stands the G1 (loop thread; one instance per robot)."""

    def __init__(self, model: G1Model, params: GaitParams, dt: float,
                 gains: StabilizerGains | None = None) -> None:
        self.model = model
        self.params = params
        self.gains = gains or StabilizerGains()
        self.dt = dt
        self.omega = params.omega
        self.pelvis_height = 0.0
        self.feet: dict[str, Footstep] = {}
        self.timeline: ZmpTimeline | None = None
        self.walk_t = 0.0
        self.com_ref = np.zeros(2)
        self.com_vel_ref = np.zeros(2)
        self.stand_point = np.zeros(2)
        self.q_cmd = np.zeros(model.model.nq)
        self.legs = np.zeros(12)
        self._adjust: dict[int, FloatArray] = {}
        self._nominal: dict[int, Footstep] = {}
        self._swing_start: dict[int, Footstep] = {}
        self._stop_requested = False
        self._dcm_lp: FloatArray | None = None
        self._bump = np.zeros(2)
        self._version = -1
        self._xi_prev: FloatArray | None = None
        self._p_prev = np.zeros(2)
        self.landed = 0
        """How many footsteps of the walk have landed (and been anchored)."""
        self.estimate: Estimate | None = None
        self.pelvis_target: tuple[FloatArray, FloatArray] | None = None
        """The pelvis pose commanded this tick (position, quaternion x, y, z, w)."""

    # --- modes ------------------------------------------------------------------------------
    def reset(self, measured: Measured, feet: dict[str, Footstep], pelvis_height: float) -> None:
        """Stand where the robot is (feet as given), holding the measured CoM."""
        self.feet = dict(feet)
        self.pelvis_height = pelvis_height
        self.timeline = None
        q = self._measured_q(measured)
        com = self.model.com(q, measured.payloads)
        self.com_ref = com[:2].copy()
        self.com_vel_ref = np.zeros(2)
        self.stand_point = self._support_centre()
        self.q_cmd = q.copy()
        self.legs = np.concatenate([q[self.model.leg_q["left"]], q[self.model.leg_q["right"]]])

    def walk(self, steps: list[Footstep]) -> None:
        """Start walking the footsteps from the current stance (the CoM reference goes on
        from where it is)."""
        self.timeline = ZmpTimeline(self.com_ref.tolist(), self.feet["left"], self.feet["right"],
                                    steps, self.params)
        self.walk_t = 0.0
        self._adjust.clear()
        self._nominal = dict(enumerate(steps))
        self._swing_start.clear()
        self._stop_requested = False
        self.landed = 0

    @property
    def walking(self) -> bool:
        return self.timeline is not None

    def stop_soon(self, *, join: bool = True) -> list[Footstep]:
        """Cut the walk short: finish the step in progress (a swing foot lands where it
        was going), then, if `join`, one step to bring the feet side by side, and stand.
        Returns the footsteps kept."""
        timeline = self.timeline
        if timeline is None:
            return []
        k, phase, _ = timeline.phase(self.walk_t)
        keep = k + 1 if phase == "single" else k
        steps = timeline.steps[:keep]
        if join and steps:
            feet = timeline.feet_before(keep)
            last = steps[-1]
            other = "right" if last.side == "left" else "left"
            body = body_of(feet["left"], feet["right"])
            joined = foot_at(other, body, self.params.step_width_m)
            if math.hypot(joined.x - feet[other].x, joined.y - feet[other].y) > 0.01:
                steps.append(joined)
        if join and not steps:  # still in the first double support: stand where it is
            self.timeline = None
            self.stand_point = self._support_centre()
            return []
        timeline.steps = steps
        timeline.build()
        return list(steps)

    def extend(self, steps: list[Footstep]) -> None:
        """Append footsteps to the walk in progress (after `stop_soon(join=False)`)."""
        timeline = self.timeline
        if timeline is None:
            return
        base = len(timeline.steps)
        timeline.steps.extend(steps)
        self._nominal.update({base + i: step for i, step in enumerate(steps)})
        timeline.build()

    def steps_left(self) -> int:
        """Footsteps of the walk not landed yet."""
        return 0 if self.timeline is None else len(self.timeline.steps) - self.landed

    def remaining_s(self) -> float:
        return 0.0 if self.timeline is None else max(0.0, self.timeline.end_s - self.walk_t)

    # --- the tick -----------------------------------------------------------------------------
    def tick(self, measured: Measured) -> FloatArray:
        """One control tick: the twelve leg joint targets (`LEG_JOINTS` order)."""
        model, pr, gains, omega, dt = self.model, self.params, self.gains, self.omega, self.dt
        q_meas = self._measured_q(measured)
        v_meas = self._measured_v(measured)
        com, com_vel = model.com_and_velocity(q_meas, v_meas)
        if measured.payloads:
            com = model.com(q_meas, measured.payloads)
        dcm_raw = com[:2] + com_vel[:2] / omega
        if self._dcm_lp is None:
            self._dcm_lp = dcm_raw
        self._dcm_lp = self._dcm_lp + min(1.0, dt / gains.dcm_filter_s) * (dcm_raw - self._dcm_lp)
        dcm = self._dcm_lp

        swing: str | None = None
        phase, k, fraction = "double", 0, 0.0
        timeline = self.timeline
        feet = self.feet
        if timeline is not None:
            self.walk_t += dt
            t = self.walk_t
            k, phase, fraction = timeline.phase(t)
            if phase == "double" and 0 < k != self.landed and measured.feet:
                self._anchor(timeline, k - 1, measured.feet)
            if phase == "single":
                swing = timeline.steps[k].side
                self._adjust_step(timeline, k, t, fraction, dcm)
            feet = timeline.feet_before(k)
            xi_ref = timeline.dcm(t)
            p_ref = timeline.zmp(t)
            if t >= timeline.end_s:
                self.feet = timeline.feet_before(len(timeline.steps))
                self.stand_point = self._support_centre()
                self.timeline = None
                feet = self.feet
        else:
            xi_ref = p_ref = self.stand_point
        # CoM reference: stable part of the LIPM driven by the ZMP timeline
        com_vel_ref = omega * (xi_ref - self.com_ref)
        self.com_ref = self.com_ref + com_vel_ref * dt
        self.com_vel_ref = com_vel_ref
        if gains.com_follow > 0.0:
            self.com_ref += gains.com_follow * (com[:2] - self.com_ref)
        # bumpless re-planning: a re-plan that moves the DCM reference at once (a footstep
        # dropped, adjusted or anchored) must not jerk the body through the ankle term; the
        # jump is taken out of the error and fades over `replan_fade_s`
        version = timeline.version if timeline is not None else -1
        if self._xi_prev is not None and version != self._version:
            predicted = self._xi_prev + omega * (self._xi_prev - self._p_prev) * dt
            self._bump -= xi_ref - predicted
        self._version, self._xi_prev, self._p_prev = version, np.array(xi_ref), np.array(p_ref)
        self._bump *= max(0.0, 1.0 - dt / gains.replan_fade_s)
        error = dcm - (xi_ref + self._bump)
        com_cmd = self.com_ref - gains.ankle * error

        # pelvis command: whole-body CoM at com_cmd, attitude feedback
        roll, pitch, yaw_m = _rpy(measured.pelvis_orientation)
        yaw = body_of(feet["left"], feet["right"])[2]
        if swing is not None and timeline is not None:
            target = self._swing_target(timeline, k)
            stance = feet["right" if swing == "left" else "left"]
            yaw = body_of(*(sorted([stance, _blend(feet[swing], target, fraction)],
                                   key=lambda f: f.side)))[2]
        w_body = measured.pelvis_angular
        c, s = math.cos(yaw_m), math.sin(yaw_m)
        roll_rate = c * w_body[0] + s * w_body[1]
        pitch_rate = -s * w_body[0] + c * w_body[1]
        cmd_roll = -gains.attitude_p * roll - gains.attitude_d * roll_rate
        cmd_pitch = -gains.attitude_p * pitch - gains.attitude_d * pitch_rate
        q = self.q_cmd
        q[7:] = q_meas[7:]
        q[model.leg_q["left"]] = self.legs[:6]
        q[model.leg_q["right"]] = self.legs[6:]
        q[:3] = (0.0, 0.0, 0.0)
        q[3:7] = pin.Quaternion(pin.rpy.rpyToMatrix(0.0, 0.0, yaw)).coeffs()
        offset = model.com(q, measured.payloads)
        pelvis_cmd = np.array([com_cmd[0] - offset[0], com_cmd[1] - offset[1], self.pelvis_height])
        rotation_cmd = pin.rpy.rpyToMatrix(cmd_roll, cmd_pitch, yaw)
        q[:3] = pelvis_cmd
        q[3:7] = pin.Quaternion(rotation_cmd).coeffs()
        self.pelvis_target = (pelvis_cmd.copy(), np.array(pin.Quaternion(
            pin.rpy.rpyToMatrix(0.0, 0.0, yaw)).coeffs()))

        legs = self.legs.copy()
        for i, side in enumerate(g1.SIDES):
            if side == swing and timeline is not None:
                target_foot = self._swing_target(timeline, k)
                start = self._swing_start.setdefault(k, feet[side])
                progress, height = swing_profile(fraction, pr.step_height_m)
                placement = se3((start.x + (target_foot.x - start.x) * progress,
                                 start.y + (target_foot.y - start.y) * progress,
                                 height + 0.0355),
                                interpolate_yaw(start.yaw, target_foot.yaw, progress))
                # against the measured pelvis tilt, so the foot comes down flat; blended
                # into the commanded one before touchdown, so the leg's target does not
                # jump when it becomes a stance leg
                blend = gains.swing_tilt * min(1.0, max(0.0, (1.0 - fraction) / 0.4))
                tilt = (blend * roll + (1 - blend) * cmd_roll, blend * pitch + (1 - blend) * cmd_pitch)
                q_swing = q.copy()
                q_swing[3:7] = pin.Quaternion(pin.rpy.rpyToMatrix(tilt[0], tilt[1], yaw)).coeffs()
                solution, _ = model.leg_ik(side, q_swing, placement)
            else:
                foot = feet[side]
                placement = se3((foot.x, foot.y, 0.0355), foot.yaw)
                solution, _ = model.leg_ik(side, q, placement)
            legs[6 * i: 6 * i + 6] = solution
            q[model.leg_q[side]] = solution
        self.legs = legs
        self.estimate = Estimate(com, com_vel, dcm, xi_ref, p_ref, self.com_ref.copy(), phase, k,
                                 swing, self._adjust.get(k, np.zeros(2)))
        return legs

    # --- internals ---------------------------------------------------------------------------
    def _anchor(self, timeline: ZmpTimeline, k: int, feet: dict[str, Footstep]) -> None:
        """Step k has landed: from now on the plan uses where that foot really is (a foot
        that landed a little off, or slipped, would otherwise be fought by the stance leg)."""
        self.landed = k + 1
        step = timeline.steps[k]
        real = feet[step.side]
        if math.hypot(real.x - step.x, real.y - step.y) > 1e-3 or abs(real.yaw - step.yaw) > 2e-3:
            timeline.steps[k] = replace(step, x=real.x, y=real.y, yaw=real.yaw)
            timeline.build()

    def _swing_target(self, timeline: ZmpTimeline, k: int) -> Footstep:
        return timeline.steps[k]

    def _adjust_step(self, timeline: ZmpTimeline, k: int, t: float, fraction: float,
                     dcm: FloatArray) -> None:
        """Move step k's landing so that the re-planned DCM reference meets the measured
        DCM (capture stepping), within the reach and the dead band."""
        gains = self.gains
        if gains.step_gain <= 0.0 or fraction > gains.step_until:
            return
        error = dcm - timeline.dcm(t)
        if float(np.linalg.norm(error)) < gains.step_deadband_m:
            return
        # sensitivity of xi_ref(t) to the footstep: the weight of its ZMP breakpoints
        nominal = self._nominal[k]
        probe = timeline.steps[k]
        timeline.steps[k] = probe.shifted(0.01, 0.0)
        timeline.build()
        moved = timeline.dcm(t)
        timeline.steps[k] = probe
        timeline.build()
        sensitivity = float((moved - timeline.dcm(t))[0] / 0.01)
        if sensitivity < 1e-3:
            return
        shift = self._adjust.get(k, np.zeros(2)) + gains.step_gain * error / sensitivity
        c, s = math.cos(nominal.yaw), math.sin(nominal.yaw)
        forward = c * shift[0] + s * shift[1]
        lateral = -s * shift[0] + c * shift[1]
        back, ahead, inward, outward = gains.step_reach_m
        forward = min(ahead, max(back, forward))
        sign = 1.0 if nominal.side == "left" else -1.0
        lateral = sign * min(outward, max(-inward, sign * lateral))
        shift = np.array([c * forward - s * lateral, s * forward + c * lateral])
        self._adjust[k] = shift
        timeline.steps[k] = nominal.shifted(float(shift[0]), float(shift[1]))
        timeline.build()

    def _support_centre(self) -> FloatArray:
        return np.asarray((self.feet["left"].point() + self.feet["right"].point()) / 2)

    def _measured_q(self, measured: Measured) -> FloatArray:
        q = np.empty(self.model.model.nq)
        q[:3] = measured.pelvis_position
        q[3:7] = measured.pelvis_orientation
        q[7:] = measured.q_joints
        return q

    def _measured_v(self, measured: Measured) -> FloatArray:
        v = np.empty(self.model.model.nv)
        rotation = pin.Quaternion(np.asarray(measured.pelvis_orientation)).toRotationMatrix()
        v[:3] = rotation.T @ measured.pelvis_linear
        v[3:6] = rotation.T @ measured.pelvis_angular
        v[6:] = measured.v_joints
        return v


def _blend(a: Footstep, b: Footstep, s: float) -> Footstep:
    return replace(a, x=a.x + (b.x - a.x) * s, y=a.y + (b.y - a.y) * s,
                   yaw=interpolate_yaw(a.yaw, b.yaw, s))


__all__ = ["LEG_JOINTS", "Estimate", "Measured", "StabilizerGains", "WholeBodyController"]
