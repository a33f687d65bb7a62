"""The orchestrator's gRPC server: JobService and CellService over grpc.aio.

Servicers only translate protobuf to engine calls and engine errors to status codes.
`Orchestrator` holds the live state: the engine, cell sessions, the dispatcher and the
lease watchdog.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cellwright.api.structs import to_struct
from cellwright.orchestrator import convert
from cellwright.orchestrator.cell_checks import check_hello, check_packml_state, check_stats
from cellwright.orchestrator.engine import CancelOrder, Engine, TaskReport, check_labels
from cellwright.orchestrator.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OrchestratorError,
    Unavailable,
)
from cellwright.orchestrator.malformed import Malformed, add_servicer
from cellwright.orchestrator.model import Job
from cellwright.orchestrator.sessions import CellSession
from cellwright.orchestrator.store import Store
from cellwright.orchestrator.workflows import WorkflowRegistry
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
COMMAND_TIMEOUT_S = 5.0
HELLO_TIMEOUT_S = 10.0

Request = TypeVar("Request")
Response = TypeVar("Response")


class Orchestrator:
    """Live state of one orchestrator process."""

    def __init__(self, store: Store, workflows: WorkflowRegistry, *,
                 heartbeat_interval_s: float = 1.0, lease_ttl_s: float = 5.0) -> None:
        self.engine = Engine(store, workflows, encode_job=convert.encode_job,
                             on_event=self._on_event)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.lease_ttl_s = lease_ttl_s
        self.sessions: dict[str, CellSession] = {}
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        now = time.monotonic()
        for task in store.in_flight_tasks():  # after a restart: wait a lease for their cells
            if task.cell_id not in self.sessions:
                self.sessions[task.cell_id] = CellSession(
                    cell_pb.Hello(cell_id=task.cell_id), connected=False, disconnected_at=now)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._dispatch_loop()),
                       asyncio.create_task(self._watchdog_loop())]
        self.wake()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in self.sessions.values():
            session.close()

    # --- events --------------------------------------------------------------------
    def _on_event(self, _seq: int) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def changed(self) -> asyncio.Event:
        """An event set at the next job change (a fresh one after each change)."""
        return self._changed

    def wake(self) -> None:
        """Ask the dispatcher to run: tasks or cells may have become available."""
        self._wake.set()

    # --- background loops ----------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            offers = [o for s in self.sessions.values() if (o := s.offer()) is not None]
            try:
                assignments, orders = self.engine.dispatch(offers)
            except Exception:
                log.exception("dispatch failed; retrying in 1 s")
                await asyncio.sleep(1.0)
                self.wake()
                continue
            for a in assignments:
                session = self.sessions[a.cell_id]
                session.task_id = a.task.id
                message = cell_pb.Assign(task_id=a.task.id, epoch=a.task.epoch, skill=a.task.skill,
                                         params=to_struct(a.task.params),
                                         deadline=convert.timestamp(a.deadline))
                session.send(cell_pb.ConnectResponse(assign=message))
            self.route(orders)

    async def _watchdog_loop(self) -> None:
        while True:
            await asyncio.sleep(min(self.heartbeat_interval_s, self.lease_ttl_s / 4))
            try:
                self._expire_leases()
            except Exception:
                log.exception("lease watchdog failed; trying again next tick")
            self.wake()  # also fails READY tasks whose deadline passed

    def _expire_leases(self) -> None:
        """Close sessions of silent cells; a lease later, their in-flight tasks are lost."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if session.connected and now - session.last_seen > self.lease_ttl_s:
                log.warning("cell %s missed its lease; closing its session", session.cell_id)
                session.close()
            elif (not session.connected and session.disconnected_at
                  and now - session.disconnected_at > self.lease_ttl_s):
                session.disconnected_at = 0.0
                session.task_id = ""
                self.route(self.engine.cell_lost(session.cell_id))

    # --- sessions ------------------------------------------------------------------
    def open_session(self, hello: cell_pb.Hello, reports: list[TaskReport]) -> CellSession:
        """Register a cell's new stream, replacing an older one, and reconcile the tasks
        its hello lists (`reports`)."""
        old = self.sessions.get(hello.cell_id)
        if old is not None and old.connected:
            live = time.monotonic() - old.last_seen <= self.lease_ttl_s
            if live and old.hello.boot_id != hello.boot_id:
                raise FailedPrecondition(
                    f"cell id {hello.cell_id} is in use by another live process (boot "
                    f"{old.hello.boot_id[:8]}); give every cell its own cell_id, or wait "
                    f"{self.lease_ttl_s:g} s for the old one's lease to end")
            log.warning("cell %s connected again; closing its previous session", hello.cell_id)
            old.close()
        acks, orders = self.engine.reconcile(hello.cell_id, hello.boot_id, reports)
        session = CellSession(hello, packml_state=hello.packml_state,
                              busy=any(not r.state.final for r in reports))
        self.sessions[hello.cell_id] = session
        log.info("cell %s connected (boot %s, %d skills, %d tasks held)", hello.cell_id,
                 hello.boot_id[:8], len(hello.skills), len(reports))
        session.send(cell_pb.ConnectResponse(welcome=cell_pb.Welcome(
            heartbeat_interval_ms=int(self.heartbeat_interval_s * 1000),
            lease_ttl_ms=int(self.lease_ttl_s * 1000))))
        for task_id, epoch in acks:
            session.send(cell_pb.ConnectResponse(ack=cell_pb.Ack(task_id=task_id, epoch=epoch)))
        self.route(orders)
        held = [t for t in self.engine.store.in_flight_tasks() if t.cell_id == hello.cell_id]
        session.task_id = held[0].id if held else ""
        self.wake()
        return session

    def handle(self, session: CellSession, message: cell_pb.ConnectRequest) -> None:
        """Apply one message from a cell's stream."""
        session.seen()
        kind = message.WhichOneof("msg")
        if kind == "heartbeat":
            beat = message.heartbeat
            check_packml_state(beat.packml_state, "heartbeat.packml_state")
            check_stats(beat.stats)
            if beat.packml_state != session.packml_state or beat.busy != session.busy:
                self.wake()
            session.packml_state, session.busy = beat.packml_state, beat.busy
            session.stats.CopyFrom(beat.stats)
        elif kind == "task_update":
            report = convert.task_report(message.task_update)
            ack, orders = self.engine.report(session.cell_id, session.hello.boot_id, report)
            if ack:
                session.send(cell_pb.ConnectResponse(
                    ack=cell_pb.Ack(task_id=report.task_id, epoch=report.epoch)))
                if session.task_id == report.task_id:
                    session.task_id = ""
                self.wake()
            self.route(orders)
        elif kind == "command_result":
            result = message.command_result
            future = session.pending_commands.pop(result.command_id, None)
            if future is None:  # not asked for (or too late): nothing to learn from it
                return
            check_packml_state(result.packml_state, "command_result.packml_state")
            if result.packml_state != session.packml_state:
                session.packml_state = result.packml_state
                self.wake()
            if not future.done():
                future.set_result(result)
        else:
            raise InvalidArgument(f"ConnectRequest.{kind or 'msg'}", "after the hello, send a "
                                  "heartbeat, task_update or command_result")

    def warn_unserved(self, job: Job) -> None:
        """Log the skills of a new job that no connected cell offers: it waits for one."""
        offered = {s.name for session in self.sessions.values() if session.connected
                   for s in session.hello.skills}
        missing = sorted({t.skill for t in job.tasks} - offered)
        if missing:
            log.warning("job %s needs skills no connected cell offers: %s; it waits for such a "
                        "cell", job.id, ", ".join(missing))

    def route(self, orders: list[CancelOrder]) -> None:
        for order in orders:
            session = self.sessions.get(order.cell_id)
            if session is not None and session.connected:
                session.send(cell_pb.ConnectResponse(cancel=cell_pb.Cancel(
                    task_id=order.task_id, epoch=order.epoch, reason=order.reason)))

    def session(self, cell_id: str) -> CellSession:
        session = self.sessions.get(cell_id)
        if session is None:
            raise NotFound(f"cell {cell_id!r} not found; known cells: {sorted(self.sessions)}")
        return session

    async def command(self, session: CellSession, command: int) -> cell_pb.CommandResult:
        """Send a PackML command to a connected cell and wait for its answer.

        Raises:
            Unavailable: the cell is not connected, disconnects, or does not answer in time.
        """
        if not session.connected:
            raise Unavailable(f"cell {session.cell_id} is not connected")
        command_id = uuid.uuid4().hex
        future: asyncio.Future[cell_pb.CommandResult] = asyncio.get_running_loop().create_future()
        session.pending_commands[command_id] = future
        session.send(cell_pb.ConnectResponse(command=cell_pb.Command(
            command_id=command_id, command=command)))  # type: ignore[arg-type]
        try:
            result = await asyncio.wait_for(future, COMMAND_TIMEOUT_S)
        except asyncio.TimeoutError:  # not CancelledError: a cancelled RPC must end
            raise Unavailable(f"cell {session.cell_id} did not answer within "
                              f"{COMMAND_TIMEOUT_S:g} s") from None
        finally:
            session.pending_commands.pop(command_id, None)
        result.cell_id = session.cell_id
        return result

    async def command_or_report(self, session: CellSession, command: int) -> cell_pb.CommandResult:
        """Like `command`, but an unreachable cell is an ok=false result, not an error."""
        try:
            return await self.command(session, command)
        except Unavailable as exc:
            return cell_pb.CommandResult(cell_id=session.cell_id, ok=False, error=str(exc),
                                         packml_state=session.packml_state)  # type: ignore[arg-type]


