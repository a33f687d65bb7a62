"""`BimanualGrasp`: a G1 with Dex3 hands picks up a box-shaped tote between its hands and
puts it down again. Nothing but the contacts' friction holds the tote.

How a skill calls it (any thread; the goals run on the control loop)::

    grasp = BimanualGrasp(left_arm, right_arm, left_hand, right_hand)   # once per robot
    result = grasp.pick(Tote(body_id, size_m=(0.30, 0.40, 0.15), mass_kg=2.0)).result()
    if not result.held:
        ...                                  # result.reason: slipped, no contact, ...
    ...                                      # walk: the arms keep squeezing
    grasp.place().result()                   # lower onto the table, hands out,
                                             # back to home along the reach path

`pick` raises PayloadExceeded at once for a tote heavier than `payload.payload_limit`;
its goal fails with Unreachable if no grasp of the tote is within the arms' reach.

Pick phases (each advances `dt * speed_override`; 0 holds everything where it is):
    reach    both hands go to the pre-grasp along a path in the world frame that keeps
             them off the table and the tote: up by `RAISE_M` and out to the pre-grasp's
             side (beside the body), forward while turning to the grasp orientation,
             then straight down to the pre-grasp: the press points
             (`hands.PRESS_POINT`, fingers in `PRESS_SHAPE`) `PRE_GRASP_M` outside the
             tote's side walls at its mid-height, fingers forward and pitched down
             `PRESS_PITCH_RAD`, as near the tote's middle as the arms reach
    squeeze  both hands move inward at `APPROACH_M_S` until they touch, then an
             admittance loop moves each hand's target to bring its measured normal force
             on the tote to `squeeze_n` (a bounded force under position control; the arm
             joints stay capped at the URDF torques, and the 5 N m wrist yaw bends back
             beyond ~30 N). Done when both forces are within `SQUEEZE_BAND` for
             `SQUEEZE_SETTLE_S`
    lift     both press points rise `lift_m` (quintic), the force loop still running
    judge    after `JUDGE_S`: held only if both hands press on the tote (>= HOLD_FORCE_N)
             and the tote rose with them (within `SLIP_M` of `lift_m`); otherwise the
             hands move back out, retreat along the reach path to `home` and the result
             says why
Holding, the arms keep their last joint targets (the squeeze stays; the tote moves with
the torso) and the body's balance model gets half the tote's mass on each hand.

Place phases:
    lower    both press points go down `lower_m` (quintic), stopping early once something
             under the tote bears `RESTING_FRACTION` of its weight; `JUDGE_S` later the
             tote is let go
    release  the hands move back out, then retreat along the reach path to `home`,
             coming down `TUCK_M` behind it (below a table's edge), then forward
    rehome   the arms blend in joint space to the `home` joints (`REHOME_S`), where the
             next pick's reach is planned from

Stop or e-stop of either arm ends the goal and both arms hold their targets: a held tote
stays held (torque is never cut).

Measured (tests/robots/test_g1_tote.py: tote 0.30 x 0.40 x 0.15 m on a 0.70 m table,
friction 0.8 against the hands' 1.0, squeeze 25 N, standing on the G1's own legs): 2 kg
held (rose 94 of 100 mm, 90 mm after 3 s more; it tilts ~0.01 rad/s about the squeeze
axis, the fingertips touching ~15 mm ahead of its centre), friction 0.15 slips.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pinocchio as pin
import pybullet as p

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.carrier import HoldResult
from cellwright.robots.errors import (
    EStopActive,
    LimitViolation,
    MotionStopped,
    MotionTimeout,
    RobotError,
    Unreachable,
)
from cellwright.robots.goal import Goal
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.arm_ik import pose_of, se3
from cellwright.robots.sim.g1.arms import (
    IK_ORIENTATION_TOLERANCE_RAD,
    IK_POSITION_TOLERANCE_M,
    G1Arm,
)
from cellwright.robots.sim.g1.hands import HOLD_FORCE_N, PRESS_SHAPE, G1Hand, mirrored, press_point
from cellwright.robots.sim.g1.payload import check_payload

PRESS_PITCH_RAD = 0.3
"""Fingers pitched down from the tote's depth axis (reach is better than level)."""
PRE_GRASP_M = 0.05
"""How far outside the walls the press points wait before squeezing."""
MAX_DEPTH_M = 0.04
"""How far inside a wall a press point's target may go (beyond: the hand cannot press)."""
APPROACH_M_S = 0.05
ADMITTANCE_M_PER_N_S = 2e-4
"""Target motion per newton of force error per second while squeezing."""
SQUEEZE_N = 25.0
SQUEEZE_BAND = (0.8, 1.6)
"""Settled squeeze forces, fractions of `squeeze_n`: the top is loose because the 5 N m
wrist yaw bends back near 33 N whatever the target (the force then stops following it)."""
SQUEEZE_SETTLE_S = 0.25
SQUEEZE_TIMEOUT_S = 4.0
LIFT_M = 0.10
LIFT_SPEED_M_S = 0.08
JUDGE_S = 0.5
SLIP_M = 0.02
RESTING_FRACTION = 0.25
"""Placing stops lowering once something under the tote bears this much of its weight (a
tote that slipped in the hands on the way reaches the table early; lowering it the full
lifted height then pressed the table through both arms and lifted the G1's heels, which
failed the place `unstable`)."""
RELEASE_S = 0.6
RAISE_M = 0.10
"""The reach path's first leg lifts the hands this far above the higher of where they are
and the pre-grasp."""
TUCK_M = 0.06
"""On the way back home, the hands come down this far behind home, then forward: straight
down to home, the fingertips of a G1 standing close to the assembly table landed on its
top and lifted the robot's heels. (Not on the way out: the IK seeds along a tucked path
ended in a grasp that held a 2 kg tote worse.)"""
REHOME_S = 0.5
"""How long the arms take from the end of the way back to the `home` joints."""
PATH_SPEED_M_S = 0.25
PATH_TURN_RAD_S = 1.5
DEPTH_STEP_M = 0.02
"""Grasp offsets along the tote's depth are tried in these steps, middle first."""
WALL_MARGIN_M = 0.06
"""The press points keep this far from the tote's near and far ends."""
FINGER_DROP_M = 0.06
"""How far the hand (the middle fingertip, in `PRESS_SHAPE` pitched `PRESS_PITCH_RAD`)
reaches below its press point (measured: the finger's AABB 57 mm below)."""
SURFACE_CLEARANCE_M = 0.01
"""The press points are at least `FINGER_DROP_M` + this above the tote's bottom, so the
fingers beside a shallow tote stay off the table it stands on."""
RIM_MARGIN_M = 0.02
"""...and at least this below its top."""


