"""The robot messages built from components: RobotState (state stream) and Robot (Hello)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cellwright.api.geometry import Pose
from cellwright.cells.state_messages import pose_proto, robot_proto, robot_state_proto, safety_proto
from cellwright.robots import (
    IO,
    Arm,
    ArmInfo,
    ArmState,
    Base,
    BaseInfo,
    BaseState,
    Goal,
    Gripper,
    GripperInfo,
    GripperState,
    IOInfo,
    IOPoint,
    IOState,
    JointLimits,
    NotActive,
    Robot,
)
from cellwright.robots.safety import ComponentSafety, SafetyConfig, SafetyRecord
from cellwright.v1 import state_pb2

# Fakes standing in for drivers: they implement info() and state(); their motion hooks
# refuse. That is enough here because only the mapping to messages is under test.


def no_motion(self: object, *args: object) -> Goal[None]:
    raise NotActive("a fake for the message tests: it does not move")


class FakeArm(Arm):
    def __init__(self, name: str, joints: tuple[str, ...], position: list[float],
                 frames: dict[str, Pose], stamp_s: float = 2.0) -> None:
        super().__init__(name, "fake_model", "fake")
        n = len(joints)
        self._info = ArmInfo(name, "arm", "fake_model", "fake", joint_names=joints,
                             limits=JointLimits(np.full(n, -2.0), np.full(n, 2.0), np.full(n, 1.5)),
                             frames=tuple(frames))
        self._state = ArmState(stamp_s, np.array(position), np.full(n, 0.25), np.full(n, -1.0), frames)

    def info(self) -> ArmInfo:
        return self._info

    def state(self) -> ArmState:
        return self._state

    _move_joints = _move_pose = no_motion


class FakeGripper(Gripper):
    def __init__(self, name: str, width_m: float, holding: bool, stamp_s: float = 2.0) -> None:
        super().__init__(name, "fake_model", "fake")
        self._state = GripperState(stamp_s, width_m, holding)

    def info(self) -> GripperInfo:
        return GripperInfo(self.name, "gripper", "fake_model", "fake", stroke_m=0.08,
                           max_force_n=70.0, tool_frame="grasp")

    def state(self) -> GripperState:
        return self._state

    _move = no_motion  # type: ignore[assignment]


class FakeBase(Base):
    def __init__(self, name: str, mobility: str, pose: Pose, approximation: str = "",
                 stamp_s: float = 2.0) -> None:
        super().__init__(name, "fake_model", "fake")
        self._info = BaseInfo(name, "base", "fake_model", "fake", mobility=mobility,
                              approximation=approximation)
        self._state = BaseState(stamp_s, pose, moving=mobility != "fixed")

    def info(self) -> BaseInfo:
        return self._info

    def state(self) -> BaseState:
        return self._state

    _move_to = no_motion


class FakeIO(IO):
    def info(self) -> IOInfo:
        return IOInfo(self.name, "io", "fake_model", "fake", points=(
            IOPoint("part_present", "in", "digital"),
            IOPoint("conveyor_speed", "out", "analog", 0.0, 0.5, "m/s")))

    def state(self) -> IOState:
        return IOState(1.5, {"part_present": True, "conveyor_speed": 0.2})

    _write_point = no_motion  # type: ignore[assignment]


def at(x: float, y: float = 0.0, z: float = 0.0) -> Pose:
    return Pose((x, y, z))


def panda() -> Robot:
    """A single-arm robot with a gripper, no base: the 0.1 shape."""
    arm = FakeArm("panda/arm", ("j1", "j2", "j3"), [0.1, 0.2, 0.3],
                  {"grasp": at(0.4, z=0.3), "flange": at(0.4, z=0.4)})
    return Robot("panda", "mock.panda", "franka_panda", "mock",
                 {"arm": arm, "gripper": FakeGripper("panda/gripper", 0.05, True)})


def humanoid() -> Robot:
    """Two arms, two hands, a legged (floating) base and IO."""
    return Robot("g1", "mock.g1", "unitree_g1", "mock", {
        "base": FakeBase("g1/base", "legged", Pose((1.0, 2.0, 0.8), (0.0, 0.0, 0.6, 0.8)),
                         approximation="walking is a kinematic constraint"),
        "left_arm": FakeArm("g1/left_arm", ("l1", "l2"), [0.5, -0.5], {"left_palm": at(1.2, 2.2, 1.0)}),
        "left_hand": FakeGripper("g1/left_hand", 0.02, False),
        "right_arm": FakeArm("g1/right_arm", ("r1", "r2"), [-0.5, 0.5], {"right_palm": at(1.2, 1.8, 1.0)},
                             stamp_s=1.75),
        "right_hand": FakeGripper("g1/right_hand", 0.0, True),
        "io": FakeIO("g1/io", "unitree_g1", "mock"),
    }, approximations=("hands are parallel grippers",))


def test_pose_proto_keeps_position_and_quaternion() -> None:
    message = pose_proto(Pose((1.0, 2.0, 3.0), (0.0, 0.0, 0.6, 0.8)))
    assert (message.position_m.x, message.position_m.y, message.position_m.z) == (1.0, 2.0, 3.0)
    assert (message.orientation.z, message.orientation.w) == (0.6, 0.8)


def test_single_arm_robot_fills_chains_frames_and_the_deprecated_fields() -> None:
    message = robot_state_proto("c1", panda(), now_s=2.0)
    assert (message.cell_id, message.robot, message.registry_id, message.driver) == (
        "c1", "panda", "mock.panda", "mock")
    [chain] = message.chains
    assert chain.name == "arm"
    assert list(chain.joint_names) == ["j1", "j2", "j3"]
    assert list(chain.position_rad) == pytest.approx([0.1, 0.2, 0.3])
    assert list(chain.velocity_rad_s) == [0.25] * 3
    assert list(chain.effort_nm) == [-1.0] * 3
    assert [f.name for f in message.frames] == ["arm/grasp", "arm/flange"]  # default tool frame first
    assert message.frames[1].pose.position_m.z == 0.4
    assert [(g.name, g.width_m, g.holding) for g in message.grippers] == [("gripper", 0.05, True)]
    assert not message.HasField("base_pose") and not message.floating_base
    assert not message.io and not message.approximations and not message.estopped
    assert message.stamp_s == 2.0
    # deprecated 0.1 fields: the first arm and the first gripper
    assert list(message.joint_names) == list(chain.joint_names)
    assert list(message.position_rad) == list(chain.position_rad)
    assert message.tool_pose == message.frames[0].pose
    assert (message.gripper_width_m, message.gripper_holding) == (0.05, True)


def test_two_arm_robot_with_a_legged_floating_base() -> None:
    robot = humanoid()
    message = robot_state_proto("c2", robot, now_s=2.0)
    assert [c.name for c in message.chains] == ["left_arm", "right_arm"]
    assert [list(c.joint_names) for c in message.chains] == [["l1", "l2"], ["r1", "r2"]]
    assert list(message.chains[1].position_rad) == [-0.5, 0.5]
    assert [f.name for f in message.frames] == ["left_arm/left_palm", "right_arm/right_palm"]
    assert message.frames[1].pose.position_m.y == 1.8
    assert [(g.name, g.holding) for g in message.grippers] == [("left_hand", False), ("right_hand", True)]
    assert message.floating_base
    assert message.base_pose == pose_proto(Pose((1.0, 2.0, 0.8), (0.0, 0.0, 0.6, 0.8)))
    assert {v.name: v.WhichOneof("value") for v in message.io} == {
        "io/part_present": "digital", "io/conveyor_speed": "analog"}
    assert {v.name: getattr(v, v.WhichOneof("value") or "") for v in message.io} == {
        "io/part_present": True, "io/conveyor_speed": 0.2}
    assert list(message.approximations) == ["hands are parallel grippers", "walking is a kinematic constraint"]
    assert message.stamp_s == 1.5  # the oldest component read (the IO)
    # deprecated 0.1 fields mirror the first arm (left) and the first gripper (left hand)
    assert list(message.joint_names) == ["l1", "l2"]
    assert list(message.position_rad) == [0.5, -0.5]
    assert list(message.velocity_rad_s) == [0.25, 0.25]
    assert list(message.effort_nm) == [-1.0, -1.0]
    assert message.tool_pose == message.frames[0].pose
    assert (message.gripper_width_m, message.gripper_holding) == (0.02, False)
    robot.components["right_hand"].estop()
    assert robot_state_proto("c2", robot, now_s=2.0).estopped


@pytest.mark.parametrize(("mobility", "floating"), [("fixed", False), ("planar", True), ("legged", True)])
def test_floating_base_only_for_bases_that_move(mobility: str, floating: bool) -> None:
    robot = Robot("r", "mock.r", "r", "mock", {"base": FakeBase("r/base", mobility, at(3.0))})
    message = robot_state_proto("c", robot, now_s=0.0)
    assert message.floating_base is floating
    assert message.base_pose.position_m.x == 3.0
    assert not message.chains and not message.joint_names and not message.HasField("tool_pose")


def test_a_robot_without_stateful_components_is_stamped_now() -> None:
    message = robot_state_proto("c", Robot("r", "mock.r", "r", "mock", {}), now_s=7.25)
    assert message.stamp_s == 7.25


def test_the_state_round_trips_through_the_wire_format() -> None:
    message = robot_state_proto("c2", humanoid(), now_s=2.0)
    assert state_pb2.RobotState.FromString(message.SerializeToString()) == message


def test_robot_proto_describes_every_component_for_the_hello() -> None:
    message = robot_proto(humanoid(), mount="station_b")
    assert (message.name, message.model, message.registry_id, message.driver, message.mount) == (
        "g1", "unitree_g1", "mock.g1", "mock", "station_b")
    assert list(message.capabilities) == ["arm", "base", "gripper", "io"]
    assert list(message.approximations) == ["hands are parallel grippers"]
    by_name = {c.name: c for c in message.components}
    assert list(by_name) == ["g1/base", "g1/left_arm", "g1/left_hand", "g1/right_arm", "g1/right_hand", "g1/io"]
    left = by_name["g1/left_arm"]
    assert left.kind == "arm"
    assert [(j.name, j.lower_rad, j.upper_rad, j.max_velocity_rad_s) for j in left.joints] == [
        ("l1", -2.0, 2.0, 1.5), ("l2", -2.0, 2.0, 1.5)]
    assert list(left.frames) == ["left_palm"]
    hand = by_name["g1/right_hand"]
    assert (hand.kind, hand.stroke_m, hand.max_force_n, hand.tool_frame) == ("gripper", 0.08, 70.0, "grasp")
    assert (by_name["g1/base"].kind, by_name["g1/base"].mobility) == ("base", "legged")
    points = by_name["g1/io"].io_points
    assert [(p.name, p.direction, p.type, p.high, p.unit) for p in points] == [
        ("part_present", "in", "digital", 1.0, ""), ("conveyor_speed", "out", "analog", 0.5, "m/s")]
    # deprecated: the first arm's joints
    assert [j.name for j in message.joints] == ["l1", "l2"]


def test_robot_proto_of_a_single_arm_robot() -> None:
    message = robot_proto(panda(), mount="panda")
    assert list(message.capabilities) == ["arm", "gripper"]
    assert [c.name for c in message.components] == ["panda/arm", "panda/gripper"]
    assert [j.name for j in message.joints] == ["j1", "j2", "j3"]
    assert not message.components[0].mobility and not message.components[1].joints


def test_balance_carries_the_tier_margin_and_helper_wrench() -> None:
    import math

    from cellwright.api.geometry import ORIGIN
    from cellwright.cells.state_messages import balance_proto
    from cellwright.robots import LeggedBaseInfo, LeggedBaseState

    info = LeggedBaseInfo("g1/legs", "base", "unitree_g1", "pybullet", mobility="legged",
                          tier="guided", margin_floor_m=0.015)
    state = LeggedBaseState(1.5, ORIGIN, True, tier="guided", phase="walking",
                            feet_in_contact=("left",), com=(0.1, 0.2, 0.7), zmp=(0.11, 0.19),
                            support_polygon=((0.0, 0.0), (0.2, 0.0), (0.2, 0.1)),
                            margin_m=0.02, helper_wrench=(1.0, 2.0, 3.0, 0.1, 0.2, 0.3),
                            distance_walked_m=2.5)
    message = balance_proto(info, state)
    assert (message.walking_tier, message.phase, list(message.feet_in_contact)) == (
        "guided", "walking", ["left"])
    assert (message.margin_m, message.margin_floor_m, message.zmp_x_m) == (0.02, 0.015, 0.11)
    assert list(message.support_polygon_xy) == [0.0, 0.0, 0.2, 0.0, 0.2, 0.1]
    assert list(message.helper_wrench) == [1.0, 2.0, 3.0, 0.1, 0.2, 0.3]
    assert message.com_m.z == 0.7 and message.distance_walked_m == 2.5
    airborne = balance_proto(info, LeggedBaseState(0.0, ORIGIN, False))
    assert airborne.margin_m == -math.inf


def test_the_margin_record_answers_the_worst_margin_of_a_span() -> None:
    from cellwright.robots.legged import MarginRecord

    record = MarginRecord(bucket_s=0.1)
    for t, margin in ((0.0, 0.05), (0.05, 0.03), (0.2, 0.04), (1.0, 0.06)):
        record.add(t, margin)
    assert record.min_since(0.0) == 0.03
    assert record.min_since(0.15) == 0.04
    assert record.min_since(0.5) == 0.06
    assert record.min_since(2.0) == float("inf")


def test_safety_carries_each_guarded_components_zone_separation_and_stops() -> None:
    record = SafetyRecord(True, "", SafetyConfig(), (
        ComponentSafety("g1/legs", "protective", 0.0, 0.7, 0.65, 2, 3.5),
        ComponentSafety("g1/left_arm", "clear", 1.0, math.inf, math.inf, 0, 0.0)))
    message = state_pb2.Safety.FromString(safety_proto(record).SerializeToString())
    assert message.on and message.note == ""
    legs, arm = message.components
    assert (legs.component, legs.zone, legs.speed_override, legs.separation_m, legs.min_separation_m,
            legs.protective_stops, legs.protective_stop_s) == ("g1/legs", "protective", 0.0, 0.7, 0.65, 2, 3.5)
    assert math.isinf(arm.separation_m) and arm.protective_stops == 0


def test_a_cell_without_a_monitor_says_it_is_off() -> None:
    note = "off: no presence component in this cell (e.g. `people: pybullet.presence`)"
    message = safety_proto(SafetyRecord(False, note, SafetyConfig()))
    assert not message.on and message.note == note and not message.components
