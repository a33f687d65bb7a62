"""Modbus TCP devices (docs/modbus.md): clients, register maps and virtual devices.

    registers.py  the register maps as data: the one source of addresses and scaling
    gripper.py    ModbusGripper(Gripper): a two-finger gripper (`modbus.gripper`)
    conveyor.py   ModbusIO(IO): a belt conveyor, run / speed / part_present (`modbus.conveyor`)
    build.py      the registry's factories
    virtual.py    the register maps served from a backing component (any Gripper, any IO
                  with the conveyor's points)
    server.py     ModbusServer: a pymodbus TCP server for a virtual device, with faults to inject
    _link.py      one connection; every failure becomes a DeviceError naming device and request
    _poller.py    the thread that polls a device and sends queued writes
"""

from cellwright.robots.drivers.modbus._link import DeviceError, Endpoint
from cellwright.robots.drivers.modbus.conveyor import ModbusIO
from cellwright.robots.drivers.modbus.gripper import ModbusGripper

__all__ = ["DeviceError", "Endpoint", "ModbusGripper", "ModbusIO"]
