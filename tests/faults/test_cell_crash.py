"""A cell killed mid-task: the task's outcome is unknown, so the job waits for an operator."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cellwright.api.client import Client
from cellwright.app.launch import start_cell, start_orchestrator
from cellwright.v1 import job_pb2


def wait_for(client: Client, job_id: str, check: Callable[[job_pb2.Job], bool],
             timeout_s: float = 60) -> job_pb2.Job:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(job_id)
        if check(job):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job stuck: {job}")
        time.sleep(0.05)


def test_sigkill_of_a_cell_mid_task_holds_the_job_and_its_restart_does_not_rerun_the_task(
        tmp_path: Path) -> None:
    config = tmp_path / "cell.yaml"
    config.write_text("cell_id: noop-1\nskills: [noop]\n")
    orchestrator, address = start_orchestrator(tmp_path / "o.db", tmp_path / "orchestrator.log",
                                               extra=["--lease-ttl", "1", "--heartbeat-interval", "0.2"])
    cell = start_cell(config, address, tmp_path / "cell-1.log")
    try:
        with Client(address) as client:
            job = client.submit("noop", {"duration_s": 30})
            wait_for(client, job.id, lambda j: j.tasks[0].state == job_pb2.TASK_STATE_RUNNING)
            cell.kill()
            held = wait_for(client, job.id, lambda j: j.state == job_pb2.JOB_STATE_HELD)
            assert held.tasks[0].state == job_pb2.TASK_STATE_UNKNOWN
            assert held.tasks[0].error.reason == "cell_lost"

            cell = start_cell(config, address, tmp_path / "cell-2.log")  # a new process: new boot id
            wait_for(client, job.id, lambda j: any(c.id == "noop-1" and c.connected
                                                    for c in client.list_cells()))
            still = client.get(job.id)
            assert still.state == job_pb2.JOB_STATE_HELD  # never silently re-run
            assert still.tasks[0].attempt == 1

            client.cancel(job.id, "operator checked the cell")
            cancelled = wait_for(client, job.id, lambda j: j.state == job_pb2.JOB_STATE_CANCELLED)
            assert cancelled.tasks[0].state == job_pb2.TASK_STATE_UNKNOWN
    finally:
        cell.stop()
        orchestrator.stop()
