"""Scheduling quality: the dispatcher's matching policy against an offline optimum (issue 7).

What is compared, on seeded random multi-cell instances (K cells with skills, tags and
speeds; J jobs, each a small DAG of 2-6 steps with skills, placements, `same_cell_as` and
station reservations; an integer duration per eligible (step, cell); every job submitted at
t=0 with equal priority):

- online: the dispatcher's matching policy (`cellwright.orchestrator.scheduler.match`, the
  real function on real `Task` / `TaskSpec` / `Placement` / `ReadyTask` records) replayed in
  a discrete-event simulation with known durations. At t=0 and at every task end it offers
  the idle cells, the READY tasks in the engine's order (priority, deadline, submission
  order, step order; filtered to the idle cells' skills and capped as
  `Store.ready_tasks` does) and the stations held now, and starts every match at once.
  This is not the gRPC orchestrator end to end (no latency, no failures), and the policy
  itself never looks at durations (the real dispatcher does not know them either).
- offline: the same instance as a flexible job shop solved by OR-Tools CP-SAT
  (`bench/cpsat_solve.py`, in its own venv because OR-Tools pins protobuf below what
  cellwright needs) under a time limit: the best makespan found, the best lower bound,
  and whether it is proven optimal. The online schedule is given to CP-SAT as a hint.

Both schedules go through `check_schedule` (precedences, eligible cells, durations, one task
per cell at a time, station exclusivity, `same_cell_as`); a violation stops the bench.
Prints figures, never asserts. Run from the repository root:

    python -m bench.schedule_quality [--instances N] [--seed S] [--time-limit S]
        [--workers W] [--json PATH] [--png PATH] [--ortools-python PATH]

The first run creates bench/.venv-ortools (python -m venv + pip install ortools) unless
--ortools-python names an interpreter that has ortools.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from bench import save_json
from cellwright.orchestrator import scheduler
from cellwright.orchestrator.model import ReadyTask, Task, TaskSpec, TaskState
from cellwright.orchestrator.workflow.model import Placement

HERE = Path(__file__).resolve().parent
SOLVER = HERE / "cpsat_solve.py"
ORTOOLS_VENV = HERE / ".venv-ortools"
LABEL = "the dispatcher's matching policy replayed in a discrete-event simulation with known durations"

SKILLS = ("pick", "place", "screw", "inspect", "glue", "weld", "pack")
TAGS = ("vision", "heavy", "cleanroom")
SHAPES = ("chain", "diamond", "fanout", "fanin", "random")


# --- instances -------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    id: str
    skills: tuple[str, ...]
    tags: tuple[str, ...]
    speed: float  # duration factor: > 1 is slower


@dataclass(frozen=True)
class TaskDef:
    id: str  # "<job>/<step>"
    job: str
    step: str
    ordinal: int  # step order in the job
    skill: str
    needs: tuple[str, ...]  # task ids, in the same job
    place_cells: tuple[str, ...]
    place_tags: tuple[str, ...]
    same_cell_as: str  # a task id among `needs`, or ""
    reserve: tuple[str, ...]  # station names
    durations: dict[str, int]  # eligible cell -> seconds (skill and placement hold)


@dataclass(frozen=True)
class Instance:
    name: str
    seed: int
    cells: tuple[Cell, ...]
    stations: tuple[str, ...]
    jobs: tuple[str, ...]  # in submission order
    tasks: tuple[TaskDef, ...]  # grouped by job, in step order

    def task(self, task_id: str) -> TaskDef:
        return next(t for t in self.tasks if t.id == task_id)


class Slot(NamedTuple):
    cell: str
    start: int
    end: int


Schedule = dict[str, Slot]


def _needs(shape: str, n: int, rng: random.Random) -> list[list[int]]:
    """The needs (step indexes) of each of the n steps of a job of this shape."""
    if shape == "chain" or (n < 3 and shape in ("diamond", "fanin")):
        return [[]] + [[i - 1] for i in range(1, n)]
    if shape == "fanout":
        return [[]] + [[0] for _ in range(1, n)]
    if shape == "fanin":
        return [[] for _ in range(n - 1)] + [list(range(n - 1))]
    if shape == "diamond":
        return [[]] + [[0] for _ in range(1, n - 1)] + [list(range(1, n - 1))]
    return [[]] + [sorted(rng.sample(range(i), min(i, rng.randint(1, 2)))) for i in range(1, n)]


def generate(seed: int, name: str = "", cells: tuple[int, int] = (3, 6), jobs: tuple[int, int] = (4, 20)
             ) -> Instance:
    """A random instance, the same for the same arguments."""
    rng = random.Random(seed)
    n_cells, n_jobs = rng.randint(*cells), rng.randint(*jobs)
    cell_list: list[Cell] = []
    for k in range(n_cells):
        skills = tuple(sorted(rng.sample(SKILLS, rng.randint(2, 4))))
        tags = tuple(t for t in TAGS if rng.random() < 0.4)
        cell_list.append(Cell(f"cell{k}", skills, tags, round(rng.uniform(0.7, 1.5), 2)))
    offered = sorted({s for c in cell_list for s in c.skills})
    stations = tuple(f"station_{x}" for x in "ab"[:rng.randint(1, 2)])
    tasks: list[TaskDef] = []
    job_ids: list[str] = []
    for j in range(n_jobs):
        job = f"job{j:02d}"
        job_ids.append(job)
        n = rng.randint(2, 6)
        needs = _needs(rng.choice(SHAPES), n, rng)
        mine: list[TaskDef] = []
        for i in range(n):
            need_ids = tuple(mine[k].id for k in needs[i])
            same_as, skill = "", ""
            place_cells: tuple[str, ...] = ()
            place_tags: tuple[str, ...] = ()
            if need_ids and rng.random() < 0.25:
                # Follow a needed step's cell, with a skill every cell that may run that step
                # offers: the online policy never looks ahead, so a skill the chosen cell
                # lacks would leave the job stuck (the generator avoids such instances).
                source_id = rng.choice(need_ids)
                source = next(t for t in mine if t.id == source_id)
                common = set.intersection(*(set(c.skills) for c in cell_list if c.id in source.durations))
                if common:
                    same_as, skill = source.id, rng.choice(sorted(common))
            if not skill:
                skill = rng.choice(offered)
                capable = [c for c in cell_list if skill in c.skills]
                roll = rng.random()
                if roll < 0.15 and len(capable) >= 2:
                    place_cells = tuple(sorted(c.id for c in rng.sample(capable, rng.randint(1, len(capable) - 1))))
                elif roll < 0.30:
                    offered_tags = sorted({t for c in capable for t in c.tags})
                    if offered_tags:
                        place_tags = (rng.choice(offered_tags),)
            eligible = [c for c in cell_list if skill in c.skills
                        and (not place_cells or c.id in place_cells) and set(place_tags) <= set(c.tags)]
            reserve = (rng.choice(stations),) if rng.random() < 0.25 else ()
            base = rng.randint(10, 60)
            durations = {c.id: max(1, round(base * c.speed * rng.uniform(0.85, 1.15))) for c in eligible}
            mine.append(TaskDef(f"{job}/s{i}", job, f"s{i}", i, skill, need_ids, place_cells, place_tags,
                                same_as, reserve, durations))
        tasks += mine
    return Instance(name or f"i{seed}", seed, tuple(cell_list), stations, tuple(job_ids), tuple(tasks))


def instance_to_json(inst: Instance) -> dict[str, Any]:
    return {"name": inst.name, "seed": inst.seed, "stations": list(inst.stations), "jobs": list(inst.jobs),
            "cells": [{"id": c.id, "skills": list(c.skills), "tags": list(c.tags), "speed": c.speed}
                      for c in inst.cells],
            "tasks": [{"id": t.id, "job": t.job, "step": t.step, "ordinal": t.ordinal, "skill": t.skill,
                       "needs": list(t.needs), "place_cells": list(t.place_cells),
                       "place_tags": list(t.place_tags), "same_cell_as": t.same_cell_as,
                       "reserve": list(t.reserve), "durations": t.durations} for t in inst.tasks]}


# --- the online policy, replayed ---------------------------------------------------------

class Stuck(RuntimeError):
    """READY or PENDING tasks remain but nothing runs and nothing can start."""


def offers(inst: Instance) -> list[scheduler.CellOffer]:
    return [scheduler.CellOffer(c.id, f"boot-{c.id}", frozenset(c.skills), frozenset(c.tags)) for c in inst.cells]


def to_task(t: TaskDef, same_cell: str = "") -> Task:
    """The engine's READY task for this step (needs and `same_cell_as` as step ids)."""
    step_of = {n: n.rpartition("/")[2] for n in (*t.needs, t.same_cell_as) if n}
    place = Placement(cells=t.place_cells, tags=t.place_tags, same_cell_as=step_of.get(t.same_cell_as, ""))
    return Task(id=t.id, job_id=t.job, step_id=t.step, skill=t.skill, params={},
                needs=tuple(step_of[n] for n in t.needs), state=TaskState.READY,
                spec=TaskSpec(place=place, reserve=t.reserve), same_cell=same_cell)


