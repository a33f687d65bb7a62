"""Pick-and-place in the simulated arm cell, judged by physics alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from cellwright.cells.skills import SkillContext, SkillError, get_skill
from cellwright.robots import CollisionDetected, EStopActive, MotionStopped, Pose, Robot, Unreachable
from cellwright.sim_worlds import PartInfo, SimWorld, load_world

DOWN = (1.0, 0.0, 0.0, 0.0)


@pytest.fixture
def world() -> Iterator[SimWorld]:
    world = load_world("arm_cell", seed=1)
    yield world
    world.close()


@pytest.fixture
def ctx(world: SimWorld) -> SkillContext:
    return SkillContext(world, world.robots)


@pytest.fixture
def arm(world: SimWorld) -> Robot:
    return world.robots["arm"]


def test_pick_place_puts_a_red_cube_in_the_outfeed(world: SimWorld, ctx: SkillContext) -> None:
    progress: list[float] = []
    ctx.progress = progress.append

    result = get_skill("pick_place").run(ctx, {"part": "red_cube", "place_at": "outfeed_a"})

    assert result["part_type"] == "red_cube"
    assert [p.id for p in world.parts_in("outfeed_a")] == [result["part_id"]]
    assert world.regions["outfeed_a"].contains(world.part_info(result["part_id"]).pose.position)
    assert 2.0 < result["cycle_time_s"] < 10.0
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_pick_of_an_absent_part_type_is_not_found(ctx: SkillContext) -> None:
    with pytest.raises(SkillError) as failure:
        get_skill("pick").run(ctx, {"part": "red_cube", "from": "outfeed_b"})
    assert failure.value.reason == "not_found"


def test_grasp_on_empty_air_fails_retryably(world: SimWorld, ctx: SkillContext,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    centre = world.regions["outfeed_b"].center
    phantom = PartInfo("red_cube-1", "red_cube", Pose((centre[0], centre[1], 0.43)))
    monkeypatch.setattr(world, "locate_part", lambda part_type, region="infeed": phantom)

    with pytest.raises(SkillError) as failure:
        get_skill("pick").run(ctx, {"part": "red_cube"})
    assert failure.value.reason == "grasp_failed"
    assert failure.value.retryable


def test_move_pose_far_away_is_unreachable(arm: Robot, world: SimWorld) -> None:
    before = arm.state().position
    with pytest.raises(Unreachable, match="mm"):
        arm.move_pose(Pose((3.0, 0.0, 0.6), DOWN))
    np.testing.assert_allclose(arm.state().position, before, atol=1e-3)


def test_unreachable_location_maps_to_skill_reason(world: SimWorld, ctx: SkillContext) -> None:
    world.locations = {**world.locations, "far": Pose((3.0, 0.0, 0.6), DOWN)}
    with pytest.raises(SkillError) as failure:
        get_skill("move_to").run(ctx, {"location": "far"})
    assert failure.value.reason == "unreachable"


def test_stop_from_another_thread_halts_a_long_move(arm: Robot, world: SimWorld) -> None:
    start = arm.state().stamp_s
    target = list(arm.state().position)
    target[0] = 2.5

    def stop_after_one_sim_second() -> None:
        while arm.state().stamp_s < start + 1.0:
            threading.Event().wait(0.001)
        arm.stop()

    stopper = threading.Thread(target=stop_after_one_sim_second)
    stopper.start()
    with pytest.raises(MotionStopped):
        arm.move_joints(target, speed=0.1, timeout_s=60.0)
    stopper.join(timeout=5.0)

    assert arm.state().position[0] < 2.0
    world.step(24)
    assert np.max(np.abs(arm.state().velocity)) < 0.05


def test_pressing_the_tool_into_the_table_is_a_collision(arm: Robot) -> None:
    arm.move_pose(Pose((0.25, -0.2, 0.5), DOWN))
    with pytest.raises(CollisionDetected, match="table"):
        arm.move_pose(Pose((0.25, -0.2, 0.38), DOWN), speed=0.3)


def test_noop_steps_the_world_for_its_duration(world: SimWorld, ctx: SkillContext) -> None:
    start = world.now_s()
    get_skill("noop").run(ctx, {"duration_s": 0.5})
    assert world.now_s() - start == pytest.approx(0.5, abs=world.dt)


def test_second_part_goes_to_a_free_spot_of_the_same_tray(world: SimWorld,
                                                          ctx: SkillContext) -> None:
    skill = get_skill("pick_place")
    first = skill.run(ctx, {"part": "green_cube", "place_at": "outfeed_b"})
    second = skill.run(ctx, {"part": "blue_cube", "place_at": "outfeed_b"})

    assert {p.id for p in world.parts_in("outfeed_b")} == {first["part_id"], second["part_id"]}
    gap = np.linalg.norm(np.subtract(first["placed_at"], second["placed_at"]))
    assert gap > 0.05


def test_estop_during_a_move_raises_estop_and_holds(arm: Robot, world: SimWorld) -> None:
    start = arm.state().stamp_s
    target = list(arm.state().position)
    target[0] = -2.0

    def estop_after_half_a_sim_second() -> None:
        while arm.state().stamp_s < start + 0.5:
            threading.Event().wait(0.001)
        arm.estop()

    stopper = threading.Thread(target=estop_after_half_a_sim_second)
    stopper.start()
    with pytest.raises(EStopActive):
        arm.move_joints(target, speed=0.2, timeout_s=60.0)
    stopper.join(timeout=5.0)

    assert arm.state().estopped
    world.step(24)
    assert np.max(np.abs(arm.state().velocity)) < 0.05
