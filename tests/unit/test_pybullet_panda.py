"""The PyBullet Panda as two components (arm, gripper) on one body, run by a ControlLoop.

Real PyBullet (DIRECT) with a tiny world: a plane and, for the collision test, a box.
Wall-clock timeouts below only guard against hangs; every assertion is on loop time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pybullet as p
import pytest

from cellwright.robots import (
    Arm,
    BuildContext,
    CollisionDetected,
    ControlLoop,
    EStopActive,
    Gripper,
    Lifecycle,
    LimitViolation,
    MotionStopped,
    MotionTimeout,
    NotActive,
    Pose,
    Robot,
    Unreachable,
    build_robot,
)
from cellwright.robots.models.franka_panda import (
    ARM_JOINTS,
    FLANGE_FRAME,
    GRIPPER_MAX_FORCE_N,
    GRIPPER_STROKE_M,
    READY_POSE,
    TOOL_FRAME,
)
from cellwright.robots.sim._world import PhysicsWorld
from cellwright.robots.sim.panda import POSITION_TOLERANCE_RAD, STILL_VELOCITY_RAD_S
from cellwright.testing.worlds import PlaneWorld

HANG_GUARD_S = 60.0
READY = list(READY_POSE)
DOWN = (1.0, 0.0, 0.0, 0.0)  # tool pointing down


@dataclass
class Cell:
    world: PlaneWorld
    loop: ControlLoop
    robot: Robot
    arm: Arm
    gripper: Gripper


def _make_cell(world: PlaneWorld) -> Cell:
    robot = build_robot("pybullet.panda", BuildContext("panda", mount=Pose((0.0, 0.0, 0.0)),
                                                       world=world), {})
    arm, gripper = robot.components["arm"], robot.components["gripper"]
    assert isinstance(arm, Arm) and isinstance(gripper, Gripper)
    loop = ControlLoop(world.dt, world=world)  # lockstep by default
    loop.add(arm)
    loop.add(gripper)
    loop.start()
    for component in (arm, gripper):
        loop.call(component.activate)
    return Cell(world, loop, robot, arm, gripper)


@pytest.fixture
def world() -> Iterator[PlaneWorld]:
    world = PlaneWorld()
    yield world
    world.close()


@pytest.fixture
def cell(world: PlaneWorld) -> Iterator[Cell]:
    cell = _make_cell(world)
    yield cell
    for component in (cell.arm, cell.gripper):
        cell.loop.call(component.shutdown)
    cell.loop.stop()


def _with(joint: int, value: float) -> list[float]:
    target = list(READY)
    target[joint] = value
    return target


def _idle_ticks(cell: Cell) -> int:
    """Ticks once the loop has nothing left to do (it stops ticking in lockstep)."""
    cell.loop.settled([cell.arm, cell.gripper]).result(HANG_GUARD_S)
    return cell.loop.ticks


# --- building ---------------------------------------------------------------------------
def test_build_gives_two_components_on_one_body(cell: Cell) -> None:
    robot = cell.robot
    assert robot.registry_id == "pybullet.panda"
    assert robot.model == "franka_panda" and robot.driver == "pybullet"
    assert robot.approximations and any("friction" in a for a in robot.approximations)
    assert cell.arm.name == "panda/arm" and cell.gripper.name == "panda/gripper"
    info = cell.arm.info()
    assert info.joint_names == ARM_JOINTS
    assert info.frames == (TOOL_FRAME, FLANGE_FRAME)
    assert info.configurations["home"] == tuple(READY_POSE)
    assert info.limits.upper[3] == pytest.approx(0.0)
    assert info.limits.velocity[0] == pytest.approx(2.175)
    gripper_info = cell.gripper.info()
    assert gripper_info.stroke_m == GRIPPER_STROKE_M
    assert gripper_info.max_force_n == GRIPPER_MAX_FORCE_N
    assert gripper_info.tool_frame == TOOL_FRAME
    state = cell.arm.state()
    np.testing.assert_allclose(state.position, READY, atol=1e-6)
    assert set(state.frames) == {TOOL_FRAME, FLANGE_FRAME}
    assert cell.gripper.state().width_m == pytest.approx(GRIPPER_STROKE_M, abs=1e-3)
    bodies = {p.getBodyUniqueId(i, physicsClientId=cell.world.client)
              for i in range(p.getNumBodies(physicsClientId=cell.world.client))}
    assert len(bodies) == 2  # the plane and one Panda


def test_build_needs_a_world() -> None:
    with pytest.raises(ValueError, match="needs a PyBullet world"):
        build_robot("pybullet.panda", BuildContext("panda"), {})
    with pytest.raises(TypeError, match="PyBullet world"):
        build_robot("pybullet.panda", BuildContext("panda", world=object()), {})


def test_unknown_model_id_lists_known_ids(world: PlaneWorld) -> None:
    with pytest.raises(KeyError, match=r"pybullet\.panda"):
        build_robot("nonexistent.robot", BuildContext("panda", world=world), {})


def test_tiny_world_is_a_physics_world(world: PlaneWorld) -> None:
    assert isinstance(world, PhysicsWorld)


def test_build_checks_configured_joints(world: PlaneWorld) -> None:
    with pytest.raises(ValueError, match="panda_joint4"):
        build_robot("pybullet.panda", BuildContext("panda", world=world),
                    {"initial_joints": _with(3, 0.5)})
    robot = build_robot("pybullet.panda", BuildContext("panda", world=world),
                        {"configurations": {"tuck": _with(0, 0.3)}})
    arm = robot.components["arm"]
    assert isinstance(arm, Arm)
    assert arm.info().configurations["tuck"][0] == pytest.approx(0.3)
    assert "home" in arm.info().configurations


def test_initial_joints_and_mount(world: PlaneWorld) -> None:
    initial = _with(0, 0.4)
    robot = build_robot("pybullet.panda", BuildContext("panda", mount=Pose((0.0, 1.0, 0.0)),
                                                       world=world), {"initial_joints": initial})
    arm = robot.components["arm"]
    assert isinstance(arm, Arm)
    loop = ControlLoop(world.dt, world=world)  # lockstep by default
    loop.add(arm)
    loop.start()
    try:
        loop.call(arm.activate)
        np.testing.assert_allclose(arm.state().position, initial, atol=1e-6)
        assert arm.tool_pose().position[1] > 0.5
    finally:
        loop.call(arm.shutdown)
        loop.stop()


def test_activate_is_idempotent(cell: Cell) -> None:
    bodies = p.getNumBodies(physicsClientId=cell.world.client)
    for component in (cell.arm, cell.gripper):
        cell.loop.call(component.activate)
        assert component.lifecycle is Lifecycle.ACTIVE
    assert p.getNumBodies(physicsClientId=cell.world.client) == bodies


def test_motion_before_activate_raises_not_active(world: PlaneWorld) -> None:
    robot = build_robot("pybullet.panda", BuildContext("spare", world=world), {})
    arm, gripper = robot.components["arm"], robot.components["gripper"]
    assert isinstance(arm, Arm) and isinstance(gripper, Gripper)
    with pytest.raises(NotActive):
        arm.move_joints(READY)
    with pytest.raises(NotActive):
        gripper.move(0.0)


# --- motion -----------------------------------------------------------------------------
def test_joint_move_reaches_target(cell: Cell) -> None:
    target = _with(0, 0.5)
    goal = cell.arm.move_joints(target)
    assert goal.result(timeout_s=HANG_GUARD_S) is None
    assert goal.progress == 1.0
    state = cell.arm.state()
    assert np.max(np.abs(state.position - target)) < POSITION_TOLERANCE_RAD
    assert np.max(np.abs(state.velocity)) < STILL_VELOCITY_RAD_S


def test_move_pose_reaches_pose(cell: Cell) -> None:
    target = Pose((0.45, 0.1, 0.35), DOWN)
    cell.arm.move_pose(target).result(timeout_s=HANG_GUARD_S)
    reached = cell.arm.tool_pose()
    assert math.dist(reached.position, target.position) < 5e-3
    dot = abs(float(np.dot(reached.orientation, target.orientation)))
    assert 2 * math.acos(min(dot, 1.0)) < 0.05


def test_move_pose_of_the_flange(cell: Cell) -> None:
    target = Pose((0.4, -0.1, 0.5), DOWN)
    cell.arm.move_pose(target, frame=FLANGE_FRAME).result(timeout_s=HANG_GUARD_S)
    assert math.dist(cell.arm.tool_pose(FLANGE_FRAME).position, target.position) < 5e-3


def test_arm_and_gripper_move_at_once(cell: Cell) -> None:
    done_at: dict[str, float] = {}
    start = cell.loop.now_s()
    arm_goal = cell.arm.move_joints(_with(0, 1.5), speed=0.3)
    gripper_goal = cell.gripper.move(0.01)

    def watch(now_s: float) -> None:  # every tick, on the loop thread
        for name, goal in (("arm", arm_goal), ("gripper", gripper_goal)):
            if goal.done() and name not in done_at:
                done_at[name] = now_s

    cell.loop.call(lambda: cell.loop.add_listener(watch, cell.world.dt, when_idle=False))
    assert gripper_goal.result(timeout_s=HANG_GUARD_S) is False  # nothing between the fingers
    arm_goal.result(timeout_s=HANG_GUARD_S)
    _idle_ticks(cell)
    arm_done_at = done_at.get("arm", cell.arm.state().stamp_s)  # its last tick if idle since
    assert done_at["gripper"] - start < 0.5 * (arm_done_at - start)
    assert cell.gripper.state().width_m == pytest.approx(0.01, abs=1e-3)
    assert cell.arm.state().position[0] == pytest.approx(1.5, abs=POSITION_TOLERANCE_RAD)


def test_lockstep_clock_stands_still_while_idle(cell: Cell) -> None:
    cell.arm.move_joints(_with(0, 0.2)).result(timeout_s=HANG_GUARD_S)
    ticks = _idle_ticks(cell)
    time.sleep(0.2)
    assert cell.loop.ticks == ticks
    assert cell.arm.state().stamp_s == pytest.approx(ticks * cell.world.dt)


def test_gripper_closes_on_a_part_and_holds_it(cell: Cell) -> None:
    tool = cell.arm.tool_pose().position
    shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=(0.02, 0.02, 0.02),
                                   physicsClientId=cell.world.client)

    def add_part() -> int:
        body = int(p.createMultiBody(0.1, shape, basePosition=tool, physicsClientId=cell.world.client))
        cell.world.parts.add(body)
        return body

    cell.loop.call(add_part)
    assert cell.gripper.move(0.0, force_n=40.0).result(timeout_s=HANG_GUARD_S) is True
    assert cell.gripper.state().holding
    assert cell.gripper.state().width_m == pytest.approx(0.04, abs=3e-3)


# --- stops, cancels, failures ---------------------------------------------------------
def _run_until_moving(cell: Cell, fraction: float = 0.2) -> None:
    """Wait (hang-guarded) until the arm's goal has made some progress."""
    deadline = time.monotonic() + HANG_GUARD_S
    goal = cell.arm.goal
    while goal is None or goal.progress < fraction:
        assert time.monotonic() < deadline, "the arm never started moving"
        time.sleep(0.001)
        goal = cell.arm.goal if goal is None else goal