@dataclass(frozen=True)
class Tote:
    """A box-shaped tote: its PyBullet body, outside size (x, y, z in its own frame, m) and
    mass (kg, for the payload check and the balance model)."""

    body_id: int
    size_m: tuple[float, float, float]
    mass_kg: float
    name: str = "tote"


@dataclass(frozen=True)
class PickResult(HoldResult):
    """`held`: both hands press on the tote and it rose with them. `rise_m`: how far the
    tote rose; `forces_n`: left and right normal forces on it at the end."""

    forces_n: tuple[float, float] = (0.0, 0.0)


@dataclass
class _Plan:
    """Where the hands go, world frame: squeeze axis `s` (to the left), depth axis `d`
    (away from the robot), the left wall's press point at depth 0 and the hand rotation."""

    centre: FloatArray
    s: FloatArray
    half_width: float
    rotation: FloatArray
    start_z: float


@dataclass
class _Motion:
    """The phase machine shared by a pick and a place."""

    tote: Tote
    kind: str
    phase: str
    squeeze_n: float
    lift_m: float
    plan: _Plan | None = None
    path: dict[str, list[pin.SE3]] = field(default_factory=dict)
    legs_s: list[float] = field(default_factory=list)
    after: str = ""
    depth: dict[str, float] = field(default_factory=dict)
    rehome_from: dict[str, FloatArray] = field(default_factory=dict)
    lifted_m: float = 0.0
    clock_s: float = 0.0
    phase_s: float = 0.0
    settled_s: float = 0.0
    timeout_s: float = 30.0
    result: PickResult | None = None


