"""The PackML state model (ANSI/ISA-TR88.00.02-2015), pure Python.

The model nests three superstates (docs/packml.md draws the table):

- *Cleared*: every state except Aborting and Aborted. `Abort` is accepted anywhere in it.
- *Running* (inside Cleared): Resetting, Idle, Starting, Execute, Completing, Complete,
  Holding, Held, Unholding, Suspending, Suspended, Unsuspending. `Stop` is accepted
  anywhere in it.
- The production cycle inside Running, driven by the remaining commands and by "state
  complete" (SC): an acting state finishes its work and moves on by itself.

`PackmlMachine` holds one cell's state, checks commands against the table, calls
listeners on every change and accumulates the time spent in each state (for KPIs).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "ACTING_STATES",
    "COMMAND_TRANSITIONS",
    "STATE_COMPLETE",
    "WAIT_STATES",
    "Command",
    "InvalidTransition",
    "PackmlMachine",
    "State",
    "from_proto_command",
    "from_proto_state",
    "to_proto_state",
]

_log = logging.getLogger(__name__)


class State(enum.Enum):
    """The 17 PackML states; the value is the standard's name."""

    STOPPED = "Stopped"
    RESETTING = "Resetting"
    IDLE = "Idle"
    STARTING = "Starting"
    EXECUTE = "Execute"
    COMPLETING = "Completing"
    COMPLETE = "Complete"
    HOLDING = "Holding"
    HELD = "Held"
    UNHOLDING = "Unholding"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    UNSUSPENDING = "Unsuspending"
    STOPPING = "Stopping"
    ABORTING = "Aborting"
    ABORTED = "Aborted"
    CLEARING = "Clearing"


class Command(enum.Enum):
    """The 9 PackML state commands; the value is the standard's name."""

    RESET = "Reset"
    START = "Start"
    STOP = "Stop"
    HOLD = "Hold"
    UNHOLD = "Unhold"
    SUSPEND = "Suspend"
    UNSUSPEND = "Unsuspend"
    ABORT = "Abort"
    CLEAR = "Clear"


_RUNNING = frozenset(
    {
        State.RESETTING,
        State.IDLE,
        State.STARTING,
        State.EXECUTE,
        State.COMPLETING,
        State.COMPLETE,
        State.HOLDING,
        State.HELD,
        State.UNHOLDING,
        State.SUSPENDING,
        State.SUSPENDED,
        State.UNSUSPENDING,
    }
)
_CLEARED = _RUNNING | {State.STOPPED, State.STOPPING, State.CLEARING}

COMMAND_TRANSITIONS: Mapping[tuple[State, Command], State] = MappingProxyType(
    {
        (State.STOPPED, Command.RESET): State.RESETTING,
        (State.IDLE, Command.START): State.STARTING,
        (State.EXECUTE, Command.HOLD): State.HOLDING,
        (State.HELD, Command.UNHOLD): State.UNHOLDING,
        (State.EXECUTE, Command.SUSPEND): State.SUSPENDING,
        (State.SUSPENDED, Command.UNSUSPEND): State.UNSUSPENDING,
        (State.COMPLETE, Command.RESET): State.RESETTING,
        (State.ABORTED, Command.CLEAR): State.CLEARING,
        **{(state, Command.STOP): State.STOPPING for state in _RUNNING},
        **{(state, Command.ABORT): State.ABORTING for state in _CLEARED},
    }
)
"""Command transitions: (current state, command) -> next state. Missing pairs are invalid."""

STATE_COMPLETE: Mapping[State, State] = MappingProxyType(
    {
        State.RESETTING: State.IDLE,
        State.STARTING: State.EXECUTE,
        State.EXECUTE: State.COMPLETING,
        State.COMPLETING: State.COMPLETE,
        State.HOLDING: State.HELD,
        State.UNHOLDING: State.EXECUTE,
        State.SUSPENDING: State.SUSPENDED,
        State.UNSUSPENDING: State.EXECUTE,
        State.STOPPING: State.STOPPED,
        State.ABORTING: State.ABORTED,
        State.CLEARING: State.STOPPED,
    }
)
""""State complete" (SC) transitions of the acting states, Execute included."""

ACTING_STATES = frozenset(STATE_COMPLETE)
"""States that do work and leave by themselves once it is done (SC)."""

WAIT_STATES = frozenset(State) - ACTING_STATES
"""States that stay until a command arrives: Stopped, Idle, Complete, Held, Suspended, Aborted."""


class InvalidTransition(Exception):
    """A command (or state complete) that the current state does not accept.

    Attributes:
        command: The rejected command, or None for a state complete (SC) in a wait state.
        state: The state that rejected it.
        allowed: The commands that state accepts.
    """

    def __init__(self, command: Command | None, state: State, allowed: list[Command]) -> None:
        what = "state complete (SC)" if command is None else f"command {command.value}"
        accepted = ", ".join(c.value for c in allowed) or "none"
        super().__init__(f"{what} is not valid in state {state.value}; it accepts: {accepted}")
        self.command = command
        self.state = state
        self.allowed = allowed


