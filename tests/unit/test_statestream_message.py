"""`StateMessage` and `decode` without sockets (the wire side: tests/integration/test_statebus.py)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from cellwright.api.statestream import HEADER, StateMessage, decode
from cellwright.v1 import state_pb2


def cell_state() -> state_pb2.CellState:
    return state_pb2.CellState(cell_id="c1", busy=True, task_id="t-7", clock_s=12.5)


def wire(topic: str, seq: int, payload: bytes) -> list[bytes]:
    return [topic.encode(), HEADER.pack(seq, 2_500_000_000, 7), payload]


def test_a_constructed_message_keeps_the_payload_it_was_given() -> None:
    state = cell_state()
    message = StateMessage("cell/c1/state", 4, 2.5, 7, state)
    assert message.payload is state
    assert StateMessage("cell/c1/camera/top", 1, 0.0, 0, b"\x89PNG").payload == b"\x89PNG"


def test_a_message_is_frozen_and_compares_by_its_fields() -> None:
    message = StateMessage("cell/c1/state", 4, 2.5, 7, cell_state())
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.payload = b""  # type: ignore[misc]
    assert message == StateMessage("cell/c1/state", 4, 2.5, 7, cell_state())
    assert message != dataclasses.replace(message, gap=True)
    assert [f.name for f in dataclasses.fields(StateMessage)] == [
        "topic", "seq", "sim_time_s", "wall_time_ns", "payload", "gap",
    ]


def test_the_payload_is_a_required_argument() -> None:
    with pytest.raises(TypeError, match="payload"):
        StateMessage("cell/c1/state", 4, 2.5, 7)  # type: ignore[call-arg]


def test_decode_parses_the_payload_at_once() -> None:
    message = decode(wire("cell/c1/state", 4, cell_state().SerializeToString()))
    assert message == StateMessage("cell/c1/state", 4, 2.5, 7, cell_state())
    assert pickle.loads(pickle.dumps(message)) == message


def test_decode_names_the_topic_seq_and_type_of_a_payload_that_does_not_parse() -> None:
    with pytest.raises(ValueError, match=r"payload of #4 on 'cell/c1/robot/arm' is not a RobotState \(2 bytes"):
        decode(wire("cell/c1/robot/arm", 4, b"\xff\xff"))
