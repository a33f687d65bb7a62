"""Properties of the engine running random DAG workflows on random plants: a simulated
cell loop dispatches, runs and reports until every job has ended, checking after every
step that tasks go only to cells that may run them, after their needs, never holding a
station twice, within their attempts, and untouched by a new workflow version."""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cellwright.api.layout import load_layout
from cellwright.orchestrator.engine import Assignment, Engine, Submission, TaskReport
from cellwright.orchestrator.model import Job, JobState, KnownCell, SkillSchema, TaskError, TaskState
from cellwright.orchestrator.scheduler import CellOffer
from cellwright.orchestrator.store import Store

LINE2 = load_layout(Path(__file__).parents[2] / "sim_worlds" / "worlds" / "line2.layout.yaml")
SKILLS = ("noop", "pick", "move")
STATIONS = ("infeed", "outfeed")


@dataclass(frozen=True)
class StepPlan:
    id: str
    skill: str
    needs: tuple[str, ...]
    cell: str  # "" = any cell
    reserve: str  # "" = none
    attempts: int


@dataclass(frozen=True)
class Plant:
    cells: dict[str, frozenset[str]]  # cell id -> skills
    steps: tuple[StepPlan, ...]


@st.composite
def plants(draw: st.DrawFn) -> Plant:
    n_cells = draw(st.integers(2, 4))
    cells = {f"c{i}": set(draw(st.sets(st.sampled_from(SKILLS), max_size=3))) for i in range(n_cells)}
    for skill in SKILLS:  # every skill has a capable cell
        if not any(skill in s for s in cells.values()):
            cells[draw(st.sampled_from(sorted(cells)))].add(skill)
    steps: list[StepPlan] = []
    for i in range(draw(st.integers(3, 8))):
        earlier = [s.id for s in steps]
        needs = tuple(draw(st.sets(st.sampled_from(earlier), max_size=3))) if earlier else ()
        skill = draw(st.sampled_from(SKILLS))
        capable = sorted(c for c, s in cells.items() if skill in s)
        cell = draw(st.one_of(st.just(""), st.sampled_from(capable)))
        reserve = draw(st.sampled_from(("", "", *STATIONS)))
        steps.append(StepPlan(f"s{i}", skill, tuple(sorted(needs)), cell, reserve,
                              draw(st.integers(1, 3))))
    return Plant({c: frozenset(s) for c, s in cells.items()}, tuple(steps))


def workflow_text(plant: Plant, version_mark: int = 1) -> str:
    lines = ["apiVersion: cellwright/v1", "kind: Workflow", "name: rand", "steps:"]
    for s in plant.steps:
        lines.append(f"  - id: {s.id}")
        lines.append(f"    skill: {s.skill}")
        lines.append(f"    with: {{mark: {version_mark}}}")
        if s.needs:
            lines.append(f"    needs: [{', '.join(s.needs)}]")
        if s.cell:
            lines.append(f"    place: {{cell: {s.cell}}}")
        if s.reserve:
            lines.append(f"    reserve: {s.reserve}")
        lines.append(f"    retry: {{attempts: {s.attempts + version_mark - 1}}}")
    return "\n".join(lines) + "\n"


