"""The line2 world end to end: the `handover` station reservation of the `transfer` workflow.

Real processes (`cellwright orchestrator serve` with the line2 layout and a temporary SQLite
file; one world host `cellwright cell run --config arm-a --config arm-b` with PyBullet
DIRECT), real gRPC on loopback. See docs/workflows.md "Reservations".

Jobs take turns at the shared `handover` tray; a world host SIGKILLed while arm-a holds it
leaves the task UNKNOWN, the job HELD and the reservation SUSPECT, through a new boot of the
cells, until an operator releases it. Waits end on conditions (with a generous timeout that
fails the test), never on a measured time.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import yaml
from google.protobuf import json_format

from cellwright.api.client import FINAL_JOB_STATES, Client
from cellwright.app.demo_line2 import CELLS, LAYOUT_FILE, WORKFLOW_FILE
from cellwright.app.launch import Process, start_orchestrator
from cellwright.testing import wait_until
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc

T = TypeVar("T")
HANDOVER = "handover"
HEARTBEAT_S = 0.2
LEASE_TTL_S = 2.0
TIMEOUT_S = 60.0
"""Upper bound for waits (a timeout that fails the test, never a measured threshold)."""

PROBE = """\
apiVersion: cellwright/v1
kind: Workflow
name: probe
description: arm-a moves home; reserves nothing (proves arm-a is idle and dispatched to).
steps:
  - id: home
    skill: move_to
    with: {location: home}
    place: {cell: arm-a}
"""


@dataclass
class Line2:
    """An orchestrator with the line2 layout and workflows; world hosts started on demand."""

    tmp: Path
    orchestrator: Process
    address: str
    client: Client
    hosts: list[Process]

    def start_host(self, clock: str = "fast") -> Process:
        """A world host running arm-a and arm-b in one PyBullet world (a new boot)."""
        n = len(self.hosts)
        configs: list[str] = []
        for cell_id, config in CELLS.items():
            path = self.tmp / f"{cell_id}-{n}.yaml"
            path.write_text(yaml.safe_dump({**config, "clock": clock}))
            configs += ["--config", str(path)]
        host = Process(f"world host {n}", ["cell", "run", *configs, "--orchestrator", self.address],
                       self.tmp / f"cells-{n}.log")
        self.hosts.append(host)
        self.until(lambda: self._executing(host),
                   f"arm-a and arm-b of world host {n} are connected in Execute", poll_s=0.1)
        return host

    def _executing(self, host: Process) -> bool:
        if host.popen.poll() is not None:
            raise AssertionError(f"world host exited ({host.popen.returncode}):\n{host.tail_log()}")
        cells = {c.id: c for c in self.client.list_cells()}
        return all(cell_id in cells and cells[cell_id].connected
                   and cells[cell_id].packml_state == packml_pb2.PACKML_STATE_EXECUTE
                   for cell_id in CELLS)

    def reservations(self) -> list[job_pb2.Reservation]:
        response: job_svc.ListReservationsResponse = self.client.jobs.ListReservations(
            job_svc.ListReservationsRequest(), timeout=self.client.timeout_s)
        return list(response.reservations)

    def handover(self) -> job_pb2.Reservation | None:
        held = [r for r in self.reservations() if r.resource == HANDOVER]
        assert len(held) <= 1, f"{HANDOVER} listed twice: {held}"
        return held[0] if held else None

    def until(self, predicate: Callable[[], T | None], what: str, poll_s: float = 0.05) -> T:
        """`wait_until` with TIMEOUT_S; on a timeout the processes' logs join the message."""
        try:
            value = wait_until(predicate, TIMEOUT_S, what, poll_s=poll_s)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None
        assert value is not None
        return value

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log_path}):\n{p.tail_log(40)}"
                         for p in (self.orchestrator, *self.hosts))


@pytest.fixture
def line2(tmp_path: Path) -> Iterator[Line2]:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    shutil.copy(WORKFLOW_FILE, workflows / "transfer.yaml")
    (workflows / "probe.yaml").write_text(PROBE)
    orchestrator, address = start_orchestrator(
        tmp_path / "orchestrator.db", tmp_path / "orchestrator.log",
        extra=["--layout", str(LAYOUT_FILE), "--workflows", str(workflows),
               "--heartbeat-interval", str(HEARTBEAT_S), "--lease-ttl", str(LEASE_TTL_S)])
    hosts: list[Process] = []
    try:
        with Client(address) as client:
            yield Line2(tmp_path, orchestrator, address, client, hosts)
    finally:
        for host in reversed(hosts):
            if host.popen.returncode is None:
                host.stop()
        orchestrator.stop()