class _Lead(Goal[PickResult]):
    def __init__(self, what: str, motion: _Motion, on_cancel: Callable[[], None]) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.motion = motion


class BimanualGrasp:
    """Both arms and hands of one G1 holding a tote between the hands (module docstring).

    Args:
        left, right: the two arms (sharing one body, with Dex3 hands).
        left_hand, right_hand: their hands.
    """

    def __init__(self, left: G1Arm, right: G1Arm, left_hand: G1Hand, right_hand: G1Hand) -> None:
        self.arms = {"left": left, "right": right}
        self.hands = {"left": left_hand, "right": right_hand}
        self.body = left.body
        self.held: Tote | None = None
        self._lead: _Lead | None = None
        self._follow: Goal[None] | None = None
        self._joints: dict[str, FloatArray | None] = {"left": None, "right": None}
        self._seeds: dict[str, FloatArray] = {}
        self._ticked_at = -1.0
        for arm in self.arms.values():
            arm.coordinator = self

    @property
    def holding(self) -> bool:
        return self.held is not None

    # --- any thread -------------------------------------------------------------------------
    def pick(self, tote: Tote, *, squeeze_n: float = SQUEEZE_N, lift_m: float = LIFT_M,
             timeout_s: float = 30.0) -> Goal[PickResult]:
        """Squeeze `tote` between the hands and lift it `lift_m` (module docstring).

        Raises (at once): PayloadExceeded, LimitViolation (already holding one),
        NotActive, MotionStopped, EStopActive.
        """
        left = self.arms["left"]
        check_payload(left.name.split("/")[0], f"{tote.name}", tote.mass_kg, self.body.hands)
        if self.held is not None:
            raise LimitViolation(f"{left.name}: already holding {self.held.name}; place it first")
        motion = _Motion(tote, "pick", "plan", squeeze_n, lift_m, timeout_s=timeout_s)
        self._seeds = {}
        return self._start(motion, f"pick {tote.name}")

    def place(self, *, lower_m: float | None = None, timeout_s: float = 20.0) -> Goal[PickResult]:
        """Lower the held tote by `lower_m` (the lifted height by default), or until it
        rests on something, and move the hands out; the result's `held` is False once it
        is let go."""
        if self.held is None:
            raise LimitViolation(f"{self.arms['left'].name}: holds no tote to place")
        motion = _Motion(self.held, "place", "lower", 0.0, LIFT_M if lower_m is None else lower_m,
                         timeout_s=timeout_s)
        return self._start(motion, f"place {self.held.name}")

    def _start(self, motion: _Motion, what: str) -> Goal[PickResult]:
        left, right = self.arms["left"], self.arms["right"]
        lead = _Lead(f"{left.name}: {what}", motion, on_cancel=lambda: left.wake())
        follow: Goal[None] = Goal(f"{right.name}: {what}", on_cancel=lambda: right.wake())
        right._begin(follow)
        left._begin(lead)
        self._lead, self._follow = lead, follow
        return lead

    # --- loop thread --------------------------------------------------------------------------
    def joints_for(self, arm: G1Arm, now_s: float, dt_s: float) -> FloatArray | None:
        """The joints `arm` commands this tick (None: keep the last targets)."""
        if self._ticked_at != now_s:
            self._ticked_at = now_s
            self._joints = {"left": None, "right": None}
            lead = self._lead
            if lead is not None and not lead.done():
                try:
                    self._step(lead, lead.motion, dt_s)
                except RobotError as error:
                    self._end(lead, error)
        return self._joints[arm.side]

    def _step(self, lead: _Lead, m: _Motion, dt_s: float) -> None:
        follow = self._follow
        arms = self.arms.values()
        if (lead.cancel_requested or (follow is not None and (follow.cancel_requested or follow.done()))
                or any(a.stop_requested for a in arms)):
            estop = any(a.estopped for a in arms)
            if m.phase in ("lift", "judge"):
                self.held = m.tote  # stopped with the tote in the hands: they keep it
            self._end(lead, EStopActive(f"{lead.what}: e-stopped") if estop
                      else MotionStopped(f"{lead.what}: stopped on request"))
            return
        dt = dt_s * min(a.speed_override for a in arms)
        if dt == 0.0:
            return  # a protective stop: hold, no timer runs
        m.clock_s += dt
        m.phase_s += dt
        if m.clock_s > m.timeout_s:
            raise MotionTimeout(f"{lead.what}: not done after {m.timeout_s:.1f} s (phase {m.phase})")
        phases = {"plan": self._plan, "path": self._path, "squeeze": self._squeeze,
                  "lift": self._lift, "judge": self._judge, "lower": self._lower,
                  "release": self._release, "rehome": self._rehome, "done": self._done}
        phases[m.phase](lead, m, dt)

    # --- pick phases ----------------------------------------------------------------------------
    def _plan(self, lead: _Lead, m: _Motion, dt: float) -> None:
        m.plan = self._grasp_plan(m.tote, m.lift_m)
        for side, hand in self.hands.items():
            hand.hold_shape(np.array(mirrored(PRESS_SHAPE, side)))
        m.depth = {side: -PRE_GRASP_M for side in self.arms}
        self._follow_path(m, self._reach_path(m.plan), "squeeze")

    def _path(self, lead: _Lead, m: _Motion, dt: float) -> None:
        """Both palms along their waypoints, leg by leg (quintic in time), IK each tick."""
        elapsed = m.phase_s
        for leg, duration in enumerate(m.legs_s):
            if elapsed <= duration or leg == len(m.legs_s) - 1:
                u = min(1.0, elapsed / duration)
                blend = _quintic(u)
                for side, arm in self.arms.items():
                    a, b = m.path[side][leg], m.path[side][leg + 1]
                    self._joints[side] = self._solve(arm, _between(a, b, blend))
                break
            elapsed -= duration
        total = sum(m.legs_s)
        if m.kind == "pick" and m.after == "squeeze":
            lead.progress = 0.3 * min(1.0, m.phase_s / total)
        if m.phase_s >= total + 0.2:
            self._phase(m, m.after)

    def _squeeze(self, lead: _Lead, m: _Motion, dt: float) -> None:
        forces = self._regulate(m, dt)
        low, high = SQUEEZE_BAND
        if all(low * m.squeeze_n <= f <= high * m.squeeze_n for f in forces):
            m.settled_s += dt
        else:
            m.settled_s = 0.0
        lead.progress = 0.4
        if m.settled_s >= SQUEEZE_SETTLE_S:
            self._phase(m, "lift")
        elif m.phase_s > SQUEEZE_TIMEOUT_S:
            self._fail_pick(m, f"the hands could not squeeze the tote to {m.squeeze_n:.0f} N "
                               f"(left {forces[0]:.1f} N, right {forces[1]:.1f} N)", forces)

    def _lift(self, lead: _Lead, m: _Motion, dt: float) -> None:
        duration = max(0.2, 1.875 * m.lift_m / LIFT_SPEED_M_S)
        u = min(1.0, m.phase_s / duration)
        m.lifted_m = m.lift_m * _quintic(u)
        self._regulate(m, dt)
        lead.progress = 0.5 + 0.4 * u
        if u >= 1.0:
            self._phase(m, "judge")

    def _judge(self, lead: _Lead, m: _Motion, dt: float) -> None:
        forces = self._regulate(m, dt)
        if m.phase_s < JUDGE_S:
            return
        assert m.plan is not None
        rise = self._tote_z(m.tote) - m.plan.start_z
        touching = all(f >= HOLD_FORCE_N for f in forces)
        if touching and rise >= m.lift_m - SLIP_M:
            self.held = m.tote
            for side in self.arms:
                self.body.set_payload(f"{m.tote.name}-{side}", g1.HAND_LINKS[True][side],
                                      m.tote.mass_kg / 2, press_point(side))
            self._end(lead, PickResult(True, "held", rise, forces))
            return
        why = ("slipped" if touching else "lost contact") + (
            f": the tote rose {rise * 1000:.0f} mm of {m.lift_m * 1000:.0f} mm "
            f"(left {forces[0]:.1f} N, right {forces[1]:.1f} N)")
        self._fail_pick(m, why, forces, rise)

    def _fail_pick(self, m: _Motion, reason: str, forces: tuple[float, float], rise: float = 0.0) -> None:
        m.result = PickResult(False, reason, rise, forces)
        self._phase(m, "release")

    # --- place and release -----------------------------------------------------------------------
    def _lower(self, lead: _Lead, m: _Motion, dt: float) -> None:
        if m.plan is None:
            m.plan = self._hold_plan()
            m.depth = {side: 0.0 for side in self.arms}
        duration = max(0.2, 1.875 * m.lift_m / LIFT_SPEED_M_S)
        u = min(1.0, m.phase_s / duration)
        if m.settled_s == 0.0 and u < 1.0 and not self._resting(m.tote):
            m.lifted_m = -m.lift_m * _quintic(u)
            self._targets(m)
            lead.progress = 0.8 * u
            return
        m.settled_s += dt  # on the table (the hands stop there) or lowered all the way
        if m.settled_s >= JUDGE_S:
            for side in self.arms:
                self.body.clear_payload(f"{m.tote.name}-{side}")
            self.held = None
            m.result = PickResult(False, "placed", self._tote_z(m.tote) - m.plan.start_z)
            self._phase(m, "release")

    def _resting(self, tote: Tote) -> bool:
        """Something under the tote (a table) bears at least `RESTING_FRACTION` of its weight:
        lowering further would push the robot up off its heels."""
        upward = sum(float(c[9]) for c in p.getContactPoints(bodyA=tote.body_id, physicsClientId=self.body.client)
                     if c[2] != self.body.id and c[7][2] > 0.7)
        return upward >= RESTING_FRACTION * tote.mass_kg * 9.81

    def _release(self, lead: _Lead, m: _Motion, dt: float) -> None:
        u = min(1.0, m.phase_s / RELEASE_S)
        for side in self.arms:
            m.depth[side] = min(m.depth[side], (1 - u) * m.depth[side] - u * PRE_GRASP_M)
        self._targets(m)
        if u >= 1.0:
            assert m.plan is not None
            path = self._reach_path(m.plan, m.depth, tuck=True)
            self._follow_path(m, {side: list(reversed(poses)) for side, poses in path.items()}, "rehome")

    def _rehome(self, lead: _Lead, m: _Motion, dt: float) -> None:
        """From the path's last IK solution to the `home` joints, in joint space: the arm is
        redundant, so IK back to the home pose left its joints up to 0.24 rad from `home`,
        and the next pick's IK, run from there, missed by mm a tote it reaches from home."""
        if not m.rehome_from:
            m.rehome_from = dict(self._seeds)
        u = min(1.0, m.phase_s / REHOME_S)
        blend = _quintic(u)
        for side, arm in self.arms.items():
            start = m.rehome_from[side]
            self._joints[side] = arm.check_joint_target(start + blend * (_home(arm) - start))
        if u >= 1.0:
            self._phase(m, "done")

    def _done(self, lead: _Lead, m: _Motion, dt: float) -> None:
        assert m.result is not None
        self._end(lead, m.result)

    # --- internals ---------------------------------------------------------------------------------
    def _phase(self, m: _Motion, phase: str) -> None:
        m.phase, m.phase_s, m.settled_s = phase, 0.0, 0.0

    def _end(self, lead: _Lead, outcome: PickResult | RobotError) -> None:
        follow = self._follow
        if isinstance(outcome, PickResult):
            lead.succeed(outcome)
            if follow is not None:
                follow.succeed(None)
        else:
            lead.fail(outcome)
            if follow is not None:
                follow.fail(outcome)

    def _regulate(self, m: _Motion, dt: float) -> tuple[float, float]:
        """One step of the force loop; returns the left and right forces (N)."""
        forces = tuple(self.hands[side].press_force_on(m.tote.body_id) for side in ("left", "right"))
        for side, force in zip(("left", "right"), forces, strict=True):
            if force < 0.5 * m.squeeze_n and m.phase == "squeeze":
                m.depth[side] += APPROACH_M_S * dt
            else:
                m.depth[side] += ADMITTANCE_M_PER_N_S * (m.squeeze_n - force) * dt
            m.depth[side] = min(m.depth[side], MAX_DEPTH_M)
        self._targets(m)
        return forces[0], forces[1]

    def _targets(self, m: _Motion) -> None:
        """IK of both hands for the plan at the current depths and lift."""
        assert m.plan is not None
        for side, arm in self.arms.items():
            self._joints[side] = self._solve(arm, se3(self._palm_pose(m.plan, side, m.depth[side], m.lifted_m)))

    def _solve(self, arm: G1Arm, palm: pin.SE3) -> FloatArray:
        seed = self._seeds.get(arm.side)
        solution = arm.solve(pose_of(palm), seed=seed)
        self._seeds[arm.side] = solution.joints
        return arm.check_joint_target(solution.joints)

    def _follow_path(self, m: _Motion, path: dict[str, list[pin.SE3]], after: str) -> None:
        """Start a path phase: leg durations from the longer side's distance and turn."""
        m.path, m.after = path, after
        m.legs_s = []
        for leg in range(len(path["left"]) - 1):
            duration = 0.2
            for poses in path.values():
                a, b = poses[leg], poses[leg + 1]
                distance = float(np.linalg.norm(b.translation - a.translation))
                turn = float(np.linalg.norm(pin.log3(a.rotation.T @ b.rotation)))
                duration = max(duration, 1.875 * max(distance / PATH_SPEED_M_S, turn / PATH_TURN_RAD_S))
            m.legs_s.append(duration)
        self._phase(m, "path")

    def _reach_path(self, plan: _Plan, depth: dict[str, float] | None = None, *,
                    tuck: bool = False) -> dict[str, list[pin.SE3]]:
        """Per side: the palm at home; with `tuck`, drawn back `TUCK_M`; raised and moved
        out to the pre-grasp's side; above the pre-grasp in its orientation; at the
        pre-grasp (or at `depth`). Reversed with `tuck`, it brings the hands home from
        behind, below a table's top."""
        path = {}
        for side, arm in self.arms.items():
            start = se3(arm.home_pose())
            forward = se3(arm.torso).rotation[:, 0] * np.array([1.0, 1.0, 0.0])
            back = TUCK_M if tuck else 0.0
            tucked = pin.SE3(start.rotation, start.translation - back * forward / np.linalg.norm(forward))
            pre = se3(self._palm_pose(plan, side, -PRE_GRASP_M if depth is None else depth[side], 0.0))
            high = max(start.translation[2], pre.translation[2]) + RAISE_M
            raised = pin.SE3(start.rotation, np.array([tucked.translation[0], pre.translation[1], high]))
            above = pin.SE3(pre.rotation, np.array([*pre.translation[:2], high]))
            path[side] = [start, tucked, raised, above, pre] if tuck else [start, raised, above, pre]
        return path

    def _palm_pose(self, plan: _Plan, side: str, depth: float, lift: float) -> Pose:
        sign = 1.0 if side == "left" else -1.0
        point = (plan.centre + sign * (plan.half_width - depth) * plan.s + np.array([0.0, 0.0, lift]))
        palm = point - plan.rotation @ np.array(press_point(side))
        return pose_of(pin.SE3(plan.rotation, palm))

    def _grasp_plan(self, tote: Tote, lift_m: float) -> _Plan:
        """The grasp nearest the tote's middle that both arms reach at every depth and
        height they will go through; Unreachable if none."""
        body = self.body
        position, orientation = p.getBasePositionAndOrientation(tote.body_id, physicsClientId=body.client)
        rotation = np.array(p.getMatrixFromQuaternion(orientation)).reshape(3, 3)
        torso = se3(self.arms["left"].torso).rotation
        axes = sorted(range(2), key=lambda i: -abs(float(rotation[:, i] @ torso[:, 1])))
        s = rotation[:, axes[0]] * np.sign(rotation[:, axes[0]] @ torso[:, 1])
        d = rotation[:, axes[1]] * np.sign(rotation[:, axes[1]] @ torso[:, 0])
        z = np.array([0.0, 0.0, 1.0])
        fingers = np.cos(PRESS_PITCH_RAD) * d - np.sin(PRESS_PITCH_RAD) * z
        hand_rotation = np.column_stack((fingers, s, np.cross(fingers, s)))
        half_width, half_depth = tote.size_m[axes[0]] / 2, tote.size_m[axes[1]] / 2
        # The middle of the tote's outside box, not its body origin: a tray-shaped tote's
        # origin is at its floor plate (sim_worlds.build), the press points there would be
        # at the table top. A box is symmetric about its middle, so its AABB's centre is it.
        low, high = p.getAABB(tote.body_id, physicsClientId=body.client)
        centre = (np.array(low) + np.array(high)) / 2
        # A shallow tote: pressed higher than its middle, the fingers clear the table.
        centre[2] = min(max(centre[2], low[2] + FINGER_DROP_M + SURFACE_CLEARANCE_M),
                        max(centre[2], high[2] - RIM_MARGIN_M))
        best_miss, reach = np.inf, max(0.0, half_depth - WALL_MARGIN_M)
        for offset in np.arange(0.0, reach + 1e-9, DEPTH_STEP_M):
            plan = _Plan(centre - offset * d, s, half_width, hand_rotation, float(position[2]))
            miss = self._check_reach(plan, lift_m)
            if miss == 0.0:
                return plan
            best_miss = min(best_miss, miss)
        raise Unreachable(f"{self.arms['left'].name}: no grasp of {tote.name} at "
                          f"{tuple(round(float(v), 3) for v in position)} within both arms' reach "
                          f"(the hands miss by {best_miss * 1000:.0f} mm at best); stand closer")

    def _check_reach(self, plan: _Plan, lift_m: float) -> float:
        """0 if both arms reach every pose of the pick with `plan` (the reach path sampled,
        the squeeze depths, the lift), else the largest position miss (m)."""
        worst = 0.0
        for side, arm in self.arms.items():
            poses = [_between(a, b, u) for a, b in itertools.pairwise(self._reach_path(plan)[side])
                     for u in np.linspace(0.0, 1.0, 6)]
            poses += [se3(self._palm_pose(plan, side, depth, lift))
                      for depth, lift in ((0.0, 0.0), (MAX_DEPTH_M, 0.0), (0.0, lift_m))]
            seed = _home(arm)  # where the path starts (the arms are there after a place)
            for pose in poses:
                solution = arm.solve(pose_of(pose), seed=seed)
                if (solution.position_error_m > IK_POSITION_TOLERANCE_M
                        or solution.orientation_error_rad > IK_ORIENTATION_TOLERANCE_RAD):
                    worst = max(worst, solution.position_error_m, 1e-3)
                seed = solution.joints
        return worst

    def _hold_plan(self) -> _Plan:
        """The plan of the grasp in progress, from the hands' commanded poses (pressed into
        the tote by the squeeze), for place."""
        left, right = (se3(self.arms[s].commanded_pose()) for s in ("left", "right"))
        points = {side: pose.act(np.array(press_point(side)))
                  for side, pose in (("left", left), ("right", right))}
        s = points["left"] - points["right"]
        half_width = float(np.linalg.norm(s)) / 2
        assert self.held is not None
        return _Plan((points["left"] + points["right"]) / 2, s / (2 * half_width), half_width,
                     left.rotation, self._tote_z(self.held))

    def _tote_z(self, tote: Tote) -> float:
        position, _ = p.getBasePositionAndOrientation(tote.body_id, physicsClientId=self.body.client)
        return float(position[2])


def _quintic(u: float) -> float:
    """Smooth 0 -> 1 over u in [0, 1], at rest at both ends."""
    return u**3 * (10 - 15 * u + 6 * u**2)


def _home(arm: G1Arm) -> FloatArray:
    return np.array(arm.info().configurations["home"], dtype=np.float64)


def _between(a: pin.SE3, b: pin.SE3, u: float) -> pin.SE3:
    """The pose a fraction `u` from `a` to `b`: straight line, rotation about one axis."""
    rotation = a.rotation @ pin.exp3(u * pin.log3(a.rotation.T @ b.rotation))
    return pin.SE3(rotation, a.translation + u * (b.translation - a.translation))


__all__ = ["BimanualGrasp", "PickResult", "Tote"]
