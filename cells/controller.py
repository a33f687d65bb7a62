"""The cell controller: one cell, composed of its parts.

    Environment / CellRuntime   the control loop, world and robots it works with (environment.py)
    Session                     the Connect stream to the orchestrator (session.py)
    TaskRunner                  assignments, skills on the skill thread, results (tasks.py)
    Operations                  PackML commands and the acting states' work (operations.py)
    StatePublishing             the ZeroMQ state stream (publishing.py)

Threads: gRPC, PackML and task bookkeeping live on the asyncio loop; skills on the cell's
skill thread; the world and the components on the control loop's thread. A cell run alone
builds its own environment; a world host gives several cells one shared environment.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

from cellwright.api.registry import RegistryError
from cellwright.api.structs import to_struct
from cellwright.cells.config import CellConfig
from cellwright.cells.environment import CellRuntime, Environment
from cellwright.cells.faults import FaultWatch
from cellwright.cells.operations import Operations
from cellwright.cells.packml import Command, InvalidTransition, PackmlMachine, from_proto_command, to_proto_state
from cellwright.cells.publishing import StatePublishing
from cellwright.cells.session import Session
from cellwright.cells.shutdown import build, shut_down
from cellwright.cells.skills import SKILLS, Skill, result_schema
from cellwright.cells.state_messages import robot_proto, safety_proto
from cellwright.cells.tasks import TaskRunner
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import state_pb2

log = logging.getLogger(__name__)
LINK_WATCH_PERIOD_S = 0.1


def resolve_skills(config: CellConfig) -> dict[str, Skill]:
    """The skills a config names (every registered skill if it names none).

    Raises:
        ValueError: an unknown skill, naming the config file and the known skills.
    """
    try:
        names = config.skills if config.skills is not None else SKILLS.ids()
        return {name: SKILLS.get(name) for name in names}
    except RegistryError as exc:
        raise ValueError(f"{config.source}: skills: {exc}") from None


class CellController:
    """Runs one cell: connects out to the orchestrator and executes its tasks one at a time.

    Args:
        config: the cell's configuration.
        orchestrator: host:port of the orchestrator.
        environment: a shared environment that already holds this cell's robots (world
            host); None to build one for this cell alone.
        gui: show the PyBullet GUI (needs a display; own environment only).
        snapshot: write a PNG of the final scene here on shutdown (own environment only).
    """

    def __init__(self, config: CellConfig, orchestrator: str, *,
                 environment: Environment | None = None, gui: bool = False,
                 snapshot: Path | None = None) -> None:
        self.config = config
        self.orchestrator = orchestrator
        self.skills = resolve_skills(config)
        self.boot_id = uuid.uuid4().hex
        self._shared = environment
        self._gui, self._snapshot = gui, snapshot
        self.environment: Environment | None = environment
        self.runtime: CellRuntime | None = None
        self.state_endpoint = ""
        self.session = Session(orchestrator, self._hello, self._heartbeat, self._handle,
                               self._welcomed)
        self.packml = PackmlMachine(self.clock)
        self._tasks: TaskRunner | None = None
        self._operations: Operations | None = None
        self._publishing: StatePublishing | None = None
        self._faults: FaultWatch | None = None

    def clock(self) -> float:
        """The cell's clock: the control loop's (simulation seconds in simulation)."""
        return self.runtime.loop.now_s() if self.runtime is not None else 0.0

    @property
    def tasks(self) -> TaskRunner:
        assert self._tasks is not None, "the cell is not running"
        return self._tasks

    @property
    def operations(self) -> Operations:
        assert self._operations is not None, "the cell is not running"
        return self._operations

    # --- lifecycle -----------------------------------------------------------------
    async def run(self) -> None:
        """Bring the cell up, reach PackML Execute (if auto_start), and keep a session with
        the orchestrator until cancelled; then stop the robots and shut down."""
        try:
            if self.environment is None:
                self.environment = await build(
                    lambda: Environment.build([self.config], gui=self._gui), Environment.close)
                self.environment.start()
            self.runtime = self.environment.cells[self.config.cell_id]
            self._tasks = TaskRunner(self.config.cell_id, self.skills, self.runtime, self.packml,
                                     self.session.send, self.session.beat_soon)
            self._operations = Operations(self.packml, self._tasks)
            runtime = self.runtime
            self._faults = FaultWatch(runtime.loop, runtime.components(),
                                      self._operations.abort_on_fault, asyncio.get_running_loop())
            self._publishing = await build(lambda: StatePublishing(
                self.config.cell_id, runtime, self._cell_state, self.config.state_endpoint,
                self.config.publish_hz), StatePublishing.close)
            self.state_endpoint = self._publishing.endpoint
            self.packml.add_listener(lambda _old, _new: self.session.beat_soon())
            log.info("cell %s up: skills %s, state stream %s", self.config.cell_id,
                     sorted(self.skills), self.state_endpoint)
            if self.config.auto_start:
                await self._operations.auto_start()
            watch = asyncio.create_task(self._watch_orchestrator())
            try:
                await self.session.run()
            finally:
                watch.cancel()
        finally:
            await shut_down(self._shutdown)

    async def _watch_orchestrator(self) -> None:
        """Past the grace without its orchestrator (wall time, at least the lease), stop the
        robots and Hold; an operator Unholds the cell once it is back."""
        while True:
            await asyncio.sleep(LINK_WATCH_PERIOD_S)
            grace = max(self.config.orchestrator_grace_s, self.session.lease_ttl_s)
            offline = self.session.offline_s()
            if offline > grace:
                await self.operations.hold_without_orchestrator(
                    f"cell {self.config.cell_id}: no orchestrator for {offline:.2f} s "
                    f"(grace {grace:.2f} s)")

    def _shutdown(self) -> None:
        if self.runtime is not None:
            for component in self.runtime.components():
                component.stop()
        if self._faults is not None:
            self._faults.close()
        if self._tasks is not None:
            self._tasks.close()
        if self._publishing is not None:
            self._publishing.close()
        if self.environment is not None and self._shared is None:
            try:
                if self._snapshot is not None:
                    self.environment.render_png(self._snapshot)
                    log.info("wrote %s", self._snapshot)
            finally:
                self.environment.close()

    # --- PackML --------------------------------------------------------------------
    def apply(self, command: Command | None) -> None:
        """Apply a PackML command (None = e-stop); see `Operations.apply`."""
        self.operations.apply(command)

    # --- session contents ---------------------------------------------------------------
    def _hello(self) -> cell_pb.Hello:
        assert self.runtime is not None
        mounts = {name: entry.mount for name, entry in self.config.robots.items()}
        return cell_pb.Hello(
            cell_id=self.config.cell_id, boot_id=self.boot_id, tags=self.config.tags,
            state_endpoint=self.state_endpoint,
            packml_state=to_proto_state(self.packml.state),  # type: ignore[arg-type]
            skills=[cell_pb.Skill(name=s.name, description=s.description,
                                  params_schema=to_struct(dict(s.params_schema)),
                                  result_schema=to_struct(dict(result_schema(s))))
                    for s in self.skills.values()],
            robots=[robot_proto(robot, mounts.get(name, ""))
                    for name, robot in self.runtime.robots.items()],
            tasks=self.tasks.held(),
            approximations=[f"part locator {parts.id}: {parts.approximation}"]
            if (parts := self.runtime.parts) is not None and parts.approximation else [])

    def _heartbeat(self) -> cell_pb.ConnectRequest:
        tasks, now = self.tasks, self.clock()
        stats = cell_pb.CellStats(
            clock_s=now, busy_s=tasks.busy_s + (now - tasks.current.started_s if tasks.current else 0.0),
            state_time_s=self.packml.state_times(), tasks_succeeded=tasks.counts["succeeded"],
            tasks_failed=tasks.counts["failed"])
        return cell_pb.ConnectRequest(heartbeat=cell_pb.Heartbeat(
            packml_state=to_proto_state(self.packml.state),  # type: ignore[arg-type]
            busy=tasks.current is not None, stats=stats))

    def _cell_state(self, now: float) -> state_pb2.CellState:
        current = self.tasks.current
        return state_pb2.CellState(
            cell_id=self.config.cell_id, packml_state=to_proto_state(self.packml.state),  # type: ignore[arg-type]
            busy=current is not None, task_id=current.task_id if current else "", clock_s=now,
            safety=safety_proto(self.runtime.safety.record()) if self.runtime is not None else None)

    def _welcomed(self) -> None:
        self.tasks.resend()

    def _handle(self, message: cell_pb.ConnectResponse) -> None:
        kind = message.WhichOneof("msg")
        if kind == "assign":
            self.tasks.on_assign(message.assign)
        elif kind == "cancel":
            self.tasks.on_cancel(message.cancel)
        elif kind == "ack":
            self.tasks.on_ack(message.ack)
        elif kind == "command":
            self._on_command(message.command)

    def _on_command(self, command: cell_pb.Command) -> None:
        ok, error = True, ""
        try:
            self.apply(from_proto_command(command.command))  # None: e-stop
        except (InvalidTransition, ValueError) as exc:
            ok, error = False, f"cell {self.config.cell_id}: {exc}"
        self.session.send(cell_pb.ConnectRequest(command_result=cell_pb.CommandResult(
            command_id=command.command_id, ok=ok, error=error, cell_id=self.config.cell_id,
            packml_state=to_proto_state(self.packml.state))))  # type: ignore[arg-type]
