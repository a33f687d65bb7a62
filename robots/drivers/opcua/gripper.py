"""`OpcUaGripper`: the gripper a robot controller serves beside its motion device."""

from __future__ import annotations

from cellwright.robots.drivers.opcua.arm import DRIVER
from cellwright.robots.drivers.opcua.commands import RemoteCommands
from cellwright.robots.drivers.opcua.link import RobotLink
from cellwright.robots.drivers.opcua.remote import OnController
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper, GripperInfo, GripperState


class OpcUaGripper(OnController, Gripper):
    """Fingers on the controller at the other end of `link` (its `Gripper` object under the
    motion device's AdditionalComponents). Stroke and force limits are the model's."""

    def __init__(self, name: str, model: str, link: RobotLink, *, stroke_m: float, max_force_n: float,
                 tool_frame: str = "") -> None:
        super().__init__(name, model, DRIVER)
        self._link = link
        self._info = GripperInfo(name, self.kind, model, DRIVER, stroke_m=stroke_m,
                                 max_force_n=max_force_n, tool_frame=tool_frame)
        self._state = GripperState(0.0, 0.0, False)
        self._commands = RemoteCommands(link, "Gripper.")

    def info(self) -> GripperInfo:
        return self._info

    def state(self) -> GripperState:
        return self._state

    def _configure(self) -> None:
        self._connect()
        self._take(self._state.stamp_s)

    def _take(self, now_s: float) -> None:
        """The state from the link's latest values."""
        values = self._link.values()
        self._state = GripperState(now_s, float(values.get("Gripper.Width", 0.0)),
                                   bool(values.get("Gripper.Holding", False)))

    def update(self, now_s: float, dt_s: float) -> None:
        self._commands.update(now_s, self._link.values(), estopped=self.estopped,
                             result=self._state.holding)

    def _move(self, width_m: float, force_n: float, timeout_s: float) -> Goal[bool]:
        goal: Goal[bool] = self._begin(Goal(f"{self.name}: move to {width_m:.4f} m", on_cancel=self._halt))
        return self._commands.start(goal, "MoveGripper", float(width_m), float(force_n), float(timeout_s),
                                    timeout_s=timeout_s)
