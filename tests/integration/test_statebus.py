"""The ZeroMQ state stream over real loopback sockets (docs/state-stream.md)."""

from __future__ import annotations

import dataclasses
import io
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import pytest
import zmq

from cellwright.api.statestream import (
    DEFAULT_BUFFER_BYTES,
    DEFAULT_HWM,
    HEADER,
    GapDetector,
    StateMessage,
    StatePublisher,
    StateSubscriber,
    cell_topic,
    decode,
    robot_topic,
)
from cellwright.app.state_tail import format_message, tail
from cellwright.v1 import packml_pb2, state_pb2

RECV_MS = 2000
SYNC_MS = 10
SYNC_ATTEMPTS = 1000


def robot_state() -> state_pb2.RobotState:
    """A single-arm robot's state as a cell publishes it: chain `arm`, its tool frame and
    gripper, and the deprecated single-chain fields mirroring them (for 0.1 readers)."""
    joints = [f"joint_{i}" for i in range(1, 8)]
    position = [0.1 * i for i in range(7)]
    state = state_pb2.RobotState(
        cell_id="c1",
        robot="arm",
        chains=[
            state_pb2.JointChain(
                name="arm", joint_names=joints, position_rad=position,
                velocity_rad_s=[0.0] * 7, effort_nm=[1.5] * 7,
            )
        ],
        grippers=[state_pb2.GripperState(name="gripper", width_m=0.08, holding=True)],
        stamp_s=1.25,
        registry_id="mock.panda",
        driver="mock",
        joint_names=joints,
        position_rad=position,
        velocity_rad_s=[0.0] * 7,
        effort_nm=[1.5] * 7,
        gripper_width_m=0.08,
        gripper_holding=True,
    )
    tool = state.frames.add(name="arm/tool0").pose
    tool.position_m.x = 0.4
    tool.position_m.z = 0.3
    tool.orientation.w = 1.0
    state.tool_pose.CopyFrom(tool)
    return state


def cell_state() -> state_pb2.CellState:
    return state_pb2.CellState(
        cell_id="c1",
        packml_state=packml_pb2.PACKML_STATE_EXECUTE,
        busy=True,
        task_id="t-7",
        clock_s=12.5,
    )


def until_received(send: Callable[[], object], subscriber: StateSubscriber) -> StateMessage:
    """Send repeatedly until the subscriber gets something (ZeroMQ slow joiner)."""
    for _ in range(SYNC_ATTEMPTS):
        send()
        message = subscriber.recv(SYNC_MS)
        if message is not None:
            return message
    raise AssertionError("subscriber never received anything")


def recv(subscriber: StateSubscriber) -> StateMessage:
    message = subscriber.recv(RECV_MS)
    assert message is not None, "timed out"
    return message


def drain(subscriber: StateSubscriber) -> None:
    while subscriber.recv(0) is not None:
        pass


def frames(topic: str, seq: int, payload: bytes = b"", sim_time_ns: int = 0) -> list[bytes]:
    return [topic.encode(), HEADER.pack(seq, sim_time_ns, 0), payload]


@pytest.fixture
def publisher() -> Iterator[StatePublisher]:
    with StatePublisher() as pub:
        yield pub


