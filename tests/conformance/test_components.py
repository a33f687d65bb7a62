"""Every component of every registered robot model keeps its kind's contract
(`cellwright.testing.check_component`), and the mock components behave as documented.

Each driver gets the environment it needs: `mock.*` a KinematicScene, `pybullet.*` a
minimal PyBullet world built here (DIRECT client, a plane, dt 1/240), `opcua.*` a virtual
controller and `modbus.*` a virtual device on loopback (real servers backed by PyBullet;
their loops run on the wall clock). Wall-clock timeouts only guard against hangs;
assertions are on loop time.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from _modbus import modbus_environment
from _opcua import opcua_environment
from _served import Served

from cellwright.api.layout import Station
from cellwright.robots import (
    ROBOTS,
    Arm,
    BuildContext,
    Component,
    ControlLoop,
    Gripper,
    IOPoint,
    LimitViolation,
    MotionTimeout,
    NotActive,
    Pose,
    Robot,
    Unreachable,
    build_robot,
)
from cellwright.robots.mock import KinematicScene, MockArm, MockBase, MockIO, MockPartLocator
from cellwright.robots.models.franka_panda import TOOL_FRAME
from cellwright.testing import check_component, check_link_loss, wait_until
from cellwright.testing.worlds import PlaneWorld

DT = 1.0 / 240.0
WALL_DT = 0.01
HANG_GUARD_S = 60.0
PLACEHOLDER_CONFIGS: dict[str, dict[str, Any]] = {
    "opcua": {"endpoint": "opc.tcp://127.0.0.1:1"}, "modbus": {"host": "127.0.0.1", "port": 1}}


@dataclass
class Environment:
    """What a driver's robot is built with, what the loop steps, and on which clock."""

    context_world: Any
    stepper: PlaneWorld | None
    served: Served | None = None
    """A real driver's server on loopback (its config, close, break and restore)."""

    @property
    def config(self) -> dict[str, Any]:
        return self.served.config if self.served is not None else {}

    @property
    def loop_dt_and_clock(self) -> tuple[float, str]:
        """Simulated and mock drivers tick in lockstep; real drivers on the wall clock (their
        devices move in real time), at the 100 Hz of a cell without a world."""
        return (DT, "lockstep") if self.served is None else (WALL_DT, "realtime")

    def close(self) -> None:
        if self.stepper is not None:
            self.stepper.close()
        if self.served is not None:
            self.served.close()


def environment(model_id: str) -> Environment:
    """PyBullet drivers get a plane world, mocks a kinematic scene, real drivers their virtual
    device or controller on loopback (a real server backed by PyBullet)."""
    driver = ROBOTS.get(model_id).driver
    if driver == "pybullet":
        world = PlaneWorld()
        return Environment(world, world)
    if driver == "mock":
        return Environment(KinematicScene(), None)
    if driver == "opcua":
        return Environment(None, None, opcua_environment(model_id))
    if driver == "modbus":
        return Environment(None, None, modbus_environment(model_id))
    return Environment(None, None)


def _components(model_id: str) -> list[str]:
    """The component keys of a model, from a build with no I/O (real drivers connect only
    when configured, so a placeholder endpoint will do)."""
    driver = ROBOTS.get(model_id).driver
    world = PlaneWorld() if driver == "pybullet" else KinematicScene() if driver == "mock" else None
    try:
        config = PLACEHOLDER_CONFIGS.get(driver, {})
        return list(build_robot(model_id, BuildContext("conf", world=world), config).components)
    finally:
        if isinstance(world, PlaneWorld):
            world.close()


def _params() -> list[Any]:
    """(model id, component key) for every component of every registered model."""
    params: list[Any] = []
    for model_id in ROBOTS.ids():
        try:
            keys = _components(model_id)
        except Exception:  # a registered model that cannot be built fails the suite
            params.append(pytest.param(model_id, "", id=f"{model_id}:build"))  # fails in the test
            continue
        params += [pytest.param(model_id, key, id=f"{model_id}:{key}") for key in keys]
    return params


