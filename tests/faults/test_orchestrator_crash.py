"""A job acknowledged to a client survives a SIGKILL of the orchestrator."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from cellwright.api.client import FINAL_JOB_STATES, Client
from cellwright.app.launch import start_cell, start_orchestrator
from cellwright.v1 import job_pb2, packml_pb2

JOBS = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_final(client: Client, job_ids: list[str], timeout_s: float) -> dict[str, job_pb2.Job]:
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = {j: client.get(j) for j in job_ids}
        if all(job.state in FINAL_JOB_STATES for job in jobs.values()) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.2)


def wait_cell_executing(client: Client, cell_id: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        cells = {c.id: c for c in client.list_cells()}
        if cell_id in cells and cells[cell_id].packml_state == packml_pb2.PACKML_STATE_EXECUTE:
            return
        time.sleep(0.05)
    raise TimeoutError(f"cell {cell_id} not in Execute after {timeout_s} s")


def test_jobs_acknowledged_before_sigkill_are_all_there_after_restart_and_complete(tmp_path: Path) -> None:
    db = tmp_path / "orchestrator.db"
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "cell.yaml"
    config.write_text("cell_id: noop-1\nskills: [noop]\n")
    orchestrator, address = start_orchestrator(db, tmp_path / "orchestrator-1.log", listen=listen)
    cell = start_cell(config, address, tmp_path / "cell.log")
    try:
        with Client(address) as client:
            wait_cell_executing(client, "noop-1", timeout_s=60)  # so tasks are in flight at the kill
            acknowledged = [client.submit("noop", {"duration_s": 0.1}).id for _ in range(JOBS)]
        orchestrator.kill()  # right after the last acknowledgement: no clean shutdown
        orchestrator, _ = start_orchestrator(db, tmp_path / "orchestrator-2.log", listen=listen)
        with Client(address) as client:
            jobs = wait_final(client, acknowledged, timeout_s=120)
    finally:
        cell.stop()
        orchestrator.stop()
    states = {j: job_pb2.JobState.Name(job.state) for j, job in jobs.items()}
    assert len(jobs) == JOBS
    assert set(states.values()) == {"JOB_STATE_SUCCEEDED"}, states
    # One task per job ran: work in flight at the crash was reconciled, not repeated.
    assert all(job.tasks[0].attempt == 1 for job in jobs.values())