def task(job: job_pb2.Job, step: str) -> job_pb2.Task:
    return next(t for t in job.tasks if t.step_id == step)


def state(job: job_pb2.Job, step: str | None = None) -> str:
    if step is None:
        return job_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")
    return job_pb2.TaskState.Name(task(job, step).state).removeprefix("TASK_STATE_")


def on_station(position: Any, station: str) -> bool:
    """Is `position` (x, y, z) inside the layout's box of `station`?"""
    box = yaml.safe_load(LAYOUT_FILE.read_text())["stations"][station]
    return len(position) == 3 and all(abs(p - c) <= s / 2 for p, c, s in
                                      zip(position, box["center"], box["size"], strict=True))


def overlaps(jobs: list[job_pb2.Job]) -> list[str]:
    """Pairs of tasks reserving handover whose [assigned, finished] times overlap."""
    spans = sorted((t.assigned_time.ToNanoseconds(), t.finished_time.ToNanoseconds(), t.id)
                   for job in jobs for t in job.tasks if HANDOVER in t.reservations)
    return [f"{a} [{s1}, {e1}] and {b} [{s2}, {e2}]"
            for i, (s1, e1, a) in enumerate(spans) for s2, e2, b in spans[i + 1:] if s2 < e1]


def most_in_flight_at_once(client: Client, job_ids: list[str]) -> int:
    """Replay WatchJobs from the start until every job in `job_ids` is final; the most
    tasks reserving handover that were ASSIGNED or RUNNING at once after any event."""
    in_flight = (job_pb2.TASK_STATE_ASSIGNED, job_pb2.TASK_STATE_RUNNING)
    holding: dict[str, set[str]] = {}  # job id -> its tasks holding handover after its last event
    final: set[str] = set()
    most = 0
    for event in client.watch(after_seq=0, timeout_s=TIMEOUT_S):
        job = event.job
        holding[job.id] = {t.id for t in job.tasks
                           if HANDOVER in t.reservations and t.state in in_flight}
        most = max(most, sum(len(tasks) for tasks in holding.values()))
        if job.state in FINAL_JOB_STATES:
            final.add(job.id)
        if final >= set(job_ids):
            return most
    raise AssertionError(f"WatchJobs ended before every job did: {sorted(final)} of {job_ids}")


def orchestrator_errors(line2: Line2) -> list[str]:
    return [line for line in line2.orchestrator.log_path.read_text().splitlines()
            if " ERROR " in line or "Traceback" in line]


@pytest.mark.timeout(180)
def test_transfer_jobs_take_turns_at_the_handover_station(line2: Line2) -> None:
    line2.start_host()
    parts = ["red_cube", "green_cube", "blue_cube"]
    ids = [line2.client.submit("transfer", {"part": p}).id for p in parts]
    holders: list[str] = []  # task ids seen holding handover, in order, without repeats
    states: set[str] = set()

    def all_final() -> bool:
        held = line2.handover()
        if held is not None:
            states.add(job_pb2.ReservationState.Name(held.state))
            if not holders or holders[-1] != held.task_id:
                holders.append(held.task_id)
        return all(line2.client.get(j).state in FINAL_JOB_STATES for j in ids)

    line2.until(all_final, "every transfer job ended", poll_s=0.02)
    jobs = [line2.client.get(j) for j in ids]

    summary: dict[str, Any] = {j.id: {t.step_id: (state(j, t.step_id), t.cell_id) for t in j.tasks}
                               for j in jobs}
    assert [state(j) for j in jobs] == ["SUCCEEDED"] * len(jobs), (summary, line2.logs())
    for job, part in zip(jobs, parts, strict=True):
        assert [t.step_id for t in job.tasks] == ["hand_over", "deliver"]
        assert task(job, "hand_over").cell_id == "arm-a", summary
        assert task(job, "deliver").cell_id == "arm-b", summary
        assert all(list(t.reservations) == [HANDOVER] and t.attempt == 1 for t in job.tasks), job
        outputs = json_format.MessageToDict(job.outputs)
        assert outputs["part_type"] == part, outputs
        assert on_station(outputs["handed_over_at"], HANDOVER), outputs
        assert on_station(outputs["delivered_at"], "outfeed"), outputs
    # Seen held by both steps (each holds it for a whole pick-place, polled every 20 ms),
    # only ever HELD (no cell was lost), by one task at a time.
    steps_seen = {h.rpartition("/")[2] for h in holders}
    assert steps_seen == {"hand_over", "deliver"}, holders
    assert states == {"RESERVATION_STATE_HELD"}, states
    assert set(holders) <= {t.id for j in jobs for t in j.tasks}, holders
    # From the tasks' own assigned/finished times: no two holders overlapped.
    assert overlaps(jobs) == []
    # In the event log's commit order: at most one task holding handover in flight at any
    # time (a reservation is taken with the assignment and freed with the final report).
    assert most_in_flight_at_once(line2.client, ids) == 1
    # Every job's steps in order: hand_over released before its deliver took it.
    for job in jobs:
        assert task(job, "hand_over").finished_time.ToNanoseconds() <= \
            task(job, "deliver").assigned_time.ToNanoseconds()
    assert line2.reservations() == []
    assert orchestrator_errors(line2) == []


