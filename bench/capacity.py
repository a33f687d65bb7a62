"""Capacity: how many idle, heartbeating cells one orchestrator process holds.

The cells are *protocol-level cells*: light clients that speak the real CellService
protocol over real gRPC, many per process on grpc.aio, and nothing else (no robot, no
control loop, no skill thread, no state stream). Each opens CellService.Connect, sends a
Hello built the way `cells/` builds one (by default for examples/cells/mock-arm-cell.yaml:
its skills with their schemas and its mock Panda's components; `--hello noop` for the
one-skill noop cell), waits for the Welcome, then sends a Heartbeat (Execute, idle, a
CellStats with all 17 PackML state times) every interval the Welcome gives, at fixed due
times. A stream the server ends is counted and re-opened with the cells' own back-off,
as a real cell would. By default every cell has its own channel, hence its own TCP
connection (`grpc.use_local_subchannel_pool`), as in a plant; `--channels K` shares K
channels per client process instead. The cells run in `--client-procs` spawned processes.

Processes on this machine:
- the server: the orchestrator (`cellwright orchestrator serve`, fresh SQLite file, the
  default 1 s heartbeat interval and 5 s lease), then the bare ceiling: a grpc.aio server
  process with the same server options whose generic Connect handler answers the hello
  with a pre-serialized Welcome and reads and discards every message as bytes, and that
  serves grpc.health.v1 Health;
- the client processes with the cells;
- this process: a grpc.health.v1 Health.Check prober at a fixed rate (open loop), and
  the orchestrator's ListCells after each window.

The cells are added in steps (`--cells`); each step's new cells connect at once (a connect
storm). At each step, over a window: the storm's connect times (first attempt to Welcome,
client side), health Check latency, the sessions that lost their lease (the orchestrator's
"missed its lease" log lines, and streams the server ended), the heartbeat send lag
(due time to write, client side: it tells a saturated client from a saturated server), the
server's CPU (cores, from /proc) per heartbeat and RSS. The orchestrator ramp stops at the
first step that loses a lease or cannot connect every cell (`--keep-going` to go on); the
bare server then runs the same steps with the same clients and probe, so every figure
stands beside its bare ceiling in the same run. "Holds" = every cell connected, no lease
lost, health p99 under 50 ms. Prints figures, never asserts. From the repository root:

    python -m bench.capacity [--quick] [--cells 512,1024,...] [--window S] [--heartbeat S --lease S]
                             [--servers orchestrator,bare] [--profile PATH --profile-at N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import queue
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bench import save_json
from bench.dispatch import Child, _cpu_s, _py_spy, _wait_stop, machine
from bench.soak import rss_bytes
from cellwright.app.launch import Process, start_orchestrator
from cellwright.cells.packml import State, to_proto_state
from cellwright.cells.session import KEEPALIVE, Backoff
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc

ROOT = Path(__file__).resolve().parents[1]
HELLOS = {"arm": ROOT / "examples" / "cells" / "mock-arm-cell.yaml",
          "noop": ROOT / "examples" / "cells" / "noop-cell.yaml"}
CONNECT_METHOD = "/cellwright.v1.CellService/Connect"
CELL_PREFIX = "cap-"
EXECUTE = to_proto_state(State.EXECUTE)
HEALTH_P99_MS = 50.0
PROBE_TIMEOUT_S = 5.0
WELCOME_TIMEOUT_S = 30.0  # longer than a real cell's 10 s: the storm is measured, not retried
# The orchestrator's own server options (orchestrator/serve.py), for the bare server too.
SERVER_OPTIONS = [("grpc.max_receive_message_length", 4 * 1024 * 1024),
                  ("grpc.max_send_message_length", 4 * 1024 * 1024),
                  ("grpc.keepalive_permit_without_calls", 1),
                  ("grpc.http2.min_ping_interval_without_data_ms", 5000),
                  ("grpc.so_reuseport", 0)]
OWN_CONNECTION = [*KEEPALIVE, ("grpc.use_local_subchannel_pool", 1)]


@dataclass(frozen=True)
class Config:
    """What one bench run does."""

    cells: tuple[int, ...]
    window_s: float
    settle_s: float
    storm_timeout_s: float
    probe_hz: float = 20.0
    client_procs: int = 2
    channels: int = 0  # per client process; 0: one channel (one TCP connection) per cell
    hello: str = "arm"
    heartbeat_s: float = 1.0
    lease_s: float = 5.0
    keep_going: bool = False
    ours: bool = True
    bare: bool = True


FULL = Config(cells=(512, 1024, 2048, 4096, 8192, 10000), window_s=20.0, settle_s=3.0, storm_timeout_s=90.0)
QUICK = Config(cells=(256, 1024), window_s=6.0, settle_s=1.0, storm_timeout_s=20.0)


def _percentiles_ms(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    ms = np.asarray(values_s, dtype=np.float64) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max())}


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- the hello and the heartbeat --------------------------------------------------
def hello_template(kind: str) -> cell_pb.Hello:
    """The Hello a cell of `kind` sends, built with the helpers `CellController._hello` uses
    (skills with their schemas; robots from the cell's own environment, mock drivers only)."""
    from cellwright.api.structs import to_struct
    from cellwright.cells.config import load_config
    from cellwright.cells.controller import resolve_skills
    from cellwright.cells.environment import Environment
    from cellwright.cells.skills import result_schema
    from cellwright.cells.state_messages import robot_proto

    config = load_config(HELLOS[kind])
    environment = Environment.build([config])
    try:
        runtime = environment.cells[config.cell_id]
        return cell_pb.Hello(
            cell_id=config.cell_id, boot_id=uuid.uuid4().hex, tags=config.tags,
            state_endpoint="tcp://127.0.0.1:5560", packml_state=EXECUTE,  # type: ignore[arg-type]
            skills=[cell_pb.Skill(name=s.name, description=s.description,
                                  params_schema=to_struct(dict(s.params_schema)),
                                  result_schema=to_struct(dict(result_schema(s))))
                    for s in resolve_skills(config).values()],
            robots=[robot_proto(robot, config.robots[name].mount)
                    for name, robot in runtime.robots.items()])
    finally:
        environment.close()


def heartbeat_message() -> cell_pb.ConnectRequest:
    """An idle cell's heartbeat as `CellController._heartbeat` builds it: Execute, not busy,
    the time in every PackML state (by name, all 17)."""
    times = {state.value: 0.0 for state in State}
    times.update({State.STOPPED.value: 0.02, State.RESETTING.value: 0.01, State.IDLE.value: 0.01,
                  State.STARTING.value: 0.01})
    return cell_pb.ConnectRequest(heartbeat=cell_pb.Heartbeat(
        packml_state=EXECUTE, busy=False,  # type: ignore[arg-type]
        stats=cell_pb.CellStats(clock_s=0.0, busy_s=0.0, state_time_s=times)))


# --- protocol cells (client processes) ----------------------------------------------
@dataclass
class Window:
    """What the cells of one client process saw since the last mark."""

    lags: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    beats: int = 0
    max_gap_s: float = 0.0
    cpu0: float = field(default_factory=time.process_time)
    t0: float = field(default_factory=time.monotonic)


class Fleet:
    """The protocol cells of one client process."""

    def __init__(self, address: str, hello: cell_pb.Hello, channels: int) -> None:
        self.address, self.hello, self.channels = address, hello, channels
        self.cells: list[ProtocolCell] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.window = Window()
        self.ended_by_server = self.reconnects = 0  # since the start, like `errors`
        self.errors: Counter[str] = Counter()
        self._shared: list[grpc.aio.Channel] = []

    def channel(self, index: int) -> grpc.aio.Channel | None:
        """The shared channel for cell `index`, or None when every cell has its own."""
        if not self.channels:
            return None
        while len(self._shared) < self.channels:
            self._shared.append(grpc.aio.insecure_channel(self.address, options=OWN_CONNECTION))
        return self._shared[index % self.channels]

    async def add(self, first: int, count: int, timeout_s: float) -> dict[str, Any]:
        """Start cells first..first+count-1 at once; wait until each is welcomed. Returns
        the connect times and the counters as they were before the storm."""
        before = self.counters()
        cells = [ProtocolCell(self, i) for i in range(first, first + count)]
        self.cells += cells
        self.tasks += [asyncio.create_task(c.run()) for c in cells]
        waits = [asyncio.create_task(c.welcomed.wait()) for c in cells]
        _, pending = await asyncio.wait(waits, timeout=timeout_s)
        for task in pending:
            task.cancel()
        return {"connect_s": [c.connect_s for c in cells if c.connect_s is not None],
                "missing": sum(c.connect_s is None for c in cells), "before": before}

    def counters(self) -> dict[str, Any]:
        return {"ended_by_server": self.ended_by_server, "reconnects": self.reconnects,
                "errors": dict(self.errors)}

    def stats(self) -> dict[str, Any]:
        w = self.window
        return {"lags": w.lags, "writes": w.writes, "beats": w.beats, "max_gap_s": w.max_gap_s,
                **self.counters(), "cpu_s": time.process_time() - w.cpu0,
                "elapsed_s": time.monotonic() - w.t0,
                "open": sum(c.open for c in self.cells)}

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for channel in self._shared:
            await channel.close()


class ProtocolCell:
    """One cell at the protocol level: hello, welcome, heartbeats, and back-off reconnects."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet, self.index = fleet, index
        self.hello = cell_pb.Hello()
        self.hello.CopyFrom(fleet.hello)
        self.hello.cell_id = f"{CELL_PREFIX}{index:05d}"
        self.hello.boot_id = uuid.uuid4().hex
        self.hello.state_endpoint = f"tcp://127.0.0.1:{20000 + index}"
        self.beat = heartbeat_message()
        self.welcomed = asyncio.Event()
        self.connect_s: float | None = None
        self.open = False
        self._started = time.monotonic()
        self._last_sent: float | None = None

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                shared = self.fleet.channel(self.index)
                if shared is not None:
                    await self._stream(shared, backoff)
                else:
                    async with grpc.aio.insecure_channel(self.fleet.address, options=OWN_CONNECTION) as channel:
                        await self._stream(channel, backoff)
            except grpc.aio.AioRpcError as exc:
                self.fleet.errors[exc.code().name] += 1
            except asyncio.TimeoutError:
                self.fleet.errors["no welcome in time"] += 1
            self.open = False
            await asyncio.sleep(backoff.next_s() * random.uniform(1.0, 1.5))

    async def _stream(self, channel: grpc.aio.Channel, backoff: Backoff) -> None:
        call = cell_grpc.CellServiceStub(channel).Connect()
        try:
            await call.write(cell_pb.ConnectRequest(hello=self.hello))
            first = await asyncio.wait_for(call.read(), WELCOME_TIMEOUT_S)
            if first is grpc.aio.EOF or not first.HasField("welcome"):
                self.fleet.errors["no welcome"] += 1
                return
            backoff.reset()
            if self.connect_s is None:
                self.connect_s = time.monotonic() - self._started
                self.welcomed.set()
            else:
                self.fleet.reconnects += 1
            self.open = True
            beats = asyncio.create_task(self._beat(call, first.welcome.heartbeat_interval_ms / 1000))
            try:
                while await call.read() is not grpc.aio.EOF:
                    pass  # an idle cell is sent nothing after the welcome
                self.fleet.ended_by_server += 1
            finally:
                beats.cancel()
        finally:
            call.cancel()

    async def _beat(self, call: Any, interval_s: float) -> None:
        """A heartbeat at fixed due times: the first at once, as a real cell sends one."""
        stats = self.beat.heartbeat.stats
        due = time.monotonic()
        while True:
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
                now = time.monotonic()
            window = self.fleet.window
            window.lags.append(now - due)
            stats.clock_s = now - self._started
            stats.state_time_s[State.EXECUTE.value] = stats.clock_s
            await call.write(self.beat)
            done = time.monotonic()
            window.writes.append(done - now)
            window.beats += 1
            if self._last_sent is not None:
                window.max_gap_s = max(window.max_gap_s, done - self._last_sent)
            self._last_sent = done
            due = max(due + interval_s, done)


def _fleet_main(address: str, hello: bytes, channels: int, commands: Queue[Any],
                results: Queue[Any], stop: Event, parent: int) -> None:
    """A client process (spawn target): runs the commands add, mark, stats until stopped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING)
    raise_fd_limit()

    def next_command() -> Any:
        while not stop.is_set() and os.getppid() == parent:
            with contextlib.suppress(queue.Empty):
                return commands.get(timeout=0.5)
        return None

    async def main() -> None:
        fleet = Fleet(address, cell_pb.Hello.FromString(hello), channels)
        try:
            while (command := await asyncio.to_thread(next_command)) is not None:
                name, *args = command
                if name == "add":
                    results.put(await fleet.add(*args))
                elif name == "mark":
                    fleet.window = Window()
                    results.put("marked")
                elif name == "stats":
                    results.put(fleet.stats())
        finally:
            await fleet.close()

    asyncio.run(main())


