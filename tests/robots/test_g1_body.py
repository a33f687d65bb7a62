"""The G1's shared PyBullet body: loading standing, commands once per tick, faults, loads.

Real PyBullet (DIRECT) at 480 Hz on a plane; every figure is on simulation time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from cellwright.api.geometry import Pose, quaternion_from_rpy
from cellwright.robots import Fallen, RobotError, Unstable
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.body import FOOT_CONTACT, STANDING_POSE, G1Body
from cellwright.testing.worlds import PlaneWorld

DT = 1.0 / 480.0


@pytest.fixture
def world() -> Iterator[PlaneWorld]:
    world = PlaneWorld(DT)
    yield world
    world.close()


def test_loads_standing_on_the_floor_at_the_mount(world: PlaneWorld) -> None:
    mount = Pose((1.0, -2.0, 0.0), quaternion_from_rpy(0.0, 0.0, math.pi / 2))
    body = G1Body(world, "g1", mount, hands=False, label="robot g1")
    body.acquire("legs")
    assert len(body.joint_names) == 29
    assert body.link_index["pelvis"] == -1
    world.step(480)  # 1 s on physics alone
    feet = [body.link_pose(g1.FOOT_LINKS[side]).position for side in g1.SIDES]
    middle = np.mean([f[:2] for f in feet], axis=0)
    # the foot frames are 3 cm behind the soles' centres, which stand on the mount
    assert np.allclose(middle, (1.0, -2.0 - 0.03), atol=0.01)
    assert body.pelvis_pose().position[2] > 0.7
    assert {c.foot for c in body.foot_contacts()} == {"left", "right"}
    assert body.non_foot_floor_contacts() == []
    assert world.body_name(body.id) == "robot g1"


def test_the_hands_model_has_43_joints(world: PlaneWorld) -> None:
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=True, label="g1")
    body.acquire("legs")
    assert len(body.joint_names) == 43


def test_foot_contact_parameters_are_set(world: PlaneWorld) -> None:
    import pybullet as p

    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=False, label="g1")
    body.acquire("legs")
    info = p.getDynamicsInfo(body.id, body.link_index[g1.FOOT_LINKS["left"]], physicsClientId=world.client)
    assert info[1] == pytest.approx(FOOT_CONTACT["lateralFriction"])
    assert info[7] == pytest.approx(FOOT_CONTACT["spinningFriction"])


def test_commands_are_sent_once_a_tick_and_reach_the_joints(world: PlaneWorld) -> None:
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=False, label="g1")
    body.acquire("legs")
    joint = "left_elbow_joint"
    body.command([joint], [0.3])
    body.flush()
    body.flush()  # a second component's write(): nothing left to send
    assert body.last_target(joint) == pytest.approx(0.3)
    world.step(240)
    assert body.joint_positions([joint])[0] == pytest.approx(0.3, abs=0.02)
    assert body.last_target("left_knee_joint") == pytest.approx(STANDING_POSE["left_knee_joint"])


def test_a_second_user_shares_the_body_and_the_last_release_removes_it(world: PlaneWorld) -> None:
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=False, label="g1")
    first = body.acquire("legs")
    assert body.acquire("left_arm") == first
    body.release("legs")
    assert body.id == first
    body.release("left_arm")
    assert body.id is None


def test_faults_reach_every_listener_in_order(world: PlaneWorld) -> None:
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=False, label="g1")
    heard: list[tuple[str, RobotError]] = []
    body.add_fault_listener(lambda e: heard.append(("arm", e)))
    body.add_fault_listener(lambda e: heard.append(("hand", e)))
    unstable, fallen = Unstable("margin"), Fallen("pelvis low")
    body.fault(unstable)
    assert body.faulted is None
    body.fault(fallen)
    assert body.faulted is fallen
    assert heard == [("arm", unstable), ("hand", unstable), ("arm", fallen), ("hand", fallen)]


def test_an_attached_box_is_a_payload_of_the_hands(world: PlaneWorld) -> None:
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=False, label="g1")
    body.acquire("legs")
    hands = [g1.HAND_LINKS[False][side] for side in g1.SIDES]
    box = body.attach_box(3.0, (0.05, 0.1, 0.05), hands, (0.1, -0.1, 0.0))
    assert box != body.id
    assert sum(p.mass_kg for p in body.payloads.values()) == pytest.approx(3.0)
    assert {p.link for p in body.payloads.values()} == set(hands)
