"""Cells that leave: listed as disconnected for a while, then forgotten."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc

from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc


async def test_a_departed_cell_is_listed_disconnected_then_forgotten(start_orchestrator, start_cell) -> None:
    info = await start_orchestrator(heartbeat_interval_s=0.05, lease_ttl_s=0.3, forget_after_s=0.5)
    cell = await start_cell("leaver", address=info.address)
    await cell.stop()
    async with grpc.aio.insecure_channel(info.address) as channel:
        cells = cell_grpc.CellServiceStub(channel)

        async def listed() -> list[cell_pb.Cell]:
            return list((await cells.ListCells(cell_pb.ListCellsRequest())).cells)

        async def until(condition: Callable[[list[cell_pb.Cell]], bool]) -> None:
            while not condition(await listed()):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(until(lambda cs: [(c.id, c.connected) for c in cs] == [("leaver", False)]), 30)
        await asyncio.wait_for(until(lambda cs: cs == []), 30)  # 0.1 kept every cell forever
        try:
            await cells.GetCell(cell_pb.GetCellRequest(cell_id="leaver"))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND
        else:
            raise AssertionError("a forgotten cell is still found")


class ManualClock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


async def test_leases_run_on_the_orchestrators_clock_not_the_wall(start_orchestrator, start_cell) -> None:
    clock = ManualClock()
    info = await start_orchestrator(heartbeat_interval_s=0.05, lease_ttl_s=0.3, forget_after_s=0.5,
                                    clock=clock)
    cell = await start_cell("leaver", address=info.address)
    await cell.stop()
    async with grpc.aio.insecure_channel(info.address) as channel:
        cells = cell_grpc.CellServiceStub(channel)

        async def listed() -> list[tuple[str, bool]]:
            return [(c.id, c.connected) for c in (await cells.ListCells(cell_pb.ListCellsRequest())).cells]

        await asyncio.sleep(1.5)  # five times the lease and three times forget_after, of wall time
        assert await listed() == [("leaver", False)], "the lease must wait for the clock"
        clock.now_s += 10.0
        async def forgotten() -> None:
            while await listed():
                await asyncio.sleep(0.05)
        await asyncio.wait_for(forgotten(), 30)
