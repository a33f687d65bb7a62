"""Plots of a legged robot's balance (matplotlib's Agg canvas: no pyplot, no global state,
no display).

    plot_balance       margin with its floor and the phases shaded; CoM and ZMP x and y,
                       against simulation time
    plot_floor_track   top view of the CoM and ZMP tracks on the floor, with support polygons
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon

from cellwright.app.balance_log import BalanceSample

__all__ = ["PHASE_COLOURS", "plot_balance", "plot_floor_track"]

PHASE_COLOURS = {"standing": "#e8f5e9", "walking": "#e3f2fd", "stopping": "#fff3e0", "fallen": "#ffcdd2"}
"""Background shading per phase; other phases are grey."""
COM, ZMP, FLOOR = "#1565c0", "#ef6c00", "#c62828"
POLYGONS_SHOWN = 12  # support polygons drawn on the floor track, evenly spread in time


def _one_robot(samples: Sequence[BalanceSample], robot: str | None) -> tuple[str, list[BalanceSample]]:
    robots = sorted({s.robot for s in samples})
    if not samples:
        raise ValueError("no balance samples to plot")
    if robot is None:
        if len(robots) > 1:
            raise ValueError(f"samples of several robots {robots}: say which one to plot")
        robot = robots[0]
    chosen = sorted((s for s in samples if s.robot == robot), key=lambda s: s.t_s)
    if not chosen:
        raise ValueError(f"no samples of robot {robot!r}; robots: {robots}")
    return robot, chosen


def _tiers(samples: Sequence[BalanceSample]) -> str:
    tiers = sorted({s.tier for s in samples if s.tier})
    return " + ".join(tiers) if tiers else "not reported"


def _phase_spans(samples: Sequence[BalanceSample]) -> list[tuple[float, float, str]]:
    """(start s, end s, phase) runs; each sample stands until the next one."""
    spans: list[tuple[float, float, str]] = []
    for this, after in zip(samples, [*samples[1:], None], strict=True):
        end = after.t_s if after is not None else this.t_s
        if spans and spans[-1][2] == this.phase:
            spans[-1] = (spans[-1][0], end, this.phase)
        else:
            spans.append((this.t_s, end, this.phase))
    return spans


def plot_balance(samples: Sequence[BalanceSample], path_png: str | Path, *, robot: str | None = None,
                 title: str | None = None) -> Path:
    """Write a PNG of the balance against simulation time: the stability margin (mm) with
    its floor and the phases shaded, then CoM and ZMP x and y (world, m). The title names
    the walking tier(s) and, if any, the helper force's peak.

    Args:
        samples: from `BalanceLog.samples()`.
        path_png: where to write.
        robot: which robot, if the samples have several.
        title: the first line of the title (default: the robot's name).

    Raises:
        ValueError: no samples (of that robot), or several robots and none chosen.
    """
    robot, run = _one_robot(samples, robot)
    t = [s.t_s for s in run]
    fig = Figure(figsize=(9, 7.5))
    FigureCanvasAgg(fig)
    ax_margin, ax_x, ax_y = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1.3, 1, 1]})
    for start, end, phase in _phase_spans(run):
        for ax in (ax_margin, ax_x, ax_y):
            ax.axvspan(start, end, color=PHASE_COLOURS.get(phase, "#eeeeee"), linewidth=0)
    margin_mm = [s.margin_m * 1000 if math.isfinite(s.margin_m) else math.nan for s in run]
    ax_margin.plot(t, margin_mm, color="#212121", linewidth=1.2, label="margin")
    ax_margin.step(t, [s.margin_floor_m * 1000 for s in run], where="post", color=FLOOR,
                   linestyle="--", linewidth=1.2, label="floor (below: unstable)")
    ax_margin.axhline(0.0, color="#9e9e9e", linewidth=0.6)
    footless = [s.t_s for s in run if not math.isfinite(s.margin_m)]
    if footless:
        ax_margin.plot(footless, [0.0] * len(footless), "x", color=FLOOR, label="no foot on the floor")
    ax_margin.set_ylabel("stability margin (mm)\nZMP (static: CoM) in support")
    phases = [p for p in PHASE_COLOURS if any(s.phase == p for s in run)]
    others = sorted({s.phase for s in run} - set(PHASE_COLOURS))
    handles: list[Any] = list(ax_margin.get_legend_handles_labels()[0])
    handles += [Patch(color=PHASE_COLOURS[p], label=p) for p in phases]
    handles += [Patch(color="#eeeeee", label=p or "(no phase)") for p in others]
    ax_margin.legend(handles=handles, loc="best", fontsize=8, ncol=2, framealpha=0.9)

    for ax, axis, name in ((ax_x, 0, "x"), (ax_y, 1, "y")):
        ax.plot(t, [s.com_m[axis] for s in run], color=COM, linewidth=1.2, label=f"CoM {name}")
        ax.plot(t, [s.zmp_m[axis] for s in run], color=ZMP, linewidth=1.0, label=f"ZMP {name}")
        ax.set_ylabel(f"{name}, world (m)")
        ax.legend(loc="upper right", fontsize=8)
    ax_y.set_xlabel("simulation time (s)")
    for ax in (ax_margin, ax_x, ax_y):
        ax.grid(True, linewidth=0.3)
        ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1.0)
    helper = max(s.helper_force_n for s in run)
    detail = f"walking tier: {_tiers(run)}"
    detail += f"; helper force peak {helper:.0f} N" if helper > 0 else "; no helper force"
    fig.suptitle(f"{title or f'Balance of {robot}'}\n{detail}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path_png, dpi=100)
    return Path(path_png)


def plot_floor_track(samples: Sequence[BalanceSample], path_png: str | Path, *, robot: str | None = None,
                     title: str | None = None) -> Path:
    """Write a PNG of the floor seen from above (world x, y in m, equal scales): the CoM's
    projection and the ZMP along the run, with some support polygons.

    Raises:
        ValueError: as `plot_balance`.
    """
    robot, run = _one_robot(samples, robot)
    fig = Figure(figsize=(7, 7))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    with_polygon = [s for s in run if len(s.support_polygon) >= 2]
    step = max(1, len(with_polygon) // POLYGONS_SHOWN)
    for s in with_polygon[::step]:
        ax.add_patch(Polygon(s.support_polygon, closed=True, fill=False, edgecolor="#9e9e9e",
                             linewidth=0.7))
    ax.plot([s.com_m[0] for s in run], [s.com_m[1] for s in run], color=COM, linewidth=1.4,
            label="CoM projection")
    ax.plot([s.zmp_m[0] for s in run], [s.zmp_m[1] for s in run], color=ZMP, linewidth=0.8,
            alpha=0.8, label="ZMP")
    ax.plot(run[0].com_m[0], run[0].com_m[1], "o", color=COM, label=f"start, t = {run[0].t_s:.1f} s")
    ax.plot(run[-1].com_m[0], run[-1].com_m[1], "s", color=COM, label=f"end, t = {run[-1].t_s:.1f} s")
    if with_polygon:
        ax.plot([], [], color="#9e9e9e", linewidth=0.7, label="support polygon (some)")
    ax.set_xlabel("x, world (m)")
    ax.set_ylabel("y, world (m)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, linewidth=0.3)
    ax.legend(loc="best", fontsize=8)
    walked = run[-1].distance_walked_m
    ax.set_title(f"{title or f'Floor track of {robot}'}\nwalking tier: {_tiers(run)}; "
                 f"walked {walked:.2f} m", fontsize=11)
    fig.tight_layout()
    fig.savefig(path_png, dpi=100)
    return Path(path_png)
