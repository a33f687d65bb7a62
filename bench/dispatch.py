"""Dispatch figures: noop jobs through the orchestrator, against a bare grpc.aio echo ceiling.

Processes on this machine:
- the orchestrator (`cellwright orchestrator serve`, started by `cellwright.launch`), on a
  fresh SQLite file (`--db-dir`, default the system temp dir: check its file system, the
  store commits with synchronous=FULL);
- N noop cells (`CellController`, no world) as asyncio tasks in one separate process;
  with `--protocol-cells`, light cells that speak the Connect protocol and nothing else
  (hello, heartbeats, RUNNING and SUCCEEDED at once for each assignment): hundreds of real
  controllers (each with its control-loop and skill threads) do not fit one process here
  (multiprocessing, spawn), so their work does not share the client's event loop
  (`--cells-inline` runs them in the bench process instead);
- the bench client (this process): one grpc.aio channel, K SubmitJob calls in flight, and
  one WatchJobs stream that collects each job's final snapshot (no polling per job);
- the echo server (a separate process): a grpc.aio server with a generic bytes-in/bytes-out
  handler, driven by the same client pattern with payloads as large as the SubmitJobRequests.
  It runs once before and once after the jobs, while nothing else runs; the better run is
  the ceiling.

Figures: end-to-end jobs/s (first submit to the last final job event seen by the client),
SubmitJob latency (client side), submit->assign and submit->done from the stored wall-clock
timestamps (Job.create_time, Task.assigned_time, Task.finished_time), and the CPU time each
process used during the jobs. Prints figures, never asserts. Run from the repository root:

    python -m bench.dispatch [--quick] [--cells N] [--jobs M] [--concurrency K] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import platform
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf import __version__ as protobuf_version
from google.protobuf import struct_pb2

from bench import save_json
from cellwright.app.launch import Process, start_orchestrator
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

ECHO_METHOD = "/bench.Echo/Echo"
FINAL = frozenset({job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_CANCELLED})
WARMUP, RUN = "warm", "run"
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]


@dataclass(frozen=True)
class Config:
    """What one bench run does."""

    cells: int
    jobs: int
    concurrency: int
    echo_calls: int
    warmup_jobs: int
    timeout_s: float
    cells_inline: bool = False
    protocol_cells: bool = False
    closed: bool = False  # each submitter waits for its job to end before the next


FULL = Config(cells=8, jobs=2000, concurrency=8, echo_calls=6000, warmup_jobs=32, timeout_s=75.0)
QUICK = Config(cells=8, jobs=300, concurrency=8, echo_calls=1500, warmup_jobs=16, timeout_s=12.0)


# --- helpers ----------------------------------------------------------------------
def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentiles_ms(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    ms = np.asarray(values_s, dtype=np.float64) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def _fs_type(path: Path) -> str:
    """The file system of `path` from /proc/mounts (longest matching mount point)."""
    best, kind = "", "?"
    with contextlib.suppress(OSError):
        real = str(path.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1]
            if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                best, kind = mount, parts[2]
    return kind


def machine() -> dict[str, Any]:
    """Cores, CPU model and library versions."""
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    from google.protobuf.internal import api_implementation
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "protobuf": f"{protobuf_version} ({api_implementation.Type()})",
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


async def drive(call: Callable[[int], Awaitable[Any]], count: int, concurrency: int
                ) -> tuple[list[float], float, float]:
    """Make `count` calls with `concurrency` in flight; returns (latencies s, start, end)."""
    latencies = [0.0] * count
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            t0 = time.perf_counter()
            await call(index)
            latencies[index] = time.perf_counter() - t0

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, start, time.perf_counter()


def _requests(prefix: str, count: int) -> list[job_svc.SubmitJobRequest]:
    params = struct_pb2.Struct()
    params.update({"duration_s": 0})
    return [job_svc.SubmitJobRequest(request_id=f"{prefix}-{uuid.uuid4()}", workflow="noop",
                                     params=params) for _ in range(count)]


# --- child processes --------------------------------------------------------------
def _wait_stop(stop: Event, parent: int) -> None:
    """Block until `stop` is set or the parent is gone."""
    while not stop.wait(0.5):
        if os.getppid() != parent:
            return


async def protocol_cell(address: str, cell_id: str) -> None:
    """A noop cell that speaks the Connect protocol only: hello, heartbeats at the welcome's
    interval, RUNNING then SUCCEEDED at once for each assignment, CANCELLED when asked."""
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        call = cell_grpc.CellServiceStub(channel).Connect()
        writing = asyncio.Lock()

        async def send(**message: Any) -> None:
            async with writing:
                await call.write(cell_pb.ConnectRequest(**message))

        async def beat(interval_s: float) -> None:
            while True:
                await send(heartbeat=cell_pb.Heartbeat(packml_state=packml_pb2.PACKML_STATE_EXECUTE))
                await asyncio.sleep(interval_s)

        await send(hello=cell_pb.Hello(cell_id=cell_id, boot_id=uuid.uuid4().hex,
                                       packml_state=packml_pb2.PACKML_STATE_EXECUTE,
                                       skills=[cell_pb.Skill(name="noop")]))
        welcome = await call.read()
        beats = asyncio.create_task(beat(welcome.welcome.heartbeat_interval_ms / 1000))
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                order = message.assign if message.HasField("assign") else message.cancel
                if message.HasField("assign"):
                    states = [job_pb2.TASK_STATE_RUNNING, job_pb2.TASK_STATE_SUCCEEDED]
                elif message.HasField("cancel"):
                    states = [job_pb2.TASK_STATE_CANCELLED]
                else:
                    continue
                for state in states:
                    await send(task_update=cell_pb.TaskUpdate(task_id=order.task_id, epoch=order.epoch,
                                                              state=state))  # type: ignore[arg-type]
        finally:
            beats.cancel()


async def run_cells(address: str, count: int, stop: Callable[[], Awaitable[None]],
                    protocol: bool = False) -> None:
    """Run `count` noop cells (real controllers, or `protocol_cell`s) until `stop()` returns."""
    from cellwright.cells.config import CellConfig
    from cellwright.cells.controller import CellController

    if protocol:
        tasks = [asyncio.create_task(protocol_cell(address, f"bench-{i}")) for i in range(count)]
    else:
        tasks = [asyncio.create_task(CellController(CellConfig(
            cell_id=f"bench-{i}", skills=("noop",), world=None), address).run()) for i in range(count)]
    try:
        await stop()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _cells_main(address: str, count: int, protocol: bool, _results: Queue[Any], stop: Event,
                parent: int) -> None:
    """Cells process (spawn target); stopped by the parent, never by Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run_cells(address, count, lambda: asyncio.to_thread(_wait_stop, stop, parent), protocol))