Match = Callable[[Sequence[ReadyTask], scheduler.CellIndex, Collection[str]],
                 list[tuple[ReadyTask, scheduler.CellOffer]]]


def fastest_idle_policy(inst: Instance) -> Match:
    """A diagnostic, not the product: `scheduler.match` with one change, each task takes the
    idle capable cell that runs it fastest instead of the first one (or its job's last
    cell). Still greedy, still no look-ahead; it tells how much of the gap is the cell
    choice ignoring durations."""
    durations = {t.id: t.durations for t in inst.tasks}

    def match(ready: Sequence[ReadyTask], cells: scheduler.CellIndex, held: Collection[str] = ()
              ) -> list[tuple[ReadyTask, scheduler.CellOffer]]:
        free, taken = list(cells), set(held)
        matches: list[tuple[ReadyTask, scheduler.CellOffer]] = []
        for item in ready:
            reserve = item.task.spec.reserve
            if taken.intersection(reserve):
                continue
            capable = [c for c in free if scheduler.admits(item, c)]
            if not capable:
                continue
            chosen = min(capable, key=lambda c: durations[item.task.id][c.cell_id])
            matches.append((item, chosen))
            taken.update(reserve)
            free.remove(chosen)
            if not free:
                break
        return matches

    return match


def tails(inst: Instance) -> dict[str, int]:
    """Each task's longest path to the end of its job, at the fastest eligible cells."""
    tail: dict[str, int] = {}
    for t in reversed(inst.tasks):  # dependents come after their needs
        after = [tail[d.id] for d in inst.tasks if t.id in d.needs]
        tail[t.id] = min(t.durations.values()) + max(after, default=0)
    return tail


