"""Balance of the G1: the margin's geometry (pure), standing on physics alone, a reaching
CoM shift, Unstable before a fall, a controlled e-stop mid-step with a load, Fallen.

PyBullet DIRECT at 480 Hz, the legs on a ControlLoop ticked on the simulation clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pybullet as p
import pytest

from cellwright.api.geometry import Pose
from cellwright.robots import ControlLoop, EStopActive, Fallen, Lifecycle, RobotError, Unstable
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.body import G1Body
from cellwright.robots.sim.g1.legs import G1Legs
from cellwright.robots.sim.g1.stability import centre_of_pressure, convex_hull, signed_distance
from cellwright.testing.worlds import PlaneWorld

DT = 1.0 / 480.0
STANDING_HEIGHT_M = 0.7


# --- the geometry (pure) ---------------------------------------------------------------------
SQUARE = ((0.0, 0.0), (0.2, 0.0), (0.2, 0.1), (0.0, 0.1))


def test_hull_is_counter_clockwise_without_inner_or_collinear_points() -> None:
    points = [*SQUARE, (0.1, 0.05), (0.1, 0.0), (0.2, 0.1)]
    hull = convex_hull(points)
    assert set(hull) == set(SQUARE)
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(hull, hull[1:] + hull[:1], strict=True))
    assert area > 0  # counter-clockwise


def test_margin_is_the_distance_to_the_nearest_edge_inside() -> None:
    hull = convex_hull(SQUARE)
    assert signed_distance((0.1, 0.05), hull) == pytest.approx(0.05)
    assert signed_distance((0.19, 0.05), hull) == pytest.approx(0.01)


def test_margin_is_negative_outside() -> None:
    hull = convex_hull(SQUARE)
    assert signed_distance((0.25, 0.05), hull) == pytest.approx(-0.05)
    assert signed_distance((0.23, 0.14), hull) == pytest.approx(-0.05)  # nearest is a corner


def test_a_segment_or_nothing_has_no_inside() -> None:
    segment = convex_hull([(0.0, 0.0), (0.1, 0.0)])
    assert signed_distance((0.05, 0.0), segment) == pytest.approx(0.0)
    assert signed_distance((0.05, 0.02), segment) == pytest.approx(-0.02)
    assert signed_distance((0.0, 0.0), ()) == -math.inf


def test_two_feet_give_one_polygon_spanning_both() -> None:
    left = [(0.0, 0.1), (0.18, 0.1), (0.18, 0.16), (0.0, 0.16)]
    right = [(0.0, -0.16), (0.18, -0.16), (0.18, -0.1), (0.0, -0.1)]
    hull = convex_hull(left + right)
    assert len(hull) == 4
    assert signed_distance((0.09, 0.0), hull) == pytest.approx(0.09)


def test_centre_of_pressure_weighs_points_by_force() -> None:
    cop = centre_of_pressure([((0.0, 0.0, 0.0), 100.0), ((0.2, 0.0, 0.0), 300.0), ((9.0, 9.0, 0.0), 0.0)])
    assert cop == pytest.approx((0.15, 0.0))
    assert centre_of_pressure([((0.0, 0.0, 0.0), 0.0)]) is None


# --- on physics ----------------------------------------------------------------------------
@dataclass
class Rig:
    world: PlaneWorld
    body: G1Body
    legs: G1Legs
    loop: ControlLoop
    faults: list[RobotError]

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / DT)):
            self.loop.tick()


@pytest.fixture
def rig() -> Iterator[Rig]:
    world = PlaneWorld(DT)
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=False, label="g1")
    faults: list[RobotError] = []
    body.add_fault_listener(faults.append)
    legs = G1Legs("g1/legs", body, {})
    loop = ControlLoop(DT, world=world)
    loop.add(legs)
    legs.activate()
    yield Rig(world, body, legs, loop, faults)
    legs.shutdown()
    world.close()


def test_stands_ten_seconds_on_physics_alone_with_margin(rig: Rig) -> None:
    margins = []
    for _ in range(round(10.0 / DT)):
        rig.loop.tick()
        margins.append(rig.legs.state().margin_m)
    state = rig.legs.state()
    assert state.phase == "standing" and state.tier == "dynamic"
    assert min(margins[48:]) > rig.legs.config.margin_floor_m
    assert state.pose.position[2] > STANDING_HEIGHT_M
    assert set(state.feet_in_contact) == {"left", "right"}
    assert len(state.support_polygon) >= 4
    assert len(state.joints) == 29
    assert rig.faults == []
    assert p.getNumConstraints(physicsClientId=rig.world.client) == 0  # nothing holds it


def test_arms_reaching_forward_shift_the_com_and_it_stays_standing(rig: Rig) -> None:
    rig.run(0.5)
    before = rig.legs.state().com
    reach = {f"{side}_shoulder_pitch_joint": -1.4 for side in g1.SIDES}
    reach.update({f"{side}_elbow_joint": 0.0 for side in g1.SIDES})
    steps = 240
    for k in range(1, steps + 1):  # over 0.5 s
        rig.body.command(list(reach), [v * k / steps for v in reach.values()])
        rig.loop.tick()
    rig.run(2.0)
    state = rig.legs.state()
    arm_com_moved = np.linalg.norm(np.subtract(state.com[:2], before[:2]))
    assert arm_com_moved < 0.03  # the pelvis moved back so the whole-body CoM stayed put
    assert state.margin_m > rig.legs.config.margin_floor_m
    assert state.pose.position[2] > STANDING_HEIGHT_M
    assert rig.faults == []


def test_a_heavy_load_far_in_front_is_unstable_before_it_falls(rig: Rig) -> None:
    """A 12 kg box fixed 0.45 m in front of the torso that nobody told the legs about
    (an undeclared tote): the CoM's projection leaves the feet."""
    rig.run(0.3)
    box = rig.world.add_box("tote", (0.45, 0.0, 0.95), (0.1, 0.15, 0.05), mass=12.0)
    torso = rig.body.link_index["torso_link"]
    torso_pose = p.getLinkState(rig.body.id, torso, physicsClientId=rig.world.client)
    local = p.multiplyTransforms(*p.invertTransform(torso_pose[0], torso_pose[1]), (0.45, 0.0, 0.95),
                                 (0, 0, 0, 1))[0]
    p.createConstraint(rig.body.id, torso, box, -1, p.JOINT_FIXED, (0, 0, 0), local, (0, 0, 0),
                       physicsClientId=rig.world.client)
    rig.run(3.0)
    kinds = [type(f) for f in rig.faults]
    assert Unstable in kinds
    if Fallen in kinds:
        assert kinds.index(Unstable) < kinds.index(Fallen)


