"""Helpers for the Modbus tests: a virtual device and a client robot on its own real-time loop."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cellwright.app.virtual_device import VirtualDevice, start_virtual_device
from cellwright.robots import BuildContext, Component, ControlLoop, build_robot

HANG_S = 30.0
"""Wall-clock guard against hangs only; nothing asserts on elapsed time."""


@contextmanager
def virtual_device(kind: str) -> Iterator[VirtualDevice]:
    device = start_virtual_device(kind, port=0)
    try:
        yield device
    finally:
        device.close()


@contextmanager
def client(model_id: str, config: dict[str, Any]) -> Iterator[tuple[Component, ControlLoop]]:
    """The robot's one component, activated, on a real-time loop (real drivers run on wall time)."""
    robot = build_robot(model_id, BuildContext("cell"), config)
    (component,) = robot.components.values()
    loop = ControlLoop(1 / 240, clock="realtime", name=f"client {model_id}")
    loop.add(component)
    loop.start()
    try:
        loop.call(component.activate, HANG_S)
        yield component, loop
    finally:
        loop.call(component.shutdown, HANG_S)
        loop.stop()