def simulate(inst: Instance, match: Match = scheduler.match, critical_path_first: bool = False) -> Schedule:
    """Replay `match` (the real `scheduler.match` unless told otherwise) at t=0 and at every
    task end; every match starts at once. READY tasks come in the engine's order unless
    `critical_path_first` (a diagnostic: longest remaining path of its job first)."""
    tail = tails(inst) if critical_path_first else {}
    cells = offers(inst)
    job_rank = {job: i for i, job in enumerate(inst.jobs)}
    waiting = {t.id: len(t.needs) for t in inst.tasks}
    dependents: dict[str, list[str]] = {t.id: [] for t in inst.tasks}
    for t in inst.tasks:
        for need in t.needs:
            dependents[need].append(t.id)
    by_id = {t.id: t for t in inst.tasks}
    ready: dict[str, Task] = {t.id: to_task(t) for t in inst.tasks if not t.needs}
    idle = scheduler.CellIndex(cells)  # as the orchestrator keeps it: a cell back from a task goes last
    offer_of = {c.cell_id: c for c in cells}
    held: set[str] = set()
    last_cell: dict[str, str] = {}  # job -> cell of its latest assigned task
    running: list[tuple[int, str]] = []  # (end, task id)
    schedule: Schedule = {}
    now = 0
    while True:
        if idle and ready:
            skills = set(idle.skills())
            order = sorted((t for t in ready.values() if t.skill in skills),
                           key=lambda t: (-tail.get(t.id, 0), job_rank[t.job_id], by_id[t.id].ordinal))
            live = [ReadyTask(t, priority=0, deadline=0.0, job_created_at=0.0, last_cell=last_cell.get(t.job_id, ""))
                    for t in order[:8 + 4 * len(idle)]]  # as Engine.dispatch caps it
            for item, cell in match(live, idle.copy(), frozenset(held)):
                task = by_id[item.task.id]
                end = now + task.durations[cell.cell_id]  # KeyError: the policy broke eligibility
                schedule[task.id] = Slot(cell.cell_id, now, end)
                heapq.heappush(running, (end, task.id))
                idle.remove(cell.cell_id)
                held.update(task.reserve)
                last_cell[task.job] = cell.cell_id
                del ready[task.id]
        if not running:
            if len(schedule) < len(inst.tasks):
                raise Stuck(f"{inst.name}: at t={now} nothing runs and {sorted(ready)} cannot start")
            return schedule
        now = running[0][0]
        while running and running[0][0] == now:
            _, done = heapq.heappop(running)
            idle.put(offer_of[schedule[done].cell])
            held.difference_update(by_id[done].reserve)
            for nxt in dependents[done]:
                waiting[nxt] -= 1
                if waiting[nxt] == 0:
                    follow = by_id[nxt].same_cell_as
                    ready[nxt] = to_task(by_id[nxt], schedule[follow].cell if follow else "")


