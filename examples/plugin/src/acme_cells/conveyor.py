"""An infeed conveyor as an `IO` component, and its registry entry `mock.acme_conveyor`.

A mock: no physics. While `run` is on, the belt advances at `speed` m/s on the control
loop's clock, and a part reaches the end sensor `part_present` every `pitch_m` of belt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellwright.robots import IO, BuildContext, IOInfo, IOPoint, IOState, Robot, RobotModel

POINTS = (
    IOPoint("run", "out", "digital"),
    IOPoint("speed", "out", "analog", 0.0, 0.5, "m/s"),
    IOPoint("part_present", "in", "digital"),
)


class Conveyor(IO):
    """A belt with a part-present sensor at its end. Taking the part clears the sensor."""

    def __init__(self, name: str, pitch_m: float) -> None:
        super().__init__(name, model="acme_conveyor", driver="mock")
        self.pitch_m = pitch_m
        self._outputs: dict[str, bool | float] = {"run": False, "speed": 0.2}
        self._travel_m = 0.0
        self._state = IOState(0.0, {"run": False, "speed": 0.2, "part_present": False})

    def info(self) -> IOInfo:
        return IOInfo(self.name, self.kind, self.model, self.driver, POINTS)

    def state(self) -> IOState:
        return self._state

    def take_part(self) -> None:
        """A robot took the part at the sensor: the belt end is free again."""
        self._travel_m = 0.0

    def busy(self) -> bool:
        """The belt moves (so a lockstep clock must run): on, not stopped, and not yet held
        up by a part at its end."""
        return (bool(self._outputs["run"]) and not self.stop_requested
                and self._travel_m < self.pitch_m)

    def update(self, now_s: float, dt_s: float) -> None:
        running = bool(self._outputs["run"]) and not self.stop_requested
        present = self._travel_m >= self.pitch_m
        if running and not present:
            self._travel_m += float(self._outputs["speed"]) * dt_s
        self._state = IOState(now_s, {**self._outputs, "part_present": self._travel_m >= self.pitch_m})

    def _write_point(self, name: str, value: bool | float) -> None:
        self._outputs[name] = value

    def _on_stop(self) -> None:
        self._outputs["run"] = False


def build(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    """The registry's factory: one conveyor component called `<robot>/belt`."""
    belt = Conveyor(f"{context.robot_name}/belt", float(config["pitch_m"]))
    return Robot(context.robot_name, "mock.acme_conveyor", "acme_conveyor", "mock", {"belt": belt},
                 approximations=("mock conveyor: parts arrive by belt travel, no physics",))


MODEL = RobotModel(
    id="mock.acme_conveyor", model="acme_conveyor", driver="mock", build=build,
    config_schema={"type": "object", "properties": {
        "pitch_m": {"type": "number", "minimum": 0.01, "maximum": 5, "default": 0.3,
                    "description": "belt travel between parts"}}},
    description="Acme infeed conveyor (mock): run/speed outputs, a part-present sensor")
