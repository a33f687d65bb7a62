"""Skills on the arm cell, run on the simulated Panda (judged by physics) and on the mock
Panda (ideal followers, kinematic parts): the same skills, chosen by one config line."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from cellwright.api.layout import Location
from cellwright.cells.config import CellConfig, RobotEntry
from cellwright.cells.environment import Environment
from cellwright.cells.skills import SkillContext, SkillError, get_skill
from cellwright.robots import Arm, CollisionDetected, EStopActive, MotionStopped, PartSighting, Pose, Unreachable

DOWN = (1.0, 0.0, 0.0, 0.0)
HANG_GUARD_S = 120.0  # wall seconds; only against a dead loop


def arm_cell(model: str) -> CellConfig:
    return CellConfig(cell_id="arm-1", world="arm_cell", robots={"panda": RobotEntry(model, "panda")},
                      seed=1, clock="lockstep")


@pytest.fixture(params=["pybullet.panda", "mock.panda"])
def env(request: pytest.FixtureRequest) -> Iterator[Environment]:
    environment = Environment.build([arm_cell(request.param)])
    environment.start()
    yield environment
    environment.close()


@pytest.fixture
def physics() -> Iterator[Environment]:
    environment = Environment.build([arm_cell("pybullet.panda")])
    environment.start()
    yield environment
    environment.close()


def context(environment: Environment) -> SkillContext:
    runtime = environment.cells["arm-1"]
    return SkillContext(runtime.robots, runtime.layout, runtime.parts, runtime.loop.now_s,
                        runtime.loop.sleep)


def the_arm(environment: Environment) -> Arm:
    return environment.cells["arm-1"].robots["panda"].of_kind(Arm)[0]


def test_pick_place_puts_a_red_cube_in_the_outfeed(env: Environment) -> None:
    ctx = context(env)
    progress: list[float] = []
    ctx.progress = progress.append

    result = get_skill("pick_place").run(ctx, {"part": "red_cube", "place_at": "outfeed_a"})

    assert result["part_type"] == "red_cube"
    outfeed = ctx.layout.station("outfeed_a")
    assert [p.id for p in ctx.locator().parts_in(outfeed)] == [result["part_id"]]
    assert 2.0 < result["cycle_time_s"] < 10.0
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_second_part_goes_to_a_free_spot_of_the_same_tray(env: Environment) -> None:
    ctx = context(env)
    skill = get_skill("pick_place")
    first = skill.run(ctx, {"part": "green_cube", "place_at": "outfeed_b"})
    second = skill.run(ctx, {"part": "blue_cube", "place_at": "outfeed_b"})

    inside = {p.id for p in ctx.locator().parts_in(ctx.layout.station("outfeed_b"))}
    assert inside == {first["part_id"], second["part_id"]}
    assert np.linalg.norm(np.subtract(first["placed_at"], second["placed_at"])) > 0.05


def test_pick_of_an_absent_part_type_is_not_found(env: Environment) -> None:
    with pytest.raises(SkillError) as failure:
        get_skill("pick").run(context(env), {"part": "red_cube", "from": "outfeed_b"})
    assert failure.value.reason == "not_found"


def test_grasp_on_empty_air_fails_retryably(env: Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(env)
    centre = ctx.layout.station("outfeed_b").center
    phantom = PartSighting("red_cube-1", "red_cube", Pose((centre[0], centre[1], 0.43)))
    monkeypatch.setattr(ctx.locator(), "locate", lambda part_type, station: phantom)

    with pytest.raises(SkillError) as failure:
        get_skill("pick").run(ctx, {"part": "red_cube"})
    assert failure.value.reason == "grasp_failed"
    assert failure.value.retryable


def test_move_pose_far_away_is_unreachable_at_once(env: Environment) -> None:
    arm = the_arm(env)
    before = arm.state().position
    with pytest.raises(Unreachable, match="mm"):
        arm.move_pose(Pose((3.0, 0.0, 0.6), DOWN))
    np.testing.assert_allclose(arm.state().position, before, atol=1e-3)


def test_unreachable_location_maps_to_skill_reason(env: Environment) -> None:
    ctx = context(env)
    far = Location("far", Pose((3.0, 0.0, 0.6), DOWN))
    ctx.layout = dataclasses.replace(ctx.layout, locations={**ctx.layout.locations, "far": far})
    with pytest.raises(SkillError) as failure:
        get_skill("move_to").run(ctx, {"location": "far"})
    assert failure.value.reason == "unreachable"


def test_noop_lets_its_duration_pass_on_the_cell_clock(env: Environment) -> None:
    ctx = context(env)
    start = ctx.clock()
    get_skill("noop").run(ctx, {"duration_s": 0.5})
    assert ctx.clock() - start == pytest.approx(0.5, abs=2 * env.loop.dt)


def test_stop_from_another_thread_halts_a_long_move(env: Environment) -> None:
    arm = the_arm(env)
    start = arm.state().stamp_s
    target = list(arm.state().position)
    target[0] = 2.5
    goal = arm.move_joints(target, speed=0.1, timeout_s=60.0)

    def stop_after_one_sim_second() -> None:
        while arm.state().stamp_s < start + 1.0 and not goal.done():
            threading.Event().wait(0.001)
        arm.stop()

    stopper = threading.Thread(target=stop_after_one_sim_second)
    stopper.start()
    with pytest.raises(MotionStopped):
        goal.result(HANG_GUARD_S)
    stopper.join(timeout=5.0)

    assert arm.state().position[0] < 2.0
    held = arm.state().position
    env.loop.sleep(0.1).result(HANG_GUARD_S)
    assert np.max(np.abs(arm.state().velocity)) < 0.05
    np.testing.assert_allclose(arm.state().position, held, atol=2e-3)


def test_estop_during_a_move_fails_it_with_estop_and_holds(env: Environment) -> None:
    arm = the_arm(env)
    start = arm.state().stamp_s
    target = list(arm.state().position)
    target[0] = -2.0
    goal = arm.move_joints(target, speed=0.2, timeout_s=60.0)

    def estop_after_half_a_sim_second() -> None:
        while arm.state().stamp_s < start + 0.5 and not goal.done():
            threading.Event().wait(0.001)
        arm.estop()

    stopper = threading.Thread(target=estop_after_half_a_sim_second)
    stopper.start()
    with pytest.raises(EStopActive):
        goal.result(HANG_GUARD_S)
    stopper.join(timeout=5.0)

    assert arm.estopped
    env.loop.sleep(0.1).result(HANG_GUARD_S)
    assert np.max(np.abs(arm.state().velocity)) < 0.05
    with pytest.raises(EStopActive):
        arm.move_joints(target)


def test_pressing_the_tool_into_the_table_is_a_collision(physics: Environment) -> None:
    arm = the_arm(physics)
    arm.move_pose(Pose((0.25, -0.2, 0.5), DOWN)).result(HANG_GUARD_S)
    with pytest.raises(CollisionDetected, match="table"):
        arm.move_pose(Pose((0.25, -0.2, 0.38), DOWN), speed=0.3).result(HANG_GUARD_S)