def test_stop_during_move_holds_and_refuses_until_resume(cell: Cell) -> None:
    goal = cell.arm.move_joints(_with(0, 2.0), speed=0.2)
    _run_until_moving(cell)
    cell.arm.stop()
    with pytest.raises(MotionStopped):
        goal.result(timeout_s=HANG_GUARD_S)
    _idle_ticks(cell)
    state = cell.arm.state()
    assert np.max(np.abs(state.velocity)) < 0.1
    assert 0.05 < state.position[0] < 1.9  # stopped on the way
    with pytest.raises(MotionStopped):
        cell.arm.move_joints(READY)
    cell.arm.resume()
    cell.arm.move_joints(READY).result(timeout_s=HANG_GUARD_S)
    assert cell.arm.state().position[0] == pytest.approx(0.0, abs=POSITION_TOLERANCE_RAD)


def test_stop_is_busy_until_the_arm_is_still(cell: Cell) -> None:
    goal = cell.arm.move_joints(_with(0, 2.0), speed=0.5)
    _run_until_moving(cell, 0.4)
    ended: list[bool] = []

    def stop_and_look() -> None:  # on the loop thread: no tick in between
        cell.arm.stop()
        ended.append(goal.done())
        ended.append(cell.arm.busy())

    cell.loop.call(stop_and_look)
    assert ended == [False, True]
    with pytest.raises(MotionStopped):
        goal.result(timeout_s=HANG_GUARD_S)


