"""The sim-to-real gate's rules and its reports: a pure comparison of one workflow's run on a
simulated cell and on a real one, step by step, and the terminal table, JSON and HTML of it.

Nothing here starts a process or opens a socket (`promote.py` does): the rules are tested on
plain records.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Position = tuple[float, float, float]
Quaternion = tuple[float, float, float, float]
RAN = ("SUCCEEDED", "FAILED", "CANCELLED")
"""Task states of a step that may have started on its cell (a cancelled one only if it has a
duration): then it has a duration and an end pose."""


@dataclass(frozen=True)
class Tolerances:
    """How far the real run may differ from the simulated one before a step is flagged.

    Attributes:
        duration_rel: |real - sim| / sim of a step's duration on each cell's own clock.
        duration_floor_s: differences up to this many seconds are never flagged (a step of
            nearly no duration in simulation takes a network round trip on hardware).
        position_mm: distance between the tool positions where the step ended.
    """

    duration_rel: float = 0.25
    duration_floor_s: float = 0.1
    position_mm: float = 5.0

    def check(self) -> None:
        """Raises ValueError naming the tolerance that is not a finite number >= 0."""
        for name, value in asdict(self).items():
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"tolerance {name} = {value!r} must be a finite number >= 0")


@dataclass(frozen=True)
class ToolPose:
    """Where a robot's default tool frame was when a step ended (world frame, m)."""

    position: Position
    orientation: Quaternion


@dataclass(frozen=True)
class StepRun:
    """One task of the job on one cell.

    Attributes:
        step: the task id without the job id (`move_home`, `pick[2]`).
        state: the task's final state (SUCCEEDED, FAILED, SKIPPED, CANCELLED, ...).
        error: `reason: message` of a failure, else "".
        duration_s: the last attempt's duration on the cell's own clock.
        tools: robot name -> tool pose when the step ended (from the cell's state stream).
    """

    step: str
    state: str
    error: str = ""
    duration_s: float = 0.0
    tools: Mapping[str, ToolPose] = field(default_factory=dict)


def ran(step: StepRun) -> bool:
    """True if the step started on its cell."""
    return step.state in RAN and (step.state != "CANCELLED" or step.duration_s > 0)


@dataclass(frozen=True)
class SideRun:
    """The job on one cell.

    Attributes:
        role: "sim" or "real".
        cell_id, config: the cell and its config file.
        clock: what the cell's durations are measured in (its clock mode, in words).
        robots: `name (registry id)` of each robot.
        job_id, job_state, job_error: the job and how it ended.
        steps: its tasks in the job's order.
        approximations: what the cell says it approximates.
    """

    role: str
    cell_id: str
    config: str
    clock: str
    robots: tuple[str, ...]
    job_id: str
    job_state: str
    job_error: str
    steps: tuple[StepRun, ...]
    approximations: tuple[str, ...] = ()


def clock_words(mode: str) -> str:
    """A cell clock mode as the unit its durations are in."""
    return {"lockstep": "simulation seconds (lockstep clock)",
            "fast": "simulation seconds (fast clock: as fast as the CPU allows while busy)",
            "realtime": "wall-clock seconds (realtime clock)"}.get(mode, f"seconds of a {mode} clock")


def _distance_mm(a: Position, b: Position) -> float:
    return 1000.0 * math.dist(a, b)


def _angle_deg(a: Quaternion, b: Quaternion) -> float:
    dot = abs(sum(x * y for x, y in zip(a, b, strict=True)))
    return math.degrees(2.0 * math.acos(min(1.0, dot)))


def compare(sim: SideRun, real: SideRun, tolerances: Tolerances) -> dict[str, Any]:
    """Step by step: outcome, duration and final tool pose of `real` against `sim`.

    A step is flagged when its outcome differs, when its durations differ by more than
    `duration_rel` of the simulated one and more than `duration_floor_s`, or when a tool
    ended more than `position_mm` away (or its pose was not recorded where the step ran).
    The gate passes when no step is flagged and both jobs succeeded. Orientation
    differences are reported, not judged.

    Returns:
        The report as plain JSON data: verdict, tolerances, both runs, and per step both
        sides, the differences and the flags.
    """
    by_step = {s.step: s for s in real.steps}
    order = [s.step for s in sim.steps] + [s.step for s in real.steps if s.step not in
                                           {t.step for t in sim.steps}]
    sims = {s.step: s for s in sim.steps}
    rows = [_compare_step(sims.get(step), by_step.get(step), step, tolerances) for step in order]
    job_flags = [f"{side.role} job {side.job_state}" + (f": {side.job_error}" if side.job_error else "")
                 for side in (sim, real) if side.job_state != "SUCCEEDED"]
    flagged = [r["step"] for r in rows if r["flags"]]
    return {
        "verdict": "pass" if not flagged and not job_flags else "fail",
        "flagged_steps": flagged,
        "job_flags": job_flags,
        "tolerances": asdict(tolerances),
        "durations": "each step's duration on its own cell's clock: " + "; ".join(
            f"{side.role} {side.cell_id}: {side.clock}" for side in (sim, real)),
        "sim": _side_json(sim),
        "real": _side_json(real),
        "steps": rows,
    }


