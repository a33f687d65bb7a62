"""`cellwright demo` end to end: separate processes, real gRPC, ZeroMQ, PyBullet, SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_demo_runs_jobs_end_to_end_and_writes_kpis_png_and_json(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "cellwright", "demo", "--world", "arm_cell", "--jobs", "4",
                          "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "cell utilisation" in run.stdout
    assert "state stream:" in run.stdout  # live figures from the ZeroMQ stream were shown
    summary = json.loads((out / "summary.json").read_text())
    kpis = summary["kpis"]
    assert kpis["jobs"] == 4
    assert kpis["succeeded"] == 4, summary["jobs"]
    assert kpis["tasks"] == 6  # three pick-place jobs and one three-step kitting job
    assert kpis["cycle_time_mean_s"] > 1.0  # sim seconds of real motion, not a no-op
    assert 0 < kpis["cell_utilisation"] <= 1
    assert summary["state_stream"]["messages"] > 100
    assert all(job["state"] == "SUCCEEDED" for job in summary["jobs"])
    png = (out / "final_scene.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_demo_world_line2_moves_parts_over_both_cells_with_the_station_reserved(tmp_path: Path) -> None:
    out = tmp_path / "line2"
    run = subprocess.run([sys.executable, "-m", "cellwright", "demo", "--world", "line2", "--jobs", "2",
                          "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "handover held by two tasks at once (from the tasks' times): never" in run.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert [job["state"] for job in summary["jobs"]] == ["SUCCEEDED", "SUCCEEDED"]
    for job in summary["jobs"]:
        assert [(s["step"], s["cell"], s["reservations"]) for s in job["steps"]] == [
            ("hand_over", "arm-a", ["handover"]), ("deliver", "arm-b", ["handover"])]
    handover = summary["handover"]
    assert handover["most_holders_at_once"] == 1 and handover["overlaps_from_tasks"] == []
    assert {h["holder"].split("@")[1].split()[0] for h in handover["observed"] if h["holder"] != "free"} \
        <= {"arm-a", "arm-b"}


@pytest.mark.timeout(2700)  # about 10 minutes on 2 cores; the suite's default is 5
def test_the_default_demo_runs_the_line_kits_carries_and_reports_the_humanoid(tmp_path: Path) -> None:
    """The kitting line end to end: three parts kitted by the Panda, the tote carried to
    assembly and back by the G1 on the dynamic tier, a worker crossing; KPIs, plots, GIF,
    snapshots and report written. About 10 minutes on a 2-core machine."""
    out = tmp_path / "line"
    run = subprocess.run([sys.executable, "-m", "cellwright", "demo", "--out", str(out)],
                         capture_output=True, text=True, timeout=2400)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "humanoid: sim t=" in run.stdout  # live balance figures from the state stream
    summary = json.loads((out / "summary.json").read_text())
    (job,) = summary["jobs"]
    assert job["state"] == "SUCCEEDED"
    assert [(s["step"], s["cell"], s["state"]) for s in job["steps"]] == [
        ("kit", "kitter", "SUCCEEDED")] * 3 + [("deliver", "humanoid", "SUCCEEDED"),
                                               ("bring_back", "humanoid", "SUCCEEDED")]
    humanoid = summary["humanoid"]
    assert humanoid["distance walked (m)"] > 5.0  # 2.75 m down the aisle and back
    assert humanoid["min stability margin (mm)"] >= humanoid["margin floor (mm)"] == -20.0
    assert humanoid["walking tier"] == "dynamic" and humanoid["helper force peak (N)"] == 0
    assert humanoid["fell"] is False
    assert summary["safety"]["humanoid"]["on"] and summary["safety"]["kitter"]["on"]
    for name in ("balance.png", "floor_track.png", "final_scene.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name
    index = json.loads((out / "recording" / "index.json").read_text())
    assert index["gif"]["frames"] > 20 and index["speedup"] == 10.0
    moments = [(s["cell_id"], s["moment"]) for s in index["snapshots"]]
    assert ("humanoid", "start") in moments and ("kitter", "end") in moments
    report = (out / "report.html").read_text()
    assert "<h2>Humanoid</h2>" in report and 'src="balance.png"' in report
    assert 'src="recording/run.gif"' in report
