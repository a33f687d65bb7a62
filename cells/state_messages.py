"""Building the API messages that describe robots from their components.

- `robot_state_proto`: the state-stream payload of topic `cell/<cell_id>/robot/<robot>`
  (`cellwright.v1.RobotState`, docs/state-stream.md);
- `safety_proto`: what the cell's speed and separation monitor has seen, for its
  `CellState` on topic `cell/<cell_id>/state`;
- `robot_proto`: the robot as the cell's `Hello` describes it (`cellwright.v1.Robot`,
  docs/api.md), so the orchestrator can place steps by component kind or model.

Both read only `info()` and `state()` of the components (safe from any thread).
"""

from __future__ import annotations

from collections.abc import Mapping

from cellwright.api.geometry import Pose
from cellwright.robots import IO, Arm, Base, Gripper, LeggedBase, LeggedBaseInfo, LeggedBaseState, Robot
from cellwright.robots.arm import ArmInfo
from cellwright.robots.safety import SafetyRecord
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import state_pb2

FLOATING_MOBILITIES = frozenset({"planar", "legged"})
"""Base mobilities whose pose moves: the state stream flags them as a floating base."""


def pose_proto(pose: Pose) -> state_pb2.Pose:
    """A world-frame `Pose` as its message (metres, unit quaternion x, y, z, w)."""
    x, y, z = pose.position
    qx, qy, qz, qw = pose.orientation
    return state_pb2.Pose(position_m=state_pb2.Vector3(x=x, y=y, z=z),
                          orientation=state_pb2.Quaternion(x=qx, y=qy, z=qz, w=qw))


def robot_state_proto(cell_id: str, robot: Robot, now_s: float) -> state_pb2.RobotState:
    """The state-stream payload for `robot`: every arm chain and its frames, every gripper,
    the base pose, every IO value, plus the deprecated single-chain fields (3..9) mirrored
    from the first arm and the first gripper for 0.1 readers.

    Args:
        cell_id: the cell's id.
        robot: the robot; its components are read with `state()` and `info()`.
        now_s: the control loop's clock now, seconds; `stamp_s` when the robot has no
            component with a state to read (otherwise the oldest component stamp).
    """
    message = state_pb2.RobotState(
        cell_id=cell_id, robot=robot.name, registry_id=robot.registry_id, driver=robot.driver,
        estopped=any(c.estopped for c in robot.components.values()))
    stamps: list[float] = []
    approximations = list(robot.approximations)
    has_base = False
    for local, component in robot.components.items():
        if isinstance(component, Arm):
            arm_info, arm_state = component.info(), component.state()
            stamps.append(arm_state.stamp_s)
            message.chains.append(state_pb2.JointChain(
                name=local, joint_names=arm_info.joint_names,
                position_rad=arm_state.position.tolist(), velocity_rad_s=arm_state.velocity.tolist(),
                effort_nm=arm_state.effort.tolist()))
            for frame in _ordered_frames(arm_info, arm_state.frames):
                message.frames.append(state_pb2.Frame(name=f"{local}/{frame}",
                                                      pose=pose_proto(arm_state.frames[frame])))
            if len(message.chains) == 1:  # deprecated single-chain fields: the first arm
                message.joint_names.extend(arm_info.joint_names)
                message.position_rad.extend(arm_state.position.tolist())
                message.velocity_rad_s.extend(arm_state.velocity.tolist())
                message.effort_nm.extend(arm_state.effort.tolist())
                if arm_info.frames and arm_info.frames[0] in arm_state.frames:
                    message.tool_pose.CopyFrom(pose_proto(arm_state.frames[arm_info.frames[0]]))
        elif isinstance(component, Gripper):
            gripper_state = component.state()
            stamps.append(gripper_state.stamp_s)
            message.grippers.append(state_pb2.GripperState(
                name=local, width_m=gripper_state.width_m, holding=gripper_state.holding))
            if len(message.grippers) == 1:  # deprecated: the first gripper
                message.gripper_width_m = gripper_state.width_m
                message.gripper_holding = gripper_state.holding
        elif isinstance(component, Base):
            if has_base:  # one base per robot; a second would contradict base_pose
                continue
            has_base = True
            base_info, base_state = component.info(), component.state()
            stamps.append(base_state.stamp_s)
            message.base_pose.CopyFrom(pose_proto(base_state.pose))
            message.floating_base = base_info.mobility in FLOATING_MOBILITIES
            if isinstance(component, LeggedBase):
                message.balance.CopyFrom(balance_proto(component.info(), component.state()))
            if base_info.approximation and base_info.approximation not in approximations:
                approximations.append(base_info.approximation)
        elif isinstance(component, IO):
            io_state = component.state()
            stamps.append(io_state.stamp_s)
            for point in component.info().points:
                if point.name not in io_state.values:
                    continue
                value = io_state.values[point.name]
                name = f"{local}/{point.name}"
                message.io.append(state_pb2.IOValue(name=name, digital=value) if isinstance(value, bool)
                                  else state_pb2.IOValue(name=name, analog=float(value)))
    message.stamp_s = min(stamps) if stamps else now_s
    message.approximations.extend(approximations)
    return message


