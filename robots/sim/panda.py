"""A Franka Emika Panda arm with its parallel gripper, simulated in PyBullet.

Threading: every method that touches PyBullet (activation, motion, the step listener)
runs on the world's simulation thread. `state()` only returns the snapshot cached by the
step listener, and `stop()`/`estop()` only set events, so those are safe from any thread.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pybullet as p
import pybullet_data

from cellwright.robots.errors import (
    CollisionDetected,
    EStopActive,
    LimitViolation,
    MotionStopped,
    MotionTimeout,
    NotActive,
    Unreachable,
)
from cellwright.robots.interface import FloatArray, JointLimits, Pose, Robot, RobotInfo, RobotState
from cellwright.robots.sim._world import PhysicsWorld
from cellwright.robots.sim.kinematics import ShadowKinematics
from cellwright.robots.sim.trajectory import QuinticMove

URDF_PATH = os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")
ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
TOOL_LINK = "panda_grasptarget"
READY_POSE = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
MAX_GRIPPER_WIDTH_M = 0.08
INITIAL_FINGER_FORCE_N = 20.0
# Franka's published joint acceleration limits (rad/s^2); the URDF has none.
MAX_ACCELERATION = np.array([15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0])

POSITION_TOLERANCE_RAD = 2e-3
STILL_VELOCITY_RAD_S = 2e-2
POSITION_GAIN = 0.3
COLLISION_FORCE_N = 1.0
# Fingers may brush scenery while grasping; pressing into it is still a collision.
FINGER_COLLISION_FORCE_N = 10.0
SETTLE_S = 0.25
IK_POSITION_TOLERANCE_M = 5e-3
IK_ORIENTATION_TOLERANCE_RAD = 0.03


class PandaArm(Robot):
    """A PyBullet Panda implementing `robots.Robot`; the tool frame is `panda_grasptarget`.

    Moves track a synchronised quintic trajectory under force-limited position control.
    A move ends in `CollisionDetected` when an arm link touches a body that is not a part
    (fingers only above `FINGER_COLLISION_FORCE_N`); parts may be touched freely.

    Args:
        world: the simulated world that owns the PyBullet client and the clock.
        name: the robot's name in its cell.
        base_position: base position in the world frame, metres.
        base_orientation: base quaternion (x, y, z, w).
        initial_joints: arm joint positions at activation (rad); the ready pose by default.
    """

    def __init__(self, world: PhysicsWorld, name: str,
                 base_position: Sequence[float] = (0.0, 0.0, 0.0),
                 base_orientation: Sequence[float] = (0.0, 0.0, 0.0, 1.0),
                 initial_joints: Sequence[float] = READY_POSE) -> None:
        super().__init__()
        self._world = world
        self._name = name
        self._base_position = tuple(float(v) for v in base_position)
        self._base_orientation = tuple(float(v) for v in base_orientation)
        self._initial_joints = np.array(initial_joints, dtype=np.float64)
        self._body: int | None = None
        self._info: RobotInfo | None = None
        self._kinematics: ShadowKinematics | None = None
        self._arm: list[int] = []
        self._fingers: list[int] = []
        self._tool = -1
        self._effort = np.zeros(len(ARM_JOINTS))
        self._contact_baseline: dict[tuple[int, int], float] = {}  # contacts when a move began
        self._latest = RobotState(0.0, np.zeros(7), np.zeros(7), np.zeros(7), Pose((0.0, 0.0, 0.0)),
                                  0.0, False, False)

    # --- queries -------------------------------------------------------------------
    def info(self) -> RobotInfo:
        if self._info is None:
            raise NotActive(f"{self._name}: limits are read from the URDF; call activate() first")
        return self._info

    def state(self) -> RobotState:
        return self._latest  # replaced whole by the sim thread; reading a reference is atomic

    # --- lifecycle hooks -----------------------------------------------------------
    def _activate(self) -> None:
        client = self._world.client
        body = p.loadURDF(URDF_PATH, self._base_position, self._base_orientation,
                          useFixedBase=True, physicsClientId=client)
        by_name = {p.getJointInfo(body, j, physicsClientId=client)[1].decode(): j
                   for j in range(p.getNumJoints(body, physicsClientId=client))}
        by_link = {p.getJointInfo(body, j, physicsClientId=client)[12].decode(): j
                   for j in by_name.values()}
        self._arm = [by_name[n] for n in ARM_JOINTS]
        self._fingers = [by_name[n] for n in FINGER_JOINTS]
        self._tool = by_link[TOOL_LINK]
        infos = [p.getJointInfo(body, j, physicsClientId=client) for j in self._arm]
        limits = JointLimits(lower=np.array([i[8] for i in infos], dtype=np.float64),
                             upper=np.array([i[9] for i in infos], dtype=np.float64),
                             velocity=np.array([i[11] for i in infos], dtype=np.float64))
        self._effort = np.array([i[10] for i in infos], dtype=np.float64)
        self._info = RobotInfo(self._name, "franka_panda", ARM_JOINTS, limits,
                               frozenset({"arm", "gripper"}))
        initial = self.check_joint_target(self._initial_joints.tolist())
        for index, value in zip(self._arm, initial, strict=True):
            p.resetJointState(body, index, float(value), physicsClientId=client)
        for index in self._fingers:
            p.resetJointState(body, index, MAX_GRIPPER_WIDTH_M / 2, physicsClientId=client)
            p.changeDynamics(body, index, lateralFriction=1.0, spinningFriction=0.05,
                             physicsClientId=client)
        # The real hand couples its fingers mechanically, so grasps centre the part.
        coupling = p.createConstraint(body, self._fingers[0], body, self._fingers[1],
                                      p.JOINT_GEAR, (1.0, 0.0, 0.0), (0.0, 0.0, 0.0),
                                      (0.0, 0.0, 0.0), physicsClientId=client)
        p.changeConstraint(coupling, gearRatio=-1, erp=0.1, maxForce=50,
                           physicsClientId=client)
        self._body = body
        self._kinematics = ShadowKinematics(URDF_PATH, self._base_position,
                                            self._base_orientation, self._arm, self._tool,
                                            np.array(READY_POSE))
        self._command_arm(initial, np.zeros(7))
        self._command_fingers(MAX_GRIPPER_WIDTH_M, INITIAL_FINGER_FORCE_N)
        self._world.add_step_listener(self._on_step)
        self._on_step()

    def _deactivate(self) -> None:
        if self._kinematics is not None:
            self._kinematics.close()
        self._body = None
        self._kinematics = None

    # --- motion hooks --------------------------------------------------------------
    def _move_joints(self, target: FloatArray, speed: float, timeout_s: float) -> None:
        assert self._info is not None
        move = QuinticMove.plan(self._latest.position, target, self._info.limits.velocity * speed,
                                MAX_ACCELERATION * speed)
        self._contact_baseline = self._contact_forces()
        start = self._world.now_s()
        while True:
            elapsed = self._world.now_s() - start
            if elapsed > timeout_s:
                self._halt()
                raise MotionTimeout(f"{self._name}: joint move not done after {timeout_s:.2f} s "
                                    f"(planned {move.duration_s:.2f} s)")
            self._command_arm(*move.sample(elapsed + self._world.dt))
            self._world.step()
            self._check_interrupts()
            state = self._latest
            if (elapsed >= move.duration_s
                    and np.max(np.abs(state.position - target)) < POSITION_TOLERANCE_RAD
                    and np.max(np.abs(state.velocity)) < STILL_VELOCITY_RAD_S):
                return

    def _move_pose(self, pose: Pose, speed: float, timeout_s: float) -> None:
        assert self._kinematics is not None
        solution = self._kinematics.solve(pose.position, pose.orientation, self._latest.position)
        if (solution.position_error_m > IK_POSITION_TOLERANCE_M
                or solution.orientation_error_rad > IK_ORIENTATION_TOLERANCE_RAD):
            raise Unreachable(
                f"{self._name}: no IK solution for position {pose.position} orientation "
                f"{pose.orientation} (best misses by {solution.position_error_m * 1000:.1f} mm, "
                f"{np.degrees(solution.orientation_error_rad):.1f} deg)")
        self._move_joints(self.check_joint_target(solution.joints.tolist()), speed, timeout_s)

    def _gripper(self, width_m: float, force_n: float, timeout_s: float) -> bool:
        if width_m > MAX_GRIPPER_WIDTH_M:
            raise LimitViolation(f"{self._name}: gripper width {width_m:.4f} m exceeds the "
                                 f"maximum {MAX_GRIPPER_WIDTH_M} m")
        self._command_fingers(width_m, force_n)
        start = self._world.now_s()
        last_width, still_since = self._latest.gripper_width_m, start
        while self._world.now_s() - start < timeout_s:
            self._world.step()
            self._check_interrupts(check_collisions=False)
            width = self._latest.gripper_width_m
            if abs(width - width_m) < 5e-4:
                break
            if abs(width - last_width) > 1e-5:
                last_width, still_since = width, self._world.now_s()
            elif self._world.now_s() - still_since > 0.1:
                break  # stalled on an object
        return self._held_body() is not None

    # --- internals (simulation thread) -----------------------------------------------
    def _on_step(self) -> None:
        if self._body is None:
            return
        client = self._world.client
        states = p.getJointStates(self._body, self._arm + self._fingers, physicsClientId=client)
        tool = p.getLinkState(self._body, self._tool, computeForwardKinematics=True,
                              physicsClientId=client)
        self._latest = RobotState(
            stamp_s=self._world.now_s(),
            position=np.array([s[0] for s in states[:7]], dtype=np.float64),
            velocity=np.array([s[1] for s in states[:7]], dtype=np.float64),
            effort=np.array([s[3] for s in states[:7]], dtype=np.float64),
            tool_pose=Pose(tuple(tool[4]), tuple(tool[5])),
            gripper_width_m=float(states[7][0] + states[8][0]),
            gripper_holding=self._held_body() is not None,
            estopped=self.estopped)

    def _held_body(self) -> int | None:
        """The non-robot body both fingers touch, if any."""
        assert self._body is not None
        touched = [{c[2] for c in p.getContactPoints(bodyA=self._body, linkIndexA=finger,
                                                     physicsClientId=self._world.client)
                    if c[2] != self._body} for finger in self._fingers]
        both = touched[0] & touched[1]
        return min(both) if both else None

    def _command_arm(self, positions: FloatArray, velocities: FloatArray) -> None:
        p.setJointMotorControlArray(
            self._body, self._arm, p.POSITION_CONTROL, targetPositions=positions.tolist(),
            targetVelocities=velocities.tolist(), forces=self._effort.tolist(),
            positionGains=[POSITION_GAIN] * 7, velocityGains=[1.0] * 7,
            physicsClientId=self._world.client)

    def _command_fingers(self, width_m: float, force_n: float) -> None:
        p.setJointMotorControlArray(
            self._body, self._fingers, p.POSITION_CONTROL, targetPositions=[width_m / 2] * 2,
            forces=[force_n] * 2, positionGains=[POSITION_GAIN] * 2,
            physicsClientId=self._world.client)

    def _check_interrupts(self, *, check_collisions: bool = True) -> None:
        if self.stop_requested:
            self._halt()
            if self.estopped:
                raise EStopActive(f"{self._name}: e-stopped during motion")
            raise MotionStopped(f"{self._name}: motion stopped on request")
        if check_collisions:
            hit = self._collision()
            if hit is not None:
                self._halt()
                raise CollisionDetected(f"{self._name}: {hit}")

    def _contact_forces(self) -> dict[tuple[int, int], float]:
        """Normal force of every current contact of an arm link, by (link, other body)."""
        assert self._body is not None
        forces: dict[tuple[int, int], float] = {}
        for contact in p.getContactPoints(bodyA=self._body, physicsClientId=self._world.client):
            key = (contact[3], contact[2])
            forces[key] = max(forces.get(key, 0.0), contact[9])
        return forces

    def _collision(self) -> str | None:
        """Describe a contact of an arm link (not the base) with a body that is not a part.

        A contact that already pressed when the move began (e.g. fingers left in a tray by an
        e-stop) counts only if it presses harder than then, so a move away from it is allowed.
        """
        assert self._body is not None
        for contact in p.getContactPoints(bodyA=self._body, physicsClientId=self._world.client):
            other, link, force = contact[2], contact[3], contact[9]
            limit = FINGER_COLLISION_FORCE_N if link in self._fingers else COLLISION_FORCE_N
            limit += self._contact_baseline.get((link, other), 0.0)
            if (other != self._body and link != -1 and force > limit
                    and not self._world.is_part(other)):
                link_name = p.getJointInfo(self._body, link,
                                           physicsClientId=self._world.client)[12].decode()
                return (f"link {link_name} hit {self._world.body_name(other)} "
                        f"with {force:.1f} N")
        return None

    def _halt(self) -> None:
        """Hold the current position and let the arm come to rest."""
        self._command_arm(self._latest.position, np.zeros(7))
        for _ in range(max(1, round(SETTLE_S / self._world.dt))):
            self._world.step()
            if np.max(np.abs(self._latest.velocity)) < STILL_VELOCITY_RAD_S:
                break
