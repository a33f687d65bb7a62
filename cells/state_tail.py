"""`cellwright state tail`: print a cell's state stream, one line per message."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from cells.packml import from_proto_state
from cells.statebus import StateMessage, StateSubscriber
from cellwright.v1 import state_pb2

__all__ = ["format_message", "tail"]

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


def tail(
    endpoint: str,
    topic_prefix: str = "",
    *,
    limit: int | None = None,
    duration_s: float | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Print the state stream at `endpoint` until `limit` messages, `duration_s` or Ctrl-C.

    Lost messages (a sequence gap) and malformed messages are printed as WARNING lines.

    Returns:
        The number of messages printed.
    """
    deadline = None if duration_s is None else time.monotonic() + duration_s
    count = 0
    with StateSubscriber(endpoint, topic_prefix) as subscriber:
        try:
            while limit is None or count < limit:
                wait_ms = _POLL_MS
                if deadline is not None:
                    left_s = deadline - time.monotonic()
                    if left_s <= 0:
                        break
                    wait_ms = min(wait_ms, max(1, int(left_s * 1000)))
                try:
                    message = subscriber.recv(wait_ms)
                except ValueError as exc:
                    print(f"WARNING malformed message skipped: {exc}", file=out)
                    continue
                if message is None:
                    continue
                if message.gap:
                    print(
                        f"WARNING {message.topic}: messages lost before #{message.seq};"
                        " the view was stale until this one",
                        file=out,
                    )
                print(format_message(message), file=out)
                count += 1
        except KeyboardInterrupt:
            pass
    return count
