"""A Franka Emika Panda with its hand, simulated in PyBullet: two components on one body.

    PandaArm(Arm)          the seven joints; frames `panda_grasptarget` and `panda_link8`
    PandaGripper(Gripper)  the two coupled fingers
    build(context, config) the `pybullet.panda` factory: a Robot with both

Threads: loading the URDF (`configure()`), `read()`, `update()` and `write()` run on the
control loop's thread, the only one that touches the world's PyBullet client; physics is
stepped by the loop alone. Motion methods plan in the caller's thread (inverse kinematics
in a private PyBullet client), start a `Goal` and return. `state()` returns the snapshot
cached by `read()`; `stop()` and `estop()` only set flags, which the next `update()` acts on.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pybullet as p

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.arm import Arm, ArmInfo, ArmState
from cellwright.robots.component import Hazard
from cellwright.robots.errors import (
    CollisionDetected,
    EStopActive,
    MotionStopped,
    MotionTimeout,
    RobotError,
    Unreachable,
)
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper, GripperInfo, GripperState
from cellwright.robots.models.franka_panda import (
    ARM_JOINTS,
    FINGER_JOINTS,
    FLANGE_FRAME,
    GRIPPER_MAX_FORCE_N,
    GRIPPER_STROKE_M,
    MAX_ACCELERATION,
    MODEL,
    READY_POSE,
    TOOL_FRAME,
    URDF_PATH,
    arm_limits,
    joint_settings,
)
from cellwright.robots.robot import BuildContext, Robot
from cellwright.robots.sim._world import PhysicsWorld
from cellwright.robots.sim.kinematics import ShadowKinematics
from cellwright.robots.trajectory import QuinticMove

REGISTRY_ID = "pybullet.panda"
DRIVER = "pybullet"
INITIAL_FINGER_FORCE_N = 20.0

POSITION_TOLERANCE_RAD = 2e-3
STILL_VELOCITY_RAD_S = 2e-2
POSITION_GAIN = 0.3
COLLISION_FORCE_N = 1.0
FINGER_COLLISION_FORCE_N = 10.0
"""Fingers may brush scenery while grasping; pressing into it is still a collision."""
SETTLE_S = 0.25
"""At most this much loop time holding still after a halt before the goal ends."""
IK_POSITION_TOLERANCE_M = 5e-3
IK_ORIENTATION_TOLERANCE_RAD = 0.03
GRIPPER_TOLERANCE_M = 5e-4
GRIPPER_STALL_MOVE_M = 1e-5
GRIPPER_STALL_S = 0.1
HAZARD_RADIUS_M = 0.1
"""Radius of the spheres at the arm's link origins and between them, for the safety monitor
(the Panda's links are 0.06 to 0.09 m in radius)."""

APPROXIMATIONS = (
    "grasps held by friction in PyBullet; contact forces from the simulator",
    "joints follow trajectories under PyBullet position control with the URDF's effort "
    "limits, not Franka's torque controllers",
    "joint states and finger width are read exactly, without sensor noise or latency",
)


class _PandaBody:
    """The PyBullet body both components drive; whichever configures first loads it."""

    def __init__(self, world: PhysicsWorld, robot_name: str, mount: Pose,
                 initial_joints: FloatArray, label: str) -> None:
        self.world = world
        self.robot_name = robot_name
        self.label = label
        self.mount = mount
        self.initial_joints = initial_joints
        self.id: int | None = None
        self.arm: list[int] = []
        self.fingers: list[int] = []
        self.links: dict[str, int] = {}
        self._users: set[str] = set()

    @property
    def client(self) -> int:
        return self.world.client

    def acquire(self, user: str) -> int:
        """Load the body if nobody has (loop thread); return its id."""
        self._users.add(user)
        if self.id is not None:
            return self.id
        client = self.client
        body = int(p.loadURDF(URDF_PATH, self.mount.position, self.mount.orientation,
                          useFixedBase=True, physicsClientId=client))
        infos = [p.getJointInfo(body, j, physicsClientId=client)
                 for j in range(p.getNumJoints(body, physicsClientId=client))]
        by_name = {info[1].decode(): info[0] for info in infos}
        self.links = {info[12].decode(): info[0] for info in infos}
        self.arm = [by_name[n] for n in ARM_JOINTS]
        self.fingers = [by_name[n] for n in FINGER_JOINTS]
        for index, value in zip(self.arm, self.initial_joints, strict=True):
            p.resetJointState(body, index, float(value), physicsClientId=client)
        for index in self.fingers:
            p.resetJointState(body, index, GRIPPER_STROKE_M / 2, physicsClientId=client)
            p.changeDynamics(body, index, lateralFriction=1.0, spinningFriction=0.05,
                             physicsClientId=client)
        # The real hand couples its fingers mechanically, so grasps centre the part.
        coupling = p.createConstraint(body, self.fingers[0], body, self.fingers[1],
                                      p.JOINT_GEAR, (1.0, 0.0, 0.0), (0.0, 0.0, 0.0),
                                      (0.0, 0.0, 0.0), physicsClientId=client)
        p.changeConstraint(coupling, gearRatio=-1, erp=0.1, maxForce=50, physicsClientId=client)
        self.world.name_body(body, self.label)
        self.id = body
        return body

    def release(self, user: str) -> None:
        """Remove the body once neither component uses it (loop thread)."""
        self._users.discard(user)
        if not self._users and self.id is not None:
            if p.isConnected(physicsClientId=self.client):
                p.removeBody(self.id, physicsClientId=self.client)
            self.id = None

    def held_body(self) -> int | None:
        """The non-robot body both fingers touch, if any."""
        touched = [{c[2] for c in p.getContactPoints(bodyA=self.id, linkIndexA=finger,
                                                     physicsClientId=self.client)
                    if c[2] != self.id} for finger in self.fingers]
        both = touched[0] & touched[1]
        return min(both) if both else None


# --- the arm -----------------------------------------------------------------------------
class _ArmMotion(Goal[None]):
    """A joint move: its plan is complete before the loop can see it."""

    def __init__(self, what: str, move: QuinticMove, max_velocity: FloatArray,
                 max_acceleration: FloatArray, timeout_s: float, on_cancel: Any) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.move = move
        self.max_velocity = max_velocity
        self.max_acceleration = max_acceleration
        self.timeout_s = timeout_s
        self.elapsed_s: float | None = None
        """Trajectory time since its first update (None before): the loop's clock scaled by
        the speed override, so a paused move neither advances nor times out."""


@dataclass
class _Halt:
    """Holding still after a stop, a collision or a timeout; the goal ends afterwards."""

    goal: Goal[Any]
    error: RobotError
    since_s: float


class PandaArm(Arm):
    """The Panda's arm: quintic joint trajectories under force-limited position control.

    A move ends in `CollisionDetected` when a link touches a body that is not a part (the
    fingers only above `FINGER_COLLISION_FORCE_N`; contacts pressing when the move began count
    only beyond that). A stopped, timed-out or colliding move holds position and stays busy
    until the arm is still (at most `SETTLE_S`), then its goal fails. A move advances
    `dt * speed_override` of trajectory time per tick: 0 holds it on its path, alive, until
    the override rises; its timeout counts trajectory time, so a pause never times it out.
    """

    def __init__(self, name: str, body: _PandaBody,
                 configurations: Mapping[str, tuple[float, ...]]) -> None:
        super().__init__(name, MODEL, DRIVER)
        self._body = body
        limits, self._effort = arm_limits()
        self._info = ArmInfo(name, self.kind, MODEL, DRIVER, joint_names=ARM_JOINTS,
                             limits=limits, frames=(TOOL_FRAME, FLANGE_FRAME),
                             configurations=dict(configurations))
        self._kinematics: ShadowKinematics | None = None
        self._ik_lock = threading.Lock()
        self._frame_links: dict[str, int] = {}
        zeros = np.zeros(len(ARM_JOINTS))
        self._state = ArmState(0.0, body.initial_joints.copy(), zeros, zeros, {})
        self._halt: _Halt | None = None
        self._stop_latched = False
        self._baseline: dict[tuple[int, int], float] = {}
        self._command: tuple[FloatArray, FloatArray] | None = None

    # --- queries (any thread) ------------------------------------------------------------
    def info(self) -> ArmInfo:
        return self._info

    def state(self) -> ArmState:
        return self._state  # replaced whole by read(); reading a reference is atomic

    def busy(self) -> bool:
        return self._halt is not None or super().busy()

    def hazard_points(self) -> tuple[Hazard, ...]:
        """The arm's link origins, the tool frame and the midpoints between them (loop thread)."""
        body = self._body
        if body.id is None:
            return ()
        links = [*body.arm, self._frame_links[TOOL_FRAME]]
        origins = [np.array(link[4]) for link in p.getLinkStates(
            body.id, links, computeForwardKinematics=True, physicsClientId=body.client)]
        middles = [(a + b) / 2 for a, b in itertools.pairwise(origins)]
        return tuple(Hazard((float(x), float(y), float(z)), HAZARD_RADIUS_M)
                     for x, y, z in origins + middles)

    # --- lifecycle (loop thread) -----------------------------------------------------------
    def _configure(self) -> None:
        self._body.acquire(self.name)
        self._frame_links = {frame: self._body.links[frame] for frame in self._info.frames}
        with self._ik_lock:
            if self._kinematics is None:
                self._kinematics = ShadowKinematics(
                    URDF_PATH, self._body.mount.position, self._body.mount.orientation,
                    self._body.arm, self._frame_links[TOOL_FRAME], np.array(READY_POSE))
        self.read(self._body.world.now_s())
        self._command = (self._state.position.copy(), np.zeros(len(ARM_JOINTS)))

    def _shutdown(self) -> None:
        self._end_now(MotionStopped(f"{self.name}: shut down"))
        with self._ik_lock:
            if self._kinematics is not None:
                self._kinematics.close()
                self._kinematics = None
        self._body.release(self.name)

    def _on_stop(self) -> None:
        self._stop_latched = True  # any thread: the next update() holds

    # --- motion (any thread) ---------------------------------------------------------------
    def _move_joints(self, target: FloatArray, speed: float, timeout_s: float) -> Goal[None]:
        return self._start(target, speed, timeout_s, "joint move")

    def _move_pose(self, pose: Pose, frame: str, speed: float, timeout_s: float) -> Goal[None]:
        with self._ik_lock:
            if self._kinematics is None:
                raise Unreachable(f"{self.name}: not configured; activate() it first")
            solution = self._kinematics.solve(pose.position, pose.orientation,
                                              self._state.position, link=self._frame_links[frame])
        if (solution.position_error_m > IK_POSITION_TOLERANCE_M
                or solution.orientation_error_rad > IK_ORIENTATION_TOLERANCE_RAD):
            raise Unreachable(
                f"{self.name}: no IK solution for {frame} at position {pose.position} "
                f"orientation {pose.orientation} (best misses by "
                f"{solution.position_error_m * 1000:.1f} mm, "
                f"{np.degrees(solution.orientation_error_rad):.1f} deg)")
        target = self.check_joint_target(solution.joints.tolist())
        return self._start(target, speed, timeout_s, f"move {frame} to pose")

    def _start(self, target: FloatArray, speed: float, timeout_s: float, what: str) -> Goal[None]:
        max_velocity = self._info.limits.velocity * speed
        max_acceleration = MAX_ACCELERATION * speed
        move = QuinticMove.plan(self._state.position, target, max_velocity, max_acceleration)
        goal = _ArmMotion(f"{self.name}: {what}", move, max_velocity, max_acceleration,
                          timeout_s, on_cancel=lambda: self.wake())
        self._begin(goal)
        return goal

    # --- control loop (loop thread) ----------------------------------------------------------
    def read(self, now_s: float) -> None:
        body = self._body
        if body.id is None:
            return
        states = p.getJointStates(body.id, body.arm, physicsClientId=body.client)
        frames = {}
        for frame, link in self._frame_links.items():
            pose = p.getLinkState(body.id, link, computeForwardKinematics=True,
                                  physicsClientId=body.client)
            frames[frame] = Pose(tuple(pose[4]), tuple(pose[5]))
        self._state = ArmState(
            stamp_s=now_s,
            position=np.array([s[0] for s in states], dtype=np.float64),
            velocity=np.array([s[1] for s in states], dtype=np.float64),
            effort=np.array([s[3] for s in states], dtype=np.float64),
            frames=frames)

    def update(self, now_s: float, dt_s: float) -> None:
        if self._body.id is None:
            return
        state = self._state
        stop_latched, self._stop_latched = self._stop_latched, False
        goal = self._goal
        if self._halt is not None:
            if self._halt.goal is not goal and goal is not None and not goal.done():
                self._halt = None  # a new goal preempted the halted one (admit() ended it)
            else:
                if (np.max(np.abs(state.velocity)) < STILL_VELOCITY_RAD_S
                        or now_s - self._halt.since_s >= SETTLE_S - 1e-9):
                    self._halt.goal.fail(self._halt.error)
                    self._halt = None
                return
        if not isinstance(goal, _ArmMotion) or goal.done():
            if stop_latched:
                self._hold(state.position)
            return
        if goal.elapsed_s is None:
            self._begin_motion(goal)
        else:
            goal.elapsed_s += dt_s * self.speed_override
        assert goal.elapsed_s is not None
        if goal.cancel_requested or self.stop_requested or stop_latched:
            error: RobotError = (EStopActive(f"{goal.what}: e-stopped during motion")
                                 if self.estopped else MotionStopped(f"{goal.what}: stopped on request"))
            self._start_halt(goal, error, now_s)
            return
        hit = self._collision()
        if hit is not None:
            self._start_halt(goal, CollisionDetected(f"{self.name}: {hit}"), now_s)
            return
        move, elapsed, override = goal.move, goal.elapsed_s, self.speed_override
        goal.progress = min(1.0, elapsed / move.duration_s)
        if (elapsed >= move.duration_s
                and np.max(np.abs(state.position - move.goal)) < POSITION_TOLERANCE_RAD
                and np.max(np.abs(state.velocity)) < STILL_VELOCITY_RAD_S):
            goal.succeed(None)
            return
        if elapsed > goal.timeout_s:
            self._start_halt(goal, MotionTimeout(
                f"{goal.what}: not done after {goal.timeout_s:.2f} s (planned "
                f"{move.duration_s:.2f} s)"), now_s)
            return
        positions, velocities = move.sample(elapsed + dt_s * override)
        self._command = (positions, velocities * override)

    def write(self) -> None:
        command, self._command = self._command, None
        body = self._body
        if command is None or body.id is None:
            return
        positions, velocities = command
        p.setJointMotorControlArray(
            body.id, body.arm, p.POSITION_CONTROL, targetPositions=positions.tolist(),
            targetVelocities=velocities.tolist(), forces=self._effort.tolist(),
            positionGains=[POSITION_GAIN] * len(body.arm), velocityGains=[1.0] * len(body.arm),
            physicsClientId=body.client)

    # --- internals (loop thread) -----------------------------------------------------------
    def _begin_motion(self, goal: _ArmMotion) -> None:
        """First tick of a goal: re-plan if the arm is not where the plan starts (a goal
        that preempted a moving one), and take the contact baseline."""
        position = self._state.position
        if np.max(np.abs(position - goal.move.start)) > POSITION_TOLERANCE_RAD:
            goal.move = QuinticMove.plan(position, goal.move.goal, goal.max_velocity,
                                         goal.max_acceleration)
        self._baseline = self._contact_forces()
        goal.elapsed_s = 0.0

    def _hold(self, position: FloatArray) -> None:
        self._command = (position.copy(), np.zeros(len(position)))

    def _start_halt(self, goal: Goal[Any], error: RobotError, now_s: float) -> None:
        self._hold(self._state.position)
        self._halt = _Halt(goal, error, now_s)

    def _end_now(self, error: RobotError) -> None:
        goal, self._halt = self._goal, None
        if goal is not None:
            goal.fail(error)

    def _contact_forces(self) -> dict[tuple[int, int], float]:
        """Normal force of every current contact of a link, by (link, other body)."""
        forces: dict[tuple[int, int], float] = {}
        for contact in p.getContactPoints(bodyA=self._body.id, physicsClientId=self._body.client):
            key = (contact[3], contact[2])
            forces[key] = max(forces.get(key, 0.0), contact[9])
        return forces

    def _collision(self) -> str | None:
        """Describe a contact of a link (not the base) with a body that is not a part.

        A contact that already pressed when the move began (e.g. fingers left in a tray by an
        e-stop) counts only if it presses harder than then, so a move away from it is allowed.
        """
        body, world = self._body, self._body.world
        for contact in p.getContactPoints(bodyA=body.id, physicsClientId=body.client):
            other, link, force = contact[2], contact[3], contact[9]
            limit = FINGER_COLLISION_FORCE_N if link in body.fingers else COLLISION_FORCE_N
            limit += self._baseline.get((link, other), 0.0)
            if other != body.id and link != -1 and force > limit and not world.is_part(other):
                link_name = p.getJointInfo(body.id, link, physicsClientId=body.client)[12].decode()
                return f"link {link_name} hit {world.body_name(other)} with {force:.1f} N"
        return None


# --- the gripper ---------------------------------------------------------------------------
class _GripperMotion(Goal[bool]):
    """Fingers to a width with a force limit; the result says whether something is held."""

    def __init__(self, what: str, width_m: float, force_n: float, timeout_s: float,
                 on_cancel: Any) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.width_m, self.force_n, self.timeout_s = width_m, force_n, timeout_s
        self.start_s: float | None = None
        self.start_width_m = self.last_width_m = 0.0
        self.still_since_s = 0.0
        self.paused = False


class PandaGripper(Gripper):
    """The Panda hand: two fingers coupled by a gear constraint, position-controlled with a
    force limit. A goal succeeds when the width is within 0.5 mm of the target or the
    fingers stall (on a part); its result tells whether both fingers touch the same body.
    With `speed_override` 0 the fingers hold their width and the goal's timers stop (its
    timeout is extended by the paused time); any override above 0 moves them at full speed."""

    def __init__(self, name: str, body: _PandaBody) -> None:
        super().__init__(name, MODEL, DRIVER)
        self._body = body
        self._info = GripperInfo(name, self.kind, MODEL, DRIVER, stroke_m=GRIPPER_STROKE_M,
                                 max_force_n=GRIPPER_MAX_FORCE_N, tool_frame=TOOL_FRAME)
        self._state = GripperState(0.0, GRIPPER_STROKE_M, False)
        self._stop_latched = False
        self._force_n = INITIAL_FINGER_FORCE_N
        self._command: tuple[float, float] | None = None

    def info(self) -> GripperInfo:
        return self._info

    def state(self) -> GripperState:
        return self._state

    # --- lifecycle (loop thread) -----------------------------------------------------------
    def _configure(self) -> None:
        self._body.acquire(self.name)
        self.read(self._body.world.now_s())
        if self._command is None and self._goal is None:
            self._command = (GRIPPER_STROKE_M, INITIAL_FINGER_FORCE_N)

    def _shutdown(self) -> None:
        goal = self._goal
        if goal is not None:
            goal.fail(MotionStopped(f"{self.name}: shut down"))
        self._body.release(self.name)

    def _on_stop(self) -> None:
        self._stop_latched = True

    # --- motion (any thread) ---------------------------------------------------------------
    def _move(self, width_m: float, force_n: float, timeout_s: float) -> Goal[bool]:
        goal = _GripperMotion(f"{self.name}: move to {width_m * 1000:.1f} mm", width_m, force_n,
                              timeout_s, on_cancel=lambda: self.wake())
        self._begin(goal)
        return goal

    # --- control loop (loop thread) ----------------------------------------------------------
    def read(self, now_s: float) -> None:
        body = self._body
        if body.id is None:
            return
        states = p.getJointStates(body.id, body.fingers, physicsClientId=body.client)
        self._state = GripperState(now_s, float(states[0][0] + states[1][0]),
                                   body.held_body() is not None)

    def update(self, now_s: float, dt_s: float) -> None:
        if self._body.id is None:
            return
        stop_latched, self._stop_latched = self._stop_latched, False
        goal, state = self._goal, self._state
        if not isinstance(goal, _GripperMotion) or goal.done():
            if stop_latched:
                self._command = (state.width_m, self._force_n)
            return
        if goal.cancel_requested or self.stop_requested or stop_latched:
            self._command = (state.width_m, self._force_n)
            goal.fail(EStopActive(f"{goal.what}: e-stopped during motion") if self.estopped
                      else MotionStopped(f"{goal.what}: stopped on request"))
            return
        if self.speed_override == 0.0:  # a protective stop: hold, and no timer runs
            if goal.start_s is not None:
                goal.start_s += dt_s
                goal.still_since_s += dt_s
                if not goal.paused:
                    goal.paused, self._command = True, (state.width_m, self._force_n)
            return
        if goal.paused:
            goal.paused, self._command = False, (goal.width_m, goal.force_n)
        if goal.start_s is None:
            goal.start_s, goal.still_since_s = now_s, now_s
            goal.start_width_m = goal.last_width_m = state.width_m
            self._force_n = goal.force_n
            self._command = (goal.width_m, goal.force_n)
            return
        width = state.width_m
        if abs(width - goal.width_m) < GRIPPER_TOLERANCE_M:
            goal.succeed(state.holding)
            return
        if abs(width - goal.last_width_m) > GRIPPER_STALL_MOVE_M:
            goal.last_width_m, goal.still_since_s = width, now_s
        elif now_s - goal.still_since_s > GRIPPER_STALL_S:
            goal.succeed(state.holding)  # stalled on something (or on its own limit)
            return
        span = abs(goal.width_m - goal.start_width_m)
        goal.progress = min(1.0, abs(width - goal.start_width_m) / span) if span > 0 else 1.0
        if now_s - goal.start_s > goal.timeout_s:
            self._command = (width, self._force_n)
            goal.fail(MotionTimeout(f"{goal.what}: not done after {goal.timeout_s:.2f} s "
                                    f"(width {width * 1000:.1f} mm)"))

    def write(self) -> None:
        command, self._command = self._command, None
        body = self._body
        if command is None or body.id is None:
            return
        width_m, force_n = command
        p.setJointMotorControlArray(
            body.id, body.fingers, p.POSITION_CONTROL, targetPositions=[width_m / 2] * 2,
            forces=[force_n] * 2, positionGains=[POSITION_GAIN] * 2,
            physicsClientId=body.client)


# --- the factory ---------------------------------------------------------------------------
def build(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    """The `pybullet.panda` factory: arm and gripper sharing one body in `context.world`.

    Raises:
        ValueError: no world, or a bad `initial_joints` / `configurations` entry.
        TypeError: the world is not a PyBullet world (see `PhysicsWorld`).
    """
    world = context.world
    if world is None:
        raise ValueError(f"{REGISTRY_ID} needs a PyBullet world: give the cell a world "
                         f"(robot {context.robot_name!r})")
    if not isinstance(world, PhysicsWorld):
        raise TypeError(f"{REGISTRY_ID} needs a PyBullet world with client, dt, now_s(), "
                        f"is_part(), body_name() and name_body(); got {type(world).__name__}")
    name = context.robot_name
    initial, configurations = joint_settings(name, config)
    label = f"robot {name} on mount {context.mount_name}" if context.mount_name else f"robot {name}"
    body = _PandaBody(world, name, context.mount, np.array(initial, dtype=np.float64), label)
    arm = PandaArm(f"{name}/arm", body, configurations)
    gripper = PandaGripper(f"{name}/gripper", body)
    return Robot(name=name, registry_id=REGISTRY_ID, model=MODEL, driver=DRIVER,
                 components={"arm": arm, "gripper": gripper}, approximations=APPROXIMATIONS)


__all__ = ["PandaArm", "PandaGripper", "build"]
