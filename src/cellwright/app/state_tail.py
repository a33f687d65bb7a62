"""`cellwright state tail`: print a cell's state stream, one line per message."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Callable, Generator
from typing import TextIO

import zmq

from cellwright.api.statestream import StateMessage, StateSubscriber
from cellwright.cells.packml import from_proto_state
from cellwright.v1 import state_pb2

__all__ = ["add_parser", "format_message", "messages", "tail"]

_POLL_MS = 200


def format_message(message: StateMessage) -> str:
    """One concise human line for `message` (without the gap warning)."""
    head = f"{message.topic} #{message.seq} t={message.sim_time_s:.3f}s"
    payload = message.payload
    if isinstance(payload, state_pb2.RobotState):
        joints = ", ".join(f"{q:.3f}" for q in payload.position_rad)
        p = payload.tool_pose.position_m
        line = f"{head} q=[{joints}] tool=({p.x:.3f}, {p.y:.3f}, {p.z:.3f}) gripper={payload.gripper_width_m:.3f}m"
        if payload.gripper_holding:
            line += " holding"
        return line + (" ESTOP" if payload.estopped else "")
    if isinstance(payload, state_pb2.CellState):
        try:
            state = from_proto_state(payload.packml_state).value
        except ValueError:
            state = f"state={payload.packml_state}"
        line = f"{head} {state} clock={payload.clock_s:.3f}s"
        if payload.busy:
            line += f" busy task={payload.task_id or '-'}"
        return line
    if isinstance(payload, bytes):
        return f"{head} <{len(payload)} bytes>"
    return f"{head} {type(payload).__name__}"


def messages(
    endpoint: str,
    topic_prefix: str = "",
    *,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    malformed: Callable[[ValueError], None] | None = None,
) -> Generator[StateMessage, None, None]:
    """The state stream at `endpoint`, message by message, until `duration_s` has passed
    or `stop` is set (seen within `_POLL_MS`). The SUB socket is opened on the first
    `next()` on the calling thread and closed when the iteration ends; close the generator
    (`contextlib.closing`) to leave early.

    Args:
        malformed: told of each malformed message, which is skipped.
    """
    deadline = None if duration_s is None else time.monotonic() + duration_s
    with StateSubscriber(endpoint, topic_prefix) as subscriber:
        while stop is None or not stop.is_set():
            wait_ms = _POLL_MS
            if deadline is not None:
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    return
                wait_ms = min(wait_ms, max(1, int(left_s * 1000)))
            try:
                message = subscriber.recv(wait_ms)
                if message is not None:
                    _ = message.payload  # parsed on first read: a malformed payload is skipped too
            except ValueError as exc:
                if malformed is not None:
                    malformed(exc)
                continue
            if message is not None:
                yield message


def tail(
    endpoint: str,
    topic_prefix: str = "",
    *,
    limit: int | None = None,
    duration_s: float | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Print the state stream at `endpoint` until `limit` messages, `duration_s` or Ctrl-C.

    Lost messages (a sequence gap, with how long ago the message that ends it was sent)
    and malformed messages are printed as WARNING lines.

    Returns:
        The number of messages printed.
    """
    count = 0
    if limit is not None and limit <= 0:
        return count

    def warn(exc: ValueError) -> None:
        print(f"WARNING malformed message skipped: {exc}", file=out)

    try:
        with contextlib.closing(messages(endpoint, topic_prefix, duration_s=duration_s,
                                         malformed=warn)) as stream:
            for message in stream:
                if message.gap:
                    print(
                        f"WARNING {message.topic}: messages lost before #{message.seq};"
                        f" the view was stale until this one (sent {message.age_s():.3f} s ago)",
                        file=out,
                    )
                print(format_message(message), file=out)
                count += 1
                if limit is not None and count >= limit:
                    break
    except KeyboardInterrupt:
        pass
    return count


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `cellwright state tail`."""
    state = sub.add_parser("state", help="the ZeroMQ state stream")
    state_actions = state.add_subparsers(dest="action", required=True)
    parser = state_actions.add_parser("tail", help="print a cell's state stream live")
    parser.add_argument("--endpoint", required=True,
                        help="the cell's state endpoint, e.g. tcp://127.0.0.1:5560 "
                             "(`cellwright cell list` shows it)")
    parser.add_argument("--topic", default="", help="topic prefix, e.g. cell/arm-1/state")
    parser.add_argument("--count", type=int, help="stop after this many messages")
    parser.add_argument("--seconds", type=float, help="stop after this long")
    parser.set_defaults(func=run_tail)


def run_tail(args: argparse.Namespace) -> int:
    print(f"listening to {args.endpoint} (topics: {args.topic or 'all'}); Ctrl-C stops",
          file=sys.stderr, flush=True)
    try:
        tail(args.endpoint, args.topic, limit=args.count, duration_s=args.seconds)
    except zmq.ZMQError as exc:
        print(f"error: --endpoint {args.endpoint!r}: {exc}; give e.g. tcp://127.0.0.1:5560",
              file=sys.stderr)
        return 2
    return 0
