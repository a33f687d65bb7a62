"""State stream figures: bare pyzmq PUB/SUB against StatePublisher/StateSubscriber.

Sender and receiver run in separate processes (multiprocessing, spawn) on this machine.
Every case sends the same frames: [topic, 24-byte header, serialized RobotState (7 joints)].

- throughput (receive side): a bare pyzmq sender queues N messages at five SUB sockets
  in one receiver process (HWMs unlimited, socket buffers `DEFAULT_BUFFER_BYTES`), one
  per receiver below, while they wait; then the receivers read their copies in turns of
  `CHUNK` messages, the first of each round rotating, until all are read. Rate = messages
  over the wall time spent reading; also CPU time per message (`time.thread_time`). Taking
  turns in one process on the same queued frames puts every receiver through the same
  machine load (2 shared cores here), and reading a full queue measures the receiver, not
  the Python sender, which is slower than a fast receiver. Receivers:
  - bare: `recv_multipart`, unpack the header, decode the topic (no protobuf): the plain
    pyzmq loop of docs/state-stream.md without its parse;
  - bare, frame by frame: the same with `recv(copy=False)` and `Frame.more` per frame,
    which spares pyzmq's RCVMORE query per frame (what StateSubscriber does inside);
  - bare + parse: `bare` that also parses the RobotState;
  - ours, receive only: `StateSubscriber.recv(timeout_ms)`, topic and header read, payload
    not read (it is parsed on first read, so it is never parsed here);
  - ours, payload read: the same, reading `message.payload` (parsed) for every message.
- latency: paced sending at a fixed rate, end to end: bare sender to bare receiver, and
  StatePublisher (serializing each message) to StateSubscriber (payload read); one-way
  latency = receiver's time.time_ns() minus the header's wall_time_ns (same clock).

Prints figures, never asserts. Run from the repository root:

    python -m bench.state_stream [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import queue
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import numpy as np
import zmq
from google.protobuf import __version__ as protobuf_version

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
SETTLE_S = 1.0
"""Throughput: pause between the last message sent and the first read, for the queued
messages to reach the receivers' queues (loopback moves them in well under this)."""
CHUNK = 2_000
"""Throughput: messages a receiver reads in its turn."""

# Senders, then receivers (see the module docstring).
BARE, OURS = "bare", "ours"
BARE_FRAMES, BARE_PARSE, OURS_PAYLOAD = "bare_frames", "bare_parse", "ours_payload"
RECEIVERS = {
    BARE: "bare pyzmq",
    BARE_FRAMES: "bare, frame by frame",
    BARE_PARSE: "bare + parse",
    OURS: "ours, receive only",
    OURS_PAYLOAD: "ours, payload read",
}
RATIOS = (  # (label, receiver, against): like with like first
    ("receive only: ours / bare", OURS, BARE),
    ("payload parsed: ours / bare + parse", OURS_PAYLOAD, BARE_PARSE),
    ("payload read / bare without parse", OURS_PAYLOAD, BARE),
    ("receive only: ours / bare frame by frame", OURS, BARE_FRAMES),
)


@dataclass(frozen=True)
class Config:
    """What one bench run does."""

    messages: int
    rate_hz: float
    latency_s: float
    repeats: int


FULL = Config(messages=100_000, rate_hz=1000.0, latency_s=2.0, repeats=3)
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
    sent: Event,
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
        empty_payload = state_pb2.CellState().SerializeToString()

        def send(topic: str, seq: int) -> None:
            header = HEADER.pack(seq, seq * 1_000_000, time.time_ns())
            socket.send_multipart((topics[topic], header, payload if topic == DATA_TOPIC else empty_payload))

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
    sent.set()
    done.wait(IDLE_TIMEOUT_MS / 1000 + 60)
    close()


def _receiver(impl: str, endpoint: str) -> tuple[Callable[[], tuple[str, int] | None], Callable[[], None]]:
    """A receive function returning (topic, wall_time_ns) or None on idle timeout, and close."""
    if impl in (OURS, OURS_PAYLOAD):
        subscriber = StateSubscriber(endpoint, rcvhwm=0)
        read_payload = impl == OURS_PAYLOAD

        def receive() -> tuple[str, int] | None:  # the loop users write
            message = subscriber.recv(IDLE_TIMEOUT_MS)
            if message is None:
                return None
            if read_payload:
                _ = message.payload
            return message.topic, message.wall_time_ns

        return receive, subscriber.close

    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, 0)
    socket.setsockopt(zmq.RCVBUF, DEFAULT_BUFFER_BYTES)
    socket.setsockopt(zmq.RCVTIMEO, IDLE_TIMEOUT_MS)
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    socket.connect(endpoint)
    unpack = HEADER.unpack
    parse = state_pb2.RobotState.FromString if impl == BARE_PARSE else None

    def receive_multipart() -> tuple[str, int] | None:
        try:
            topic, header, payload = socket.recv_multipart()
        except zmq.Again:
            return None
        _seq, _sim_time_ns, wall_time_ns = unpack(header)
        topic_text = topic.decode()
        if parse is not None and topic_text == DATA_TOPIC:
            parse(payload)
        return topic_text, wall_time_ns

    def receive_frames() -> tuple[str, int] | None:
        try:
            frame = socket.recv(copy=False)
        except zmq.Again:
            return None
        frames = [frame.bytes]
        while frame.more:
            frame = socket.recv(copy=False)
            frames.append(frame.bytes)
        topic, header, _payload = frames
        _seq, _sim_time_ns, wall_time_ns = unpack(header)
        return topic.decode(), wall_time_ns

    def close() -> None:
        socket.close()
        context.term()

    return receive_frames if impl == BARE_FRAMES else receive_multipart, close