def _echo_main(ports: Queue[int], stop: Event, parent: int) -> None:
    """Echo server process (spawn target): identity bytes in, bytes out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def echo(request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
        return request

    asyncio.run(serve_bare(ECHO_METHOD, grpc.unary_unary_rpc_method_handler(echo), ports.put, stop, parent))


async def serve_bare(path: str, handler: grpc.RpcMethodHandler, ready: Callable[[int], None],
                     stop: Event, parent: int) -> None:
    """A bare grpc.aio server of one generic method at `path` (bytes in and out: a bench's
    ceiling) on a free loopback port, given to `ready`; until `stop` is set or the parent ends."""
    server = grpc.aio.server()
    service, method = path.strip("/").split("/")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {method: handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    ready(port)
    await asyncio.to_thread(_wait_stop, stop, parent)
    await server.stop(0.5)


class Child:
    """A spawned multiprocessing child, stopped by an event, then terminated.

    The target is called as target(*args, queue, stop_event, parent_pid)."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        ctx = mp.get_context("spawn")
        self.stop_event = ctx.Event()
        self.queue: Queue[Any] = ctx.Queue()
        self.process = ctx.Process(target=target, args=(*args, self.queue, self.stop_event, os.getpid()), daemon=True)

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


# --- echo ceiling -----------------------------------------------------------------
async def _echo_client(port: int, payloads: list[bytes], concurrency: int) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS) as channel:
        echo = channel.unary_unary(ECHO_METHOD)
        warm = min(200, len(payloads))
        await drive(lambda i: echo(payloads[i]), warm, concurrency)
        cpu0 = time.process_time()
        latencies, start, end = await drive(lambda i: echo(payloads[i]), len(payloads), concurrency)
        cpu = time.process_time() - cpu0
    return {"calls": len(payloads), "calls_s": len(payloads) / (end - start),
            **_percentiles_ms(latencies), "client_cpu_s": cpu}


