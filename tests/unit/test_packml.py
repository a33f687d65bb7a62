"""The PackML state model against ANSI/ISA-TR88.00.02-2015, checked exhaustively.

The expected tables below are written out by hand from the standard's state diagram
(as republished in OPC 30050 "OPC UA for PackML", sections 6.3.6-6.3.8), deliberately
not derived from `cells.packml`.
"""

from __future__ import annotations

import itertools

import pytest

from cellwright.cells.packml import (
    Command,
    InvalidTransition,
    PackmlMachine,
    State,
    from_proto_command,
    from_proto_state,
    to_proto_state,
)
from cellwright.v1 import packml_pb2

# state -> {command: target}; every pair not listed must be rejected.
EXPECTED_COMMANDS: dict[str, dict[str, str]] = {
    "Stopped": {"Reset": "Resetting", "Abort": "Aborting"},
    "Resetting": {"Stop": "Stopping", "Abort": "Aborting"},
    "Idle": {"Start": "Starting", "Stop": "Stopping", "Abort": "Aborting"},
    "Starting": {"Stop": "Stopping", "Abort": "Aborting"},
    "Execute": {
        "Hold": "Holding",
        "Suspend": "Suspending",
        "Stop": "Stopping",
        "Abort": "Aborting",
    },
    "Completing": {"Stop": "Stopping", "Abort": "Aborting"},
    "Complete": {"Reset": "Resetting", "Stop": "Stopping", "Abort": "Aborting"},
    "Holding": {"Stop": "Stopping", "Abort": "Aborting"},
    "Held": {"Unhold": "Unholding", "Stop": "Stopping", "Abort": "Aborting"},
    "Unholding": {"Stop": "Stopping", "Abort": "Aborting"},
    "Suspending": {"Stop": "Stopping", "Abort": "Aborting"},
    "Suspended": {"Unsuspend": "Unsuspending", "Stop": "Stopping", "Abort": "Aborting"},
    "Unsuspending": {"Stop": "Stopping", "Abort": "Aborting"},
    "Stopping": {"Abort": "Aborting"},
    "Aborting": {},
    "Aborted": {"Clear": "Clearing"},
    "Clearing": {"Abort": "Aborting"},
}

# acting state -> target on "state complete" (SC); wait states are absent.
EXPECTED_STATE_COMPLETE: dict[str, str] = {
    "Resetting": "Idle",
    "Starting": "Execute",
    "Execute": "Completing",
    "Completing": "Complete",
    "Holding": "Held",
    "Unholding": "Execute",
    "Suspending": "Suspended",
    "Unsuspending": "Execute",
    "Stopping": "Stopped",
    "Aborting": "Aborted",
    "Clearing": "Stopped",
}

WAIT_STATE_NAMES = {"Stopped", "Idle", "Complete", "Held", "Suspended", "Aborted"}


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_state_and_command_names_are_the_standard_ones() -> None:
    assert {s.value for s in State} == set(EXPECTED_COMMANDS)
    assert [c.value for c in Command] == [
        "Reset",
        "Start",
        "Stop",
        "Hold",
        "Unhold",
        "Suspend",
        "Unsuspend",
        "Abort",
        "Clear",
    ]


@pytest.mark.parametrize(
    ("state", "command"),
    list(itertools.product(State, Command)),
    ids=lambda x: x.value,
)
def test_every_state_command_pair_follows_the_standard(state: State, command: Command) -> None:
    machine = PackmlMachine(FakeClock(), initial=state)
    expected = EXPECTED_COMMANDS[state.value].get(command.value)
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            machine.command(command)
        assert machine.state is state
        assert info.value.command is command
        assert info.value.state is state
    else:
        assert machine.command(command).value == expected
        assert machine.state.value == expected


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_allowed_commands_lists_exactly_the_accepted_ones(state: State) -> None:
    machine = PackmlMachine(FakeClock(), initial=state)
    assert {c.value for c in machine.allowed_commands()} == set(EXPECTED_COMMANDS[state.value])


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_state_complete_moves_acting_states_and_rejects_wait_states(state: State) -> None:
    machine = PackmlMachine(FakeClock(), initial=state)
    expected = EXPECTED_STATE_COMPLETE.get(state.value)
    if expected is None:
        assert state.value in WAIT_STATE_NAMES
        with pytest.raises(InvalidTransition, match="state complete"):
            machine.state_complete()
        assert machine.state is state
    else:
        assert machine.state_complete().value == expected


def test_invalid_transition_message_names_command_state_and_accepted_commands() -> None:
    machine = PackmlMachine(FakeClock(), initial=State.HELD)
    with pytest.raises(InvalidTransition) as info:
        machine.command(Command.START)
    assert str(info.value) == ("command Start is not valid in state Held; it accepts: Stop, Unhold, Abort")
    assert info.value.allowed == [Command.STOP, Command.UNHOLD, Command.ABORT]


def test_aborted_is_left_only_through_clearing_to_stopped() -> None:
    machine = PackmlMachine(FakeClock(), initial=State.EXECUTE)
    machine.command(Command.ABORT)
    machine.state_complete()
    assert machine.allowed_commands() == [Command.CLEAR]
    machine.command(Command.CLEAR)
    assert machine.state_complete() is State.STOPPED


