"""Building the state-stream payloads (cellwright.v1.state) from domain objects."""

from __future__ import annotations

from cellwright.robots import Pose, RobotInfo, RobotState
from cellwright.v1 import state_pb2


def pose_proto(pose: Pose) -> state_pb2.Pose:
    x, y, z = pose.position
    qx, qy, qz, qw = pose.orientation
    return state_pb2.Pose(position_m=state_pb2.Vector3(x=x, y=y, z=z),
                          orientation=state_pb2.Quaternion(x=qx, y=qy, z=qz, w=qw))


def robot_state_proto(cell_id: str, info: RobotInfo, state: RobotState) -> state_pb2.RobotState:
    return state_pb2.RobotState(
        cell_id=cell_id, robot=info.name, joint_names=info.joint_names,
        position_rad=state.position.tolist(), velocity_rad_s=state.velocity.tolist(),
        effort_nm=state.effort.tolist(), tool_pose=pose_proto(state.tool_pose),
        gripper_width_m=state.gripper_width_m, gripper_holding=state.gripper_holding,
        estopped=state.estopped)
