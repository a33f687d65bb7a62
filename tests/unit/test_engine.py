"""The job and task state machines (orchestrator.engine) on a real SQLite file, no gRPC."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellwright.orchestrator.engine import REJECTED, Assignment, CancelOrder, Engine, Submission, TaskReport
from cellwright.orchestrator.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from cellwright.orchestrator.model import Job, JobState, TaskError, TaskState
from cellwright.orchestrator.scheduler import CellOffer
from cellwright.orchestrator.store import Store, StoreInUse

ALL_SKILLS = frozenset({"noop", "pick_place", "move_to"})  # no "weld"
PAIR = """\
name: pair
version: 1
steps:
  - {id: a, skill: noop}
  - {id: b, skill: noop}
  - {id: c, skill: noop, needs: [a, b]}
"""


class Clock:
    """A fake wall clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """An Engine on a real SQLite file, recording the event seqs it announces."""

    def __init__(self, path: Path, workflow_dir: Path) -> None:
        self.path, self.workflow_dir = path, workflow_dir
        self.clock = Clock()
        self.seqs: list[int] = []
        self.store = Store(path)
        self.engine = Engine(self.store, encode_job=lambda job: job.state.value.encode(),
                             on_event=lambda event: self.seqs.append(event.seq), clock=self.clock)
        self.engine.workflows.put_folders([workflow_dir])

    def submit(self, workflow: str = "noop", params: dict[str, object] | None = None,
               **fields: object) -> Job:
        request_id = str(fields.pop("request_id", f"req-{len(self.seqs)}-{workflow}"))
        job, _ = self.engine.submit(Submission(request_id, workflow, dict(params or {}),
                                               **fields))  # type: ignore[arg-type]
        return job

    def dispatch(self, *cells: str, boot_id: str = "boot-a") -> list[Assignment]:
        assignments, _ = self.engine.dispatch([CellOffer(c, boot_id, ALL_SKILLS) for c in cells or ("c1",)])
        return assignments

    def job(self, job_id: str) -> Job:
        return self.engine.get(job_id)

    def report(self, cell_id: str, task_id: str, epoch: int, state: TaskState,
               error: TaskError | None = None, boot_id: str = "boot-a"
               ) -> tuple[bool, list[CancelOrder]]:
        return self.engine.report(cell_id, boot_id, TaskReport(task_id, epoch, state, error=error))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    flows = tmp_path / "workflows"
    flows.mkdir()
    (flows / "pair.yaml").write_text(PAIR)
    harness = Harness(tmp_path / "jobs.db", flows)
    yield harness
    harness.store.close()


def states(job: Job) -> list[TaskState]:
    return [t.state for t in job.tasks]


# --- submit ----------------------------------------------------------------------------

def test_submit_makes_steps_without_needs_ready_and_the_others_pending(h):
    job = h.submit("kitting", {"first": "red_cube", "second": "blue_cube"})
    assert job.state is JobState.QUEUED
    assert states(job) == [TaskState.READY, TaskState.PENDING, TaskState.PENDING]
    assert job.tasks[0].params == {"part": "red_cube", "place_at": "outfeed_b"}


def test_submit_with_the_same_request_id_and_body_returns_the_stored_job(h):
    first, created = h.engine.submit(Submission("r1", "noop", {}))
    again, created_again = h.engine.submit(Submission("r1", "noop", {}))
    assert (created, created_again) == (True, False)
    assert again.id == first.id


def test_submit_with_the_same_request_id_and_another_body_is_already_exists(h):
    h.engine.submit(Submission("r1", "noop", {}))
    with pytest.raises(AlreadyExists, match="r1"):
        h.engine.submit(Submission("r1", "noop", {"duration_s": 1}))


def test_submit_without_request_id_is_invalid_argument(h):
    with pytest.raises(InvalidArgument) as info:
        h.engine.submit(Submission("", "noop", {}))
    assert info.value.field == "request_id"


# --- dispatch and reports --------------------------------------------------------------

