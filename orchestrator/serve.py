"""`serve()`: the orchestrator process put together (store, engine, live state, gRPC)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cellwright.api.layout import EMPTY, Layout
from cellwright.orchestrator import convert
from cellwright.orchestrator.engine import Engine
from cellwright.orchestrator.live import Orchestrator
from cellwright.orchestrator.malformed import add_servicer
from cellwright.orchestrator.model import StoredEvent
from cellwright.orchestrator.server import CellServicer, JobServicer
from cellwright.orchestrator.store import BUSY_TIMEOUT_S, Store
from cellwright.orchestrator.storethreads import StoreThreads
from cellwright.orchestrator.workflow_server import WorkflowServicer
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc
from cellwright.v1 import workflow_service_pb2 as wf_pb
from cellwright.v1 import workflow_service_pb2_grpc as wf_grpc

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVICE_NAMES = [job_svc.DESCRIPTOR.services_by_name["JobService"].full_name,
                 cell_pb.DESCRIPTOR.services_by_name["CellService"].full_name,
                 wf_pb.DESCRIPTOR.services_by_name["WorkflowService"].full_name,
                 health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]


async def serve(address: str, db_path: Path, workflow_dirs: list[Path], *,
                heartbeat_interval_s: float = 1.0, lease_ttl_s: float = 5.0,
                forget_after_s: float = 600.0, busy_timeout_s: float = BUSY_TIMEOUT_S,
                layout: Layout = EMPTY, clock: Callable[[], float] = time.monotonic,
                ready: Callable[[int], None] | None = None) -> None:
    """Run the orchestrator until cancelled; `ready(port)` is called once it listens.
    `clock` times leases (tests inject one; jobs' timestamps stay wall-clock).

    gRPC health answers NOT_SERVING (for "" and every service) while the job database
    cannot be written, and SERVING again once a write succeeds.
    """
    store = Store(db_path, busy_timeout_s=busy_timeout_s)
    reader = store.reader()
    health_servicer = health.aio.HealthServicer()
    loop = asyncio.get_running_loop()

    async def on_writable(writable: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if writable else \
            health_pb2.HealthCheckResponse.NOT_SERVING
        if not writable:
            log.error("the job database cannot be written; health is NOT_SERVING until it can")
        else:
            log.info("the job database can be written again; health is SERVING")
        for name in ["", *SERVICE_NAMES]:
            await health_servicer.set(name, status)

    db = StoreThreads(store.run_group, on_writable)
    engine = Engine(store, encode_job=convert.encode_job, reader=reader, layout=layout,
                    on_event=lambda event: _call_soon(loop, orchestrator.notify, event))
    try:
        for stored, created in engine.workflows.put_folders(workflow_dirs):
            if created:
                log.info("workflow %s@%d stored from %s", stored.name, stored.version, stored.origin)
    except BaseException:
        reader.close()
        store.close()
        raise
    orchestrator = Orchestrator(engine, db, heartbeat_interval_s=heartbeat_interval_s,
                                lease_ttl_s=lease_ttl_s, forget_after_s=forget_after_s, layout=layout, clock=clock)
    try:
        await _serve(address, orchestrator, health_servicer, ready)
    finally:
        db.close()
        reader.close()
        store.close()


async def _serve(address: str, orchestrator: Orchestrator, health_servicer: health.aio.HealthServicer,
                 ready: Callable[[int], None] | None) -> None:
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # Cells ping every 10 s so a half-open connection is noticed on both sides.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 5000),
        ("grpc.so_reuseport", 0),  # a second orchestrator on a busy port must fail, not share it
    ])
    add_servicer(job_grpc.add_JobServiceServicer_to_server, JobServicer(orchestrator), server)
    add_servicer(cell_grpc.add_CellServiceServicer_to_server, CellServicer(orchestrator), server)
    add_servicer(wf_grpc.add_WorkflowServiceServicer_to_server, WorkflowServicer(orchestrator), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*SERVICE_NAMES, reflection.SERVICE_NAME], server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {address}: the port is taken or the address is "
                      "not on this machine") from exc
    try:
        await server.start()
        for name in ["", *SERVICE_NAMES]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        orchestrator.start()
        if ready is not None:
            ready(port)
        await asyncio.Event().wait()  # until cancelled (cancelling grpc's wait_for_termination
    finally:                          # would make the server's stop() give up at once)
        stopping = asyncio.ensure_future(server.stop(grace=1.0))  # refuses new calls at once
        await orchestrator.stop()  # ends cell sessions and watches, so the grace is not waited out
        await stopping


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[StoredEvent], None],
               event: StoredEvent) -> None:
    """Hand a committed event from the writer thread to the event loop."""
    loop.call_soon_threadsafe(fn, event)
