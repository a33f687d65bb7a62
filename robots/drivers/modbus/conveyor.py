"""`ModbusIO`: a belt conveyor over Modbus TCP (register map: `registers.CONVEYOR`), as an IO
component with the points of `models.conveyor` (run, speed, part_present).

The component owns a `Poller` thread that reads the device at `poll_hz`; `read()` copies the
latest poll. Outputs read back as commanded (the output image, updated on the tick after
`set()`), inputs as last polled. Writes go out at once, ahead of the next poll: RUN as a
coil, the speed as SPEED_SETPOINT in mm/s, scaled by `speed_override` (0 halts the belt
while `run` stays true; the override rising resumes it). stop(), estop() and deactivate()
write RUN = 0 at once and `run` reads false afterwards.

A lost connection, a request unanswered within `timeout_s` or a Modbus exception, for
`max_missed_polls` polls in a row, or a fault code while ACTIVE, puts the component in
ERROR with the reason; `activate()` reconnects and clears a device fault (RUN = 0).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from cellwright.robots.component import Lifecycle
from cellwright.robots.drivers.modbus._link import DeviceError, Endpoint, Link
from cellwright.robots.drivers.modbus._poller import Poller
from cellwright.robots.drivers.modbus.gripper import DRIVER, fault_text
from cellwright.robots.drivers.modbus.registers import CONVEYOR, Table
from cellwright.robots.io import IO, IOInfo, IOState, Value
from cellwright.robots.models.conveyor import PART_PRESENT, RUN, SPEED, points

_RUN, _SETPOINT = CONVEYOR["RUN"], CONVEYOR["SPEED_SETPOINT"]


@dataclass(frozen=True)
class ConveyorStatus:
    """What the component uses of one poll of every table, in SI units."""

    run: bool
    speed_setpoint_m_s: float
    part_present: bool
    fault: int
    max_speed_m_s: float


def read_status(link: Link) -> ConveyorStatus:
    """Read the four tables (four requests)."""
    what = "reading the conveyor"
    values = {r.name: v for table in Table
              for r, v in zip(CONVEYOR.in_table(table),
                              link.read(what, table, len(CONVEYOR.in_table(table))), strict=True)}
    return ConveyorStatus(
        run=bool(values["RUN"]), speed_setpoint_m_s=_SETPOINT.to_si(values["SPEED_SETPOINT"]),
        part_present=bool(values["PART_PRESENT"]), fault=values["FAULT"],
        max_speed_m_s=CONVEYOR["MAX_SPEED"].to_si(values["MAX_SPEED"]))


class ModbusIO(IO):
    """A conveyor behind a Modbus TCP device (see the module docstring).

    Args:
        max_speed_m_s: the `speed` point's upper limit; configure() refuses a device whose
            MAX_SPEED is lower.
        poll_hz: polls per second. max_missed_polls: failed polls in a row before ERROR.
    """

    def __init__(self, name: str, model: str, endpoint: Endpoint, *, max_speed_m_s: float,
                 poll_hz: float = 50.0, max_missed_polls: int = 3) -> None:
        super().__init__(name, model, DRIVER)
        self.endpoint = endpoint
        self.poll_period_s, self.max_missed_polls = 1.0 / poll_hz, max_missed_polls
        self._info = IOInfo(name, self.kind, model, DRIVER, points(max_speed_m_s))
        self._outputs: dict[str, Value] = {RUN: False, SPEED: 0.0}
        self._state = IOState(0.0, MappingProxyType({**self._outputs, PART_PRESENT: False}))
        self._queued: dict[str, Value] = {}
        self._lock = threading.Lock()
        self._poller: Poller[ConveyorStatus] | None = None
        self._seen = -1
        self._written_raw = 0

    def info(self) -> IOInfo:
        return self._info

    def state(self) -> IOState:
        return self._state

    def busy(self) -> bool:
        return bool(self._queued) or super().busy()

    # --- lifecycle (loop thread) -----------------------------------------------------------
    def _configure(self) -> None:
        self._close()
        link = Link(self.endpoint)
        try:
            link.connect("connecting to the conveyor")
            status = read_status(link)
            high = self.point(SPEED).high
            if status.max_speed_m_s < high - 1e-3:
                raise DeviceError(
                    f"checking the conveyor at {self.endpoint}: it runs at most "
                    f"{status.max_speed_m_s:.3f} m/s, less than the configured max_speed_m_s "
                    f"{high:.3f}; set it to the device's")
        except BaseException:
            link.close()
            raise
        self._outputs = {RUN: status.run, SPEED: min(high, status.speed_setpoint_m_s)}
        self._written_raw, self._seen = _SETPOINT.to_raw(float(self._outputs[SPEED])), -1
        self._poller = Poller(link, read_status, status, period_s=self.poll_period_s,
                              max_missed=self.max_missed_polls, name=f"modbus {self.name}")

    def _activate(self) -> None:
        poller = self._poller
        if poller is None or not poller.latest.state.fault:
            return
        seq = self._stop_belt()  # clears the device's fault
        if poller.wait_for(lambda p: p.acked >= seq and not p.state.fault,
                           self.endpoint.timeout_s * (self.max_missed_polls + 1)) is None:
            raise DeviceError(poller.failure or f"clearing the conveyor's fault at {self.endpoint}: "
                                                f"{fault_text(poller.latest.state.fault)}")

    def _deactivate(self) -> None:
        self._stop_belt()

    def _shutdown(self) -> None:
        self._close()

    def _on_stop(self) -> None:
        self._stop_belt()

    # --- outputs (any thread) ----------------------------------------------------------------
    def _write_point(self, name: str, value: Value) -> None:
        with self._lock:
            self._queued[name] = value

    # --- control loop (loop thread) ----------------------------------------------------------
    def read(self, now_s: float) -> None:
        poller = self._poller
        if poller is None:
            return
        if poller.failure:
            self.fail(poller.failure)
            return
        polled = poller.latest
        if polled.count == self._seen:
            return
        self._seen = polled.count
        self._state = IOState(now_s, MappingProxyType(
            {**self._outputs, PART_PRESENT: polled.state.part_present}))
        if polled.state.fault and self.lifecycle is Lifecycle.ACTIVE:
            self.fail(f"fault at {self.endpoint}: {fault_text(polled.state.fault)}")

    def update(self, now_s: float, dt_s: float) -> None:
        poller = self._poller
        if poller is None:
            return
        with self._lock:
            queued, self._queued = self._queued, {}
        if RUN in queued and queued[RUN] != self._outputs[RUN]:
            poller.write("writing the conveyor's RUN", _coil(bool(queued[RUN])))
        self._outputs.update(queued)
        raw = _SETPOINT.to_raw(float(self._outputs[SPEED]) * self.speed_override)
        if raw != self._written_raw:
            self._written_raw = raw
            poller.write("writing the conveyor's SPEED_SETPOINT",
                         lambda link: link.write_registers("writing the conveyor's SPEED_SETPOINT",
                                                           _SETPOINT.address, [raw]))
        if queued:
            self._state = IOState(now_s, MappingProxyType({**self._state.values, **self._outputs}))

    # --- internals ---------------------------------------------------------------------------
    def _stop_belt(self) -> int:
        """Write RUN = 0 at once (any thread); `run` reads false from the next tick."""
        with self._lock:
            self._queued[RUN] = False
        poller = self._poller
        return poller.write("stopping the conveyor", _coil(False)) if poller is not None else 0

    def _close(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.close()


def _coil(value: bool) -> Callable[[Link], None]:
    return lambda link: link.write_coil(f"writing the conveyor's RUN = {int(value)}", _RUN.address, value)


__all__ = ["ConveyorStatus", "ModbusIO", "read_status"]