def test_dispatch_assigns_a_ready_task_and_marks_the_job_running(h):
    job = h.submit()
    [assignment] = h.dispatch("c1")
    assert (assignment.cell_id, assignment.task.id, assignment.task.epoch) == ("c1", job.tasks[0].id, 1)
    stored = h.job(job.id)
    assert stored.state is JobState.RUNNING
    assert stored.tasks[0].state is TaskState.ASSIGNED
    assert (stored.tasks[0].cell_id, stored.tasks[0].boot_id) == ("c1", "boot-a")


def test_every_dispatch_of_a_task_raises_its_epoch(h):
    job = h.submit()
    epochs = []
    for _ in range(3):
        [a] = h.dispatch("c1")
        epochs.append(a.task.epoch)
        h.report("c1", a.task.id, a.task.epoch, TaskState.FAILED,
                 TaskError(REJECTED, "busy", retryable=True))
    assert epochs == [1, 2, 3]
    assert h.job(job.id).tasks[0].state is TaskState.READY


def test_a_rejected_assignment_does_not_use_up_an_attempt(h):
    job = h.submit()
    [a] = h.dispatch("c1")
    h.report("c1", a.task.id, a.task.epoch, TaskState.FAILED, TaskError(REJECTED, "busy", True))
    assert h.job(job.id).tasks[0].attempt == 0
    [b] = h.dispatch("c1")
    assert b.task.attempt == 1


def test_a_report_with_a_stale_epoch_changes_nothing(h):
    job = h.submit()
    [old] = h.dispatch("c1")
    h.report("c1", old.task.id, old.task.epoch, TaskState.FAILED, TaskError(REJECTED, "busy", True))
    [new] = h.dispatch("c1")
    before, events = h.job(job.id), len(h.seqs)
    ack, orders = h.report("c1", old.task.id, old.task.epoch, TaskState.SUCCEEDED)
    assert (ack, orders) == (True, [])
    assert h.job(job.id) == before
    assert len(h.seqs) == events
    assert h.job(job.id).tasks[0].epoch == new.task.epoch


def test_a_report_from_a_cell_that_does_not_hold_the_task_changes_nothing(h):
    job = h.submit()
    [a] = h.dispatch("c1")
    before = h.job(job.id)
    assert h.report("c2", a.task.id, a.task.epoch, TaskState.SUCCEEDED) == (True, [])
    assert h.job(job.id) == before


def test_running_report_moves_the_task_to_running_without_an_ack(h):
    job = h.submit()
    [a] = h.dispatch("c1")
    ack, _ = h.report("c1", a.task.id, a.task.epoch, TaskState.RUNNING)
    assert ack is False
    assert h.job(job.id).tasks[0].state is TaskState.RUNNING


def test_success_of_a_step_readies_its_dependants_and_the_last_success_ends_the_job(h):
    job = h.submit("kitting", {"first": "red_cube", "second": "blue_cube"})
    for step in range(3):
        [a] = h.dispatch("c1")
        assert a.task.step_id == ["first", "second", "home"][step]
        assert h.report("c1", a.task.id, a.task.epoch, TaskState.SUCCEEDED) == (True, [])
        if step < 2:
            assert h.job(job.id).tasks[step + 1].state is TaskState.READY
            assert h.job(job.id).state is JobState.RUNNING
    assert h.job(job.id).state is JobState.SUCCEEDED


def test_a_step_waits_for_every_step_it_needs(h):
    job = h.submit("pair")
    a, b = h.dispatch("c1", "c2")
    h.report(a.cell_id, a.task.id, a.task.epoch, TaskState.SUCCEEDED)
    assert h.job(job.id).tasks[2].state is TaskState.PENDING
    h.report(b.cell_id, b.task.id, b.task.epoch, TaskState.SUCCEEDED)
    assert h.job(job.id).tasks[2].state is TaskState.READY


