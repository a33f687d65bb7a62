"""Faults on the wire: Modbus exceptions, a killed device, a silent one, a device fault.
The component goes to ERROR with a reason that names the request, the device and why,
after a bounded number of failed polls (never a hang), and `activate()` recovers once the
device does. Assertions are on reasons and on calls returning, never on seconds."""

from __future__ import annotations

import socket

import pytest
from _modbus_devices import HANG_S, client, virtual_device
from pymodbus.constants import ExcCodes

from cellwright.robots import Gripper, Lifecycle, NotActive
from cellwright.robots.drivers.modbus import DeviceError
from cellwright.testing import wait_until

KINDS = {"modbus.gripper": "gripper", "modbus.conveyor": "conveyor"}


@pytest.mark.parametrize("model_id", sorted(KINDS))
def test_exception_answers_put_the_component_in_error_and_activate_recovers_once_they_stop(
        model_id: str) -> None:
    with virtual_device(KINDS[model_id]) as device, \
            client(model_id, device.client_config()) as (component, loop):
        device.server.exception = ExcCodes.DEVICE_FAILURE
        wait_until(lambda: component.lifecycle is Lifecycle.ERROR, HANG_S, "ERROR")
        reason = component.error_reason
        assert f"at 127.0.0.1:{device.server.port}: the device answered with Modbus exception 4 " \
               "(DEVICE_FAILURE) (3 polls in a row failed)" in reason
        assert reason.startswith(("reading the ", "writing the "))  # the request that failed
        with pytest.raises(DeviceError, match="Modbus exception 4"):
            loop.call(component.activate, HANG_S)  # still answering with exceptions
        assert component.lifecycle is Lifecycle.ERROR

        device.server.exception = None
        loop.call(component.activate, HANG_S)
        assert component.lifecycle is Lifecycle.ACTIVE and component.error_reason == ""


def test_a_killed_gripper_device_puts_the_component_in_error_and_a_restart_on_the_same_port_recovers(
        ) -> None:
    with virtual_device("gripper") as device, \
            client("modbus.gripper", device.client_config()) as (gripper, loop):
        assert isinstance(gripper, Gripper)
        port = device.server.port
        device.server.kill()
        wait_until(lambda: gripper.lifecycle is Lifecycle.ERROR, HANG_S, "ERROR")
        assert gripper.error_reason == (
            f"reading the gripper status at 127.0.0.1:{port}: no connection (refused, reset or "
            "closed by the device) (3 polls in a row failed)")
        with pytest.raises(NotActive, match="no connection"):
            gripper.move(0.04)
        with pytest.raises(DeviceError, match=f"connecting to the gripper at 127.0.0.1:{port}: cannot connect"):
            loop.call(gripper.activate, HANG_S)

        assert device.server.start() == port
        loop.call(gripper.activate, HANG_S)
        assert gripper.lifecycle is Lifecycle.ACTIVE
        assert gripper.move(0.04).result(HANG_S) is False
        assert gripper.state().width_m == pytest.approx(0.04, abs=1e-3)


def test_a_goal_in_progress_ends_when_the_device_dies() -> None:
    with virtual_device("gripper") as device, \
            client("modbus.gripper", device.client_config()) as (gripper, loop):
        assert isinstance(gripper, Gripper)
        loop.call(lambda: setattr(gripper, "speed_override", 0.0))  # the move waits, alive
        goal = gripper.move(0.0)
        device.server.kill()
        with pytest.raises(NotActive, match="3 polls in a row failed"):
            goal.result(HANG_S)  # returns: the goal ends with the component's ERROR


def test_a_device_that_never_answers_fails_activation_within_the_request_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody answers
        port = silent.getsockname()[1]
        config = {"host": "127.0.0.1", "port": port, "timeout_s": 0.2}
        with pytest.raises(DeviceError, match=f"reading the gripper status at 127.0.0.1:{port}: "
                                              "no answer within the timeout"), \
                client("modbus.gripper", config):
            pass


def test_a_device_fault_puts_the_gripper_in_error_and_activate_resets_it() -> None:
    with virtual_device("gripper") as device, \
            client("modbus.gripper", device.client_config()) as (gripper, loop):
        assert isinstance(gripper, Gripper)
        backing = device.backing
        backing.estop()  # the mechanism behind the device is e-stopped: it cannot move
        with pytest.raises(NotActive, match="DEVICE_ERROR"):
            gripper.move(0.02).result(HANG_S)
        assert gripper.lifecycle is Lifecycle.ERROR
        assert gripper.error_reason == (f"fault at 127.0.0.1:{device.server.port}: DEVICE_ERROR (3): "
                                        "the mechanism is not operational")
        backing.reset_estop()
        backing.resume()
        loop.call(gripper.activate, HANG_S)  # rACT 0 -> 1 clears the fault
        assert gripper.move(0.02).result(HANG_S) is False
