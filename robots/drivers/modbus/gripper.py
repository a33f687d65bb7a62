"""`ModbusGripper`: a two-finger gripper over Modbus TCP (register map: `registers.GRIPPER`).

The component owns a `Poller` thread that reads the status block at `poll_hz`; `read()`
copies the latest poll, `update()` ends goals from it. A move writes the request block
(rACT = 1, rGTO = 1, position, speed 100 %, force) and succeeds once a poll taken after the
device answered that write reports the fingers stopped (gOBJ not MOVING); its result is
whether they stopped on an object. stop(), estop(), cancel() and a timeout write rGTO = 0
at once (queued ahead of the next poll); the component stays busy until the device reports
the fingers still. `speed_override` 0 pauses a move (rGTO = 0, its timeout not running) and
any override above 0 resumes it at full speed: the device's speed is not scaled.

A lost connection, a request unanswered within `timeout_s` or a Modbus exception, for
`max_missed_polls` polls in a row, or a fault code while ACTIVE, puts the component in
ERROR with the reason; `activate()` reconnects and resets a faulted device (rACT 0 -> 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cellwright.robots.component import Lifecycle
from cellwright.robots.drivers.modbus._link import DeviceError, Endpoint, Link
from cellwright.robots.drivers.modbus._poller import Polled, Poller
from cellwright.robots.drivers.modbus.registers import (
    FAULT_TEXT,
    GRIPPER,
    SPEED_PERCENT_MAX,
    ActivationStatus,
    Fault,
    ObjectStatus,
    Table,
)
from cellwright.robots.errors import EStopActive, MotionStopped, MotionTimeout, RobotError
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper, GripperInfo, GripperState

DRIVER = "modbus"
STILL_M = 2e-4
"""Two polls whose widths differ by less than this: the fingers are still."""

_ACTION, _POSITION, _FORCE = GRIPPER["ACTION_REQUEST"], GRIPPER["POSITION_REQUEST"], GRIPPER["FORCE_REQUEST"]
_STATUS_WORD = GRIPPER["GRIPPER_STATUS"]
_INPUTS = GRIPPER.in_table(Table.INPUT)


@dataclass(frozen=True)
class GripperStatus:
    """The status block in SI units."""

    activated: bool
    object: ObjectStatus
    fault: int
    width_m: float
    stroke_m: float
    max_force_n: float

    @property
    def holding(self) -> bool:
        return self.object in (ObjectStatus.OBJECT_OPENING, ObjectStatus.OBJECT_CLOSING)


def read_status(link: Link) -> GripperStatus:
    """Read the status block (FC4, one request)."""
    raw = dict(zip((r.name for r in _INPUTS), link.read("reading the gripper status", Table.INPUT,
                                                        len(_INPUTS)), strict=True))
    word = raw["GRIPPER_STATUS"]
    return GripperStatus(
        activated=_STATUS_WORD.bit("gSTA").get(word) == ActivationStatus.ACTIVE,
        object=ObjectStatus(_STATUS_WORD.bit("gOBJ").get(word)),
        fault=raw["FAULT"],
        width_m=GRIPPER["POSITION"].to_si(raw["POSITION"]),
        stroke_m=GRIPPER["STROKE"].to_si(raw["STROKE"]),
        max_force_n=GRIPPER["MAX_FORCE"].to_si(raw["MAX_FORCE"]))


def action_word(*, activate: bool, go: bool) -> int:
    return _ACTION.bit("rGTO").put(_ACTION.bit("rACT").put(0, int(activate)), int(go))


def fault_text(code: int) -> str:
    """A fault code in words ("MOTION_FAILED (2): the mechanism did not reach ...")."""
    if code in Fault._value2member_map_:
        fault = Fault(code)
        return f"{fault.name} ({code}): {FAULT_TEXT[fault]}"
    return f"unknown fault code {code}"


class _Move(Goal[bool]):
    def __init__(self, what: str, width_m: float, force_n: float, timeout_s: float,
                 on_cancel: Callable[[], None]) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.width_m, self.force_n, self.timeout_s = width_m, force_n, timeout_s
        self.seq: int | None = None
        """The number of the request's write (None until sent, and while paused)."""
        self.started = False
        self.elapsed_s = 0.0
        self.start_width_m = 0.0


