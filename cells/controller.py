"""The cell controller: a cell's session with the orchestrator, its PackML state and
its tasks.

Threads: gRPC, PackML and task bookkeeping live on the asyncio loop; the world, robots,
skills and the ZeroMQ publisher live on the robot thread (`RobotThread`). The loop hands
skills to the robot thread and awaits them; cancels and e-stops reach a moving robot
through `Robot.stop()` / `Robot.estop()`, which are safe from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from cellwright.api.schema import SchemaError, validate
from cellwright.api.statestream import StatePublisher, cell_topic, robot_topic
from cellwright.api.structs import from_struct, to_struct
from cellwright.cells.config import CellConfig
from cellwright.cells.packml import (
    Command,
    InvalidTransition,
    PackmlMachine,
    State,
    from_proto_command,
    to_proto_state,
)
from cellwright.cells.robot_thread import RobotThread
from cellwright.cells.skills import SKILLS, Skill, SkillContext, SkillError
from cellwright.cells.state_messages import robot_state_proto
from cellwright.robots import CollisionDetected, Pose, Robot, RobotError, Unreachable
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, state_pb2

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_START_S = 0.2
BACKOFF_MAX_S = 5.0
CELL_STATE_HZ = 10.0  # for cells without a simulation, which have no step to publish on
GRIPPER_OPEN_M = 0.08
RETRACT_M = 0.12  # Resetting lifts the tool this far before homing
WELCOME_TIMEOUT_S = 10.0
# Ping the orchestrator every 10 s, so a half-open connection ends within ~15 s.
KEEPALIVE = [("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000),
             ("grpc.keepalive_permit_without_calls", 1)]


@dataclass
class InFlight:
    """The task the cell is executing."""

    task_id: str
    epoch: int
    skill: str
    started_s: float
    progress: float = 0.0
    cancel_requested: bool = False  # the orchestrator cancelled it: report CANCELLED
    interrupted: bool = False  # PackML Stop/Abort ended it: report FAILED (stopped)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def should_end(self) -> bool:
        return self.cancel_requested or self.interrupted

    def update(self, state: int = job_pb2.TASK_STATE_RUNNING) -> cell_pb.TaskUpdate:
        return cell_pb.TaskUpdate(task_id=self.task_id, epoch=self.epoch, state=state,  # type: ignore[arg-type]
                                  progress=self.progress)


@dataclass
class Owned:
    """What the robot thread owns."""

    world: Any
    publisher: StatePublisher


class Backoff:
    """Delays between connection attempts: `start_s`, doubling with every attempt up to
    `max_s`, and `start_s` again after `reset()`, which the cell calls on every welcome, so
    a session that was welcomed resets it however it ended (a broken stream included).
    Jitter is the caller's."""

    def __init__(self, start_s: float = BACKOFF_START_S, max_s: float = BACKOFF_MAX_S) -> None:
        self.start_s, self.max_s = start_s, max_s
        self._next_s = start_s

    def reset(self) -> None:
        self._next_s = self.start_s

    def next_s(self) -> float:
        """The delay before the next attempt."""
        delay, self._next_s = self._next_s, min(self._next_s * 2, self.max_s)
        return delay


def _task_error(reason: str, message: str, retryable: bool = False) -> job_pb2.TaskError:
    return job_pb2.TaskError(reason=reason, message=message, retryable=retryable)