@pytest.fixture
def raw_publisher() -> Iterator[tuple[zmq.Socket[bytes], str]]:
    """A bare PUB socket, to put arbitrary frames on the wire."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    socket = context.socket(zmq.PUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind("tcp://127.0.0.1:0")
    try:
        yield socket, socket.getsockopt_string(zmq.LAST_ENDPOINT)
    finally:
        socket.close()
        context.term()


def test_publisher_resolves_the_bound_port(publisher: StatePublisher) -> None:
    assert publisher.endpoint.startswith("tcp://127.0.0.1:")
    assert not publisher.endpoint.endswith(":0")


def test_robot_state_round_trip(publisher: StatePublisher) -> None:
    topic = robot_topic("c1", "arm")
    with StateSubscriber(publisher.endpoint) as sub:
        until_received(lambda: publisher.publish(topic, robot_state(), 0.0), sub)
        drain(sub)
        before = time.time_ns()
        seq = publisher.publish(topic, robot_state(), 1.25)
        after = time.time_ns()
        message = recv(sub)
    assert message.topic == "cell/c1/robot/arm"
    assert message.seq == seq
    assert message.sim_time_s == 1.25
    assert before <= message.wall_time_ns <= after
    assert message.payload == robot_state()
    assert not message.gap


def test_cell_state_round_trip(publisher: StatePublisher) -> None:
    topic = cell_topic("c1")
    with StateSubscriber(publisher.endpoint) as sub:
        until_received(lambda: publisher.publish(topic, cell_state(), 0.0), sub)
        drain(sub)
        publisher.publish(topic, cell_state(), 12.5)
        message = recv(sub)
    assert message.topic == "cell/c1/state"
    assert isinstance(message.payload, state_pb2.CellState)
    assert message.payload == cell_state()
    assert message.sim_time_s == 12.5


def test_sequence_numbers_count_per_topic_from_one(publisher: StatePublisher) -> None:
    arm, cell = robot_topic("c1", "arm"), cell_topic("c1")
    assert publisher.publish(arm, robot_state(), 0.0) == 1
    assert publisher.publish(arm, robot_state(), 0.0) == 2
    assert publisher.publish(cell, cell_state(), 0.0) == 1
    assert publisher.publish(arm, robot_state(), 0.0) == 3
    with StateSubscriber(publisher.endpoint) as sub:
        first = until_received(lambda: publisher.publish(arm, robot_state(), 0.0), sub)
        drain(sub)
        arm_seq = publisher.publish(arm, robot_state(), 0.0)
        cell_seq = publisher.publish(cell, cell_state(), 0.0)
        received = [recv(sub), recv(sub)]
    assert first.seq >= 4
    assert [(m.topic, m.seq, m.gap) for m in received] == [(arm, arm_seq, False), (cell, 2, False)]
    assert cell_seq == 2


def test_gap_detector_flags_lost_messages_and_restarts() -> None:
    gaps = GapDetector()
    observed = [gaps.observe("a", seq) for seq in (7, 8, 10, 11, 1)]
    assert observed == [False, False, True, False, True]
    assert gaps.observe("b", 3) is False  # first on its own topic


def test_subscriber_marks_a_gap_when_messages_are_lost(
    raw_publisher: tuple[zmq.Socket[bytes], str],
) -> None:
    socket, endpoint = raw_publisher
    topic = "cell/c1/state"
    payload = cell_state().SerializeToString()
    with StateSubscriber(endpoint) as sub:
        until_received(lambda: socket.send_multipart(frames(topic, 1, payload)), sub)
        drain(sub)
        for seq in (2, 3, 5, 6):  # 4 is lost
            socket.send_multipart(frames(topic, seq, payload))
        received = [recv(sub) for _ in range(4)]
    assert [(m.seq, m.gap) for m in received] == [(2, False), (3, False), (5, True), (6, False)]
    assert received[2].payload == cell_state()


def test_a_reader_that_falls_behind_sees_a_gap_after_a_bounded_backlog(
    publisher: StatePublisher,
) -> None:
    topic = robot_topic("c1", "arm")
    flood = 20_000  # far more than the default bounds hold
    with StateSubscriber(publisher.endpoint) as sub:
        until_received(lambda: publisher.publish(topic, robot_state(), 0.0), sub)
        drain(sub)
        first = publisher.publish(topic, robot_state(), 0.0)
        for _ in range(flood):  # the subscriber does not read meanwhile; PUB never blocks
            publisher.publish(topic, robot_state(), 0.0)
        backlog = 0  # messages still queued in order from `first`: how far behind the reader is
        for _ in range(flood):  # then it reads while the stream goes on
            publisher.publish(topic, robot_state(), 0.0)
            message = recv(sub)
            if message.gap:
                break
            assert message.seq == first + backlog
            backlog += 1
        else:
            pytest.fail(f"no gap after reading {flood} messages: the queues hide the lag")
    # Both HWMs, plus what the kernel buffers of both ends hold (Linux doubles SO_SNDBUF and
    # SO_RCVBUF), plus 64 KiB for ZeroMQ's I/O batches and one loopback TCP segment. With
    # the old unbounded queues (10,000-message HWMs, autotuned buffers) this was ~35,000.
    frame_bytes = len(topic) + HEADER.size + robot_state().ByteSize()
    kernel_bytes = 4 * DEFAULT_BUFFER_BYTES + 64 * 1024
    assert backlog <= 2 * DEFAULT_HWM + kernel_bytes // frame_bytes
    assert message.seq > first + backlog


def test_age_is_the_time_since_the_publisher_sent_the_message() -> None:
    message = StateMessage("cell/c1/state", 1, 0.0, 1_000_000_000, b"")
    assert message.age_s(now_ns=3_500_000_000) == 2.5
    sent_a_second_ago = dataclasses.replace(message, wall_time_ns=time.time_ns() - 10**9)
    assert sent_a_second_ago.age_s() >= 1.0


def test_topic_prefix_filters_by_cell(publisher: StatePublisher) -> None:
    mine, other = cell_topic("a"), cell_topic("ab")
    with StateSubscriber(publisher.endpoint, "cell/a/") as sub:
        first = until_received(
            lambda: (
                publisher.publish(other, cell_state(), 0.0),
                publisher.publish(mine, cell_state(), 0.0),
            ),
            sub,
        )
        drain(sub)
        for _ in range(3):
            publisher.publish(other, cell_state(), 0.0)
            last = publisher.publish(mine, cell_state(), 0.0)
        received = [recv(sub) for _ in range(3)]
    assert first.topic == mine
    assert {m.topic for m in received} == {mine}
    assert received[-1].seq == last


def test_malformed_message_on_the_wire_raises_and_the_stream_goes_on(
    raw_publisher: tuple[zmq.Socket[bytes], str],
) -> None:
    socket, endpoint = raw_publisher
    topic = "cell/c1/state"
    with StateSubscriber(endpoint) as sub:
        until_received(lambda: socket.send_multipart(frames(topic, 1)), sub)
        drain(sub)
        socket.send_multipart([topic.encode(), b"short", b""])
        socket.send_multipart(frames(topic, 2))
        with pytest.raises(ValueError, match="header must be 24 bytes"):
            sub.recv(RECV_MS)
        assert recv(sub).seq == 2


def test_decode_reads_header_fields() -> None:
    message = decode(frames("cell/c1/robot/arm", 42, robot_state().SerializeToString(), 1_500))
    assert (message.seq, message.sim_time_s, message.gap) == (42, 1.5e-6, False)
    assert message.payload == robot_state()


def test_decode_keeps_unknown_topic_kinds_as_bytes() -> None:
    message = decode(frames("cell/c1/camera/top", 1, b"\x89PNG"))
    assert message.payload == b"\x89PNG"


@pytest.mark.parametrize(
    ("bad_frames", "match"),
    [
        ([b"cell/c1/state", HEADER.pack(1, 0, 0)], "3 frames"),
        ([*frames("cell/c1/state", 1), b""], "3 frames"),
        ([b"cell/c1/state", b"\x00" * 23, b""], "header must be 24 bytes"),
        ([b"cell/c1/state", b"\x00" * 25, b""], "header must be 24 bytes"),
        ([b"cell/\xff/state", HEADER.pack(1, 0, 0), b""], "not UTF-8"),
        (frames("robot/arm", 1), "topic layout"),
        (frames("cell//state", 1), "topic layout"),
        (frames("cell/c1", 1), "topic layout"),
        (frames("cell/c1/robot", 1), "topic layout"),
        (frames("cell/c1/robot/arm/extra", 1), "topic layout"),
        (frames("cell/c1/state/extra", 1), "topic layout"),
        (frames("cell/c1/state", 1, b"\xff\xff\xff"), "not a CellState"),
    ],
)
def test_decode_rejects_malformed_frames(bad_frames: list[bytes], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode(bad_frames)


def test_format_message_shows_joints_tool_gripper_and_packml_state() -> None:
    robot = format_message(StateMessage("cell/c1/robot/arm", 3, 1.5, 0, robot_state()))
    assert robot == (
        "cell/c1/robot/arm #3 t=1.500s q=[0.000, 0.100, 0.200, 0.300, 0.400, 0.500, 0.600]"
        " tool=(0.400, 0.000, 0.300) gripper=0.080m holding"
    )
    cell = format_message(StateMessage("cell/c1/state", 9, 12.5, 0, cell_state()))
    assert cell == "cell/c1/state #9 t=12.500s Execute clock=12.500s busy task=t-7"


def tail_two_while_publishing(socket: zmq.Socket[bytes], endpoint: str,
                              frames_of: Callable[[int], list[bytes]], seqs: Iterable[int]) -> list[str]:
    """`tail` two messages of cell/c1/ while a thread publishes `frames_of(seq)` for each of
    `seqs` every 2 ms; the lines it printed."""
    stop = threading.Event()

    def publish() -> None:
        for seq in seqs:
            if stop.wait(0.002):
                return
            socket.send_multipart(frames_of(seq))

    sender = threading.Thread(target=publish)
    sender.start()
    out = io.StringIO()
    try:
        assert tail(endpoint, "cell/c1/", limit=2, duration_s=60.0, out=out) == 2
    finally:
        stop.set()
        sender.join()
    return out.getvalue().splitlines()


def test_tail_prints_one_line_per_message_and_warns_on_gaps(
    raw_publisher: tuple[zmq.Socket[bytes], str],
) -> None:
    socket, endpoint = raw_publisher
    payload = robot_state().SerializeToString()
    lines = tail_two_while_publishing(socket, endpoint, lambda seq: frames("cell/c1/robot/arm", seq, payload),
                                      itertools.count(1, 2))  # every other seq: gaps
    assert len(lines) == 3
    assert lines[0].startswith("cell/c1/robot/arm #")
    assert lines[1].startswith("WARNING cell/c1/robot/arm: messages lost before #")
    assert lines[1].endswith(" s ago)")
    assert "q=[0.000, 0.100" in lines[2]


def test_tail_stops_after_its_duration_without_messages(publisher: StatePublisher) -> None:
    out = io.StringIO()
    assert tail(publisher.endpoint, duration_s=0.05, out=out) == 0
    assert out.getvalue() == ""


@pytest.fixture
def inproc() -> Iterator[tuple[StatePublisher, StateSubscriber]]:
    """A publisher and a subscriber over inproc in one context, subscription live: what
    `publish` sends is in the subscriber's queue when it returns, so `recv(0)` sees it."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        with (
            StatePublisher("inproc://state-stream", context=context) as pub,
            StateSubscriber(pub.endpoint, context=context) as sub,
        ):
            until_received(lambda: pub.publish(cell_topic("sync"), cell_state(), 0.0), sub)
            drain(sub)
            yield pub, sub
    finally:
        context.term()


