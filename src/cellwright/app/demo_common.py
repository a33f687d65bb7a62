"""What every `cellwright demo` world shares: starting a line world's processes, waiting
for its cells to reach Execute, reading a cell's current state from its stream, jobs and
cells as JSON, and its error."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from cellwright.api.client import Client
from cellwright.api.statestream import cell_topic
from cellwright.app.launch import Process, start_orchestrator
from cellwright.app.state_tail import messages
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2, packml_pb2, state_pb2


class DemoFailed(RuntimeError):
    """The demo cannot go on; the message says why and where to look."""


GAVE_UP = {packml_pb2.PACKML_STATE_ABORTED, packml_pb2.PACKML_STATE_STOPPED}
"""PackML states a starting cell does not leave by itself (its auto start failed)."""


def wait_for_cells(client: Client, host: Process, cell_ids: Iterable[str], started: float,
                   timeout_s: float) -> dict[str, cell_pb.Cell]:
    """Print each cell's PackML state as it changes until all are connected and in Execute;
    returns them by id.

    Raises:
        DemoFailed: the cell process exited, a cell stopped or aborted while starting (with
            the first error of its log), or the cells were not ready by `timeout_s` after
            `started` (time.monotonic()).
    """
    wanted = list(cell_ids)
    last: dict[str, str] = {}
    while time.monotonic() - started < timeout_s:
        if host.popen.poll() is not None:
            raise DemoFailed(f"the cell process exited with code {host.popen.returncode}; the end "
                             f"of {host.log_path}:\n{host.tail_log()}")
        listed = {c.id: c for c in client.list_cells()}
        for cell_id in wanted:
            cell = listed.get(cell_id)
            state = packml_pb2.PackmlState.Name(cell.packml_state) if cell else "not connected"
            if last.get(cell_id) != state:
                print(f"[{time.monotonic() - started:6.1f}s] cell {cell_id}: "
                      f"{state.removeprefix('PACKML_STATE_').title()}", flush=True)
                last[cell_id] = state
            if cell is not None and cell.connected and cell.packml_state in GAVE_UP:
                errors = [line for line in host.tail_log(2000).splitlines() if " ERROR " in line]
                raise DemoFailed(f"cell {cell_id} did not start: PackML "
                                 f"{state.removeprefix('PACKML_STATE_').title()}; "
                                 f"{errors[0] if errors else 'see ' + str(host.log_path)}")
        ready = {i: listed[i] for i in wanted if i in listed and listed[i].connected
                 and listed[i].packml_state == packml_pb2.PACKML_STATE_EXECUTE}
        if len(ready) == len(wanted):
            return ready
        time.sleep(0.2)
    raise DemoFailed(f"cells {sorted(wanted)} did not all reach Execute within {timeout_s:.0f} s; "
                     f"see {host.log_path}")


def next_cell_state(endpoint: str, cell_id: str, within_s: float = 3.0) -> state_pb2.CellState | None:
    """The next `CellState` the cell publishes, waiting up to `within_s` wall seconds (None:
    none came)."""
    with contextlib.closing(messages(endpoint, cell_topic(cell_id), duration_s=within_s)) as stream:
        for message in stream:
            if isinstance(message.payload, state_pb2.CellState):
                return message.payload
    return None


def job_summary(job: job_pb2.Job) -> dict[str, Any]:
    """A finished job as plain JSON: outcome, cycle time (cells' clocks), outputs, and per
    task its cell, attempts, reservations, duration, result and error."""
    return {"id": job.id, "workflow": job.workflow, "params": json_format.MessageToDict(job.params),
            "state": job_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_"),
            "cycle_time_s": round(job.cycle_time_s, 2),
            "outputs": json_format.MessageToDict(job.outputs),
            "steps": [{"step": t.step_id, "cell": t.cell_id, "attempts": t.attempt,
                       "state": job_pb2.TaskState.Name(t.state).removeprefix("TASK_STATE_"),
                       "reservations": list(t.reservations), "duration_s": round(t.duration_s, 2),
                       "result": json_format.MessageToDict(t.result),
                       "error": f"{t.error.reason}: {t.error.message}" if t.error.reason else ""}
                      for t in job.tasks]}


def cell_summary(cell: cell_pb.Cell) -> dict[str, Any]:
    """A cell's figures on its own clock, and what it approximates, as plain JSON."""
    return {"id": cell.id, "clock_s": cell.stats.clock_s, "busy_s": cell.stats.busy_s,
            "tasks_succeeded": cell.stats.tasks_succeeded, "tasks_failed": cell.stats.tasks_failed,
            "packml_state_time_s": {k: v for k, v in cell.stats.state_time_s.items() if v > 0},
            "approximations": [*(f"{r.name} ({r.registry_id}): {a}" for r in cell.robots
                                 for a in r.approximations), *cell.approximations]}


def start_line(tmp: Path, out: Path, started: float, *, layout_file: Path, workflow_file: Path, workflow: str,
               cells: Mapping[str, Mapping[str, Any]], host_args: Sequence[str] = ()) -> tuple[Process, str, Process]:
    """Start an orchestrator with a line's layout and `workflow` (from `workflow_file`), and
    one world host running `cells` (configs written to `tmp`); logs go to `out`. Returns
    the orchestrator, its address and the host."""
    workflows = tmp / "workflows"
    workflows.mkdir()
    shutil.copy(workflow_file, workflows / f"{workflow}.yaml")
    configs = []
    for cell_id, config in cells.items():
        path = tmp / f"{cell_id}.yaml"
        path.write_text(yaml.safe_dump(dict(config)))
        configs += ["--config", str(path)]
    orchestrator, address = start_orchestrator(tmp / "orchestrator.db", out / "orchestrator.log",
                                               extra=["--layout", str(layout_file), "--workflows", str(workflows)])
    print(f"[{time.monotonic() - started:6.1f}s] orchestrator listening on {address} "
          f"(layout {layout_file.name}, workflow {workflow})")
    host = Process("cells", ["cell", "run", *configs, "--orchestrator", address, *host_args],
                   out / "cells.log")
    return orchestrator, address, host
