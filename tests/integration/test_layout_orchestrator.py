"""The orchestrator reads the line layout: cells must stand on its mounts, and ListCells
says which stations, locations and zones each cell reaches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from cellwright.api.layout import load_layout
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import packml_pb2

LAYOUT = Path(__file__).parents[2] / "sim_worlds" / "worlds" / "arm_cell.layout.yaml"


def hello(mount: str) -> cell_pb.ConnectRequest:
    return cell_pb.ConnectRequest(hello=cell_pb.Hello(
        cell_id="arm-1", boot_id="boot-1", packml_state=packml_pb2.PACKML_STATE_EXECUTE,
        robots=[cell_pb.Robot(name="panda", model="franka_panda", mount=mount)]))


async def test_a_cell_on_a_layout_mount_is_told_what_it_reaches(start_orchestrator) -> None:  # type: ignore[no-untyped-def]
    layout = load_layout(LAYOUT)
    info = await start_orchestrator(layout=layout)
    async with grpc.aio.insecure_channel(info.address) as channel:
        stub = cell_grpc.CellServiceStub(channel)
        call = stub.Connect()
        await call.write(hello("panda"))
        assert (await call.read()).HasField("welcome")
        cell = (await stub.GetCell(cell_pb.GetCellRequest(cell_id="arm-1"))).cell
        assert set(cell.reaches) == layout.reachable_by({"panda"})
        assert {"infeed", "outfeed_a", "outfeed_b"} <= set(cell.reaches)
        call.cancel()


async def test_a_cell_on_a_mount_the_layout_lacks_is_refused_with_the_fix(start_orchestrator) -> None:  # type: ignore[no-untyped-def]
    info = await start_orchestrator(layout=load_layout(LAYOUT))
    async with grpc.aio.insecure_channel(info.address) as channel:
        call = cell_grpc.CellServiceStub(channel).Connect()
        await call.write(hello("nowhere"))
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await asyncio.wait_for(call.read(), 30)
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = failure.value.details() or ""
    assert "hello.robots[0].mount" in details and "'nowhere'" in details and "panda" in details


async def test_a_hello_with_a_gripper_stroke_that_is_not_a_number_is_refused(orchestrator) -> None:  # type: ignore[no-untyped-def]
    request = hello("panda")
    request.hello.robots[0].components.add(name="panda/gripper", kind="gripper", stroke_m=float("nan"))
    async with grpc.aio.insecure_channel(orchestrator.address) as channel:
        call = cell_grpc.CellServiceStub(channel).Connect()
        await call.write(request)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await asyncio.wait_for(call.read(), 30)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hello.robots[0].components[0]" in (failure.value.details() or "")