@contextlib.contextmanager
def _model_running(model_id: str) -> Iterator[tuple[Robot, ControlLoop, Environment]]:
    """The model's robot built in its environment, on a started loop, every component active."""
    env = environment(model_id)
    robot = build_robot(model_id, BuildContext("conf", world=env.context_world), env.config)
    dt, clock = env.loop_dt_and_clock
    loop = ControlLoop(dt, world=env.stepper, clock=clock)
    for component in robot.components.values():  # the others hold still meanwhile
        loop.add(component)
    loop.start()
    try:
        for component in robot.components.values():
            loop.call(component.activate)
        yield robot, loop, env
    finally:
        for component in robot.components.values():
            loop.call(component.shutdown)
        loop.stop()
        env.close()


@pytest.mark.parametrize("model_id, key", _params())
def test_registered_component_keeps_its_kind_contract(model_id: str, key: str) -> None:
    with _model_running(model_id) as (robot, loop, _env):
        check_component(robot.components[key], loop)


@pytest.mark.parametrize("model_id, key", [p for p in _params() if ROBOTS.get(p.values[0]).driver
                                           in PLACEHOLDER_CONFIGS])
def test_a_real_driver_turns_a_lost_link_into_an_error_and_recovers(model_id: str, key: str) -> None:
    with _model_running(model_id) as (robot, loop, env):
        assert env.served is not None
        check_link_loss(robot.components[key], loop, env.served.break_link, env.served.restore_link)


# --- the kit catches broken components ----------------------------------------------------------
class ClampingArm(MockArm):
    """Broken on purpose: clamps targets into the limits instead of refusing them."""

    def check_joint_target(self, target_rad: Any) -> Any:
        info = self.info()
        values = np.resize(np.nan_to_num(np.asarray(target_rad, dtype=np.float64).ravel(),
                                         posinf=0.0, neginf=0.0), len(info.joint_names))
        return np.clip(values, info.limits.lower, info.limits.upper)


def _running(*components: Component, world: PlaneWorld | None = None) -> ControlLoop:
    loop = ControlLoop(DT, world=world)
    for component in components:
        loop.add(component)
    loop.start()
    for component in components:
        loop.call(component.activate)
    return loop


def _stop(loop: ControlLoop) -> None:
    for component in loop.components:
        loop.call(component.shutdown)
    loop.stop()


def test_the_kit_catches_an_arm_that_clamps_instead_of_refusing() -> None:
    good = build_robot("mock.panda", BuildContext("bad"), {}).components["arm"]
    assert isinstance(good, MockArm)
    broken = ClampingArm(
        "bad/arm", "franka_panda", urdf_path=good._urdf_path, joint_names=good.info().joint_names,
        frames=good.info().frames, limits=good.info().limits,
        max_acceleration=tuple(good._max_acceleration), configurations=good.info().configurations,
        initial=good.state().position.tolist(), mount=Pose((0.0, 0.0, 0.0)))
    loop = _running(broken)
    try:
        with pytest.raises(AssertionError) as failed:
            check_component(broken, loop, motion=False)
    finally:
        _stop(loop)
    message = str(failed.value)
    assert "bad/arm (ClampingArm, kind arm) failed" in message
    assert "limits: move_joints with NaN for the first joint: was accepted (was it clamped?)" in message
    assert "above the first joint's upper limit: was accepted" in message
    assert "one joint too few: was accepted" in message


class Thing(Component):
    """A component of a kind the kit does not know."""

    kind = "thing"


def test_a_component_of_an_unknown_kind_gets_the_generic_checks() -> None:
    thing = Thing("conf/thing", "widget", "mock")
    loop = _running(thing)
    try:
        check_component(thing, loop)
    finally:
        _stop(loop)


def test_the_kit_names_an_unqualified_name_and_a_missing_driver() -> None:
    thing = Thing("thing", "widget", "")
    loop = _running(thing)
    try:
        with pytest.raises(AssertionError, match=r"name 'thing' is not qualified.*driver is empty"):
            check_component(thing, loop)
    finally:
        _stop(loop)


# --- MockBase and MockIO -------------------------------------------------------------------------
POINTS = (IOPoint("run", "out", "digital"), IOPoint("speed", "out", "analog", 0.0, 0.5, "m/s"),
          IOPoint("present", "in", "digital"), IOPoint("level", "in", "analog", 0.0, 10.0, "V"))


def test_mock_io_and_mock_base_pass_the_kit() -> None:
    io = MockIO("line/io", "io_block", POINTS)
    base = MockBase("agv/base", "agv", workspace=(-5.0, -5.0, 5.0, 5.0))
    fixed = MockBase("post/base", "post", mobility="fixed")
    loop = _running(io, base, fixed)
    try:
        for component in (io, base, fixed):
            check_component(component, loop)
    finally:
        _stop(loop)


