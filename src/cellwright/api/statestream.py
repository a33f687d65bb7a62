"""The ZeroMQ state stream of a cell, wrapped once (docs/state-stream.md is the contract).

Every message is three frames::

    [topic (UTF-8), header (24 bytes, little-endian "<Qqq"), payload (protobuf)]

    header: seq u64 (per topic, from 1) | sim_time_ns i64 (cell clock) | wall_time_ns i64 (unix)

Topics and payloads:

    cell/<cell_id>/robot/<robot_name>   cellwright.v1.RobotState
    cell/<cell_id>/state                cellwright.v1.CellState
    cell/<cell_id>/<other kind>/...     left as bytes (kinds added later)

Every payload is a complete state for its topic, never a delta. Queues are bounded on both
ends (`DEFAULT_HWM`, `DEFAULT_BUFFER_BYTES`): a reader that falls behind loses messages and
sees a sequence gap instead of reading ever older state.

`StateSubscriber.recv` checks the frames, topic and header of each message at once and
parses its payload on the first read of `StateMessage.payload`: a reader that skips some
topics, or keeps only the newest message of each, does not pay for the parses it drops.
"""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

import zmq
from google.protobuf.message import DecodeError, Message

from cellwright.v1 import state_pb2

__all__ = [
    "DEFAULT_BUFFER_BYTES",
    "DEFAULT_HWM",
    "HEADER",
    "GapDetector",
    "StateMessage",
    "StatePublisher",
    "StateSubscriber",
    "cell_topic",
    "decode",
    "robot_topic",
]

HEADER = struct.Struct("<Qqq")
"""The header frame: seq, sim_time_ns, wall_time_ns (24 bytes, little-endian)."""
_pack_header = HEADER.pack

DEFAULT_HWM = 500
"""Messages queued per subscriber on each end (SNDHWM, RCVHWM) before new ones are dropped:
about 0.1 s of the fastest stream (120 Hz x 4 topics at 10x real time), 1 s at real time."""
DEFAULT_BUFFER_BYTES = 64 * 1024
"""Kernel TCP buffer per connection on each end (SO_SNDBUF, SO_RCVBUF; Linux doubles it).
Left to the OS, autotuning grows them to megabytes: thousands more hidden messages."""


def robot_topic(cell_id: str, robot_name: str) -> str:
    """The topic of a robot's `RobotState`."""
    return f"cell/{cell_id}/robot/{robot_name}"


def cell_topic(cell_id: str) -> str:
    """The topic of a cell's `CellState`."""
    return f"cell/{cell_id}/state"


class _Payload:
    """`StateMessage.payload`: the value given to the constructor, or, for a message from
    `StateSubscriber.recv`, parsed from the wire bytes on its first read and then kept."""

    @overload
    def __get__(self, message: None, owner: type[StateMessage]) -> _Payload: ...

    @overload
    def __get__(self, message: StateMessage, owner: type[StateMessage] | None = None) -> Message | bytes: ...

    def __get__(
        self, message: StateMessage | None, owner: type[StateMessage] | None = None
    ) -> Message | bytes | _Payload:
        if message is None:
            raise AttributeError("payload")  # no class-level default: a required field
        values = message.__dict__
        wire = values.get("_wire")
        if wire is not None:
            raw, message_type = wire
            try:
                values["_payload"] = message_type.FromString(raw)
            except DecodeError as exc:
                raise ValueError(
                    f"payload of #{message.seq} on {message.topic!r} is not a {message_type.__name__}"
                    f" ({len(raw)} bytes: {exc}); its publisher must send a serialized"
                    f" {message_type.DESCRIPTOR.full_name} on this topic (docs/state-stream.md,"
                    " Topics and payloads)"
                ) from exc
            del values["_wire"]
        payload: Message | bytes = values["_payload"]
        return payload

    def __set__(self, message: StateMessage, payload: Message | bytes) -> None:
        message.__dict__["_payload"] = payload