def test_estop_ends_with_estop_active_until_reset(cell: Cell) -> None:
    goal = cell.arm.move_joints(_with(0, 2.0), speed=0.2)
    _run_until_moving(cell)
    cell.arm.estop()
    cell.gripper.estop()
    with pytest.raises(EStopActive):
        goal.result(timeout_s=HANG_GUARD_S)
    _idle_ticks(cell)
    assert np.max(np.abs(cell.arm.state().velocity)) < 0.1
    with pytest.raises(EStopActive):
        cell.arm.move_joints(READY)
    with pytest.raises(EStopActive):
        cell.gripper.move(0.02)
    cell.arm.resume()  # not enough while e-stopped
    with pytest.raises(EStopActive):
        cell.arm.move_joints(READY)
    cell.arm.reset_estop()
    with pytest.raises(MotionStopped):
        cell.arm.move_joints(READY)
    cell.arm.resume()
    cell.arm.move_joints(READY).result(timeout_s=HANG_GUARD_S)


def test_estop_of_a_closing_gripper(cell: Cell) -> None:
    goal = cell.gripper.move(0.0, timeout_s=30.0)

    def estop_once_closing(_now_s: float) -> None:  # on the loop thread, inside a tick
        if goal.progress > 0 and not cell.gripper.estopped:
            cell.gripper.estop()

    cell.loop.call(lambda: cell.loop.add_listener(estop_once_closing, cell.world.dt,
                                                  when_idle=False))
    with pytest.raises(EStopActive):
        goal.result(timeout_s=HANG_GUARD_S)
    width = cell.gripper.state().width_m
    assert 0.005 < width < GRIPPER_STROKE_M - 0.001  # stopped on the way
    with pytest.raises(EStopActive):
        cell.gripper.move(0.02)