class Line:
    """The engine and a simulated line of cells that run what they are given."""

    def __init__(self, folder: Path, plant: Plant) -> None:
        self.plant = plant
        self.store = Store(folder / "jobs.db")
        self.engine = Engine(self.store, encode_job=lambda job: b"", on_event=lambda event: None,
                             layout=LINE2, clock=lambda: 1_700_000_000.0)
        self.offers = {c: CellOffer(c, f"boot-{c}", skills) for c, skills in plant.cells.items()}
        for c, skills in plant.cells.items():
            self.engine.remember_cell(KnownCell(c, skills), [SkillSchema(s, {}, {}, c) for s in skills])
        self.engine.put_workflow(workflow_text(plant), "gen")
        self.steps = {s.id: s for s in plant.steps}
        self.in_flight: dict[str, Assignment] = {}  # cell -> its assignment
        self.cancelled: set[tuple[str, int]] = set()
        self.assigned: list[Assignment] = []

    def submit(self, n: int) -> list[Job]:
        return [self.engine.submit(Submission(f"r{i}", "rand", {}))[0] for i in range(n)]

    def dispatch(self) -> None:
        idle = [o for c, o in self.offers.items() if c not in self.in_flight]
        assignments, orders = self.engine.dispatch(idle)
        self.cancelled.update((o.task_id, o.epoch) for o in orders)
        for a in assignments:
            assert a.cell_id not in self.in_flight
            self.in_flight[a.cell_id] = a
            self.assigned.append(a)
            self.check_assignment(a)
        self.check_reservations()

    def check_assignment(self, a: Assignment) -> None:
        step = self.steps[a.task.step_id]
        assert a.task.skill in self.plant.cells[a.cell_id], (a.task.id, a.cell_id)
        assert not step.cell or a.cell_id == step.cell, (a.task.id, a.cell_id)
        assert a.task.attempt <= step.attempts, (a.task.id, a.task.attempt)
        job = self.store.get_job(a.task.job_id)
        assert job is not None
        for t in job.tasks:
            if t.step_id in step.needs:
                assert t.state is TaskState.SUCCEEDED, (a.task.id, t.id, t.state)

    def check_reservations(self) -> None:
        holders = {r.resource: r.task_id for r in self.store.reservations()}
        taken: dict[str, str] = {}
        for a in self.in_flight.values():
            task = self.store.get_task(a.task.id)
            assert task is not None
            if not task.state.in_flight:
                continue
            for resource in task.spec.reserve:
                assert resource not in taken, (resource, taken[resource], task.id)
                taken[resource] = task.id
                assert holders.get(resource) == task.id, (resource, holders, task.id)

    def report_some(self, rng: random.Random, fail_rate: float) -> None:
        """Some of the cells holding a task finish it (at least one)."""
        cells = sorted(self.in_flight)
        rng.shuffle(cells)
        for cell in cells[:rng.randint(1, len(cells))]:
            a = self.in_flight.pop(cell)
            if (a.task.id, a.task.epoch) in self.cancelled:
                state, error = TaskState.CANCELLED, None
            elif rng.random() < fail_rate:
                state, error = TaskState.FAILED, TaskError("grasp_failed", "slipped", retryable=True)
            else:
                state, error = TaskState.SUCCEEDED, None
            self.engine.report(cell, f"boot-{cell}", TaskReport(a.task.id, a.task.epoch, state,
                                                                {}, error))

    def run(self, rng: random.Random, fail_rate: float, on_first_dispatch: Any = None) -> None:
        for _ in range(400):
            self.dispatch()
            if on_first_dispatch is not None:
                on_first_dispatch()
                on_first_dispatch = None
            if not self.in_flight:
                return
            self.report_some(rng, fail_rate)
        raise AssertionError("the line never became idle")


JOBS = st.integers(1, 2)
SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(plants(), JOBS, st.randoms(use_true_random=False))
def test_when_every_task_succeeds_every_step_runs_exactly_once_after_its_needs(plant, n_jobs, rng):
    with tempfile.TemporaryDirectory() as folder:
        line = Line(Path(folder), plant)
        try:
            jobs = line.submit(n_jobs)
            line.run(rng, fail_rate=0.0)
            ran = sorted(a.task.id for a in line.assigned)
            assert ran == sorted(t.id for job in jobs for t in job.tasks)
            for job in jobs:
                assert line.engine.get(job.id).state is JobState.SUCCEEDED
            assert line.store.reservations() == []
        finally:
            line.store.close()


@SETTINGS
@given(plants(), JOBS, st.randoms(use_true_random=False), st.sampled_from((0.2, 0.5)))
def test_with_retryable_failures_attempts_stay_within_retry_and_every_job_ends(
        plant, n_jobs, rng, fail_rate):
    with tempfile.TemporaryDirectory() as folder:
        line = Line(Path(folder), plant)
        try:
            jobs = line.submit(n_jobs)
            line.run(rng, fail_rate)
            for job in jobs:
                done = line.engine.get(job.id)
                assert done.state in (JobState.SUCCEEDED, JobState.FAILED), done.state
                for t in done.tasks:
                    assert t.attempt <= line.steps[t.step_id].attempts, (t.id, t.attempt)
                    if done.state is JobState.SUCCEEDED:
                        assert t.state is TaskState.SUCCEEDED
            runs: dict[str, int] = {}
            for a in line.assigned:
                runs[a.task.id] = runs.get(a.task.id, 0) + 1
            for task_id, n in runs.items():
                assert n <= line.steps[task_id.rsplit("/", 1)[1]].attempts, (task_id, n)
            assert line.store.reservations() == []
        finally:
            line.store.close()


@SETTINGS
@given(plants(), st.randoms(use_true_random=False), st.sampled_from((0.0, 0.3)))
def test_a_new_version_put_mid_run_never_alters_the_running_jobs_task_specs(plant, rng, fail_rate):
    with tempfile.TemporaryDirectory() as folder:
        line = Line(Path(folder), plant)
        try:
            [job] = line.submit(1)
            specs = {t.id: t.spec for t in line.engine.get(job.id).tasks}

            def put_new_version() -> None:
                stored, created, _ = line.engine.put_workflow(workflow_text(plant, 2), "gen2")
                assert (created, stored.version) == (True, 2)

            line.run(rng, fail_rate, on_first_dispatch=put_new_version)
            done = line.engine.get(job.id)
            assert done.workflow_version == 1
            assert {t.id: t.spec for t in done.tasks} == specs
            assert all(a.task.params == {"mark": 1} for a in line.assigned)
            new, _ = line.engine.submit(Submission("r-new", "rand", {}))
            assert all(t.spec.retry.attempts == line.steps[t.step_id].attempts + 1 for t in new.tasks)
        finally:
            line.store.close()
