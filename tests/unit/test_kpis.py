"""The humanoid's KPIs of a run, and the terminal tables."""

from __future__ import annotations

import math

from cellwright.app.balance_log import BalanceSample, summarize
from cellwright.app.kpis import format_rows, humanoid_kpis
from cellwright.v1 import state_pb2


def _safety(*entries: tuple[str, int, float, float]) -> state_pb2.Safety:
    return state_pb2.Safety(on=True, components=[
        state_pb2.ComponentSafety(component=c, protective_stops=n, protective_stop_s=s, min_separation_m=m)
        for c, n, s, m in entries])


def test_humanoid_kpis_take_distance_and_margin_from_the_tasks_without_a_balance_log() -> None:
    results = [{"distance_m": 0.0, "min_margin_m": 0.08, "walking_tier": "dynamic"},
               {"distance_m": 3.0, "min_margin_m": -0.012, "walking_tier": "dynamic"},
               {"distance_m": 2.9, "min_margin_m": 0.001, "walking_tier": "dynamic"}]
    safety = {
        # the G1's components share one watch: its stops count once
        "humanoid": _safety(("g1/legs", 2, 5.0, 0.7), ("g1/left_arm", 2, 5.0, 0.7),
                            ("g1/right_arm", 2, 5.0, 0.7)),
        "kitter": _safety(("panda/arm", 1, 1.5, 0.9), ("panda/gripper", 1, 1.5, 0.9)),
    }
    kpis = humanoid_kpis(results, summarize([]), safety)
    assert kpis["distance walked (m)"] == 5.9
    assert kpis["min stability margin (mm)"] == -12.0
    assert kpis["walking tier"] == "dynamic"
    assert kpis["protective stops, all robots"] == 3
    assert kpis["protective stop time (s)"] == 6.5
    assert kpis["min separation to a person (m)"] == 0.7
    assert kpis["fell"] is False


def test_nothing_measured_reads_as_none_not_as_zero() -> None:
    kpis = humanoid_kpis([], summarize([]), {"humanoid": _safety(("g1/legs", 0, 0.0, math.inf))})
    assert kpis["min stability margin (mm)"] is None
    assert kpis["min separation to a person (m)"] is None
    assert kpis["walking tier"] is None


def test_format_rows_aligns_and_widens_for_long_values() -> None:
    table = format_rows([("a", "1"), ("longer name", "x" * 20)], heading=("what", "value"))
    lines = table.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert "| longer name | " + "x" * 20 + " |" in lines


def test_the_distance_walked_is_the_robots_odometer_when_its_balance_was_logged() -> None:
    sample = BalanceSample(t_s=1.0, robot="g1", margin_m=0.05, margin_floor_m=-0.02, com_m=(0.0, 0.0, 0.7),
                           zmp_m=(0.0, 0.0), phase="walking", tier="dynamic", feet=("left",),
                           helper_force_n=0.0, helper_torque_nm=0.0, distance_walked_m=2.345)
    kpis = humanoid_kpis([], summarize([sample]), {})  # the carry failed: no results
    assert kpis["distance walked (m)"] == 2.35 and kpis["walking tier"] == "dynamic"
