"""An HTML report of a run: KPI table, cycle-time chart, PackML time split, the final
scene and, when given, the humanoid's KPIs, its balance plots, an animated GIF of the run
and snapshots of its key moments. Plain HTML with inline SVG; images are files beside it,
linked by paths relative to the report."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
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


def _href(target: str | Path, report_dir: Path) -> str:
    """`target` as a link from the report: absolute paths are made relative to its folder,
    relative ones are taken as relative to it already."""
    if Path(target).is_absolute():
        target = os.path.relpath(Path(target), report_dir.resolve())
    return html.escape(Path(target).as_posix(), quote=True)


def _value(value: Any) -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, float):
        return html.escape(f"{value:.4g}")
    if isinstance(value, (list, tuple)):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def _humanoid_section(kpis: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_value(v)}</td></tr>" for k, v in kpis.items())
    return f"<h2>Humanoid</h2>\n<table>{rows}</table>\n"


def _pictures(report_dir: Path, balance_png: str | Path | None, floor_track_png: str | Path | None,
              gif: str | Path | None, snapshots: Sequence[tuple[str | Path, str]]) -> str:
    parts = []
    if balance_png is not None or floor_track_png is not None:
        parts.append("<h2>Balance against simulation time</h2>")
        if balance_png is not None:
            parts.append(f'<img src="{_href(balance_png, report_dir)}" alt="stability margin with its floor, '
                         f'and CoM and ZMP against simulation time" width="720">')
        if floor_track_png is not None:
            parts.append(f'<img src="{_href(floor_track_png, report_dir)}" alt="CoM and ZMP track on the '
                         f'floor, seen from above" width="480">')
    if gif is not None:
        parts.append(f'<h2>The run, animated</h2>\n<p>Frames on simulation time, while something moved.</p>'
                     f'\n<img src="{_href(gif, report_dir)}" alt="animation of the run" width="640">')
    if snapshots:
        figures = "".join(
            f'<figure><a href="{_href(p, report_dir)}"><img src="{_href(p, report_dir)}" '
            f'alt="{html.escape(caption, quote=True)}" width="200"></a>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>" for p, caption in snapshots)
        parts.append(f'<h2>Key moments</h2>\n<div class="strip">{figures}</div>')
    return "\n".join(parts)


def write_report(path: Path, summary: dict[str, Any], kpi_table: str, scene_png: str, *,
                 humanoid: Mapping[str, Any] | None = None, balance_png: str | Path | None = None,
                 floor_track_png: str | Path | None = None, gif: str | Path | None = None,
                 snapshots: Sequence[tuple[str | Path, str]] = ()) -> None:
    """Write the report.

    Images are linked, not embedded: a relative path is taken as relative to the report,
    an absolute one is made relative to the report's folder.

    Args:
        path: the HTML file to write.
        summary: the run's summary (jobs, cells).
        kpi_table: the KPI table as text.
        scene_png: the final scene.
        humanoid: KPIs of the humanoid cell(s), name (with its unit) -> value, shown as
            given in a table (e.g. distance walked, min margin, protective stops, min
            separation, walking tier).
        balance_png: `plots.plot_balance`'s picture.
        floor_track_png: `plots.plot_floor_track`'s picture.
        gif: the run's animation (a recording's `run.gif`).
        snapshots: (image, caption) of key moments, shown as a strip of thumbnails.
    """
    cells = "".join(
        f"<h3>Cell {html.escape(c['id'])}: time by PackML state (cell clock)</h3>"
        + _state_split(c["packml_state_time_s"]) for c in summary["cells"])
    approximations = "".join(f"<li>{html.escape(c['id'])}: {html.escape(a)}</li>"
                             for c in summary["cells"] for a in c.get("approximations", []))
    humanoid_html = _humanoid_section(humanoid) if humanoid else ""
    pictures = _pictures(path.parent, balance_png, floor_track_png, gif, snapshots)
    path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cellwright run report</title>
<style>body{{font-family:sans-serif;max-width:720px;margin:2em auto}}pre{{background:#f5f5f5;padding:1em}}
table{{border-collapse:collapse}}th,td{{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}}
.strip{{display:flex;flex-wrap:wrap;gap:.6em}}figure{{margin:0;width:200px;font-size:12px}}</style>
</head><body>
<h1>Cellwright run report</h1>
<pre>{html.escape(kpi_table)}</pre>
{humanoid_html}<h2>Cycle time per job (simulation seconds)</h2>
{_cycle_chart(summary["jobs"])}
<h2>Where the time went</h2>
{cells}
<h2>What this run approximates</h2>
<ul>{approximations or "<li>nothing declared</li>"}</ul>
{pictures}
<h2>Final scene</h2>
<img src="{_href(scene_png, path.parent)}" alt="final scene rendered by PyBullet" width="640">
</body></html>
""")