def _allowed(state: State) -> list[Command]:
    return [cmd for cmd in Command if (state, cmd) in COMMAND_TRANSITIONS]


class PackmlMachine:
    """One unit's PackML state, safe to drive from several threads.

    Listeners run synchronously, in order, while the machine's lock is held, so every
    listener sees every change in the order it happened. They may read `state` but must
    not block or send commands; hand work to another thread instead. A listener that
    raises is logged and does not undo the change or stop the other listeners.

    Args:
        clock: Seconds on the cell's clock (simulation time in simulation); monotonic.
        initial: The state to start in.
    """

    def __init__(self, clock: Callable[[], float], initial: State = State.STOPPED) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._state = initial
        self._entry = 0
        self._entered_at = clock()
        self._times = dict.fromkeys(State, 0.0)
        self._listeners: list[Callable[[State, State], None]] = []

    @property
    def state(self) -> State:
        """The current state."""
        with self._lock:
            return self._state

    @property
    def entry(self) -> int:
        """Which stay in the current state this is: 0 in the initial state, one more on
        every change. An acting state's work captures it when it starts and signals SC (or
        aborts) only while it is unchanged, so work started for an earlier stay in the same
        state (Reset, Stop, Reset) cannot act on a later one."""
        with self._lock:
            return self._entry

    def command(self, cmd: Command) -> State:
        """Apply a state command.

        Returns:
            The new state.

        Raises:
            InvalidTransition: The current state does not accept `cmd`.
        """
        with self._lock:
            target = COMMAND_TRANSITIONS.get((self._state, cmd))
            if target is None:
                raise InvalidTransition(cmd, self._state, _allowed(self._state))
            self._enter(target)
            return target

    def state_complete(self) -> State:
        """Signal that the current acting state has finished its work (SC).

        Returns:
            The new state.

        Raises:
            InvalidTransition: The current state is a wait state.
        """
        with self._lock:
            target = STATE_COMPLETE.get(self._state)
            if target is None:
                raise InvalidTransition(None, self._state, _allowed(self._state))
            self._enter(target)
            return target

    def allowed_commands(self) -> list[Command]:
        """The commands the current state accepts, in `Command` order."""
        with self._lock:
            return _allowed(self._state)

    def add_listener(self, fn: Callable[[State, State], None]) -> None:
        """Call `fn(old, new)` on every state change from now on."""
        with self._lock:
            self._listeners.append(fn)

    def state_times(self) -> dict[str, float]:
        """Seconds spent in each state (by name, all 17), the current stay included."""
        with self._lock:
            times = {state.value: seconds for state, seconds in self._times.items()}
            times[self._state.value] += self._clock() - self._entered_at
            return times

    def _enter(self, target: State) -> None:
        now = self._clock()
        old = self._state
        self._times[old] += now - self._entered_at
        self._state = target
        self._entry += 1
        self._entered_at = now
        for listener in list(self._listeners):
            try:
                listener(old, target)
            except Exception:
                _log.exception("PackML listener %r failed on %s -> %s", listener, old, target)


def to_proto_state(state: State) -> int:
    """The `cellwright.v1.PackmlState` value of `state`."""
    from cellwright.v1 import packml_pb2

    return packml_pb2.PackmlState.Value(f"PACKML_STATE_{state.name}")


def from_proto_state(value: int) -> State:
    """The state of a `cellwright.v1.PackmlState` value.

    Raises:
        ValueError: `value` is PACKML_STATE_UNSPECIFIED or unknown.
    """
    from cellwright.v1 import packml_pb2

    return State[_proto_name(packml_pb2.PackmlState, value, "PACKML_STATE_")]


def from_proto_command(value: int) -> Command | None:
    """The command of a `cellwright.v1.PackmlCommand` value; None for PACKML_COMMAND_ESTOP.

    The controller handles an e-stop as `Command.ABORT` plus an e-stop of every robot.

    Raises:
        ValueError: `value` is PACKML_COMMAND_UNSPECIFIED or unknown.
    """
    from cellwright.v1 import packml_pb2

    if value == packml_pb2.PACKML_COMMAND_ESTOP:
        return None
    return Command[_proto_name(packml_pb2.PackmlCommand, value, "PACKML_COMMAND_")]


def _proto_name(enum_type: Any, value: int, prefix: str) -> str:
    """The member name of a proto enum value without its prefix; ValueError if unspecified."""
    if value == 0 or value not in enum_type.values():
        raise ValueError(f"not a valid {enum_type.DESCRIPTOR.name}: {value}")
    name: str = enum_type.Name(value)
    return name.removeprefix(prefix)
