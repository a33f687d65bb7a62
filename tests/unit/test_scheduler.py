"""Scheduling: which READY task goes to which idle cell (orchestrator.scheduler.match and
the urgency order of Store.ready_tasks, driven through Engine.dispatch)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cellwright.orchestrator.engine import Engine, Submission, TaskReport
from cellwright.orchestrator.model import ReadyTask, Task, TaskState
from cellwright.orchestrator.scheduler import CellIndex, CellOffer, match
from cellwright.orchestrator.store import Store


def ready(task_id: str, skill: str = "noop", last_cell: str = "") -> ReadyTask:
    task = Task(id=task_id, job_id=task_id.split("/")[0], step_id="s", skill=skill, params={},
                needs=(), state=TaskState.READY)
    return ReadyTask(task, priority=0, deadline=0.0, job_created_at=0.0, last_cell=last_cell)


def cell(cell_id: str, *skills: str) -> CellOffer:
    return CellOffer(cell_id, "boot", frozenset(skills or ("noop",)))


def pairs(matches: list[tuple[ReadyTask, CellOffer]]) -> list[tuple[str, str]]:
    return [(t.task.id, c.cell_id) for t, c in matches]


# --- match -----------------------------------------------------------------------------

def test_a_task_goes_only_to_a_cell_offering_its_skill():
    matches = match([ready("j1/s", "pick_place")], CellIndex([cell("c1", "noop"), cell("c2", "pick_place")]))
    assert pairs(matches) == [("j1/s", "c2")]


def test_a_task_no_idle_cell_can_run_stays_unmatched():
    assert match([ready("j1/s", "weld")], CellIndex([cell("c1", "noop")])) == []


def test_each_cell_gets_at_most_one_task():
    matches = match([ready("j1/s"), ready("j2/s"), ready("j3/s")], CellIndex([cell("c1"), cell("c2")]))
    assert pairs(matches) == [("j1/s", "c1"), ("j2/s", "c2")]


def test_tasks_are_served_in_the_given_urgency_order():
    matches = match([ready("urgent/s"), ready("later/s")], CellIndex([cell("c1")]))
    assert pairs(matches) == [("urgent/s", "c1")]


def test_a_less_urgent_task_still_gets_a_cell_the_urgent_one_cannot_use():
    matches = match([ready("j1/s", "weld"), ready("j2/s", "noop")], CellIndex([cell("c1", "noop")]))
    assert pairs(matches) == [("j2/s", "c1")]


def test_a_jobs_next_step_prefers_the_cell_that_ran_its_previous_step():
    matches = match([ready("j1/s", last_cell="c2")], CellIndex([cell("c1"), cell("c2"), cell("c3")]))
    assert pairs(matches) == [("j1/s", "c2")]


def test_matched_cells_are_taken_out_of_the_index():
    idle = CellIndex([cell("c1"), cell("c2", "weld")])
    match([ready("j1/s")], idle)
    assert [c.cell_id for c in idle] == ["c2"] and idle.skills() == ["weld"]


def test_a_cell_put_back_goes_last_among_equal_cells():
    idle = CellIndex([cell("c1"), cell("c2")])
    idle.put(cell("c1"))
    assert pairs(match([ready("j1/s")], idle)) == [("j1/s", "c2")]


def test_affinity_to_a_cell_that_is_not_idle_falls_back_to_another():
    matches = match([ready("j1/s", last_cell="c9")], CellIndex([cell("c1"), cell("c2")]))
    assert pairs(matches) == [("j1/s", "c1")]


# --- urgency order through the store ---------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    store = Store(tmp_path / "jobs.db")
    clock = Clock()
    engine = Engine(store, encode_job=lambda job: b"", on_event=lambda seq: None, clock=clock)
    engine.workflows.put_folders([])
    yield engine
    store.close()


def submit(engine: Engine, name: str, **fields: object) -> str:
    engine._clock.now += 1  # type: ignore[attr-defined]  # distinct creation times
    job, _ = engine.submit(Submission(name, "noop", {}, **fields))  # type: ignore[arg-type]
    return job.id


def dispatch_order(engine: Engine, jobs: dict[str, str]) -> list[str]:
    """Names of jobs in the order single-cell dispatch rounds pick them."""
    by_id = {v: k for k, v in jobs.items()}
    order = []
    for _ in jobs:
        [a], _ = engine.dispatch([cell("c1")])
        order.append(by_id[a.task.job_id])
        engine.report("c1", "boot", TaskReport(a.task.id, a.task.epoch, TaskState.SUCCEEDED))
    return order


def test_higher_priority_runs_first(engine):
    jobs = {"low": submit(engine, "low", priority=1), "high": submit(engine, "high", priority=900),
            "mid": submit(engine, "mid", priority=50)}
    assert dispatch_order(engine, jobs) == ["high", "mid", "low"]


def test_at_equal_priority_the_earlier_deadline_runs_first_and_no_deadline_last(engine):
    now = engine._clock.now  # type: ignore[attr-defined]
    jobs = {"none": submit(engine, "none"), "late": submit(engine, "late", deadline=now + 500),
            "soon": submit(engine, "soon", deadline=now + 100)}
    assert dispatch_order(engine, jobs) == ["soon", "late", "none"]


def test_at_equal_priority_and_deadline_the_older_job_runs_first(engine):
    jobs = {"first": submit(engine, "first"), "second": submit(engine, "second"),
            "third": submit(engine, "third")}
    assert dispatch_order(engine, jobs) == ["first", "second", "third"]


def test_priority_outranks_deadline(engine):
    now = engine._clock.now  # type: ignore[attr-defined]
    jobs = {"soon": submit(engine, "soon", deadline=now + 100),
            "important": submit(engine, "important", priority=10)}
    assert dispatch_order(engine, jobs) == ["important", "soon"]


def test_a_jobs_next_step_is_dispatched_to_the_cell_that_ran_the_previous_one(engine):
    job, _ = engine.submit(Submission("k", "kitting", {"first": "red_cube", "second": "blue_cube"}))
    skills = ("pick_place", "move_to")
    offers = [cell("c1", *skills), cell("c2", *skills), cell("c3", *skills)]
    chosen = []
    for offered in (offers[::-1], offers, offers[1:] + offers[:1]):  # c3 first, then last...
        [a], _ = engine.dispatch(offered)
        chosen.append(a.cell_id)
        engine.report(a.cell_id, "boot", TaskReport(a.task.id, a.task.epoch, TaskState.SUCCEEDED))
    assert chosen == ["c3", "c3", "c3"]
    assert engine.get(job.id).state.value == "SUCCEEDED"