# --- checking a schedule -----------------------------------------------------------------

class ScheduleError(AssertionError):
    """A schedule breaks a rule of the instance."""


def check_schedule(inst: Instance, schedule: Schedule) -> int:
    """Raise ScheduleError unless `schedule` runs every task once on an eligible cell for its
    duration, after all it needs, one task per cell and per station at a time, and each
    `same_cell_as` step on its source's cell. Returns the makespan."""
    problems: list[str] = []
    ids = {t.id for t in inst.tasks}
    if set(schedule) != ids:
        problems.append(f"tasks missing {sorted(ids - set(schedule))}, unknown {sorted(set(schedule) - ids)}")
    for t in inst.tasks:
        slot = schedule.get(t.id)
        if slot is None:
            continue
        if slot.cell not in t.durations:
            problems.append(f"{t.id} on {slot.cell}, not eligible (eligible: {sorted(t.durations)})")
        elif slot.end - slot.start != t.durations[slot.cell]:
            problems.append(f"{t.id} lasts {slot.end - slot.start}, not {t.durations[slot.cell]}, on {slot.cell}")
        if slot.start < 0:
            problems.append(f"{t.id} starts at {slot.start}")
        for need in t.needs:
            if need in schedule and schedule[need].end > slot.start:
                problems.append(f"{t.id} starts at {slot.start} before {need} ends at {schedule[need].end}")
        if t.same_cell_as in schedule and schedule[t.same_cell_as].cell != slot.cell:
            problems.append(f"{t.id} on {slot.cell}, not on {schedule[t.same_cell_as].cell} like {t.same_cell_as}")
    resources: dict[str, list[tuple[int, int, str]]] = {}
    for t in inst.tasks:
        if t.id in schedule:
            slot = schedule[t.id]
            for resource in (f"cell {slot.cell}", *(f"station {s}" for s in t.reserve)):
                resources.setdefault(resource, []).append((slot.start, slot.end, t.id))
    for resource, spans in resources.items():
        spans.sort()
        for (_, end_a, a), (start_b, _, b) in itertools.pairwise(spans):
            if start_b < end_a:
                problems.append(f"{resource}: {a} (ends {end_a}) overlaps {b} (starts {start_b})")
    if problems:
        raise ScheduleError(f"{inst.name}: {len(problems)} violation(s): " + "; ".join(problems[:10]))
    return max((s.end for s in schedule.values()), default=0)