@dataclasses.dataclass(frozen=True, repr=False)
class StateMessage:
    """One message of the state stream.

    Attributes:
        topic: `cell/<cell_id>/...`.
        seq: Sequence number of this message on its topic, from 1.
        sim_time_s: The cell's clock when the state was sampled (simulation time in sim).
        wall_time_ns: Unix time at the publisher when sent, nanoseconds.
        payload: `RobotState` or `CellState` by topic; raw bytes for other topic kinds.
            Received messages parse it on first read (then keep it); a payload that does
            not parse raises `ValueError` there, naming the topic, seq and expected type.
        gap: True when messages on this topic were lost before this one (its seq is not
            the previous one + 1), or the publisher restarted. The subscriber's view of
            the topic was stale until this message, which, being a full state, repairs it.
    """

    topic: str
    seq: int
    sim_time_s: float
    wall_time_ns: int
    payload: _Payload = _Payload()
    gap: bool = False

    def age_s(self, now_ns: int | None = None) -> float:
        """Seconds from when this message was sent until `now_ns` (Unix ns, default now).

        Right after `recv` this is how far the reader is behind the stream; later it is how
        old the reader's view of the topic is. It compares the publisher's clock with this
        host's: meaningful on one host or with synchronized clocks (NTP, PTP).
        """
        return ((time.time_ns() if now_ns is None else now_ns) - self.wall_time_ns) / 1e9

    def __repr__(self) -> str:
        try:
            payload = repr(self.payload)
        except ValueError:
            payload = f"<malformed: {len(self.__dict__['_wire'][0])} bytes>"
        return (
            f"StateMessage(topic={self.topic!r}, seq={self.seq!r}, sim_time_s={self.sim_time_s!r},"
            f" wall_time_ns={self.wall_time_ns!r}, payload={payload}, gap={self.gap!r})"
        )


_PAYLOAD_TYPES: dict[str, tuple[int, type[Message]]] = {
    # kind -> (number of topic segments, payload message type)
    "robot": (4, state_pb2.RobotState),
    "state": (3, state_pb2.CellState),
}
_TOPIC_CACHE_SIZE = 1024
"""Checked topics a subscriber remembers (a cell has a handful); forgotten all at once when full."""

_new_message = object.__new__
_unpack_header = HEADER.unpack


def _check_topic(raw_topic: bytes) -> tuple[str, type[Message] | None]:
    """The topic as text and the payload type its kind calls for (None: kept as bytes)."""
    try:
        topic = raw_topic.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"topic is not UTF-8: {raw_topic!r}") from exc
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != "cell" or not all(parts[1:]):
        raise ValueError(f"unknown topic layout {topic!r}: expected cell/<cell_id>/<kind>[/...]")
    known = _PAYLOAD_TYPES.get(parts[2])
    if known is None:
        return topic, None
    segments, message_type = known
    if len(parts) != segments:
        raise ValueError(f"unknown topic layout {topic!r}: {parts[2]!r} needs {segments} segments")
    return topic, message_type


def _message(
    frames: Sequence[bytes], topics: dict[bytes, tuple[str, type[Message] | None]], gaps: GapDetector | None
) -> StateMessage:
    """The message in `frames`, its payload left to parse on first read; `topics` caches
    checked topics, `gaps` (if given) sets `gap`.

    Built without the dataclass's frozen `__init__` (one `object.__setattr__` per field,
    about as dear as reading the three frames): the fields go straight into `__dict__`.
    """
    if len(frames) != 3:
        raise ValueError(f"state message must have 3 frames, got {len(frames)}")
    raw_topic, header, payload = frames
    if len(header) != HEADER.size:
        raise ValueError(f"header must be {HEADER.size} bytes, got {len(header)}")
    checked = topics.get(raw_topic)
    if checked is None:
        checked = _check_topic(raw_topic)
        if len(topics) >= _TOPIC_CACHE_SIZE:
            topics.clear()
        topics[raw_topic] = checked
    topic, message_type = checked
    seq, sim_time_ns, wall_time_ns = _unpack_header(header)
    message = _new_message(StateMessage)
    values = message.__dict__
    values["topic"] = topic
    values["seq"] = seq
    values["sim_time_s"] = sim_time_ns / 1e9
    values["wall_time_ns"] = wall_time_ns
    if message_type is None:
        values["_payload"] = payload
    else:
        values["_wire"] = (payload, message_type)
    values["gap"] = gaps is not None and gaps.observe(topic, seq)
    return message


def decode(frames: Sequence[bytes]) -> StateMessage:
    """Decode the frames of one message, payload included (pure; `gap` is always False here).

    Raises:
        ValueError: Not 3 frames, a header that is not 24 bytes, a topic that is not
            UTF-8 or not laid out as `cell/<cell_id>/<kind>[/...]` (with the segment
            count its kind requires), or a payload that does not parse.
    """
    message = _message([bytes(frame) for frame in frames], {}, None)
    _ = message.payload  # parse now: decode() raises for every malformed part
    return message