def test_estop_mid_step_carrying_a_load_ends_standing(rig: Rig) -> None:
    carry = {f"{side}_shoulder_pitch_joint": -0.35 for side in g1.SIDES}
    carry.update({f"{side}_elbow_joint": 1.2 for side in g1.SIDES})
    rig.body.command(list(carry), list(carry.values()))
    rig.run(0.5)
    hands = [g1.HAND_LINKS[False][side] for side in g1.SIDES]
    left, right = (rig.body.link_pose(h).position for h in hands)
    frame = rig.body.link_pose(hands[0])
    between = p.multiplyTransforms(*p.invertTransform(frame.position, frame.orientation),
                                   [(a + b) / 2 for a, b in zip(left, right, strict=True)], (0, 0, 0, 1))[0]
    rig.body.attach_box(3.0, (0.1, 0.15, 0.08), hands, between)
    rig.run(0.5)
    goal = rig.legs.walk_to(1.0, 0.0, 0.0)
    rig.run(0.6 + 0.8 + 0.3)  # first double support, a step, 0.3 s into the next swing
    assert rig.legs.state().phase == "walking" and not goal.done()
    assert len(rig.legs.state().feet_in_contact) == 1  # mid-step
    rig.legs.estop()
    rig.run(3.0)
    state = rig.legs.state()
    assert isinstance(goal.error(), EStopActive)
    assert state.phase == "standing"
    assert state.pose.position[2] > STANDING_HEIGHT_M
    assert state.margin_m > 0.0
    assert set(state.feet_in_contact) == {"left", "right"}
    assert not any(isinstance(f, Fallen) for f in rig.faults)
    assert rig.legs.lifecycle is Lifecycle.ACTIVE


def test_a_fall_is_fallen_and_the_legs_go_to_error(rig: Rig) -> None:
    rig.run(0.3)
    goal = rig.legs.walk_to(1.0, 0.0, 0.0)
    rig.run(0.5)
    for _ in range(round(0.3 / DT)):  # 600 N sideways for 0.3 s: nobody stands that
        p.applyExternalForce(rig.body.id, -1, (0.0, 600.0, 0.0), rig.body.pelvis_pose().position,
                             p.WORLD_FRAME, physicsClientId=rig.world.client)
        rig.loop.tick()
    rig.run(2.0)
    assert any(isinstance(f, Fallen) for f in rig.faults)
    assert isinstance(goal.error(), Fallen)
    assert goal.error().reason == "fallen"  # type: ignore[union-attr]
    assert rig.legs.lifecycle is Lifecycle.ERROR
    assert rig.legs.error_reason.startswith("fallen")
    assert rig.legs.state().phase == "fallen"
