"""The work of PackML's acting states: what Resetting, Stopping, Aborting and Clearing do
to the robots, and when each may signal state complete."""

from __future__ import annotations

import asyncio
import logging

from cellwright.cells.packml import Command, PackmlMachine, State
from cellwright.cells.skills import SkillError
from cellwright.cells.skills.motion import move_to
from cellwright.cells.tasks import TaskRunner
from cellwright.robots import Arm, CollisionDetected, Component, Gripper, Lifecycle, Pose, RobotError, Unreachable

log = logging.getLogger(__name__)
RETRACT_M = 0.12  # Resetting lifts the tool this far before homing
HOME = "home"


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("PackML acting-state work crashed", exc_info=task.exception())


class Operations:
    """Applies PackML commands to a cell and does the acting states' work.

    Args:
        packml: the cell's state machine.
        tasks: the cell's task runner (its runtime, skill thread and task in flight).
    """

    def __init__(self, packml: PackmlMachine, tasks: TaskRunner) -> None:
        self.packml, self.tasks = packml, tasks
        self._acting: asyncio.Task[None] | None = None

    def apply(self, command: Command | None) -> None:
        """Apply a PackML command (None = e-stop) and start the acting state's work.

        Raises:
            InvalidTransition: the current state does not accept the command.
        """
        if command is None:
            for component in self.tasks.runtime.components():
                component.estop()
            if self.packml.state in (State.ABORTING, State.ABORTED):
                return
            command = Command.ABORT
        state = self.packml.command(command)
        self._acting = asyncio.create_task(self._act(state, self.packml.entry))
        self._acting.add_done_callback(_log_crash)

    def abort_on_fault(self, component: str, reason: str) -> None:
        """A component entered ERROR (`FaultWatch`): Abort, unless aborting already."""
        if self.packml.state not in (State.ABORTING, State.ABORTED):
            log.error("aborting: %s failed: %s", component, reason)
            self.apply(Command.ABORT)

    async def hold_without_orchestrator(self, why: str) -> None:
        """The orchestrator has been gone past the grace: stop the robots (the task in
        progress ends as stopped, its result kept for the orchestrator) and Hold, until an
        operator Unholds the cell."""
        if self.packml.state is not State.EXECUTE:
            return
        log.error("%s: stopping the robots and holding", why)
        await self._interrupt(why)
        if self.packml.state is State.EXECUTE:
            self.apply(Command.HOLD)

    async def auto_start(self) -> None:
        """Reset and Start, so the cell takes work; stop trying (and stay connectable, for
        an operator to Clear) if a step does not land where it should."""
        for command, reached in ((Command.RESET, State.IDLE), (Command.START, State.EXECUTE)):
            self.apply(command)
            if self._acting is not None:
                await self._acting
            if self.packml.state is not reached:
                log.error("auto start stopped in PackML %s", self.packml.state.value)
                return

    async def _act(self, state: State, entry: int) -> None:
        """Do an acting state's work, then signal state complete if the machine is still in
        this `entry` of it: a later command may have left the state, or left and re-entered
        it (Reset, Stop, Reset), and this work must not complete (or abort) that stay."""
        components = self.tasks.runtime.components()
        try:
            if state is State.RESETTING:
                self.tasks.resume_components()  # here, not on the skill thread: a later Stop wins
                await self.tasks.on_skill_thread(self._home)
            elif state is State.STOPPING:
                await self._interrupt("stopped by PackML Stop")
            elif state is State.ABORTING:
                for component in components:
                    component.estop()
                await self._interrupt("aborted")
            elif state is State.CLEARING:
                await self._reactivate_failed(components)
                for component in components:
                    component.reset_estop()
                self.tasks.resume_components()
            elif state in (State.HOLDING, State.SUSPENDING) and self.tasks.current is not None:
                await self.tasks.current.done.wait()
        except (RobotError, SkillError) as exc:
            if self.packml.entry == entry:  # else a later command interrupted it: fine
                log.error("PackML %s failed: %s; aborting", state.value, exc)
                self.apply(Command.ABORT)
            return
        except Exception:  # a driver's or a plugin's bug: never leave the cell in an acting state
            if self.packml.entry == entry and state is not State.ABORTING:
                log.exception("PackML %s failed unexpectedly; aborting", state.value)
                self.apply(Command.ABORT)
            elif self.packml.entry == entry:
                log.exception("PackML Aborting failed unexpectedly; the robots were e-stopped")
                self.packml.state_complete()
            return
        if self.packml.entry == entry:
            self.packml.state_complete()

    async def _reactivate_failed(self, components: list[Component]) -> None:
        """Clearing: activate the components in ERROR again (a driver reconnects); one that
        cannot raises, and the cell aborts again with its reason."""
        loop = self.tasks.runtime.loop
        for component in components:
            if component.lifecycle is Lifecycle.ERROR:
                log.info("Clearing: activating %s again (it failed: %s)", component.name,
                         component.error_reason)
                await asyncio.wrap_future(loop.submit(component.activate))

    def _home(self) -> None:
        """Resetting (on the skill thread): open the grippers, lift each arm's tool clear of
        whatever it stopped next to (an e-stop can leave the fingers inside a tray), then
        move each arm to its `home` configuration, if it has one."""
        ctx = self.tasks.context()
        for robot in self.tasks.runtime.robots.values():
            for gripper in robot.of_kind(Gripper):
                ctx.wait(gripper.open())
            for arm in robot.of_kind(Arm):
                tool = arm.tool_pose()
                x, y, z = tool.position
                try:
                    ctx.wait(arm.move_pose(Pose((x, y, z + RETRACT_M), tool.orientation), speed=0.3))
                except (Unreachable, CollisionDetected) as exc:
                    log.warning("Resetting: could not lift %s first (%s); homing directly",
                                arm.name, exc)
                if HOME in arm.info().configurations:
                    move_to(ctx, robot.name, HOME)

    async def _interrupt(self, why: str) -> None:
        """Stop the components and the current task (if any), and wait until the stop has
        been acted on. The task reports FAILED with reason `stopped`: an operator, not the
        job's owner, ended it.

        The waits are barriers: an empty job on the skill thread runs only after every job
        queued before it (the task, the homing of Resetting) has ended, and the control
        loop reports the components settled only once none is moving or halting. Only then
        may a later resume() (Resetting, the next task) release them; earlier, it could
        clear a stop that a motion had not yet seen, and that motion would run on."""
        current = self.tasks.current
        if current is not None:
            current.interrupted = True
        components = self.tasks.runtime.components()
        for component in components:
            component.stop()
        if current is not None:
            log.info("interrupting %s: %s", current.task_id, why)
            await current.done.wait()
        await self.tasks.on_skill_thread(lambda: None)
        await asyncio.wrap_future(self.tasks.runtime.loop.settled(components))
