"""State stream figures: bare pyzmq PUB/SUB against StatePublisher/StateSubscriber.

Sender and receiver run in separate processes (multiprocessing, spawn) on this machine.
Both cases send the same frames: [topic, 24-byte header, serialized RobotState (7 joints)];
ours also serializes the protobuf on every send and parses it on every receive, the bare
case sends fixed bytes and only unpacks the header.

- throughput: N messages as fast as possible, unlimited high-water marks (drops counted,
  never as throughput); rate measured at the receiver from the first to the last data
  message. Both cases use the same kernel socket buffers (our default
  `DEFAULT_BUFFER_BYTES`), so only the Python side differs.
- latency: paced sending at a fixed rate; one-way latency = receiver's time.time_ns() minus
  the header's wall_time_ns (same machine, same clock).

Prints figures, never asserts. Run from the repository root:

    python -m bench.state_stream [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import queue
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import numpy as np
import zmq

from bench import save_json
from cellwright.api.statestream import (
    DEFAULT_BUFFER_BYTES,
    HEADER,
    StatePublisher,
    StateSubscriber,
)
from cellwright.v1 import state_pb2

DATA_TOPIC = "cell/bench/robot/arm"
WARMUP_TOPIC = "cell/bench/warmup"
END_TOPIC = "cell/bench/end"
IDLE_TIMEOUT_MS = 5000
BARE, OURS = "bare", "ours"


@dataclass(frozen=True)
class Config:
    """What one bench run does."""

    messages: int
    rate_hz: float
    latency_s: float
    repeats: int


FULL = Config(messages=200_000, rate_hz=1000.0, latency_s=3.0, repeats=3)
QUICK = Config(messages=20_000, rate_hz=1000.0, latency_s=1.0, repeats=1)


def robot_state() -> state_pb2.RobotState:
    """A realistic 7-joint arm state."""
    state = state_pb2.RobotState(
        cell_id="bench",
        robot="arm",
        joint_names=[f"joint_{i}" for i in range(1, 8)],
        position_rad=[0.1 * i for i in range(7)],
        velocity_rad_s=[0.01 * i for i in range(7)],
        effort_nm=[1.5 * i for i in range(7)],
        gripper_width_m=0.08,
    )
    state.tool_pose.position_m.x, state.tool_pose.position_m.z = 0.4, 0.3
    state.tool_pose.orientation.w = 1.0
    return state


def _pace(start: float, index: int, period_s: float) -> None:
    """Wait until message `index` is due (sleep coarsely, then spin)."""
    due = start + index * period_s
    while (left := due - time.perf_counter()) > 0:
        if left > 0.002:
            time.sleep(left - 0.001)


def _send(
    impl: str,
    messages: int,
    rate_hz: float | None,
    endpoints: Queue[str],
    ready: Event,
    done: Event,
) -> None:
    """Sender process: bind, warm up until the receiver hears us, send, wait for done."""
    payload_message = robot_state()
    if impl == OURS:
        publisher = StatePublisher(sndhwm=0)
        endpoints.put(publisher.endpoint)
        empty = state_pb2.CellState()

        def send(topic: str, seq: int) -> None:
            publisher.publish(topic, payload_message if topic == DATA_TOPIC else empty, seq * 1e-3)

        close = publisher.close
    else:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        socket = context.socket(zmq.PUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SNDHWM, 0)
        socket.setsockopt(zmq.SNDBUF, DEFAULT_BUFFER_BYTES)
        socket.bind("tcp://127.0.0.1:0")
        endpoints.put(socket.getsockopt_string(zmq.LAST_ENDPOINT))
        payload = payload_message.SerializeToString()
        topics = {t: t.encode() for t in (DATA_TOPIC, WARMUP_TOPIC, END_TOPIC)}

        def send(topic: str, seq: int) -> None:
            header = HEADER.pack(seq, seq * 1_000_000, time.time_ns())
            socket.send_multipart((topics[topic], header, payload))

        def close() -> None:
            socket.close()
            context.term()

    seq = 0
    while not ready.wait(0.001):
        seq += 1
        send(WARMUP_TOPIC, seq)
    start = time.perf_counter()
    period_s = 0.0 if rate_hz is None else 1.0 / rate_hz
    for i in range(messages):
        if rate_hz is not None:
            _pace(start, i, period_s)
        send(DATA_TOPIC, i + 1)
    send(END_TOPIC, 1)
    done.wait(IDLE_TIMEOUT_MS / 1000 + 60)
    close()


def _receive(
    impl: str,
    endpoint: str,
    ready: Event,
    done: Event,
    results: Queue[dict[str, Any]],
) -> None:
    """Receiver process: count data messages and their one-way latency until END."""
    latencies_ns: list[int] = []
    count = 0
    first = last = 0.0
    if impl == OURS:
        subscriber = StateSubscriber(endpoint, rcvhwm=0)

        def receive() -> tuple[str, int] | None:
            message = subscriber.recv(IDLE_TIMEOUT_MS)
            return None if message is None else (message.topic, message.wall_time_ns)

        close = subscriber.close
    else:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        socket = context.socket(zmq.SUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVHWM, 0)
        socket.setsockopt(zmq.RCVBUF, DEFAULT_BUFFER_BYTES)
        socket.setsockopt(zmq.RCVTIMEO, IDLE_TIMEOUT_MS)
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        socket.connect(endpoint)

        def receive() -> tuple[str, int] | None:
            try:
                topic, header, _payload = socket.recv_multipart()
            except zmq.Again:
                return None
            _seq, _sim_time_ns, wall_time_ns = HEADER.unpack(header)
            return topic.decode(), wall_time_ns

        def close() -> None:
            socket.close()
            context.term()

    while (got := receive()) is not None:
        topic, wall_time_ns = got
        now_ns = time.time_ns()
        if topic == WARMUP_TOPIC:
            ready.set()
            continue
        if topic == END_TOPIC:
            break
        last = time.perf_counter()
        if count == 0:
            first = last
        count += 1
        latencies_ns.append(now_ns - wall_time_ns)
    done.set()
    close()
    lat_us = np.asarray(latencies_ns, dtype=np.float64) / 1e3
    results.put(
        {
            "received": count,
            "rate_msg_s": (count - 1) / (last - first) if count > 1 and last > first else 0.0,
            "latency_p50_us": float(np.percentile(lat_us, 50)) if count else float("nan"),
            "latency_p99_us": float(np.percentile(lat_us, 99)) if count else float("nan"),
        }
    )


def run_case(impl: str, messages: int, rate_hz: float | None) -> dict[str, Any]:
    """Run one sender/receiver pair in fresh processes and return the receiver's figures."""
    ctx = mp.get_context("spawn")
    endpoints: Queue[str] = ctx.Queue()
    results: Queue[dict[str, Any]] = ctx.Queue()
    ready, done = ctx.Event(), ctx.Event()
    sender = ctx.Process(target=_send, args=(impl, messages, rate_hz, endpoints, ready, done))
    sender.start()
    receiver = None
    try:
        endpoint = endpoints.get(timeout=30)
        receiver = ctx.Process(target=_receive, args=(impl, endpoint, ready, done, results))
        receiver.start()
        result = results.get(timeout=120)
    except queue.Empty:
        result = {"error": "timed out"}
    for process in (sender, receiver):
        if process is not None:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()
    result["sent"] = messages
    result["dropped"] = messages - result.get("received", 0)
    return result


