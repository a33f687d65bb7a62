"""`cellwright promote`, the sim-to-real gate, end to end: an orchestrator and two cells as
processes, the example tour workflow on a simulated Panda and on an OPC UA Panda served by a
virtual controller in this process, compared step by step. Asserts on the JSON verdicts and
flags; never on seconds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cellwright.app.virtual_controller import Perturbation, VirtualController, start_virtual_controller

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "promote"
LAYOUT = ROOT / "sim_worlds" / "worlds" / "arm_cell.layout.yaml"
HANG_GUARD_S = 240.0
STEPS = ["infeed", "outfeed_a", "camera", "outfeed_b", "home"]


def _real_config(tmp_path: Path, controller: VirtualController) -> Path:
    config = yaml.safe_load((EXAMPLES / "opcua-cell.yaml").read_text())
    config["layout"] = str(LAYOUT)
    config["robots"]["panda"] = {"model": "opcua.panda", "endpoint": controller.url, "security_policy": "None"}
    path = tmp_path / "opcua-cell.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _promote(tmp_path: Path, real: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "cellwright", "promote", str(EXAMPLES / "tour.yaml"),
                          "--sim", str(EXAMPLES / "sim-cell.yaml"), "--real", str(real), "-o", str(out), *options],
                         capture_output=True, text=True, timeout=HANG_GUARD_S, check=False, cwd=tmp_path)
    report = json.loads((out / "promote.json").read_text()) if (out / "promote.json").exists() else {}
    return run, report


@pytest.fixture
def controller(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VirtualController]:
    perturbation = getattr(request, "param", Perturbation())
    controller = start_virtual_controller("arm_cell", "panda", url="opc.tcp://127.0.0.1:0", pki=tmp_path / "vc",
                                          policy="None", perturbation=perturbation)
    try:
        yield controller
    finally:
        controller.close()


def test_the_gate_passes_when_the_real_cell_does_what_the_simulation_did(
        tmp_path: Path, controller: VirtualController) -> None:
    # The real side is paced by the wall clock on a shared machine: a loose duration
    # tolerance keeps this test about agreement, not about how busy the CPU is.
    run, report = _promote(tmp_path, _real_config(tmp_path, controller), "--tolerance-duration", "1.0")
    assert run.returncode == 0, run.stdout + run.stderr
    assert report["verdict"] == "pass" and report["flagged_steps"] == [] and report["job_flags"] == []
    assert [row["step"] for row in report["steps"]] == STEPS
    for row in report["steps"]:
        assert row["sim"]["state"] == row["real"]["state"] == "SUCCEEDED"
        assert row["position_delta_mm"]["panda"] <= 5.0
    assert "simulation seconds" in report["durations"] and "wall-clock seconds" in report["durations"]
    assert report["real"]["robots"] == ["panda (opcua.panda)"]
    assert "sim: home SUCCEEDED in" in run.stdout and "real: home SUCCEEDED in" in run.stdout
    assert "verdict: PASS" in run.stdout
    assert "PASS" in (tmp_path / "out" / "promote.html").read_text()


@pytest.mark.parametrize("controller", [Perturbation(latency_ms=100, payload_kg=0.5, seed=1)], indirect=True)
def test_the_gate_fails_and_flags_the_steps_a_slow_link_makes_late(
        tmp_path: Path, controller: VirtualController) -> None:
    assert controller.perturbed == ("payload +0.5 kg on panda_hand",
                                    "network delay 100 ± 0 ms each way (seed 1, a TCP proxy on loopback)")
    run, report = _promote(tmp_path, _real_config(tmp_path, controller), "--tolerance-duration", "0.1",
                           "--note", "; ".join(controller.perturbed))
    assert run.returncode == 1, run.stdout + run.stderr
    assert report["verdict"] == "fail" and report["job_flags"] == []
    # A move's command takes one trip to the controller and its outcome one back: at least
    # 0.2 s more than in simulation, beyond 10 % of every move of the tour (under 1.3 s).
    assert report["flagged_steps"] == STEPS
    for row in report["steps"]:
        assert row["sim"]["state"] == row["real"]["state"] == "SUCCEEDED"
        assert [flag.split(":")[0] for flag in row["flags"]] == ["duration"]
        assert row["duration_ratio"] > 1.1
    assert report["notes"] == ["; ".join(controller.perturbed)]
    assert "verdict: FAIL (5 of 5 steps flagged)" in run.stdout


def test_bad_input_is_refused_with_exit_code_2_before_anything_starts(tmp_path: Path) -> None:
    run, _ = _promote(tmp_path, EXAMPLES / "sim-cell.yaml")
    assert run.returncode == 2
    assert run.stderr.strip() == ("error: --sim and --real both have cell_id 'arm-sim'; they connect to one "
                                  "orchestrator, so give them different ids")
    run, _ = _promote(tmp_path, EXAMPLES / "opcua-cell.yaml", "--tolerance-position-mm", "-1")
    assert run.returncode == 2 and "tolerance position_mm = -1.0 must be a finite number >= 0" in run.stderr


def test_a_cell_that_does_not_start_fails_the_wait_at_once_with_its_state(tmp_path: Path) -> None:
    """Shared with the demos (`wait_for_cells`): a cell left in Stopped or Aborted does not
    leave it by itself, so waiting out the timeout would only hide why."""
    from cellwright.api.client import Client
    from cellwright.app.demo_common import DemoFailed, wait_for_cells
    from cellwright.app.launch import start_cell, start_orchestrator

    config = tmp_path / "idle-cell.yaml"
    config.write_text("cell_id: idle-1\nskills: [noop]\nauto_start: false\n")
    orchestrator, address = start_orchestrator(tmp_path / "o.db", tmp_path / "orchestrator.log")
    cell = start_cell(config, address, tmp_path / "cell.log")
    try:
        with Client(address) as client, pytest.raises(DemoFailed, match="cell idle-1 did not start: PackML Stopped"):
            wait_for_cells(client, cell, ["idle-1"], time.monotonic(), HANG_GUARD_S)
    finally:
        cell.stop()
        orchestrator.stop()