def lose_a_hand_over(line2: Line2, part: str) -> tuple[str, job_pb2.Reservation]:
    """Submit a transfer job, SIGKILL the world host while its hand_over is RUNNING and
    holding handover, and wait until the lease expired: the task UNKNOWN, the job HELD,
    handover SUSPECT. Returns the job id and the reservation as it was HELD."""
    client = line2.client
    # Realtime clock: the hand_over takes seconds of wall time, so it is killed mid-run.
    first_host = line2.start_host(clock="realtime")
    job1 = client.submit("transfer", {"part": part}).id
    hand_over = f"{job1}/hand_over"

    def running_and_held() -> job_pb2.Reservation | None:
        job = client.get(job1)
        held = line2.handover()
        if state(job, "hand_over") == "RUNNING" and held is not None and held.task_id == hand_over:
            return held
        assert job.state not in FINAL_JOB_STATES, job
        return None

    held = line2.until(running_and_held, f"{hand_over} RUNNING and holding {HANDOVER}",
                       poll_s=0.02)
    assert (held.state, held.cell_id, held.job_id) == (job_pb2.RESERVATION_STATE_HELD, "arm-a", job1)
    first_host.kill()  # SIGKILL: both cells vanish, no goodbye

    def lost() -> job_pb2.Job | None:
        job = client.get(job1)
        return job if state(job) == "HELD" else None

    job = line2.until(lost, f"{job1} is HELD after arm-a's lease expired")
    assert state(job, "hand_over") == "UNKNOWN", job
    assert task(job, "hand_over").error.reason == "cell_lost", job
    assert state(job, "deliver") == "PENDING", job
    assert "unknown" in job.waiting_reason, job.waiting_reason
    suspect = line2.handover()
    assert suspect is not None, "the lost holder's reservation was dropped"
    assert (suspect.state, suspect.task_id, suspect.epoch) == (
        job_pb2.RESERVATION_STATE_SUSPECT, hand_over, held.epoch), suspect
    return job1, held


@pytest.mark.timeout(180)
def test_a_cell_lost_holding_handover_leaves_it_suspect_until_an_operator_releases_it(
        line2: Line2) -> None:
    client = line2.client
    job1, held = lose_a_hand_over(line2, "red_cube")
    hand_over = f"{job1}/hand_over"

    # A second job: its hand_over waits for the station, also once the cells are back.
    job2 = client.submit("transfer", {"part": "green_cube"}).id
    line2.start_host()  # a new process: a new boot of arm-a and arm-b
    # arm-a is idle and takes work (a probe that reserves nothing runs to the end), yet
    # job2's hand_over, submitted earlier, stays READY behind the SUSPECT reservation.
    probe = client.submit("probe").id
    line2.until(lambda: client.get(probe).state in FINAL_JOB_STATES, f"probe job {probe} ended")
    ran = client.get(probe)
    assert (state(ran), task(ran, "home").cell_id) == ("SUCCEEDED", "arm-a"), (ran, line2.logs())
    waiting = client.get(job2)
    assert state(waiting, "hand_over") == "READY", waiting
    assert task(waiting, "hand_over").attempt == 0, waiting
    assert HANDOVER in waiting.waiting_reason and hand_over in waiting.waiting_reason, waiting
    assert "SUSPECT" in waiting.waiting_reason, waiting.waiting_reason
    assert "SUSPECT" in task(waiting, "hand_over").waiting_reason, waiting
    # The new boot does not report job1's task final, so nothing changed for it.
    job = client.get(job1)
    assert (state(job), state(job, "hand_over")) == ("HELD", "UNKNOWN"), job
    still = line2.handover()
    assert still is not None and (still.state, still.task_id, still.epoch) == (
        job_pb2.RESERVATION_STATE_SUSPECT, hand_over, held.epoch), still

    # The operator checks the tray, releases it, and cancels job1 (the world host it ran
    # in restarted, so whether its part was handed over is not known). A reason is required.
    with pytest.raises(grpc.RpcError) as refused:
        client.jobs.ReleaseReservation(job_svc.ReleaseReservationRequest(resource=HANDOVER),
                                       timeout=client.timeout_s)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value
    assert line2.handover() == still
    released: job_svc.ReleaseReservationResponse = client.jobs.ReleaseReservation(
        job_svc.ReleaseReservationRequest(resource=HANDOVER, reason="tray checked: empty"),
        timeout=client.timeout_s)
    assert (released.reservation.task_id, released.reservation.state) == (
        hand_over, job_pb2.RESERVATION_STATE_SUSPECT), released
    client.cancel(job1, reason="world host restarted mid hand_over; part re-fed")

    def cancelled_job() -> job_pb2.Job | None:
        job = client.get(job1)
        return job if job.state == job_pb2.JOB_STATE_CANCELLED else None

    cancelled = line2.until(cancelled_job, f"{job1} is CANCELLED")
    # Its UNKNOWN task is left as it is (docs/api.md CancelJob); the step after it never ran.
    assert (state(cancelled, "hand_over"), state(cancelled, "deliver")) == (
        "UNKNOWN", "CANCELLED"), cancelled

    def ended() -> job_pb2.Job | None:
        job = client.get(job2)
        return job if job.state in FINAL_JOB_STATES else None

    done = line2.until(ended, f"{job2} ended")
    assert state(done) == "SUCCEEDED", (done, line2.logs())
    assert (task(done, "hand_over").cell_id, task(done, "deliver").cell_id) == ("arm-a", "arm-b")
    outputs = json_format.MessageToDict(done.outputs)
    assert outputs["part_type"] == "green_cube", outputs
    assert on_station(outputs["delivered_at"], "outfeed"), outputs
    assert line2.reservations() == []
    assert orchestrator_errors(line2) == []


