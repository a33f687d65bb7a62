"""One Modbus TCP connection (pymodbus's synchronous client), with every failure turned
into a `DeviceError` that says what was asked, of which device, and why."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException

from cellwright.robots.drivers.modbus.registers import Table
from cellwright.robots.errors import RobotError

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # every failure is ours to report


class DeviceError(RobotError):
    """A Modbus device could not be reached, did not answer in time, or answered with a
    Modbus exception. Retryable: the device may come back (`activate()` reconnects)."""

    reason = "device"
    retryable = True


@dataclass(frozen=True)
class Endpoint:
    """Where a device answers: host, TCP port, unit id; `timeout_s` bounds every request."""

    host: str
    port: int
    unit: int = 1
    timeout_s: float = 0.5

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class Link:
    """Blocking requests to one device; not thread-safe (its poller's thread owns it).
    A failed request closes the socket, so the next one starts on a fresh connection."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._client = ModbusTcpClient(endpoint.host, port=endpoint.port,
                                       timeout=endpoint.timeout_s, retries=0)

    def connect(self, what: str) -> None:
        if not self._client.connect():  # type: ignore[no-untyped-call]
            raise DeviceError(f"{what} at {self.endpoint}: cannot connect (refused or no route)")

    def read(self, what: str, table: Table, count: int) -> list[int]:
        """`count` values of `table` from address 0 (bits as 0/1)."""
        calls: dict[Table, Callable[..., Any]] = {
            Table.COIL: self._client.read_coils, Table.DISCRETE_INPUT: self._client.read_discrete_inputs,
            Table.HOLDING: self._client.read_holding_registers,
            Table.INPUT: self._client.read_input_registers}
        response = self._call(what, lambda: calls[table](0, count=count, device_id=self.endpoint.unit))
        values = response.bits if table.bits else response.registers
        return [int(v) for v in values[:count]]

    def write_registers(self, what: str, address: int, values: list[int]) -> None:
        self._call(what, lambda: self._client.write_registers(address, values,
                                                              device_id=self.endpoint.unit))

    def write_coil(self, what: str, address: int, value: bool) -> None:
        self._call(what, lambda: self._client.write_coil(address, value, device_id=self.endpoint.unit))

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    def _call(self, what: str, request: Callable[[], Any]) -> Any:
        where = f"{what} at {self.endpoint}"
        try:
            response = request()
        except (ModbusException, OSError) as exc:
            self.close()
            raise DeviceError(f"{where}: {_plain(exc)}") from exc
        if response.isError():
            code = getattr(response, "exception_code", 0)
            name = ExcCodes(code).name if code in ExcCodes._value2member_map_ else "unknown"
            raise DeviceError(f"{where}: the device answered with Modbus exception {code} ({name})")
        return response


def _plain(exc: BaseException) -> str:
    """pymodbus's messages start with "Modbus Error: [Connection] ..."; keep the words."""
    if isinstance(exc, ConnectionException | OSError):
        return "no connection (refused, reset or closed by the device)"
    text = str(exc).replace("Modbus Error: ", "").strip()
    if "No response received" in text:
        return "no answer within the timeout"
    return text or type(exc).__name__