def test_full_production_cycle_with_hold_and_suspend() -> None:
    machine = PackmlMachine(FakeClock())
    steps = [
        (Command.RESET, State.RESETTING),
        (None, State.IDLE),
        (Command.START, State.STARTING),
        (None, State.EXECUTE),
        (Command.HOLD, State.HOLDING),
        (None, State.HELD),
        (Command.UNHOLD, State.UNHOLDING),
        (None, State.EXECUTE),
        (Command.SUSPEND, State.SUSPENDING),
        (None, State.SUSPENDED),
        (Command.UNSUSPEND, State.UNSUSPENDING),
        (None, State.EXECUTE),
        (None, State.COMPLETING),
        (None, State.COMPLETE),
        (Command.RESET, State.RESETTING),
    ]
    for command, expected in steps:
        got = machine.state_complete() if command is None else machine.command(command)
        assert got is expected


def test_listeners_get_every_change_in_order() -> None:
    machine = PackmlMachine(FakeClock())
    seen: list[tuple[State, State]] = []
    machine.add_listener(lambda old, new: seen.append((old, new)))
    machine.command(Command.RESET)
    machine.state_complete()
    with pytest.raises(InvalidTransition):
        machine.command(Command.CLEAR)
    assert seen == [(State.STOPPED, State.RESETTING), (State.RESETTING, State.IDLE)]


def test_a_failing_listener_neither_undoes_the_change_nor_starves_others() -> None:
    machine = PackmlMachine(FakeClock())
    seen: list[State] = []

    def broken(old: State, new: State) -> None:
        raise RuntimeError("listener bug")

    machine.add_listener(broken)
    machine.add_listener(lambda old, new: seen.append(new))
    assert machine.command(Command.RESET) is State.RESETTING
    assert machine.state is State.RESETTING
    assert seen == [State.RESETTING]


def test_listener_may_read_the_state() -> None:
    machine = PackmlMachine(FakeClock())
    seen: list[State] = []
    machine.add_listener(lambda old, new: seen.append(machine.state))
    machine.command(Command.RESET)
    assert seen == [State.RESETTING]


def test_entry_counts_every_change_and_tells_apart_two_stays_in_the_same_state() -> None:
    machine = PackmlMachine(FakeClock())
    assert machine.entry == 0
    machine.command(Command.RESET)
    first = machine.entry
    machine.command(Command.STOP)
    machine.state_complete()  # Stopped
    machine.command(Command.RESET)
    assert machine.state is State.RESETTING
    assert machine.entry == first + 3


def test_entry_is_unchanged_by_a_rejected_command_or_state_complete() -> None:
    machine = PackmlMachine(FakeClock())
    with pytest.raises(InvalidTransition):
        machine.command(Command.START)
    with pytest.raises(InvalidTransition):
        machine.state_complete()
    assert machine.entry == 0


def test_listeners_see_the_entry_of_the_new_state() -> None:
    machine = PackmlMachine(FakeClock())
    seen: list[tuple[State, int]] = []
    machine.add_listener(lambda old, new: seen.append((machine.state, machine.entry)))
    machine.command(Command.RESET)
    machine.state_complete()
    assert seen == [(State.RESETTING, 1), (State.IDLE, 2)]


def test_state_times_accumulate_on_the_given_clock() -> None:
    clock = FakeClock()
    machine = PackmlMachine(clock)
    clock.now = 2.0
    machine.command(Command.RESET)
    clock.now = 2.5
    machine.state_complete()  # Idle
    clock.now = 4.0
    machine.command(Command.STOP)
    clock.now = 4.25
    machine.state_complete()  # Stopped again
    clock.now = 5.0
    machine.command(Command.RESET)
    clock.now = 5.5

    times = machine.state_times()
    assert set(times) == {s.value for s in State}
    assert times["Stopped"] == pytest.approx(2.0 + 0.75)
    assert times["Resetting"] == pytest.approx(0.5 + 0.5)  # includes the current stay
    assert times["Idle"] == pytest.approx(1.5)
    assert times["Stopping"] == pytest.approx(0.25)
    assert times["Execute"] == 0.0


def test_state_times_count_from_construction() -> None:
    clock = FakeClock()
    clock.now = 100.0
    machine = PackmlMachine(clock, initial=State.IDLE)
    clock.now = 103.0
    assert machine.state_times()["Idle"] == pytest.approx(3.0)


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_proto_state_round_trip(state: State) -> None:
    value = to_proto_state(state)
    assert value == packml_pb2.PackmlState.Value("PACKML_STATE_" + state.value.upper())
    assert from_proto_state(value) is state


@pytest.mark.parametrize("command", list(Command), ids=lambda c: c.value)
def test_proto_commands_map_by_name(command: Command) -> None:
    value = packml_pb2.PackmlCommand.Value("PACKML_COMMAND_" + command.value.upper())
    assert from_proto_command(value) is command


def test_proto_estop_maps_to_none() -> None:
    assert from_proto_command(packml_pb2.PACKML_COMMAND_ESTOP) is None


@pytest.mark.parametrize("value", [packml_pb2.PACKML_COMMAND_UNSPECIFIED, 999])
def test_proto_command_unspecified_or_unknown_is_rejected(value: int) -> None:
    with pytest.raises(ValueError, match="PackmlCommand"):
        from_proto_command(value)


@pytest.mark.parametrize("value", [packml_pb2.PACKML_STATE_UNSPECIFIED, 999])
def test_proto_state_unspecified_or_unknown_is_rejected(value: int) -> None:
    with pytest.raises(ValueError, match="PackmlState"):
        from_proto_state(value)
