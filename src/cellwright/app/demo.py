"""`cellwright demo`: the whole path on one machine, as separate processes.

By default the kitting line with its humanoid (`demo_line`); `--world line2` runs two arm
cells of one world (`demo_line2`); `--world arm_cell` runs this module's demo:

An orchestrator (temporary SQLite) and a simulated Panda arm cell (PyBullet DIRECT) start
as their own processes on loopback; the demo then acts as an MES: it submits a batch of
jobs over gRPC, follows them with WatchJobs and the cell's ZeroMQ state stream, and ends
with a KPI table, a PNG of the final scene, an HTML report and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from cellwright.api.client import FINAL_JOB_STATES, Client
from cellwright.api.statestream import StateSubscriber
from cellwright.app import demo_line2
from cellwright.app.commands import describe_event
from cellwright.app.demo_common import DemoFailed, cell_summary, wait_for_cells
from cellwright.app.kpis import format_table, job_kpis
from cellwright.app.launch import start_cell, start_orchestrator
from cellwright.app.report import write_report
from cellwright.v1 import job_pb2, packml_pb2, state_pb2

CELL_ID = "arm-1"
BATCH: list[tuple[str, dict[str, Any]]] = [
    ("pick-place", {"part": "red_cube", "to": "outfeed_a"}),
    ("pick-place", {"part": "green_cube", "to": "outfeed_a"}),
    ("pick-place", {"part": "blue_cube", "to": "outfeed_a"}),
    ("kitting", {"first": "red_cube", "second": "green_cube", "tray": "outfeed_b"}),
    ("pick-place", {"part": "blue_cube", "to": "outfeed_b"}),
    ("pick-place", {"part": "red_cube", "to": "outfeed_b"}),
]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("demo", help="run the self-contained end-to-end demonstration")
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="folder for the PNG, JSON summary and logs (default %(default)s)")
    parser.add_argument("--jobs", type=int,
                        help=f"how many jobs to submit: line 1 (the default), arm_cell and line2 "
                             f"1..{len(BATCH)} (default {len(BATCH)})")
    parser.add_argument("--gui", action="store_true", help="show the PyBullet GUI (needs a display)")
    parser.add_argument("--timeout", type=float,
                        help="give up after this many wall seconds (default: 2400 for the line, "
                             "which takes about 10 minutes on 2 cores; 600 for the others)")
    parser.add_argument("--world", choices=("line", "arm_cell", "line2"), default="line",
                        help="line (default): an arm cell kits parts into a tote, a humanoid "
                             "cell carries it to assembly and back, a worker crosses the aisle; "
                             "arm_cell: one arm cell and a batch of pick-place and kitting jobs; "
                             "line2: two arm cells of one world, transfer jobs over both through "
                             "a reserved handover station")
    parser.set_defaults(func=run)


class StreamWatcher:
    """Follows the cell's ZeroMQ state stream on a thread and keeps the latest figures."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.count = 0
        self.gaps = 0
        self.sim_time_s = 0.0
        self.tool = (0.0, 0.0, 0.0)
        self.packml = "?"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with StateSubscriber(self.endpoint) as subscriber:
            while not self._stop.is_set():
                message = subscriber.recv(100)
                if message is None:
                    continue
                self.count += 1
                self.gaps += message.gap
                self.sim_time_s = message.sim_time_s
                payload = message.payload
                if isinstance(payload, state_pb2.RobotState):
                    p = payload.tool_pose.position_m
                    self.tool = (p.x, p.y, p.z)
                elif isinstance(payload, state_pb2.CellState):
                    self.packml = packml_pb2.PackmlState.Name(payload.packml_state).removeprefix(
                        "PACKML_STATE_").title()

    def line(self) -> str:
        x, y, z = self.tool
        return (f"state stream: {self.count} msgs, sim t={self.sim_time_s:6.1f} s, PackML "
                f"{self.packml}, tool at ({x:+.2f}, {y:+.2f}, {z:+.2f}) m")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