def _compare_step(sim: StepRun | None, real: StepRun | None, step: str, tol: Tolerances) -> dict[str, Any]:
    flags: list[str] = []
    row: dict[str, Any] = {"step": step, "sim": _step_json(sim), "real": _step_json(real),
                           "duration_delta_s": None, "duration_ratio": None,
                           "position_delta_mm": {}, "orientation_delta_deg": {}, "flags": flags}
    sim_state = sim.state if sim else "absent"
    real_state = real.state if real else "absent"
    if sim_state != real_state:
        why = f" ({real.error})" if real and real.error else (f" (sim: {sim.error})" if sim and sim.error else "")
        flags.append(f"outcome: sim {sim_state}, real {real_state}{why}")
    if sim is None or real is None or not ran(sim) or not ran(real):
        return row
    delta = real.duration_s - sim.duration_s
    row["duration_delta_s"] = round(delta, 4)
    if sim.duration_s > 0:
        row["duration_ratio"] = round(real.duration_s / sim.duration_s, 4)
    if abs(delta) > tol.duration_floor_s and abs(delta) > tol.duration_rel * sim.duration_s:
        ratio = f"x{real.duration_s / sim.duration_s:.2f}, " if sim.duration_s > 0 else ""
        flags.append(f"duration: real {real.duration_s:.2f} s vs sim {sim.duration_s:.2f} s "
                     f"({ratio}beyond ±{tol.duration_rel:.0%} and {tol.duration_floor_s:g} s)")
    for robot in sorted({*sim.tools, *real.tools}):
        a, b = sim.tools.get(robot), real.tools.get(robot)
        if a is None or b is None:
            flags.append(f"pose: {robot}'s tool pose was not recorded on {'sim' if a is None else 'real'}")
            continue
        mm = _distance_mm(a.position, b.position)
        row["position_delta_mm"][robot] = round(mm, 2)
        row["orientation_delta_deg"][robot] = round(_angle_deg(a.orientation, b.orientation), 2)
        if mm > tol.position_mm:
            flags.append(f"pose: {robot}'s tool ended {mm:.1f} mm apart (> {tol.position_mm:g} mm)")
    if not sim.tools and not real.tools:
        flags.append("pose: no tool pose recorded on either cell")
    return row


