"""The engine running workflow language v1: needs, when, for_each / count, step results,
placement, not_found, retries, on_failure, operator steps, outputs, reservations,
submit-time truth and workflow versions, on a real SQLite file with a fake clock."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cellwright.api.layout import load_layout
from cellwright.orchestrator import scheduler
from cellwright.orchestrator.catalog import BUILTIN_DIR, WorkflowRefused
from cellwright.orchestrator.engine import NOT_FOUND, Assignment, CancelOrder, Engine, Submission, TaskReport
from cellwright.orchestrator.errors import FailedPrecondition, InvalidArgument, NotFound
from cellwright.orchestrator.model import Job, JobState, KnownCell, SkillSchema, Task, TaskError, TaskState
from cellwright.orchestrator.scheduler import CellOffer
from cellwright.orchestrator.server import MAX_DETAILS
from cellwright.orchestrator.store import Store
from cellwright.orchestrator.workflow.model import Placement

LINE2 = load_layout(Path(__file__).parents[2] / "sim_worlds" / "worlds" / "line2.layout.yaml")
S, F = TaskState.SUCCEEDED, TaskState.FAILED
ANYWHERE = Placement()


def flow(body: str, name: str = "w") -> str:
    """A v1 workflow named `name` with `body` (params, steps, ...) under the header."""
    return f"apiVersion: cellwright/v1\nkind: Workflow\nname: {name}\n" + textwrap.dedent(body)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """An Engine on the line2 layout; cells are offered by id (`cell` makes one)."""

    def __init__(self, path: Path) -> None:
        self.clock = Clock()
        self.store = Store(path)
        self.engine = Engine(self.store, encode_job=lambda job: job.state.value.encode(),
                             on_event=lambda event: None, layout=LINE2, clock=self.clock)
        self.offers: dict[str, CellOffer] = {}
        self.requests = 0

    def put(self, body: str, name: str = "w") -> int:
        stored, _, _ = self.engine.put_workflow(flow(body, name), "test")
        return stored.version

    def cell(self, cell_id: str, skills: Sequence[str] = ("noop",), *, tags: Sequence[str] = (),
             kinds: Sequence[str] = (), models: Sequence[str] = (), known: bool = True,
             schemas: dict[str, dict[str, Any]] | None = None) -> CellOffer:
        offer = CellOffer(cell_id, f"boot-{cell_id}", frozenset(skills), frozenset(tags),
                          frozenset(kinds), frozenset(models))
        self.offers[cell_id] = offer
        if known:
            self.engine.remember_cell(
                KnownCell(cell_id, offer.skills, offer.tags, offer.kinds, offer.models),
                [SkillSchema(s, (schemas or {}).get(s, {}), {}, cell_id) for s in skills])
        return offer

    def submit(self, workflow: str = "w", params: dict[str, Any] | None = None,
               pin: Placement = ANYWHERE) -> Job:
        self.requests += 1
        job, _ = self.engine.submit(Submission(f"req-{self.requests}", workflow, dict(params or {}),
                                               pin=pin))
        return job

    def dispatch(self, *cells: str) -> list[Assignment]:
        assignments, _ = self.engine.dispatch([self.offers[c] for c in cells or self.offers])
        return assignments

    def finish(self, a: Assignment, state: TaskState = S, result: dict[str, Any] | None = None,
               error: TaskError | None = None) -> tuple[bool, list[CancelOrder]]:
        return self.engine.report(a.cell_id, self.offers[a.cell_id].boot_id,
                                  TaskReport(a.task.id, a.task.epoch, state, result or {}, error))

    def job(self, job_id: str) -> Job:
        return self.engine.get(job_id)

    def task(self, job_id: str, ref: str) -> Task:
        return next(t for t in self.job(job_id).tasks if t.id == f"{job_id}/{ref}")

    def run(self, *cells: str, results: dict[str, dict[str, Any]] | None = None,
            rounds: int = 50) -> list[Assignment]:
        """Dispatch and let every assignment succeed (result by step id) until none is left."""
        done: list[Assignment] = []
        for _ in range(rounds):
            batch = self.dispatch(*cells)
            if not batch:
                return done
            for a in batch:
                self.finish(a, S, (results or {}).get(a.task.step_id, {}))
            done += batch
        raise AssertionError("still dispatching after many rounds")


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "jobs.db")
    yield harness
    harness.store.close()


def states(job: Job) -> dict[str, TaskState]:
    return {t.id.partition("/")[2]: t.state for t in job.tasks}


def steps_of(assignments: Sequence[Assignment]) -> list[str]:
    return [a.task.id.partition("/")[2] for a in assignments]


def retryable(reason: str = "grasp_failed") -> TaskError:
    return TaskError(reason, "it slipped", retryable=True)


# --- needs, when, for_each, count, step results ---------------------------------------

DIAMOND = """\
steps:
  - {id: a, skill: noop}
  - {id: b, skill: noop, needs: [a]}
  - {id: c, skill: noop, needs: [a]}
  - {id: d, skill: noop, needs: [b, c]}