def test_cancel_ends_goal_with_motion_stopped(cell: Cell) -> None:
    goal = cell.arm.move_joints(_with(0, 2.0), speed=0.2)
    _run_until_moving(cell)
    goal.cancel()
    with pytest.raises(MotionStopped):
        goal.result(timeout_s=HANG_GUARD_S)
    _idle_ticks(cell)
    assert np.max(np.abs(cell.arm.state().velocity)) < 0.1
    cell.arm.move_joints(READY).result(timeout_s=HANG_GUARD_S)  # no resume() needed


def test_gripper_cancel_ends_with_motion_stopped(cell: Cell) -> None:
    goal = cell.gripper.move(0.0, timeout_s=30.0)
    goal.cancel()
    with pytest.raises(MotionStopped):
        goal.result(timeout_s=HANG_GUARD_S)


def test_new_goal_preempts_the_running_one(cell: Cell) -> None:
    first = cell.arm.move_joints(_with(0, 2.0), speed=0.2)
    _run_until_moving(cell)
    second = cell.arm.move_joints(_with(0, -0.5), speed=0.5)
    with pytest.raises(MotionStopped, match="preempted"):
        first.result(timeout_s=HANG_GUARD_S)
    second.result(timeout_s=HANG_GUARD_S)
    assert cell.arm.state().position[0] == pytest.approx(-0.5, abs=POSITION_TOLERANCE_RAD)


def test_tiny_timeout_ends_with_motion_timeout(cell: Cell) -> None:
    goal = cell.arm.move_joints(_with(0, 1.0), timeout_s=0.02)
    with pytest.raises(MotionTimeout):
        goal.result(timeout_s=HANG_GUARD_S)
    _idle_ticks(cell)
    cell.arm.move_joints(READY).result(timeout_s=HANG_GUARD_S)


def test_gripper_tiny_timeout_ends_with_motion_timeout(cell: Cell) -> None:
    with pytest.raises(MotionTimeout):
        cell.gripper.move(0.0, timeout_s=0.01).result(timeout_s=HANG_GUARD_S)


def test_collision_with_an_obstacle(cell: Cell) -> None:
    tool = cell.arm.tool_pose().position
    cell.loop.call(lambda: cell.world.add_box(
        "wall", (tool[0], tool[1], tool[2] - 0.15), (0.1, 0.1, 0.02)))
    goal = cell.arm.move_pose(Pose((tool[0], tool[1], tool[2] - 0.3), DOWN), speed=0.3)
    with pytest.raises(CollisionDetected, match="wall"):
        goal.result(timeout_s=HANG_GUARD_S)
    _idle_ticks(cell)
    # a move away from the contact is allowed
    cell.arm.move_pose(Pose((tool[0], tool[1], tool[2] + 0.05), DOWN)).result(timeout_s=HANG_GUARD_S)


