"""A self-contained HTML report of a run: KPI table, cycle-time chart, PackML time split,
and the final scene. Plain HTML with inline SVG: no plotting dependency, opens anywhere."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

BAR_COLOURS = {"SUCCEEDED": "#2e7d32", "FAILED": "#c62828", "CANCELLED": "#9e9e9e"}
STATE_COLOURS = ["#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#558b2f", "#4e342e"]


def _cycle_chart(jobs: list[dict[str, Any]], width: int = 700) -> str:
    """Horizontal bars: one per job, length = cycle time on the cell clock."""
    longest = max((j["cycle_time_s"] for j in jobs), default=0.0) or 1.0
    row, label_w = 22, 290
    scale = (width - label_w - 60) / longest
    parts = [f'<svg width="{width}" height="{row * len(jobs) + 10}" font-family="sans-serif" '
             'font-size="12" role="img" aria-label="cycle time per job">']
    for i, job in enumerate(jobs):
        y = 5 + i * row
        label = html.escape(f"{job['workflow']} {' '.join(str(v) for _, v in sorted(job['params'].items()))}")
        bar = job["cycle_time_s"] * scale
        colour = BAR_COLOURS.get(job["state"], "#757575")
        parts.append(f'<text x="0" y="{y + 14}">{label[:44]}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{bar:.1f}" height="{row - 6}" fill="{colour}"/>'
                     f'<text x="{label_w + bar + 4:.1f}" y="{y + 14}">{job["cycle_time_s"]:.2f} s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _state_split(times: dict[str, float], width: int = 640) -> str:
    """One stacked bar: how the cell's clock divided among PackML states."""
    total = sum(times.values()) or 1.0
    x, bars, legend = 0.0, [], []
    for i, (state, seconds) in enumerate(sorted(times.items(), key=lambda kv: -kv[1])):
        w = seconds / total * width
        colour = STATE_COLOURS[i % len(STATE_COLOURS)]
        bars.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="24" fill="{colour}"/>')
        legend.append(f'<span style="color:{colour}">&#9632;</span> {html.escape(state)} '
                      f'{seconds:.1f} s ({seconds / total:.0%})')
        x += w
    return (f'<svg width="{width}" height="24" role="img" aria-label="PackML time split">'
            + "".join(bars) + "</svg><p>" + " &nbsp; ".join(legend) + "</p>")


def write_report(path: Path, summary: dict[str, Any], kpi_table: str, scene_png: str) -> None:
    """Write the report; `scene_png` is the image's path relative to the report."""
    cells = "".join(
        f"<h3>Cell {html.escape(c['id'])}: time by PackML state (cell clock)</h3>"
        + _state_split(c["packml_state_time_s"]) for c in summary["cells"])
    approximations = "".join(f"<li>{html.escape(c['id'])}: {html.escape(a)}</li>"
                             for c in summary["cells"] for a in c.get("approximations", []))
    path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cellwright run report</title>
<style>body{{font-family:sans-serif;max-width:720px;margin:2em auto}}pre{{background:#f5f5f5;padding:1em}}</style>
</head><body>
<h1>Cellwright run report</h1>
<pre>{html.escape(kpi_table)}</pre>
<h2>Cycle time per job (simulation seconds)</h2>
{_cycle_chart(summary["jobs"])}
<h2>Where the time went</h2>
{cells}
<h2>What this run approximates</h2>
<ul>{approximations or "<li>nothing declared</li>"}</ul>
<h2>Final scene</h2>
<img src="{html.escape(scene_png)}" alt="final scene rendered by PyBullet" width="640">
</body></html>
""")
