"""The offline bound for `bench/schedule_quality.py`: one instance as a flexible job shop,
solved with OR-Tools CP-SAT.

Runs in its own venv (`bench/.venv-ortools`: OR-Tools pins protobuf below what cellwright
needs), so it imports only ortools and the standard library. Reads one instance as JSON on
stdin (the format `schedule_quality.instance_to_json` writes, plus `time_limit_s`,
`workers` and an optional `hint` schedule), prints one JSON object on stdout:

    {"status": "OPTIMAL" | "FEASIBLE" | ..., "optimal": bool, "makespan": int | null,
     "bound": int, "wall_s": float, "schedule": {task id: {"cell", "start", "end"}}}

Model: a task is one optional fixed-size interval per eligible cell (a boolean chooses the
cell, exactly one per task, sharing the task's start and end); NoOverlap per cell; NoOverlap
per station over the intervals of the tasks reserving it (a reservation is held for the
whole task); precedences end(a) <= start(b) for every `needs`; `same_cell_as` as equal
cell choices, x[a, c] == x[b, c] for every cell c; minimise the makespan.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from ortools.sat.python import cp_model  # type: ignore[import-not-found, unused-ignore]


def solve(inst: dict[str, Any]) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = inst["tasks"]
    cells = [c["id"] for c in inst["cells"]]
    horizon = sum(max(t["durations"].values()) for t in tasks)
    model = cp_model.CpModel()
    start: dict[str, Any] = {}
    end: dict[str, Any] = {}
    choice: dict[tuple[str, str], Any] = {}
    on_cell: dict[str, list[Any]] = {c: [] for c in cells}
    on_station: dict[str, list[Any]] = {s: [] for s in inst["stations"]}
    for t in tasks:
        tid = t["id"]
        start[tid] = model.new_int_var(0, horizon, f"start[{tid}]")
        end[tid] = model.new_int_var(0, horizon, f"end[{tid}]")
        alternatives = []
        for cell, duration in t["durations"].items():
            x = model.new_bool_var(f"x[{tid},{cell}]")
            interval = model.new_optional_fixed_size_interval_var(start[tid], duration, x, f"on[{tid},{cell}]")
            model.add(end[tid] == start[tid] + duration).only_enforce_if(x)
            choice[tid, cell] = x
            alternatives.append(x)
            on_cell[cell].append(interval)
            for station in t["reserve"]:
                on_station[station].append(interval)
        model.add_exactly_one(alternatives)
    for t in tasks:
        for need in t["needs"]:
            model.add(start[t["id"]] >= end[need])
        if t["same_cell_as"]:
            for cell in cells:
                a, b = choice.get((t["same_cell_as"], cell)), choice.get((t["id"], cell))
                if a is not None and b is not None:
                    model.add(a == b)
                elif a is not None:
                    model.add(a == 0)
                elif b is not None:
                    model.add(b == 0)
    for intervals in (*on_cell.values(), *on_station.values()):
        if len(intervals) > 1:
            model.add_no_overlap(intervals)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, list(end.values()))
    model.minimize(makespan)
    durations = {t["id"]: t["durations"] for t in tasks}
    for tid, placed in (inst.get("hint") or {}).items():  # a known schedule to start from
        model.add_hint(start[tid], placed["start"])
        model.add_hint(end[tid], placed["end"])
        for cell in durations[tid]:
            model.add_hint(choice[tid, cell], cell == placed["cell"])

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(inst.get("time_limit_s", 10.0))
    solver.parameters.num_workers = int(inst.get("workers", 2))
    solver.parameters.random_seed = int(inst.get("seed", 0)) % (2**31)
    began = time.perf_counter()
    status = solver.solve(model)
    wall = time.perf_counter() - began
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    schedule: dict[str, dict[str, Any]] = {}
    if found:
        for t in tasks:
            tid = t["id"]
            cell = next(c for c in t["durations"] if solver.boolean_value(choice[tid, c]))
            schedule[tid] = {"cell": cell, "start": solver.value(start[tid]), "end": solver.value(end[tid])}
    return {"status": solver.status_name(status), "optimal": status == cp_model.OPTIMAL,
            "makespan": int(solver.objective_value) if found else None,
            "bound": round(solver.best_objective_bound), "wall_s": round(wall, 3),
            "ortools": _version(), "schedule": schedule}


def _version() -> str:
    import ortools  # type: ignore[import-not-found, unused-ignore]

    return str(ortools.__version__)


def main() -> None:
    json.dump(solve(json.load(sys.stdin)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
