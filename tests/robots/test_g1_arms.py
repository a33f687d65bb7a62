"""The G1's arms and hands: IK on its own model, the Arm contract's checks, moves on physics.

Real PyBullet (DIRECT) at 480 Hz; the G1 stands on its own legs (`G1Legs`, no base
constraint). Every assertion is on loop time or the model; wall-clock timeouts only guard
against hangs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from cellwright.api.geometry import Pose
from cellwright.robots.errors import LimitViolation, MotionStopped, Unreachable
from cellwright.robots.loop import ControlLoop
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.arm_ik import ArmKinematics, pose_of, se3
from cellwright.robots.sim.g1.arms import HOME, G1Arm, mirrored
from cellwright.robots.sim.g1.body import G1Body
from cellwright.robots.sim.g1.hands import STROKE_M, G1Hand
from cellwright.robots.sim.g1.legs import G1Legs
from cellwright.testing.worlds import PlaneWorld

HANG_GUARD_S = 120.0


@dataclass
class Cell:
    world: PlaneWorld
    body: G1Body
    loop: ControlLoop
    legs: G1Legs
    arms: dict[str, G1Arm]
    hands: dict[str, G1Hand]


@pytest.fixture
def cell() -> Iterator[Cell]:
    world = PlaneWorld(1.0 / 480.0)
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=True, label="g1")
    legs = G1Legs("g1/legs", body)
    arms = {side: G1Arm(f"g1/{side}_arm", body, side) for side in g1.SIDES}
    hands = {side: G1Hand(f"g1/{side}_hand", body, side) for side in g1.SIDES}
    components = [legs, *arms.values(), *hands.values()]
    loop = ControlLoop(world.dt, world=world)
    for component in components:
        loop.add(component)
    loop.start()
    for component in components:
        loop.call(component.activate)
    yield Cell(world, body, loop, legs, arms, hands)
    for component in components:
        loop.call(component.shutdown)
    loop.stop()
    world.close()


# --- IK on the model (no simulator) -----------------------------------------------------------
@pytest.mark.parametrize("side", g1.SIDES)
def test_ik_reaches_random_reachable_targets_from_nearby_seeds(side: str) -> None:
    kinematics = ArmKinematics(side, hands=True)
    rng = np.random.default_rng(7)
    torso = Pose((0.3, -0.2, 0.8), (0.0, 0.0, 0.3826834, 0.9238795))  # the torso anywhere
    for _ in range(50):
        joints = rng.uniform(kinematics.lower, kinematics.upper)
        target = pose_of(se3(torso) * kinematics.hand_in_torso(joints))
        seed = np.clip(joints + rng.normal(0.0, 0.3, 7), kinematics.lower, kinematics.upper)
        solution = kinematics.solve(target, torso, seed)
        assert solution.position_error_m < 5e-3 and solution.orientation_error_rad < 0.03
        assert np.all(solution.joints >= kinematics.lower) and np.all(solution.joints <= kinematics.upper)


def test_ik_of_a_target_out_of_reach_reports_how_far_it_misses() -> None:
    kinematics = ArmKinematics("left", hands=True)
    solution = kinematics.solve(Pose((1.0, 0.2, 0.0)), Pose((0.0, 0.0, 0.0)), np.zeros(7))
    assert solution.position_error_m > 0.4  # the arm is ~0.45 m long from the shoulder


# --- the Arm contract on physics ------------------------------------------------------------------
def test_info_gives_joints_limits_hand_frame_and_configurations(cell: Cell) -> None:
    info = cell.arms["right"].info()
    assert info.joint_names == g1.ARM_JOINTS["right"]
    assert info.frames == ("right_hand_palm_link",)
    assert info.configurations["home"] == mirrored(HOME, "right")
    assert set(info.configurations) == {"home", "carry"}
    assert info.limits.upper[3] == pytest.approx(2.0944, abs=1e-4)


def test_a_target_outside_the_joint_limits_is_refused_naming_the_joint(cell: Cell) -> None:
    arm = cell.arms["left"]
    target = list(arm.info().configurations["home"])
    target[3] = 2.5
    with pytest.raises(LimitViolation, match=r"left_elbow_joint target 2.5000 rad is outside its limits"):
        arm.move_joints(target)


def test_an_unreachable_pose_is_refused_saying_how_far_off(cell: Cell) -> None:
    arm = cell.arms["left"]
    with pytest.raises(Unreachable, match=r"best misses by \d+\.\d mm"):
        arm.move_pose(Pose((1.5, 0.3, 0.8)))


def test_move_joints_and_move_pose_reach_their_targets_standing_on_physics(cell: Cell) -> None:
    arm = cell.arms["left"]
    home = arm.info().configurations["home"]
    arm.move_joints(home).result(HANG_GUARD_S)
    assert np.max(np.abs(arm.state().position - np.array(home))) < 0.02
    target = arm.tool_pose()
    goal = Pose((target.position[0] + 0.08, target.position[1], target.position[2] + 0.12), target.orientation)
    start = cell.loop.now_s()
    arm.move_pose(goal).result(HANG_GUARD_S)
    reached = arm.tool_pose().position
    # joint position control capped at the URDF torques sags under gravity: 10-16 mm over
    # five targets around this one, from the home pose (hands beside the hips)
    assert np.linalg.norm(np.array(reached) - np.array(goal.position)) < 0.02
    assert cell.loop.now_s() - start < 3.0
    assert cell.legs.state().phase == "standing" and cell.legs.state().margin_m > 0.0


def test_stop_holds_the_arm_where_it_was_commanded(cell: Cell) -> None:
    arm = cell.arms["right"]
    goal = arm.move_joints(arm.info().configurations["carry"], speed=0.3)
    cell.loop.sleep(0.5).result(HANG_GUARD_S)
    arm.stop()
    with pytest.raises(MotionStopped):
        goal.result(HANG_GUARD_S)
    held = arm.state().position.copy()
    cell.loop.sleep(1.0).result(HANG_GUARD_S)
    assert np.max(np.abs(arm.state().position - held)) < 0.03


# --- the hands --------------------------------------------------------------------------------
def test_a_hand_closes_and_opens_over_its_stroke(cell: Cell) -> None:
    hand = cell.hands["left"]
    assert hand.info().stroke_m == STROKE_M
    assert hand.move(0.0).result(HANG_GUARD_S) is False  # nothing between the fingers
    assert hand.state().width_m < 0.02 * STROKE_M + 0.01
    hand.open().result(HANG_GUARD_S)
    assert hand.state().width_m > 0.9 * STROKE_M


def test_the_rubber_hand_model_has_no_gripper() -> None:
    world = PlaneWorld()
    try:
        body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=False, label="g1")
        with pytest.raises(ValueError, match="no fingers"):
            G1Hand("g1/left_hand", body, "left")
    finally:
        world.close()
