"""Two cells in one world: they share the world and its clock, and nothing else.

The line2 world hosts two Panda cells in one process. Their arms move at once on the one
control loop; a stop reaches a component at once, even while the loop is held by queued
work; each cell has its own session, PackML machine and state topics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pybullet as p
import pytest

from cellwright.api.statestream import StateSubscriber, robot_topic
from cellwright.cells.config import CellConfig, ConfigError, RobotEntry, load_config
from cellwright.cells.environment import Environment
from cellwright.cells.host import WorldHost
from cellwright.robots import Arm, CollisionDetected, MotionStopped
from cellwright.testing import cell_in_state
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import packml_pb2, state_pb2

LINE2 = Path(__file__).parents[2] / "examples" / "line2"
HANG_GUARD_S = 120.0  # wall seconds, only against a hang


def configs(**changes: object) -> list[CellConfig]:
    return [dataclasses.replace(load_config(LINE2 / name), **changes)  # type: ignore[arg-type]
            for name in ("arm-a.yaml", "arm-b.yaml")]


@pytest.fixture
def line() -> Iterator[Environment]:
    environment = Environment.build(configs(clock="lockstep"))
    environment.start()
    yield environment
    environment.close()


def arm(environment: Environment, cell_id: str) -> Arm:
    return environment.cells[cell_id].robots["panda"].of_kind(Arm)[0]


def test_two_arms_of_one_world_move_at_once(line: Environment) -> None:
    a, b = arm(line, "arm-a"), arm(line, "arm-b")
    start = line.loop.ticks
    targets = []
    for one in (a, b):
        target = one.state().position.copy()
        target[0] += 0.6
        targets.append(target)
    goals = [a.move_joints(targets[0], speed=0.5), b.move_joints(targets[1], speed=0.5)]
    for goal in goals:
        goal.result(HANG_GUARD_S)
    both = line.loop.ticks - start
    alone_start = line.loop.ticks
    a.move_joints(targets[0] - np.array([0.6, 0, 0, 0, 0, 0, 0]), speed=0.5).result(HANG_GUARD_S)
    alone = line.loop.ticks - alone_start
    assert both < 1.5 * alone, f"the moves took {both} ticks together, one alone {alone}: not at once"
    assert np.max(np.abs(b.state().position - targets[1])) < 2e-3


def test_a_stop_reaches_a_component_while_the_loop_is_held_by_queued_work(line: Environment) -> None:
    a = arm(line, "arm-a")
    target = a.state().position.copy()
    target[0] += 1.0
    goal = a.move_joints(target, speed=0.2)
    release, held = threading.Event(), threading.Event()

    def hold_the_loop() -> None:
        held.set()
        release.wait(HANG_GUARD_S)

    line.loop.submit(hold_the_loop)
    assert held.wait(HANG_GUARD_S)
    a.stop()  # would block here if a stop queued behind the loop's work
    assert goal.cancel_requested and a.stop_requested
    release.set()
    with pytest.raises(MotionStopped):
        goal.result(HANG_GUARD_S)


@pytest.mark.timeout(180)
async def test_cells_of_one_host_keep_their_own_session_packml_and_topics(orchestrator) -> None:  # type: ignore[no-untyped-def]
    host = WorldHost(configs(), orchestrator.address)
    running = asyncio.create_task(host.run())
    try:
        async with grpc.aio.insecure_channel(orchestrator.address) as channel:
            stub = cell_grpc.CellServiceStub(channel)
            execute = packml_pb2.PACKML_STATE_EXECUTE
            a, b = [await cell_in_state(orchestrator.address, c, execute, HANG_GUARD_S)
                    for c in ("arm-a", "arm-b")]
            assert a.state_endpoint != b.state_endpoint
            for cell in (a, b):
                with StateSubscriber(cell.state_endpoint, robot_topic(cell.id, "panda")) as stream:
                    message = await asyncio.to_thread(stream.recv, 10_000)
                assert message is not None and isinstance(message.payload, state_pb2.RobotState)
                assert message.payload.cell_id == cell.id
            await stub.CommandCell(cell_pb.CommandCellRequest(
                cell_id="arm-a", command=packml_pb2.PACKML_COMMAND_STOP))
            await cell_in_state(orchestrator.address, "arm-a", packml_pb2.PACKML_STATE_STOPPED,
                                HANG_GUARD_S)
            b_now = (await stub.GetCell(cell_pb.GetCellRequest(cell_id="arm-b"))).cell
            assert b_now.connected and b_now.packml_state == execute
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def test_a_cell_whose_second_robot_fails_to_build_leaves_nothing_open() -> None:
    """The first robot was built and activated (its kinematics hold a PyBullet client each)
    when the second failed: the failed build must shut it down again."""
    def open_clients() -> int:
        return sum(p.isConnected(physicsClientId=i) for i in range(64))

    before = open_clients()
    config = CellConfig(cell_id="c1", robots={"a": RobotEntry("mock.panda"), "b": RobotEntry("mock.pandaa")})
    with pytest.raises(ConfigError, match=r"robots\.b: unknown robot model 'mock\.pandaa'"):
        Environment.build([config])
    assert open_clients() == before


def test_a_collision_between_the_arms_of_two_cells_names_the_other_robot(line: Environment) -> None:
    a, b = arm(line, "arm-a"), arm(line, "arm-b")
    handover = line.cells["arm-a"].layout.location("handover").pose
    a.move_pose(handover).result(HANG_GUARD_S)
    with pytest.raises(CollisionDetected, match="hit robot panda on mount arm_a"):
        b.move_pose(handover).result(HANG_GUARD_S)