def run_echo(payloads: list[bytes], concurrency: int) -> dict[str, Any]:
    """Start the echo server process, drive it, stop it; returns its figures."""
    child = Child(_echo_main)
    child.start()
    try:
        port = child.queue.get(timeout=30)
        cpu0 = _cpu_s(child.process.pid or 0)
        result = asyncio.run(_echo_client(port, payloads, concurrency))
        result["server_cpu_s"] = _cpu_s(child.process.pid or 0) - cpu0
        return result
    finally:
        child.stop()


# --- jobs -------------------------------------------------------------------------
class Watcher:
    """One WatchJobs stream: the first final snapshot of each job, by request_id prefix."""

    def __init__(self) -> None:
        self.final: dict[str, tuple[float, job_pb2.Job]] = {}
        self.counts: dict[str, int] = {}
        self.events = 0
        self._changed = asyncio.Event()
        self._waiters: dict[str, asyncio.Future[None]] = {}

    async def job_ended(self, request_id: str) -> None:
        """Return once the job submitted under `request_id` is final."""
        if request_id not in self.final:
            self._waiters[request_id] = asyncio.get_running_loop().create_future()
            await self._waiters[request_id]

    async def run(self, stub: job_grpc.JobServiceStub) -> None:
        call = stub.WatchJobs(job_svc.WatchJobsRequest())
        try:
            async for response in call:
                self.events += 1
                job = response.event.job
                if job.state in FINAL and job.request_id not in self.final:
                    self.final[job.request_id] = (time.perf_counter(), job)
                    waiter = self._waiters.pop(job.request_id, None)
                    if waiter is not None:
                        waiter.set_result(None)
                    prefix = job.request_id.split("-", 1)[0]
                    self.counts[prefix] = self.counts.get(prefix, 0) + 1
                    self._changed.set()
        finally:
            call.cancel()

    async def wait_for(self, prefix: str, count: int, timeout_s: float) -> bool:
        """Wait until `count` jobs under `prefix` are final; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.counts.get(prefix, 0) < count:
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True


async def _wait_cells(stub: cell_grpc.CellServiceStub, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        ready, token = [], None
        while token != "":
            response: cell_pb.ListCellsResponse = await stub.ListCells(
                cell_pb.ListCellsRequest(page_size=1000, page_token=token or ""), timeout=5)
            ready += [c for c in response.cells if c.id.startswith("bench-") and c.connected
                      and c.packml_state == packml_pb2.PACKML_STATE_EXECUTE]
            token = response.next_page_token
        if len(ready) >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(ready)} of {count} cells connected and in Execute "
                               f"after {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


async def _jobs_client(address: str, config: Config, pids: dict[str, int]) -> dict[str, Any]:
    """Wait for the cells, warm up, then submit the jobs and collect their final snapshots."""
    cells_task = None
    if config.cells_inline:
        forever = asyncio.get_running_loop().create_future()
        cells_task = asyncio.create_task(run_cells(address, config.cells, lambda: forever,
                                                   config.protocol_cells))
    try:
        async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel, \
                grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as watch_channel:
            jobs = job_grpc.JobServiceStub(channel)
            await _wait_cells(cell_grpc.CellServiceStub(channel), config.cells, 30.0 + 0.25 * config.cells)
            watcher = Watcher()
            watch_task = asyncio.create_task(watcher.run(job_grpc.JobServiceStub(watch_channel)))
            try:
                warm = _requests(WARMUP, config.warmup_jobs)
                await drive(lambda i: jobs.SubmitJob(warm[i], timeout=30), len(warm), config.concurrency)
                if not await watcher.wait_for(WARMUP, len(warm), 30.0):
                    raise RuntimeError("warm-up jobs did not finish within 30 s")
                requests = _requests(RUN, config.jobs)
                cpu0 = {name: _cpu_s(pid) for name, pid in pids.items()}
                client_cpu0 = time.process_time()
                start = time.perf_counter()
                async def submit(i: int) -> Any:
                    response = await jobs.SubmitJob(requests[i], timeout=30)
                    if config.closed:
                        await watcher.job_ended(requests[i].request_id)
                    return response

                submit_task = asyncio.create_task(drive(submit, len(requests), config.concurrency))
                finished = await watcher.wait_for(RUN, len(requests), config.timeout_s)
                latencies: list[float] = []
                submit_end = float("nan")
                if finished:
                    latencies, start, submit_end = await submit_task
                else:
                    submit_task.cancel()
                    await asyncio.gather(submit_task, return_exceptions=True)
                cpu = {name: _cpu_s(pid) - cpu0[name] for name, pid in pids.items()}
                cpu["client"] = time.process_time() - client_cpu0
            finally:
                watch_task.cancel()
                await asyncio.gather(watch_task, return_exceptions=True)
    finally:
        if cells_task is not None:
            cells_task.cancel()
            await asyncio.gather(cells_task, return_exceptions=True)
    finals = [watcher.final[r.request_id] for r in requests if r.request_id in watcher.final]
    return {"timed_out": not finished, "submit_latencies": latencies, "start": start,
            "submit_end": submit_end, "finals": finals, "cpu_s": cpu,
            "request_bytes": requests[0].ByteSize(), "events": watcher.events}


def _summarize(raw: dict[str, Any], jobs: int) -> dict[str, Any]:
    finals: list[tuple[float, job_pb2.Job]] = raw["finals"]
    succeeded = [job for _, job in finals if job.state == job_pb2.JOB_STATE_SUCCEEDED]
    to_assign, to_done, assign_to_done = [], [], []
    for job in succeeded:
        created = job.create_time.ToNanoseconds() / 1e9
        assigned = job.tasks[0].assigned_time.ToNanoseconds() / 1e9
        done = max(t.finished_time.ToNanoseconds() for t in job.tasks) / 1e9
        to_assign.append(assigned - created)
        to_done.append(done - created)
        assign_to_done.append(done - assigned)
    last = max((t for t, _ in finals), default=raw["start"])
    elapsed = last - raw["start"]
    submit_s = raw["submit_end"] - raw["start"]  # nan after a time-out
    server_span = (max(to_done[i] + succeeded[i].create_time.ToNanoseconds() / 1e9
                       for i in range(len(succeeded)))
                   - min(j.create_time.ToNanoseconds() / 1e9 for j in succeeded)) if succeeded else 0.0
    done_count = len(finals)
    return {
        "timed_out": raw["timed_out"],
        "final": done_count,
        "succeeded": len(succeeded),
        "not_succeeded": done_count - len(succeeded),
        "elapsed_s": elapsed,
        "window": (raw["start"], last),  # perf_counter: comparable across threads of one process
        "jobs_s": done_count / elapsed if elapsed > 0 else 0.0,
        "jobs_s_server": len(succeeded) / server_span if server_span > 0 else 0.0,
        "submit": {"calls_s": jobs / submit_s if submit_s > 0 else 0.0,
                   **_percentiles_ms(raw["submit_latencies"])},
        "submit_to_assign": _percentiles_ms(to_assign),
        "submit_to_done": _percentiles_ms(to_done),
        "assign_to_done": _percentiles_ms(assign_to_done),
        "cpu_s": raw["cpu_s"],
        "cpu_ms_per_job": {k: v * 1e3 / done_count if done_count else float("nan")
                           for k, v in raw["cpu_s"].items()},
        "cores_used": {k: v / elapsed if elapsed > 0 else float("nan") for k, v in raw["cpu_s"].items()},
        "watch_events": raw["events"],
        "request_bytes": raw["request_bytes"],
        "response_bytes": succeeded[0].ByteSize() + 4 if succeeded else 0,
    }


def _py_spy(pid: int, output: str) -> subprocess.Popen[bytes] | None:
    """Start `py-spy record` on `pid` (format from the suffix: .svg, .json, else raw)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("py-spy not found; no profile", file=sys.stderr)
        return None
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(output).suffix, "raw")
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
                             "--format", fmt, "--output", output],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def _pythonpath(src: str | None) -> Any:
    """Processes started inside import cellwright from `src` (another checkout's src/)."""
    if src is None:
        yield
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = src
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def run_jobs(config: Config, db_dir: Path, profile: str | None, baseline: str | None = None
             ) -> dict[str, Any]:
    """Start the orchestrator (from `baseline`, another checkout's src/, if given) and the
    cells process, run the jobs, stop everything."""
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cw-dispatch-", dir=db_dir)))
        orchestrator: Process
        with _pythonpath(baseline):
            orchestrator, address = start_orchestrator(work / "bench.db", work / "orchestrator.log")
        stack.callback(orchestrator.stop)
        pids = {"orchestrator": orchestrator.popen.pid}
        if not config.cells_inline:
            cells = Child(_cells_main, address, config.cells, config.protocol_cells)
            cells.start()
            stack.callback(cells.stop)
            pids["cells"] = cells.process.pid or 0
        spy = _py_spy(orchestrator.popen.pid, profile) if profile else None
        if spy is not None:
            def stop_spy() -> None:
                spy.send_signal(signal.SIGINT)
                try:
                    spy.wait(30)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()
            stack.callback(stop_spy)
        try:
            raw = asyncio.run(_jobs_client(address, config, pids))
        except Exception:
            print(f"orchestrator log tail:\n{orchestrator.tail_log()}", file=sys.stderr)
            raise
        summary = _summarize(raw, config.jobs)
        summary["db_fs"] = _fs_type(work)
        return summary


