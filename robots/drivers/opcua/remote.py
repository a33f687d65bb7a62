"""What every component on an OPC UA controller shares: the robot's one link, state taken from
it on every read, and stops pushed to the controller at once."""

from __future__ import annotations

from abc import abstractmethod

from cellwright.robots.component import Component, Lifecycle
from cellwright.robots.drivers.opcua.link import RobotLink


class OnController(Component):
    """A base for the OPC UA kinds (`class OpcUaArm(OnController, Arm)`); subclasses set
    `_link` and fill `_take(now_s)`, the state from the link's latest values."""

    _link: RobotLink

    def _connect(self) -> None:
        self._link.connect(self.name)
        self._link.check()

    def _shutdown(self) -> None:
        self._link.release(self.name)

    def read(self, now_s: float) -> None:
        if self.lifecycle in (Lifecycle.UNCONFIGURED, Lifecycle.FINALIZED):
            return  # not connected (yet, or any more)
        self._link.check()
        self._take(now_s)

    @abstractmethod
    def _take(self, now_s: float) -> None:
        """Set the state from the link's latest values."""

    def _halt(self) -> None:
        self._link.call("Stop")

    def _on_stop(self) -> None:
        self._halt()

    def _on_estop(self) -> None:
        self._link.call("EmergencyStop")

    def reset_estop(self) -> None:
        """Clear the e-stop here and on the controller (PackML Clear)."""
        super().reset_estop()
        self._link.call("ResetEmergencyStop")
