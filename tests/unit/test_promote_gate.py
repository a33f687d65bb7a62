"""The sim-to-real gate's rules on plain records, and the virtual controller's perturbation
string: no processes, no sockets."""

from __future__ import annotations

import pytest

from cellwright.app.promote_gate import SideRun, StepRun, Tolerances, ToolPose, compare, format_table, render_html
from cellwright.app.virtual_controller import Perturbation

DOWN = (1.0, 0.0, 0.0, 0.0)


def _step(step: str, state: str = "SUCCEEDED", duration_s: float = 1.0, x: float = 0.5,
          error: str = "") -> StepRun:
    return StepRun(step, state, error, duration_s, {"panda": ToolPose((x, 0.0, 0.6), DOWN)})


def _side(role: str, *steps: StepRun, state: str = "SUCCEEDED") -> SideRun:
    return SideRun(role, f"arm-{role}", f"{role}.yaml", "seconds", ("panda (x.panda)",), f"job-{role}",
                   state, "", steps)


def test_identical_runs_pass() -> None:
    report = compare(_side("sim", _step("a"), _step("b")), _side("real", _step("a"), _step("b")), Tolerances())
    assert report["verdict"] == "pass"
    assert [r["flags"] for r in report["steps"]] == [[], []]
    assert report["steps"][0]["duration_ratio"] == 1.0 and report["steps"][0]["position_delta_mm"] == {"panda": 0.0}


def test_a_step_slower_than_the_relative_tolerance_is_flagged() -> None:
    report = compare(_side("sim", _step("a", duration_s=1.0)), _side("real", _step("a", duration_s=1.3)),
                     Tolerances(duration_rel=0.25))
    assert report["verdict"] == "fail" and report["flagged_steps"] == ["a"]
    assert report["steps"][0]["flags"][0].startswith("duration: real 1.30 s vs sim 1.00 s (x1.30")


def test_a_short_step_differing_by_less_than_the_floor_is_not_flagged() -> None:
    report = compare(_side("sim", _step("a", duration_s=0.01)), _side("real", _step("a", duration_s=0.05)),
                     Tolerances(duration_rel=0.25, duration_floor_s=0.1))
    assert report["verdict"] == "pass"


def test_a_tool_ending_beyond_the_position_tolerance_is_flagged() -> None:
    report = compare(_side("sim", _step("a", x=0.5)), _side("real", _step("a", x=0.506)),
                     Tolerances(position_mm=5.0))
    assert report["steps"][0]["position_delta_mm"] == {"panda": 6.0}
    assert report["steps"][0]["flags"] == ["pose: panda's tool ended 6.0 mm apart (> 5 mm)"]


def test_a_different_outcome_is_flagged_and_fails_the_gate() -> None:
    real = _side("real", _step("a", state="FAILED", error="timeout: moving"), state="FAILED")
    report = compare(_side("sim", _step("a")), real, Tolerances())
    assert report["steps"][0]["flags"][0] == "outcome: sim SUCCEEDED, real FAILED (timeout: moving)"
    assert report["job_flags"] == ["real job FAILED"]
    assert "verdict: FAIL (1 of 1 steps flagged)" in format_table(report)
    assert "FAIL" in render_html(report)


def test_steps_cancelled_before_they_started_are_compared_by_outcome_only() -> None:
    cancelled = StepRun("b", "CANCELLED")
    report = compare(_side("sim", _step("a"), cancelled, state="FAILED"),
                     _side("real", _step("a"), cancelled, state="FAILED"), Tolerances())
    assert report["steps"][1]["flags"] == []
    assert report["verdict"] == "fail"  # the jobs failed: nothing to promote


def test_a_step_that_ran_without_a_recorded_pose_is_flagged() -> None:
    report = compare(_side("sim", _step("a")), _side("real", StepRun("a", "SUCCEEDED", "", 1.0)), Tolerances())
    assert report["steps"][0]["flags"] == ["pose: panda's tool pose was not recorded on real"]


def test_negative_tolerances_are_refused() -> None:
    with pytest.raises(ValueError, match="position_mm"):
        Tolerances(position_mm=-1).check()


def test_a_perturbation_string_is_parsed_and_labelled() -> None:
    perturbation = Perturbation.parse("friction=0.7,payload_kg=0.5,latency_ms=20,jitter_ms=10,seed=1")
    assert perturbation == Perturbation(0.7, 0.5, 20.0, 10.0, 1)
    assert perturbation.labels("panda_hand") == [
        "friction x0.7 (lateral friction of the world's parts and objects)",
        "payload +0.5 kg on panda_hand",
        "network delay 20 ± 10 ms each way (seed 1, a TCP proxy on loopback)"]
    assert Perturbation.parse("").labels() == []


@pytest.mark.parametrize(("text", "message"), [
    ("friction", "'friction' must be KEY=VALUE"),
    ("frition=0.7", "unknown perturbation 'frition'; known: ['friction', 'payload_kg'"),
    ("friction=abc", "friction='abc' is not a number"),
    ("friction=0", "friction=0 must be > 0"),
    ("payload_kg=-1", "payload_kg=-1 must be >= 0"),
    ("latency_ms=5,jitter_ms=10", "jitter_ms=10 must not exceed latency_ms=5"),
    ("seed=1.5", "seed='1.5' must be an integer >= 0"),
    ("friction=1,friction=2", "friction is given twice"),
    ("latency_ms=nan", "must be finite"),
])
def test_a_bad_perturbation_is_refused_with_the_key(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Perturbation.parse(text)
    assert message in str(caught.value)
