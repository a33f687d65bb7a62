"""bench/sim_speed.py runs end to end on a fraction of a simulated second (so the script
cannot rot): the cell run, the recording, the bare replay and held loops, the profile split.
No wall-clock thresholds: only that the figures exist and the replay did the cell's work."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a package at the repository root, not installed
    sys.path.insert(0, str(ROOT))

from bench import sim_speed  # noqa: E402
from cellwright.cells.config import CellConfig, RobotEntry  # noqa: E402
from cellwright.cells.environment import Environment  # noqa: E402

TICKS = 48  # 0.2 s at the arm cell's 240 Hz


def arm_holding() -> sim_speed.Case:
    """The arm cell's world and robot, the Panda holding still for 0.2 s of its clock."""
    def configs() -> list[CellConfig]:
        return [CellConfig(cell_id="arm", world="arm_cell",
                           robots={"panda": RobotEntry("pybullet.panda", "panda")}, clock="lockstep")]

    def work(env: Environment) -> list[Callable[[], str]]:
        loop = env.cells["arm"].loop
        return [lambda: (loop.sleep(TICKS * loop.dt).result(), "held")[1]]

    return sim_speed.Case("hold", "arm cell holding", configs, work)


def test_measure_reports_cell_and_bare_speeds_and_where_the_time_goes(tmp_path: Path) -> None:
    report = sim_speed.measure(arm_holding(), repeats=1, top=3, tmp=str(tmp_path))

    assert report["steps"] == TICKS and report["cell_ticks"] == [TICKS]
    assert report["sim_s"] == pytest.approx(0.2)
    for name in ("cell", "replay", "held"):
        assert report["median_x_real_time"][name] > 0
    assert set(report["median_ratios"]) == {"cell/replay", "cell/held"}
    assert report["replay_drift_mm"][0] < 1.0  # the replay ended where the cell did
    loop = report["profile"]["loop"]
    assert "physics (stepSimulation)" in loop["categories"] and len(loop["top"]) == 3


def test_recording_run_keeps_one_call_list_per_step_and_a_snapshot(tmp_path: Path) -> None:
    run = sim_speed.run_cell(arm_holding(), str(tmp_path / "snap.bullet"), record=True)

    assert len(run.recorded) == run.ticks == TICKS
    assert (tmp_path / "snap.bullet").stat().st_size > 0
    assert sim_speed.drift_mm(run.final, run.final) == 0.0


def test_unknown_case_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sim_speed.main(["--cases", "nope"])
    assert "unknown cases" in capsys.readouterr().err