# --- the bare ceiling -------------------------------------------------------------
def _bare_main(heartbeat_s: float, lease_s: float, ports: Queue[int], stop: Event, parent: int) -> None:
    """Bare server process (spawn target): Connect as bytes (welcome, then read and discard)
    and grpc.health.v1, on a grpc.aio server with the orchestrator's options."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit()
    welcome = cell_pb.ConnectResponse(welcome=cell_pb.Welcome(
        heartbeat_interval_ms=int(heartbeat_s * 1000), lease_ttl_ms=int(lease_s * 1000))).SerializeToString()

    async def connect(_requests: Any, context: grpc.aio.ServicerContext) -> None:
        if await context.read() is grpc.aio.EOF:
            return
        await context.write(welcome)
        while await context.read() is not grpc.aio.EOF:
            pass

    async def serve() -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        service, method = CONNECT_METHOD.strip("/").split("/")
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            service, {method: grpc.stream_stream_rpc_method_handler(connect)}),))
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        ports.put(port)
        await asyncio.to_thread(_wait_stop, stop, parent)
        await server.stop(0.5)

    asyncio.run(serve())


# --- the ramp ---------------------------------------------------------------------
class Server:
    """The server under test: its process id, address, and lease losses so far."""

    def __init__(self, kind: str, pid: int, address: str, log: Path | None) -> None:
        self.kind, self.pid, self.address, self.log = kind, pid, address, log

    def lost_leases(self) -> int:
        """The orchestrator's "missed its lease" log lines so far (the bare server has no leases)."""
        if self.log is None:
            return 0
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace").count("missed its lease")
        return -1


