"""The register maps of the Modbus TCP devices, as data: the one source the clients, the
virtual devices and docs/modbus.md (checked by a test) use.

Addresses are 0-based protocol addresses (PDU addresses; add 1 for the old "40001" style).
Values are unsigned 16-bit integers on the wire; a register's `scale` turns the raw value
into SI units (`si = raw * scale`). Bit fields pack several values into one register.

    GRIPPER   a two-finger gripper in the style of the Robotiq 2F / Schunk EGP-type
              grippers: request in holding registers, status in input registers
    CONVEYOR  a belt conveyor: run coil, speed setpoint, part-present sensor, fault
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Table(enum.Enum):
    """The four Modbus data tables (their read function code in the docs)."""

    COIL = "coil"
    DISCRETE_INPUT = "discrete input"
    HOLDING = "holding register"
    INPUT = "input register"

    @property
    def bits(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE_INPUT)

    @property
    def writable(self) -> bool:
        return self in (Table.COIL, Table.HOLDING)


@dataclass(frozen=True)
class BitField:
    """`width` bits from bit `offset` (0 = least significant) of a register."""

    name: str
    offset: int
    width: int
    description: str
    values: Mapping[int, str] = field(default_factory=dict)

    def get(self, word: int) -> int:
        return (word >> self.offset) & ((1 << self.width) - 1)

    def put(self, word: int, value: int) -> int:
        mask = ((1 << self.width) - 1) << self.offset
        return (word & ~mask) | ((value << self.offset) & mask)


@dataclass(frozen=True)
class Register:
    """One coil, input or register. `unit` is the wire unit ("0.1 mm"); `scale` converts a
    raw value to `si_unit` (1 where the value has no SI meaning: codes, bits, percent)."""

    name: str
    table: Table
    address: int
    description: str
    unit: str = ""
    scale: float = 1.0
    si_unit: str = ""
    bits: tuple[BitField, ...] = ()

    def to_si(self, raw: int) -> float:
        return raw * self.scale

    def to_raw(self, si: float) -> int:
        """`si` as the nearest raw value, clipped to 0..65535."""
        return min(0xFFFF, max(0, round(si / self.scale)))

    def bit(self, name: str) -> BitField:
        return next(b for b in self.bits if b.name == name)


@dataclass(frozen=True)
class RegisterMap:
    """A device's registers; each table's addresses run 0, 1, 2... without gaps."""

    name: str
    registers: tuple[Register, ...]

    def __post_init__(self) -> None:
        for table in Table:
            addresses = [r.address for r in self.in_table(table)]
            if addresses != list(range(len(addresses))):
                raise ValueError(f"{self.name}: {table.value}s must run 0..n-1, got {addresses}")

    def __getitem__(self, name: str) -> Register:
        for register in self.registers:
            if register.name == name:
                return register
        raise KeyError(f"{self.name} has no register {name!r}")

    def in_table(self, table: Table) -> tuple[Register, ...]:
        return tuple(sorted((r for r in self.registers if r.table is table), key=lambda r: r.address))


class Fault(enum.IntEnum):
    """Codes of the FAULT register (both devices; 0 = no fault). A fault latches until the
    device is reset: the gripper by rACT 0 -> 1, the conveyor by writing RUN = 0."""

    NONE = 0
    NOT_ACTIVATED = 1
    """Gripper: a go-to (rGTO) came before activation (rACT) completed."""
    MOTION_FAILED = 2
    """The mechanism did not reach its request (blocked, timed out)."""
    DEVICE_ERROR = 3
    """The mechanism is not operational (its drive is in error or not powered)."""


FAULT_TEXT = {
    Fault.NONE: "no fault",
    Fault.NOT_ACTIVATED: "a go-to came before activation completed",
    Fault.MOTION_FAILED: "the mechanism did not reach its request",
    Fault.DEVICE_ERROR: "the mechanism is not operational",
}


class ActivationStatus(enum.IntEnum):
    """gSTA: the gripper's activation."""

    RESET = 0
    ACTIVATING = 1
    ACTIVE = 3