class SilentStall(AssertionError):
    """A job that cannot progress while GetJob gives no waiting_reason."""


@pytest.mark.timeout(180)
def test_a_retried_hand_over_waits_for_its_own_suspect_reservation_and_says_so(
        line2: Line2) -> None:
    client = line2.client
    job1, held = lose_a_hand_over(line2, "red_cube")
    hand_over = f"{job1}/hand_over"
    line2.start_host()  # a new boot: the infeed is full again, so running it again is right
    retried = client.retry_task(job1, "hand_over", reason="world host restarted; part back in infeed")
    assert state(retried, "hand_over") == "READY", retried
    assert task(retried, "hand_over").epoch == held.epoch + 1, retried
    # arm-a is idle and dispatched to (the probe ends), yet the retried hand_over, older
    # and so first in line, stays READY: its own earlier epoch still holds handover, SUSPECT.
    probe = client.submit("probe").id
    line2.until(lambda: client.get(probe).state in FINAL_JOB_STATES, f"probe job {probe} ended")
    assert state(client.get(probe)) == "SUCCEEDED", client.get(probe)
    stalled = client.get(job1)
    assert state(stalled, "hand_over") == "READY", stalled
    still = line2.handover()
    assert still is not None and (still.task_id, still.epoch, still.state) == (
        hand_over, held.epoch, job_pb2.RESERVATION_STATE_SUSPECT), still

    released: job_svc.ReleaseReservationResponse = client.jobs.ReleaseReservation(
        job_svc.ReleaseReservationRequest(resource=HANDOVER, reason="tray checked: empty"),
        timeout=client.timeout_s)
    assert released.reservation.task_id == hand_over, released

    def ended() -> job_pb2.Job | None:
        job = client.get(job1)
        return job if job.state in FINAL_JOB_STATES else None

    done = line2.until(ended, f"{job1} ended")
    assert state(done) == "SUCCEEDED", (done, line2.logs())
    assert [(t.step_id, t.cell_id) for t in done.tasks] == [("hand_over", "arm-a"), ("deliver", "arm-b")]
    assert line2.reservations() == []
    assert orchestrator_errors(line2) == []
    # While it stalled, GetJob must have said why (docs/api.md: Job.waiting_reason is empty
    # only while the job progresses; Task.waiting_reason names a reservation it waits for).
    if HANDOVER not in stalled.waiting_reason or "SUSPECT" not in task(stalled, "hand_over").waiting_reason:
        raise SilentStall(f"job {job1}'s retried hand_over waited for {HANDOVER} (held SUSPECT by "
                          f"its own epoch {held.epoch}) with job waiting_reason "
                          f"{stalled.waiting_reason!r} and task waiting_reason "
                          f"{task(stalled, 'hand_over').waiting_reason!r}")
