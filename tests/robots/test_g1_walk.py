"""Walking the G1: footsteps and the DCM reference (pure), a dynamic walk that arrives, the
guided tier's reported helper wrench, limits, and speed_override.

PyBullet DIRECT at 480 Hz; the loop ticks on the simulation clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pybullet as p
import pytest

from cellwright.api.geometry import Pose
from cellwright.robots import ControlLoop, LimitViolation
from cellwright.robots.sim.g1.body import G1Body
from cellwright.robots.sim.g1.gait import Footstep, GaitParams, ZmpTimeline, body_of, plan_footsteps
from cellwright.robots.sim.g1.legs import G1Legs, LegsConfig
from cellwright.testing.worlds import PlaneWorld

DT = 1.0 / 480.0
LEFT = Footstep("left", 0.0, 0.11, 0.0)
RIGHT = Footstep("right", 0.0, -0.11, 0.0)


# --- footsteps and the reference (pure) ---------------------------------------------------------
def test_footsteps_alternate_and_end_side_by_side_at_the_goal() -> None:
    params = GaitParams()
    steps = plan_footsteps(LEFT, RIGHT, [(1.0, 0.0)], 0.0, params)
    assert all(a.side != b.side for a, b in itertools.pairwise(steps))
    last = {s.side: s for s in steps[-2:]}
    assert body_of(last["left"], last["right"])[:2] == pytest.approx((1.0, 0.0), abs=0.02)
    strides = [math.dist((a.x, a.y), (b.x, b.y)) for a, b in zip(steps, steps[2:], strict=False)]
    assert max(strides) <= 2 * params.step_length_m + 1e-9


def test_a_turn_is_limited_per_step_and_ends_at_the_goal_yaw() -> None:
    params = GaitParams()
    steps = plan_footsteps(LEFT, RIGHT, [(0.5, 0.0), (0.5, 0.5)], math.pi / 2, params)
    yaws = [0.0] + [s.yaw for s in steps]
    assert max(abs(b - a) for a, b in itertools.pairwise(yaws)) <= 2 * params.turn_per_step_rad + 1e-9
    assert steps[-1].yaw == pytest.approx(math.pi / 2, abs=0.03)
    last = {s.side: s for s in steps[-2:]}
    assert body_of(last["left"], last["right"])[:2] == pytest.approx((0.5, 0.5), abs=0.02)


def test_the_dcm_reference_leads_the_zmp_onto_the_next_foot() -> None:
    params = GaitParams()
    steps = plan_footsteps(LEFT, RIGHT, [(0.5, 0.0)], 0.0, params)
    timeline = ZmpTimeline((0.035, 0.0), LEFT, RIGHT, steps, params)
    start = timeline.dcm(0.0)
    assert start[1] * (1 if steps[0].side == "right" else -1) > 0.0  # towards the stance foot
    assert timeline.dcm(timeline.end_s + 1.0) == pytest.approx(timeline.zmp(timeline.end_s + 1.0))
    # xi_dot = omega (xi - p): a numerical derivative agrees with the closed form
    t, h = 1.0, 1e-5
    derivative = (timeline.dcm(t + h) - timeline.dcm(t - h)) / (2 * h)
    assert derivative == pytest.approx(params.omega * (timeline.dcm(t) - timeline.zmp(t)), abs=1e-4)


def test_config_is_checked_by_key() -> None:
    assert LegsConfig.from_mapping({}).walking == "dynamic"
    with pytest.raises(ValueError, match="walking"):
        LegsConfig.from_mapping({"walking": "teleport"})
    with pytest.raises(ValueError, match="max_speed_m_s"):
        LegsConfig.from_mapping({"max_speed_m_s": 2.0})
    with pytest.raises(ValueError, match="workspace"):
        LegsConfig.from_mapping({"workspace": [1, 0, 0, 1]})


# --- on physics ------------------------------------------------------------------------------------
@dataclass
class Rig:
    world: PlaneWorld
    body: G1Body
    legs: G1Legs
    loop: ControlLoop

    def run_until_done(self, goal: Any, limit_s: float) -> None:
        end = self.loop.now_s() + limit_s
        while not goal.done() and self.loop.now_s() < end:
            self.loop.tick()


def make_rig(config: dict[str, Any]) -> Rig:
    world = PlaneWorld(DT)
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=False, label="g1")
    legs = G1Legs("g1/legs", body, config)
    loop = ControlLoop(DT, world=world)
    loop.add(legs)
    legs.activate()
    for _ in range(120):
        loop.tick()
    return Rig(world, body, legs, loop)


@pytest.fixture
def dynamic() -> Iterator[Rig]:
    rig = make_rig({"workspace": [-5, -5, 5, 5]})
    yield rig
    rig.legs.shutdown()
    rig.world.close()


def test_a_dynamic_walk_arrives_with_no_helper(dynamic: Rig) -> None:
    legs = dynamic.legs
    info = legs.info()
    assert info.tier == "dynamic" and info.approximation == "" and info.helper_forces == ()
    goal = legs.walk_to(1.0, 0.0, 0.0)
    dynamic.run_until_done(goal, 30.0)
    assert goal.done() and goal.error() is None
    state = legs.state()
    assert math.dist(state.pose.position[:2], (1.0 + 0.03 - 0.03, 0.0)) < 0.1
    assert state.phase == "standing" and state.tier == "dynamic"
    assert state.helper_wrench == (0.0,) * 6
    assert state.distance_walked_m == pytest.approx(1.0, abs=0.15)
    assert legs.min_margin_m > legs.config.margin_floor_m
    assert p.getNumConstraints(physicsClientId=dynamic.world.client) == 0


def test_targets_outside_the_workspace_are_refused(dynamic: Rig) -> None:
    with pytest.raises(LimitViolation, match="workspace"):
        dynamic.legs.walk_to(6.0, 0.0, 0.0)
    with pytest.raises(LimitViolation):
        dynamic.legs.walk_to(float("nan"), 0.0, 0.0)


def test_speed_override_zero_pauses_after_the_step_and_the_walk_goes_on(dynamic: Rig) -> None:
    legs = dynamic.legs
    goal = legs.walk_to(0.6, 0.0, 0.0)
    for _ in range(round(2.0 / DT)):
        dynamic.loop.tick()
    legs.speed_override = 0.0
    for _ in range(round(3.0 / DT)):
        dynamic.loop.tick()
    paused_at = np.array(legs.state().pose.position[:2])
    for _ in range(round(1.0 / DT)):
        dynamic.loop.tick()
    assert not goal.done()
    assert legs.state().phase == "standing"
    assert np.linalg.norm(np.array(legs.state().pose.position[:2]) - paused_at) < 0.02
    legs.speed_override = 1.0
    dynamic.run_until_done(goal, 30.0)
    assert goal.error() is None


def test_the_guided_tier_says_so_and_reports_its_wrench() -> None:
    rig = make_rig({"walking": "guided"})
    try:
        info = rig.legs.info()
        assert info.tier == "guided" and "constraint" in info.approximation
        assert info.helper_forces == ("pelvis guide constraint",)
        rig.legs.walk_to(0.4, 0.0, 0.0)
        wrenches = []
        for _ in range(round(2.0 / DT)):  # the first double support and a step
            rig.loop.tick()
            wrenches.append(rig.legs.state().helper_wrench)
        assert rig.legs.state().tier == "guided"
        assert p.getNumConstraints(physicsClientId=rig.world.client) == 1
        assert max(np.linalg.norm(w[:3]) for w in wrenches) > 1.0
        peak, mean = rig.legs.helper_wrench_summary()
        assert peak > 1.0 and 0.0 < mean <= peak
        assert peak <= math.sqrt(3) * rig.legs.config.guide_max_force_n + 1e-6  # bounded per axis
    finally:
        rig.legs.shutdown()
        rig.world.close()
