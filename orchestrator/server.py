"""The orchestrator's gRPC servicers: JobService and CellService.

Servicers only translate protobuf to calls on the engine (through `StoreThreads`, off the
event loop) and on the live `Orchestrator`, and errors to status codes; they never touch
the store.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import grpc

from cellwright.api.schema import clip
from cellwright.orchestrator import convert
from cellwright.orchestrator.cell_checks import check_hello
from cellwright.orchestrator.engine import check_labels
from cellwright.orchestrator.errors import (
    FailedPrecondition,
    InvalidArgument,
    OrchestratorError,
    OutOfRange,
    Unavailable,
)
from cellwright.orchestrator.live import Orchestrator
from cellwright.orchestrator.malformed import Malformed
from cellwright.orchestrator.model import StoredEvent
from cellwright.orchestrator.sessions import CellSession
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0
MAX_DETAILS = 4096  # status details travel in HTTP/2 headers (8 KiB): keep them well below
WATCH_BATCH = 256
MAX_PAGE_BYTES = 1 << 20  # a ListCells page ends past 1 MiB (gRPC's default limit is 4 MiB)
ACTIONS = {job_svc.TASK_ACTION_HOLD: "hold", job_svc.TASK_ACTION_RESUME: "resume",
           job_svc.TASK_ACTION_SKIP: "skip", job_svc.TASK_ACTION_CANCEL: "cancel",
           job_svc.TASK_ACTION_RETRY: "retry", job_svc.TASK_ACTION_CONFIRM: "confirm",
           job_svc.TASK_ACTION_REJECT: "reject"}

Response = TypeVar("Response")


async def abort(context: grpc.aio.ServicerContext, error: BaseException) -> None:
    """End the call with the error's status: OrchestratorErrors with their code and plain
    message; anything else is a bug: INTERNAL, logged with its traceback."""
    if isinstance(error, grpc.aio.AbortError):  # the call was already ended on purpose
        raise error
    if isinstance(error, OrchestratorError):
        await context.abort(error.code, clip(str(error), MAX_DETAILS))
    log.error("unexpected error serving a request", exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error in the orchestrator; its log "
                        "has the details")


def status(method: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Refuse unparseable requests with INVALID_ARGUMENT and answer errors with their status."""
    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Response:
        try:
            if isinstance(request, Malformed):
                raise request.error()
            return await method(self, request, context)
        except Exception as exc:
            await abort(context, exc)
            raise  # unreachable: abort raises
    return wrapper


