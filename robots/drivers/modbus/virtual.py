"""Virtual devices: the register maps served from a backing component through its public
API, so a PyBullet (or mock) gripper or conveyor answers like the real device.

    GripperDevice   `registers.GRIPPER` onto any `Gripper`
    ConveyorDevice  `registers.CONVEYOR` onto any `IO` with the conveyor's points

`read(table)` returns a whole table; `write(table, address, values)` applies a write and
returns a Modbus exception code to answer with, or None. Both run on the server's thread
only; the backing component is thread-safe (commands start goals on its control loop,
status comes from `state()`).
"""

from __future__ import annotations

from typing import Protocol

from pymodbus.constants import ExcCodes

from cellwright.robots.component import Lifecycle
from cellwright.robots.drivers.modbus.registers import (
    CONVEYOR,
    GRIPPER,
    SPEED_PERCENT_MAX,
    ActivationStatus,
    Fault,
    ObjectStatus,
    RegisterMap,
    Table,
)
from cellwright.robots.errors import EStopActive, LimitViolation, MotionStopped, RobotError
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper
from cellwright.robots.io import IO
from cellwright.robots.models.conveyor import PART_PRESENT, RUN, SPEED

CURRENT_MA_PER_N = 10.0
"""The virtual gripper's CURRENT: this much per newton of force request while it holds
(an approximation: the simulated hand has no motor model); 0 otherwise."""
MOTION_TIMEOUT_S = 30.0
"""The virtual gripper gives up on a motion after this long (FAULT MOTION_FAILED)."""


class VirtualDevice(Protocol):
    register_map: RegisterMap

    def read(self, table: Table) -> list[int]: ...

    def write(self, table: Table, address: int, values: list[int]) -> ExcCodes | None: ...


_ACTION, _POSITION, _FORCE = GRIPPER["ACTION_REQUEST"], GRIPPER["POSITION_REQUEST"], GRIPPER["FORCE_REQUEST"]
_STATUS = GRIPPER["GRIPPER_STATUS"]
_SETPOINT = CONVEYOR["SPEED_SETPOINT"]


class GripperDevice:
    """A gripper device over `gripper`. rACT 0 -> 1 activates and clears a fault; a write
    of ACTION_REQUEST with rGTO = 1 starts `gripper.move()` to the request; rGTO = 0 cancels
    it (the backing gripper holds). SPEED_REQUEST is accepted and not applied (the backing
    moves at its own speed). FAULT: NOT_ACTIVATED (a go-to before activation), MOTION_FAILED
    (the backing motion failed, e.g. timed out), DEVICE_ERROR (the backing is not ACTIVE, is
    stopped or e-stopped)."""

    register_map = GRIPPER

    def __init__(self, gripper: Gripper) -> None:
        self.gripper = gripper
        info = gripper.info()
        self._request = [0, _POSITION.to_raw(info.stroke_m), SPEED_PERCENT_MAX, _FORCE.to_raw(info.max_force_n)]
        self._activated = False
        self._fault = Fault.NONE
        self._goal: Goal[bool] | None = None
        self._closing = True

    def read(self, table: Table) -> list[int]:
        if table is Table.HOLDING:
            return list(self._request)
        state, info, goal = self.gripper.state(), self.gripper.info(), self._goal
        if goal is not None and goal.done():
            self._goal, error = None, goal.error()
            if isinstance(error, EStopActive):
                self._fault = Fault.DEVICE_ERROR
            elif error is not None and not isinstance(error, MotionStopped):
                self._fault = Fault.MOTION_FAILED
        fault = self._fault
        if not fault and self.gripper.lifecycle is not Lifecycle.ACTIVE:
            fault = Fault.DEVICE_ERROR
        if self._goal is not None:
            obj = ObjectStatus.MOVING
        elif state.holding:
            obj = ObjectStatus.OBJECT_CLOSING if self._closing else ObjectStatus.OBJECT_OPENING
        else:
            obj = ObjectStatus.AT_POSITION
        action = self._request[0]
        word = 0
        for name, value in (("gACT", _ACTION.bit("rACT").get(action)), ("gGTO", _ACTION.bit("rGTO").get(action)),
                            ("gSTA", ActivationStatus.ACTIVE if self._activated else ActivationStatus.RESET),
                            ("gOBJ", obj)):
            word = _STATUS.bit(name).put(word, int(value))
        holding_ma = CURRENT_MA_PER_N * _FORCE.to_si(self._request[3]) if state.holding else 0.0
        return [word, int(fault), self._request[1], GRIPPER["POSITION"].to_raw(state.width_m),
                round(holding_ma), GRIPPER["STROKE"].to_raw(info.stroke_m),
                GRIPPER["MAX_FORCE"].to_raw(info.max_force_n)]

    def write(self, table: Table, address: int, values: list[int]) -> ExcCodes | None:
        request = list(self._request)
        request[address:address + len(values)] = values
        info = self.gripper.info()
        width, force = _POSITION.to_si(request[1]), _FORCE.to_si(request[3])
        if width > info.stroke_m + 1e-9 or not 0 < force <= info.max_force_n + 1e-9 \
                or request[2] > SPEED_PERCENT_MAX:
            return ExcCodes.ILLEGAL_VALUE
        self._request = request
        if address != _ACTION.address:
            return None
        activate, go = _ACTION.bit("rACT").get(request[0]), _ACTION.bit("rGTO").get(request[0])
        if not activate:
            self._activated = False
            self._cancel()
        elif not self._activated:
            self._activated, self._fault, self._goal = True, Fault.NONE, None
        if not go:
            self._cancel()
        elif not self._activated:
            self._fault = Fault.NOT_ACTIVATED
        elif self._fault is Fault.NONE:
            self._start(min(width, info.stroke_m), min(force, info.max_force_n))
        return None

    def _start(self, width_m: float, force_n: float) -> None:
        self._cancel()
        self._closing = width_m < self.gripper.state().width_m
        try:
            self._goal = self.gripper.move(width_m, force_n=force_n, timeout_s=MOTION_TIMEOUT_S)
        except RobotError:
            self._goal, self._fault = None, Fault.DEVICE_ERROR

    def _cancel(self) -> None:
        if self._goal is not None:
            self._goal.cancel()


