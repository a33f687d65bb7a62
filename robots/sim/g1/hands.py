"""`G1Hand`: a Dex3 three-finger hand of the G1 as a `Gripper`, and the hands' contact facts.

Only the Dex3 model (`hands=True`) has hands to grip with: the rubber-hand model's hands
have no joints and no collision geometry in the URDF (they cannot touch anything), so no
`G1Hand` is built for it and the bimanual grasp (`grasp.py`) refuses it.

Width: the seven finger joints move together along a straight line in joint space from
`OPEN_SHAPE` (width `STROKE_M`) to `CLOSED_SHAPE` (width 0):
``joints = OPEN + (1 - width / STROKE_M) * (CLOSED - OPEN)``. `STROKE_M` is the distance
between the thumb tip and the index fingertip in the open shape; in between, `width` is
that fraction of the closing motion, not a measured distance. `state().width_m` maps the
measured joints back the same way (least squares along the line).

Force: `force_n` scales every finger joint's torque cap from the URDF's effort limit
(`force_n / MAX_FORCE_N * effort`). `MAX_FORCE_N` is the force at a fingertip of a finger
joint at its limit: 1.4 N m over the 0.096 m from the finger's base joint to its tip.
`G1Body.command` takes no torque caps, so a hand writes its own finger joints (nobody else
commands them).

Contact parameters (`HAND_CONTACT`, set on the palm and finger links), and why:
    lateral friction 1.0    rubber finger and palm pads; PyBullet multiplies the two
                            bodies' coefficients, so against a tote the pair's friction is
                            the tote's own (0.6-0.9 for plastic on rubber)
    spinning friction 0.02  torsional friction (m): a fingertip pad ~1.5 cm across
                            resists twist (FACTS.md: a bimanual box grasp held 2 kg with 0.02)
    friction anchor on      PyBullet's drift correction of static friction: without it a
                            tote squeezed by fingertips creeps down ~4 mm/s under a load
                            well inside the friction cone (measured: 2 kg, 25 N a hand,
                            friction 0.8); with it ~0.5 mm/s. Not a physical parameter

`holding`: the hand's links press on one movable part (`world.is_part`) with at least
`HOLD_FORCE_N` of normal force in total.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pybullet as p

from cellwright.api.geometry import FloatArray
from cellwright.robots.errors import EStopActive, Fallen, MotionStopped, MotionTimeout, RobotError
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper, GripperInfo, GripperState
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.body import G1Body

DRIVER = "pybullet"
HAND_CONTACT = {"lateralFriction": 1.0, "spinningFriction": 0.02, "frictionAnchor": 1}
"""`p.changeDynamics` arguments for the palm and finger links (see the module docstring)."""

OPEN_SHAPE = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
"""Left hand, `HAND_JOINTS` order (thumb 0-2, middle 0-1, index 0-1): fingers straight."""
CLOSED_SHAPE = (0.0, 0.6, 1.2, -1.5, -1.5, -1.5, -1.5)
"""Left hand: a fist within the joint limits."""
PRESS_SHAPE = (0.0, 0.5, 1.0, -0.7, -0.35, -0.7, -0.35)
"""Left hand: thumb tip and the two fingertips in one plane 0.07 m off the palm, a tripod
that presses a flat wall (the thumb stands proud of the palm, so the palm itself cannot)."""
PRESS_POINT = (0.10, -0.073, 0.0)
"""Left hand: the middle of the tripod's contacts in the palm frame (measured); it faces
-y (the right hand mirrors it: +y)."""
STROKE_M = 0.19
"""Thumb tip to index fingertip in `OPEN_SHAPE`."""
MAX_FORCE_N = 14.5
HOLD_FORCE_N = 2.0
TOLERANCE_RAD = 0.005
STALL_RAD = 2e-3
STALL_S = 0.1


def mirrored(left: tuple[float, ...], side: str) -> tuple[float, ...]:
    """A left-hand shape for `side`: the right hand's z-axis joints turn the other way
    (thumb 0 turns about y and keeps its sign)."""
    if side == "left":
        return left
    return (left[0], *(-v for v in left[1:]))


def press_point(side: str) -> tuple[float, float, float]:
    """`PRESS_POINT` of `side`'s hand, in its palm frame."""
    x, y, z = PRESS_POINT
    return (x, y if side == "left" else -y, z)