def _page_token(kind: str, position: object) -> str:
    """An opaque page token: where the previous page ended (a job seq, a cell id)."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode()


def _page_position(token: str, kind: str, method: str) -> str:
    """The position a `_page_token` of `kind` holds; InvalidArgument if it is not one."""
    try:
        found, _, position = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
    except ValueError:
        found = ""
    if found != kind:
        raise InvalidArgument("page_token", f"not a token from a previous {method} answer")
    return position


def _page_seq(token: str) -> int:
    if not token:
        return 0
    try:
        return int(_page_position(token, "v1", "ListJobs"))
    except ValueError as exc:
        raise InvalidArgument("page_token", "not a token from a previous ListJobs answer") from exc


def _page_size(size: int, default: int, most: int) -> int:
    if not 0 <= size <= most:
        raise InvalidArgument("page_size", f"{size} is outside 1..{most} (0: {default})")
    return size or default


class JobServicer(job_grpc.JobServiceServicer):
    """JobService: jobs from factory controllers."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.o = orchestrator
        self.engine, self.db = orchestrator.engine, orchestrator.db

    @status
    async def SubmitJob(self, request: job_svc.SubmitJobRequest,
                        context: grpc.aio.ServicerContext) -> job_svc.SubmitJobResponse:
        job, created = await self.db.write(self.engine.submit, convert.submission(request),
                                           new_work=True)
        job = await self.o.explain(job)
        if created:
            if job.waiting_reason:
                log.info("job %s: %s", job.id, job.waiting_reason)
            self.o.wake()
        return job_svc.SubmitJobResponse(job=convert.job_to_proto(job), created=created)

    @status
    async def GetJob(self, request: job_svc.GetJobRequest,
                     context: grpc.aio.ServicerContext) -> job_svc.GetJobResponse:
        job = await self.db.read(self.engine.get, request.job_id)
        return job_svc.GetJobResponse(job=convert.job_to_proto(await self.o.explain(job)))

    @status
    async def ListJobs(self, request: job_svc.ListJobsRequest,
                       context: grpc.aio.ServicerContext) -> job_svc.ListJobsResponse:
        size = _page_size(request.page_size, 50, 500)
        for s in request.states:
            if s == job_pb2.JOB_STATE_UNSPECIFIED or s not in job_pb2.JobState.values():
                known = [v.name for v in job_pb2.JobState.DESCRIPTOR.values if v.number]
                raise InvalidArgument("states", f"{s} is not a job state; use one of {known}")
        check_labels(request.labels, "labels")
        rows = await self.db.read(functools.partial(
            self.engine.list_jobs, states=[convert.job_state_from_proto(s) for s in request.states],
            workflow=request.workflow, labels=dict(request.labels),
            after_seq=_page_seq(request.page_token), limit=size + 1))
        page = rows[:size]
        token = _page_token("v1", page[-1][0]) if len(rows) > size else ""
        return job_svc.ListJobsResponse(jobs=[convert.job_to_proto(j) for _, j in page],
                                        next_page_token=token)

    @status
    async def CancelJob(self, request: job_svc.CancelJobRequest,
                        context: grpc.aio.ServicerContext) -> job_svc.CancelJobResponse:
        job, orders = await self.db.write(self.engine.cancel, request.job_id, request.reason)
        self.o.route(orders)
        return job_svc.CancelJobResponse(job=convert.job_to_proto(job))

    @status
    async def RetryTask(self, request: job_svc.RetryTaskRequest,
                        context: grpc.aio.ServicerContext) -> job_svc.RetryTaskResponse:
        if not request.task_id:
            raise InvalidArgument("task_id", "required: the task id or its step id")
        job, orders = await self.db.write(self.engine.retry_task, request.job_id,
                                          request.task_id, request.reason)
        self.o.route(orders)
        self.o.wake()
        return job_svc.RetryTaskResponse(job=convert.job_to_proto(job))

    @status
    async def ResumeJob(self, request: job_svc.ResumeJobRequest,
                        context: grpc.aio.ServicerContext) -> job_svc.ResumeJobResponse:
        job, orders = await self.db.write(self.engine.resume_job, request.job_id, request.reason)
        self.o.route(orders)
        self.o.wake()
        return job_svc.ResumeJobResponse(job=convert.job_to_proto(job))

    @status
    async def ActOnTask(self, request: job_svc.ActOnTaskRequest,
                        context: grpc.aio.ServicerContext) -> job_svc.ActOnTaskResponse:
        if not request.task_id:
            raise InvalidArgument("task_id", "required: the task id or its step id")
        if request.action not in ACTIONS:
            raise InvalidArgument("action", f"give one of {sorted(job_svc.TaskAction.keys()[1:])}")
        job, orders = await self.db.write(self.engine.act, request.job_id, request.task_id,
                                          ACTIONS[request.action], request.reason, request.operator)
        self.o.route(orders)
        self.o.wake()
        return job_svc.ActOnTaskResponse(job=convert.job_to_proto(job))

    @status
    async def ListReservations(self, request: job_svc.ListReservationsRequest,
                               context: grpc.aio.ServicerContext) -> job_svc.ListReservationsResponse:
        held = await self.db.read(self.engine.reservations)
        return job_svc.ListReservationsResponse(
            reservations=[convert.reservation_to_proto(r) for r in held])

    @status
    async def ReleaseReservation(self, request: job_svc.ReleaseReservationRequest,
                                 context: grpc.aio.ServicerContext
                                 ) -> job_svc.ReleaseReservationResponse:
        if not request.resource:
            raise InvalidArgument("resource", "required: the station or zone to free")
        released = await self.db.write(self.engine.release_reservation, request.resource,
                                       request.reason)
        self.o.wake()
        return job_svc.ReleaseReservationResponse(reservation=convert.reservation_to_proto(released))

    # Sent as they are (see `malformed.add_servicer`): WatchJobs yields encoded responses.
    encoded_responses = frozenset({"WatchJobs"})

    async def WatchJobs(  # type: ignore[override]  # yields encoded WatchJobsResponses
            self, request: job_svc.WatchJobsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        """Stored events after `after_seq` (from memory when recent, else from the store a
        batch at a time), then live ones. Each response is encoded around the stored
        snapshots (`watch_responses`), never parsed; the stream awaits every write, so a
        client far behind sends the loop to others between batches, and one that reads
        slowly holds no read on the store's reader thread while gRPC's flow control waits."""
        try:
            if isinstance(request, Malformed):
                raise request.error()
            if request.job_id:
                await self.db.read(self.engine.get, request.job_id)  # NOT_FOUND if unknown
            newest = await self.db.read(self.engine.newest_seq)
            if request.after_seq > newest:
                raise OutOfRange(f"after_seq {request.after_seq} is beyond the newest event, "
                                 f"{newest}; resume with a seq this orchestrator gave you, or 0 "
                                 "for everything")
            seq = request.after_seq
            read_ahead: asyncio.Future[list[StoredEvent]] | None = None  # the batch after seq
            try:
                while not self.o.closed:
                    changed = self.o.changed()
                    events = self.o.recent_after(seq)
                    if events is None:  # far behind: from the store, a batch at a time
                        events = await (read_ahead or self.db.read(
                            self.engine.events_after, seq, request.job_id, WATCH_BATCH))
                    elif read_ahead is not None:
                        read_ahead.cancel()
                    read_ahead = None
                    if not events:
                        await changed.wait()
                        continue
                    seq = events[-1].seq
                    if len(events) == WATCH_BATCH and self.o.recent_after(seq) is None:
                        # one read at a time per watcher, but the next one while this is sent
                        read_ahead = asyncio.ensure_future(self.db.read(
                            self.engine.events_after, seq, request.job_id, WATCH_BATCH))
                    for response in watch_responses(events, request.job_id, request.max_batch):
                        yield response
            finally:
                if read_ahead is not None:
                    read_ahead.cancel()
            raise Unavailable(f"the orchestrator is shutting down; resume with after_seq={seq}")
        except Exception as exc:
            await abort(context, exc)


# --- WatchJobs responses, encoded around the stored snapshots ---------------------------
# A length-delimited protobuf field is its tag, its length and its bytes, so a JobEvent is
# encoded with the stored snapshot (an encoded Job) spliced in as its `job` field: byte for
# byte what protobuf writes for JobEvent(seq, time, job=Job.FromString(snapshot), task_id),
# at half the cost and with no parse (tests/unit/test_watch_encoding.py checks both).
_EVENT = b"\x0a"  # WatchJobsResponse.event = 1, length-delimited
_EVENTS = b"\x12"  # WatchJobsResponse.events = 2, length-delimited
_SEQ, _TIME, _JOB, _TASK_ID = b"\x08", b"\x12", b"\x1a", b"\x22"  # JobEvent's fields 1-4
_SECONDS, _NANOS = b"\x08", b"\x10"  # Timestamp's fields 1, 2 (varints)
MAX_RESPONSE_BYTES = 1 << 20  # a batch closes before this (the send limit is 4 MiB)


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_event(stored: StoredEvent) -> bytes:
    """The encoded `JobEvent` of a stored event, its snapshot spliced in unparsed."""
    parts = [_SEQ, _varint(stored.seq)]
    if stored.time > 0:  # as convert.timestamp: none for 0
        seconds, nanos = divmod(int(stored.time * 1e9), 1_000_000_000)
        stamp = _SECONDS + _varint(seconds) if seconds else b""
        if nanos:
            stamp += _NANOS + _varint(nanos)
        parts += [_TIME, _varint(len(stamp)), stamp]
    parts += [_JOB, _varint(len(stored.snapshot)), stored.snapshot]
    if stored.task_id:
        task_id = stored.task_id.encode()
        parts += [_TASK_ID, _varint(len(task_id)), task_id]
    return b"".join(parts)


def watch_responses(events: Sequence[StoredEvent], job_id: str, max_batch: int) -> Iterator[bytes]:
    """Encoded WatchJobsResponses for `events` (only `job_id`'s, if given): one per event
    in `event` when `max_batch` is 0, else up to `max_batch` per response in `events`,
    each response under MAX_RESPONSE_BYTES (unless one event alone is larger)."""
    batch: list[bytes] = []
    size = 0
    for stored in events:
        if job_id and stored.job_id != job_id:
            continue
        event = encode_event(stored)
        if not max_batch:
            yield _EVENT + _varint(len(event)) + event
            continue
        field = _EVENTS + _varint(len(event)) + event
        if batch and (len(batch) >= max_batch or size + len(field) > MAX_RESPONSE_BYTES):
            yield b"".join(batch)
            batch, size = [], 0
        batch.append(field)
        size += len(field)
    if batch:
        yield b"".join(batch)


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
            check_hello(hello, self.o.layout)
            reports = [convert.task_report(t, f"hello.tasks[{i}]") for i, t in enumerate(hello.tasks)]
            session = await self.o.open_session(hello, reports)
        except Exception as exc:
            await abort(context, exc)
        reader = asyncio.create_task(self._read(session, context))
        try:
            while (message := await session.outbox.get()) is not None:
                await context.write(message)
        finally:
            reader.cancel()
            session.close()
            log.info("cell %s disconnected", session.cell_id)
        failure = reader.exception() if reader.done() and not reader.cancelled() else None
        if failure is not None:
            await abort(context, failure)

    async def _read(self, session: CellSession, context: grpc.aio.ServicerContext) -> None:
        try:
            while (message := await context.read()) is not grpc.aio.EOF:
                if isinstance(message, Malformed):
                    raise message.error()
                await self.o.handle(session, message)
        finally:
            session.close()

    @status
    async def ListCells(self, request: cell_pb.ListCellsRequest,
                        context: grpc.aio.ServicerContext) -> cell_pb.ListCellsResponse:
        size = _page_size(request.page_size, 500, 1000)
        after = _page_position(request.page_token, "c1", "ListCells") if request.page_token else ""
        ids = sorted(self.o.sessions)
        rest = ids[bisect.bisect_right(ids, after):]
        cells, page_bytes = [], 0
        for cell_id in rest[:size]:  # and under MAX_PAGE_BYTES: hellos with schemas are large
            cells.append(self.o.sessions[cell_id].to_proto(self.o.layout))
            page_bytes += cells[-1].ByteSize()
            if page_bytes > MAX_PAGE_BYTES:
                break
        more = len(rest) > len(cells)
        return cell_pb.ListCellsResponse(
            cells=cells, next_page_token=_page_token("c1", cells[-1].id) if more else "")

    @status
    async def GetCell(self, request: cell_pb.GetCellRequest,
                      context: grpc.aio.ServicerContext) -> cell_pb.GetCellResponse:
        return cell_pb.GetCellResponse(cell=self.o.session(request.cell_id).to_proto(self.o.layout))

    @status
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
