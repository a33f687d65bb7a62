"""Replay figures: WatchJobs from seq 0 to the newest event, against a bare grpc.aio stream.

Processes on this machine:
- the orchestrator (`cellwright orchestrator serve`, started by `cellwright.launch`) on a
  SQLite file filled beforehand: `--template` events of real noop jobs run through the
  engine (submit, dispatch, RUNNING, SUCCEEDED on 8 cells; the snapshots `convert` encodes),
  then those rows copied under new seqs up to `--events` (running 100k events through the
  engine takes minutes; the replay only sees seqs and bytes, so copies cost it the same);
- the bare server (a separate process): the same rows read from the same file, encoded once
  into WatchJobsResponses by protobuf, kept in memory and streamed by a grpc.aio server with
  a generic bytes handler: the ceiling for sending those messages from Python;
- the bench client (this process): one grpc.aio channel per run, reading the stream with the
  generated WatchJobsResponse parser until the newest seq.

Each run times WatchJobs unbatched (one event per response, as before `max_batch`) and with
`max_batch`, and the bare stream of the same messages; runs are interleaved, figures are
medians of `--runs`. Also: the rows read straight from SQLite (in this process, WATCH_BATCH
at a time), for context. Prints figures, never asserts. Run from the repository root:

    python -m bench.replay [--quick] [--events N] [--batch B] [--runs R] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, replace
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import grpc

from bench import save_json
from bench.dispatch import CHANNEL_OPTIONS, Child, machine, serve_bare
from cellwright.app.launch import Process, start_orchestrator
from cellwright.orchestrator import convert
from cellwright.orchestrator.engine import Engine, Submission, TaskReport
from cellwright.orchestrator.model import StoredEvent, TaskState
from cellwright.orchestrator.scheduler import CellOffer
from cellwright.orchestrator.server import WATCH_BATCH
from cellwright.orchestrator.store import Store
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

BARE_METHOD = "/bench.Replay/Replay"
CELLS = 8


@dataclass(frozen=True)
class Config:
    """What one bench run does."""

    events: int
    template: int
    batch: int
    runs: int


FULL = Config(events=100_000, template=2_000, batch=256, runs=3)
QUICK = Config(events=10_000, template=1_000, batch=256, runs=3)


# --- the store ------------------------------------------------------------------------
def fill(path: Path, config: Config) -> tuple[int, float]:
    """`config.template` events of noop jobs through the engine, then copies up to
    `config.events`; returns the newest seq and the snapshots' mean size in bytes."""
    store = Store(path)
    try:
        engine = Engine(store, encode_job=convert.encode_job, on_event=lambda _: None)
        engine.workflows.put_folders([])
        cells = [CellOffer(f"bench-{i}", "boot", frozenset({"noop"})) for i in range(CELLS)]
        jobs = 0
        while store.newest_seq() < config.template:
            subs = [Submission(f"replay-{jobs + i}", "noop", {"duration_s": 0}) for i in range(CELLS)]
            jobs += CELLS
            _group(store, [functools.partial(engine.submit, s) for s in subs])
            [(assignments, _)] = _group(store, [functools.partial(engine.dispatch, cells)])
            _group(store, [functools.partial(engine.report, a.cell_id, "boot", TaskReport(
                a.task.id, a.task.epoch, state, duration_s=0.01))
                for a in assignments for state in (TaskState.RUNNING, TaskState.SUCCEEDED)])
        template = store.newest_seq()
    finally:
        store.close()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        newest = template
        while newest < config.events:
            db.execute("INSERT INTO events (time, job_id, task_id, snapshot) SELECT time, job_id,"
                       " task_id, snapshot FROM events WHERE seq <= ? ORDER BY seq LIMIT ?",
                       (template, config.events - newest))
            newest = db.execute("SELECT MAX(seq) FROM events").fetchone()[0]
        db.execute("COMMIT")
        mean = db.execute("SELECT AVG(LENGTH(snapshot)) FROM events").fetchone()[0]
    finally:
        db.close()
    return newest, mean