def hand_links(body: G1Body, side: str) -> list[int]:
    """PyBullet link indices of `side`'s palm and fingers."""
    prefix = f"{side}_hand_"
    return [index for name, index in body.link_index.items() if name.startswith(prefix)]


def press_force(body: G1Body, links: list[int], other: int) -> float:
    """Total normal force (N) of `links` on body `other`."""
    return float(sum(c[9] for c in p.getContactPoints(bodyA=body.id, bodyB=other, physicsClientId=body.client)
                     if c[3] in links))


class _HandMotion(Goal[bool]):
    def __init__(self, what: str, target: FloatArray, force_n: float, timeout_s: float,
                 on_cancel: Any) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.target, self.force_n, self.timeout_s = target, force_n, timeout_s
        self.elapsed_s = 0.0
        self.still_s = 0.0
        self.last = np.zeros(0)


class G1Hand(Gripper):
    """One Dex3 hand (see the module docstring). A move succeeds when the fingers reach
    the shape or stall on something; its result is `holding`. `speed_override` 0 holds the
    fingers where they are and stops the goal's timers.

    Args:
        name: `<robot>/<side>_hand`.
        body: the shared body; it must be the Dex3 model (`hands=True`).
        side: "left" or "right".
    """

    def __init__(self, name: str, body: G1Body, side: str) -> None:
        if not body.hands:
            raise ValueError(f"{name}: the rubber-hand G1 has no fingers; build it with hands=True")
        super().__init__(name, g1.MODEL, DRIVER)
        self._body, self.side = body, side
        self.joints = g1.HAND_JOINTS[side]
        self._open: FloatArray = np.array(mirrored(OPEN_SHAPE, side))
        self._closed: FloatArray = np.array(mirrored(CLOSED_SHAPE, side))
        self._effort = g1.limits(self.joints, True)[1]
        self._info = GripperInfo(name, self.kind, g1.MODEL, DRIVER, stroke_m=STROKE_M,
                                 max_force_n=MAX_FORCE_N, tool_frame=g1.HAND_LINKS[True][side])
        self._state = GripperState(0.0, STROKE_M, False)
        self._positions = self._open.copy()
        self._links: list[int] = []
        self._command: tuple[FloatArray, float] | None = None
        self._stop_latched = False
        body.add_fault_listener(self._on_body_fault)

    def info(self) -> GripperInfo:
        return self._info

    def state(self) -> GripperState:
        return self._state

    def shape_of(self, width_m: float) -> FloatArray:
        """Finger joints (rad) for a width (see the module docstring)."""
        return self._open + (1.0 - width_m / STROKE_M) * (self._closed - self._open)

    # --- for the bimanual grasp (loop thread) ------------------------------------------------
    def hold_shape(self, shape: FloatArray, force_n: float = MAX_FORCE_N) -> None:
        """Hold the fingers in `shape` (rad, this hand's joints) from the next write."""
        self._command = (shape.copy(), force_n)

    def press_force_on(self, other: int) -> float:
        """Total normal force (N) of this hand's links on body `other`."""
        return press_force(self._body, self._links, other)

    # --- lifecycle (loop thread) ---------------------------------------------------------------
    def _configure(self) -> None:
        body = self._body
        body.acquire(self.name)
        self._links = hand_links(body, self.side)
        for link in self._links:
            p.changeDynamics(body.id, link, physicsClientId=body.client, **HAND_CONTACT)
        self.read(body.world.now_s())

    def _shutdown(self) -> None:
        goal = self._goal
        if goal is not None:
            goal.fail(MotionStopped(f"{self.name}: shut down"))
        self._body.remove_fault_listener(self._on_body_fault)
        self._body.release(self.name)

    def _on_stop(self) -> None:
        self._stop_latched = True

    def _on_body_fault(self, error: RobotError) -> None:
        goal = self._goal
        if goal is not None:
            goal.fail(error)
        self._command = (self._positions.copy(), MAX_FORCE_N)
        if isinstance(error, Fallen):
            self.fail(f"fallen: {error}")

    # --- motion (any thread) ---------------------------------------------------------------------
    def _move(self, width_m: float, force_n: float, timeout_s: float) -> Goal[bool]:
        goal = _HandMotion(f"{self.name}: move to {width_m * 1000:.0f} mm", self.shape_of(width_m),
                           force_n, timeout_s, on_cancel=lambda: self.wake())
        self._begin(goal)
        return goal

    # --- control loop (loop thread) --------------------------------------------------------------
    def read(self, now_s: float) -> None:
        body = self._body
        if body.id is None:
            return
        self._positions = body.joint_positions(self.joints)
        line = self._closed - self._open
        closure = float(np.dot(self._positions - self._open, line) / np.dot(line, line))
        world = body.world
        forces: dict[int, float] = {}
        for c in p.getContactPoints(bodyA=body.id, physicsClientId=body.client):
            if c[3] in self._links and c[2] != body.id and world.is_part(c[2]):
                forces[c[2]] = forces.get(c[2], 0.0) + c[9]
        holding = max(forces.values(), default=0.0) >= HOLD_FORCE_N
        self._state = GripperState(now_s, STROKE_M * min(1.0, max(0.0, 1.0 - closure)), holding)

    def update(self, now_s: float, dt_s: float) -> None:
        stop_latched, self._stop_latched = self._stop_latched, False
        goal = self._goal
        if not isinstance(goal, _HandMotion) or goal.done():
            if stop_latched and goal is not None:
                self._command = (self._positions.copy(), MAX_FORCE_N)
            return
        if goal.cancel_requested or self.stop_requested or stop_latched:
            self._command = (self._positions.copy(), goal.force_n)
            goal.fail(EStopActive(f"{goal.what}: e-stopped during motion") if self.estopped
                      else MotionStopped(f"{goal.what}: stopped on request"))
            return
        if self.speed_override == 0.0:  # a protective stop: hold, no timer runs
            self._command = (self._positions.copy(), goal.force_n)
            return
        if goal.elapsed_s == 0.0:
            goal.last = self._positions.copy()
        goal.elapsed_s += dt_s
        self._command = (goal.target, goal.force_n)
        if np.max(np.abs(self._positions - goal.target)) < TOLERANCE_RAD:
            goal.succeed(self._state.holding)
            return
        moved = float(np.max(np.abs(self._positions - goal.last)))
        goal.still_s = goal.still_s + dt_s if moved < STALL_RAD * dt_s / STALL_S else 0.0
        goal.last = self._positions.copy()
        if goal.still_s > STALL_S and goal.elapsed_s > STALL_S:
            goal.succeed(self._state.holding)  # stalled on something
        elif goal.elapsed_s > goal.timeout_s:
            goal.fail(MotionTimeout(f"{goal.what}: not done after {goal.timeout_s:.2f} s"))

    def write(self) -> None:
        command, self._command = self._command, None
        body = self._body
        if command is None or body.id is None:
            return
        shape, force_n = command
        p.setJointMotorControlArray(
            body.id, [body.joint_index[j] for j in self.joints], p.POSITION_CONTROL,
            targetPositions=shape.tolist(), forces=(self._effort * force_n / MAX_FORCE_N).tolist(),
            physicsClientId=body.client)


__all__ = ["HAND_CONTACT", "PRESS_POINT", "PRESS_SHAPE", "STROKE_M", "G1Hand"]
