"""`cellwright promote WORKFLOW --sim SIM_CELL.yaml --real REAL_CELL.yaml`: the sim-to-real gate.

Starts an orchestrator (SQLite in a temporary folder, loopback) and both cells as processes,
runs the same job through the workflow on the simulated cell and then on the real one, and
compares them step by step (`promote_gate.py`: outcome, duration on each cell's own clock,
where the tool ended). Prints a table; writes `promote.json` and `promote.html`. Exit 0: the
gate passes; 1: it fails (or a run could not be completed); 2: bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2

from cellwright.api.client import FINAL_JOB_STATES, Client
from cellwright.api.statestream import StateSubscriber
from cellwright.app.commands import PARAM_HELP, key_value, param_value
from cellwright.app.demo_common import DemoFailed, cell_summary, wait_for_cells
from cellwright.app.launch import Process, start_cell, start_orchestrator
from cellwright.app.promote_gate import (
    SideRun,
    StepRun,
    Tolerances,
    ToolPose,
    clock_words,
    compare,
    format_table,
    ran,
    render_html,
)
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2, state_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import workflow_service_pb2 as wf_pb
from cellwright.v1 import workflow_service_pb2_grpc as wf_grpc

FINAL_TASK_STATES = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"}
CELL_START_S = 120.0
"""Wall seconds a cell gets to connect and reach Execute."""
POSE_WAIT_S = 5.0
"""Wall seconds to wait, after a job ends, for the state stream to show its last step ended."""


class BadInput(ValueError):
    """The command cannot run as asked (exit 2); the message says what to change."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `cellwright promote`."""
    parser = sub.add_parser("promote", help="the sim-to-real gate: run a workflow on a simulated and a "
                                            "real cell and compare them step by step")
    parser.add_argument("workflow", help="a workflow file (YAML) or the name of a built-in workflow")
    parser.add_argument("--sim", type=Path, required=True, metavar="SIM_CELL.yaml",
                        help="the simulated cell's config")
    parser.add_argument("--real", type=Path, required=True, metavar="REAL_CELL.yaml",
                        help="the real cell's config (e.g. opcua.panda on a controller)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        type=key_value(param_value), help=PARAM_HELP)
    parser.add_argument("--tolerance-duration", type=float, default=0.25, metavar="FRACTION",
                        help="flag a step whose durations differ by more than this fraction of the "
                             "simulated one (default %(default)s)")
    parser.add_argument("--duration-floor", type=float, default=0.1, metavar="S",
                        help="never flag a duration difference up to this many seconds (default %(default)s)")
    parser.add_argument("--tolerance-position-mm", type=float, default=5.0, metavar="MM",
                        help="flag a step whose tool ends farther apart than this (default %(default)s)")
    parser.add_argument("--note", action="append", default=[], metavar="TEXT",
                        help="a line for the report, e.g. how the real controller is perturbed (repeatable)")
    parser.add_argument("-o", "--out", type=Path, default=Path("promote-output"),
                        help="folder for promote.json, promote.html and the logs (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="S",
                        help="give up after this many wall seconds (default %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        tolerances = Tolerances(args.tolerance_duration, args.duration_floor, args.tolerance_position_mm)
        tolerances.check()
        sim_config, real_config = _configs(args.sim, args.real)
        workflow_text = _workflow_text(args.workflow)
    except (BadInput, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    params = dict(args.param)
    print(f"cellwright promote: {args.workflow} on {sim_config.cell_id} (sim) then "
          f"{real_config.cell_id} (real); logs in {out}/", flush=True)
    with tempfile.TemporaryDirectory(prefix="cellwright-promote-") as tmp:
        orchestrator, address = start_orchestrator(Path(tmp) / "orchestrator.db", out / "orchestrator.log")
        processes: list[Process] = []
        try:
            processes.append(start_cell(args.sim, address, out / "sim-cell.log"))
            processes.append(start_cell(args.real, address, out / "real-cell.log"))
            with Client(address) as client:
                cells = {config.cell_id: wait_for_cells(client, process, [config.cell_id], started,
                                                        min(args.timeout, CELL_START_S))[config.cell_id]
                         for config, process in zip((sim_config, real_config), processes, strict=True)}
                workflow = _put_workflow(client, args.workflow, workflow_text)
                sides = [_run_side(client, role, cells[config.cell_id], config.clock_mode, path, workflow,
                                   params, started, args.timeout)
                         for role, config, path in (("sim", sim_config, args.sim), ("real", real_config, args.real))]
        except BadInput as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except (DemoFailed, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            (out / "promote.json").write_text(json.dumps({
                "workflow": args.workflow, "params": params, "verdict": "fail", "error": str(exc),
                "notes": list(args.note)}, indent=2))
            return 1
        finally:
            for process in reversed(processes):
                process.stop()
            orchestrator.stop()
    report = compare(sides[0], sides[1], tolerances)
    report = {"workflow": workflow, "params": params, **report, "notes": list(args.note),
              "wall_time_s": round(time.monotonic() - started, 1)}
    print()
    print(format_table(report))
    (out / "promote.json").write_text(json.dumps(report, indent=2))
    (out / "promote.html").write_text(render_html(report, args.note))
    print(f"\nreport: {out / 'promote.html'}\njson:   {out / 'promote.json'}", flush=True)
    return 0 if report["verdict"] == "pass" else 1


# --- input --------------------------------------------------------------------------------
def _configs(sim: Path, real: Path) -> tuple[Any, Any]:
    """Both cell configs, checked as `cell run` would, and fit for the gate."""
    from cellwright.cells.config import ConfigError, load_config

    configs = []
    for role, path in (("--sim", sim), ("--real", real)):
        try:
            config = load_config(path)
        except ConfigError as exc:
            raise BadInput(f"{role}: {exc}") from None
        if not config.auto_start:
            raise BadInput(f"{role}: {path}: auto_start: false; the gate needs cells that start by "
                           f"themselves (remove the key or set it true)")
        configs.append(config)
    if configs[0].cell_id == configs[1].cell_id:
        raise BadInput(f"--sim and --real both have cell_id {configs[0].cell_id!r}; they connect to one "
                       f"orchestrator, so give them different ids")
    return configs[0], configs[1]


def _workflow_text(workflow: str) -> str | None:
    """The file's text when `workflow` names a file, None when it names a stored workflow."""
    path = Path(workflow)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            return path.read_text()
        except OSError as exc:
            raise BadInput(f"{workflow}: {exc.strerror}") from None
    return None


def _put_workflow(client: Client, workflow: str, text: str | None) -> str:
    """Store the workflow file (once the cells' skills are known); its name."""
    if text is None:
        return workflow
    stub = wf_grpc.WorkflowServiceStub(client.channel)
    try:
        response: wf_pb.PutWorkflowResponse = stub.PutWorkflow(
            wf_pb.PutWorkflowRequest(source=text, origin=workflow), timeout=client.timeout_s)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise BadInput(f"{workflow}: {exc.details()}") from None
        raise
    return str(response.workflow.name)


# --- one run ------------------------------------------------------------------------------
class EndPoses:
    """Follows a cell's state stream on a thread and keeps, per task, where each robot's
    tool was in the first cell state that no longer showed the task (robot states of a tick
    are published before its cell state, on one socket)."""

    def __init__(self, endpoint: str, cell_id: str) -> None:
        self.cell_id = cell_id
        self.poses: dict[str, dict[str, ToolPose]] = {}
        self._now: dict[str, ToolPose] = {}
        self._task = ""
        self._seen = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(endpoint,), daemon=True,
                                        name=f"end-poses {cell_id}")
        self._thread.start()

    def wait_ready(self, timeout_s: float) -> bool:
        """True once a cell state has arrived (the subscription is live)."""
        return self._seen.wait(timeout_s)

    def ended(self, task_id: str) -> dict[str, ToolPose] | None:
        with self._lock:
            return self.poses.get(task_id)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self, endpoint: str) -> None:
        with StateSubscriber(endpoint, f"cell/{self.cell_id}/") as subscriber:
            while not self._stop.is_set():
                message = subscriber.recv(100)
                if message is None:
                    continue
                payload = message.payload
                if isinstance(payload, state_pb2.RobotState) and payload.frames:
                    pose = payload.frames[0].pose
                    p, q = pose.position_m, pose.orientation
                    self._now[payload.robot] = ToolPose((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))
                elif isinstance(payload, state_pb2.CellState):
                    self._seen.set()
                    if self._task and payload.task_id != self._task:
                        with self._lock:
                            self.poses[self._task] = dict(self._now)
                    self._task = payload.task_id


def _run_side(client: Client, role: str, cell: cell_pb.Cell, clock_mode: str, config: Path, workflow: str,
              params: dict[str, Any], started: float, timeout_s: float) -> SideRun:
    """Submit the job pinned to `cell`, print a line per step, and collect its run."""
    poses = EndPoses(cell.state_endpoint, cell.id)
    try:
        if not poses.wait_ready(min(30.0, timeout_s)):
            raise DemoFailed(f"no state from {cell.id} at {cell.state_endpoint}")
        job = _submit(client, workflow, params, cell.id)
        print(f"[{time.monotonic() - started:6.1f}s] {role}: job {job.id} on {cell.id}", flush=True)
        job = _follow(client, role, job.id, started, timeout_s)
        steps = []
        for task in job.tasks:
            state = job_pb2.TaskState.Name(task.state).removeprefix("TASK_STATE_")
            step = StepRun(step=task.id.removeprefix(f"{job.id}/"), state=state,
                           error=f"{task.error.reason}: {task.error.message}" if task.error.reason else "",
                           duration_s=task.duration_s)
            tools = _end_pose(poses, task.id) if ran(step) else None
            steps.append(dataclasses.replace(step, tools=tools or {}))
    finally:
        poses.close()
    summary = cell_summary(client.get_cell(cell.id))
    return SideRun(role=role, cell_id=cell.id, config=str(config), clock=clock_words(clock_mode),
                   robots=tuple(f"{r.name} ({r.registry_id})" for r in cell.robots), job_id=job.id,
                   job_state=job_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_"),
                   job_error=f"{job.error.reason}: {job.error.message}" if job.error.reason else "",
                   steps=tuple(steps), approximations=tuple(summary["approximations"]))


def _submit(client: Client, workflow: str, params: dict[str, Any], cell_id: str) -> job_pb2.Job:
    struct = struct_pb2.Struct()
    struct.update(params)
    try:
        response: job_svc.SubmitJobResponse = client.jobs.SubmitJob(job_svc.SubmitJobRequest(
            request_id=str(uuid.uuid4()), workflow=workflow, params=struct, labels={"source": "promote"},
            placement=job_pb2.Placement(cells=[cell_id])), timeout=client.timeout_s)
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                          grpc.StatusCode.FAILED_PRECONDITION):
            raise BadInput(f"{exc.code().name}: {exc.details()}") from None
        raise
    return response.job


def _follow(client: Client, role: str, job_id: str, started: float, timeout_s: float) -> job_pb2.Job:
    """Print a line when a step starts and when it ends; return the job once it has ended."""
    seen: dict[str, str] = {}
    remaining = max(1.0, timeout_s - (time.monotonic() - started))
    events = client.watch(job_id=job_id, timeout_s=remaining)
    try:
        for event in events:
            job = event.job
            for task in job.tasks:
                state = job_pb2.TaskState.Name(task.state).removeprefix("TASK_STATE_")
                if seen.get(task.id) == state or state not in FINAL_TASK_STATES | {"RUNNING"}:
                    continue
                seen[task.id] = state
                step = task.id.removeprefix(f"{job_id}/")
                detail = "" if state == "RUNNING" else f" in {task.duration_s:.2f} s (cell clock)"
                error = f": {task.error.reason}: {task.error.message}" if task.error.reason else ""
                print(f"[{time.monotonic() - started:6.1f}s] {role}: {step} {state}{detail}{error}", flush=True)
            if job.state in FINAL_JOB_STATES:
                return client.get(job_id)
    finally:
        events.close()
    raise DemoFailed(f"{role} job {job_id} did not end within the --timeout of {timeout_s:.0f} s")


def _end_pose(poses: EndPoses, task_id: str) -> dict[str, ToolPose] | None:
    deadline = time.monotonic() + POSE_WAIT_S
    while time.monotonic() < deadline:
        found = poses.ended(task_id)
        if found is not None:
            return found
        time.sleep(0.02)
    return None