def _drain(
    endpoint: str,
    ready: Event,
    sent: Event,
    done: Event,
    results: Queue[dict[str, Any]],
) -> None:
    """Receiver process for throughput: every receiver's socket waits while the sender
    queues; then they read in rotating turns of `CHUNK` until each has read END."""
    receivers = {impl: _receiver(impl, endpoint) for impl in RECEIVERS}
    for receive, _close in receivers.values():  # each hears the warm-up before the data
        while (got := receive()) is not None and got[0] != WARMUP_TOPIC:
            pass
    ready.set()
    sent.wait(120)
    time.sleep(SETTLE_S)
    count = dict.fromkeys(RECEIVERS, 0)
    wall_s = dict.fromkeys(RECEIVERS, 0.0)
    cpu_s = dict.fromkeys(RECEIVERS, 0.0)
    for impl, (receive, _close) in receivers.items():  # leftover warm-ups, untimed
        while (got := receive()) is not None and got[0] != DATA_TOPIC:
            pass
        count[impl] = 1
    reading = list(RECEIVERS)
    turn = 0
    while reading:
        for impl in reading[turn % len(reading) :] + reading[: turn % len(reading)]:
            receive = receivers[impl][0]
            n = 0
            start, start_cpu = time.perf_counter(), time.thread_time()
            while n < CHUNK:
                got = receive()
                if got is None or got[0] == END_TOPIC:
                    reading.remove(impl)
                    break
                n += 1
            wall_s[impl] += time.perf_counter() - start
            cpu_s[impl] += time.thread_time() - start_cpu
            count[impl] += n
        turn += 1
    done.set()
    for _receive, close in receivers.values():
        close()
    results.put(
        {
            impl: {
                "received": count[impl],
                "rate_msg_s": count[impl] / wall_s[impl] if wall_s[impl] else 0.0,
                "cpu_us_msg": cpu_s[impl] / count[impl] * 1e6 if count[impl] else float("nan"),
            }
            for impl in RECEIVERS
        }
    )


def _receive(
    endpoint: str,
    impl: str,
    ready: Event,
    done: Event,
    results: Queue[dict[str, Any]],
) -> None:
    """Receiver process for latency: one-way latency of each data message until END."""
    receive, close = _receiver(impl, endpoint)
    latencies_ns: list[int] = []
    while (got := receive()) is not None:
        topic, wall_time_ns = got
        now_ns = time.time_ns()
        if topic == WARMUP_TOPIC:
            ready.set()
            continue
        if topic == END_TOPIC:
            break
        latencies_ns.append(now_ns - wall_time_ns)
    done.set()
    close()
    lat_us = np.asarray(latencies_ns, dtype=np.float64) / 1e3
    count = len(latencies_ns)
    results.put(
        {
            "received": count,
            "latency_p50_us": float(np.percentile(lat_us, 50)) if count else float("nan"),
            "latency_p99_us": float(np.percentile(lat_us, 99)) if count else float("nan"),
        }
    )


def _run_processes(
    sender: str, messages: int, rate_hz: float | None, receiver: Callable[..., None], receiver_args: tuple[Any, ...]
) -> dict[str, Any]:
    """Start the sender, then `receiver(endpoint, *receiver_args, ready, [sent,] done,
    results)` (`sent` when unpaced) in fresh processes; the receiver's result, or an error."""
    ctx = mp.get_context("spawn")
    endpoints: Queue[str] = ctx.Queue()
    results: Queue[dict[str, Any]] = ctx.Queue()
    ready, sent, done = ctx.Event(), ctx.Event(), ctx.Event()
    send = ctx.Process(target=_send, args=(sender, messages, rate_hz, endpoints, ready, sent, done))
    send.start()
    receive = None
    try:
        endpoint = endpoints.get(timeout=30)
        events = (ready, done) if rate_hz is not None else (ready, sent, done)
        receive = ctx.Process(target=receiver, args=(endpoint, *receiver_args, *events, results))
        receive.start()
        result: dict[str, Any] = results.get(timeout=300)
    except queue.Empty:
        result = {"error": "timed out"}
    for process in (send, receive):
        if process is not None:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()
    return result


