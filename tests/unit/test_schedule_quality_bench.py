"""bench/schedule_quality.py: the instance generator, the replay of the dispatcher's policy and
check_schedule (CP-SAT is not needed: it runs in its own venv, outside the tests)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a package at the repository root, not installed
    sys.path.insert(0, str(ROOT))

from bench import schedule_quality as sq  # noqa: E402
from cellwright.orchestrator import scheduler  # noqa: E402
from cellwright.orchestrator.model import ReadyTask  # noqa: E402

SEEDS = range(7, 27)


def test_generator_is_seeded_and_well_formed() -> None:
    assert sq.generate(11) == sq.generate(11)
    assert sq.generate(11) != sq.generate(12)
    for seed in SEEDS:
        inst = sq.generate(seed)
        assert 3 <= len(inst.cells) <= 6 and 4 <= len(inst.jobs) <= 20
        offers = {c.cell_id: c for c in sq.offers(inst)}
        seen: set[str] = set()
        for t in inst.tasks:
            assert t.durations and all(isinstance(d, int) and d >= 1 for d in t.durations.values())
            assert set(t.needs) <= seen and all(n.startswith(f"{t.job}/") for n in t.needs)
            seen.add(t.id)
            # The instance's eligible cells are exactly those the real scheduler admits.
            item = ReadyTask(sq.to_task(t), 0, 0.0, 0.0)
            assert {c for c, offer in offers.items() if scheduler.admits(item, offer)} == set(t.durations)
            if t.same_cell_as:
                assert t.same_cell_as in t.needs
                assert set(inst.task(t.same_cell_as).durations) <= set(t.durations)
            assert set(t.reserve) <= set(inst.stations)
        assert len(inst.tasks) == len({t.id for t in inst.tasks})


def test_generator_covers_the_features() -> None:
    tasks = [t for seed in SEEDS for t in sq.generate(seed).tasks]
    assert any(t.same_cell_as for t in tasks)
    assert any(t.reserve for t in tasks)
    assert any(t.place_cells for t in tasks) and any(t.place_tags for t in tasks)
    assert any(len(t.needs) > 1 for t in tasks)  # diamonds / fan-ins


@pytest.mark.parametrize("seed", SEEDS)
def test_simulated_schedule_is_valid(seed: int) -> None:
    inst = sq.generate(seed)
    schedule = sq.simulate(inst)
    makespan = sq.check_schedule(inst, schedule)
    assert makespan == max(s.end for s in schedule.values())
    assert sq.simulate(inst) == schedule  # deterministic
    # The diagnostic variants obey the same rules.
    sq.check_schedule(inst, sq.simulate(inst, sq.fastest_idle_policy(inst)))
    sq.check_schedule(inst, sq.simulate(inst, critical_path_first=True))


def _task(tid: str, skill: str, durations: dict[str, int], needs: tuple[str, ...] = (),
          same_cell_as: str = "", reserve: tuple[str, ...] = ()) -> sq.TaskDef:
    job, _, step = tid.partition("/")
    return sq.TaskDef(tid, job, step, int(step[1:]), skill, needs, (), (), same_cell_as, reserve, durations)


def _instance(*tasks: sq.TaskDef, slow_skills: tuple[str, ...] = ("pick", "place")) -> sq.Instance:
    cells = (sq.Cell("slow", slow_skills, (), 1.5), sq.Cell("fast", ("pick", "place"), (), 0.7))
    jobs = tuple(dict.fromkeys(t.job for t in tasks))
    return sq.Instance("hand", 0, cells, ("st",), jobs, tasks)


def test_simulation_replays_the_greedy_policy() -> None:
    # The first capable idle cell (offer order) gets the task even when it is slower, and a
    # job's next step prefers the cell of its previous one; a reservation serialises tasks.
    inst = _instance(
        _task("a/s0", "pick", {"slow": 30, "fast": 10}),
        _task("a/s1", "place", {"slow": 30, "fast": 10}, needs=("a/s0",)),
        _task("b/s0", "pick", {"slow": 30, "fast": 10}, reserve=("st",)),
        _task("c/s0", "pick", {"slow": 30, "fast": 10}, reserve=("st",)),
    )
    schedule = sq.simulate(inst)
    assert schedule == {"a/s0": sq.Slot("slow", 0, 30), "b/s0": sq.Slot("fast", 0, 10),
                        "c/s0": sq.Slot("fast", 10, 20), "a/s1": sq.Slot("slow", 30, 60)}
    assert sq.check_schedule(inst, schedule) == 60


def test_simulation_follows_same_cell_as() -> None:
    inst = _instance(
        _task("a/s0", "pick", {"slow": 5, "fast": 5}),
        _task("b/s0", "pick", {"slow": 50, "fast": 50}),
        _task("a/s1", "place", {"slow": 5, "fast": 5}, needs=("a/s0",), same_cell_as="a/s0"),
    )
    schedule = sq.simulate(inst)
    assert schedule["a/s1"] == sq.Slot(schedule["a/s0"].cell, 5, 10)
    sq.check_schedule(inst, schedule)


def test_simulation_reports_a_stuck_job() -> None:
    # a/s0 may run on either cell and goes to "slow", but a/s1 must follow it and only
    # "fast" can place: the policy does not look ahead (the generator avoids this case).
    inst = _instance(
        _task("a/s0", "pick", {"slow": 5, "fast": 5}),
        _task("a/s1", "place", {"fast": 5}, needs=("a/s0",), same_cell_as="a/s0"),
        slow_skills=("pick",))
    with pytest.raises(sq.Stuck):
        sq.simulate(inst)


def test_check_schedule_catches_each_violation() -> None:
    inst = _instance(
        _task("a/s0", "pick", {"slow": 30, "fast": 10}, reserve=("st",)),
        _task("a/s1", "place", {"slow": 30, "fast": 10}, needs=("a/s0",), same_cell_as="a/s0"),
        _task("b/s0", "pick", {"fast": 10}, reserve=("st",)),
    )
    good = {"a/s0": sq.Slot("slow", 0, 30), "a/s1": sq.Slot("slow", 30, 60), "b/s0": sq.Slot("fast", 30, 40)}
    assert sq.check_schedule(inst, good) == 60
    bad = {
        "before a/s0 ends": {**good, "a/s1": sq.Slot("slow", 20, 50)},
        "not eligible": {**good, "b/s0": sq.Slot("slow", 60, 90)},
        "lasts 5, not 10": {**good, "b/s0": sq.Slot("fast", 30, 35)},
        "station st": {**good, "b/s0": sq.Slot("fast", 20, 30)},
        "not on slow like a/s0": {**good, "a/s1": sq.Slot("fast", 40, 50)},
        "missing": {k: v for k, v in good.items() if k != "b/s0"},
        "starts at -5": {**good, "b/s0": sq.Slot("fast", -5, 5)},
    }
    for message, schedule in bad.items():
        with pytest.raises(sq.ScheduleError, match=message):
            sq.check_schedule(inst, schedule)
    two_on_one_cell = replace(inst, tasks=(*inst.tasks, _task("c/s0", "pick", {"fast": 10})))
    with pytest.raises(sq.ScheduleError, match="cell fast"):
        sq.check_schedule(two_on_one_cell, {**good, "c/s0": sq.Slot("fast", 35, 45)})