def test_mock_io_outputs_and_inputs_take_effect_on_the_next_tick() -> None:
    io = MockIO("line/io", "io_block", POINTS, initial={"speed": 0.2})
    loop = ControlLoop(DT)  # ticked by hand
    loop.add(io)
    io.activate()
    assert dict(io.state().values) == {"run": False, "speed": 0.2, "present": False, "level": 0.0}
    io.set("run", True)
    io.set_input("present", True)
    io.set_input("level", 4.5)
    assert io.get("run") is False and io.get("present") is False and io.busy()
    loop.tick()
    assert (io.get("run"), io.get("present"), io.get("level")) == (True, True, 4.5)
    assert io.state().stamp_s == pytest.approx(DT) and not io.busy()
    bad: list[tuple[Any, str, Any]] = [
        (io.set_input, "run", True), (io.set_input, "present", 1), (io.set_input, "level", 11.0),
        (io.set_input, "nope", True), (io.set, "present", True), (io.set, "speed", 0.6)]
    for method, name, value in bad:
        with pytest.raises(LimitViolation):
            method(name, value)
    io.deactivate()
    with pytest.raises(NotActive):
        io.set("run", False)
    with pytest.raises(TypeError):
        io.state().values["run"] = False  # type: ignore[index]  # snapshots are read-only
    with pytest.raises(ValueError, match="declared twice"):
        MockIO("line/io", "io_block", (*POINTS, IOPoint("run", "in", "digital")))


def test_mock_base_drives_straight_at_its_speed_on_the_loop_clock() -> None:
    base = MockBase("agv/base", "agv", speed_m_s=0.5, yaw_rate_rad_s=2.0,
                    start=Pose((0.0, 0.0, 0.1)))
    loop = ControlLoop(DT)
    loop.add(base)
    base.activate()
    goal = base.move_to(1.0, 0.5, math.pi / 2)
    while not goal.done():
        loop.tick()
        if base.state().moving:
            x, y, _ = base.state().pose.position
            assert y == pytest.approx(x / 2, abs=1e-9)  # on the straight line
    goal.result(0)
    assert loop.now_s() == pytest.approx(math.hypot(1.0, 0.5) / 0.5, abs=2 * DT)
    pose = base.state().pose
    assert pose.position == pytest.approx((1.0, 0.5, 0.1))
    assert pose.orientation == pytest.approx((0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)))
    assert not base.state().moving


# --- the mock Panda's gripper in a kinematic scene -------------------------------------------------
@pytest.fixture
def panda_in_scene() -> Iterator[tuple[Robot, KinematicScene, ControlLoop]]:
    tool = _ready_tool_pose()
    table = Station(center=(tool.position[0], 0.0, 0.3), size=(0.4, 0.4, 0.2), name="table",
                    surface_z=0.25)
    scene = KinematicScene(
        [("cube-1", "cube", (0.04, 0.04, 0.04), Pose(tool.position)),
         ("slab-1", "slab", (0.1, 0.1, 0.02), Pose((tool.position[0], 0.3, 0.26)))],
        {"table": table})
    robot = build_robot("mock.panda", BuildContext("panda", world=scene), {})
    loop = ControlLoop(DT)  # ticked by hand
    for component in robot.components.values():
        loop.add(component)
        component.activate()
    yield robot, scene, loop
    for component in robot.components.values():
        component.shutdown()


def _ready_tool_pose() -> Pose:
    robot = build_robot("mock.panda", BuildContext("probe"), {})
    arm = robot.components["arm"]
    arm.activate()
    try:
        assert isinstance(arm, Arm)
        return arm.tool_pose()
    finally:
        arm.shutdown()


def _run(loop: ControlLoop, goal: Any) -> Any:
    while not goal.done():
        loop.tick()
    return goal.result(0)


