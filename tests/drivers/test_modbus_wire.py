"""An independent Modbus client (pyModbusTCP, not pymodbus) against the virtual devices:
the registers are where docs/modbus.md says, and commands move the PyBullet world.

Addresses and bits are written out here as the docs give them, not taken from registers.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pybullet as p
import pytest
from _modbus_devices import HANG_S, client, virtual_device
from pyModbusTCP.client import ModbusClient

from cellwright.app.virtual_device import VirtualDevice
from cellwright.robots import IO, Gripper
from cellwright.testing import wait_until

R_ACT, R_GTO = 1 << 0, 1 << 3


def g_sta(status: int) -> int:
    return (status >> 4) & 0b11


def g_obj(status: int) -> int:
    return (status >> 6) & 0b11


def connect(device: VirtualDevice) -> ModbusClient:
    return ModbusClient(host=device.server.host, port=device.server.port, unit_id=1,
                        auto_open=True, timeout=5.0)


@pytest.fixture
def gripper_device() -> Iterator[VirtualDevice]:
    with virtual_device("gripper") as device:
        yield device


@pytest.fixture
def conveyor_device() -> Iterator[VirtualDevice]:
    with virtual_device("conveyor") as device:
        yield device


def test_a_client_activates_and_closes_the_pybullet_gripper_through_the_documented_registers(
        gripper_device: VirtualDevice) -> None:
    bus, gripper = connect(gripper_device), gripper_device.backing
    assert isinstance(gripper, Gripper)
    status = bus.read_input_registers(0, 7)
    assert status is not None and len(status) == 7
    assert g_sta(status[0]) == 0 and status[1] == 0  # reset, no fault
    assert status[3] == pytest.approx(800, abs=5)  # POSITION: open, 80.0 mm in 0.1 mm
    assert (status[5], status[6]) == (800, 700)  # STROKE 80.0 mm, MAX_FORCE 70.0 N
    assert bus.read_holding_registers(0, 4) == [0, 800, 100, 700]

    assert bus.write_multiple_registers(0, [R_ACT, 800, 100, 200])
    wait_until(lambda: g_sta(bus.read_input_registers(0, 1)[0]) == 3, HANG_S, "activation complete")
    assert bus.write_multiple_registers(0, [R_ACT | R_GTO, 0, 100, 200])  # close, 20 N

    def stopped() -> list[int] | None:
        regs = bus.read_input_registers(0, 7)
        return regs if regs and g_obj(regs[0]) != 0 else None

    regs = wait_until(stopped, HANG_S, "the fingers stopped (gOBJ not MOVING)")
    assert regs[0] & R_ACT and regs[0] & R_GTO  # gACT, gGTO echo the request
    assert g_obj(regs[0]) == 3 and regs[1] == 0  # at the requested position, no fault
    assert regs[2] == 0 and regs[3] <= 10  # echo 0; closed within 1 mm
    assert gripper.state().width_m == pytest.approx(regs[3] * 1e-4, abs=1e-3)

    assert bus.write_multiple_registers(0, [R_ACT | R_GTO, 900, 100, 200]) is False
    assert bus.last_except == 3  # ILLEGAL DATA VALUE: wider than the stroke


def test_a_client_runs_the_pybullet_conveyor_and_a_part_on_it_trips_part_present(
        conveyor_device: VirtualDevice) -> None:
    bus, loop, world = connect(conveyor_device), conveyor_device.sim.loop, conveyor_device.sim.world
    # The belt (defaults: 1.5 m along x, top 0.4 m up) stands at (0.3, 1.0); its sensor
    # looks across it 0.5 m downstream of its centre. A 40 mm cube goes 0.3 m upstream.
    def place() -> int:
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=(0.02,) * 3, physicsClientId=world.client)
        return int(p.createMultiBody(0.05, shape, basePosition=(0.0, 1.0, 0.421),
                                     physicsClientId=world.client))

    def x_of(body: int) -> float:
        return float(loop.call(lambda: p.getBasePositionAndOrientation(
            body, physicsClientId=world.client)[0][0]))

    cube = loop.call(place)
    loop.sleep(0.2).result(HANG_S)  # it settles on the belt
    assert bus.read_discrete_inputs(0, 2) == [False, False]  # nothing seen, not running
    assert bus.read_input_registers(0, 3) == [0, 0, 500]  # no fault, standing, 0.5 m/s at most
    start_x = x_of(cube)

    assert bus.write_single_register(0, 400) and bus.write_single_coil(0, True)
    assert bus.read_holding_registers(0, 1) == [400] and bus.read_coils(0, 1) == [True]
    wait_until(lambda: bus.read_discrete_inputs(0, 1) == [True], HANG_S, "part_present")
    assert bus.read_discrete_inputs(1, 1) == [True] and bus.read_input_registers(1, 1) == [400]
    assert x_of(cube) - start_x > 0.6  # carried along the belt's axis to the sensor

    assert bus.write_single_coil(0, False)
    wait_until(lambda: bus.read_discrete_inputs(1, 1) == [False], HANG_S, "RUNNING off")
    assert bus.read_input_registers(1, 1) == [0]
    loop.sleep(0.3).result(HANG_S)
    here = x_of(cube)
    loop.sleep(0.3).result(HANG_S)
    assert x_of(cube) == pytest.approx(here, abs=0.01)  # the belt stopped, so did the part
    assert bus.read_discrete_inputs(0, 1) == [True]  # still in the beam

    assert bus.write_single_register(0, 600) is False and bus.last_except == 3  # above MAX_SPEED


def test_the_conveyor_component_scales_the_written_speed_by_the_speed_override(
        conveyor_device: VirtualDevice) -> None:
    bus = connect(conveyor_device)
    with client("modbus.conveyor", conveyor_device.client_config()) as (io, loop):
        assert isinstance(io, IO)
        io.set("speed", 0.4)
        io.set("run", True)
        wait_until(lambda: bus.read_holding_registers(0, 1) == [400], HANG_S, "400 mm/s written")
        loop.call(lambda: setattr(io, "speed_override", 0.5))
        wait_until(lambda: bus.read_holding_registers(0, 1) == [200], HANG_S, "200 mm/s written")
        assert io.get("speed") == 0.4 and io.get("run") is True  # the commanded outputs
        io.stop()
        wait_until(lambda: bus.read_coils(0, 1) == [False], HANG_S, "RUN = 0 written by stop()")
        loop.settled([io]).result(HANG_S)
        assert io.get("run") is False
