"""Connected cells: one session per Connect stream, with its lease and outbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cellwright.api.layout import EMPTY, Layout
from cellwright.orchestrator import convert
from cellwright.orchestrator.errors import Unavailable
from cellwright.orchestrator.scheduler import CellOffer
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import packml_pb2

EXECUTE = packml_pb2.PACKML_STATE_EXECUTE


@dataclass
class CellSession:
    """What the orchestrator knows of one cell, connected or not. `clock` (seconds) times
    its lease: the orchestrator's clock, injectable for tests."""

    hello: cell_pb.Hello
    clock: Callable[[], float] = time.monotonic
    outbox: asyncio.Queue[cell_pb.ConnectResponse | None] = field(default_factory=asyncio.Queue)
    connected: bool = True
    last_seen: float = -1.0
    disconnected_at: float = -1.0  # meaningful once not connected
    lease_ended: bool = False  # disconnected for a lease: its in-flight tasks were declared lost
    packml_state: int = 0
    busy: bool = False
    task_id: str = ""
    stats: cell_pb.CellStats = field(default_factory=cell_pb.CellStats)
    pending_commands: dict[str, asyncio.Future[cell_pb.CommandResult]] = field(default_factory=dict)
    on_change: Callable[[CellSession], None] = lambda session: None  # whether it is idle may have changed
    _offer: CellOffer = field(init=False)

    def __post_init__(self) -> None:
        self.last_seen = self.disconnected_at = self.clock()
        known = convert.known_cell(self.hello, 0.0)  # what it offers: built once per session
        self._offer = CellOffer(self.cell_id, self.hello.boot_id, known.skills, known.tags,
                                known.kinds, known.models)

    @property
    def cell_id(self) -> str:
        return self.hello.cell_id

    def seen(self) -> None:
        self.last_seen = self.clock()

    def apply_heartbeat(self, beat: cell_pb.Heartbeat) -> None:
        """Take a (checked) heartbeat's state."""
        self.stats = beat.stats  # a reference: CopyFrom into a long-lived message grew its arena
        if beat.packml_state != self.packml_state or beat.busy != self.busy:
            self.packml_state, self.busy = beat.packml_state, beat.busy
            self.on_change(self)

    def set_packml_state(self, state: int) -> None:
        if state != self.packml_state:
            self.packml_state = state
            self.on_change(self)

    def set_task(self, task_id: str) -> None:
        """The task the cell holds now ("" for none)."""
        if task_id != self.task_id:
            self.task_id = task_id
            self.on_change(self)

    def send(self, message: cell_pb.ConnectResponse) -> None:
        self.outbox.put_nowait(message)

    def close(self) -> None:
        """End the session's stream; the lease clock for its in-flight tasks starts.

        Idempotent; safe on a session that never connected."""
        if self.connected:
            self.connected = False
            self.disconnected_at = self.clock()
            self.outbox.put_nowait(None)
            self.on_change(self)
            for future in self.pending_commands.values():
                if not future.done():
                    future.set_exception(Unavailable(
                        f"cell {self.cell_id} did not answer: it disconnected"))

    def offer(self) -> CellOffer | None:
        """The cell as a scheduling candidate, if it can take a task now."""
        return self.offer_of(busy_ok=False)

    def offer_of(self, busy_ok: bool) -> CellOffer | None:
        """What the cell offers; None if it is not connected (or, unless `busy_ok`, cannot
        take a task now)."""
        if not self.connected:
            return None
        if not busy_ok and (self.task_id or self.busy or self.packml_state != EXECUTE):
            return None
        return self._offer

    def to_proto(self, layout: Layout = EMPTY) -> cell_pb.Cell:
        """The cell as ListCells shows it, with the places of `layout` its robots reach."""
        reaches = layout.reachable_by({robot.mount for robot in self.hello.robots})
        cell = cell_pb.Cell(
            id=self.cell_id, connected=self.connected, skills=self.hello.skills,
            robots=self.hello.robots, tags=self.hello.tags,
            state_endpoint=self.hello.state_endpoint, packml_state=self.packml_state,  # type: ignore[arg-type]
            busy=self.busy, task_id=self.task_id, stats=self.stats, reaches=sorted(reaches),
            approximations=self.hello.approximations)
        seen_unix = time.time() - (self.clock() - self.last_seen)  # one clock read per message
        cell.last_seen_time.FromNanoseconds(int(seen_unix * 1e9))
        return cell