# --- refusals (ported from test_robot_limits.py): raised at once, nothing moves ---------
@pytest.mark.parametrize(("target", "joint_name"), [
    (_with(1, math.nan), "panda_joint2"),
    (_with(4, math.inf), "panda_joint5"),
    (_with(3, 0.5), "panda_joint4"),
    (_with(0, -3.5), "panda_joint1"),
])
def test_bad_joint_target_is_refused_naming_the_joint(
        cell: Cell, target: list[float], joint_name: str) -> None:
    ticks, before = _idle_ticks(cell), cell.arm.state()
    with pytest.raises(LimitViolation, match=joint_name):
        cell.arm.move_joints(target)
    assert _idle_ticks(cell) == ticks
    assert cell.arm.state() is before


def test_wrong_number_of_joints_is_refused(cell: Cell) -> None:
    ticks, before = _idle_ticks(cell), cell.arm.state()
    with pytest.raises(LimitViolation, match="expected 7 joint positions"):
        cell.arm.move_joints(READY[:6])
    assert _idle_ticks(cell) == ticks
    assert cell.arm.state() is before


@pytest.mark.parametrize(("speed", "timeout_s"), [
    (0.0, 1.0), (1.5, 1.0), (math.nan, 1.0), (0.5, 0.0), (0.5, -1.0), (0.5, math.inf),
])
def test_bad_speed_or_timeout_is_refused(cell: Cell, speed: float, timeout_s: float) -> None:
    ticks = _idle_ticks(cell)
    with pytest.raises(LimitViolation):
        cell.arm.move_joints(_with(0, 0.3), speed=speed, timeout_s=timeout_s)
    assert _idle_ticks(cell) == ticks


@pytest.mark.parametrize("pose", [
    Pose((0.4, 0.0, 0.6), (1.0, 1.0, 0.0, 0.0)),
    Pose((0.4, math.nan, 0.6), DOWN),
    Pose((math.inf, 0.0, 0.6), DOWN),
])
def test_bad_pose_is_refused(cell: Cell, pose: Pose) -> None:
    ticks = _idle_ticks(cell)
    with pytest.raises(LimitViolation):
        cell.arm.move_pose(pose)
    assert _idle_ticks(cell) == ticks


def test_non_unit_quaternion_names_the_problem(cell: Cell) -> None:
    with pytest.raises(LimitViolation, match="unit quaternion"):
        cell.arm.move_pose(Pose((0.4, 0.0, 0.6), (1.0, 1.0, 0.0, 0.0)))


def test_unknown_frame_is_refused(cell: Cell) -> None:
    with pytest.raises(LimitViolation, match="no frame"):
        cell.arm.move_pose(Pose((0.4, 0.0, 0.6), DOWN), frame="panda_hand_camera")


def test_out_of_reach_pose_is_unreachable(cell: Cell) -> None:
    ticks = _idle_ticks(cell)
    with pytest.raises(Unreachable, match="misses by"):
        cell.arm.move_pose(Pose((2.0, 0.0, 0.5), DOWN))
    assert _idle_ticks(cell) == ticks


@pytest.mark.parametrize(("width_m", "force_n"), [
    (GRIPPER_STROKE_M + 0.01, None),
    (-0.001, None),
    (math.nan, None),
    (0.02, GRIPPER_MAX_FORCE_N + 1.0),
    (0.02, 0.0),
    (0.02, -5.0),
    (0.02, math.inf),
])
def test_bad_gripper_command_is_refused(cell: Cell, width_m: float, force_n: float | None) -> None:
    ticks, before = _idle_ticks(cell), cell.gripper.state()
    with pytest.raises(LimitViolation):
        cell.gripper.move(width_m, force_n=force_n)
    assert _idle_ticks(cell) == ticks
    assert cell.gripper.state() is before


def test_gripper_bad_timeout_is_refused(cell: Cell) -> None:
    with pytest.raises(LimitViolation):
        cell.gripper.move(0.02, timeout_s=0.0)
