"""The PyBullet body of a Unitree G1 that all its components (legs, arms, hands) drive.

Whichever component configures first loads it (`acquire`); it is removed when the last
one lets go (`release`). Every method runs on the control loop's thread, except the
fault listeners' registration (any thread, before the loop runs).

Commands: each component calls `command(joints, positions)` in its `update()`; the first
`flush()` of the tick (every component's `write()` calls it) sends all of them in one
`setJointMotorControlArray` (position control, forces capped at the URDF effort limits,
per-joint gains from `GAINS`). Joints nobody commanded keep their last target.

Contact parameters (set on the foot links, `FOOT_CONTACT`), and why:
    lateral friction 1.0    rubber soles on a factory floor (dry rubber on concrete or
                            epoxy is 0.8-1.0)
    spinning friction 0.03  torsional friction, N m per N: the G1 URDF's soles are four
                            5 mm spheres, whose point contacts resist no twist at all, so
                            without it the stance foot slips in yaw at every step (20 seeds
                            walking: 6/20 reached 5 m without, 17/20 with; FACTS.md). A real
                            sole is a 0.18 m x 0.06 m rubber patch and does resist twist.
    restitution 0           rubber does not bounce
Other links keep PyBullet's defaults (friction 0.5, no spinning friction).

Faults shared by the robot's components (`add_fault_listener` / `fault`): the legs judge
balance every tick. When the stability margin stays below its floor they call
`fault(Unstable(...))`, when the robot falls `fault(Fallen(...))`. Every listener is
called on the loop thread, in registration order, with that error:

    Unstable   the legs bring the robot to a statically stable stance; every other
               component fails its active goal with this error (`goal.fail(error)`) and
               holds its joints where they are (no new motion until a new goal comes).
    Fallen     every component fails its active goal with this error and then calls
               `self.fail(f"fallen: {error}")` (Component.fail: ERROR, the cell aborts).

Arms and hands register in their constructor or `_configure()`::

    body.add_fault_listener(self._on_body_fault)

`faulted` holds the last `Fallen` (None otherwise): a component that configures after a
fall refuses motion until the body is reloaded.

Payloads: a component that holds something (a tote) tells the body with
`set_payload(name, link, mass_kg, offset)`; the legs' model adds it to the centre of
mass, so balance accounts for it (`clear_payload(name)` when it is put down).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pybullet as p

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.errors import Fallen, RobotError
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim._world import PhysicsWorld

FOOT_CONTACT = {"lateralFriction": 1.0, "spinningFriction": 0.03, "rollingFriction": 0.0,
                "restitution": 0.0}
"""`p.changeDynamics` arguments for the two foot links (see the module docstring)."""

SOLE_DEPTH_M = 0.035
"""Depth of the sole below the ankle-roll frame (sphere centres at -0.03, radius 0.005)."""

STANDING_POSE: dict[str, float] = {
    **{f"{side}_hip_pitch_joint": -0.32 for side in g1.SIDES},
    **{f"{side}_knee_joint": 0.64 for side in g1.SIDES},
    **{f"{side}_ankle_pitch_joint": -0.32 for side in g1.SIDES},
    **{f"{side}_shoulder_pitch_joint": 0.25 for side in g1.SIDES},
    "left_shoulder_roll_joint": 0.2, "right_shoulder_roll_joint": -0.2,
    **{f"{side}_elbow_joint": 0.9 for side in g1.SIDES},
}
"""Joint angles (rad) of the standing pose; unnamed joints are 0. Knees bent so the legs
have room to keep the pelvis height while stepping (hip + knee + ankle pitch = 0: soles
flat)."""

LEG_GAIN = 0.6
"""Position gain of the leg joints (PyBullet's position control: the fraction of the
position error corrected per step, bounded by the joint's effort limit)."""
UPPER_GAIN = 0.3
"""Position gain of waist, arm and hand joints."""

SOLE_TOUCHING_M = 0.002
"""A sole sphere within this of the floor supports the foot (see `G1Body.sole_points`)."""

SELF_CONTACT_MARGIN_M = 0.01
"""Link pairs closer than this in the standing pose never collide with each other."""

FaultListener = Callable[[RobotError], None]


@dataclass(frozen=True)
class FootContact:
    """One contact point of a foot with anything else: world position, normal force (N)
    and distance (m; <= 0 when touching: a resting point may carry no force in one step
    of the solver and still support the foot)."""

    foot: str
    position: tuple[float, float, float]
    normal_force_n: float
    distance_m: float = 0.0


@dataclass(frozen=True)
class Payload:
    """Something held: its mass, the link carrying it and its CoM in that link's frame."""

    link: str
    mass_kg: float
    offset: tuple[float, float, float]


class G1Body:
    """The PyBullet body all G1 components drive; loaded by whichever configures first.

    Args:
        world: the PyBullet world (the control loop steps it).
        robot_name: the robot's name in its cell.
        mount: where it stands: the feet are put on the floor at the mount's height,
            centred on its x, y and facing its yaw.
        hands: load the Dex3-hand model (43 joints) instead of rubber hands (29).
        label: the body's name in the world's messages.
    """

    def __init__(self, world: PhysicsWorld, robot_name: str, mount: Pose, *, hands: bool,
                 label: str) -> None:
        self.world = world
        self.robot_name = robot_name
        self.mount = mount
        self.hands = hands
        self.label = label
        self.id: int | None = None
        self.joint_index: dict[str, int] = {}
        self.link_index: dict[str, int] = {}
        self.joint_names: tuple[str, ...] = ()
        """Every movable joint, in PyBullet order."""
        self.foot_links = {side: g1.FOOT_LINKS[side] for side in g1.SIDES}
        self.floor_z = float(mount.position[2])
        self.faulted: Fallen | None = None
        self.payloads: dict[str, Payload] = {}
        self._users: set[str] = set()
        self._listeners: list[FaultListener] = []
        self._targets: dict[int, tuple[float, float]] = {}
        self._last_targets: dict[int, float] = {}
        self._effort: dict[int, float] = {}
        self._gain: dict[int, float] = {}
        self._inertial: tuple[Sequence[float], Sequence[float]] = ((0.0, 0.0, 0.0),
                                                                    (0.0, 0.0, 0.0, 1.0))
        self._flushed_at = -1.0
        self._soles: dict[str, list[tuple[tuple[float, float, float], float]]] = {}

    @property
    def client(self) -> int:
        return self.world.client

    # --- lifecycle (loop thread) ----------------------------------------------------------
    def acquire(self, user: str) -> int:
        """Load the body standing on the floor if nobody has; return its id."""
        self._users.add(user)
        if self.id is not None:
            return self.id
        client = self.client
        flags = (p.URDF_USE_INERTIA_FROM_FILE | p.URDF_USE_SELF_COLLISION
                 | p.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS)
        body = int(p.loadURDF(str(g1.simulator_urdf(self.hands)), (0.0, 0.0, 1.0),
                              flags=flags, physicsClientId=client))
        infos = [p.getJointInfo(body, j, physicsClientId=client)
                 for j in range(p.getNumJoints(body, physicsClientId=client))]
        self.link_index = {g1.PELVIS_LINK: -1, **{i[12].decode(): i[0] for i in infos}}
        movable = [i for i in infos if i[2] != p.JOINT_FIXED]
        self.joint_index = {i[1].decode(): i[0] for i in movable}
        self.joint_names = tuple(i[1].decode() for i in movable)
        self._effort = {i[0]: float(i[10]) for i in movable}
        legs = {j for side in g1.SIDES for j in g1.LEG_JOINTS[side]}
        self._gain = {i[0]: LEG_GAIN if i[1].decode() in legs else UPPER_GAIN for i in movable}
        dynamics = p.getDynamicsInfo(body, -1, physicsClientId=client)
        self._inertial = (dynamics[3], dynamics[4])
        for name, index in self.joint_index.items():
            p.resetJointState(body, index, STANDING_POSE.get(name, 0.0), physicsClientId=client)
        for link in self.foot_links.values():
            p.changeDynamics(body, self.link_index[link], physicsClientId=client, **FOOT_CONTACT)
        for side, link in self.foot_links.items():  # sphere centres in the inertial frame
            self._soles[side] = [(_vec3(shape[5]), float(shape[3][0])) for shape in
                                 p.getCollisionShapeData(body, self.link_index[link], physicsClientId=client)
                                 if shape[2] == p.GEOM_SPHERE]
        self.id = body
        self._filter_self_contacts()
        self._place_standing()
        # motors hold the standing pose from the first step (PyBullet's default velocity
        # motors would let it sag)
        self.command(self.joint_names, np.array([STANDING_POSE.get(n, 0.0) for n in self.joint_names]))
        self._flush_now()
        self.world.name_body(body, self.label)
        return body

    def release(self, user: str) -> None:
        """Remove the body once no component uses it."""
        self._users.discard(user)
        if not self._users and self.id is not None:
            if p.isConnected(physicsClientId=self.client):
                p.removeBody(self.id, physicsClientId=self.client)
            self.id = None
            self.faulted = None
            self._targets.clear()
            self._last_targets.clear()

    # --- commands (loop thread) ---------------------------------------------------------------
    def command(self, joints: Sequence[str], positions: FloatArray | Sequence[float],
                velocities: FloatArray | Sequence[float] | None = None) -> None:
        """Store position targets (rad) and optional target velocities (rad/s) for this tick;
        a later command of the same joint in the same tick wins.

        Raises:
            KeyError: an unknown joint name.
        """
        if velocities is None:
            velocities = [0.0] * len(joints)
        for name, q, v in zip(joints, positions, velocities, strict=True):
            self._targets[self.joint_index[name]] = (float(q), float(v))

    def flush(self) -> None:
        """Send this tick's stored targets in one call (the first call of a tick; later
        calls in the same tick send what was stored since, if anything)."""
        now = self.world.now_s()
        if now == self._flushed_at and not self._targets:
            return
        self._flushed_at = now
        self._flush_now()

    def _flush_now(self) -> None:
        if self.id is None or not self._targets:
            self._targets.clear()
            return
        indices = list(self._targets)
        positions = [self._targets[i][0] for i in indices]
        p.setJointMotorControlArray(
            self.id, indices, p.POSITION_CONTROL, targetPositions=positions,
            targetVelocities=[self._targets[i][1] for i in indices],
            forces=[self._effort[i] for i in indices],
            positionGains=[self._gain[i] for i in indices],
            velocityGains=[1.0] * len(indices), physicsClientId=self.client)
        self._last_targets.update(zip(indices, positions, strict=True))
        self._targets.clear()

    def last_target(self, joint: str) -> float:
        """The position last sent for a joint (its measured position if none was)."""
        index = self.joint_index[joint]
        if index in self._last_targets:
            return self._last_targets[index]
        return float(p.getJointState(self.id, index, physicsClientId=self.client)[0])

    # --- reading (loop thread) ---------------------------------------------------------------
    def joint_positions(self, joints: Iterable[str]) -> FloatArray:
        indices = [self.joint_index[j] for j in joints]
        states = p.getJointStates(self.id, indices, physicsClientId=self.client)
        return np.array([s[0] for s in states], dtype=np.float64)

    def joint_velocities(self, joints: Iterable[str]) -> FloatArray:
        indices = [self.joint_index[j] for j in joints]
        states = p.getJointStates(self.id, indices, physicsClientId=self.client)
        return np.array([s[1] for s in states], dtype=np.float64)

    def pelvis_pose(self) -> Pose:
        """The pelvis link frame (not PyBullet's base inertial frame), world."""
        position, orientation = p.getBasePositionAndOrientation(self.id, physicsClientId=self.client)
        inv_pos, inv_orn = p.invertTransform(*self._inertial)
        pos, orn = p.multiplyTransforms(position, orientation, inv_pos, inv_orn)
        return Pose(_vec3(pos), _quat(orn))

    def pelvis_velocity(self) -> tuple[FloatArray, FloatArray]:
        """Linear velocity of the pelvis frame origin and angular velocity, world (m/s, rad/s)."""
        linear, angular = p.getBaseVelocity(self.id, physicsClientId=self.client)
        w = np.array(angular)
        com_pos, _ = p.getBasePositionAndOrientation(self.id, physicsClientId=self.client)
        origin = np.array(self.pelvis_pose().position)
        return np.array(linear) + np.cross(w, origin - np.array(com_pos)), w

    def link_pose(self, link: str) -> Pose:
        """A link's frame (URDF link frame, not its inertial frame), world."""
        index = self.link_index[link]
        if index == -1:
            return self.pelvis_pose()
        state = p.getLinkState(self.id, index, computeForwardKinematics=True,
                               physicsClientId=self.client)
        return Pose(_vec3(state[4]), _quat(state[5]))

    def foot_contacts(self, touching_m: float = 1e-3) -> list[FootContact]:
        """The contact points of the two feet with other bodies (floor, objects) that
        press or are within `touching_m` of touching."""
        contacts = []
        for side, link in self.foot_links.items():
            for c in p.getContactPoints(bodyA=self.id, linkIndexA=self.link_index[link],
                                        physicsClientId=self.client):
                if c[2] != self.id and (c[9] > 0.0 or c[8] <= touching_m):
                    contacts.append(FootContact(side, _vec3(c[6]), float(c[9]), float(c[8])))
        return contacts

    def sole_points(self, touching_m: float = SOLE_TOUCHING_M) -> dict[str, list[tuple[float, float]]]:
        """Per foot on the floor: the floor points (x, y) under its sole's contact spheres
        that are within `touching_m` of the floor. The G1's soles are four 5 mm spheres;
        PyBullet's solver reports a varying subset of them as contacts from step to step
        even on a flat foot, and at times none of either foot for a step or two of a
        standing robot, so the support polygon is taken from the sole's geometry alone: a
        sphere touching to within 2 mm supports the foot, one lifted further (a swing foot,
        or the foot tipping onto an edge) does not."""
        points: dict[str, list[tuple[float, float]]] = {}
        for side, link in self.foot_links.items():
            state = p.getLinkState(self.id, self.link_index[link], computeForwardKinematics=True,
                                   physicsClientId=self.client)
            for centre, radius in self._soles[side]:
                world, _ = p.multiplyTransforms(state[0], state[1], centre, (0.0, 0.0, 0.0, 1.0))
                if world[2] - radius - self.floor_z <= touching_m:
                    points.setdefault(side, []).append((float(world[0]), float(world[1])))
        return points

    def non_foot_floor_contacts(self, height_m: float = 0.03) -> list[str]:
        """Links other than the feet that touch something within `height_m` of the floor
        (a knee, a hand or the pelvis on the ground: a fall)."""
        feet = {self.link_index[link] for link in self.foot_links.values()}
        names = {index: name for name, index in self.link_index.items()}
        touching = []
        for c in p.getContactPoints(bodyA=self.id, physicsClientId=self.client):
            if c[2] != self.id and c[3] not in feet and c[5][2] < self.floor_z + height_m:
                touching.append(names.get(c[3], str(c[3])))
        return sorted(set(touching))

    # --- payloads and loads (loop thread) --------------------------------------------------------
    def set_payload(self, name: str, link: str, mass_kg: float,
                    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        """Tell the balance model that `link` carries `mass_kg` with its CoM at `offset`
        (link frame); a bimanual hold may split the mass between both hands."""
        if link not in self.link_index:
            raise KeyError(f"{self.label}: no link {link!r}")
        self.payloads[name] = Payload(link, float(mass_kg), offset)

    def clear_payload(self, name: str) -> None:
        self.payloads.pop(name, None)

    def attach_box(self, mass_kg: float, half_extents: tuple[float, float, float],
                   links: Sequence[str], offset: tuple[float, float, float]) -> int:
        """A box of `mass_kg` fixed to `links` by rigid constraints, its centre at `offset`
        in the first link's frame (a stand-in for a grasped tote in tests and benchmarks;
        H2's grasp holds by friction instead). Returns its body id; also `set_payload`s it."""
        assert self.id is not None
        first = self.link_pose(links[0])
        centre, orientation = p.multiplyTransforms(first.position, first.orientation,
                                                   offset, (0.0, 0.0, 0.0, 1.0))
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half_extents,
                                       physicsClientId=self.client)
        box = int(p.createMultiBody(mass_kg, shape, basePosition=centre,
                                    baseOrientation=orientation, physicsClientId=self.client))
        for link in links:
            p.setCollisionFilterPair(self.id, box, self.link_index[link], -1, 0,
                                     physicsClientId=self.client)
        for link in links:
            pose = self.link_pose(link)
            inv_pos, inv_orn = p.invertTransform(pose.position, pose.orientation)
            local_pos, local_orn = p.multiplyTransforms(inv_pos, inv_orn, centre, orientation)
            index = self.link_index[link]
            parent_pos, parent_orn = local_pos, local_orn
            if index != -1:  # constraint frames are relative to the link's inertial frame
                info = p.getDynamicsInfo(self.id, index, physicsClientId=self.client)
                inv_i = p.invertTransform(info[3], info[4])
                parent_pos, parent_orn = p.multiplyTransforms(inv_i[0], inv_i[1], local_pos, local_orn)
            constraint = p.createConstraint(self.id, index, box, -1, p.JOINT_FIXED, (0, 0, 0),
                                            parent_pos, (0, 0, 0), parent_orn,
                                            physicsClientId=self.client)
            p.changeConstraint(constraint, maxForce=2000, physicsClientId=self.client)
        for k, link in enumerate(links):
            pose = self.link_pose(link)
            inv_pos, inv_orn = p.invertTransform(pose.position, pose.orientation)
            local_pos, _ = p.multiplyTransforms(inv_pos, inv_orn, centre, orientation)
            self.set_payload(f"box-{box}-{k}", link, mass_kg / len(links), _vec3(local_pos))
        return box

    # --- faults (listeners: any thread before the loop runs; fault(): loop thread) ----------------
    def add_fault_listener(self, listener: FaultListener) -> None:
        """Call `listener(error)` on every fault of the robot (see the module docstring)."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_fault_listener(self, listener: FaultListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def fault(self, error: RobotError) -> None:
        """Tell every component of the robot (loop thread)."""
        if isinstance(error, Fallen):
            self.faulted = error
        for listener in list(self._listeners):
            listener(error)

    # --- internals ------------------------------------------------------------------------------
    def _filter_self_contacts(self) -> None:
        """Link pairs touching (or nearly) in the standing pose never collide: they are
        neighbours whose meshes overlap at the joints, and colliding them makes the body
        tilt or explode."""
        assert self.id is not None
        client, body = self.client, self.id
        p.performCollisionDetection(physicsClientId=client)
        pairs = {(min(c[3], c[4]), max(c[3], c[4]))
                 for c in p.getClosestPoints(body, body, SELF_CONTACT_MARGIN_M, physicsClientId=client)}
        for a, b in pairs:
            if a != b:
                p.setCollisionFilterPair(body, body, a, b, 0, physicsClientId=client)

    def _place_standing(self) -> None:
        """Feet flat on the floor at the mount's x, y and yaw, centred under the pelvis."""
        assert self.id is not None
        yaw = _yaw(self.mount.orientation)
        orientation = p.getQuaternionFromEuler((0.0, 0.0, yaw))
        # the pelvis link frame at (0, 0, 1) facing yaw, then measure where the soles are
        self._reset_pelvis((0.0, 0.0, 1.0), orientation)
        soles = [self.link_pose(link).position for link in self.foot_links.values()]
        sole_z = min(s[2] for s in soles) - SOLE_DEPTH_M
        mid_x = sum(s[0] for s in soles) / 2 + 0.03 * math.cos(yaw)  # the sole's centre is 3 cm ahead
        mid_y = sum(s[1] for s in soles) / 2 + 0.03 * math.sin(yaw)
        x, y = self.mount.position[0], self.mount.position[1]
        self._reset_pelvis((x - mid_x, y - mid_y, 1.0 - sole_z + self.floor_z + 1e-4), orientation)

    def _reset_pelvis(self, position: Sequence[float], orientation: Sequence[float]) -> None:
        pos, orn = p.multiplyTransforms(position, orientation, *self._inertial)
        p.resetBasePositionAndOrientation(self.id, pos, orn, physicsClientId=self.client)
        p.resetBaseVelocity(self.id, (0, 0, 0), (0, 0, 0), physicsClientId=self.client)


def _vec3(v: Sequence[float]) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def _quat(q: Sequence[float]) -> tuple[float, float, float, float]:
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def _yaw(q: Sequence[float]) -> float:
    x, y, z, w = q
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def joints_of(names: Mapping[str, float], order: Sequence[str]) -> FloatArray:
    """Values of `names` in `order` (0 for missing joints)."""
    return np.array([names.get(n, 0.0) for n in order], dtype=np.float64)


__all__ = ["FOOT_CONTACT", "STANDING_POSE", "FootContact", "G1Body", "Payload"]