# --- report -----------------------------------------------------------------------
def run(config: Config, db_dir: Path, profile: str | None, baseline: str | None = None) -> dict[str, Any]:
    """Echo, jobs, echo again; the echo ceiling is the better echo run."""
    sample = _requests(RUN, config.echo_calls)
    payloads = [r.SerializeToString() for r in sample]
    half = config.echo_calls // 2
    echo_runs = [run_echo(payloads[:half], config.concurrency)]
    jobs = run_jobs(config, db_dir, profile, baseline)
    echo_runs.append(run_echo(payloads[half:], config.concurrency))
    echo = max(echo_runs, key=lambda r: r["calls_s"])
    return {
        "config": asdict(config),
        "db_dir": str(db_dir),
        "orchestrator_src": baseline or "this checkout",
        "machine": machine(),
        "jobs": jobs,
        "echo": {**echo, "payload_bytes": len(payloads[0]), "runs": echo_runs},
        "ratios": {
            "submit_calls_s_vs_echo": jobs["submit"]["calls_s"] / echo["calls_s"],
            "jobs_s_vs_echo": jobs["jobs_s"] / echo["calls_s"],
        },
    }


def _table(report: dict[str, Any]) -> str:
    config, jobs, echo, m = report["config"], report["jobs"], report["echo"], report["machine"]
    where = "bench process" if config["cells_inline"] else "separate process"
    echo_runs = ", ".join(f"{r['calls_s']:,.0f}" for r in echo["runs"])
    submit_label = "SubmitJob + its end (client)" if config.get("closed") else "SubmitJob (client side)"
    lines = [
        f"dispatch: {config['jobs']:,} noop jobs, {config['cells']} noop"
        f" {'protocol cells' if config.get('protocol_cells') else 'cells'} ({where}),"
        f" {config['concurrency']} in flight, orchestrator from {report['orchestrator_src']}"
        + (" (closed loop: each waits for its job's end)" if config.get("closed") else "")
        + f"; db on {jobs['db_fs']} ({report['db_dir']})",
        f"machine: {m['cores']} cores, {m['cpu_model']}, Python {m['python']}, grpcio {m['grpcio']},"
        f" protobuf {m['protobuf']}, SQLite {m['sqlite']}",
        f"jobs final {jobs['final']:,} / {config['jobs']:,} (succeeded {jobs['succeeded']:,})"
        + ("  ** TIMED OUT **" if jobs["timed_out"] else ""),
        "",
        f"{'':34} {'calls|jobs/s':>12} {'p50 ms':>9} {'p99 ms':>9} {'vs echo':>8}",
        f"{'echo grpc.aio unary (ceiling)':34} {echo['calls_s']:>12,.0f} {echo['p50_ms']:>9.2f}"
        f" {echo['p99_ms']:>9.2f} {'1.00':>8}",
        f"{submit_label:34} {jobs['submit']['calls_s']:>12,.0f}"
        f" {jobs['submit']['p50_ms']:>9.2f} {jobs['submit']['p99_ms']:>9.2f}"
        f" {report['ratios']['submit_calls_s_vs_echo']:>8.3f}",
        f"{'end-to-end jobs (client)':34} {jobs['jobs_s']:>12,.0f} {'':>9} {'':>9}"
        f" {report['ratios']['jobs_s_vs_echo']:>8.3f}",
        f"{'  same, server timestamps':34} {jobs['jobs_s_server']:>12,.0f}",
        f"{'submit -> assign (stored)':34} {'':>12} {jobs['submit_to_assign']['p50_ms']:>9.2f}"
        f" {jobs['submit_to_assign']['p99_ms']:>9.2f}",
        f"{'submit -> done (stored)':34} {'':>12} {jobs['submit_to_done']['p50_ms']:>9.2f}"
        f" {jobs['submit_to_done']['p99_ms']:>9.2f}",
        f"{'assign -> done (stored)':34} {'':>12} {jobs['assign_to_done']['p50_ms']:>9.2f}"
        f" {jobs['assign_to_done']['p99_ms']:>9.2f}",
        "",
        f"echo runs (calls/s): {echo_runs};"
        f" payload {echo['payload_bytes']} B; SubmitJobRequest {jobs['request_bytes']} B,"
        f" final Job snapshot {jobs['response_bytes']} B; {jobs['watch_events']:,} watch events",
        "CPU during the jobs: " + ", ".join(
            f"{k} {jobs['cores_used'][k]:.2f} cores ({jobs['cpu_ms_per_job'][k]:.2f} ms/job)"
            for k in jobs["cpu_s"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short run (under ~30 s)")
    parser.add_argument("--cells", type=int, help=f"noop cells (default {FULL.cells})")
    parser.add_argument("--jobs", type=int, help=f"jobs (default {FULL.jobs}, --quick {QUICK.jobs})")
    parser.add_argument("--concurrency", type=int, help=f"SubmitJob calls in flight (default {FULL.concurrency})")
    parser.add_argument("--closed", action="store_true",
                        help="each submitter waits for its job to end before submitting the next "
                             "(submit -> assign is then dispatch latency, not queueing, while "
                             "submitters <= cells)")
    parser.add_argument("--protocol-cells", action="store_true",
                        help="light cells that speak the Connect protocol only (for hundreds of cells)")
    parser.add_argument("--cells-inline", action="store_true",
                        help="run the cells in the bench process instead of a separate one")
    parser.add_argument("--db-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="folder for the SQLite file (default %(default)s; /dev/shm: no real fsync)")
    parser.add_argument("--profile", metavar="PATH",
                        help="py-spy record the orchestrator into PATH (.svg, .json or raw stacks)")
    parser.add_argument("--orchestrator-src", metavar="DIR",
                        help="run the orchestrator from another checkout's src/ (e.g. `git archive` "
                             "of an older commit), to compare versions in the same session")
    parser.add_argument("--json", metavar="PATH", help="also save the figures as JSON")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    config = replace(config, cells=args.cells or config.cells, jobs=args.jobs or config.jobs,
                     concurrency=args.concurrency or config.concurrency, cells_inline=args.cells_inline,
                     closed=args.closed, protocol_cells=args.protocol_cells)
    try:
        report = run(config, args.db_dir, args.profile, args.orchestrator_src)
    except KeyboardInterrupt:
        print("interrupted; processes stopped", file=sys.stderr)
        return 130
    except (RuntimeError, queue.Empty, grpc.RpcError) as exc:
        print(f"error: {exc!r}", file=sys.stderr)
        return 1
    print(_table(report))
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