# --- CP-SAT, in its own venv --------------------------------------------------------------

def ortools_python(given: str | None) -> str:
    """An interpreter with ortools: `given`, or bench/.venv-ortools, created if missing."""
    if given:
        return given
    python = ORTOOLS_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import ortools.sat.python.cp_model"],
                                          capture_output=True).returncode == 0:
        return str(python)
    for command in ([sys.executable, "-m", "venv", str(ORTOOLS_VENV)],
                    [str(ORTOOLS_VENV / "bin" / "pip"), "install", "ortools"]):
        print(f"[setup] OR-Tools needs protobuf < 6.34 and cellwright >= 7.35, so CP-SAT runs in a separate "
              f"venv: {' '.join(command)}", file=sys.stderr, flush=True)
        subprocess.run(command, check=True, stdout=sys.stderr)
    return str(python)


def solve_cpsat(python: str, inst: Instance, time_limit: float, workers: int,
                hint: Schedule | None = None) -> dict[str, Any]:
    request = instance_to_json(inst) | {"time_limit_s": time_limit, "workers": workers}
    if hint:
        request["hint"] = {tid: slot._asdict() for tid, slot in hint.items()}
    done = subprocess.run([python, str(SOLVER)], input=json.dumps(request), capture_output=True, text=True,
                          timeout=time_limit + 120)
    if done.returncode != 0:
        raise RuntimeError(f"{SOLVER.name} failed on {inst.name} (exit {done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["schedule"] = {tid: Slot(s["cell"], int(s["start"]), int(s["end"]))
                          for tid, s in result["schedule"].items()}
    return result


# --- the run ------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = -(-len(ordered) * q // 100)  # ceil(n q / 100)
    return ordered[max(0, min(len(ordered) - 1, int(rank) - 1))]


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"median": statistics.median(values), "p90": percentile(values, 90), "worst": max(values),
            "best": min(values), "mean": statistics.fmean(values)}


def work(schedule: Schedule) -> int:
    """Cell-seconds busy."""
    return sum(s.end - s.start for s in schedule.values())


def on_slower_cell(inst: Instance, schedule: Schedule) -> float:
    """Share of tasks run on a cell slower than the fastest cell eligible for them."""
    slower = sum(1 for t in inst.tasks if t.durations[schedule[t.id].cell] > min(t.durations.values()))
    return slower / len(inst.tasks)


def run_one(inst: Instance, python: str, time_limit: float, workers: int, hint: bool) -> dict[str, Any]:
    began = time.perf_counter()
    online = simulate(inst)
    sim_s = time.perf_counter() - began
    online_makespan = check_schedule(inst, online)
    cp = solve_cpsat(python, inst, time_limit, workers, online if hint else None)
    best: int | None = cp["makespan"]
    if cp["schedule"]:
        checked = check_schedule(inst, cp["schedule"])
        if checked != best:
            raise ScheduleError(f"{inst.name}: CP-SAT says makespan {best}, its schedule ends at {checked}")
    bound: int = cp["bound"]
    fastest = simulate(inst, fastest_idle_policy(inst))
    fastest_makespan = check_schedule(inst, fastest)
    critical_makespan = check_schedule(inst, simulate(inst, critical_path_first=True))
    if bound > online_makespan:
        raise ScheduleError(f"{inst.name}: CP-SAT bound {bound} above a feasible online makespan {online_makespan}")
    return {"instance": inst.name, "seed": inst.seed, "cells": len(inst.cells), "jobs": len(inst.jobs),
            "tasks": len(inst.tasks), "stations": len(inst.stations),
            "same_cell_as": sum(1 for t in inst.tasks if t.same_cell_as),
            "reserving": sum(1 for t in inst.tasks if t.reserve),
            "online_makespan": online_makespan, "sim_s": round(sim_s, 4),
            "cpsat_best": best, "cpsat_bound": bound, "cpsat_optimal": cp["optimal"],
            "cpsat_status": cp["status"], "cpsat_wall_s": cp["wall_s"], "ortools": cp.get("ortools", ""),
            "ratio_best": online_makespan / best if best else None,
            "ratio_bound": online_makespan / bound if bound else None,
            "fastest_idle_makespan": fastest_makespan,
            "ratio_fastest_idle": fastest_makespan / best if best else None,
            "critical_path_first_makespan": critical_makespan,
            "ratio_critical_path_first": critical_makespan / best if best else None,
            "online_work": work(online), "cpsat_work": work(cp["schedule"]) if cp["schedule"] else None,
            "online_on_slower_cell": on_slower_cell(inst, online),
            "cpsat_on_slower_cell": on_slower_cell(inst, cp["schedule"]) if cp["schedule"] else None,
            "online_schedule": {k: v._asdict() for k, v in online.items()},
            "cpsat_schedule": {k: v._asdict() for k, v in cp["schedule"].items()},
            "instance_data": instance_to_json(inst)}


