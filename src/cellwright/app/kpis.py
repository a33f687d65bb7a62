"""KPIs of a batch of jobs: counts, success rate, cycle times, cell utilisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2


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
    width = max(len(name) for name, _ in rows)
    line = "+" + "-" * (width + 2) + "+" + "-" * 18 + "+"
    body = [f"| {name:<{width}} | {value:>16} |" for name, value in rows]
    return "\n".join([line, f"| {'KPI':<{width}} | {'value':>16} |", line, *body, line])
