"""One skill name means one schema across the plant: a cell advertising another schema for
a known skill is refused at Connect with the difference, also after an orchestrator
restart (the plant is remembered, and ListCells shows its cells, disconnected)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from cellwright.api.structs import to_struct
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import packml_pb2


def hello(cell_id: str, speed_type: str) -> cell_pb.ConnectRequest:
    schema = {"type": "object", "properties": {"speed": {"type": speed_type}}, "required": ["speed"]}
    return cell_pb.ConnectRequest(hello=cell_pb.Hello(
        cell_id=cell_id, boot_id=f"boot-{cell_id}", packml_state=packml_pb2.PACKML_STATE_EXECUTE,
        skills=[cell_pb.Skill(name="weld", params_schema=to_struct(schema))]))


async def connect(address: str, request: cell_pb.ConnectRequest) -> cell_pb.ConnectResponse:
    async with grpc.aio.insecure_channel(address) as channel:
        call = cell_grpc.CellServiceStub(channel).Connect()
        await call.write(request)
        try:
            return await asyncio.wait_for(call.read(), 30)
        finally:
            call.cancel()


async def test_a_conflicting_schema_is_refused_at_connect_naming_the_difference(
        orchestrator: Any, start_orchestrator: Any) -> None:
    assert (await connect(orchestrator.address, hello("welder-1", "number"))).HasField("welcome")
    assert (await connect(orchestrator.address, hello("welder-2", "number"))).HasField("welcome")
    await orchestrator.stop()  # the plant is remembered across a restart
    again = await start_orchestrator(orchestrator.db_path, address=orchestrator.address)
    async with grpc.aio.insecure_channel(again.address) as channel:  # listed, not connected
        cells = (await cell_grpc.CellServiceStub(channel).ListCells(cell_pb.ListCellsRequest())).cells
    assert [(c.id, c.connected, [s.name for s in c.skills]) for c in cells] == [
        ("welder-1", False, ["weld"]), ("welder-2", False, ["weld"])]
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await connect(again.address, hello("welder-3", "string"))
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.value.details() == (
        "cell welder-3 advertises skill weld with another params schema than the plant knows "
        "(first from cell welder-1): speed: {\"type\": \"number\"} -> {\"type\": \"string\"}. One "
        "skill name means one schema: rename the skill, or make the schemas equal")