def test_recv_zero_takes_every_queued_message_in_order_then_none(
    inproc: tuple[StatePublisher, StateSubscriber],
) -> None:
    publisher, sub = inproc
    arm, cell = robot_topic("c1", "arm"), cell_topic("c1")
    sent = [(arm, publisher.publish(arm, robot_state(), 0.5)) for _ in range(3)]
    sent.append((cell, publisher.publish(cell, cell_state(), 0.5)))
    received = [sub.recv(0) for _ in sent]
    assert [(m.topic, m.seq, m.gap) for m in received if m is not None] == [(t, s, False) for t, s in sent]
    assert received[0] is not None and received[0].payload == robot_state()
    assert sub.recv(0) is None


def test_recv_returns_none_when_nothing_comes_within_its_timeout(
    inproc: tuple[StatePublisher, StateSubscriber],
) -> None:
    _publisher, sub = inproc
    assert sub.recv(0) is None
    assert sub.recv(SYNC_MS) is None


def test_recv_minus_one_waits_until_a_message_comes(inproc: tuple[StatePublisher, StateSubscriber]) -> None:
    publisher, sub = inproc
    topic = cell_topic("c1")
    stop = threading.Event()

    def publish_until_stopped() -> None:
        while not stop.wait(0.01):
            publisher.publish(topic, cell_state(), 0.0)

    sender = threading.Thread(target=publish_until_stopped)
    sender.start()
    try:
        message = sub.recv(-1)
    finally:
        stop.set()
        sender.join()
    assert message is not None
    assert message.topic == topic


