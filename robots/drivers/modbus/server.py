"""`ModbusServer`: a real pymodbus TCP server, on a thread of its own, serving one virtual
device (`virtual.GripperDevice`, `virtual.ConveyorDevice`), with faults to inject:

    server.exception = ExcCodes.DEVICE_FAILURE   every request is answered with it
    server.exception = None                      normal answers again
    server.kill()                                connections reset, listening stops at once
    server.start()                               after kill(): listen again (same port)
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from cellwright.robots.drivers.modbus.registers import Table
from cellwright.robots.drivers.modbus.virtual import VirtualDevice

_TABLE_OF = {1: Table.COIL, 5: Table.COIL, 15: Table.COIL, 2: Table.DISCRETE_INPUT,
             3: Table.HOLDING, 6: Table.HOLDING, 16: Table.HOLDING, 4: Table.INPUT}
"""Function code -> table (the ones our maps need)."""
_ORDER = (Table.COIL, Table.DISCRETE_INPUT, Table.HOLDING, Table.INPUT)
"""pymodbus's order of a device's four blocks."""


class ModbusServer:
    """Serves `device` on `host:port` (port 0: any free one; `port` tells which after
    `start()`). Requests run on the server's thread, one at a time.

    Args:
        unit: the unit id it answers to.
    """

    def __init__(self, device: VirtualDevice, *, host: str = "127.0.0.1", port: int = 0,
                 unit: int = 1) -> None:
        self.device, self.host, self.port, self.unit = device, host, port, unit
        self.exception: ExcCodes | None = None
        """Fault injection: when set, every request is answered with this Modbus exception."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"modbus-server {host}",
                                        daemon=True)
        self._server: ModbusTcpServer | None = None

    @property
    def endpoint(self) -> str:
        """`modbus-tcp://host:port`."""
        return f"modbus-tcp://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> int:
        """Listen (again, after `kill()`, on the same port); return the bound port.

        Raises:
            OSError: the port cannot be bound.
        """
        if not self._thread.is_alive():
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout_s)

    def kill(self, timeout_s: float = 10.0) -> None:
        """Reset every connection and stop listening at once, as if the device died."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._kill(), self._loop).result(timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Kill the server and end its thread."""
        self.kill(timeout_s)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self._loop.close()

    async def _listen(self) -> int:
        blocks = []
        for table in _ORDER:
            count = len(self.device.register_map.in_table(table))
            kind = DataType.BITS if table.bits else DataType.REGISTERS
            blocks.append([SimData(0, count=max(1, count), values=False if table.bits else 0,
                                   datatype=kind, readonly=not table.writable)])
        simdata = (blocks[0], blocks[1], blocks[2], blocks[3])
        device = SimDevice(self.unit, simdata=simdata, action=self._action)
        server = ModbusTcpServer(device, address=(self.host, self.port))
        await server.serve_forever(background=True)
        self._server = server
        listener: Any = server.transport
        self.port = int(listener.sockets[0].getsockname()[1])
        return self.port

    async def _kill(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        for connection in list(server.active_connections.values()):
            transport: Any = connection.transport
            if transport is not None:
                transport.abort()
        await server.shutdown()  # type: ignore[no-untyped-call]

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], values: list[int] | list[bool] | None) -> ExcCodes | None:
        """pymodbus's hook on every access: answer with the injected exception, apply a
        write, and refresh the accessed table from the device."""
        if self.exception is not None:
            return self.exception
        table = _TABLE_OF.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if values is not None:
            refused = self.device.write(table, address, [int(v) for v in values])
            if refused is not None:
                return refused
        fresh = self.device.read(table)
        if table.bits:
            words = [0] * ((len(fresh) + 15) // 16)
            for i, bit in enumerate(fresh):
                words[i // 16] |= int(bool(bit)) << (i % 16)
            fresh = words
        registers[:len(fresh)] = fresh
        return None


__all__ = ["ModbusServer"]
