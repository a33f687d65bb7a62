"""`cellwright demo --world line2`: two cells of one world, a workflow over both, a shared
station held by reservations.

An orchestrator (temporary SQLite, `--layout` of the line2 world, `--workflows` holding the
world's `transfer` workflow) and one world host running cells arm-a and arm-b (the configs
of examples/line2) start as their own processes on loopback. The demo submits a batch of
`transfer` jobs (infeed -> arm-a -> handover tray -> arm-b -> outfeed), watches the
`handover` reservation while they run (JobService.ListReservations), and prints per job
its outcome, which cell ran each step and what each step reserved (Task.reservations),
and whether two tasks ever held `handover` at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from cellwright.api.client import FINAL_JOB_STATES, Client
from cellwright.app.demo_common import DemoFailed, job_summary, start_line, wait_for_cells
from cellwright.sim_worlds.registry import WORLDS_DIR
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc

WORKFLOW = "transfer"
WORKFLOW_FILE = WORLDS_DIR / "line2.workflow.yaml"  # package data; examples/line2/transfer.yaml links here
LAYOUT_FILE = WORLDS_DIR / "line2.layout.yaml"
SHARED = "handover"
PARTS = ["red_cube", "green_cube", "blue_cube", "green_cube", "blue_cube", "red_cube"]  # the infeed's six
CELLS: dict[str, dict[str, Any]] = {  # as examples/line2/arm-a.yaml and arm-b.yaml
    "arm-a": {"cell_id": "arm-a", "tags": ["arm", "panda", "line2"], "world": "line2",
              "robots": {"panda": {"model": "pybullet.panda", "mount": "arm_a"}},
              "skills": ["move_to", "pick", "place", "pick_place"]},
    "arm-b": {"cell_id": "arm-b", "tags": ["arm", "panda", "line2"], "world": "line2",
              "robots": {"panda": {"model": "pybullet.panda", "mount": "arm_b"}},
              "skills": ["pick_place"]},
}


@dataclass
class HandoverWatch:
    """What ListReservations showed of the shared station while the jobs ran."""

    holders: list[tuple[float, str]] = field(default_factory=list)  # (t, "task@cell state" or "free")
    most_at_once: int = 0

    def poll(self, client: Client, now: float) -> str | None:
        """Look once; return a line to print when the holder changed."""
        response: job_svc.ListReservationsResponse = client.jobs.ListReservations(
            job_svc.ListReservationsRequest(), timeout=client.timeout_s)
        held = [r for r in response.reservations if r.resource == SHARED]
        self.most_at_once = max(self.most_at_once, len(held))
        holder = ", ".join(
            f"{r.task_id}@{r.cell_id} "
            f"{job_pb2.ReservationState.Name(r.state).removeprefix('RESERVATION_STATE_')}"
            for r in held) or "free"
        if self.holders and self.holders[-1][1] == holder:
            return None
        self.holders.append((now, holder))
        return f"{SHARED}: {holder}"


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.jobs <= len(PARTS):
        raise SystemExit(f"error: --jobs must be in 1..{len(PARTS)} for line2 (its infeed holds "
                         f"{len(PARTS)} parts)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cellwright-demo-line2-") as tmp:
        snapshot = out / "final_scene.png"
        print(f"cellwright demo --world line2: orchestrator + one world host (arm-a, arm-b); "
              f"logs in {out}/")
        orchestrator, address, cells = start_line(
            Path(tmp), out, started, layout_file=LAYOUT_FILE, workflow_file=WORKFLOW_FILE, workflow=WORKFLOW,
            cells=CELLS, host_args=["--snapshot", str(snapshot), *(["--gui"] if args.gui else [])])
        try:
            with Client(address) as client:
                wait_for_cells(client, cells, CELLS, started, args.timeout)
                summary = _run_jobs(client, PARTS[:args.jobs], started, args.timeout)
        except DemoFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            cells.stop()
            orchestrator.stop()
    summary["wall_time_s"] = time.monotonic() - started
    summary["snapshot_png"] = str(snapshot) if snapshot.exists() else None
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    _print_summary(summary)
    print(f"\nfinal scene: {snapshot}\nsummary:     {out / 'summary.json'}\n"
          f"wall time:   {summary['wall_time_s']:.1f} s")
    return 0 if all(j["state"] == "SUCCEEDED" for j in summary["jobs"]) else 1


def _run_jobs(client: Client, parts: list[str], started: float, timeout_s: float) -> dict[str, Any]:
    """Submit one transfer job per part, follow them to the end; what happened, as a dict."""
    try:
        jobs = [client.submit(WORKFLOW, {"part": part}, labels={"source": "demo"}) for part in parts]
    except grpc.RpcError as exc:
        raise DemoFailed(f"the orchestrator refused a {WORKFLOW} job: {exc.code().name}: "
                         f"{exc.details()}") from None
    print(f"[{time.monotonic() - started:6.1f}s] submitted {len(jobs)} {WORKFLOW} jobs: "
          f"{', '.join(f'{j.id} ({p})' for j, p in zip(jobs, parts, strict=True))}")
    watch = HandoverWatch()
    seen: dict[str, str] = {}
    pending = {j.id for j in jobs}
    while pending:
        now = time.monotonic() - started
        if now > timeout_s:
            raise DemoFailed(f"jobs {sorted(pending)} did not end within the --timeout of "
                             f"{timeout_s:.0f} s")
        if line := watch.poll(client, now):
            print(f"[{now:6.1f}s] {line}", flush=True)
        for job_id in sorted(pending):
            job = client.get(job_id)
            for task in job.tasks:
                state = job_pb2.TaskState.Name(task.state).removeprefix("TASK_STATE_")
                text = f"{state} on {task.cell_id}" if task.cell_id else state
                if task.waiting_reason and state == "READY":
                    text += f" ({task.waiting_reason})"
                if seen.get(task.id) != text:
                    print(f"[{now:6.1f}s] {task.id}: {text}", flush=True)
                    seen[task.id] = text
            if job.state in FINAL_JOB_STATES:
                pending.discard(job_id)
        time.sleep(0.1)
    finished = [client.get(j.id) for j in jobs]
    return {"jobs": [job_summary(job) for job in finished],
            "handover": {"most_holders_at_once": watch.most_at_once,
                         "observed": [{"t_s": round(t, 1), "holder": h} for t, h in watch.holders],
                         "overlaps_from_tasks": _overlaps(finished)}}


def _overlaps(jobs: list[job_pb2.Job]) -> list[str]:
    """Pairs of tasks that reserved the shared station and ran at overlapping (wall) times,
    from their assigned and finished times: there should be none."""
    spans = sorted((t.assigned_time.ToNanoseconds(), t.finished_time.ToNanoseconds(), t.id)
                   for job in jobs for t in job.tasks
                   if SHARED in t.reservations and t.HasField("assigned_time")
                   and t.HasField("finished_time"))
    return [f"{a} and {b}" for i, (_s1, end, a) in enumerate(spans)
            for start, _e2, b in spans[i + 1:] if start < end]


def _print_summary(summary: dict[str, Any]) -> None:
    print()
    for job in summary["jobs"]:
        print(f"{job['id']} {job['params'].get('part', '')}: {job['state']}, cycle "
              f"{job['cycle_time_s']:.1f} s on the cells' clocks")
        for step in job["steps"]:
            reserved = f" reserved {', '.join(step['reservations'])}" if step["reservations"] else ""
            error = f"  [{step['error']}]" if step["error"] else ""
            print(f"  {step['step']:<10} {step['state']:<10} on {step['cell'] or '-':<6}"
                  f"{reserved} ({step['duration_s']:.1f} s, attempt {step['attempts']}){error}")
    handover = summary["handover"]
    print(f"\n{SHARED} as ListReservations showed it: at most {handover['most_holders_at_once']} "
          f"holder(s) at once; {len(handover['observed'])} changes seen")
    overlaps = handover["overlaps_from_tasks"]
    print(f"{SHARED} held by two tasks at once (from the tasks' times): "
          f"{'; '.join(overlaps) if overlaps else 'never'}")