def test_a_retryable_failure_within_retries_goes_back_to_ready_and_reassigns_at_a_higher_epoch(h):
    job = h.submit("pick-place", {"part": "red_cube"})  # retries: 1
    [a] = h.dispatch("c1")
    h.report("c1", a.task.id, a.task.epoch, TaskState.FAILED, TaskError("grasp_failed", "slipped", True))
    assert h.job(job.id).tasks[0].state is TaskState.READY
    assert h.job(job.id).state is JobState.RUNNING
    [b] = h.dispatch("c1")
    assert b.task.epoch > a.task.epoch
    assert b.task.attempt == 2


def test_a_retryable_failure_past_retries_fails_the_job(h):
    job = h.submit("pick-place", {"part": "red_cube"})
    for _ in range(2):
        [a] = h.dispatch("c1")
        h.report("c1", a.task.id, a.task.epoch, TaskState.FAILED, TaskError("grasp_failed", "x", True))
    assert h.job(job.id).state is JobState.FAILED
    assert h.dispatch("c1") == []


def test_a_final_failure_fails_the_job_and_cancels_the_remaining_steps(h):
    job = h.submit("kitting", {"first": "red_cube", "second": "blue_cube"})
    [a] = h.dispatch("c1")
    h.report("c1", a.task.id, a.task.epoch, TaskState.FAILED, TaskError("collision", "bump"))
    failed = h.job(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error == TaskError("collision", "bump")
    assert states(failed) == [TaskState.FAILED, TaskState.CANCELLED, TaskState.CANCELLED]


def test_a_final_failure_cancels_sibling_tasks_still_running(h):
    job = h.submit("pair")
    a, b = h.dispatch("c1", "c2")
    _, orders = h.report(a.cell_id, a.task.id, a.task.epoch, TaskState.FAILED, TaskError("limit", "x"))
    assert orders == [CancelOrder(b.cell_id, b.task.id, b.task.epoch, "job failed")]
    assert h.job(job.id).state is JobState.FAILED


# --- cancel ----------------------------------------------------------------------------

def test_cancel_of_a_queued_job_cancels_it_and_all_its_tasks_at_once(h):
    job = h.submit("kitting", {"first": "red_cube", "second": "blue_cube"})
    cancelled, orders = h.engine.cancel(job.id, "not needed")
    assert orders == []
    assert cancelled.state is JobState.CANCELLED
    assert set(states(cancelled)) == {TaskState.CANCELLED}
    assert h.dispatch("c1") == []


def test_cancel_of_a_running_job_orders_the_cell_to_cancel_and_ends_when_the_cell_reports(h):
    job = h.submit()
    [a] = h.dispatch("c1")
    h.report("c1", a.task.id, a.task.epoch, TaskState.RUNNING)
    running, orders = h.engine.cancel(job.id, "operator")
    assert orders == [CancelOrder("c1", a.task.id, a.task.epoch, "operator")]
    assert running.state is JobState.RUNNING
    assert running.cancel_requested
    h.report("c1", a.task.id, a.task.epoch, TaskState.CANCELLED)
    assert h.job(job.id).state is JobState.CANCELLED


def test_a_job_whose_work_finished_before_the_cancel_landed_ends_succeeded(h):
    job = h.submit()
    [a] = h.dispatch("c1")
    h.engine.cancel(job.id, "too late")
    h.report("c1", a.task.id, a.task.epoch, TaskState.SUCCEEDED)
    assert h.job(job.id).state is JobState.SUCCEEDED


def test_cancel_of_a_finished_job_is_failed_precondition(h):
    job = h.submit()
    [a] = h.dispatch("c1")
    h.report("c1", a.task.id, a.task.epoch, TaskState.SUCCEEDED)
    with pytest.raises(FailedPrecondition, match="SUCCEEDED"):
        h.engine.cancel(job.id, "")


def test_get_or_cancel_without_a_job_id_is_invalid_argument(h):
    for call in (h.engine.get, lambda job_id: h.engine.cancel(job_id, "")):
        with pytest.raises(InvalidArgument) as info:
            call("")
        assert info.value.field == "job_id"


def test_cancel_or_get_of_an_unknown_job_is_not_found(h):
    with pytest.raises(NotFound):
        h.engine.cancel("job-nope", "")
    with pytest.raises(NotFound):
        h.engine.get("job-nope")


# --- reconcile and lost cells ----------------------------------------------------------

def test_reconcile_same_boot_puts_a_task_the_cell_does_not_list_back_to_ready(h):
    job = h.submit()
    [a] = h.dispatch("c1", boot_id="boot-a")
    reconciled = h.engine.reconcile("c1", "boot-a", [])
    acks, orders = reconciled.acks, reconciled.orders
    assert (acks, orders) == ([], [])
    assert h.job(job.id).tasks[0].state is TaskState.READY
    [again] = h.dispatch("c1")
    assert again.task.epoch == a.task.epoch + 1


def test_reconcile_another_boot_makes_an_unlisted_task_unknown_and_holds_the_job(h):
    job = h.submit()
    h.dispatch("c1", boot_id="boot-a")
    h.engine.reconcile("c1", "boot-b", [])
    held = h.job(job.id)
    assert held.state is JobState.HELD
    assert held.tasks[0].state is TaskState.UNKNOWN
    assert held.tasks[0].error is not None and held.tasks[0].error.reason == "cell_lost"
    assert h.dispatch("c1", boot_id="boot-b") == []


def test_a_report_from_another_process_of_the_same_cell_changes_nothing(h):
    job = h.submit()
    [a] = h.dispatch("c1", boot_id="boot-a")
    h.engine.reconcile("c1", "boot-b", [])  # the cell restarted: the task is UNKNOWN
    assert h.report("c1", a.task.id, a.task.epoch, TaskState.SUCCEEDED, boot_id="boot-b") == (True, [])
    assert h.job(job.id).tasks[0].state is TaskState.UNKNOWN


def test_a_later_final_report_of_an_unknown_task_resolves_the_held_job(h):
    job = h.submit()
    [a] = h.dispatch("c1", boot_id="boot-a")
    h.engine.reconcile("c1", "boot-b", [])
    assert h.report("c1", a.task.id, a.task.epoch, TaskState.SUCCEEDED) == (True, [])
    assert h.job(job.id).state is JobState.SUCCEEDED


def test_reconcile_applies_and_acknowledges_the_results_a_cell_lists(h):
    job = h.submit()
    [a] = h.dispatch("c1", boot_id="boot-a")
    acks = h.engine.reconcile("c1", "boot-a", [TaskReport(a.task.id, a.task.epoch,
                                                          TaskState.SUCCEEDED)]).acks
    assert acks == [(a.task.id, a.task.epoch)]
    assert h.job(job.id).state is JobState.SUCCEEDED


def test_reconcile_cancels_a_task_the_cell_runs_that_is_no_longer_its_own(h):
    job = h.submit()
    [a] = h.dispatch("c1", boot_id="boot-a")
    h.engine.cancel(job.id, "")
    h.report("c1", a.task.id, a.task.epoch, TaskState.CANCELLED)
    orders = h.engine.reconcile("c1", "boot-a", [TaskReport(a.task.id, a.task.epoch,
                                                            TaskState.RUNNING)]).orders
    assert [(o.cell_id, o.task_id, o.epoch) for o in orders] == [("c1", a.task.id, a.task.epoch)]


def test_cell_lost_makes_its_tasks_unknown_and_holds_their_jobs(h):
    job = h.submit()
    h.dispatch("c1")
    assert h.engine.cell_lost("c1") == []
    held = h.job(job.id)
    assert (held.state, held.tasks[0].state) == (JobState.HELD, TaskState.UNKNOWN)


def test_an_unknown_task_the_cell_never_got_is_retried_when_it_returns_with_the_same_boot(h):
    job = h.submit()
    [a] = h.dispatch("c1", boot_id="boot-a")
    h.engine.cell_lost("c1")
    h.engine.reconcile("c1", "boot-a", [])
    assert h.job(job.id).state is JobState.RUNNING
    assert h.job(job.id).tasks[0].state is TaskState.READY
    [again] = h.dispatch("c1", boot_id="boot-a")
    assert again.task.epoch == a.task.epoch + 1


def test_a_task_of_an_ended_job_is_not_revived_by_a_reconnect(h):
    job = h.submit("pair")
    a, b = h.dispatch("c1", "c2")
    h.report(a.cell_id, a.task.id, a.task.epoch, TaskState.FAILED, TaskError("limit", "x"))
    h.engine.reconcile(b.cell_id, "boot-a", [])  # c2 never got its task
    assert h.job(job.id).state is JobState.FAILED
    assert h.job(job.id).tasks[1].state is TaskState.CANCELLED
    assert h.dispatch("c1", "c2") == []


def test_a_task_of_a_cancelled_job_that_turns_out_to_be_running_is_cancelled(h):
    job = h.submit()
    [a] = h.dispatch("c1", boot_id="boot-a")
    h.engine.cell_lost("c1")
    h.engine.cancel(job.id, "operator")
    assert h.job(job.id).state is JobState.CANCELLED
    orders = h.engine.reconcile("c1", "boot-a", [TaskReport(a.task.id, a.task.epoch,
                                                            TaskState.RUNNING)]).orders
    assert [(o.cell_id, o.task_id, o.epoch) for o in orders] == [("c1", a.task.id, a.task.epoch)]


# --- deadlines -------------------------------------------------------------------------

def test_a_ready_task_past_its_jobs_deadline_fails_the_job_with_deadline_exceeded(h):
    job = h.submit(deadline=h.clock.now + 10)
    h.clock.now += 11
    assert h.dispatch("c1") == []
    failed = h.job(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and failed.error.reason == "deadline_exceeded"
    assert states(failed) == [TaskState.CANCELLED]


def test_a_late_job_with_several_ready_tasks_fails_once(h):
    job = h.submit("pair", deadline=h.clock.now + 10)
    h.clock.now += 11
    before = len(h.seqs)
    h.dispatch("c1")
    assert len(h.seqs) == before + 1
    assert states(h.job(job.id)) == [TaskState.CANCELLED] * 3


def test_a_deadline_failure_cancels_the_jobs_tasks_still_running(h):
    job = h.submit("pair", deadline=h.clock.now + 10)
    [a] = h.dispatch("c1")  # step a runs; step b waits for a free cell
    h.clock.now += 11
    _, orders = h.engine.dispatch([])
    assert h.job(job.id).state is JobState.FAILED
    assert [(o.cell_id, o.task_id, o.epoch) for o in orders] == [("c1", a.task.id, a.task.epoch)]


def test_a_job_before_its_deadline_is_dispatched(h):
    h.submit(deadline=h.clock.now + 10)
    h.clock.now += 9
    assert len(h.dispatch("c1")) == 1


# --- events and durability -------------------------------------------------------------

def test_events_have_gap_free_rising_seq_numbers(h):
    job = h.submit("kitting", {"first": "red_cube", "second": "blue_cube"})
    h.submit()
    for _ in range(3):
        [a, *_] = h.dispatch("c1")
        h.report("c1", a.task.id, a.task.epoch, TaskState.SUCCEEDED)
    stored = [seq for seq, *_ in h.store.events_after(0, "", 1000)]
    assert stored == list(range(1, len(stored) + 1))
    assert h.seqs == stored
    of_job = [seq for seq, *_ in h.store.events_after(0, job.id, 1000)]
    assert of_job == sorted(set(of_job)) and set(of_job) < set(stored)


def test_a_store_reopened_on_the_same_file_sees_every_job_task_and_event(h):
    job = h.submit("kitting", {"first": "red_cube", "second": "blue_cube"})
    [a] = h.dispatch("c1")
    h.report("c1", a.task.id, a.task.epoch, TaskState.SUCCEEDED)
    before, events = h.job(job.id), h.store.events_after(0, "", 1000)
    h.store.close()
    reopened = Store(h.path)
    try:
        assert reopened.get_job(job.id) == before
        assert reopened.events_after(0, "", 1000) == events
        assert reopened.find_request(job.request_id) is not None
        assert [r.task.step_id for r in reopened.ready_tasks(sorted(ALL_SKILLS), h.clock(), 10)] == ["second"]
    finally:
        reopened.close()
    h.store = Store(h.path)  # for the fixture's teardown


def test_tasks_needing_a_skill_nobody_offers_do_not_hide_those_an_idle_cell_can_run(h):
    (h.workflow_dir / "weld.yaml").write_text(
        "name: weld\nversion: 1\nsteps:\n  - {id: weld, skill: weld}\n")
    h.engine.workflows.put_folders([h.workflow_dir])
    for _ in range(100):
        h.submit("weld", priority=1000)
    noop = h.submit("noop")
    [a] = h.dispatch("c1")
    assert a.task.job_id == noop.id


def test_a_second_store_on_the_same_file_is_refused_until_the_first_closes(h):
    with pytest.raises(StoreInUse, match="in use by another orchestrator"):
        Store(h.path)
    h.store.close()
    Store(h.path).close()
    h.store = Store(h.path)  # for the fixture's teardown


# --- operators: HELD jobs --------------------------------------------------------------

def held_job(h: Harness, workflow: str = "noop", params: dict[str, object] | None = None
             ) -> tuple[Job, Assignment]:
    """A job whose first task was RUNNING on c1 (boot-a) when c1 restarted (boot-b)."""
    job = h.submit(workflow, params)
    [a] = h.dispatch("c1", boot_id="boot-a")
    h.report("c1", a.task.id, a.task.epoch, TaskState.RUNNING)
    h.engine.reconcile("c1", "boot-b", [])
    held = h.job(job.id)
    assert (held.state, held.tasks[0].state) == (JobState.HELD, TaskState.UNKNOWN)
    return held, a


def test_retry_task_makes_the_unknown_task_ready_at_a_higher_epoch_with_the_reason_noted(h):
    job, a = held_job(h)
    retried, orders = h.engine.retry_task(job.id, "noop", "part still in the infeed")
    assert orders == []
    task = retried.tasks[0]
    assert (retried.state, task.state) == (JobState.RUNNING, TaskState.READY)
    assert task.epoch == a.task.epoch + 1
    assert task.error is None
    assert "part still in the infeed" in task.operator_note
    assert h.job(job.id) == retried


def test_a_retried_task_runs_again_on_a_cell_to_succeeded(h):
    job, a = held_job(h)
    h.engine.retry_task(job.id, a.task.id, "checked the cell")  # the full task id works too
    [again] = h.dispatch("c2")
    assert again.task.id == a.task.id and again.task.epoch > a.task.epoch + 1
    assert h.report("c2", again.task.id, again.task.epoch, TaskState.SUCCEEDED) == (True, [])
    done = h.job(job.id)
    assert (done.state, done.tasks[0].state) == (JobState.SUCCEEDED, TaskState.SUCCEEDED)
    assert "checked the cell" in done.tasks[0].operator_note


def test_a_late_report_from_the_old_holder_of_a_retried_task_changes_nothing(h):
    job, a = held_job(h)
    h.engine.retry_task(job.id, "noop", "checked the cell")
    before, events = h.job(job.id), len(h.seqs)
    assert h.report("c1", a.task.id, a.task.epoch, TaskState.SUCCEEDED) == (True, [])
    [again] = h.dispatch("c1", boot_id="boot-b")
    after_dispatch, events_after_dispatch = h.job(job.id), len(h.seqs)
    assert h.report("c1", a.task.id, a.task.epoch, TaskState.FAILED,
                    TaskError("collision", "late")) == (True, [])
    assert h.job(job.id) == after_dispatch and len(h.seqs) == events_after_dispatch
    assert before.tasks[0].state is TaskState.READY and events + 1 == events_after_dispatch
    assert h.job(job.id).tasks[0].epoch == again.task.epoch


def test_a_cell_back_with_a_task_the_operator_retried_is_told_to_cancel_its_run(h):
    """Fencing: the retry raised the epoch, so the same process returning with the old
    run is cancelled instead of running the task twice."""
    job = h.submit()
    [a] = h.dispatch("c1", boot_id="boot-a")
    h.report("c1", a.task.id, a.task.epoch, TaskState.RUNNING)
    h.engine.cell_lost("c1")  # lease expired: UNKNOWN, HELD
    h.engine.retry_task(job.id, "noop", "cell unreachable; run it elsewhere")
    orders = h.engine.reconcile("c1", "boot-a", [TaskReport(a.task.id, a.task.epoch,
                                                            TaskState.RUNNING)]).orders
    assert [(o.cell_id, o.task_id, o.epoch) for o in orders] == [("c1", a.task.id, a.task.epoch)]
    task = h.job(job.id).tasks[0]
    assert (task.state, task.epoch) == (TaskState.READY, a.task.epoch + 1)
    assert h.job(job.id).state is JobState.RUNNING


def test_resume_job_marks_its_unknown_tasks_succeeded_and_the_job_goes_on(h):
    job, a = held_job(h, "kitting", {"first": "red_cube", "second": "blue_cube"})
    resumed, orders = h.engine.resume_job(job.id, "kit tray holds the first part")
    assert orders == []
    assert resumed.state is JobState.RUNNING
    assert states(resumed) == [TaskState.SUCCEEDED, TaskState.READY, TaskState.PENDING]
    first = resumed.tasks[0]
    assert first.error is None and first.epoch > a.task.epoch
    assert "kit tray holds the first part" in first.operator_note
    for step in ("second", "home"):
        [b] = h.dispatch("c2")
        assert b.task.step_id == step
        h.report("c2", b.task.id, b.task.epoch, TaskState.SUCCEEDED)
    assert h.job(job.id).state is JobState.SUCCEEDED


def test_a_late_report_from_the_old_holder_of_a_resumed_task_changes_nothing(h):
    job, a = held_job(h)
    resumed, _ = h.engine.resume_job(job.id, "part is in the tray")
    assert resumed.state is JobState.SUCCEEDED
    events = len(h.seqs)
    assert h.report("c1", a.task.id, a.task.epoch, TaskState.FAILED,
                    TaskError("collision", "late")) == (True, [])
    assert h.job(job.id) == resumed and len(h.seqs) == events


@pytest.mark.parametrize("reason", ["", "   "])
def test_retry_and_resume_need_a_reason(h, reason):
    job, _ = held_job(h)
    for call in (lambda: h.engine.retry_task(job.id, "noop", reason),
                 lambda: h.engine.resume_job(job.id, reason)):
        with pytest.raises(InvalidArgument) as info:
            call()
        assert info.value.field == "reason"
    assert h.job(job.id).state is JobState.HELD


def test_resume_of_a_job_that_is_not_held_is_failed_precondition(h):
    queued = h.submit()
    with pytest.raises(FailedPrecondition, match="QUEUED"):
        h.engine.resume_job(queued.id, "why not")
    [a] = h.dispatch("c1")
    with pytest.raises(FailedPrecondition, match="RUNNING"):
        h.engine.resume_job(queued.id, "why not")
    h.report("c1", a.task.id, a.task.epoch, TaskState.SUCCEEDED)
    with pytest.raises(FailedPrecondition, match="SUCCEEDED"):
        h.engine.resume_job(queued.id, "why not")


def test_retry_of_a_task_that_is_not_unknown_is_failed_precondition(h):
    job = h.submit("pair")
    h.dispatch("c1", "c2", boot_id="boot-a")
    h.engine.reconcile("c1", "boot-b", [])  # a: UNKNOWN; b still ASSIGNED on c2
    assert h.job(job.id).state is JobState.HELD
    for step in ("b", "c"):  # ASSIGNED, PENDING
        with pytest.raises(FailedPrecondition, match="only a task whose outcome is unknown"):
            h.engine.retry_task(job.id, step, "checked")
    with pytest.raises(NotFound, match="its tasks"):
        h.engine.retry_task(job.id, "nope", "checked")
    assert h.job(job.id).tasks[0].state is TaskState.UNKNOWN


def test_retry_of_an_unknown_task_of_a_job_that_ended_is_failed_precondition(h):
    """CancelJob ends a HELD job and leaves its UNKNOWN task as it is: retrying it must not
    make a task of an ended job READY (the dispatcher would run it)."""
    job, _ = held_job(h)
    cancelled, _ = h.engine.cancel(job.id, "operator")
    assert (cancelled.state, cancelled.tasks[0].state) == (JobState.CANCELLED, TaskState.UNKNOWN)
    with pytest.raises(FailedPrecondition):
        h.engine.retry_task(job.id, "noop", "changed my mind")
    assert h.job(job.id).tasks[0].state is TaskState.UNKNOWN
    assert h.dispatch("c2") == []


def test_a_job_going_held_logs_one_warning_naming_it_and_its_lost_step(h, caplog):
    caplog.set_level(logging.WARNING, logger="cellwright.orchestrator.engine")
    job = h.submit("pair")
    _, b = h.dispatch("c1", "c2", boot_id="boot-a")
    h.engine.reconcile("c1", "boot-b", [])  # a: UNKNOWN, job HELD
    h.report("c2", b.task.id, b.task.epoch, TaskState.SUCCEEDED)  # still HELD: no new warning
    assert h.job(job.id).state is JobState.HELD
    held = [r for r in caplog.records
            if r.name == "cellwright.orchestrator.engine" and "HELD" in r.getMessage()]
    assert len(held) == 1
    assert held[0].levelno == logging.WARNING
    assert job.id in held[0].getMessage() and "step(s) a;" in held[0].getMessage()


def test_a_task_back_from_unknown_running_no_longer_carries_the_cell_lost_error(h):
    job = h.submit()
    [a] = h.dispatch("c1", boot_id="boot-a")
    h.report("c1", a.task.id, a.task.epoch, TaskState.RUNNING)
    h.engine.cell_lost("c1")
    lost = h.job(job.id).tasks[0]
    assert lost.error is not None and lost.error.reason == "cell_lost"
    h.engine.reconcile("c1", "boot-a", [TaskReport(a.task.id, a.task.epoch, TaskState.RUNNING)])
    back = h.job(job.id)
    assert (back.state, back.tasks[0].state) == (JobState.RUNNING, TaskState.RUNNING)
    assert back.tasks[0].error is None
    assert back.tasks[0].finished_at == 0.0


def test_a_stale_cancelled_report_after_a_cancel_does_not_end_the_job(h):
    """The cell was re-assigned the task (epoch 2) after refusing it (epoch 1); a cancel
    goes out for epoch 2, and a late CANCELLED for epoch 1 must not end the job."""
    job = h.submit()
    [old] = h.dispatch("c1")
    h.report("c1", old.task.id, old.task.epoch, TaskState.FAILED, TaskError(REJECTED, "busy", True))
    [new] = h.dispatch("c1")
    _, orders = h.engine.cancel(job.id, "operator")
    assert orders == [CancelOrder("c1", new.task.id, new.task.epoch, "operator")]
    before, events = h.job(job.id), len(h.seqs)
    assert h.report("c1", old.task.id, old.task.epoch, TaskState.CANCELLED) == (True, [])
    assert h.job(job.id) == before and len(h.seqs) == events
    assert (before.state, before.cancel_requested) == (JobState.RUNNING, True)
    h.report("c1", new.task.id, new.task.epoch, TaskState.CANCELLED)
    assert h.job(job.id).state is JobState.CANCELLED
