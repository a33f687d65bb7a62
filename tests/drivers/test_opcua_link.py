"""The OPC UA driver on a slow, hanging or dropped link: a delay proxy on loopback between the
cell and a virtual controller (cellwright.api.netproxy)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cellwright.api.netproxy import DelayProxy
from cellwright.app.virtual_controller import start_virtual_controller
from cellwright.robots import BuildContext, ControlLoop, Lifecycle, NotActive, Robot, build_robot
from cellwright.testing import wait_until

HANG_GUARD_S = 60.0


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Any]:
    controller = start_virtual_controller("arm_cell", "panda", url="opc.tcp://127.0.0.1:0",
                                          pki=tmp_path / "controller", policy="None")
    yield controller
    controller.close()


def _through(proxy: DelayProxy, **options: Any) -> tuple[Robot, ControlLoop]:
    robot = build_robot("opcua.panda", BuildContext("panda"), {
        "endpoint": f"opc.tcp://{proxy.url_host_port}", "security_policy": "None", **options})
    loop = ControlLoop(0.01, clock="realtime")
    for component in robot.components.values():
        loop.add(component)
    loop.start()
    for component in robot.components.values():
        loop.call(component.activate, HANG_GUARD_S)
    return robot, loop


def _close(robot: Robot, loop: ControlLoop, proxy: DelayProxy) -> None:
    for component in robot.components.values():
        loop.call(component.shutdown, HANG_GUARD_S)
    loop.stop()
    proxy.stop()


def _proxy(controller: Any, **delays: float) -> DelayProxy:
    host, port = controller.server.url.removeprefix("opc.tcp://").rsplit(":", 1)
    proxy = DelayProxy(host, int(port), seed=3, **delays)
    proxy.start()
    return proxy


def test_a_slow_jittery_link_still_moves_the_arm_and_stops_it(controller: Any) -> None:
    proxy = _proxy(controller, latency_s=0.05, jitter_s=0.02)
    robot, loop = _through(proxy)
    try:
        arm = robot.components["arm"]
        start = arm.state().position.copy()
        arm.move_joints(start + np.array([0.1, 0, 0, 0, 0, 0, 0]), speed=0.5).result(HANG_GUARD_S)
        assert abs(arm.state().position[0] - start[0] - 0.1) < 5e-3
        goal = arm.move_joints(start + np.array([0.6, 0, 0, 0, 0, 0, 0]), speed=0.1)
        wait_until(lambda: abs(arm.state().position[0] - start[0] - 0.1) > 0.01, HANG_GUARD_S, "it moves")
        arm.stop()
        assert goal.wait(HANG_GUARD_S) and type(goal.error()).__name__ == "MotionStopped", goal.error()
        assert arm.lifecycle is Lifecycle.ACTIVE
    finally:
        _close(robot, loop, proxy)


@pytest.mark.parametrize("fault", ["stall", "cut"])
def test_a_hung_or_dropped_link_is_an_error_with_the_reason_and_activate_recovers(
        controller: Any, fault: str) -> None:
    proxy = _proxy(controller)
    robot, loop = _through(proxy)
    try:
        arm, gripper = robot.components["arm"], robot.components["gripper"]
        start = arm.state().position.copy()
        goal = arm.move_joints(start + np.array([0.6, 0, 0, 0, 0, 0, 0]), speed=0.1, timeout_s=30.0)
        wait_until(lambda: abs(arm.state().position[0] - start[0]) > 0.01, HANG_GUARD_S, "it moves")
        getattr(proxy, fault)()
        assert goal.wait(HANG_GUARD_S), "the goal hung on a dead link"
        assert isinstance(goal.error(), NotActive), goal.error()
        wait_until(lambda: arm.lifecycle is Lifecycle.ERROR and gripper.lifecycle is Lifecycle.ERROR,
                   HANG_GUARD_S, "both components go to ERROR")
        assert "lost the OPC UA link" in arm.error_reason, arm.error_reason
        if fault == "stall":
            assert "no heartbeat" in arm.error_reason, arm.error_reason
            proxy.resume()
        for component in (arm, gripper):
            loop.call(component.activate, HANG_GUARD_S)
        arm.move_joints(start, speed=0.5).result(HANG_GUARD_S)
        assert np.allclose(arm.state().position, start, atol=5e-3)
    finally:
        _close(robot, loop, proxy)
    links = [t.name for t in threading.enumerate() if t.name.startswith("opcua-link")]
    assert not links, f"a session outlived its components (activated twice): {links}"
