"""A goal on the controller: started by one of our methods, ended by what the controller
publishes (`CommandStatus` = [id, state], `CommandMessage`: spec.STATUS_VARIABLES)."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Any

from cellwright.robots import errors
from cellwright.robots.drivers.opcua import spec
from cellwright.robots.drivers.opcua.link import RobotLink
from cellwright.robots.errors import EStopActive, MotionStopped, MotionTimeout, NotActive, RobotError
from cellwright.robots.goal import Goal


@dataclass
class _Command:
    goal: Goal[Any]
    call: concurrent.futures.Future[list[Any]]
    timeout_s: float
    command_id: int = 0
    started_s: float | None = None


class RemoteCommands:
    """The commands of one object on the controller (the motion device, or its gripper).

    Args:
        prefix: "" for the motion device, "Gripper." for the gripper (the link's value names).
    """

    def __init__(self, link: RobotLink, prefix: str) -> None:
        self._link, self._prefix = link, prefix
        self._command: _Command | None = None
        self._estopped = False

    def start(self, goal: Goal[Any], method: str, *args: Any, timeout_s: float) -> Goal[Any]:
        """Send the call now (it does not block); the goal ends in a later `update()`."""
        self._command = _Command(goal, self._link.call(method, *args), timeout_s)
        return goal

    def update(self, now_s: float, values: dict[str, Any], *, estopped: bool, result: Any = None) -> None:
        """End the goal if the controller says its command ended (a success returns `result`),
        refused it, or stays silent past the goal's own timeout plus the link timeout. A
        cancelled goal ends MotionStopped, or EStopActive if the component is e-stopped."""
        self._estopped = estopped
        command = self._command
        if command is None or command.goal.done():
            self._command = None
            return
        if command.started_s is None:
            command.started_s = now_s
        if not command.command_id:
            if not command.call.done():
                return self._expire(command, now_s)
            try:
                command_id, error = command.call.result()
            except RobotError as exc:
                return self._end(command, exc)
            if error:
                return self._end(command, _error(error))
            command.command_id = int(command_id)
        prefix = self._prefix
        status = list(values.get(prefix + "CommandStatus") or (0, 0))
        if status[0] != command.command_id:
            return self._expire(command, now_s)
        state = status[1]
        if state == spec.CommandState.SUCCEEDED:
            command.goal.succeed(result)
            self._command = None
        elif state in (spec.CommandState.FAILED, spec.CommandState.STOPPED):
            self._end(command, _error(str(values.get(prefix + "CommandMessage", ""))))
        else:
            self._expire(command, now_s)

    def _expire(self, command: _Command, now_s: float) -> None:
        bound = command.timeout_s + self._link.config.link_timeout_s
        if command.started_s is not None and now_s - command.started_s > bound:
            self._end(command, MotionTimeout(f"{command.goal.what}: the controller reported no end "
                                             f"within {bound:.2f} s"))

    def _end(self, command: _Command, error: RobotError) -> None:
        self._command = None
        goal = command.goal
        if isinstance(error, NotActive) or not goal.cancel_requested:
            goal.fail(error)
        elif self._estopped:
            goal.fail(EStopActive(f"{goal.what}: e-stopped"))
        else:
            goal.fail(MotionStopped(f"{goal.what}: stopped on request"))


def _error(message: str) -> RobotError:
    """The error a controller's message names (`MotionTimeout: ...`), as its class."""
    kind, _, text = message.partition(": ")
    cls = getattr(errors, kind, None) if kind in spec.ERROR_PREFIXES else None
    return cls(text) if cls is not None else RobotError(message or "the controller gave no reason")
