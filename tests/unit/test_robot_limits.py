"""The simulated Panda rejects bad targets before moving, and honours lifecycle and e-stop."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from cellwright.robots import EStopActive, LimitViolation, NotActive, Pose, Robot
from cellwright.robots.sim import make_robot
from cellwright.sim_worlds import SimWorld, load_world

READY = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]


@pytest.fixture
def world() -> Iterator[SimWorld]:
    world = load_world("arm_cell")
    yield world
    world.close()


@pytest.fixture
def arm(world: SimWorld) -> Robot:
    return world.robots["arm"]


def _with(joint: int, value: float) -> list[float]:
    target = list(READY)
    target[joint] = value
    return target


@pytest.mark.parametrize(("target", "joint_name"), [
    (_with(1, math.nan), "panda_joint2"),
    (_with(4, math.inf), "panda_joint5"),
    (_with(3, 0.5), "panda_joint4"),
    (_with(0, -3.5), "panda_joint1"),
])
def test_bad_joint_target_is_rejected_naming_the_joint(
        arm: Robot, world: SimWorld, target: list[float], joint_name: str) -> None:
    before = arm.state()
    with pytest.raises(LimitViolation, match=joint_name):
        arm.move_joints(target)
    assert world.now_s() == before.stamp_s
    np.testing.assert_array_equal(arm.state().position, before.position)


def test_wrong_number_of_joints_is_rejected(arm: Robot) -> None:
    before = arm.state()
    with pytest.raises(LimitViolation, match="expected 7 joint positions"):
        arm.move_joints(READY[:6])
    assert arm.state() is before


def test_non_unit_quaternion_is_rejected(arm: Robot) -> None:
    with pytest.raises(LimitViolation, match="unit quaternion"):
        arm.move_pose(Pose((0.4, 0.0, 0.6), (1.0, 1.0, 0.0, 0.0)))


def test_gripper_wider_than_its_stroke_is_rejected(arm: Robot) -> None:
    with pytest.raises(LimitViolation, match="exceeds"):
        arm.gripper(0.1)


def test_motion_before_activate_raises_not_active(world: SimWorld) -> None:
    spare = make_robot("pybullet.panda", world=world, name="spare", base_position=(0, 2, 0))
    with pytest.raises(NotActive):
        spare.move_joints(READY)
    with pytest.raises(NotActive):
        spare.gripper(0.0)


def test_estop_refuses_motion_until_reset(arm: Robot) -> None:
    arm.estop()
    assert arm.estopped
    with pytest.raises(EStopActive):
        arm.move_joints(_with(0, 0.2))
    arm.reset_estop()
    arm.resume()
    arm.move_joints(_with(0, 0.2))
    assert arm.state().position[0] == pytest.approx(0.2, abs=5e-3)


def test_unknown_robot_kind_lists_known_kinds() -> None:
    with pytest.raises(KeyError, match=r"pybullet\.panda"):
        make_robot("nonexistent.robot")


def test_info_reports_urdf_limits(arm: Robot) -> None:
    info = arm.info()
    assert info.model == "franka_panda"
    assert info.joint_names == tuple(f"panda_joint{i}" for i in range(1, 8))
    assert info.limits.upper[3] == pytest.approx(0.0)
    assert info.limits.velocity[0] == pytest.approx(2.175)
    assert info.capabilities == frozenset({"arm", "gripper"})
