"""A cell's tasks: take assignments, run skills on the skill thread, report, keep results
until the orchestrator acknowledges them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cellwright.api.schema import SchemaError, validate
from cellwright.api.structs import from_struct, to_struct
from cellwright.cells.environment import CellRuntime
from cellwright.cells.packml import PackmlMachine, State
from cellwright.cells.skills import Skill, SkillContext, SkillError, check_result, result_schema
from cellwright.robots import RobotError
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class InFlight:
    """The task the cell is executing."""

    task_id: str
    epoch: int
    skill: str
    started_s: float
    progress: float = 0.0
    timeout_s: float = 0.0  # start-to-close limit on the cell's clock (0: none)
    cancel_requested: bool = False  # the orchestrator cancelled it: report CANCELLED
    interrupted: bool = False  # PackML Stop/Abort ended it: report FAILED (stopped)
    timed_out_after_s: float | None = None  # its timeout ended it after this long: FAILED (timeout)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def should_end(self) -> bool:
        return self.cancel_requested or self.interrupted or self.timed_out_after_s is not None

    def timeout_error(self) -> job_pb2.TaskError:
        return task_error("timeout", f"step exceeded its timeout of {self.timeout_s:g} s on the "
                                     f"cell's clock (ran {self.timed_out_after_s:.1f} s)")

    def update(self, state: int = job_pb2.TASK_STATE_RUNNING) -> cell_pb.TaskUpdate:
        return cell_pb.TaskUpdate(task_id=self.task_id, epoch=self.epoch, state=state,  # type: ignore[arg-type]
                                  progress=self.progress)


def task_error(reason: str, message: str, retryable: bool = False) -> job_pb2.TaskError:
    return job_pb2.TaskError(reason=reason, message=message, retryable=retryable)


class TaskRunner:
    """Runs one task at a time. Lives on the asyncio loop; skills run on one skill thread.

    Args:
        cell_id: for messages.
        skills: the skills the cell offers, by name.
        runtime: robots, layout, part locator and loop of the cell.
        packml: the cell's state machine (tasks are taken only in Execute).
        send: queues a message for the orchestrator.
        changed: called when the cell's busy state changes (to send a heartbeat).
    """

    def __init__(self, cell_id: str, skills: Mapping[str, Skill], runtime: CellRuntime,
                 packml: PackmlMachine, send: Callable[[cell_pb.ConnectRequest], None],
                 changed: Callable[[], None]) -> None:
        self.cell_id, self.skills, self.runtime = cell_id, skills, runtime
        self.packml, self._send, self._changed = packml, send, changed
        self.current: InFlight | None = None
        self.unacked: dict[tuple[str, int], cell_pb.TaskUpdate] = {}
        self.busy_s = 0.0
        self.counts = {"succeeded": 0, "failed": 0}
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"skills-{cell_id}")
        self._running: asyncio.Task[None] | None = None

    def clock(self) -> float:
        return self.runtime.loop.now_s()

    async def on_skill_thread(self, job: Callable[[], T]) -> T:
        """Run `job()` on the cell's skill thread (after every job queued before it)."""
        return await asyncio.wrap_future(self._thread.submit(job))

    def context(self, progress: Callable[[float], None] = lambda _f: None,
                cancelled: Callable[[], bool] = lambda: False) -> SkillContext:
        """A SkillContext over the cell's runtime."""
        runtime = self.runtime
        return SkillContext(runtime.robots, runtime.layout, runtime.parts, runtime.loop.now_s,
                            runtime.loop.sleep, progress, cancelled)

    def close(self) -> None:
        """End the running skill (as an interrupt: its waits cancel their goals and timers)
        and free the thread."""
        if self.current is not None:
            self.current.interrupted = True
        self._thread.shutdown(wait=True, cancel_futures=True)

    def resend(self) -> None:
        """After a welcome: the task in flight and every unacknowledged result again (the
        orchestrator acks a duplicate and ignores it)."""
        if self.current is not None:
            self._send(cell_pb.ConnectRequest(task_update=self.current.update()))
        for update in self.unacked.values():
            self._send(cell_pb.ConnectRequest(task_update=update))

    def held(self) -> list[cell_pb.TaskUpdate]:
        """What a hello reports: the task in flight and unacknowledged results."""
        return [*([self.current.update()] if self.current else []), *self.unacked.values()]

    def on_ack(self, ack: cell_pb.Ack) -> None:
        self.unacked.pop((ack.task_id, ack.epoch), None)

    def on_assign(self, assign: cell_pb.Assign) -> None:
        def refuse(reason: str, message: str, retryable: bool = False) -> None:
            self._finish(cell_pb.TaskUpdate(
                task_id=assign.task_id, epoch=assign.epoch, state=job_pb2.TASK_STATE_FAILED,
                error=task_error(reason, message, retryable)))

        if self.current is not None:
            return refuse("rejected", f"cell {self.cell_id} is busy with "
                          f"{self.current.task_id}", retryable=True)
        if self.packml.state is not State.EXECUTE:
            return refuse("rejected", f"cell {self.cell_id} is in PackML state "
                          f"{self.packml.state.value}, not Execute", retryable=True)
        skill = self.skills.get(assign.skill)
        if skill is None:
            return refuse("unknown_skill", f"cell {self.cell_id} has no skill "
                          f"{assign.skill!r}; it offers {sorted(self.skills)}")
        try:
            params = validate(skill.params_schema, from_struct(assign.params, "params"),
                              "params", f"skill {skill.name}")
        except SchemaError as exc:
            return refuse("invalid_params", str(exc))
        self.resume_components()  # on the asyncio loop: a cancel or Stop after this one wins
        timeout_s = assign.timeout_s if math.isfinite(assign.timeout_s) and assign.timeout_s > 0 else 0.0
        self.current = InFlight(assign.task_id, assign.epoch, skill.name, self.clock(),
                               timeout_s=timeout_s)
        self._send(cell_pb.ConnectRequest(task_update=self.current.update()))
        self._running = asyncio.create_task(self._execute(self.current, skill, params))
        return None

    def on_cancel(self, cancel: cell_pb.Cancel) -> None:
        current = self.current
        if current is None or (current.task_id, current.epoch) != (cancel.task_id, cancel.epoch):
            return
        log.info("cancelling %s: %s", cancel.task_id, cancel.reason)
        current.cancel_requested = True
        self._stop_components()

    def _stop_components(self) -> None:
        for component in self.runtime.components():
            component.stop()

    def _time_out(self, task: InFlight) -> None:
        """On the asyncio loop, after the task's timeout passed on the cell's clock: stop it
        as a cancel does (the skill's waits cancel their goals, components halt)."""
        if self.current is task and not task.cancel_requested and not task.interrupted:
            log.info("%s exceeded its timeout of %g s on the cell's clock", task.task_id,
                     task.timeout_s)
            self._stop_components()

    @contextlib.contextmanager
    def _timeout_guard(self, task: InFlight, notify: Callable[[], object]) -> Iterator[None]:
        """While the block runs (the skill, on the skill thread): once `task.timeout_s` has
        passed on the cell's clock since the block began, mark the task timed out (its
        waits then cancel their goals) and call `notify` (which stops the components).

        The check is a listener of the cell's control loop, so it fires on the tick the
        clock reaches the limit, however fast the clock runs against the wall; while the
        loop stands idle it is called on wall time and re-arms for the time left."""
        if task.timeout_s <= 0:
            yield
            return
        loop = self.runtime.loop
        start = loop.now_s()

        def check(now: float) -> None:
            ran = now - start
            loop.remove_listener(check)
            if ran + 1e-9 >= task.timeout_s:
                if not (task.cancel_requested or task.interrupted):  # the first end wins
                    task.timed_out_after_s = ran
                    notify()
            else:  # called while idle, before the limit: re-arm for the time left
                loop.add_listener(check, task.timeout_s - ran)

        loop.add_listener(check, task.timeout_s)
        try:
            yield
        finally:
            loop.remove_listener(check)

    def resume_components(self) -> None:
        for component in self.runtime.components():
            if not component.estopped:
                component.resume()

    async def _execute(self, task: InFlight, skill: Skill, params: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()

        def progress(fraction: float) -> None:
            loop.call_soon_threadsafe(self._progress, task, fraction)

        def run() -> dict[str, Any]:
            if task.should_end():  # a cancel or Stop that came before the thread got here
                raise SkillError("stopped", "ended before it started")
            with self._timeout_guard(task, lambda: loop.call_soon_threadsafe(self._time_out, task)):
                result = skill.run(self.context(progress, task.should_end), params)
            check_result(result_schema(skill), result, f"skill {skill.name}")  # else: a bug in it
            return result

        update = cell_pb.TaskUpdate(task_id=task.task_id, epoch=task.epoch)
        try:
            result = await self.on_skill_thread(run)
            update.state = job_pb2.TASK_STATE_SUCCEEDED
            update.result.CopyFrom(to_struct(result))
        except (SkillError, RobotError) as exc:
            cancelled = task.cancel_requested and exc.reason in ("stopped", "estop")
            update.state = job_pb2.TASK_STATE_CANCELLED if cancelled else job_pb2.TASK_STATE_FAILED
            message = exc.message if isinstance(exc, SkillError) else str(exc)
            update.error.CopyFrom(task_error(exc.reason, message, exc.retryable))
        except Exception as exc:
            log.exception("skill %s crashed on %s", skill.name, task.task_id)
            update.state = job_pb2.TASK_STATE_FAILED
            update.error.CopyFrom(task_error("internal", f"{type(exc).__name__}: {exc}"))
        if task.timed_out_after_s is not None:  # it came before any cancel or Stop
            # Past its timeout the step has failed, whatever the skill made of the stop.
            update.state = job_pb2.TASK_STATE_FAILED
            update.ClearField("result")
            update.error.CopyFrom(task.timeout_error())
        update.duration_s = self.clock() - task.started_s
        update.progress = 1.0 if update.state == job_pb2.TASK_STATE_SUCCEEDED else task.progress
        self.busy_s += update.duration_s
        self.counts["succeeded" if update.state == job_pb2.TASK_STATE_SUCCEEDED else "failed"] += 1
        self.current = None
        task.done.set()
        self._finish(update)
        self._changed()

    def _progress(self, task: InFlight, fraction: float) -> None:
        task.progress = fraction
        if self.current is task:
            self._send(cell_pb.ConnectRequest(task_update=task.update()))

    def _finish(self, update: cell_pb.TaskUpdate) -> None:
        """Report a final update and keep it until the orchestrator acknowledges it."""
        self.unacked[(update.task_id, update.epoch)] = update
        self._send(cell_pb.ConnectRequest(task_update=update))