def run(args: argparse.Namespace) -> int:
    world = getattr(args, "world", "line")
    if args.jobs is None:
        args.jobs = 1 if world == "line" else len(BATCH)
    if getattr(args, "timeout", None) is None:
        args.timeout = 2400.0 if world == "line" else 600.0
    if world == "line":
        from cellwright.app import demo_line  # PyBullet and matplotlib: not for every command

        return demo_line.run(args)
    if world == "line2":
        return demo_line2.run(args)
    if not 1 <= args.jobs <= len(BATCH):
        raise SystemExit(f"error: --jobs must be in 1..{len(BATCH)}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cellwright-demo-") as tmp:
        db = Path(tmp) / "orchestrator.db"
        config = Path(tmp) / "cell.yaml"
        config.write_text(yaml.safe_dump({"cell_id": CELL_ID, "tags": ["arm", "panda"],
                                          "world": "arm_cell", "robots": {"panda": "pybullet.panda"},
                                          "auto_start": True}))
        snapshot = out / "final_scene.png"
        print(f"cellwright demo: orchestrator + arm cell as separate processes; logs in {out}/")
        orchestrator, address = start_orchestrator(db, out / "orchestrator.log")
        print(f"[{time.monotonic() - started:6.1f}s] orchestrator listening on {address}")
        cell_process = start_cell(config, address, out / "cell.log", snapshot=snapshot, gui=args.gui)
        watcher: StreamWatcher | None = None
        try:
            with Client(address) as client:
                cell = wait_for_cells(client, cell_process, [CELL_ID], started, args.timeout)[CELL_ID]
                watcher = StreamWatcher(cell.state_endpoint)
                summary = _run_batch(client, BATCH[:args.jobs], watcher, started, args.timeout)
                summary["cells"] = [cell_summary(c) for c in client.list_cells()]
        except DemoFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            if watcher is not None:
                watcher.close()
            cell_code = cell_process.stop()
            orchestrator.stop()
        if not snapshot.exists():
            print(f"cell exited with {cell_code} without writing {snapshot}: {cell_process.tail_log()}")
            return 1
    summary["wall_time_s"] = time.monotonic() - started
    summary["snapshot_png"] = str(snapshot)
    table = format_table(summary["kpis"])
    print()
    print(table)
    for cell in summary["cells"]:
        for approximation in cell["approximations"]:
            print(f"approximated: {cell['id']}: {approximation}")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    write_report(out / "report.html", summary, table, snapshot.name)
    print(f"\nfinal scene: {snapshot}\nreport:      {out / 'report.html'}\n"
          f"summary:     {out / 'summary.json'}\nwall time:   {summary['wall_time_s']:.1f} s")
    return 0


def _run_batch(client: Client, batch: list[tuple[str, dict[str, Any]]], watcher: StreamWatcher,
               started: float, timeout_s: float) -> dict[str, Any]:
    """Submit the batch, print events and stream figures until every job has ended."""
    jobs = [client.submit(workflow, params, labels={"source": "demo"}) for workflow, params in batch]
    print(f"[{time.monotonic() - started:6.1f}s] submitted {len(jobs)} jobs over gRPC")
    pending = {j.id for j in jobs}
    last_line = 0.0
    events = client.watch(timeout_s=max(1.0, timeout_s - (time.monotonic() - started)))
    for event in events:
        now = time.monotonic() - started
        if event.job.id in pending:
            print(f"[{now:6.1f}s] {describe_event(event)}", flush=True)
            if event.job.state in FINAL_JOB_STATES:
                pending.discard(event.job.id)
        if now - last_line > 2.0:
            print(f"[{now:6.1f}s] {watcher.line()}", flush=True)
            last_line = now
        if not pending:
            break
    events.close()
    if pending:
        raise DemoFailed(f"jobs {sorted(pending)} did not end within the --timeout of {timeout_s:.0f} s")
    print(f"[{time.monotonic() - started:6.1f}s] {watcher.line()}")
    finished = [client.get(j.id) for j in jobs]
    cells = client.list_cells()
    return {
        "kpis": job_kpis(finished, cells),
        "jobs": [{"id": j.id, "workflow": j.workflow, "params": json_format.MessageToDict(j.params),
                  "state": job_pb2.JobState.Name(j.state).removeprefix("JOB_STATE_"),
                  "cycle_time_s": j.cycle_time_s,
                  "tasks": [{"step": t.step_id, "attempts": t.attempt,
                             "state": job_pb2.TaskState.Name(t.state).removeprefix("TASK_STATE_"),
                             "duration_s": t.duration_s, "error": t.error.reason}
                            for t in j.tasks]} for j in finished],
        "state_stream": {"messages": watcher.count, "gaps": watcher.gaps},
    }