def run(config: Config) -> dict[str, Any]:
    """Throughput and paced latency for bare pyzmq and ours, `repeats` times, interleaved.

    Each figure is the median over the repeats; every run is kept under "runs".
    """
    latency_messages = int(config.rate_hz * config.latency_s)
    runs: dict[str, list[dict[str, Any]]] = {BARE: [], OURS: []}
    for _ in range(config.repeats):
        for impl in (BARE, OURS):
            throughput = run_case(impl, config.messages, None)
            latency = run_case(impl, latency_messages, config.rate_hz)
            runs[impl].append(
                {
                    "throughput_msg_s": throughput.get("rate_msg_s", float("nan")),
                    "throughput_dropped": throughput["dropped"],
                    "latency_p50_us": latency.get("latency_p50_us", float("nan")),
                    "latency_p99_us": latency.get("latency_p99_us", float("nan")),
                    "latency_dropped": latency["dropped"],
                }
            )
    figures = {
        impl: {key: float(np.median([r[key] for r in impl_runs])) for key in impl_runs[0]}
        for impl, impl_runs in runs.items()
    }
    return {
        "config": asdict(config),
        "payload_bytes": robot_state().ByteSize(),
        "frame_bytes": len(DATA_TOPIC) + HEADER.size + robot_state().ByteSize(),
        "machine": {
            "python": platform.python_version(),
            "pyzmq": zmq.__version__,
            "libzmq": zmq.zmq_version(),
            "platform": platform.platform(),
            "cpus": mp.cpu_count(),
        },
        "figures": figures,
        "runs": runs,
    }


def _table(report: dict[str, Any]) -> str:
    bare, ours = report["figures"][BARE], report["figures"][OURS]
    config = report["config"]
    rows = [
        ("throughput (msg/s)", "throughput_msg_s", "{:,.0f}"),
        ("  dropped", "throughput_dropped", "{:.0f}"),
        (f"latency p50 (us) @ {config['rate_hz']:.0f} Hz", "latency_p50_us", "{:.1f}"),
        (f"latency p99 (us) @ {config['rate_hz']:.0f} Hz", "latency_p99_us", "{:.1f}"),
        ("  dropped", "latency_dropped", "{:.0f}"),
    ]
    lines = [
        f"state stream: {report['payload_bytes']} B RobotState payload"
        f" ({report['frame_bytes']} B in 3 frames), {config['messages']:,} msgs for"
        f" throughput, {config['rate_hz']:.0f} Hz x {config['latency_s']:g} s for latency;"
        f" median of {config['repeats']} runs; HWMs unlimited,"
        f" socket buffers {DEFAULT_BUFFER_BYTES // 1024} KiB;"
        f" {report['machine']['cpus']} CPUs, libzmq {report['machine']['libzmq']}",
        f"{'':32} {'bare pyzmq':>14} {'StatePub/Sub':>14} {'ours/bare':>10}",
    ]
    for label, key, fmt in rows:
        a, b = bare[key], ours[key]
        ratio = f"{b / a:.2f}" if not label.startswith(" ") and a else ""
        lines.append(f"{label:32} {fmt.format(a):>14} {fmt.format(b):>14} {ratio:>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short run (a few seconds)")
    parser.add_argument("--json", metavar="PATH", help="also save the figures as JSON")
    args = parser.parse_args(argv)
    report = run(QUICK if args.quick else FULL)
    print(_table(report))
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