def test_mock_gripper_grasps_the_part_between_its_fingers_carries_and_releases_it(
        panda_in_scene: tuple[Robot, KinematicScene, ControlLoop]) -> None:
    robot, scene, loop = panda_in_scene
    arm, gripper = robot.components["arm"], robot.components["gripper"]
    assert isinstance(arm, Arm) and isinstance(gripper, Gripper)
    assert _run(loop, gripper.move(0.0)) is True
    # 80 mm -> 40 mm at 0.1 m/s: 0.4 s of loop time
    assert loop.now_s() == pytest.approx(0.4, abs=2 * DT)
    assert gripper.state().width_m == pytest.approx(0.04, abs=1e-4)  # the tool yaws a little
    assert gripper.state().holding
    assert scene.part("cube-1").held_by == "panda/gripper"
    target = list(arm.state().position)
    target[0] += 0.3
    _run(loop, arm.move_joints(target))
    loop.tick()  # the gripper follows the tool on its next update
    carried = scene.part("cube-1").pose.position
    assert carried == pytest.approx(arm.tool_pose(TOOL_FRAME).position, abs=1e-9)
    assert _run(loop, gripper.move(0.08)) is False
    assert not gripper.state().holding
    rested = scene.part("cube-1")
    tool = arm.tool_pose().position
    assert rested.held_by == ""
    assert rested.pose.position == pytest.approx((tool[0], tool[1], 0.25 + 0.02))
    assert [s.id for s in MockPartLocator(scene).parts_in(scene.stations["table"])] == ["cube-1"]


def test_mock_gripper_grasps_nothing_wider_than_its_opening_and_release_over_no_station_stays(
        panda_in_scene: tuple[Robot, KinematicScene, ControlLoop]) -> None:
    robot, scene, loop = panda_in_scene
    gripper = robot.components["gripper"]
    assert isinstance(gripper, Gripper)
    tool = robot.components["arm"].state().frames[TOOL_FRAME]  # type: ignore[attr-defined]
    scene.set_pose("cube-1", Pose((tool.position[0], tool.position[1], 2.0)))  # far away
    scene.set_pose("slab-1", Pose(tool.position, (0.0, 0.0, math.sin(0.2), math.cos(0.2))))
    assert _run(loop, gripper.move(0.0)) is False  # the 100 mm slab does not fit in 80 mm
    assert gripper.state().width_m == 0.0 and not gripper.state().holding
    _run(loop, gripper.move(0.08))
    scene.remove("slab-1")
    scene.add("pin-1", "pin", (0.01, 0.01, 0.05), Pose((tool.position[0] + 0.5, 0.0, 1.0)))
    scene.set_pose("cube-1", Pose(tool.position))
    # Move the stations away: a release over no station leaves the part where it is.
    scene.stations = {}
    assert _run(loop, gripper.move(0.02)) is True
    held_at = scene.part("cube-1").pose
    assert _run(loop, gripper.move(0.05)) is False
    assert scene.part("cube-1").pose == held_at and scene.part("cube-1").held_by == ""
    assert scene.part("pin-1").pose.position == (tool.position[0] + 0.5, 0.0, 1.0)


def test_mock_panda_build_checks_its_world_and_says_what_it_approximates() -> None:
    with pytest.raises(TypeError, match="KinematicScene"):
        build_robot("mock.panda", BuildContext("panda", world=object()), {})
    robot = build_robot("mock.panda", BuildContext("panda"), {"configurations": {"tuck": [0.0] * 7}})
    assert (robot.registry_id, robot.model, robot.driver) == ("mock.panda", "franka_panda", "mock")
    assert any("snaps" in a for a in robot.approximations)
    arm = robot.components["arm"]
    assert isinstance(arm, Arm)
    assert set(arm.info().configurations) == {"home", "tuck"}
    assert MockPartLocator(KinematicScene()).id == "mock.parts"
    assert "no physics" in MockPartLocator.approximation


def test_mock_arm_timeout_and_unreachable_pose() -> None:
    robot = build_robot("mock.panda", BuildContext("panda"), {})
    arm = robot.components["arm"]
    assert isinstance(arm, Arm)
    loop = ControlLoop(DT)
    loop.add(arm)
    arm.activate()
    try:
        target = list(arm.state().position)
        target[0] += 1.0
        goal = arm.move_joints(target, speed=0.1, timeout_s=0.5)
        with pytest.raises(MotionTimeout, match=r"not done after 0\.50 s"):
            _run(loop, goal)
        assert loop.now_s() == pytest.approx(0.5, abs=2 * DT)
        with pytest.raises(Unreachable, match="no IK solution"):
            arm.move_pose(Pose((3.0, 0.0, 0.5), (1.0, 0.0, 0.0, 0.0)))
        start = arm.state().position.copy()
        wait_until(lambda: True, 1.0, "nothing")
        assert np.array_equal(arm.state().position, start)
    finally:
        arm.shutdown()