class CellController:
    """Runs one cell: connects out to the orchestrator and executes its tasks one at a time.

    Args:
        config: the cell's configuration.
        orchestrator: host:port of the orchestrator.
        gui: show the PyBullet GUI (needs a display).
        snapshot: write a PNG of the final scene here on shutdown.
    """

    def __init__(self, config: CellConfig, orchestrator: str, *, gui: bool = False,
                 snapshot: Path | None = None) -> None:
        unknown = [s for s in config.skills or () if s not in SKILLS]
        if unknown:
            raise ValueError(f"{config.source}: skills: unknown {unknown}; known: {sorted(SKILLS)}")
        self.config = config
        self.orchestrator = orchestrator
        self.boot_id = uuid.uuid4().hex
        self.skills: dict[str, Skill] = {n: SKILLS[n] for n in config.skills or SKILLS}
        self._gui, self._snapshot = gui, snapshot
        self._t0 = time.monotonic()
        self.world: Any = None
        self.robots: dict[str, Robot] = {}
        self.state_endpoint = ""
        self.packml = PackmlMachine(self.clock)
        self.current: InFlight | None = None
        self._unacked: dict[tuple[str, int], cell_pb.TaskUpdate] = {}
        self._outbox: asyncio.Queue[cell_pb.ConnectRequest] | None = None
        self._acting: asyncio.Task[None] | None = None
        self._running: asyncio.Task[None] | None = None
        self._busy_s = 0.0
        self._counts = {"succeeded": 0, "failed": 0}
        self._thread = RobotThread(self._setup, self._idle, self._teardown,
                                   wait_s=0.0 if config.world else 1.0 / CELL_STATE_HZ)

    # --- clock and robot thread ----------------------------------------------------
    def clock(self) -> float:
        """The cell's clock: simulation seconds with a world, else monotonic seconds."""
        return float(self.world.now_s()) if self.world is not None else time.monotonic() - self._t0

    def _setup(self) -> Owned:
        world = None
        if self.config.world:
            from cellwright.sim_worlds import load_world  # only simulated cells need PyBullet
            world = load_world(self.config.world, gui=self._gui, realtime=self.config.realtime)
        owned = Owned(world, StatePublisher(self.config.state_endpoint))
        if world is not None:
            every = max(1, int(1.0 / (world.dt * self.config.publish_hz)))
            world.add_step_listener(lambda: self._publish(owned), every)
        return owned

    def _idle(self, owned: Owned) -> None:
        if owned.world is not None:
            owned.world.idle_for(0.01)
        else:
            self._publish_cell_state(owned, self.clock())

    def _teardown(self, owned: Owned) -> None:
        try:
            if owned.world is not None and self._snapshot is not None:
                owned.world.render_png(self._snapshot)
                log.info("wrote %s", self._snapshot)
        finally:
            owned.publisher.close()
            if owned.world is not None:
                owned.world.close()

    def _publish(self, owned: Owned) -> None:
        """Step listener on the robot thread: every robot's state and the cell state, at
        `publish_hz` of the simulation clock."""
        now = self.clock()
        for robot in self.robots.values():
            info = robot.info()
            owned.publisher.publish(robot_topic(self.config.cell_id, info.name),
                                    robot_state_proto(self.config.cell_id, info, robot.state()), now)
        self._publish_cell_state(owned, now)

    def _publish_cell_state(self, owned: Owned, now: float) -> None:
        current = self.current
        owned.publisher.publish(cell_topic(self.config.cell_id), state_pb2.CellState(
            cell_id=self.config.cell_id, packml_state=to_proto_state(self.packml.state),  # type: ignore[arg-type]
            busy=current is not None, task_id=current.task_id if current else "",
            clock_s=now), now)

    # --- lifecycle -----------------------------------------------------------------
    async def run(self) -> None:
        """Start the robot thread, reach PackML Execute (if auto_start), and keep a session
        with the orchestrator until cancelled."""
        try:
            await asyncio.to_thread(self._thread.start)
            owned: Owned = await asyncio.wrap_future(self._thread.submit(lambda o: o))
            self.world = owned.world
            self.robots = dict(owned.world.robots) if owned.world is not None else {}
            self.state_endpoint = owned.publisher.endpoint
            self.packml.add_listener(lambda _old, _new: self._beat_soon())
            log.info("cell %s up: skills %s, state stream %s", self.config.cell_id,
                     sorted(self.skills), self.state_endpoint)
            if self.config.auto_start:
                await self._auto_start()
            await self._session_loop()
        finally:
            for robot in self.robots.values():
                robot.stop()
            await asyncio.to_thread(self._thread.stop)

    async def _auto_start(self) -> None:
        """Reset and Start, so the cell takes work; stop trying (and stay connectable, for
        an operator to Clear) if a step does not land where it should."""
        for command, reached in ((Command.RESET, State.IDLE), (Command.START, State.EXECUTE)):
            self.apply(command)
            if self._acting is not None:
                await self._acting
            if self.packml.state is not reached:
                log.error("auto start stopped in PackML %s", self.packml.state.value)
                return

    # --- PackML --------------------------------------------------------------------
    def apply(self, command: Command | None) -> None:
        """Apply a PackML command (None = e-stop) and start the acting state's work.

        Raises:
            InvalidTransition: the current state does not accept the command.
        """
        if command is None:
            for robot in self.robots.values():
                robot.estop()
            if self.packml.state in (State.ABORTING, State.ABORTED):
                return
            command = Command.ABORT
        state = self.packml.command(command)
        self._acting = asyncio.create_task(self._act(state, self.packml.entry))

    async def _act(self, state: State, entry: int) -> None:
        """Do an acting state's work, then signal state complete if the machine is still in
        this `entry` of it: a later command may have left the state, or left and re-entered
        it (Reset, Stop, Reset), and this work must not complete (or abort) that stay."""
        try:
            if state is State.RESETTING:
                self._resume_robots()  # here, not on the robot thread: a later Stop wins
                await self.on_robot_thread(self._home)
            elif state is State.STOPPING:
                await self._interrupt("stopped by PackML Stop")
            elif state is State.ABORTING:
                for robot in self.robots.values():
                    robot.estop()
                await self._interrupt("aborted")
            elif state is State.CLEARING:
                for robot in self.robots.values():
                    robot.reset_estop()
                self._resume_robots()
            elif state in (State.HOLDING, State.SUSPENDING) and self.current is not None:
                await self.current.done.wait()
        except (RobotError, SkillError) as exc:
            if self.packml.entry == entry:  # else a later command interrupted it: fine
                log.error("PackML %s failed: %s; aborting", state.value, exc)
                self.apply(Command.ABORT)
            return
        if self.packml.entry == entry:
            self.packml.state_complete()

    def _resume_robots(self) -> None:
        for robot in self.robots.values():
            if not robot.estopped:
                robot.resume()

    def _home(self, owned: Owned) -> None:
        """Resetting: open grippers, lift the tool clear of whatever it stopped next to (an
        e-stop can leave the fingers inside a tray), then move to the `home` location."""
        for robot in self.robots.values():
            if "gripper" in robot.info().capabilities:
                robot.gripper(GRIPPER_OPEN_M)
        if owned.world is None or len(self.robots) != 1:
            return
        robot = next(iter(self.robots.values()))
        tool = robot.state().tool_pose
        x, y, z = tool.position
        try:
            robot.move_pose(Pose((x, y, z + RETRACT_M), tool.orientation), speed=0.3)
        except (Unreachable, CollisionDetected) as exc:
            log.warning("Resetting: could not lift the tool first (%s); homing directly", exc)
        SKILLS["move_to"].run(SkillContext(owned.world, self.robots), {"location": "home"})

    async def _interrupt(self, why: str) -> None:
        """Stop the robots and the current task (if any), and wait until the robot thread
        has acted on the stop. The task reports FAILED with reason `stopped`: an operator,
        not the job's owner, ended it.

        The wait is a barrier: an empty job on the robot thread runs only after every job
        queued before it (the task, the homing of Resetting) has ended. Only then may a
        later resume() (Resetting, the next task) release the robots; earlier, it could
        clear a stop that motion had not yet seen, and that motion would run on."""
        current = self.current
        if current is not None:
            current.interrupted = True
        for robot in self.robots.values():
            robot.stop()
        if current is not None:
            log.info("interrupting %s: %s", current.task_id, why)
            await current.done.wait()
        await self.on_robot_thread(lambda _owned: None)

    async def on_robot_thread(self, job: Callable[[Owned], T]) -> T:
        """Run `job(owned)` on the robot thread (the only thread that may touch the world)."""
        return await asyncio.wrap_future(self._thread.submit(job))

    # --- tasks ---------------------------------------------------------------------
    def _on_assign(self, assign: cell_pb.Assign) -> None:
        def refuse(reason: str, message: str, retryable: bool = False) -> None:
            self._finish(cell_pb.TaskUpdate(
                task_id=assign.task_id, epoch=assign.epoch, state=job_pb2.TASK_STATE_FAILED,
                error=_task_error(reason, message, retryable)))

        if self.current is not None:
            return refuse("rejected", f"cell {self.config.cell_id} is busy with "
                          f"{self.current.task_id}", retryable=True)
        if self.packml.state is not State.EXECUTE:
            return refuse("rejected", f"cell {self.config.cell_id} is in PackML state "
                          f"{self.packml.state.value}, not Execute", retryable=True)
        skill = self.skills.get(assign.skill)
        if skill is None:
            return refuse("unknown_skill", f"cell {self.config.cell_id} has no skill "
                          f"{assign.skill!r}; it offers {sorted(self.skills)}")
        try:
            params = validate(skill.params_schema, from_struct(assign.params, "params"),
                              "params", f"skill {skill.name}")
        except SchemaError as exc:
            return refuse("invalid_params", str(exc))
        self._resume_robots()  # on the loop thread: a cancel or Stop after this one wins
        self.current = InFlight(assign.task_id, assign.epoch, skill.name, self.clock())
        self._send(cell_pb.ConnectRequest(task_update=self.current.update()))
        self._running = asyncio.create_task(self._execute(self.current, skill, params))
        return None

    async def _execute(self, task: InFlight, skill: Skill, params: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()

        def progress(fraction: float) -> None:
            loop.call_soon_threadsafe(self._progress, task, fraction)

        def run(owned: Owned) -> dict[str, Any]:
            if task.should_end():  # a cancel or Stop that came before the thread got here
                raise SkillError("stopped", "ended before it started")
            return skill.run(SkillContext(owned.world, self.robots, progress, task.should_end), params)

        update = cell_pb.TaskUpdate(task_id=task.task_id, epoch=task.epoch)
        try:
            result = await self.on_robot_thread(run)
            update.state = job_pb2.TASK_STATE_SUCCEEDED
            update.result.CopyFrom(to_struct(result))
        except (SkillError, RobotError) as exc:
            cancelled = task.cancel_requested and exc.reason in ("stopped", "estop")
            update.state = job_pb2.TASK_STATE_CANCELLED if cancelled else job_pb2.TASK_STATE_FAILED
            message = exc.message if isinstance(exc, SkillError) else str(exc)
            update.error.CopyFrom(_task_error(exc.reason, message, exc.retryable))
        except Exception as exc:
            log.exception("skill %s crashed on %s", skill.name, task.task_id)
            update.state = job_pb2.TASK_STATE_FAILED
            update.error.CopyFrom(_task_error("internal", f"{type(exc).__name__}: {exc}"))
        update.duration_s = self.clock() - task.started_s
        update.progress = 1.0 if update.state == job_pb2.TASK_STATE_SUCCEEDED else task.progress
        self._busy_s += update.duration_s
        self._counts["succeeded" if update.state == job_pb2.TASK_STATE_SUCCEEDED else "failed"] += 1
        self.current = None
        task.done.set()
        self._finish(update)
        self._beat_soon()

    def _progress(self, task: InFlight, fraction: float) -> None:
        task.progress = fraction
        if self.current is task:
            self._send(cell_pb.ConnectRequest(task_update=task.update()))

    def _finish(self, update: cell_pb.TaskUpdate) -> None:
        """Report a final update and keep it until the orchestrator acknowledges it."""
        self._unacked[(update.task_id, update.epoch)] = update
        self._send(cell_pb.ConnectRequest(task_update=update))

    def _on_cancel(self, cancel: cell_pb.Cancel) -> None:
        current = self.current
        if current is None or (current.task_id, current.epoch) != (cancel.task_id, cancel.epoch):
            return
        log.info("cancelling %s: %s", cancel.task_id, cancel.reason)
        current.cancel_requested = True
        for robot in self.robots.values():
            robot.stop()

    # --- session -------------------------------------------------------------------
    def _hello(self) -> cell_pb.Hello:
        held = [self.current.update()] if self.current else []
        return cell_pb.Hello(
            cell_id=self.config.cell_id, boot_id=self.boot_id, tags=self.config.tags,
            state_endpoint=self.state_endpoint,
            packml_state=to_proto_state(self.packml.state),  # type: ignore[arg-type]
            skills=[cell_pb.Skill(name=s.name, description=s.description,
                                  params_schema=to_struct(dict(s.params_schema)))
                    for s in self.skills.values()],
            robots=[_robot_proto(r) for r in self.robots.values()],
            tasks=[*held, *self._unacked.values()])

    def _heartbeat(self) -> cell_pb.ConnectRequest:
        stats = cell_pb.CellStats(
            clock_s=self.clock(), busy_s=self._busy_s + (
                self.clock() - self.current.started_s if self.current else 0.0),
            state_time_s=self.packml.state_times(), tasks_succeeded=self._counts["succeeded"],
            tasks_failed=self._counts["failed"])
        return cell_pb.ConnectRequest(heartbeat=cell_pb.Heartbeat(
            packml_state=to_proto_state(self.packml.state),  # type: ignore[arg-type]
            busy=self.current is not None, stats=stats))

    def _send(self, message: cell_pb.ConnectRequest) -> None:
        """Queue a message for the orchestrator; dropped while not welcomed (the next hello
        carries what matters, the task in flight and unacknowledged results, and both are
        sent again after the welcome)."""
        if self._outbox is not None:
            self._outbox.put_nowait(message)

    def _beat_soon(self) -> None:
        self._send(self._heartbeat())

    async def _session_loop(self) -> None:
        backoff = Backoff()
        while True:
            try:
                async with grpc.aio.insecure_channel(self.orchestrator, options=KEEPALIVE) as channel:
                    await self._session(cell_grpc.CellServiceStub(channel), backoff.reset)
            except grpc.aio.AioRpcError as exc:
                log.warning("orchestrator %s: %s %s", self.orchestrator, exc.code().name,
                            exc.details())
            except Exception:  # a bug must not end the cell: log it, reconnect, go on
                log.exception("session with %s failed", self.orchestrator)
            delay = backoff.next_s() * random.uniform(1.0, 1.5)
            log.info("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _session(self, stub: cell_grpc.CellServiceStub, welcomed: Callable[[], None]) -> None:
        """One Connect stream; calls `welcomed()` once the orchestrator has welcomed it."""
        call = stub.Connect()
        await call.write(cell_pb.ConnectRequest(hello=self._hello()))
        first = await asyncio.wait_for(call.read(), WELCOME_TIMEOUT_S)
        if first is grpc.aio.EOF or not first.HasField("welcome"):
            return
        welcomed()
        log.info("connected to %s", self.orchestrator)
        outbox: asyncio.Queue[cell_pb.ConnectRequest] = asyncio.Queue()
        self._outbox = outbox
        # Nothing was sent between the hello and the welcome: a task may have finished
        # meanwhile. Send the task in flight and every unacknowledged result again (the
        # orchestrator acks a duplicate and ignores it).
        if self.current is not None:
            self._send(cell_pb.ConnectRequest(task_update=self.current.update()))
        for update in self._unacked.values():
            self._send(cell_pb.ConnectRequest(task_update=update))
        interval = max(0.05, first.welcome.heartbeat_interval_ms / 1000)
        writer = asyncio.create_task(self._write(call, outbox))
        beats = asyncio.create_task(self._beat_every(interval))
        self._beat_soon()
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                self._handle(message)
        finally:
            self._outbox = None
            beats.cancel()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            call.cancel()

    async def _write(self, call: Any, outbox: asyncio.Queue[cell_pb.ConnectRequest]) -> None:
        while True:
            await call.write(await outbox.get())

    async def _beat_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self._beat_soon()

    def _handle(self, message: cell_pb.ConnectResponse) -> None:
        kind = message.WhichOneof("msg")
        if kind == "assign":
            self._on_assign(message.assign)
        elif kind == "cancel":
            self._on_cancel(message.cancel)
        elif kind == "ack":
            self._unacked.pop((message.ack.task_id, message.ack.epoch), None)
        elif kind == "command":
            self._on_command(message.command)

    def _on_command(self, command: cell_pb.Command) -> None:
        ok, error = True, ""
        try:
            self.apply(from_proto_command(command.command))  # None: e-stop
        except (InvalidTransition, ValueError) as exc:
            ok, error = False, f"cell {self.config.cell_id}: {exc}"
        self._send(cell_pb.ConnectRequest(command_result=cell_pb.CommandResult(
            command_id=command.command_id, ok=ok, error=error, cell_id=self.config.cell_id,
            packml_state=to_proto_state(self.packml.state))))  # type: ignore[arg-type]


def _robot_proto(robot: Robot) -> cell_pb.Robot:
    info = robot.info()
    return cell_pb.Robot(
        name=info.name, model=info.model, capabilities=sorted(info.capabilities),
        joints=[cell_pb.Joint(name=n, lower_rad=lo, upper_rad=hi, max_velocity_rad_s=v)
                for n, lo, hi, v in zip(info.joint_names, info.limits.lower.tolist(),
                                        info.limits.upper.tolist(), info.limits.velocity.tolist(),
                                        strict=True)])