class ObjectStatus(enum.IntEnum):
    """gOBJ: what the fingers are doing, or why they stopped."""

    MOVING = 0
    OBJECT_OPENING = 1
    """Stopped on an object while opening (an inside grip)."""
    OBJECT_CLOSING = 2
    """Stopped on an object while closing."""
    AT_POSITION = 3
    """At the requested position (or stopped by rGTO = 0), no object."""


_0_1_MM = 1e-4
_0_1_N = 0.1

GRIPPER = RegisterMap("gripper", (
    Register("ACTION_REQUEST", Table.HOLDING, 0, "activation and go-to", bits=(
        BitField("rACT", 0, 1, "1: activate; 0 -> 1 also clears a fault; 0: reset"),
        BitField("rGTO", 3, 1, "1: go to the requested position with the requested force "
                               "(each write with rGTO = 1 starts a motion); 0: stop and hold"),
    )),
    Register("POSITION_REQUEST", Table.HOLDING, 1, "opening between the fingers to go to "
             "(0 = closed)", "0.1 mm", _0_1_MM, "m"),
    Register("SPEED_REQUEST", Table.HOLDING, 2, "finger speed, percent of the device's maximum",
             "%"),
    Register("FORCE_REQUEST", Table.HOLDING, 3, "grip force limit", "0.1 N", _0_1_N, "N"),
    Register("GRIPPER_STATUS", Table.INPUT, 0, "activation, go-to and object status", bits=(
        BitField("gACT", 0, 1, "echo of rACT"),
        BitField("gGTO", 3, 1, "echo of rGTO"),
        BitField("gSTA", 4, 2, "activation status",
                 {s.value: s.name.lower() for s in ActivationStatus}),
        BitField("gOBJ", 6, 2, "object status",
                 {s.value: s.name.lower() for s in ObjectStatus}),
    )),
    Register("FAULT", Table.INPUT, 1, "fault code (see the fault codes); 0 = none"),
    Register("POSITION_REQUEST_ECHO", Table.INPUT, 2, "the position request being executed",
             "0.1 mm", _0_1_MM, "m"),
    Register("POSITION", Table.INPUT, 3, "actual opening between the fingers", "0.1 mm",
             _0_1_MM, "m"),
    Register("CURRENT", Table.INPUT, 4, "finger motor current", "mA", 1e-3, "A"),
    Register("STROKE", Table.INPUT, 5, "the widest opening (device constant)", "0.1 mm",
             _0_1_MM, "m"),
    Register("MAX_FORCE", Table.INPUT, 6, "the highest force request (device constant)",
             "0.1 N", _0_1_N, "N"),
))
"""Unit id 1 by default. Write the request as one block (FC16, 0..3); read the status as
one block (FC4, 0..6)."""

CONVEYOR = RegisterMap("conveyor", (
    Register("RUN", Table.COIL, 0, "1: run the belt at the speed setpoint; 0: stop (clears a "
             "fault)"),
    Register("PART_PRESENT", Table.DISCRETE_INPUT, 0, "the part-present sensor sees a part"),
    Register("RUNNING", Table.DISCRETE_INPUT, 1, "the belt runs (RUN and a speed above 0)"),
    Register("SPEED_SETPOINT", Table.HOLDING, 0, "belt speed while running", "mm/s", 1e-3, "m/s"),
    Register("FAULT", Table.INPUT, 0, "fault code (see the fault codes); 0 = none"),
    Register("ACTUAL_SPEED", Table.INPUT, 1, "belt speed now", "mm/s", 1e-3, "m/s"),
    Register("MAX_SPEED", Table.INPUT, 2, "the highest speed setpoint (device constant)", "mm/s",
             1e-3, "m/s"),
))
"""Unit id 1 by default. Forward only: the setpoint is unsigned."""

SPEED_PERCENT_MAX = 100
"""SPEED_REQUEST's full scale."""
