"""`OpcUaArm`: an arm on a controller that serves OPC 40010 (our namespace's methods move it)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.arm import Arm, ArmInfo, ArmState, JointLimits
from cellwright.robots.drivers.opcua.commands import RemoteCommands
from cellwright.robots.drivers.opcua.link import RobotLink
from cellwright.robots.drivers.opcua.remote import OnController
from cellwright.robots.errors import NotActive
from cellwright.robots.goal import Goal

DRIVER = "opcua"


class OpcUaArm(OnController, Arm):
    """The arm of a robot controller reached through `link`.

    The joints and limits are the model's (the cell config names the model); `configure()`
    checks that the controller serves an axis for every joint and every named frame. State
    comes from subscriptions; goals end when the controller reports their command's end.
    """

    def __init__(self, name: str, model: str, link: RobotLink, *, joint_names: tuple[str, ...],
                 limits: JointLimits, frames: tuple[str, ...],
                 configurations: Mapping[str, tuple[float, ...]]) -> None:
        super().__init__(name, model, DRIVER)
        self._link = link
        self._info = ArmInfo(name, self.kind, model, DRIVER, joint_names=joint_names, limits=limits,
                             frames=frames, configurations=MappingProxyType(dict(configurations)))
        zeros = np.zeros(len(joint_names))
        self._state = ArmState(0.0, zeros, zeros, zeros, MappingProxyType({}))
        self._commands = RemoteCommands(link, "")
        self._controller_estop = False

    def info(self) -> ArmInfo:
        return self._info

    def state(self) -> ArmState:
        return self._state

    # --- lifecycle -------------------------------------------------------------------------
    def _configure(self) -> None:
        self._connect()
        missing = [f for f in self._info.frames if f not in self._link.frames]
        if missing:
            raise NotActive(f"{self.name}: the controller at {self._link.config.endpoint} serves no "
                            f"frames {missing}; it has {list(self._link.frames)}")
        self._take(self._state.stamp_s)

    # --- loop --------------------------------------------------------------------------------
    def _take(self, now_s: float) -> None:
        """The state from the link's latest values."""
        values = self._link.values()
        count = len(self._info.joint_names)
        position = np.array([values.get(f"positions[{i}]", np.nan) for i in range(count)])
        velocity = np.array([values.get(f"speeds[{i}]", 0.0) for i in range(count)])
        effort = np.asarray(values.get("JointEfforts") or np.zeros(count), dtype=np.float64)
        poses = list(values.get("FramePoses") or ())
        frames = {name: Pose(tuple(poses[7 * i:7 * i + 3]), tuple(poses[7 * i + 3:7 * i + 7]))
                  for i, name in enumerate(self._link.frames) if len(poses) >= 7 * (i + 1)}
        self._state = ArmState(now_s, position, velocity, effort, MappingProxyType(frames))
        estop = bool(values.get("EmergencyStop", False))
        if estop and not self._controller_estop and not self.estopped:
            self.estop()  # the controller's e-stop (a button on the cell) latches here too
        self._controller_estop = estop

    def update(self, now_s: float, dt_s: float) -> None:
        self._commands.update(now_s, self._link.values(), estopped=self.estopped)

    # --- motion ------------------------------------------------------------------------------
    def _move_joints(self, target: FloatArray, speed: float, timeout_s: float) -> Goal[None]:
        goal: Goal[None] = self._begin(Goal(f"{self.name}: joint move", on_cancel=self._halt))
        return self._commands.start(goal, "MoveJoints", [float(v) for v in target], float(speed),
                                    float(timeout_s), timeout_s=timeout_s)

    def _move_pose(self, pose: Pose, frame: str, speed: float, timeout_s: float) -> Goal[None]:
        goal: Goal[None] = self._begin(Goal(f"{self.name}: pose move", on_cancel=self._halt))
        values = [float(v) for v in (*pose.position, *pose.orientation)]
        return self._commands.start(goal, "MovePose", values, frame, float(speed), float(timeout_s),
                                    timeout_s=timeout_s)
