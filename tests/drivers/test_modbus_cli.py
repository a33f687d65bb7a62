"""`cellwright virtual-device` as a process: it prints its endpoint, serves, and ends on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

from _modbus_devices import HANG_S
from pyModbusTCP.client import ModbusClient

from cellwright.testing import wait_until


def test_the_virtual_gripper_command_prints_its_endpoint_serves_and_ends_on_sigterm() -> None:
    process = subprocess.Popen([sys.executable, "-m", "cellwright", "virtual-device", "gripper",
                                "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.fullmatch(r"modbus-tcp://127\.0\.0\.1:(\d+) ready\n", line)
        assert found, f"expected 'modbus-tcp://127.0.0.1:PORT ready', got {line!r}"
        bus = ModbusClient(host="127.0.0.1", port=int(found.group(1)), unit_id=1, auto_open=True,
                           timeout=5.0)
        status = wait_until(lambda: bus.read_input_registers(0, 7), HANG_S, "a status read")
        assert status[5:] == [800, 700]  # the Panda hand's STROKE and MAX_FORCE
        bus.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(HANG_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(HANG_S)
        if process.stdout is not None:
            process.stdout.close()