def test_a_received_payload_is_parsed_once_and_kept(inproc: tuple[StatePublisher, StateSubscriber]) -> None:
    publisher, sub = inproc
    publisher.publish(robot_topic("c1", "arm"), robot_state(), 0.0)
    message = sub.recv(0)
    assert message is not None
    assert message.payload is message.payload
    assert message.payload == robot_state()
    flagged = dataclasses.replace(message, gap=True)
    assert (flagged.seq, flagged.payload, flagged.gap) == (message.seq, robot_state(), True)
    assert message == dataclasses.replace(message)


def test_a_payload_that_does_not_parse_raises_on_read_with_its_topic_and_seq(
    raw_publisher: tuple[zmq.Socket[bytes], str],
) -> None:
    socket, endpoint = raw_publisher
    topic = "cell/c1/state"
    good = cell_state().SerializeToString()
    with StateSubscriber(endpoint) as sub:
        until_received(lambda: socket.send_multipart(frames(topic, 1, good)), sub)
        drain(sub)
        socket.send_multipart(frames(topic, 2, b"\xff\xff\xff"))
        socket.send_multipart(frames(topic, 3, good))
        malformed = recv(sub)  # frames, topic and header are fine: recv returns it
        following = recv(sub)
    assert malformed.seq == 2
    for _ in range(2):  # and it says so again on every read
        with pytest.raises(ValueError, match=r"payload of #2 on 'cell/c1/state' is not a CellState \(3 bytes"):
            _ = malformed.payload
    assert "payload=<malformed: 3 bytes>" in repr(malformed)
    assert (following.seq, following.gap, following.payload) == (3, False, cell_state())


def test_tail_warns_about_a_payload_that_does_not_parse_and_goes_on(
    raw_publisher: tuple[zmq.Socket[bytes], str],
) -> None:
    socket, endpoint = raw_publisher
    good = cell_state().SerializeToString()
    lines = tail_two_while_publishing(
        socket, endpoint, lambda seq: frames("cell/c1/state", seq, b"\xff\xff\xff" if seq % 2 else good),
        itertools.count(1))
    assert any(line.startswith("WARNING malformed message skipped: payload of #") for line in lines)
    assert sum(line.startswith("cell/c1/state #") for line in lines) == 2
