"""The orchestrator's live state: cell sessions, the dispatcher and the lease watchdog.

Everything here runs on the event loop; every store access goes through `StoreThreads`
(engine writes on the writer thread, reads on the reader thread), so a slow or locked
database never stalls heartbeats, commands or reads.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from cellwright.api.layout import EMPTY, Layout
from cellwright.api.schema import quote
from cellwright.api.structs import to_struct
from cellwright.orchestrator import convert, waiting
from cellwright.orchestrator.cell_checks import check_packml_state, check_stats
from cellwright.orchestrator.engine import Assignment, CancelOrder, Engine, TaskReport
from cellwright.orchestrator.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from cellwright.orchestrator.model import Job, ReadyTask, StoredEvent, TaskState
from cellwright.orchestrator.scheduler import CellIndex
from cellwright.orchestrator.sessions import CellSession
from cellwright.orchestrator.storethreads import StoreThreads
from cellwright.v1 import cell_service_pb2 as cell_pb

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 5.0
DISPATCH_RETRY_S = 1.0
RECENT_EVENTS = 4096  # committed job events kept in memory for live watchers


class Orchestrator:
    """Live state of one orchestrator process.

    Args:
        engine: the job and task state machines (its on_event must call `notify`).
        db: runs the engine's store work off the event loop.
        heartbeat_interval_s: how often cells send heartbeats.
        lease_ttl_s: a cell silent this long loses its session; a lease later, its
            in-flight tasks are lost (UNKNOWN, job HELD).
        forget_after_s: a cell gone this long (and holding nothing) leaves ListCells.
        layout: the line layout; a cell whose robots stand on mounts it lacks is refused.
        clock: seconds, for leases and forgetting; injectable so that tests decide when a
            lease ends.
    """

    def __init__(self, engine: Engine, db: StoreThreads, *, heartbeat_interval_s: float = 1.0,
                 lease_ttl_s: float = 5.0, forget_after_s: float = 600.0,
                 layout: Layout = EMPTY, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.clock = clock
        self.layout = layout
        self.db = db
        self.heartbeat_interval_s = heartbeat_interval_s
        self.lease_ttl_s = lease_ttl_s
        self.forget_after_s = forget_after_s
        self.sessions: dict[str, CellSession] = {}
        self.connected = CellIndex()  # the cells connected now
        self.idle = CellIndex()  # the connected cells that can take a task now
        self._connecting: dict[str, asyncio.Lock] = {}
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._recent: list[StoredEvent] = []  # consecutive seqs, oldest first
        self.closed = False
        holding = engine.in_flight_cells()  # after a restart: wait a lease for them
        known = {c.cell_id: convert.remembered_hello(c) for c in engine.reader.known_cells()}
        for cell_id in sorted(holding | set(known)):  # the plant, disconnected
            session = CellSession(known.get(cell_id) or cell_pb.Hello(cell_id=cell_id), clock,
                                  connected=False)
            session.lease_ended = cell_id not in holding
            self.sessions[cell_id] = session

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._dispatch_loop()),
                       asyncio.create_task(self._watchdog_loop())]
        self.wake()

    async def stop(self) -> None:
        """Stop the loops, end every cell session and wake every watcher to end."""
        self.closed = True
        self._wake_watchers()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in self.sessions.values():
            session.close()

    # --- events --------------------------------------------------------------------
    def notify(self, event: StoredEvent) -> None:
        """A job event was committed (call on the event loop, in commit order)."""
        if self._recent and event.seq != self._recent[-1].seq + 1:
            self._recent.clear()  # never serve a gap from memory: watchers read the store
        self._recent.append(event)
        if len(self._recent) > 2 * RECENT_EVENTS:
            del self._recent[:RECENT_EVENTS]
        self._wake_watchers()

    def recent_after(self, seq: int) -> list[StoredEvent] | None:
        """The committed events after `seq` from memory, or None if memory does not reach
        back to `seq` (then read the store)."""
        if not self._recent or self._recent[0].seq > seq + 1:
            return None
        return self._recent[max(0, seq + 1 - self._recent[0].seq):]

    def _wake_watchers(self) -> None:
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
            try:
                assignments, orders = await self.db.write(self.engine.dispatch, self.idle.copy())
                self.route(orders)
                unsent = [a for a in assignments if not self._send(a)]
                for a in unsent:  # after every send: one failing write strands nothing else
                    await self.db.write(self.engine.unassign, a.task.id, a.task.epoch)
            except Unavailable as exc:
                log.warning("dispatch: %s; retrying in %g s", exc, DISPATCH_RETRY_S)
                await self._retry_later()
            except Exception:
                log.exception("dispatch failed; retrying in %g s", DISPATCH_RETRY_S)
                await self._retry_later()

    def _send(self, a: Assignment) -> bool:
        """Send an assignment on the session it was made for; False if that session ended."""
        session = self.sessions.get(a.cell_id)
        if session is None or session.offer_of(busy_ok=True) is not a.cell:  # ended, or replaced
            return False
        session.set_task(a.task.id)
        session.send(cell_pb.ConnectResponse(assign=cell_pb.Assign(
            task_id=a.task.id, epoch=a.task.epoch, skill=a.task.skill,
            params=to_struct(a.task.params), deadline=convert.timestamp(a.deadline),
            timeout_s=a.task.spec.timeout_s)))
        return True

    async def _retry_later(self) -> None:
        await asyncio.sleep(DISPATCH_RETRY_S)
        self.wake()

    async def _watchdog_loop(self) -> None:
        while True:
            await asyncio.sleep(min(self.heartbeat_interval_s, self.lease_ttl_s / 4))
            try:
                if not self.db.writable:
                    await self.db.write(self.engine.probe)
                await self._expire_leases()
            except Unavailable as exc:
                log.warning("lease watchdog: %s", exc)
            except Exception:
                log.exception("lease watchdog failed; trying again next tick")
            self.wake()  # also fails READY tasks whose deadline passed

    async def _expire_leases(self) -> None:
        """Close sessions of silent cells; a lease later, their in-flight tasks are lost;
        forget cells gone for `forget_after_s` that hold nothing."""
        now = self.clock()
        for session in list(self.sessions.values()):
            if session.connected and now - session.last_seen > self.lease_ttl_s:
                log.warning("cell %s missed its lease; closing its session", session.cell_id)
                session.close()
            elif not session.connected and not session.lease_ended and \
                    now - session.disconnected_at > self.lease_ttl_s:
                # under the cell's connect lock: a hello being reconciled meanwhile wins
                async with self._connecting.setdefault(session.cell_id, asyncio.Lock()):
                    if self.sessions.get(session.cell_id) is not session:
                        continue
                    self.route(await self.db.write(self.engine.cell_lost, session.cell_id,
                                                   session.hello.boot_id))
                    session.lease_ended = True
                    session.set_task("")
            elif session.lease_ended and now - session.disconnected_at > self.forget_after_s \
                    and self.sessions.get(session.cell_id) is session:
                del self.sessions[session.cell_id]
                self._connecting.pop(session.cell_id, None)

    # --- sessions ------------------------------------------------------------------
    async def open_session(self, hello: cell_pb.Hello, reports: list[TaskReport]) -> CellSession:
        """Register a cell's new stream, replacing an older one, and reconcile the tasks
        its hello lists (`reports`). Connects of one cell id are handled one at a time."""
        async with self._connecting.setdefault(hello.cell_id, asyncio.Lock()):
            old = self.sessions.get(hello.cell_id)
            if old is not None and old.connected:
                live = self.clock() - old.last_seen <= self.lease_ttl_s
                if live and old.hello.boot_id != hello.boot_id:
                    raise FailedPrecondition(
                        f"cell id {hello.cell_id} is in use by another live process (boot "
                        f"{old.hello.boot_id[:8]}); give every cell its own cell_id, or wait "
                        f"{self.lease_ttl_s:g} s for the old one's lease to end")
                log.warning("cell %s connected again; closing its previous session", hello.cell_id)
                old.close()
            reconciled = await self.db.write(self.engine.hello, convert.known_cell(hello, time.time()),
                                             hello.boot_id, convert.skill_schemas(hello), reports)
            session = CellSession(hello, self.clock, packml_state=hello.packml_state,
                                  busy=any(not r.state.final for r in reports),
                                  task_id=reconciled.task_id, on_change=self._reindex)
            self.sessions[hello.cell_id] = session
            self._reindex(session)
        log.info("cell %s connected (boot %s, %d skills, %d tasks held)", hello.cell_id,
                 hello.boot_id[:8], len(hello.skills), len(reports))
        session.send(cell_pb.ConnectResponse(welcome=cell_pb.Welcome(
            heartbeat_interval_ms=int(self.heartbeat_interval_s * 1000),
            lease_ttl_ms=int(self.lease_ttl_s * 1000))))
        for task_id, epoch in reconciled.acks:
            session.send(cell_pb.ConnectResponse(ack=cell_pb.Ack(task_id=task_id, epoch=epoch)))
        self.route(reconciled.orders)
        self.wake()
        return session

    async def handle(self, session: CellSession, message: cell_pb.ConnectRequest) -> None:
        """Apply one message from a cell's stream."""
        session.seen()
        kind = message.WhichOneof("msg")
        if kind == "heartbeat":
            beat = message.heartbeat
            check_packml_state(beat.packml_state, "heartbeat.packml_state")
            check_stats(beat.stats)
            session.apply_heartbeat(beat)
        elif kind == "task_update":
            report = convert.task_report(message.task_update)
            ack, orders = await self.db.write(self.engine.report, session.cell_id,
                                              session.hello.boot_id, report)
            if ack:
                session.send(cell_pb.ConnectResponse(
                    ack=cell_pb.Ack(task_id=report.task_id, epoch=report.epoch)))
                if session.task_id == report.task_id:
                    session.set_task("")
                self.wake()  # its job's next step may be READY for another cell
            self.route(orders)
        elif kind == "command_result":
            result = message.command_result
            future = session.pending_commands.pop(result.command_id, None)
            if future is None:  # not asked for (or too late): nothing to learn from it
                return
            check_packml_state(result.packml_state, "command_result.packml_state")
            session.set_packml_state(result.packml_state)
            if not future.done():
                future.set_result(result)
        else:
            raise InvalidArgument(f"ConnectRequest.{kind or 'msg'}", "after the hello, send a "
                                  "heartbeat, task_update or command_result")

    async def explain(self, job: Job) -> Job:
        """The job with why it waits, in words (`waiting.explain`)."""
        ready = [t for t in job.tasks if t.state is TaskState.READY]
        unserved = any(self.connected.find(ReadyTask(t, 0, 0.0, 0.0, pin=job.pin)) is None
                       for t in ready)  # reads only what a reason needs: a job's answer waits
        known = await self.db.read(self.engine.reader.known_cells) if unserved else []
        held = await self.db.read(self.engine.reservations) if any(t.spec.reserve for t in ready) else []
        return waiting.explain(job, self.connected, known, held, time.time())

    def _reindex(self, session: CellSession) -> None:
        """Keep `connected` and `idle` true to a cell's current session (its `on_change`);
        wake the dispatcher when a cell becomes idle."""
        if self.sessions.get(session.cell_id) is not session:  # replaced: the newer one decides
            return
        for index, offer in ((self.connected, session.offer_of(busy_ok=True)), (self.idle, session.offer())):
            if offer is None:
                index.remove(session.cell_id)
            elif index.get(session.cell_id) is not offer:
                index.put(offer)
                if index is self.idle:
                    self.wake()

    def route(self, orders: list[CancelOrder]) -> None:
        for order in orders:
            session = self.sessions.get(order.cell_id)
            if session is not None and session.connected:
                session.send(cell_pb.ConnectResponse(cancel=cell_pb.Cancel(
                    task_id=order.task_id, epoch=order.epoch, reason=order.reason)))

    def session(self, cell_id: str) -> CellSession:
        session = self.sessions.get(cell_id)
        if session is None:
            raise NotFound(f"cell {quote(cell_id)} not found; known cells: {sorted(self.sessions)}")
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


