"""`cellwright demo` (the default world, `line`): an arm cell kits parts into a tote, a
humanoid cell carries the tote to the assembly table and back, a worker crosses the aisle.

An orchestrator (temporary SQLite, `--layout` of the line world, `--workflows` holding the
world's `kit-and-deliver` workflow) and one world host running cells kitter (a Panda) and
humanoid (a Unitree G1), with the configs of examples/line, start as their own processes
on loopback. The demo submits one job as an MES would, prints its events and the
humanoid's balance as they come, and ends with the KPI tables (the humanoid's: distance
walked, minimum margin, protective stops, walking tier), plots of the balance, an
animated GIF with snapshots of key moments, an HTML report and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from cellwright.api.client import FINAL_JOB_STATES, Client
from cellwright.app.balance_log import BalanceLog, BalanceSummary
from cellwright.app.commands import describe_event
from cellwright.app.demo_common import (
    DemoFailed,
    cell_summary,
    job_summary,
    next_cell_state,
    start_line,
    wait_for_cells,
)
from cellwright.app.kpis import format_rows, format_table, humanoid_kpis, job_kpis
from cellwright.app.plots import plot_balance, plot_floor_track
from cellwright.app.report import write_report
from cellwright.cells.recording import read_index
from cellwright.sim_worlds.registry import WORLDS_DIR
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2, state_pb2

WORKFLOW = "kit-and-deliver"
WORKFLOW_FILE = WORLDS_DIR / "line.workflow.yaml"  # package data; examples/line/kit-and-deliver.yaml links here
LAYOUT_FILE = WORLDS_DIR / "line.layout.yaml"
HUMANOID = "humanoid"
PARTS = ["red_cube", "green_cube", "blue_cube"]
CELLS: dict[str, dict[str, Any]] = {  # as examples/line/kitter.yaml and humanoid.yaml
    "kitter": {"cell_id": "kitter", "tags": ["arm", "panda", "line"], "world": "line", "clock": "lockstep",
               "robots": {"panda": {"model": "pybullet.panda", "mount": "panda"},
                          "people": {"model": "pybullet.presence", "mount": "panda"}},
               "skills": ["move_to", "pick", "place", "pick_place"]},
    "humanoid": {"cell_id": "humanoid", "tags": ["humanoid", "g1", "line"], "world": "line", "clock": "lockstep",
                 "robots": {"g1": {"model": "pybullet.g1", "mount": "g1"},
                            "people": {"model": "pybullet.presence", "mount": "g1"}},
                 "skills": ["walk_to", "pick_tote", "place_tote", "carry_tote", "handover"]},
}
RECORD_FPS, RECORD_SPEEDUP = 1.0, 10.0
"""The GIF: a frame per simulated second (rendering one costs ~0.1 s of wall time), played
as a 10x time-lapse."""
PROGRESS_S = 3.0
"""Wall seconds between progress lines while no job event comes."""


def run(args: argparse.Namespace) -> int:
    if args.jobs != 1:
        raise SystemExit("error: the line runs one kit-and-deliver job (--jobs 1): its tote "
                         "holds three parts and nobody empties it at the assembly table")
    out: Path = args.out.resolve()  # the report links its pictures relative to itself
    out.mkdir(parents=True, exist_ok=True)
    recording = out / "recording"
    shutil.rmtree(recording, ignore_errors=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cellwright-demo-line-") as tmp:
        snapshot = out / "final_scene.png"
        print(f"cellwright demo: the kitting line; an orchestrator and one world host (cells "
              f"{' and '.join(CELLS)}) as separate processes; logs in {out}/")
        orchestrator, address, host = start_line(
            Path(tmp), out, started, layout_file=LAYOUT_FILE, workflow_file=WORKFLOW_FILE, workflow=WORKFLOW,
            cells=CELLS, host_args=["--snapshot", str(snapshot), "--record", str(recording),
                                    "--record-fps", str(RECORD_FPS), "--record-speedup", str(RECORD_SPEEDUP),
                                    *(["--gui"] if args.gui else [])])
        balance: BalanceLog | None = None
        try:
            with Client(address) as client:
                cells = wait_for_cells(client, host, CELLS, started, args.timeout)
                balance = BalanceLog(cells[HUMANOID].state_endpoint, HUMANOID).start()
                job = _run_job(client, balance, started, args.timeout)
                safety = {cell_id: next_cell_state(cell.state_endpoint, cell_id)
                          for cell_id, cell in cells.items()}
                listed = client.list_cells()
        except DemoFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            if balance is not None:
                balance.stop()
            host.stop()
            orchestrator.stop()
    summary = _summary(job, listed, balance.summary(),
                       {c: s.safety for c, s in safety.items() if s is not None})
    summary["wall_time_s"] = time.monotonic() - started
    _write_outputs(out, summary, balance, recording, snapshot)
    return 0 if job.state == job_pb2.JOB_STATE_SUCCEEDED else 1


def _run_job(client: Client, balance: BalanceLog, started: float, timeout_s: float) -> job_pb2.Job:
    """Submit the job; print its events as they come (on a thread) and the humanoid's
    balance every `PROGRESS_S`, until it ends."""
    job = client.submit(WORKFLOW, {"parts": PARTS}, labels={"source": "demo"})
    print(f"[{time.monotonic() - started:6.1f}s] submitted {job.id}: {WORKFLOW} of "
          f"{', '.join(PARTS)}", flush=True)
    ended = threading.Event()

    def follow() -> None:
        try:
            for event in client.watch(job_id=job.id, timeout_s=timeout_s):
                print(f"[{time.monotonic() - started:6.1f}s] {describe_event(event)}", flush=True)
                if event.job.state in FINAL_JOB_STATES:
                    ended.set()
                    return
        except grpc.RpcError:  # the demo gave up and closed the channel: it says why itself
            return

    threading.Thread(target=follow, name="demo job events", daemon=True).start()
    while not ended.wait(PROGRESS_S):
        if time.monotonic() - started > timeout_s:
            raise DemoFailed(f"job {job.id} did not end within the --timeout of {timeout_s:.0f} s")
        if line := _balance_line(balance):
            print(f"[{time.monotonic() - started:6.1f}s] {line}", flush=True)
    return client.get(job.id)


def _balance_line(balance: BalanceLog) -> str:
    sample = balance.latest()
    if sample is None:
        return ""
    margin = f"{sample.margin_m * 1000:+.0f} mm" if math.isfinite(sample.margin_m) else "no foot down"
    return (f"{HUMANOID}: sim t={sample.t_s:6.1f} s, {sample.phase}, stability margin {margin} "
            f"(floor {sample.margin_floor_m * 1000:+.0f} mm), walked {sample.distance_walked_m:.2f} m, "
            f"tier {sample.tier}")


def _summary(job: job_pb2.Job, cells: Sequence[cell_pb.Cell], balance: BalanceSummary,
             safety: Mapping[str, state_pb2.Safety]) -> dict[str, Any]:
    results = [json_format.MessageToDict(t.result) for t in job.tasks
               if t.cell_id == HUMANOID and t.state == job_pb2.TASK_STATE_SUCCEEDED]
    return {"kpis": job_kpis([job], cells), "humanoid": humanoid_kpis(results, balance, safety),
            "jobs": [job_summary(job)], "cells": [cell_summary(c) for c in cells],
            "safety": {cell_id: json_format.MessageToDict(s) for cell_id, s in safety.items()},
            "balance": balance.to_json()}


def _write_outputs(out: Path, summary: dict[str, Any], balance: BalanceLog, recording: Path,
                   snapshot: Path) -> None:
    """Print the tables; write the plots, balance.json, summary.json and report.html."""
    samples = balance.samples()
    pictures: dict[str, Any] = {}
    if samples:
        title = f"Balance of the G1 (cell {HUMANOID})"
        pictures["balance_png"] = plot_balance(samples, out / "balance.png", title=title)
        pictures["floor_track_png"] = plot_floor_track(samples, out / "floor_track.png",
                                                       title=f"Floor track of the G1 (cell {HUMANOID})")
        (out / "balance.json").write_text(json.dumps(balance.to_json()))
    try:
        index = read_index(recording)
        pictures["gif"] = index.gif
        pictures["snapshots"] = [(path, shot.caption) for path, shot in index.snapshots]
    except (FileNotFoundError, ValueError) as exc:
        print(f"note: no recording to show ({exc})")
    table = format_table(summary["kpis"])
    humanoid = summary["humanoid"]
    print()
    print(table)
    print(format_rows([(name, _text(value)) for name, value in humanoid.items()],
                      heading=(f"humanoid ({HUMANOID})", "value")))
    for cell in summary["cells"]:
        for approximation in cell["approximations"]:
            print(f"approximated: {cell['id']}: {approximation}")
    summary["pictures"] = {k: ([str(p) for p, _ in v] if k == "snapshots" else str(v))
                           for k, v in pictures.items() if v is not None}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    write_report(out / "report.html", summary, table, snapshot.name, humanoid=humanoid, **pictures)
    print(f"\nreport:      {out / 'report.html'}\nsummary:     {out / 'summary.json'}\n"
          f"pictures:    {', '.join(str(p) for p in [pictures.get('balance_png'), pictures.get('gif'), snapshot] if p)}"
          f"\nwall time:   {summary['wall_time_s']:.1f} s")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value + 0.0:g}" if isinstance(value, float) else str(value)  # + 0.0: no "-0"