class GapDetector:
    """Tracks the last sequence number per topic and tells when messages were lost."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def observe(self, topic: str, seq: int) -> bool:
        """Record `seq` for `topic`; True if it is not the previous seq + 1.

        The first message seen on a topic is never a gap: a late joiner has no view yet.
        """
        last = self._last.get(topic)
        self._last[topic] = seq
        return last is not None and seq != last + 1


_SocketT = TypeVar("_SocketT", bound="_Socket")


class _Socket:
    """One ZeroMQ socket with LINGER 0, in a context of its own unless one is given."""

    def __init__(
        self,
        socket_type: int,
        endpoint: str,
        context: zmq.Context[zmq.Socket[bytes]] | None,
        options: dict[int, int | bytes],
    ) -> None:
        self._own_context = context is None
        self._context: zmq.Context[zmq.Socket[bytes]] = context or zmq.Context()
        self._socket = self._context.socket(socket_type)
        self._socket.setsockopt(zmq.LINGER, 0)
        for option, value in options.items():
            self._socket.setsockopt(option, value)
        try:
            if socket_type == zmq.PUB:
                self._socket.bind(endpoint)
            else:
                self._socket.connect(endpoint)
        except zmq.ZMQError:
            self.close()
            raise

    def close(self) -> None:
        """Close the socket (and the context if it is our own). Idempotent."""
        self._socket.close(linger=0)
        if self._own_context:
            self._context.term()

    def __enter__(self: _SocketT) -> _SocketT:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class StatePublisher(_Socket):
    """Binds a PUB socket and publishes state messages.

    Not thread-safe: use it from one thread (the simulation thread). The publisher never
    blocks: a slow subscriber loses the messages that do not fit its queues.

    Args:
        endpoint: Where to bind; port 0 picks a free port (see `endpoint`).
        context: ZeroMQ context to use; by default one of its own, closed with it.
        sndhwm: Messages queued per subscriber before dropping (0 = unlimited).
        sndbuf: Kernel send buffer per subscriber connection, bytes (-1 = OS default).
    """

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:0",
        *,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        sndhwm: int = DEFAULT_HWM,
        sndbuf: int = DEFAULT_BUFFER_BYTES,
    ) -> None:
        super().__init__(zmq.PUB, endpoint, context, {zmq.SNDHWM: sndhwm, zmq.SNDBUF: sndbuf})
        self._endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._topics: dict[str, list[Any]] = {}  # topic -> [encoded topic, last seq]

    @property
    def endpoint(self) -> str:
        """The endpoint actually bound, with the port resolved (`tcp://127.0.0.1:40123`)."""
        return self._endpoint

    def publish(self, topic: str, payload: Message, sim_time_s: float) -> int:
        """Send `payload` on `topic`, stamped with the cell's clock `sim_time_s`.

        Returns:
            The message's sequence number on its topic.
        """
        entry = self._topics.get(topic)
        if entry is None:
            entry = self._topics[topic] = [topic.encode(), 0]
        seq: int = entry[1] + 1
        entry[1] = seq
        header = _pack_header(seq, round(sim_time_s * 1e9), time.time_ns())
        self._socket.send_multipart((entry[0], header, payload.SerializeToString()))
        return seq


class StateSubscriber(_Socket):
    """Connects a SUB socket to a cell's state stream and decodes what arrives.

    ZeroMQ filters by byte prefix: "cell/a" also matches "cell/ab/...", so end a prefix
    that names one cell with "/". Not thread-safe: use it from one thread.

    Args:
        endpoint: The publisher's endpoint (the cell's `state_endpoint`).
        topic_prefix: Receive only topics starting with this ("" = everything).
        context: ZeroMQ context to use; by default one of its own, closed with it.
        rcvhwm: Messages queued before dropping (0 = unlimited).
        rcvbuf: Kernel receive buffer, bytes (-1 = OS default).
    """

    def __init__(
        self,
        endpoint: str,
        topic_prefix: str = "",
        *,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        rcvhwm: int = DEFAULT_HWM,
        rcvbuf: int = DEFAULT_BUFFER_BYTES,
    ) -> None:
        options: dict[int, int | bytes] = {
            zmq.RCVHWM: rcvhwm,
            zmq.RCVBUF: rcvbuf,
            zmq.SUBSCRIBE: topic_prefix.encode(),
        }
        super().__init__(zmq.SUB, endpoint, context, options)
        self._gaps = GapDetector()
        self._topics: dict[bytes, tuple[str, type[Message] | None]] = {}
        self._recv = self._socket.recv

    def recv(self, timeout_ms: int) -> StateMessage | None:
        """The next message, or None if none arrives within `timeout_ms` (0 = only one
        already queued, -1 waits forever).

        The payload is parsed on the first read of `payload` (see `StateMessage`).

        Raises:
            ValueError: The frames, topic or header are malformed (see `decode`); the next
                call goes on with the next message.
        """
        # A queued message is taken without a poll (pyzmq builds a Poller per poll), frame
        # by frame: a Frame tells `more` itself, where recv_multipart asks the socket for
        # RCVMORE after every frame, the dearest call of a receive.
        try:
            frame = self._recv(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            if timeout_ms == 0 or not self._socket.poll(timeout_ms, zmq.POLLIN):
                return None
            frame = self._recv(zmq.NOBLOCK, copy=False)
        frames = [frame.bytes]
        while frame.more:
            frame = self._recv(copy=False)
            frames.append(frame.bytes)
        return _message(frames, self._topics, self._gaps)