class ConveyorDevice:
    """A conveyor device over `io` (points run, speed, part_present). RUN and
    SPEED_SETPOINT are set on `io`; RUN = 0 clears a fault. FAULT: DEVICE_ERROR while the
    backing is not ACTIVE, or a write it refused."""

    register_map = CONVEYOR

    def __init__(self, io: IO) -> None:
        for name, direction, kind in ((RUN, "out", "digital"), (SPEED, "out", "analog"),
                                      (PART_PRESENT, "in", "digital")):
            point = io.point(name)
            if (point.direction, point.type) != (direction, kind):
                raise ValueError(f"{io.name}: point {name} is {point.direction} {point.type}; "
                                 f"a conveyor needs {direction} {kind}")
        self.io = io
        self._fault = Fault.NONE
        values = io.state().values
        self._commands = [int(bool(values[RUN])), _SETPOINT.to_raw(float(values[SPEED]))]
        """RUN and SPEED_SETPOINT as last written: what the coil and register read back."""

    def read(self, table: Table) -> list[int]:
        if table is Table.COIL:
            return self._commands[:1]
        if table is Table.HOLDING:
            return self._commands[1:]
        values = self.io.state().values
        speed = _SETPOINT.to_raw(float(values[SPEED])) if values[RUN] else 0
        if table is Table.DISCRETE_INPUT:
            return [int(bool(values[PART_PRESENT])), int(speed > 0)]
        fault = self._fault if self.io.lifecycle is Lifecycle.ACTIVE else Fault.DEVICE_ERROR
        return [int(fault), speed, CONVEYOR["MAX_SPEED"].to_raw(self.io.point(SPEED).high)]

    def write(self, table: Table, address: int, values: list[int]) -> ExcCodes | None:
        value: bool | float
        if table is Table.COIL:
            name, value = RUN, bool(values[0])
            if not value:
                self._fault = Fault.NONE
        else:
            name, value = SPEED, _SETPOINT.to_si(values[0])
        try:
            self.io.set(name, value)
        except LimitViolation:
            return ExcCodes.ILLEGAL_VALUE
        except RobotError:
            self._fault = Fault.DEVICE_ERROR
        self._commands[0 if table is Table.COIL else 1] = values[0]
        return None


__all__ = ["ConveyorDevice", "GripperDevice", "VirtualDevice"]