def _status(method: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Answer OrchestratorErrors with their gRPC status code and message."""
    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Response:
        try:
            if isinstance(request, Malformed):
                raise request.error()
            return await method(self, request, context)
        except OrchestratorError as exc:
            await context.abort(exc.code, str(exc))
            raise  # unreachable: abort raises
    return wrapper


def _page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode()


def _page_seq(token: str) -> int:
    if not token:
        return 0
    try:
        version, seq = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if version != "v1":
            raise ValueError(version)
        return int(seq)
    except ValueError as exc:
        raise InvalidArgument("page_token", "not a token from a previous ListJobs answer") from exc


class JobServicer(job_grpc.JobServiceServicer):
    """JobService: jobs from factory controllers."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.o = orchestrator

    @_status
    async def SubmitJob(self, request: job_svc.SubmitJobRequest,
                        context: grpc.aio.ServicerContext) -> job_svc.SubmitJobResponse:
        job, created = self.o.engine.submit(convert.submission(request))
        if created:
            self.o.warn_unserved(job)
            self.o.wake()
        return job_svc.SubmitJobResponse(job=convert.job_to_proto(job), created=created)

    @_status
    async def GetJob(self, request: job_svc.GetJobRequest,
                     context: grpc.aio.ServicerContext) -> job_svc.GetJobResponse:
        return job_svc.GetJobResponse(job=convert.job_to_proto(self.o.engine.get(request.job_id)))

    @_status
    async def ListJobs(self, request: job_svc.ListJobsRequest,
                       context: grpc.aio.ServicerContext) -> job_svc.ListJobsResponse:
        size = request.page_size or 50
        if not 1 <= size <= 500:
            raise InvalidArgument("page_size", f"{request.page_size} is outside 1..500")
        for s in request.states:
            if s == job_pb2.JOB_STATE_UNSPECIFIED or s not in job_pb2.JobState.values():
                known = [v.name for v in job_pb2.JobState.DESCRIPTOR.values if v.number]
                raise InvalidArgument("states", f"{s} is not a job state; use one of {known}")
        check_labels(request.labels, "labels")
        rows = self.o.engine.store.list_jobs(
            states=[convert.job_state_from_proto(s) for s in request.states],
            workflow=request.workflow, labels=dict(request.labels),
            after_seq=_page_seq(request.page_token), limit=size + 1)
        page = rows[:size]
        token = _page_token(page[-1][0]) if len(rows) > size else ""
        return job_svc.ListJobsResponse(jobs=[convert.job_to_proto(j) for _, j in page],
                                        next_page_token=token)

    @_status
    async def CancelJob(self, request: job_svc.CancelJobRequest,
                        context: grpc.aio.ServicerContext) -> job_svc.CancelJobResponse:
        job, orders = self.o.engine.cancel(request.job_id, request.reason)
        self.o.route(orders)
        return job_svc.CancelJobResponse(job=convert.job_to_proto(job))

    async def WatchJobs(self, request: job_svc.WatchJobsRequest,
                        context: grpc.aio.ServicerContext) -> AsyncIterator[job_svc.WatchJobsResponse]:
        if isinstance(request, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(request.error()))
        if request.job_id and self.o.engine.store.get_job(request.job_id) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id!r} not found")
        seq = request.after_seq
        while True:
            changed = self.o.changed()
            events = self.o.engine.store.events_after(seq, request.job_id, 256)
            for seq, when, task_id, snapshot in events:
                event = job_pb2.JobEvent(seq=seq, task_id=task_id, time=convert.timestamp(when))
                event.job.ParseFromString(snapshot)
                yield job_svc.WatchJobsResponse(event=event)
            if not events:
                await changed.wait()