"""


def test_independent_branches_are_dispatched_at_once_to_two_cells_after_their_need(h):
    h.put(DIAMOND)
    h.cell("c1")
    h.cell("c2")
    job = h.submit()
    [a] = h.dispatch()
    assert steps_of([a]) == ["a"]
    assert h.dispatch() == []  # b and c wait for a (c1 is busy with a; c2 gets nothing)
    h.finish(a)
    both = h.dispatch()
    assert sorted(steps_of(both)) == ["b", "c"]
    assert {x.cell_id for x in both} == {"c1", "c2"}
    h.finish(both[0])
    assert h.dispatch() == []  # d needs both
    h.finish(both[1])
    [d] = h.dispatch()
    assert steps_of([d]) == ["d"]
    h.finish(d)
    assert h.job(job.id).state is JobState.SUCCEEDED


def test_a_step_whose_when_is_false_is_skipped_and_its_dependents_still_run(h):
    h.put("""\
        params:
          inspect: {type: boolean, default: false}
        steps:
          - {id: a, skill: noop}
          - {id: look, skill: noop, needs: [a], when: "${params.inspect}"}
          - {id: z, skill: noop, needs: [look]}
        """)
    h.cell("c1")
    job = h.submit()
    h.run()
    done = h.job(job.id)
    assert states(done) == {"a": S, "look": TaskState.SKIPPED, "z": S}
    assert done.state is JobState.SUCCEEDED


def test_for_each_makes_one_task_per_item_with_item_and_index_rendered(h):
    h.put("""\
        params:
          parts: {type: array, items: {type: string}}
        steps:
          - id: pick
            skill: noop
            for_each: "${params.parts}"
            with: {part: "${item}", n: "${index}"}
        """)
    job = h.submit(params={"parts": ["red", "blue", "green"]})
    assert [(t.id, t.params) for t in job.tasks] == [
        (f"{job.id}/pick[0]", {"part": "red", "n": 0}),
        (f"{job.id}/pick[1]", {"part": "blue", "n": 1}),
        (f"{job.id}/pick[2]", {"part": "green", "n": 2})]


def test_count_makes_that_many_tasks_and_a_need_on_them_waits_for_all(h):
    h.put("""\
        params:
          n: {type: integer, default: 3}
        steps:
          - {id: rep, skill: noop, count: "${params.n}", with: {i: "${index}"}}
          - {id: after, skill: noop, needs: [rep]}
        """)
    h.cell("c1")
    h.cell("c2")
    job = h.submit()
    assert [t.id.partition("/")[2] for t in job.tasks] == ["rep[0]", "rep[1]", "rep[2]", "after"]
    assert [t.params for t in job.tasks[:3]] == [{"i": 0}, {"i": 1}, {"i": 2}]
    first = h.dispatch()
    for a in first:
        h.finish(a)
    [third] = h.dispatch()
    assert steps_of([third]) == ["rep[2]"]
    h.finish(third)
    [after] = h.dispatch()
    assert steps_of([after]) == ["after"]


def test_a_later_step_gets_a_field_of_a_finished_steps_result(h):
    h.put("""\
        steps:
          - {id: locate, skill: noop}
          - {id: pick, skill: noop, needs: [locate], with: {at: "${steps.locate.result.pose}"}}
        """)
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    h.finish(a, S, {"pose": [1, 2, 3]})
    [b] = h.dispatch()
    assert b.task.params == {"at": [1, 2, 3]}
    assert h.task(job.id, "pick").params == {"at": [1, 2, 3]}


def test_same_cell_as_sends_the_later_step_only_to_the_cell_that_ran_the_earlier_one(h):
    h.put("""\
        steps:
          - {id: grab, skill: noop}
          - {id: place, skill: noop, needs: [grab], place: {same_cell_as: grab}}
        """)
    h.cell("c1")
    h.cell("c2")
    job = h.submit()
    [a] = h.dispatch("c2")
    h.finish(a)
    assert h.dispatch("c1") == []
    [b] = h.dispatch("c1", "c2")
    assert (b.cell_id, h.task(job.id, "place").same_cell) == ("c2", "c2")


def test_a_for_each_over_an_empty_list_runs_nothing_and_its_result_is_an_empty_list(h):
    h.put("""\
        params:
          parts: {type: array, items: {type: string}}
        steps:
          - {id: pick, skill: noop, for_each: "${params.parts}"}
          - {id: after, skill: noop, needs: [pick], with: {placed: "${steps.pick.result}"}}
        outputs:
          placed: "${steps.pick.result}"
        """)
    h.cell("c1")
    job = h.submit(params={"parts": []})
    [after] = h.run()
    assert after.task.params == {"placed": []}
    done = h.job(job.id)
    assert (done.state, done.outputs) == (JobState.SUCCEEDED, {"placed": []})

# --- placement ------------------------------------------------------------------------

@pytest.mark.parametrize(("place", "pin", "fits"), [
    ("{cell: c2}", Placement(), "c2"),
    ("{cells: [c3, c2]}", Placement(), "c2"),
    ("{tags: [vision]}", Placement(), "c2"),
    ("{kind: gripper}", Placement(), "c2"),
    ("{model: ur5e}", Placement(), "c2"),
    ("{}", Placement(cells=("c2",)), "c2"),
    ("{}", Placement(tags=("vision",)), "c2"),
], ids=["cell", "cells", "tags", "kind", "model", "pin-cell", "pin-tags"])
def test_a_placed_step_goes_only_to_a_cell_meeting_its_placement(h, place, pin, fits):
    h.put(f"steps:\n  - {{id: a, skill: noop, place: {place}}}\n")
    h.cell("c1", kinds=["arm"], models=["franka_panda"])
    h.cell("c2", tags=["vision"], kinds=["arm", "gripper"], models=["ur5e"])
    h.submit(pin=pin)
    assert h.dispatch("c1") == []
    [a] = h.dispatch("c1", "c2")
    assert a.cell_id == fits


# --- not_found ------------------------------------------------------------------------

def test_not_found_offers_the_task_to_another_capable_cell_without_counting_an_attempt(h):
    h.put("steps:\n  - {id: a, skill: noop}\n")
    h.cell("c1")
    h.cell("c2")
    job = h.submit()
    [a] = h.dispatch("c1")
    h.finish(a, F, error=TaskError(NOT_FOUND, "no such tool here"))
    task = h.task(job.id, "a")
    assert (task.state, task.attempt, task.excluded_cells) == (TaskState.READY, 0, ("c1",))
    assert h.dispatch("c1") == []
    [b] = h.dispatch("c1", "c2")
    assert b.cell_id == "c2"


def test_not_found_from_the_last_capable_cell_fails_the_task(h):
    h.put("steps:\n  - {id: a, skill: noop}\n")
    h.cell("c1")
    h.cell("c2", ["move_to"])
    job = h.submit()
    [a] = h.dispatch("c1")
    h.finish(a, F, error=TaskError(NOT_FOUND, "no such tool here"))
    done = h.job(job.id)
    assert (states(done)["a"], done.state) == (F, JobState.FAILED)


# --- retry ----------------------------------------------------------------------------

def test_retry_runs_a_step_at_most_attempts_times(h):
    h.put("steps:\n  - {id: a, skill: noop, retry: {attempts: 3}}\n")
    h.cell("c1")
    job = h.submit()
    for attempt in (1, 2, 3):
        [a] = h.dispatch()
        assert a.task.attempt == attempt
        h.finish(a, F, error=retryable())
    assert h.dispatch() == []
    assert h.job(job.id).state is JobState.FAILED


def test_retry_on_retries_only_the_reasons_listed(h):
    h.put("steps:\n  - {id: a, skill: noop, retry: {attempts: 3, on: [grasp_failed]}}\n")
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    h.finish(a, F, error=TaskError("grasp_failed", "slipped", retryable=False))
    assert h.task(job.id, "a").state is TaskState.READY  # listed: retried though not retryable
    [a] = h.dispatch()
    h.finish(a, F, error=TaskError("collision", "bumped", retryable=True))
    assert h.job(job.id).state is JobState.FAILED  # not listed: not retried


def test_a_retry_is_not_dispatched_before_its_backoff_has_passed(h):
    h.put("steps:\n  - {id: a, skill: noop, retry: {attempts: 3, backoff: 10s}}\n")
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    h.finish(a, F, error=retryable())
    assert h.task(job.id, "a").not_before == h.clock.now + 10
    h.clock.now += 9.9
    assert h.dispatch() == []
    h.clock.now += 0.1
    [a] = h.dispatch()
    h.finish(a, F, error=retryable())  # the 3rd attempt waits twice as long
    h.clock.now += 19.9
    assert h.dispatch() == []
    h.clock.now += 0.1
    assert len(h.dispatch()) == 1


# --- on_failure -----------------------------------------------------------------------

def on_failure_flow(on_failure: str) -> str:
    return f"""\
        steps:
          - {{id: a, skill: noop, on_failure: {on_failure}}}
          - {{id: b, skill: noop, needs: [a]}}
        recovery:
          - {{id: fix, skill: noop}}
        """


def test_on_failure_fail_fails_the_job_and_cancels_the_rest(h):
    h.put(on_failure_flow("fail"))
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    h.finish(a, F, error=TaskError("broken", "x"))
    done = h.job(job.id)
    assert (done.state, states(done)) == (JobState.FAILED, {"a": F, "b": TaskState.CANCELLED})
    assert done.error is not None and done.error.reason == "broken"


def test_on_failure_continue_counts_the_failed_step_as_done(h):
    h.put(on_failure_flow("continue"))
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    h.finish(a, F, error=TaskError("broken", "x"))
    h.run()
    done = h.job(job.id)
    assert (done.state, states(done)) == (JobState.SUCCEEDED, {"a": F, "b": S})


def held(h: Harness) -> Job:
    h.put(on_failure_flow("hold"))
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    h.finish(a, F, error=TaskError("broken", "x"))
    return h.job(job.id)


def test_on_failure_hold_holds_the_task_and_the_job(h):
    job = held(h)
    assert (job.state, states(job)["a"]) == (JobState.HELD, TaskState.HELD)
    assert h.dispatch() == []


@pytest.mark.parametrize("action", ["resume", "retry"])
def test_a_held_task_resumed_or_retried_by_an_operator_runs_again(h, action):
    job = held(h)
    h.engine.act(job.id, "a", action, "fixed the gripper", "ann")
    assert h.job(job.id).state is not JobState.HELD
    h.run()
    done = h.job(job.id)
    assert (done.state, states(done)) == (JobState.SUCCEEDED, {"a": S, "b": S})


def test_a_held_task_skipped_by_an_operator_lets_the_job_go_on(h):
    job = held(h)
    h.engine.act(job.id, "a", "skip", "did it by hand", "ann")
    h.run()
    done = h.job(job.id)
    assert (done.state, states(done)) == (JobState.SUCCEEDED, {"a": TaskState.SKIPPED, "b": S})


@pytest.mark.parametrize(("then", "job_state", "b_state"), [
    ("fail", JobState.FAILED, TaskState.CANCELLED),
    ("continue", JobState.SUCCEEDED, S),
    ("hold", JobState.HELD, TaskState.PENDING),
])
def test_on_failure_run_starts_the_recovery_step_then_applies_then(h, then, job_state, b_state):
    h.put(on_failure_flow(f"{{run: fix, then: {then}}}"))
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    h.finish(a, F, error=TaskError("broken", "x"))
    [fix] = h.dispatch()
    assert (fix.task.id, fix.task.step_id) == (f"{job.id}/a/fix", "fix")
    h.finish(fix)
    h.run()
    done = h.job(job.id)
    assert done.state is job_state
    assert states(done) == {"a": TaskState.HELD if then == "hold" else F, "a/fix": S, "b": b_state}


def test_an_operator_recovery_step_waits_its_whole_timeout(h):
    h.put("""\
        steps:
          - {id: a, skill: noop, on_failure: {run: ask, then: continue}}
        recovery:
          - id: ask
            operator: {prompt: "look at the cell", timeout: 10m}
        """)
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    h.finish(a, F, error=TaskError("broken", "x"))
    assert h.task(job.id, "a/ask").state is TaskState.AWAITING_OPERATOR
    h.clock.now += 5
    h.dispatch()
    assert h.task(job.id, "a/ask").state is TaskState.AWAITING_OPERATOR

# --- operator steps -------------------------------------------------------------------

OPERATOR = """\
    params:
      tray: {type: string, default: outfeed_b}
    steps:
      - {id: a, skill: noop}
      - id: check
        operator: {prompt: "Check the kit in ${params.tray}", timeout: 10m}
        needs: [a]
      - {id: z, skill: noop, needs: [check]}
    """


def at_operator(h: Harness) -> Job:
    h.put(OPERATOR)
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    h.finish(a)
    return h.job(job.id)


def test_an_operator_step_waits_for_a_person_with_its_prompt_rendered(h):
    job = at_operator(h)
    check = h.task(job.id, "check")
    assert (check.state, check.params) == (TaskState.AWAITING_OPERATOR,
                                            {"prompt": "Check the kit in outfeed_b"})
    assert h.dispatch() == []


def test_an_operator_confirming_succeeds_the_step_with_who_and_note(h):
    job = at_operator(h)
    h.engine.act(job.id, "check", "confirm", "looks fine", "ann")
    check = h.task(job.id, "check")
    assert (check.state, check.result) == (S, {"by": "ann", "note": "looks fine"})
    h.run()
    assert h.job(job.id).state is JobState.SUCCEEDED


def test_an_operator_rejecting_fails_the_step(h):
    job = at_operator(h)
    h.engine.act(job.id, "check", "reject", "a part is missing", "ann")
    check = h.task(job.id, "check")
    assert check.state is F
    assert check.error is not None and check.error.reason == "rejected_by_operator"
    assert h.job(job.id).state is JobState.FAILED


def test_an_operator_step_nobody_confirms_in_time_fails_with_timeout_at_the_next_dispatch(h):
    job = at_operator(h)
    h.clock.now += 600
    h.dispatch()
    assert h.task(job.id, "check").state is TaskState.AWAITING_OPERATOR
    h.clock.now += 1
    h.dispatch()
    check = h.task(job.id, "check")
    assert check.state is F
    assert check.error is not None and check.error.reason == "timeout"
    assert h.job(job.id).state is JobState.FAILED


# --- outputs --------------------------------------------------------------------------

def test_outputs_are_rendered_into_the_job_when_it_succeeds(h):
    h.put("""\
        params:
          tray: {type: string, default: outfeed_b}
        steps:
          - {id: pick, skill: noop, count: 2}
          - {id: look, skill: noop}
        outputs:
          tray: "${params.tray}"
          placed: "${steps.pick.result}"
          seen: "${steps.look.result.colour}"
        """)
    h.cell("c1")
    job = h.submit()
    assert h.job(job.id).outputs == {}
    h.run(results={"pick": {"ok": True}, "look": {"colour": "red"}})
    done = h.job(job.id)
    assert done.state is JobState.SUCCEEDED
    assert done.outputs == {"tray": "outfeed_b", "placed": [{"ok": True}, {"ok": True}],
                            "seen": "red"}


# --- reservations ---------------------------------------------------------------------

RESERVING = """\
    steps:
      - {id: a, skill: noop, reserve: handover}
    """


def reserving(h: Harness) -> tuple[Job, Assignment]:
    h.put(RESERVING, "holder")
    h.put("steps:\n  - {id: a, skill: noop, reserve: [handover_zone]}\n", "zoner")
    h.cell("c1")
    h.cell("c2")
    job = h.submit("holder")
    [a] = h.dispatch("c1")
    return job, a


def holders(h: Harness) -> dict[str, tuple[str, str]]:
    return {r.resource: (r.task_id, r.state) for r in h.engine.reservations()}


@pytest.mark.parametrize("other", ["holder", "zoner"])
def test_a_held_station_blocks_another_jobs_task_reserving_it_or_its_zone(h, other):
    _, a = reserving(h)
    second = h.submit(other)
    assert holders(h) == {"handover": (a.task.id, "HELD")}
    assert h.dispatch("c2") == []
    h.finish(a)
    assert holders(h) == {}
    [b] = h.dispatch("c2")
    assert b.task.job_id == second.id
    assert set(holders(h)) == ({"handover", "handover_zone"} if other == "zoner" else {"handover"})


def test_the_store_refuses_a_second_holder_even_if_the_scheduler_is_wrong(h, monkeypatch, caplog):
    """The primary key, not the scheduler, guards a station: with a scheduler that ignores
    what is held, the second assignment is undone (its task stays READY), the rest of the
    dispatch goes on, and the log says what happened."""
    _, a = reserving(h)
    second = h.submit("holder")
    free = h.submit("w") if h.put("steps:\n  - {id: a, skill: noop}\n") else None
    real = scheduler.match
    monkeypatch.setattr(scheduler, "match", lambda ready, cells, held=(): real(ready, cells, ()))
    assigned = h.dispatch("c2", "c1")
    assert [x.task.job_id for x in assigned] == [free.id]
    assert holders(h) == {"handover": (a.task.id, "HELD")}
    assert h.engine.get(second.id).tasks[0].state is TaskState.READY
    assert "the scheduler believed them free" in caplog.text


def test_a_failed_final_report_by_the_holder_also_releases(h):
    _, a = reserving(h)
    h.finish(a, F, error=TaskError("broken", "x"))
    assert holders(h) == {}


def test_after_cell_lost_the_reservation_is_suspect_and_kept(h):
    job, a = reserving(h)
    h.engine.cell_lost("c1")
    assert holders(h) == {"handover": (a.task.id, "SUSPECT")}
    assert h.job(job.id).state is JobState.HELD
    second = h.submit("holder")
    assert h.dispatch("c2") == []
    assert h.task(second.id, "a").state is TaskState.READY


def test_the_same_boot_reporting_the_lost_task_final_releases_its_suspect_reservation(h):
    job, a = reserving(h)
    h.engine.cell_lost("c1")
    h.finish(a)
    assert holders(h) == {}
    assert h.job(job.id).state is JobState.SUCCEEDED


def test_an_operator_releasing_a_reservation_frees_the_station(h):
    _, a = reserving(h)
    h.engine.cell_lost("c1")
    released = h.engine.release_reservation("handover", "checked the tray is empty")
    assert (released.task_id, released.state) == (a.task.id, "SUSPECT")
    assert holders(h) == {}
    with pytest.raises(NotFound, match="'handover' is not reserved"):
        h.engine.release_reservation("handover", "again")
    h.submit("holder")
    assert len(h.dispatch("c2")) == 1


def test_cancelling_the_job_frees_its_reservations_once_its_cell_is_out(h):
    job, a = reserving(h)
    h.engine.cancel(job.id, "not needed")
    assert holders(h) == {"handover": (a.task.id, "HELD")}  # the cell is still in the station
    h.finish(a, TaskState.CANCELLED)
    assert holders(h) == {}
    assert h.engine.get(job.id).state is JobState.CANCELLED


def test_cancelling_a_held_job_frees_the_suspect_reservation_of_its_lost_task(h):
    job, a = reserving(h)
    h.engine.cell_lost("c1")
    assert holders(h) == {"handover": (a.task.id, "SUSPECT")}
    h.engine.cancel(job.id, "checked the station: empty")
    assert holders(h) == {}


def test_a_skipped_running_task_keeps_its_station_until_its_cell_reports_the_cancel(h):
    job, a = reserving(h)
    h.engine.act(job.id, "a", "skip", "not needed", "op")
    assert holders(h) == {"handover": (a.task.id, "HELD")}
    h.submit("holder")
    assert h.dispatch("c2") == []  # another job must not enter the station yet
    h.finish(a, TaskState.CANCELLED)  # stale for the task (skipped), but its rows go
    assert holders(h) == {}
    [b] = h.dispatch("c2")
    assert holders(h) == {"handover": (b.task.id, "HELD")}


def test_an_assignment_that_could_not_be_sent_frees_its_reservations(h):
    job, a = reserving(h)
    h.engine.unassign(a.task.id, a.task.epoch)
    assert holders(h) == {}
    assert h.task(job.id, "a").state is TaskState.READY


# --- submit-time truth ----------------------------------------------------------------

def test_a_step_no_known_cell_could_run_is_refused_at_submit_naming_the_step(h):
    h.put("steps:\n  - {id: a, skill: noop}\n  - {id: weld, skill: weld, needs: [a]}\n")
    h.cell("c1")
    with pytest.raises(FailedPrecondition, match="step weld: no known cell"):
        h.submit()


def test_a_recovery_step_no_known_cell_could_run_is_refused_at_submit_naming_it(h):
    h.put("""\
        steps:
          - {id: a, skill: noop, on_failure: {run: fix}}
        recovery:
          - {id: fix, skill: move_to}
        """)
    h.cell("c1")
    with pytest.raises(FailedPrecondition, match="recovery step fix: no known cell"):
        h.submit()
    h.cell("c2", ["move_to"])
    assert h.submit().state is JobState.QUEUED

def test_a_placement_no_known_cell_meets_is_refused_at_submit(h):
    h.put("steps:\n  - {id: a, skill: noop, place: {model: ur5e}}\n")
    h.cell("c1", models=["franka_panda"])
    with pytest.raises(FailedPrecondition, match=r"step a: .*model=ur5e"):
        h.submit()


def test_bound_params_a_skills_schema_refuses_are_invalid_argument_naming_the_field(h):
    h.cell("c1", ["move_to"], schemas={"move_to": {
        "type": "object", "properties": {"speed": {"type": "number", "maximum": 1.0}}}})
    h.put("""\
        params:
          speed: {type: number, default: 0.5}
        steps:
          - {id: go, skill: move_to, with: {speed: "${params.speed}"}}
        """)
    assert h.submit().state is JobState.QUEUED
    with pytest.raises(InvalidArgument) as info:
        h.submit(params={"speed": 2.0})
    assert info.value.field == "steps.go.with.speed"


def test_with_no_known_cells_any_job_is_accepted(h):
    h.put("steps:\n  - {id: weld, skill: weld, place: {model: nobody}}\n")
    assert h.submit().state is JobState.QUEUED


def test_a_cell_advertising_a_conflicting_skill_schema_is_refused_naming_the_difference(h):
    h.cell("c1", ["move_to"], schemas={"move_to": {"type": "object", "properties": {
        "speed": {"type": "number"}}}})
    with pytest.raises(FailedPrecondition, match=r"skill move_to.*speed: .*number.*string"):
        h.cell("c2", ["move_to"], schemas={"move_to": {"type": "object", "properties": {
            "speed": {"type": "string"}}}})


# --- workflow versions and the catalog -------------------------------------------------

def test_a_new_version_put_while_a_job_runs_does_not_change_that_jobs_tasks(h):
    h.put("steps:\n  - {id: a, skill: noop, with: {v: 1}}\n  - {id: b, skill: noop, needs: [a]}\n")
    h.cell("c1")
    job = h.submit()
    [a] = h.dispatch()
    before = [(t.id, t.spec) for t in h.job(job.id).tasks]
    assert h.put("steps:\n  - {id: a, skill: noop, with: {v: 2}, retry: {attempts: 5}}\n"
                 "  - {id: c, skill: noop}\n") == 2
    assert [(t.id, t.spec) for t in h.job(job.id).tasks] == before
    h.finish(a)
    [b] = h.dispatch()
    assert b.task.step_id == "b"
    h.finish(b)
    done = h.job(job.id)
    assert (done.state, done.workflow_version) == (JobState.SUCCEEDED, 1)
    assert [t.step_id for t in h.submit().tasks] == ["a", "c"]


def test_name_at_version_runs_that_version(h):
    h.put("steps:\n  - {id: one, skill: noop}\n")
    h.put("steps:\n  - {id: two, skill: noop}\n")
    assert [t.step_id for t in h.submit("w@1").tasks] == ["one"]
    assert [t.step_id for t in h.submit("w").tasks] == ["two"]
    assert h.submit("w@1").workflow_version == 1


def test_an_unknown_workflow_or_version_is_not_found_listing_what_exists(h):
    h.put("steps:\n  - {id: one, skill: noop}\n", "alpha")
    h.put("steps:\n  - {id: one, skill: noop}\n", "beta")
    h.put("steps:\n  - {id: two, skill: noop}\n", "beta")
    with pytest.raises(NotFound, match=r"workflow 'gamma' not found; known workflows: \['alpha', 'beta'\]"):
        h.submit("gamma")
    with pytest.raises(NotFound, match=r"'beta' has no version '3'; versions: \[1, 2\]"):
        h.submit("beta@3")
    with pytest.raises(NotFound, match="no version 'x'"):
        h.submit("beta@x")


def test_putting_the_same_text_again_creates_no_version(h):
    text = flow("steps:\n  - {id: one, skill: noop}\n")
    first, created, _ = h.engine.put_workflow(text, "a.yaml")
    again, created_again, _ = h.engine.put_workflow(text, "b.yaml")
    assert (created, created_again, again.version) == (True, False, first.version)


def test_put_folders_refuses_a_missing_folder(h, tmp_path):
    with pytest.raises(InvalidArgument, match="is not a folder"):
        h.engine.workflows.put_folders([tmp_path / "absent"])


def test_put_folders_refuses_a_folder_without_workflow_files(h, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match="no workflow files"):
        h.engine.workflows.put_folders([tmp_path / "empty"])


def test_a_0_1_workflow_file_still_runs(h):
    h.engine.workflows.put_folders([])
    assert {p.name for p in BUILTIN_DIR.glob("*.yaml")} >= {"kitting.yaml"}
    h.cell("c1", ["pick_place", "move_to"])
    job = h.submit("kitting", {"first": "red_cube", "second": "blue_cube"})
    [a] = h.dispatch()
    assert a.task.params == {"part": "red_cube", "place_at": "outfeed_b"}
    h.finish(a, F, error=retryable())  # retries: 1 -> two attempts
    [a] = h.dispatch()
    assert a.task.attempt == 2
    h.finish(a)
    h.run()
    done = h.job(job.id)
    assert done.state is JobState.SUCCEEDED
    assert [t.step_id for t in done.tasks] == ["first", "second", "home"]


def test_same_cell_as_that_no_known_cell_could_honour_is_refused_at_submit(h):
    h.cell("c1", ["noop"])
    h.cell("c2", ["pick"])
    h.put("""\
        steps:
          - {id: a, skill: noop, place: {cell: c1}}
          - {id: b, skill: pick, needs: [a], place: {same_cell_as: a}}
        """)
    with pytest.raises(FailedPrecondition, match=r"step b must run on the cell that ran a \(same_cell_as\)"):
        h.submit()


def test_a_refusal_with_very_many_errors_lists_what_fits_and_says_how_many_more(h):
    steps = "".join(f"  - {{id: s{i}, skill: noop, needs: [nowhere_{'x' * 40}{i}]}}\n" for i in range(200))
    with pytest.raises(WorkflowRefused) as info:
        h.engine.put_workflow(flow(f"steps:\n{steps}", "many"), "many.yaml")
    message = str(info.value)
    assert message.startswith("source: 200 error(s) in many.yaml:\nmany.yaml:5:")
    assert len(message) <= MAX_DETAILS
    assert message.endswith("more: ValidateWorkflow (`cellwright workflow validate --orchestrator`) "
                            "lists every one with its hint")


def test_put_before_any_cell_connected_says_skills_are_checked_once_one_has(h):
    _, _, warnings = h.engine.put_workflow(flow("steps:\n  - {id: a, skill: weld}\n"), "w.yaml")
    [note] = [w for w in warnings if w.code == "not-checked"]
    assert note.hint == ("no cell has connected to this orchestrator yet: skills are checked "
                         "against what cells advertise once one has")


# --- found in review: every way a task fails, and who may move what ----------------------

@pytest.mark.parametrize("how", ["reject", "timeout", "expression", "cell without error"])
def test_on_failure_hold_holds_however_the_step_failed(h, how):
    h.cell("c1")
    h.put("""\
        steps:
          - {id: a, skill: noop}
          - id: b
            operator: {prompt: "ok?", timeout: 1m}
            needs: [a]
            on_failure: hold
          - {id: c, skill: noop, needs: [a], with: {x: "${steps.a.result.missing}"}, on_failure: hold}
          - {id: d, skill: noop, needs: [a], on_failure: hold}
        """)
    job = h.submit()
    [a] = h.dispatch("c1")
    h.finish(a, S, {"present": 1})
    step = {"reject": "b", "timeout": "b", "expression": "c", "cell without error": "d"}[how]
    if how == "reject":
        h.engine.act(job.id, "b", "reject", "no", "op")
    elif how == "timeout":
        h.clock.now += 120
        h.dispatch("c1")
    elif how == "cell without error":
        [d] = [x for x in h.dispatch("c1") if x.task.step_id == "d"]
        h.finish(d, F)
    assert h.task(job.id, step).state is TaskState.HELD
    assert h.job(job.id).state is JobState.HELD
    if how == "cell without error":
        assert h.task(job.id, "d").error == TaskError(
            "unknown", "cell c1 reported the task FAILED without saying why")


def test_an_operator_prompt_that_cannot_be_rendered_fails_the_step_not_the_engine(h):
    h.cell("c1")
    h.put("""\
        steps:
          - {id: a, skill: noop}
          - {id: b, operator: {prompt: "tray ${steps.a.result.tray}"}, needs: [a]}
        """)
    job = h.submit()
    [a] = h.dispatch("c1")
    h.finish(a, S, {})
    b = h.task(job.id, "b")
    assert (b.state, b.error.reason if b.error else "") == (F, "expression")
    assert h.job(job.id).state is JobState.FAILED


def test_retry_of_an_operator_held_step_waits_for_its_needs(h):
    h.cell("c1")
    h.cell("c2")
    h.put(DIAMOND)
    job = h.submit()
    h.engine.act(job.id, "d", "hold", "wait", "op")
    [a] = h.dispatch("c1")
    h.engine.act(job.id, "d", "retry", "go", "op")
    assert h.task(job.id, "d").state is TaskState.PENDING
    assert steps_of(h.dispatch("c2")) == []  # a still runs: nothing else may start
    h.finish(a)


def test_a_cell_may_not_cancel_or_skip_a_task_nobody_asked_it_to(h):
    h.cell("c1")
    h.put("steps:\n  - {id: a, skill: noop, retry: {attempts: 2, on: [stopped]}}\n")
    job = h.submit()
    [a] = h.dispatch("c1")
    h.finish(a, TaskState.CANCELLED)
    task = h.task(job.id, "a")
    assert (task.state, task.error.reason) == (TaskState.READY, "stopped")  # retried
    [again] = h.dispatch("c1")
    h.finish(again, TaskState.CANCELLED)
    assert h.job(job.id).state is JobState.FAILED


def test_a_new_boot_listing_an_old_boots_task_does_not_keep_it_running(h):
    h.cell("c1")
    h.put("steps:\n  - {id: a, skill: noop}\n")
    job = h.submit()
    [a] = h.dispatch("c1")
    report = TaskReport(a.task.id, a.task.epoch, TaskState.RUNNING)
    reconciled = h.engine.reconcile("c1", "boot-new", [report])
    assert h.task(job.id, "a").state is TaskState.UNKNOWN
    assert [(o.task_id, o.epoch) for o in reconciled.orders] == [(a.task.id, a.task.epoch)]
    assert reconciled.task_id == ""


def test_a_lease_of_an_old_boot_does_not_lose_a_newer_boots_task(h):
    h.cell("c1")
    h.put("steps:\n  - {id: a, skill: noop}\n")
    job = h.submit()
    h.dispatch("c1")
    h.engine.cell_lost("c1", "boot-old")
    assert h.task(job.id, "a").state is TaskState.ASSIGNED


def test_an_assignment_lost_to_a_reconnect_before_it_was_sent_goes_back_to_ready(h):
    _, a = reserving(h)
    h.engine.reconcile("c1", "boot-new", [])
    assert h.task(a.task.job_id, "a").state is TaskState.UNKNOWN
    h.engine.unassign(a.task.id, a.task.epoch)
    assert h.task(a.task.job_id, "a").state is TaskState.READY
    assert holders(h) == {}


def test_releasing_a_zone_frees_its_stations_and_a_running_holders_station_is_refused(h):
    h.put("steps:\n  - {id: a, skill: noop, reserve: [handover_zone]}\n", "zoner")
    h.cell("c1")
    job = h.submit("zoner")
    assert len(h.dispatch("c1")) == 1
    with pytest.raises(FailedPrecondition, match="running on cell c1: it is freed when the task ends"):
        h.engine.release_reservation("handover", "checked")
    h.engine.cell_lost("c1")
    h.engine.release_reservation("handover_zone", "checked: empty")
    assert holders(h) == {}
    assert h.job(job.id).state is JobState.HELD


def test_a_step_id_of_a_repeated_step_must_name_one_repetition(h):
    h.cell("c1")
    h.put("steps:\n  - {id: p, skill: noop, count: 2}\n")
    job = h.submit()
    with pytest.raises(InvalidArgument, match=r"step 'p' has 2 tasks; name one: \['p\[0\]', 'p\[1\]'\]"):
        h.engine.act(job.id, "p", "hold", "x", "op")
    h.engine.act(job.id, "p[1]", "hold", "x", "op")
    assert h.task(job.id, "p[1]").state is TaskState.HELD


def test_when_of_a_repeated_step_is_decided_per_repetition(h):
    h.cell("c1")
    h.put("""\
        params:
          parts: {type: array, items: {type: string}}
        steps:
          - {id: move, skill: noop, for_each: "${params.parts}", when: "${item != 'blue'}"}
        """)
    job = h.submit(params={"parts": ["red", "blue", "green"]})
    assert states(h.job(job.id)) == {"move[0]": TaskState.READY, "move[1]": TaskState.SKIPPED,
                                     "move[2]": TaskState.READY}


def test_a_recovery_step_that_cannot_be_read_back_fails_the_job_not_the_report(h, monkeypatch):
    h.cell("c1")
    h.put("""\
        steps:
          - {id: a, skill: noop, on_failure: {run: fix}}
        recovery:
          - {id: fix, skill: noop}
        """)
    job = h.submit()
    [a] = h.dispatch("c1")

    def unreadable(ref: str) -> None:
        raise NotFound(f"workflow {ref} cannot be read")
    monkeypatch.setattr(h.engine.workflows, "resolve", unreadable)
    assert h.finish(a, F, error=TaskError("broken", "x"))[0]  # acknowledged
    assert h.job(job.id).state is JobState.FAILED
    fix = h.task(job.id, "a/fix")
    assert (fix.state, fix.error.reason if fix.error else "") == (F, "internal")
    assert "recovery step fix of w@1 could not be read back" in fix.error.message
