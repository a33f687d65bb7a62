"""Balance plots from synthetic samples: real PNG files with something drawn on them."""

from __future__ import annotations

import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from cellwright.app.balance_log import BalanceSample
from cellwright.app.plots import plot_balance, plot_floor_track

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def walk(robot: str = "g1", tier: str = "dynamic", seconds: float = 6.0, hz: float = 50.0) -> list[BalanceSample]:
    """Stand 1 s, walk along x at 0.3 m/s with the ZMP swaying from foot to foot, stop."""
    samples = []
    for i in range(int(seconds * hz)):
        t = i / hz
        walking = 1.0 <= t < seconds - 1.0
        x = 0.3 * min(max(t - 1.0, 0.0), seconds - 2.0)
        sway = 0.05 * math.sin(2 * math.pi * t) if walking else 0.0
        margin = 0.04 - 0.03 * abs(math.sin(2 * math.pi * t)) if walking else 0.06
        feet = (x - 0.1, -0.15), (x + 0.1, -0.15), (x + 0.1, 0.15), (x - 0.1, 0.15)
        samples.append(BalanceSample(
            t_s=t, robot=robot, margin_m=margin, margin_floor_m=0.015, com_m=(x, 0.5 * sway, 0.68),
            zmp_m=(x + 0.02 * sway, sway), phase="walking" if walking else "standing", tier=tier,
            feet=("left", "right"), helper_force_n=0.0, helper_torque_nm=0.0,
            distance_walked_m=x, support_polygon=feet))
    return samples


def assert_drawn_png(path: Path, min_size: tuple[int, int]) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = iio.imread(path)
    assert image.shape[1] >= min_size[0] and image.shape[0] >= min_size[1]
    rgb = image[..., :3].astype(int)
    assert rgb.std() > 10  # not blank
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 10  # lines, text and shading


def test_plot_balance_writes_a_png_with_the_margin_and_com_zmp(tmp_path: Path) -> None:
    path = plot_balance(walk(), tmp_path / "balance.png")
    assert path == tmp_path / "balance.png"
    assert_drawn_png(path, (800, 600))


def test_plot_balance_copes_with_a_moment_without_feet_and_a_guided_tier(tmp_path: Path) -> None:
    samples = walk(tier="guided")
    samples[100] = BalanceSample(**{**samples[100].__dict__, "margin_m": -math.inf, "phase": "fallen",
                                    "helper_force_n": 120.0})
    assert_drawn_png(plot_balance(samples, tmp_path / "balance.png"), (800, 600))


def test_plot_floor_track_writes_a_top_view(tmp_path: Path) -> None:
    assert_drawn_png(plot_floor_track(walk(), tmp_path / "track.png"), (600, 600))


def test_several_robots_need_one_chosen(tmp_path: Path) -> None:
    samples = walk("left_g1") + walk("right_g1")
    with pytest.raises(ValueError, match="several robots"):
        plot_balance(samples, tmp_path / "balance.png")
    assert_drawn_png(plot_balance(samples, tmp_path / "balance.png", robot="right_g1"), (800, 600))


def test_no_samples_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no balance samples"):
        plot_balance([], tmp_path / "balance.png")
    assert not (tmp_path / "balance.png").exists()


def test_the_report_shows_the_humanoid_kpis_plots_gif_and_key_moments(tmp_path: Path) -> None:
    from cellwright.app.report import write_report

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    balance = plot_balance(walk(), pictures / "balance.png")
    summary = {"jobs": [], "cells": [{"id": "humanoid", "packml_state_time_s": {"EXECUTE": 3.0}}]}
    write_report(tmp_path / "report.html", summary, "kpis", "scene.png",
                 humanoid={"distance walked (m)": 12.3456, "walking tier": "dynamic", "protective stops": 0},
                 balance_png=balance, gif="recording/run.gif",
                 snapshots=[(tmp_path / "recording" / "t0001.000_humanoid_j1_start.png", "humanoid: task j1 starts")])

    page = (tmp_path / "report.html").read_text()
    assert "<th>distance walked (m)</th><td>12.35</td>" in page
    assert "<th>walking tier</th><td>dynamic</td>" in page
    assert 'src="pictures/balance.png"' in page and 'src="recording/run.gif"' in page
    assert 'src="recording/t0001.000_humanoid_j1_start.png"' in page
    assert "<figcaption>humanoid: task j1 starts</figcaption>" in page


def test_the_report_without_the_new_sections_is_as_before(tmp_path: Path) -> None:
    from cellwright.app.report import write_report

    write_report(tmp_path / "report.html", {"jobs": [], "cells": []}, "kpis", "scene.png")

    page = (tmp_path / "report.html").read_text()
    assert "Humanoid" not in page and "Key moments" not in page and 'src="scene.png"' in page
