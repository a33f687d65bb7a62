"""`G1Arm`: one arm of the G1 (seven joints, shoulder to wrist) as an `Arm`.

Joint moves follow quintic trajectories (`robots.trajectory`) capped at `MAX_JOINT_SPEED`
and `MAX_ACCELERATION` (the URDF allows 37 rad/s: a humanoid standing on its own feet must
not swing its arms that fast); `move_pose` solves the arm's IK on the humanoid's own model
(`arm_ik`) with the torso where it is measured. Commands go through the shared body
(`body.command` in `update()`, `body.flush()` in `write()`).

Stop and e-stop hold the joints at their last targets (never cut torque: the arms may be
holding a load); an Unstable fault of the body ends the goal and holds the same way; a
Fallen fault puts the arm in ERROR. While both hands hold a tote (`grasp.BimanualGrasp`),
the arm refuses moves of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import pybullet as p

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.arm import Arm, ArmInfo, ArmState
from cellwright.robots.component import Hazard
from cellwright.robots.errors import (
    EStopActive,
    Fallen,
    LimitViolation,
    MotionStopped,
    MotionTimeout,
    RobotError,
    Unreachable,
)
from cellwright.robots.goal import Goal
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.arm_ik import TORSO_LINK, ArmKinematics, pose_of, se3
from cellwright.robots.sim.g1.body import STANDING_POSE, G1Body
from cellwright.robots.sim.kinematics import IkSolution
from cellwright.robots.trajectory import QuinticMove

DRIVER = "pybullet"
HOME = tuple(STANDING_POSE.get(joint, 0.0) for joint in g1.ARM_JOINTS["left"])
"""Left arm, `ARM_JOINTS` order: the standing pose's arms (`body.STANDING_POSE`), hands
beside the hips and behind the front of the pelvis. Homing next to a table leaves them
clear of its top: with the elbows bent further (1.4 rad), the hands of a G1 homed at the
line's kitting table rose into the table's edge when a pick began, and the pick failed
`unstable`."""
CARRY = (0.29, 0.43, 0.22, 0.25, -0.4, -0.12, -0.38)
"""Left arm: forearms forward at tote height, hands pressing the sides of a 0.40 m wide
tote (the grasp's press point 0.25 m ahead of the torso, 0.225 m to the side, 0.03 m
below the torso frame: a tote on a 0.70 m table)."""
MAX_JOINT_SPEED = 1.5
"""rad/s at speed 1.0."""
MAX_ACCELERATION = 4.0
"""rad/s^2 at speed 1.0."""
IK_POSITION_TOLERANCE_M = 5e-3
IK_ORIENTATION_TOLERANCE_RAD = 0.03
POSITION_TOLERANCE_RAD = 0.02
"""A move is done within this of its goal (position control under gravity sags a little)."""
HAZARD_RADIUS_M = 0.08


def mirrored(left: tuple[float, ...], side: str) -> tuple[float, ...]:
    """A left-arm configuration for `side`: roll and yaw joints change sign on the right."""
    if side == "left":
        return left
    signs = (1, -1, -1, 1, -1, 1, -1)
    return tuple(s * v for s, v in zip(signs, left, strict=True))


class ArmCoordinator(Protocol):
    """Something that drives an arm for a while (the bimanual grasp): the arm calls it
    every tick its goal belongs to it, and commands the joints it returns."""

    def joints_for(self, arm: G1Arm, now_s: float, dt_s: float) -> FloatArray | None:
        ...

    @property
    def holding(self) -> bool:
        ...


class _ArmMotion(Goal[None]):
    def __init__(self, what: str, move: QuinticMove, max_velocity: FloatArray,
                 max_acceleration: FloatArray, timeout_s: float, on_cancel: Any) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.move, self.timeout_s = move, timeout_s
        self.max_velocity, self.max_acceleration = max_velocity, max_acceleration
        self.elapsed_s: float | None = None


class G1Arm(Arm):
    """One G1 arm (see the module docstring).

    Args:
        name: `<robot>/<side>_arm`.
        body: the shared body.
        side: "left" or "right".
        configurations: named joint configurations; default `home` and `carry` (mirrored
            for the right arm).
    """

    def __init__(self, name: str, body: G1Body, side: str,
                 configurations: Mapping[str, tuple[float, ...]] | None = None) -> None:
        super().__init__(name, g1.MODEL, DRIVER)
        self._body, self.side = body, side
        joints = g1.ARM_JOINTS[side]
        limits, _ = g1.limits(joints, body.hands)
        self.frame = g1.HAND_LINKS[body.hands][side]
        default = {"home": mirrored(HOME, side), "carry": mirrored(CARRY, side)}
        self._info = ArmInfo(name, self.kind, g1.MODEL, DRIVER, joint_names=joints, limits=limits,
                             frames=(self.frame,), configurations=dict(configurations or default))
        zeros = np.zeros(len(joints))
        self._state = ArmState(0.0, zeros, zeros, zeros, {})
        self.torso = Pose((0.0, 0.0, 0.0))
        """The torso link's pose, world, as last read (loop thread)."""
        self._kinematics: ArmKinematics | None = None
        self._ik_lock = threading.Lock()
        self._indices: list[int] = []
        self._target: FloatArray | None = None  # the joints last commanded
        self._command: tuple[FloatArray, FloatArray] | None = None
        self._stop_latched = False
        self.coordinator: ArmCoordinator | None = None
        """Set by a bimanual grasp while it drives this arm (loop thread)."""
        body.add_fault_listener(self._on_body_fault)

    # --- queries (any thread) ------------------------------------------------------------
    def info(self) -> ArmInfo:
        return self._info

    def state(self) -> ArmState:
        return self._state

    @property
    def body(self) -> G1Body:
        return self._body

    def hazard_points(self) -> tuple[Hazard, ...]:
        body = self._body
        if body.id is None:
            return ()
        links = [body.link_index[n] for n in (f"{self.side}_elbow_link", f"{self.side}_wrist_yaw_link")]
        points = [s[4] for s in p.getLinkStates(body.id, links, physicsClientId=body.client)]
        return tuple(Hazard((float(x), float(y), float(z)), HAZARD_RADIUS_M) for x, y, z in points)

    def solve(self, pose: Pose, seed: FloatArray | None = None, torso: Pose | None = None) -> IkSolution:
        """IK of the hand frame to a world pose, with the torso at `torso` (measured if
        None), from `seed` (the current joints if None). Any thread, once configured."""
        with self._ik_lock:
            if self._kinematics is None:
                raise Unreachable(f"{self.name}: not configured; activate() it first")
            return self._kinematics.solve(pose, self.torso if torso is None else torso,
                                          self._state.position if seed is None else seed)

    def commanded_pose(self) -> Pose:
        """The hand frame's world pose at the last commanded joints, the torso where it was
        last read (loop thread)."""
        assert self._kinematics is not None and self._target is not None
        return pose_of(se3(self.torso) * self._kinematics.hand_in_torso(self._target))

    def home_pose(self) -> Pose:
        """The hand frame's world pose in the `home` configuration, the torso where it was
        last read (loop thread)."""
        assert self._kinematics is not None
        home = np.array(self._info.configurations["home"])
        return pose_of(se3(self.torso) * self._kinematics.hand_in_torso(home))

    # --- lifecycle (loop thread) -----------------------------------------------------------
    def _configure(self) -> None:
        body = self._body
        body.acquire(self.name)
        self._indices = [body.joint_index[j] for j in self._info.joint_names]
        with self._ik_lock:
            if self._kinematics is None:
                self._kinematics = ArmKinematics(self.side, body.hands)
        self.read(body.world.now_s())
        self._target = np.array([body.last_target(j) for j in self._info.joint_names])

    def _shutdown(self) -> None:
        goal = self._goal
        if goal is not None:
            goal.fail(MotionStopped(f"{self.name}: shut down"))
        self._body.remove_fault_listener(self._on_body_fault)
        self._body.release(self.name)

    def _on_stop(self) -> None:
        self._stop_latched = True  # any thread: the next update() holds

    def _on_body_fault(self, error: RobotError) -> None:
        goal = self._goal
        if goal is not None:
            goal.fail(error)
        self._hold()
        if isinstance(error, Fallen):
            self.fail(f"fallen: {error}")

    # --- motion (any thread) ---------------------------------------------------------------
    def _move_joints(self, target: FloatArray, speed: float, timeout_s: float) -> Goal[None]:
        return self._start(target, speed, timeout_s, "joint move")

    def _move_pose(self, pose: Pose, frame: str, speed: float, timeout_s: float) -> Goal[None]:
        solution = self.solve(pose)
        if (solution.position_error_m > IK_POSITION_TOLERANCE_M
                or solution.orientation_error_rad > IK_ORIENTATION_TOLERANCE_RAD):
            raise Unreachable(
                f"{self.name}: no IK solution for {frame} at position {pose.position} "
                f"orientation {pose.orientation} (best misses by "
                f"{solution.position_error_m * 1000:.1f} mm, "
                f"{np.degrees(solution.orientation_error_rad):.1f} deg)")
        return self._start(self.check_joint_target(solution.joints), speed, timeout_s,
                           f"move {frame} to pose")

    def _start(self, target: FloatArray, speed: float, timeout_s: float, what: str) -> Goal[None]:
        coordinator = self.coordinator
        if coordinator is not None and coordinator.holding:
            raise LimitViolation(f"{self.name}: both hands hold a tote; place it before moving "
                                 f"one arm alone")
        max_velocity = np.minimum(self._info.limits.velocity, MAX_JOINT_SPEED) * speed
        max_acceleration = np.full(len(target), MAX_ACCELERATION * speed)
        move = QuinticMove.plan(self._state.position, target, max_velocity, max_acceleration)
        goal = _ArmMotion(f"{self.name}: {what}", move, max_velocity, max_acceleration, timeout_s,
                          on_cancel=lambda: self.wake())
        self._begin(goal)
        return goal

    # --- control loop (loop thread) ----------------------------------------------------------
    def read(self, now_s: float) -> None:
        body = self._body
        if body.id is None:
            return
        states = p.getJointStates(body.id, self._indices, physicsClientId=body.client)
        self.torso = body.link_pose(TORSO_LINK)
        self._state = ArmState(
            stamp_s=now_s,
            position=np.array([s[0] for s in states], dtype=np.float64),
            velocity=np.array([s[1] for s in states], dtype=np.float64),
            effort=np.array([s[3] for s in states], dtype=np.float64),
            frames={self.frame: body.link_pose(self.frame)})

    def update(self, now_s: float, dt_s: float) -> None:
        if self._body.id is None:
            return
        stop_latched, self._stop_latched = self._stop_latched, False
        goal = self._goal
        if goal is None or goal.done():
            if stop_latched:
                self._hold()
        elif self.coordinator is not None and not isinstance(goal, _ArmMotion):
            joints = self.coordinator.joints_for(self, now_s, dt_s)
            if joints is not None:
                self._set(joints, np.zeros(len(joints)))
        elif isinstance(goal, _ArmMotion):
            self._advance(goal, dt_s, stop_latched)
        command, self._command = self._command, None
        if command is not None:
            self._body.command(self._info.joint_names, *command)

    def write(self) -> None:
        if self._body.id is not None:
            self._body.flush()

    # --- internals (loop thread) -------------------------------------------------------------
    def _advance(self, goal: _ArmMotion, dt_s: float, stop_latched: bool) -> None:
        if goal.cancel_requested or self.stop_requested or stop_latched:
            self._hold()
            goal.fail(EStopActive(f"{goal.what}: e-stopped during motion") if self.estopped
                      else MotionStopped(f"{goal.what}: stopped on request"))
            return
        position = self._state.position
        if goal.elapsed_s is None:  # first tick: start from where the arm is
            if np.max(np.abs(position - goal.move.start)) > POSITION_TOLERANCE_RAD:
                goal.move = QuinticMove.plan(position, goal.move.goal, goal.max_velocity,
                                             goal.max_acceleration)
            goal.elapsed_s = 0.0
        else:
            goal.elapsed_s += dt_s * self.speed_override
        move, elapsed = goal.move, goal.elapsed_s
        goal.progress = min(1.0, elapsed / move.duration_s)
        if (elapsed >= move.duration_s
                and np.max(np.abs(position - move.goal)) < POSITION_TOLERANCE_RAD):
            goal.succeed(None)
            return
        if elapsed > goal.timeout_s:
            self._hold()
            goal.fail(MotionTimeout(f"{goal.what}: not done after {goal.timeout_s:.2f} s "
                                    f"(planned {move.duration_s:.2f} s)"))
            return
        positions, velocities = move.sample(elapsed + dt_s * self.speed_override)
        self._set(positions, velocities * self.speed_override)

    def _set(self, positions: FloatArray, velocities: FloatArray) -> None:
        self._target = positions.copy()
        self._command = (positions, velocities)

    def _hold(self) -> None:
        """Keep the last targets (not the measured joints: under a load they sag)."""
        if self._target is not None:
            self._command = (self._target.copy(), np.zeros(len(self._target)))


__all__ = ["CARRY", "HOME", "G1Arm", "mirrored"]