class CellServicer(cell_grpc.CellServiceServicer):
    """CellService: cell sessions and operator commands."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.o = orchestrator

    async def Connect(  # type: ignore[override]  # streams with context.read/write, not iterators
            self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        try:
            first = await asyncio.wait_for(context.read(), HELLO_TIMEOUT_S)
        except asyncio.TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"send hello within {HELLO_TIMEOUT_S:.0f} s of connecting")
        if isinstance(first, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(first.error()))
        if first is grpc.aio.EOF or not first.HasField("hello"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "hello: the first message of Connect must be a hello")
        hello = first.hello
        try:
            check_hello(hello)
            reports = [convert.task_report(t, f"hello.tasks[{i}]") for i, t in enumerate(hello.tasks)]
            session = self.o.open_session(hello, reports)
        except OrchestratorError as exc:
            await context.abort(exc.code, str(exc))
        reader = asyncio.create_task(self._read(session, context))
        try:
            while (message := await session.outbox.get()) is not None:
                await context.write(message)
        finally:
            reader.cancel()
            session.close()
            log.info("cell %s disconnected", session.cell_id)
        failure = reader.exception() if reader.done() and not reader.cancelled() else None
        if isinstance(failure, OrchestratorError):
            await context.abort(failure.code, str(failure))
        if failure is not None:
            log.error("cell %s session failed", session.cell_id, exc_info=failure)
            await context.abort(grpc.StatusCode.INTERNAL, f"orchestrator error: {failure}")

    async def _read(self, session: CellSession, context: grpc.aio.ServicerContext) -> None:
        try:
            while (message := await context.read()) is not grpc.aio.EOF:
                if isinstance(message, Malformed):
                    raise message.error()
                self.o.handle(session, message)
        finally:
            session.close()

    async def ListCells(self, request: cell_pb.ListCellsRequest,
                        context: grpc.aio.ServicerContext) -> cell_pb.ListCellsResponse:
        return cell_pb.ListCellsResponse(
            cells=[s.to_proto() for _, s in sorted(self.o.sessions.items())])

    @_status
    async def GetCell(self, request: cell_pb.GetCellRequest,
                      context: grpc.aio.ServicerContext) -> cell_pb.GetCellResponse:
        return cell_pb.GetCellResponse(cell=self.o.session(request.cell_id).to_proto())

    @_status
    async def CommandCell(self, request: cell_pb.CommandCellRequest,
                          context: grpc.aio.ServicerContext) -> cell_pb.CommandCellResponse:
        if request.command not in packml_pb2.PackmlCommand.values() or not request.command:
            raise InvalidArgument("command", "give a PackML command, e.g. PACKML_COMMAND_STOP")
        if request.all_cells:  # every known cell: an unreachable one is reported, not skipped
            if request.cell_id:
                raise InvalidArgument("cell_id", "leave empty when all_cells is set")
            results = await asyncio.gather(*(self.o.command_or_report(s, request.command)
                                             for _, s in sorted(self.o.sessions.items())))
            return cell_pb.CommandCellResponse(results=results)
        result = await self.o.command(self.o.session(request.cell_id), request.command)
        if not result.ok:
            raise FailedPrecondition(result.error)
        return cell_pb.CommandCellResponse(results=[result])


async def serve(address: str, db_path: Path, workflow_dirs: list[Path], *,
                heartbeat_interval_s: float = 1.0, lease_ttl_s: float = 5.0,
                ready: Callable[[int], None] | None = None) -> None:
    """Run the orchestrator until cancelled; `ready(port)` is called once it listens."""
    workflows = WorkflowRegistry(workflow_dirs)
    store = Store(db_path)
    try:
        await _serve(address, store, workflows, heartbeat_interval_s, lease_ttl_s, ready)
    finally:
        store.close()


async def _serve(address: str, store: Store, workflows: WorkflowRegistry,
                 heartbeat_interval_s: float, lease_ttl_s: float,
                 ready: Callable[[int], None] | None) -> None:
    orchestrator = Orchestrator(store, workflows,
                                heartbeat_interval_s=heartbeat_interval_s, lease_ttl_s=lease_ttl_s)
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
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [job_svc.DESCRIPTOR.services_by_name["JobService"].full_name,
             cell_pb.DESCRIPTOR.services_by_name["CellService"].full_name,
             health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {address}: the port is taken or the address is "
                      "not on this machine") from exc
    try:
        await server.start()
        for name in ["", *names]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        orchestrator.start()
        if ready is not None:
            ready(port)
        await server.wait_for_termination()
    finally:
        await server.stop(grace=1.0)  # first, so cells cannot reconnect while we close
        await orchestrator.stop()