async def probe_health(address: str, hz: float, seconds: float) -> dict[str, Any]:
    """Health.Check at a fixed rate (open loop) from this process; latency of each call."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="")
        await stub.Check(request, timeout=PROBE_TIMEOUT_S)

        async def one() -> None:
            t0 = time.perf_counter()
            try:
                await stub.Check(request, timeout=PROBE_TIMEOUT_S)
            except grpc.aio.AioRpcError as exc:
                failures[exc.code().name] += 1
            latencies.append(time.perf_counter() - t0)

        calls: list[asyncio.Task[None]] = []
        start = time.monotonic()
        for i in range(int(hz * seconds)):
            delay = start + i / hz - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append(asyncio.create_task(one()))
        await asyncio.gather(*calls)
    return {"calls": len(latencies), **_percentiles_ms(latencies), "failures": dict(failures)}


async def list_cells(address: str) -> dict[str, Any]:
    """ListCells (every page, where the API pages): total time, pages, bytes, and how many
    of our cells it shows connected."""
    paged = "page_token" in cell_pb.ListCellsRequest.DESCRIPTOR.fields_by_name
    options = [("grpc.max_receive_message_length", 1 << 30)]
    pages = size = connected = 0
    token = ""
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = cell_grpc.CellServiceStub(channel)
        t0 = time.perf_counter()
        while True:
            request = cell_pb.ListCellsRequest(page_token=token) if paged else cell_pb.ListCellsRequest()
            try:
                response = await stub.ListCells(request, timeout=30)
            except grpc.aio.AioRpcError as exc:
                return {"ms": (time.perf_counter() - t0) * 1e3, "error": exc.code().name, "pages": pages,
                        "bytes": size, "connected": -1}
            pages, size = pages + 1, size + response.ByteSize()
            connected += sum(c.connected for c in response.cells if c.id.startswith(CELL_PREFIX))
            token = getattr(response, "next_page_token", "")
            if not token:
                break
        ms = (time.perf_counter() - t0) * 1e3
    return {"ms": ms, "error": "", "pages": pages, "bytes": size, "connected": connected}


class Clients:
    """The client processes and their command queues."""

    def __init__(self, config: Config, address: str, hello: bytes) -> None:
        ctx = mp.get_context("spawn")
        self.commands: list[Queue[Any]] = [ctx.Queue() for _ in range(config.client_procs)]
        self.children = [Child(_fleet_main, address, hello, config.channels, q) for q in self.commands]
        for child in self.children:
            child.start()

    async def ask(self, commands: list[tuple[Any, ...]], timeout_s: float) -> list[Any]:
        for q, command in zip(self.commands, commands, strict=True):
            q.put(command)
        return await asyncio.gather(*(asyncio.to_thread(c.queue.get, True, timeout_s) for c in self.children))

    def cpu_s(self) -> float:
        return sum(_cpu_s(c.process.pid or 0) for c in self.children)

    def stop(self) -> None:
        for child in self.children:
            child.stop()


async def run_step(server: Server, clients: Clients, config: Config, have: int, cells: int,
                   profile: tuple[str, int] | None) -> dict[str, Any]:
    """Add cells up to `cells` (a storm), settle, then measure one window."""
    procs = config.client_procs
    add = cells - have
    shares = [add // procs + (i < add % procs) for i in range(procs)]
    firsts = [have + sum(shares[:i]) for i in range(procs)]
    leases0 = server.lost_leases()
    t0 = time.monotonic()
    added = await clients.ask([("add", f, n, config.storm_timeout_s) for f, n in zip(firsts, shares, strict=True)],
                              config.storm_timeout_s + 30)
    storm_s = time.monotonic() - t0
    connect_s = [s for a in added for s in a["connect_s"]]
    missing = sum(a["missing"] for a in added)
    await asyncio.sleep(config.settle_s)
    await clients.ask([("mark",)] * procs, 30)
    cpu0, ccpu0, start = _cpu_s(server.pid), clients.cpu_s(), time.monotonic()
    spy = _py_spy(server.pid, profile[0]) if profile is not None and profile[1] == cells else None
    try:
        probe = await probe_health(server.address, config.probe_hz, config.window_s)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
    stats = await clients.ask([("stats",)] * procs, 60)
    elapsed = time.monotonic() - start
    cpu = _cpu_s(server.pid) - cpu0
    client_cpu = clients.cpu_s() - ccpu0
    beats = sum(s["beats"] for s in stats)
    listed = await list_cells(server.address) if server.kind == "orchestrator" else None
    lost = server.lost_leases() - leases0
    # the counters over the whole step: storm, settling and window
    ended = sum(s["ended_by_server"] - a["before"]["ended_by_server"] for s, a in zip(stats, added, strict=True))
    reconnects = sum(s["reconnects"] - a["before"]["reconnects"] for s, a in zip(stats, added, strict=True))
    errors: Counter[str] = Counter()
    for s, a in zip(stats, added, strict=True):
        errors.update(s["errors"])
        errors.subtract(a["before"]["errors"])
    errors = +errors
    holds = missing == 0 and lost == 0 and ended == 0 and probe["p99_ms"] < HEALTH_P99_MS
    return {
        "cells": cells, "new_cells": add, "load_1min": os.getloadavg()[0],
        "storm": {"s": storm_s, "missing": missing, **_percentiles_ms(connect_s)},
        "window_s": elapsed, "health": probe,
        "lost_leases": lost, "ended_by_server": ended, "reconnects": reconnects,
        "client_errors": dict(errors), "open_streams": sum(s["open"] for s in stats),
        "heartbeats": beats, "heartbeats_s": beats / elapsed,
        "expected_heartbeats_s": cells / config.heartbeat_s,
        "send_lag": _percentiles_ms([x for s in stats for x in s["lags"]]),
        "write": _percentiles_ms([x for s in stats for x in s["writes"]]),
        "max_send_gap_s": max(s["max_gap_s"] for s in stats),
        "server_cores": cpu / elapsed, "server_us_per_heartbeat": cpu / beats * 1e6 if beats else float("nan"),
        "server_rss_mib": rss_bytes(server.pid) / 2**20,
        "client_cores": client_cpu / elapsed,
        "list_cells": listed, "holds": holds,
    }


def _start_server(kind: str, config: Config, stack: contextlib.ExitStack) -> Server:
    if kind == "bare":
        bare = Child(_bare_main, config.heartbeat_s, config.lease_s)
        bare.start()
        stack.callback(bare.stop)
        port = bare.queue.get(timeout=60)
        return Server(kind, bare.process.pid or 0, f"127.0.0.1:{port}", None)
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cw-capacity-")))
    orchestrator: Process
    orchestrator, address = start_orchestrator(
        work / "capacity.db", work / "orchestrator.log",
        extra=["--heartbeat-interval", f"{config.heartbeat_s:g}", "--lease-ttl", f"{config.lease_s:g}"])
    stack.callback(orchestrator.stop)
    return Server(kind, orchestrator.popen.pid, address, work / "orchestrator.log")


async def ramp(kind: str, config: Config, steps: tuple[int, ...], hello: bytes,
               profile: tuple[str, int] | None) -> list[dict[str, Any]]:
    """Start `kind` (orchestrator or bare) and the clients; add cells step by step."""
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        server = _start_server(kind, config, stack)
        clients = Clients(config, server.address, hello)
        stack.callback(clients.stop)
        have = 0
        for cells in steps:
            row = await run_step(server, clients, config, have, cells, profile)
            have = cells
            rows.append(row)
            print(_row(kind, row), flush=True)
            broken = row["storm"]["missing"] or row["lost_leases"] or row["ended_by_server"]
            if broken and not config.keep_going:
                print(f"{kind}: stopped at {cells:,} cells (a cell could not connect or a lease was lost)",
                      flush=True)
                break
    return rows


# --- report -----------------------------------------------------------------------
HEADER = (f"{'server':12} {'cells':>6} {'storm s':>8} {'conn p50':>8} {'health':>7} {'health':>7} "
          f"{'lost':>5} {'ended':>5} {'beats/s':>8} {'lag p99':>8} {'cores':>6} {'us/beat':>8} "
          f"{'RSS MiB':>8} {'client':>6} {'List':>8} {'load':>5}\n"
          f"{'':12} {'':>6} {'':>8} {'s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'lease':>5} {'':>5} {'':>8} {'ms':>8} {'':>6} {'':>8} "
          f"{'':>8} {'cores':>6} {'Cells ms':>8} {'1min':>5}")


def _row(kind: str, row: dict[str, Any]) -> str:
    listed = row["list_cells"]
    list_ms = "-" if listed is None else (listed["error"][:8] if listed["error"] else f"{listed['ms']:.0f}")
    missing = f"+{row['storm']['missing']}!" if row["storm"]["missing"] else ""
    return (f"{kind:12} {row['cells']:>6,} {row['storm']['s']:>8.1f}{missing} {row['storm']['p50_ms'] / 1e3:>8.2f} "
            f"{row['health']['p50_ms']:>7.1f} {row['health']['p99_ms']:>7.1f} {row['lost_leases']:>5} "
            f"{row['ended_by_server']:>5} {row['heartbeats_s']:>8,.0f} {row['send_lag']['p99_ms']:>8.1f} "
            f"{row['server_cores']:>6.2f} {row['server_us_per_heartbeat']:>8.0f} {row['server_rss_mib']:>8.0f} "
            f"{row['client_cores']:>6.2f} {list_ms:>8} {row['load_1min']:>5.2f}")


def _summary(report: dict[str, Any]) -> str:
    bare = {r["cells"]: r for r in report["bare"]}
    lines = [f"{'cells':>6} {'holds':>5} {'health p99 ms':>15} {'cores':>11} {'us/heartbeat':>13} "
             f"{'lost':>5} {'lag p99 ms':>12}",
             f"{'':>6} {'':>5} {'ours / bare':>15} {'ours / bare':>11} {'ours / bare':>13} {'lease':>5} "
             f"{'ours / bare':>12}"]
    for row in report["orchestrator"]:
        b = bare.get(row["cells"])

        def pair(key: Callable[[dict[str, Any]], float], fmt: str, r: dict[str, Any] = row,
                 b: dict[str, Any] | None = b) -> str:
            return f"{key(r):{fmt}} / " + (f"{key(b):{fmt}}" if b is not None else "-")

        lines.append(f"{row['cells']:>6,} {'yes' if row['holds'] else 'NO':>5} "
                     f"{pair(lambda r: r['health']['p99_ms'], '.1f'):>15} "
                     f"{pair(lambda r: r['server_cores'], '.2f'):>11} "
                     f"{pair(lambda r: r['server_us_per_heartbeat'], '.0f'):>13} {row['lost_leases']:>5} "
                     f"{pair(lambda r: r['send_lag']['p99_ms'], '.1f'):>12}")
    held = [r["cells"] for r in report["orchestrator"] if r["holds"]]
    lines.append(f"largest step held (all connected, no lease lost, health p99 < {HEALTH_P99_MS:g} ms): "
                 + (f"{max(held):,} cells" if held else "none"))
    return "\n".join(lines)


def run(config: Config, profile: tuple[str, int] | None) -> dict[str, Any]:
    fds = raise_fd_limit()
    template = hello_template(config.hello)
    hello = template.SerializeToString()
    m = machine()
    connections = ("one channel (one TCP connection) per cell" if not config.channels
                   else f"{config.channels} shared channels per client process")
    print(f"capacity: protocol-level cells (CellService.Connect over gRPC: hello, welcome, heartbeats; "
          f"no robot, no control loop) in {config.client_procs} client processes, {connections}\n"
          f"hello {len(hello):,} B ({HELLOS[config.hello].name}: {len(template.skills)} skills, "
          f"{len(template.robots)} robots), heartbeat {heartbeat_message().ByteSize()} B every "
          f"{config.heartbeat_s:g} s, lease {config.lease_s:g} s; window {config.window_s:g} s, "
          f"health probe {config.probe_hz:g}/s; open files {fds:,}\n"
          f"machine: {m['cores']} cores, {m['cpu_model']}, Python {m['python']}, grpcio {m['grpcio']}, "
          f"protobuf {m['protobuf']}; load {os.getloadavg()[0]:.2f}\n", flush=True)
    print(HEADER, flush=True)
    ours = asyncio.run(ramp("orchestrator", config, config.cells, hello, profile)) if config.ours else []
    reached = tuple(r["cells"] for r in ours) if config.ours else config.cells
    bare = asyncio.run(ramp("bare", config, reached, hello, None)) if config.bare else []
    return {"config": asdict(config), "machine": m, "hello_bytes": len(hello),
            "heartbeat_bytes": heartbeat_message().ByteSize(), "connections": connections,
            "orchestrator": ours, "bare": bare}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="256 and 1,024 cells, short windows (under a minute)")
    parser.add_argument("--cells", help="the steps, comma-separated (default "
                        f"{','.join(map(str, FULL.cells))})")
    parser.add_argument("--window", type=float, metavar="S",
                        help=f"measuring window per step (default {FULL.window_s:g})")
    parser.add_argument("--client-procs", type=int, help=f"client processes (default {FULL.client_procs})")
    parser.add_argument("--channels", type=int, help="channels per client process (default: one per cell)")
    parser.add_argument("--hello", choices=sorted(HELLOS), help="the cell whose hello is sent (default arm)")
    parser.add_argument("--heartbeat", type=float, metavar="S",
                        help=f"heartbeat interval the orchestrator asks for (default {FULL.heartbeat_s:g})")
    parser.add_argument("--lease", type=float, metavar="S", help=f"lease (default {FULL.lease_s:g})")
    parser.add_argument("--keep-going", action="store_true", help="go on past a step that lost a lease")
    parser.add_argument("--servers", default="orchestrator,bare",
                        help="which ramps to run: orchestrator, bare or both (default %(default)s)")
    parser.add_argument("--profile", metavar="PATH",
                        help="py-spy record the orchestrator over one window (.svg, .json or raw stacks)")
    parser.add_argument("--profile-at", type=int, metavar="N", help="the step to profile (default the last)")
    parser.add_argument("--json", metavar="PATH", help="also save the figures as JSON")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.cells:
        config = replace(config, cells=tuple(sorted({int(n) for n in args.cells.split(",")})))
    config = replace(config, window_s=args.window or config.window_s,
                     client_procs=args.client_procs or config.client_procs,
                     channels=args.channels if args.channels is not None else config.channels,
                     hello=args.hello or config.hello, keep_going=args.keep_going,
                     heartbeat_s=args.heartbeat or config.heartbeat_s, lease_s=args.lease or config.lease_s,
                     ours="orchestrator" in args.servers, bare="bare" in args.servers)
    profile = (args.profile, args.profile_at or config.cells[-1]) if args.profile else None
    try:
        report = run(config, profile)
    except KeyboardInterrupt:
        print("interrupted; processes stopped", file=sys.stderr)
        return 130
    except (RuntimeError, queue.Empty, grpc.RpcError) as exc:
        print(f"error: {exc!r}", file=sys.stderr)
        return 1
    if report["orchestrator"]:
        print("\n" + _summary(report))
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
