"""KPIs of a batch of jobs (counts, success rate, cycle times, cell utilisation) and of a
line's humanoid (distance walked, stability margin, walking tier, protective stops)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cellwright.app.balance_log import BalanceSummary
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2, state_pb2


def job_kpis(jobs: Sequence[job_pb2.Job], cells: Sequence[cell_pb.Cell]) -> dict[str, Any]:
    """Summarise finished jobs; cycle times and utilisation are on the cells' clocks
    (simulation seconds for simulated cells)."""
    succeeded = [j for j in jobs if j.state == job_pb2.JOB_STATE_SUCCEEDED]
    cycles = np.array([j.cycle_time_s for j in succeeded], dtype=np.float64)
    clock = sum(c.stats.clock_s for c in cells)
    busy = sum(c.stats.busy_s for c in cells)
    return {
        "jobs": len(jobs),
        "succeeded": len(succeeded),
        "failed": sum(j.state == job_pb2.JOB_STATE_FAILED for j in jobs),
        "cancelled": sum(j.state == job_pb2.JOB_STATE_CANCELLED for j in jobs),
        "success_rate": len(succeeded) / len(jobs) if jobs else 0.0,
        "cycle_time_mean_s": float(cycles.mean()) if cycles.size else 0.0,
        "cycle_time_p95_s": float(np.percentile(cycles, 95)) if cycles.size else 0.0,
        "tasks": sum(len(j.tasks) for j in jobs),
        "task_attempts": sum(t.attempt for j in jobs for t in j.tasks),
        "cell_clock_s": clock,
        "cell_busy_s": busy,
        "cell_utilisation": busy / clock if clock > 0 else 0.0,
    }


def humanoid_kpis(results: Sequence[Mapping[str, Any]], balance: BalanceSummary,
                  safety: Mapping[str, state_pb2.Safety]) -> dict[str, Any]:
    """The humanoid's figures of a run, name (with its unit) -> value (None: not measured).

    Args:
        results: the humanoid's task results (`distance_m`, `min_margin_m`, `walking_tier`:
            the robot's own record, every control tick).
        balance: its balance log's summary (helper force, fall, margin floor, and the
            distance the robot's feet have walked since its cell started: counted also
            when a task failed; without samples, the results' distances are summed).
        safety: each cell's speed and separation monitor, by cell id; protective stops
            are counted per robot (its components share one watch), over every cell.
    """
    margins = [float(r["min_margin_m"]) for r in results if "min_margin_m" in r]
    tiers = sorted({str(r["walking_tier"]) for r in results if "walking_tier" in r} | set(balance.tiers))
    stops: dict[tuple[str, str], tuple[int, float]] = {}
    separation = math.inf
    for cell_id, record in safety.items():
        for entry in record.components:
            stops[(cell_id, entry.component.partition("/")[0])] = (entry.protective_stops,
                                                                   entry.protective_stop_s)
            separation = min(separation, entry.min_separation_m)
    return {
        "distance walked (m)": round(balance.distance_walked_m if balance.samples else
                                     sum(float(r.get("distance_m", 0.0)) for r in results), 2),
        "min stability margin (mm)": round(min(margins) * 1000, 1) if margins else None,
        "margin floor (mm)": round(balance.margin_floor_m * 1000, 1) if balance.margin_floor_m is not None else None,
        "walking tier": " + ".join(tiers) or None,
        "helper force peak (N)": round(balance.helper_force_peak_n, 1),
        "fell": balance.fallen,
        "protective stops, all robots": sum(n for n, _ in stops.values()),
        "protective stop time (s)": round(sum(t for _, t in stops.values()), 2),
        "min separation to a person (m)": round(separation, 2) if math.isfinite(separation) else None,
    }


def format_rows(rows: Sequence[tuple[str, str]], heading: tuple[str, str] = ("KPI", "value")) -> str:
    """Rows of (name, value) as an aligned two-column table for a terminal."""
    width = max(len(name) for name, _ in [heading, *rows])
    value_width = max(16, *(len(value) for _, value in rows))
    line = "+" + "-" * (width + 2) + "+" + "-" * (value_width + 2) + "+"
    body = [f"| {name:<{width}} | {value:>{value_width}} |" for name, value in rows]
    return "\n".join([line, f"| {heading[0]:<{width}} | {heading[1]:>{value_width}} |", line, *body, line])


def format_table(kpis: dict[str, Any]) -> str:
    """The KPIs as an aligned two-column table for a terminal."""
    rows = [
        ("jobs", f"{kpis['jobs']}"),
        ("succeeded / failed / cancelled",
         f"{kpis['succeeded']} / {kpis['failed']} / {kpis['cancelled']}"),
        ("success rate", f"{kpis['success_rate']:.0%}"),
        ("tasks (attempts)", f"{kpis['tasks']} ({kpis['task_attempts']})"),
        ("cycle time mean (sim s)", f"{kpis['cycle_time_mean_s']:.2f}"),
        ("cycle time p95 (sim s)", f"{kpis['cycle_time_p95_s']:.2f}"),
        ("cell busy / clock (sim s)", f"{kpis['cell_busy_s']:.1f} / {kpis['cell_clock_s']:.1f}"),
        ("cell utilisation", f"{kpis['cell_utilisation']:.0%}"),
    ]
    return format_rows(rows)