def run_throughput(messages: int) -> dict[str, dict[str, float]]:
    """Every receiver's rate and CPU time per message on the same `messages` queued frames."""
    result = _run_processes(BARE, messages, None, _drain, ())
    nan = {"rate_msg_s": float("nan"), "cpu_us_msg": float("nan"), "received": 0}
    return {
        impl: {**(figures := result.get(impl, nan)), "dropped": messages - figures["received"]}
        for impl in RECEIVERS
    }


def run_latency(sender: str, receiver: str, messages: int, rate_hz: float) -> dict[str, Any]:
    """One-way latency percentiles of `messages` paced at `rate_hz`, sender to receiver."""
    result = _run_processes(sender, messages, rate_hz, _receive, (receiver,))
    result["dropped"] = messages - result.get("received", 0)
    return result


def run(config: Config) -> dict[str, Any]:
    """Receive throughput of every receiver and paced latency end to end, `repeats` times,
    interleaved. Each figure is the median over the repeats; every run is kept under "runs"."""
    latency_messages = int(config.rate_hz * config.latency_s)
    throughput: dict[str, list[dict[str, float]]] = {impl: [] for impl in RECEIVERS}
    latency: dict[str, list[dict[str, float]]] = {BARE: [], OURS: []}
    load: list[float] = []
    for _ in range(config.repeats):
        load.append(os.getloadavg()[0])
        for impl, figures in run_throughput(config.messages).items():
            throughput[impl].append(figures)
        for impl, receiver in ((BARE, BARE), (OURS, OURS_PAYLOAD)):
            result = run_latency(impl, receiver, latency_messages, config.rate_hz)
            latency[impl].append(
                {
                    "latency_p50_us": result.get("latency_p50_us", float("nan")),
                    "latency_p99_us": result.get("latency_p99_us", float("nan")),
                    "dropped": result["dropped"],
                }
            )

    def medians(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
        return {impl: {key: float(np.median([r[key] for r in rs])) for key in rs[0]} for impl, rs in runs.items()}

    ratios = {
        label: [ours["rate_msg_s"] / bare["rate_msg_s"] if bare["rate_msg_s"] else float("nan")
                for ours, bare in zip(throughput[impl], throughput[against], strict=True)]
        for label, impl, against in RATIOS
    }
    return {
        "config": asdict(config),
        "chunk": CHUNK,
        "settle_s": SETTLE_S,
        "payload_bytes": robot_state().ByteSize(),
        "frame_bytes": len(DATA_TOPIC) + HEADER.size + robot_state().ByteSize(),
        "machine": {
            "python": platform.python_version(),
            "pyzmq": zmq.__version__,
            "libzmq": zmq.zmq_version(),
            "protobuf": protobuf_version,
            "platform": platform.platform(),
            "cpus": mp.cpu_count(),
            "load_avg_1min": load,
        },
        "throughput": medians(throughput),
        "latency": medians(latency),
        "ratios": ratios,
        "runs": {"throughput": throughput, "latency": latency},
    }


def _table(report: dict[str, Any]) -> str:
    config, machine = report["config"], report["machine"]
    throughput, latency = report["throughput"], report["latency"]
    lines = [
        f"state stream: {report['payload_bytes']} B RobotState payload ({report['frame_bytes']} B in 3"
        f" frames); median of {config['repeats']} runs; {machine['cpus']} CPUs, 1-min load"
        f" {', '.join(f'{x:.1f}' for x in machine['load_avg_1min'])} at each run's start;"
        f" pyzmq {machine['pyzmq']}, libzmq {machine['libzmq']}, protobuf {machine['protobuf']}",
        f"receive throughput: {config['messages']:,} msgs queued by a bare sender at every receiver,"
        f" then read in turns of {report['chunk']:,} (HWMs unlimited, socket buffers"
        f" {DEFAULT_BUFFER_BYTES // 1024} KiB)",
        f"{'':32} {'msg/s':>10} {'CPU us/msg':>11} {'dropped':>8}",
    ]
    for impl, label in RECEIVERS.items():
        row = throughput[impl]
        lines.append(f"{label:32} {row['rate_msg_s']:>10,.0f} {row['cpu_us_msg']:>11.2f} {row['dropped']:>8.0f}")
    lines.append(f"{'rate ratios':42} {'median':>7}  runs")
    for label, values in report["ratios"].items():
        runs = " ".join(f"{v:.2f}" for v in values)
        lines.append(f"{label:42} {float(np.median(values)):>7.2f}  {runs}")
    lines += [
        f"latency end to end @ {config['rate_hz']:.0f} Hz x {config['latency_s']:g} s"
        " (ours: StatePublisher -> StateSubscriber, payload read)",
        f"{'':32} {'bare pyzmq':>12} {'ours':>12} {'ours/bare':>10}",
    ]
    for label, key in (("latency p50 (us)", "latency_p50_us"), ("latency p99 (us)", "latency_p99_us")):
        a, b = latency[BARE][key], latency[OURS][key]
        lines.append(f"{label:32} {a:>12.1f} {b:>12.1f} {b / a if a else float('nan'):>10.2f}")
    lines.append(f"{'  dropped':32} {latency[BARE]['dropped']:>12.0f} {latency[OURS]['dropped']:>12.0f}")
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