class ModbusGripper(Gripper):
    """A gripper behind a Modbus TCP device (see the module docstring).

    Args:
        stroke_m, max_force_n: the limits motion is checked against; configure() refuses a
            device whose STROKE or MAX_FORCE is smaller.
        poll_hz: status reads per second. max_missed_polls: failed polls in a row before ERROR.
        activation_timeout_s: how long activate() waits for the device's activation (wall time).
    """

    def __init__(self, name: str, model: str, endpoint: Endpoint, *, stroke_m: float,
                 max_force_n: float, poll_hz: float = 50.0, max_missed_polls: int = 3,
                 activation_timeout_s: float = 5.0) -> None:
        super().__init__(name, model, DRIVER)
        self.endpoint = endpoint
        self.poll_period_s, self.max_missed_polls = 1.0 / poll_hz, max_missed_polls
        self.activation_timeout_s = activation_timeout_s
        self._info = GripperInfo(name, self.kind, model, DRIVER, stroke_m=stroke_m,
                                 max_force_n=max_force_n)
        self._state = GripperState(0.0, stroke_m, False)
        self._poller: Poller[GripperStatus] | None = None
        self._polled: Polled[GripperStatus] | None = None
        self._still = False
        self._halt_seq = self._halted = 0
        """The last stop written, and the last one the device was seen still after: busy
        while they differ (counters, so a stop from another thread is never lost)."""
        self._stop_latched = False

    def info(self) -> GripperInfo:
        return self._info

    def state(self) -> GripperState:
        return self._state

    def busy(self) -> bool:
        return self._halt_seq != self._halted or super().busy()

    # --- lifecycle (loop thread) -----------------------------------------------------------
    def _configure(self) -> None:
        self._close()
        link = Link(self.endpoint)
        try:
            link.connect("connecting to the gripper")
            status = read_status(link)
            self._check_device(status)
        except BaseException:
            link.close()
            raise
        self._poller = Poller(link, read_status, status, period_s=self.poll_period_s,
                              max_missed=self.max_missed_polls, name=f"modbus {self.name}")
        self._polled, self._halt_seq, self._halted, self._stop_latched = None, 0, 0, False

    def _activate(self) -> None:
        poller = self._require_poller()
        status = poller.latest.state
        if status.fault or not status.activated:
            poller.write("resetting the gripper", _action(activate=False, go=False))
        seq = poller.write("activating the gripper", _action(activate=True, go=False))
        polled = poller.wait_for(lambda p: p.acked >= seq and p.state.activated and not p.state.fault,
                                 self.activation_timeout_s)
        if polled is None:
            why = poller.failure or (
                f"activating the gripper at {self.endpoint}: not active after "
                f"{self.activation_timeout_s:g} s ({fault_text(poller.latest.state.fault)})")
            raise DeviceError(why)

    def _deactivate(self) -> None:
        self._halt()

    def _shutdown(self) -> None:
        goal = self._goal
        if goal is not None:
            goal.fail(MotionStopped(f"{self.name}: shut down"))
        self._close()

    def _on_stop(self) -> None:
        self._stop_latched = True
        self._halt()

    # --- motion (any thread) -----------------------------------------------------------------
    def _move(self, width_m: float, force_n: float, timeout_s: float) -> Goal[bool]:
        goal = _Move(f"{self.name}: move to {width_m * 1000:.1f} mm", width_m, force_n, timeout_s,
                     on_cancel=lambda: self.wake())
        self._begin(goal)
        return goal

    # --- control loop (loop thread) ----------------------------------------------------------
    def read(self, now_s: float) -> None:
        poller = self._poller
        if poller is None:
            return
        if poller.failure:
            self.fail(poller.failure)
            return
        polled = poller.latest
        if self._polled is not None and polled.count == self._polled.count:
            return
        status = polled.state
        self._still = abs(status.width_m - self._state.width_m) < STILL_M
        self._polled = polled
        self._state = GripperState(now_s, status.width_m, status.holding)
        if status.fault and self.lifecycle is Lifecycle.ACTIVE:
            self.fail(f"fault at {self.endpoint}: {fault_text(status.fault)}")

    def update(self, now_s: float, dt_s: float) -> None:
        polled, poller = self._polled, self._poller
        if polled is None or poller is None:
            return
        stop_latched, self._stop_latched = self._stop_latched, False
        moving = polled.state.object is ObjectStatus.MOVING
        halt = self._halt_seq
        if polled.acked >= halt and not moving and self._still:
            self._halted = halt
        goal = self._goal
        if not isinstance(goal, _Move) or goal.done():
            return
        if goal.cancel_requested or self.stop_requested or stop_latched:
            self._halt()
            error: RobotError = (EStopActive(f"{goal.what}: e-stopped during motion") if self.estopped
                                 else MotionStopped(f"{goal.what}: stopped on request"))
            goal.fail(error)
            return
        if self.speed_override == 0.0:  # a protective stop: hold, the timeout paused
            if goal.seq is not None:
                goal.seq = None
                self._halt()
            return
        if goal.seq is None:
            if not goal.started:
                goal.started, goal.start_width_m = True, self._state.width_m
            goal.seq = poller.write(f"requesting {goal.width_m * 1000:.1f} mm",
                                    _request(goal.width_m, goal.force_n))
            return
        goal.elapsed_s += dt_s
        if polled.acked >= goal.seq and not moving:
            goal.succeed(polled.state.holding)
            return
        span = abs(goal.width_m - goal.start_width_m)
        done = abs(self._state.width_m - goal.start_width_m)
        goal.progress = min(1.0, done / span) if span > 0 else 1.0
        if goal.elapsed_s > goal.timeout_s:
            self._halt()
            goal.fail(MotionTimeout(f"{goal.what}: not done after {goal.timeout_s:.2f} s "
                                    f"(width {self._state.width_m * 1000:.1f} mm)"))

    # --- internals ---------------------------------------------------------------------------
    def _halt(self) -> None:
        """Write rGTO = 0 at once (any thread); busy until the device reports still."""
        poller = self._poller
        if poller is not None:
            self._halt_seq = poller.write("stopping the gripper", _action(activate=True, go=False))

    def _check_device(self, status: GripperStatus) -> None:
        info = self._info
        if status.stroke_m < info.stroke_m - 1e-4 or status.max_force_n < info.max_force_n - 0.05:
            raise DeviceError(
                f"checking the gripper at {self.endpoint}: it opens {status.stroke_m * 1000:.1f} mm "
                f"with at most {status.max_force_n:.1f} N, less than configured "
                f"({info.stroke_m * 1000:.1f} mm, {info.max_force_n:.1f} N); set stroke_m and "
                f"max_force_n to the device's")

    def _require_poller(self) -> Poller[GripperStatus]:
        if self._poller is None:
            raise DeviceError(f"{self.name}: not connected to {self.endpoint}; configure() it first")
        return self._poller

    def _close(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.close()


def _action(*, activate: bool, go: bool) -> Callable[[Link], None]:
    word = action_word(activate=activate, go=go)
    return lambda link: link.write_registers("writing the gripper's action request", _ACTION.address, [word])


def _request(width_m: float, force_n: float) -> Callable[[Link], None]:
    values = [action_word(activate=True, go=True), _POSITION.to_raw(width_m), SPEED_PERCENT_MAX,
              _FORCE.to_raw(force_n)]
    return lambda link: link.write_registers("writing the gripper's request", _ACTION.address, values)


__all__ = ["GripperStatus", "ModbusGripper", "read_status"]
