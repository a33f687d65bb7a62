"""Why a job waits, in words (orchestrator.waiting.explain)."""

from __future__ import annotations

from dataclasses import replace

from cellwright.orchestrator.model import (
    Job,
    JobState,
    KnownCell,
    Reservation,
    Task,
    TaskError,
    TaskSpec,
    TaskState,
)
from cellwright.orchestrator.scheduler import CellIndex, CellOffer
from cellwright.orchestrator.waiting import explain

NOW = 1_700_000_000.0


def job(*tasks: Task) -> Job:
    return Job("job-1", "r", "w", 1, {}, 0, 0.0, {}, JobState.RUNNING, tasks, NOW, NOW)


def task(step: str = "pick", state: TaskState = TaskState.READY, params: dict[str, object] | None = None,
         **fields: object) -> Task:
    return Task(f"job-1/{step}", "job-1", step, "pick_place", params or {}, (), state,
                **fields)  # type: ignore[arg-type]


ARM = CellOffer("arm-a", "b1", frozenset({"pick_place"}))


def test_a_ready_task_no_connected_cell_can_run_names_the_known_cells_that_could():
    known = [KnownCell("arm-a", frozenset({"pick_place"})), KnownCell("conveyor", frozenset({"feed"}))]
    explained = explain(job(task()), CellIndex(), known, [], NOW)
    assert explained.waiting_reason == ("no connected cell can run step pick (skill pick_place); "
                                        "known cells that could: arm-a; it waits for one to connect")
    assert explained.tasks[0].waiting_reason == explained.waiting_reason


def test_a_task_waiting_for_a_suspect_reservation_says_an_operator_must_release_it():
    waiting = task(spec=TaskSpec(reserve=("handover",)))
    held = Reservation("handover", "job-0", "job-0/put", "arm-b", "b2", 3, "SUSPECT", NOW)
    reason = explain(job(waiting), CellIndex([ARM]), [], [held], NOW).waiting_reason
    assert reason.startswith("step pick waits for handover, held by job-0/put (SUSPECT")
    assert "release it" in reason


def test_a_retried_task_waits_for_the_suspect_reservation_of_its_own_earlier_attempt():
    mine = Reservation("handover", "job-1", "job-1/pick", "arm-a", "b1", 1, "SUSPECT", NOW)
    retried = task(spec=TaskSpec(reserve=("handover",)), epoch=2)
    assert explain(job(retried), CellIndex([ARM]), [], [mine], NOW).waiting_reason.startswith(
        "step pick waits for handover, held by its own earlier attempt (epoch 1) (SUSPECT")


def test_backoff_held_and_operator_steps_each_say_what_they_wait_for():
    backoff = task("a", not_before=NOW + 5)
    held = task("b", TaskState.HELD, error=TaskError("grasp_failed", "slipped"))
    person = task("c", TaskState.AWAITING_OPERATOR, params={"prompt": "check the kit"})
    reasons = [t.waiting_reason for t in explain(job(backoff, held, person), CellIndex([ARM]), [], [], NOW).tasks]
    assert reasons[0].startswith("step a retries after its backoff, at ")
    assert reasons[1] == "step b is held for an operator (slipped); resume, retry, skip or cancel it"
    assert reasons[2] == "step c waits for a person to confirm: check the kit"


def test_a_finished_job_is_left_alone():
    done = replace(job(task(state=TaskState.SUCCEEDED)), state=JobState.SUCCEEDED)
    assert explain(done, CellIndex(), [], [], NOW) is done