def balance_proto(info: LeggedBaseInfo, state: LeggedBaseState) -> state_pb2.Balance:
    """A legged base's balance for the state stream."""
    x, y, z = state.com
    return state_pb2.Balance(
        walking_tier=state.tier, phase=state.phase, feet_in_contact=state.feet_in_contact,
        com_m=state_pb2.Vector3(x=x, y=y, z=z), zmp_x_m=state.zmp[0], zmp_y_m=state.zmp[1],
        margin_m=state.margin_m, margin_floor_m=info.margin_floor_m,
        support_polygon_xy=[v for corner in state.support_polygon for v in corner],
        helper_wrench=state.helper_wrench, distance_walked_m=state.distance_walked_m)


def robot_proto(robot: Robot, mount: str) -> cell_pb.Robot:
    """The robot as the cell's `Hello` describes it: identity, every component with its
    static facts (joints and limits, frames, gripper stroke and force, base mobility, IO
    points), and `capabilities` = the sorted set of component kinds.

    Args:
        robot: the robot; its components are read with `info()`.
        mount: the layout mount the robot stands on.
    """
    message = cell_pb.Robot(
        name=robot.name, model=robot.model, registry_id=robot.registry_id, driver=robot.driver,
        mount=mount, approximations=robot.approximations,
        capabilities=sorted({c.kind for c in robot.components.values()}))
    for component in robot.components.values():
        entry = cell_pb.Component(name=component.name, kind=component.kind)
        if isinstance(component, Arm):
            arm_info = component.info()
            entry.joints.extend(_joints(arm_info))
            entry.frames.extend(arm_info.frames)
            if not message.joints:  # deprecated: the first arm's joints
                message.joints.extend(_joints(arm_info))
        elif isinstance(component, Gripper):
            gripper_info = component.info()
            entry.stroke_m, entry.max_force_n = gripper_info.stroke_m, gripper_info.max_force_n
            entry.tool_frame = gripper_info.tool_frame
        elif isinstance(component, Base):
            entry.mobility = component.info().mobility
        elif isinstance(component, IO):
            entry.io_points.extend(
                cell_pb.IOPoint(name=p.name, direction=p.direction, type=p.type, low=p.low,
                                high=p.high, unit=p.unit)
                for p in component.info().points)
        message.components.append(entry)
    return message


def _ordered_frames(info: ArmInfo, poses: Mapping[str, Pose]) -> list[str]:
    """The arm's frames that have a pose: declared frames first, in `info.frames` order
    (so the default tool frame leads), then any other frame the state reports, sorted."""
    return [f for f in info.frames if f in poses] + sorted(set(poses) - set(info.frames))


def _joints(info: ArmInfo) -> list[cell_pb.Joint]:
    """The arm's joints with their position (rad) and velocity (rad/s) limits."""
    return [cell_pb.Joint(name=n, lower_rad=lo, upper_rad=hi, max_velocity_rad_s=v)
            for n, lo, hi, v in zip(info.joint_names, info.limits.lower.tolist(),
                                    info.limits.upper.tolist(), info.limits.velocity.tolist(),
                                    strict=True)]


def safety_proto(record: SafetyRecord) -> state_pb2.Safety:
    """A monitor's record as its message (separations +inf while nobody has been seen)."""
    return state_pb2.Safety(on=record.on, note=record.note, components=[
        state_pb2.ComponentSafety(
            component=c.component, zone=c.zone, speed_override=c.speed_override,
            separation_m=c.separation_m, min_separation_m=c.min_separation_m,
            protective_stops=c.protective_stops, protective_stop_s=c.protective_stop_s)
        for c in record.components])