def _step_json(step: StepRun | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return {"state": step.state, "error": step.error, "duration_s": round(step.duration_s, 4),
            "tools": {name: {"position_m": [round(v, 5) for v in pose.position],
                             "orientation_xyzw": [round(v, 5) for v in pose.orientation]}
                      for name, pose in step.tools.items()}}


def _side_json(side: SideRun) -> dict[str, Any]:
    return {"cell": side.cell_id, "config": side.config, "clock": side.clock, "robots": list(side.robots),
            "job": side.job_id, "state": side.job_state, "error": side.job_error,
            "approximations": list(side.approximations)}


# --- reports ------------------------------------------------------------------------------
COLUMNS = ("step", "sim", "real", "sim s", "real s", "ratio", "pose mm", "flags")


def table_rows(report: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row of text per step, in COLUMNS order."""
    rows: list[tuple[str, ...]] = []
    for row in report["steps"]:
        sim, real = row["sim"] or {}, row["real"] or {}
        ratio = row["duration_ratio"]
        poses = row["position_delta_mm"]
        rows.append((row["step"], sim.get("state", "-"), real.get("state", "-"),
                     f"{sim['duration_s']:.2f}" if sim else "-", f"{real['duration_s']:.2f}" if real else "-",
                     f"x{ratio:.2f}" if ratio is not None else "-",
                     " ".join(f"{v:.1f}" for v in poses.values()) or "-",
                     "; ".join(row["flags"]) or "ok"))
    return rows


def format_table(report: Mapping[str, Any]) -> str:
    """The per-step comparison as a fixed-width table, then the verdict."""
    rows = [COLUMNS, *table_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for i, row in enumerate(rows):
        cells = [c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*cells, row[-1]]))
        if i == 0:
            lines.append("  ".join("-" * w for w in [*widths, len(COLUMNS[-1])]))
    verdict = report["verdict"].upper()
    lines.append("")
    lines.append(f"durations: {report['durations']}")
    for flag in report["job_flags"]:
        lines.append(f"job: {flag}")
    lines.append(f"verdict: {verdict}" + (f" ({len(report['flagged_steps'])} of {len(report['steps'])} "
                                          f"steps flagged)" if report["flagged_steps"] else ""))
    return "\n".join(lines)


def _duration_chart(report: Mapping[str, Any], width: int = 640) -> str:
    """Paired horizontal bars per step: simulated and real duration, flagged steps in red."""
    steps = [r for r in report["steps"] if r["sim"] or r["real"]]
    longest = max((s["duration_s"] for r in steps for s in (r["sim"], r["real"]) if s), default=0.0) or 1.0
    label_w, bar_h, row_h = 160, 10, 28
    scale = (width - label_w - 70) / longest
    parts = [f'<svg width="{width}" height="{row_h * len(steps) + 24}" font-family="sans-serif" '
             f'font-size="12" role="img" aria-label="step durations, sim and real">']
    for i, row in enumerate(steps):
        y = 4 + i * row_h
        parts.append(f'<text x="0" y="{y + 15}">{html.escape(row["step"][:22])}</text>')
        for j, (side, colour) in enumerate((("sim", "#1565c0"), ("real", "#c62828" if row["flags"] else "#2e7d32"))):
            seconds = row[side]["duration_s"] if row[side] else 0.0
            w = seconds * scale
            parts.append(f'<rect x="{label_w}" y="{y + j * (bar_h + 1)}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{colour}"/><text x="{label_w + w + 4:.1f}" y="{y + j * (bar_h + 1) + 9}" '
                         f'font-size="10">{side} {seconds:.2f} s</text>')
    parts.append(f'<text x="0" y="{row_h * len(steps) + 18}" font-size="11">blue: sim; green: real '
                 f'within tolerance; red: real, step flagged</text></svg>')
    return "".join(parts)


def render_html(report: Mapping[str, Any], notes: Sequence[str] = ()) -> str:
    """A self-contained HTML page: verdict, both runs, the per-step table with its flags, a
    duration chart and what the runs approximate."""
    e = html.escape
    passed = report["verdict"] == "pass"
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body = []
    for row, cells in zip(report["steps"], table_rows(report), strict=True):
        style = ' class="flag"' if row["flags"] else ""
        body.append(f"<tr{style}>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    sides = []
    for role in ("sim", "real"):
        side = report[role]
        sides.append(f"<tr><th>{role}</th><td>{e(side['cell'])}</td><td>{e(', '.join(side['robots']))}</td>"
                     f"<td>{e(side['clock'])}</td><td>{e(side['job'])}</td><td>{e(side['state'])}"
                     f"{(': ' + e(side['error'])) if side['error'] else ''}</td><td>{e(side['config'])}</td></tr>")
    tol = report["tolerances"]
    approximations = [f"{role}: {a}" for role in ("sim", "real") for a in report[role]["approximations"]]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>cellwright promote: {e(report['verdict'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
tr.flag td{{background:#ffebee}}.verdict{{font-size:1.6em;color:{'#2e7d32' if passed else '#c62828'}}}</style>
</head><body>
<h1>Sim-to-real gate</h1>
<p class="verdict">{'PASS' if passed else 'FAIL'}</p>
<p>Workflow <code>{e(str(report.get('workflow', '')))}</code>, params <code>{e(str(report.get('params', {})))}</code>.
Tolerances: duration ±{tol['duration_rel']:.0%} of the simulated step (differences up to
{tol['duration_floor_s']:g} s ignored), tool position {tol['position_mm']:g} mm.</p>
<p>{e(report['durations'])}. Tool poses are where each robot's default tool frame was when the
cell's state stream first showed the step ended.</p>
{''.join(f'<p><b>{e(n)}</b></p>' for n in notes)}
{''.join(f'<p class="verdict" style="font-size:1em">job: {e(f)}</p>' for f in report['job_flags'])}
<table><tr><th></th><th>cell</th><th>robots</th><th>durations in</th><th>job</th><th>outcome</th><th>config</th></tr>
{''.join(sides)}</table>
<h2>Steps</h2>
<table><tr>{head}</tr>{''.join(body)}</table>
{_duration_chart(report)}
<h2>What the runs approximate</h2>
<ul>{''.join(f'<li>{e(a)}</li>' for a in approximations) or '<li>nothing reported</li>'}</ul>
</body></html>
"""