def table(rows: list[dict[str, Any]]) -> str:
    head = ("instance", "cells", "jobs", "tasks", "online", "CP-SAT best", "bound", "optimal",
            "online/best", "online/bound", "fastest-idle/best", "cp-first/best", "CP-SAT s")
    lines = [head]
    for r in rows:
        lines.append((r["instance"], str(r["cells"]), str(r["jobs"]), str(r["tasks"]), str(r["online_makespan"]),
                      str(r["cpsat_best"]), str(r["cpsat_bound"]), "yes" if r["cpsat_optimal"] else "no",
                      f"{r['ratio_best']:.3f}" if r["ratio_best"] else "-",
                      f"{r['ratio_bound']:.3f}" if r["ratio_bound"] else "-",
                      f"{r['ratio_fastest_idle']:.3f}" if r["ratio_fastest_idle"] else "-",
                      f"{r['ratio_critical_path_first']:.3f}" if r["ratio_critical_path_first"] else "-",
                      f"{r['cpsat_wall_s']:.1f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
           for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def plot(path: str, rows: list[dict[str, Any]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not importable: no chart written to {path}", file=sys.stderr)
        return
    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [r["instance"] for r in rows]
    best = [r["ratio_best"] or 0.0 for r in rows]
    bound = [r["ratio_bound"] or 0.0 for r in rows]
    colors = ["tab:blue" if r["cpsat_optimal"] else "tab:orange" for r in rows]
    bars.bar(names, best, color=colors)
    bars.scatter(names, bound, color="black", marker="_", s=200, label="online / CP-SAT lower bound")
    bars.axhline(1.0, color="grey", linewidth=0.8)
    bars.set_ylabel("online makespan / CP-SAT best")
    bars.set_title("per instance (blue: proven optimal, orange: time limit)")
    bars.tick_params(axis="x", rotation=90)
    bars.legend(loc="upper left")
    scatter.scatter([r["tasks"] for r in rows], best, c=colors)
    scatter.axhline(1.0, color="grey", linewidth=0.8)
    scatter.set_xlabel("tasks in the instance")
    scatter.set_ylabel("online / CP-SAT best")
    scatter.set_title("ratio against size")
    fig.suptitle(f"Online: {LABEL}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"chart written to {path}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7, help="instance i uses seed S + i")
    parser.add_argument("--time-limit", type=float, default=10.0, help="CP-SAT seconds per instance")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT search workers")
    parser.add_argument("--no-hint", action="store_true", help="do not give CP-SAT the online schedule as a hint")
    parser.add_argument("--ortools-python", help="an interpreter with ortools (default: bench/.venv-ortools)")
    parser.add_argument("--json", help="write every figure, instance and schedule here")
    parser.add_argument("--png", help="write a chart of the ratios here (needs matplotlib)")
    args = parser.parse_args(argv)

    python = ortools_python(args.ortools_python)
    print(f"online = {LABEL}; offline = OR-Tools CP-SAT, {args.time_limit:g} s and {args.workers} workers "
          f"per instance", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    began = time.perf_counter()
    for i in range(args.instances):
        inst = generate(args.seed + i, name=f"i{i:02d}")
        row = run_one(inst, python, args.time_limit, args.workers, not args.no_hint)
        rows.append(row)
        print(f"[{i + 1}/{args.instances}] {inst.name} seed={inst.seed} cells={row['cells']} jobs={row['jobs']} "
              f"tasks={row['tasks']}: online {row['online_makespan']} s, CP-SAT {row['cpsat_best']} "
              f"(bound {row['cpsat_bound']}, {'optimal' if row['cpsat_optimal'] else row['cpsat_status']}, "
              f"{row['cpsat_wall_s']:.1f} s), online/best {row['ratio_best']:.3f}", file=sys.stderr, flush=True)
    total_s = time.perf_counter() - began

    ratios_best = [r["ratio_best"] for r in rows if r["ratio_best"]]
    ratios_bound = [r["ratio_bound"] for r in rows if r["ratio_bound"]]
    stats = {"online/best": summary(ratios_best), "online/bound": summary(ratios_bound),
             "fastest-idle/best": summary([r["ratio_fastest_idle"] for r in rows if r["ratio_fastest_idle"]]),
             "cp-first/best": summary([r["ratio_critical_path_first"] for r in rows
                                       if r["ratio_critical_path_first"]])}
    print(f"\nOnline: {LABEL}.\nOffline: OR-Tools CP-SAT ({rows[0]['ortools'] if rows else '?'}), "
          f"{args.time_limit:g} s, {args.workers} workers per instance; makespans in seconds.\n")
    print(table(rows))
    print()
    for label, s in stats.items():
        if s:
            print(f"{label:>17}: median {s['median']:.3f}  p90 {s['p90']:.3f}  worst {s['worst']:.3f}  "
                  f"best {s['best']:.3f}  mean {s['mean']:.3f}")
    optimal = sum(1 for r in rows if r["cpsat_optimal"])
    with_cp = [r for r in rows if r["cpsat_work"]]
    if with_cp:
        diagnostics = {
            "online_work/cpsat_work": summary([r["online_work"] / r["cpsat_work"] for r in with_cp]),
            "online_on_slower_cell": summary([r["online_on_slower_cell"] for r in with_cp]),
            "cpsat_on_slower_cell": summary([r["cpsat_on_slower_cell"] for r in with_cp])}
        stats |= diagnostics
        print(f"busy cell-seconds, online / CP-SAT: median {diagnostics['online_work/cpsat_work']['median']:.3f}; "
              f"tasks on a slower cell than their fastest eligible one: online median "
              f"{diagnostics['online_on_slower_cell']['median']:.0%}, CP-SAT median "
              f"{diagnostics['cpsat_on_slower_cell']['median']:.0%}")
    print("Diagnostics, not the product: fastest-idle = the policy taking the fastest idle capable cell instead "
          "of the first; cp-first = the real match() with READY tasks ordered by their job's longest remaining "
          "path instead of submission order.")
    print(f"CP-SAT proved {optimal}/{len(rows)} optimal; total {total_s:.0f} s wall")

    report = {"label_online": LABEL, "label_offline": "OR-Tools CP-SAT flexible job shop (bench/cpsat_solve.py)",
              "settings": {"instances": args.instances, "seed": args.seed, "time_limit_s": args.time_limit,
                           "workers": args.workers, "hint": not args.no_hint},
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "summary": stats, "proven_optimal": optimal, "total_wall_s": round(total_s, 1), "rows": rows}
    save_json(args.json, report)
    if args.png:
        plot(args.png, rows)


if __name__ == "__main__":
    main()