def _group(store: Store, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run `calls` in one transaction (as the writer thread does); raise the first failure."""
    results = []
    for ok, value in store.run_group(calls):
        if not ok:
            raise value
        results.append(value)
    return results


def read_rows(path: Path) -> list[StoredEvent]:
    db = sqlite3.connect(path)
    try:
        return [StoredEvent(*r) for r in db.execute(
            "SELECT seq, time, job_id, task_id, snapshot FROM events ORDER BY seq")]
    finally:
        db.close()


def time_rows(path: Path) -> dict[str, Any]:
    """Every event read straight from SQLite, WATCH_BATCH rows per query, as StoredEvents."""
    db = sqlite3.connect(path)
    try:
        start, seq, count = time.perf_counter(), 0, 0
        while rows := [StoredEvent(*r) for r in db.execute(
                "SELECT seq, time, job_id, task_id, snapshot FROM events WHERE seq > ?"
                " ORDER BY seq LIMIT ?", (seq, WATCH_BATCH))]:
            count += len(rows)
            seq = rows[-1].seq
        elapsed = time.perf_counter() - start
    finally:
        db.close()
    return {"events": count, "s": elapsed, "events_s": count / elapsed}


def responses(rows: list[StoredEvent], batch: int) -> list[bytes]:
    """The WatchJobsResponses of `rows` as protobuf encodes them (one event each if batch 0)."""
    def event(row: StoredEvent) -> job_pb2.JobEvent:
        message = job_pb2.JobEvent(seq=row.seq, task_id=row.task_id, time=convert.timestamp(row.time))
        message.job.ParseFromString(row.snapshot)
        return message
    if not batch:
        return [job_svc.WatchJobsResponse(event=event(r)).SerializeToString() for r in rows]
    return [job_svc.WatchJobsResponse(events=[event(r) for r in rows[i:i + batch]]).SerializeToString()
            for i in range(0, len(rows), batch)]


# --- the bare server ------------------------------------------------------------------
def _bare_main(db_path: str, batch: int, ports: Queue[Any], stop: Event, parent: int) -> None:
    """Bare server process (spawn target): streams the rows' responses, encoded beforehand;
    the request (b"0" or b"1") picks unbatched or batched."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rows = read_rows(Path(db_path))
    encoded = {b"0": responses(rows, 0), b"1": responses(rows, batch)}

    async def stream(request: bytes, _context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        for response in encoded[request]:
            yield response

    sizes = {k: sum(map(len, v)) for k, v in encoded.items()}
    asyncio.run(serve_bare(BARE_METHOD, grpc.unary_stream_rpc_method_handler(stream),
                           lambda port: ports.put((port, sizes)), stop, parent))


# --- the client -----------------------------------------------------------------------
async def _drain(call: Any, newest: int) -> tuple[int, int, float]:
    """Read `call` until the event with seq `newest`; returns (events, messages, seconds)."""
    events = messages = 0
    start = time.perf_counter()
    async for response in call:
        messages += 1
        batch = response.events or [response.event]
        events += len(batch)
        if batch[-1].seq >= newest:
            break
    elapsed = time.perf_counter() - start
    call.cancel()
    return events, messages, elapsed


async def time_ours(address: str, newest: int, batch: int) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        await channel.channel_ready()
        stub = job_grpc.JobServiceStub(channel)
        events, messages, elapsed = await _drain(
            stub.WatchJobs(job_svc.WatchJobsRequest(after_seq=0, max_batch=batch)), newest)
    return {"events": events, "messages": messages, "s": elapsed, "events_s": events / elapsed}


async def time_bare(port: int, newest: int, batched: bool) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS) as channel:
        await channel.channel_ready()
        call = channel.unary_stream(BARE_METHOD, response_deserializer=job_svc.WatchJobsResponse.FromString)
        events, messages, elapsed = await _drain(call(b"1" if batched else b"0"), newest)
    return {"events": events, "messages": messages, "s": elapsed, "events_s": events / elapsed}


# --- report ---------------------------------------------------------------------------
def _py_spy(pid: int, output: str) -> subprocess.Popen[bytes] | None:
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        print("py-spy not found; no profile", file=sys.stderr)
        return None
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(output).suffix, "raw")
    return subprocess.Popen([str(exe), "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
                             "--format", fmt, "--output", output],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(config: Config, db_dir: Path, profile: str | None) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cw-replay-", dir=db_dir)))
        db = work / "replay.db"
        t0 = time.perf_counter()
        newest, snapshot_bytes = fill(db, config)
        fill_s = time.perf_counter() - t0
        bare = Child(_bare_main, str(db), config.batch)
        bare.start()
        stack.callback(bare.stop)
        orchestrator: Process
        orchestrator, address = start_orchestrator(db, work / "orchestrator.log")
        stack.callback(orchestrator.stop)
        port, payload_bytes = bare.queue.get(timeout=120)
        modes = {"unbatched": 0, "batched": config.batch}
        runs: list[dict[str, Any]] = []
        for i in range(config.runs):
            one: dict[str, Any] = {"rows": time_rows(db)}
            for mode, batch in modes.items():
                spy = _py_spy(orchestrator.popen.pid, _named(profile, mode)) if profile and i == 0 \
                    else None
                one[f"ours_{mode}"] = asyncio.run(time_ours(address, newest, batch))
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(30)
                one[f"bare_{mode}"] = asyncio.run(time_bare(port, newest, bool(batch)))
            runs.append(one)
    figures = {key: _median(runs, key) for key in runs[0]}
    megabytes = {"unbatched": payload_bytes[b"0"] / 1e6, "batched": payload_bytes[b"1"] / 1e6}
    return {
        "config": asdict(config), "db_dir": str(db_dir), "machine": machine(),
        "newest_seq": newest, "fill_s": fill_s, "snapshot_bytes": snapshot_bytes,
        "payload_mb": megabytes, "runs": runs, "median": figures,
        "ratios": {mode: figures[f"ours_{mode}"]["events_s"] / figures[f"bare_{mode}"]["events_s"]
                   for mode in modes},
        "ratio_runs": {mode: [r[f"ours_{mode}"]["events_s"] / r[f"bare_{mode}"]["events_s"] for r in runs]
                       for mode in modes},
    }


def _median(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median events/s for `key`."""
    ordered: list[dict[str, Any]] = sorted((r[key] for r in runs), key=lambda f: f["events_s"])
    return ordered[len(ordered) // 2]


def _named(path: str, mode: str) -> str:
    """`path` with `-mode` before its suffix: profile.svg -> profile-batched.svg."""
    p = Path(path)
    return str(p.with_name(f"{p.stem}-{mode}{p.suffix}"))


def _table(report: dict[str, Any]) -> str:
    config, m, med = report["config"], report["machine"], report["median"]
    lines = [
        f"replay: WatchJobs from 0 to seq {report['newest_seq']:,} ({config['template']:,} events"
        f" of noop jobs through the engine, the rest copies; filled in {report['fill_s']:.1f} s);"
        f" median of {config['runs']} interleaved runs",
        f"machine: {m['cores']} cores, {m['cpu_model']}, Python {m['python']}, grpcio {m['grpcio']},"
        f" protobuf {m['protobuf']}, SQLite {m['sqlite']}",
        "",
        f"{'':34} {'events/s':>10} {'messages':>9} {'MB/s':>7} {'vs bare':>8}  runs (events/s)",
    ]
    for mode, label in (("unbatched", "one event per message"), ("batched", f"max_batch {config['batch']}")):
        bare, ours = med[f"bare_{mode}"], med[f"ours_{mode}"]
        mb = report["payload_mb"][mode]
        for name, fig, ratio in ((f"bare stream, {label}", bare, 1.0),
                                 (f"WatchJobs, {label}", ours, report["ratios"][mode])):
            spread = ", ".join(f"{r[('bare_' if name.startswith('bare') else 'ours_') + mode]['events_s']:,.0f}"
                               for r in report["runs"])
            lines.append(f"{name:34} {fig['events_s']:>10,.0f} {fig['messages']:>9,} {mb / fig['s']:>7.1f}"
                         f" {ratio:>8.2f}  {spread}")
    rows = med["rows"]
    lines += [
        f"{'rows read straight from SQLite':34} {rows['events_s']:>10,.0f}",
        "",
        f"mean snapshot {report['snapshot_bytes']:.0f} B; responses {report['payload_mb']['unbatched']:.1f} MB"
        f" unbatched, {report['payload_mb']['batched']:.1f} MB batched",
        "ratios per run: " + "; ".join(f"{mode} " + ", ".join(f"{r:.2f}" for r in ratios)
                                       for mode, ratios in report["ratio_runs"].items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short run (~10k events)")
    parser.add_argument("--events", type=int, help=f"events in the store (default {FULL.events:,},"
                        f" --quick {QUICK.events:,})")
    parser.add_argument("--template", type=int, help="events run through the engine (the rest are"
                        f" copies; default {FULL.template:,}, --quick {QUICK.template:,})")
    parser.add_argument("--batch", type=int, help=f"max_batch of the batched runs (default {FULL.batch})")
    parser.add_argument("--runs", type=int, help=f"interleaved runs (default {FULL.runs})")
    parser.add_argument("--db-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="folder for the SQLite file (default %(default)s)")
    parser.add_argument("--profile", metavar="PATH", help="py-spy record the orchestrator during the"
                        " first run into PATH-unbatched and PATH-batched (format from PATH's"
                        " suffix: .svg, .json, else raw)")
    parser.add_argument("--json", metavar="PATH", help="also save the figures as JSON")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    config = replace(config, events=args.events or config.events,
                     template=min(args.template or config.template, args.events or config.events),
                     batch=args.batch or config.batch, runs=args.runs or config.runs)
    try:
        report = run(config, args.db_dir, args.profile)
    except KeyboardInterrupt:
        print("interrupted; processes stopped", file=sys.stderr)
        return 130
    except (RuntimeError, grpc.RpcError) as exc:
        print(f"error: {exc!r}", file=sys.stderr)
        return 1
    print(_table(report))
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
