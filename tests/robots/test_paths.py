"""Floor paths: shortest routes around the world's footprint, timed within walking limits."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cellwright.robots.errors import LimitViolation, Unreachable
from cellwright.robots.paths import (
    MAX_WALK_SPEED_M_S,
    NoPath,
    Obstacle,
    Point,
    Profile,
    path_length_m,
    plan_path,
    time_path,
)
from cellwright.robots.sim._world import PhysicsWorld
from cellwright.sim_worlds import SimWorld, load_world

TABLE = Obstacle("table", (0.0, 0.0), (1.0, 1.0))


# --- an independent oracle: separating axes, not the planner's clipping -------------------
def _crosses(a: Point, b: Point, obstacle: Obstacle, clearance_m: float, tol: float = 1e-6) -> bool:
    """True if segment a-b enters the obstacle grown by `clearance_m` (shrunk by `tol`)."""
    corners = obstacle.corners(clearance_m - tol)
    c, s = math.cos(obstacle.yaw_rad), math.sin(obstacle.yaw_rad)
    dx, dy = b[0] - a[0], b[1] - a[1]
    axes = [(c, s), (-s, c)]
    if math.hypot(dx, dy) > 1e-12:
        axes.append((-dy, dx))
    for ax, ay in axes:
        box = [ax * x + ay * y for x, y in corners]
        seg = [ax * a[0] + ay * a[1], ax * b[0] + ay * b[1]]
        if max(seg) <= min(box) + 1e-12 or min(seg) >= max(box) - 1e-12:
            return False
    return True


def _assert_clear(path: list[Point], obstacles: list[Obstacle], clearance_m: float) -> None:
    for a, b in itertools.pairwise(path):
        for obstacle in obstacles:
            assert not _crosses(a, b, obstacle, clearance_m), (a, b, obstacle)


# --- planning ------------------------------------------------------------------------------
def test_a_clear_line_is_the_path() -> None:
    assert plan_path((-2.0, 3.0), (2.0, 3.0), [TABLE], 0.3) == [(-2.0, 3.0), (2.0, 3.0)]


def test_path_goes_around_one_table_at_the_clearance() -> None:
    path = plan_path((-2.0, 0.2), (2.0, 0.2), [TABLE], 0.3)
    assert path[0] == (-2.0, 0.2) and path[-1] == (2.0, 0.2)
    assert len(path) == 4  # bends at two corners of the grown table
    assert all(abs(y) == pytest.approx(0.8) for _, y in path[1:-1])
    _assert_clear(path, [TABLE], 0.3)


def test_path_length_is_optimal_around_a_square() -> None:
    # Grown table spans -1..1; detour over a corner each side: 2 * sqrt(2) + 2.
    path = plan_path((-2.0, 0.0), (2.0, 0.0), [TABLE], 0.5)
    assert path_length_m(path) == pytest.approx(2.0 + 2.0 * math.sqrt(2.0))


def test_path_threads_the_gap_between_two_tables() -> None:
    left = Obstacle("left", (-1.0, 0.0), (1.0, 4.0))
    right = Obstacle("right", (1.0, 0.0), (1.0, 4.0))  # 1.0 m gap between them
    path = plan_path((0.0, -3.0), (0.0, 3.0), [left, right], 0.3)
    assert path == [(0.0, -3.0), (0.0, 3.0)]
    # With 0.6 m clearance the gap is closed: around the outside.
    around = plan_path((0.0, -3.0), (0.0, 3.0), [left, right], 0.6)
    assert len(around) > 2 and path_length_m(around) > 6.0
    _assert_clear(around, [left, right], 0.6)


def test_rotated_obstacle_is_walked_around_on_its_own_sides() -> None:
    diamond = Obstacle("diamond", (0.0, 0.0), (1.0, 1.0), math.pi / 4)
    path = plan_path((-2.0, 0.0), (2.0, 0.0), [diamond], 0.0)
    assert len(path) == 3  # over its top or bottom corner, not around a bounding box
    assert path[1] == pytest.approx((0.0, math.copysign(math.sqrt(0.5), path[1][1])))
    assert path_length_m(path) == pytest.approx(2.0 * math.sqrt(4.5))
    _assert_clear(path, [diamond], 0.0)


def test_goal_inside_a_table_is_refused_naming_it_and_the_clearance() -> None:
    with pytest.raises(NoPath, match=r"goal \(0\.700, 0\.000\) is inside obstacle 'table' grown by "
                                     r"the clearance 0\.3 m") as caught:
        plan_path((-2.0, 0.0), (0.7, 0.0), [TABLE], 0.3)
    assert isinstance(caught.value, Unreachable) and caught.value.reason == "unreachable"
    assert caught.value.goal == (0.7, 0.0)


def test_start_inside_the_margin_still_plans_and_never_comes_closer() -> None:
    start = (0.6, 0.0)  # 0.1 m from the table, clearance 0.3 m
    path = plan_path(start, (-2.0, 0.0), [TABLE], 0.3)
    assert path[0] == start and path[-1] == (-2.0, 0.0)
    _assert_clear(path[:2], [TABLE], 0.1)  # the first segment keeps the 0.1 m it has
    _assert_clear(path[1:], [TABLE], 0.3)  # the rest keeps the full clearance


def test_start_inside_the_table_itself_is_refused() -> None:
    with pytest.raises(NoPath, match=r"start .* is inside obstacle 'table'"):
        plan_path((0.2, 0.0), (-2.0, 0.0), [TABLE], 0.3)


def test_walled_in_goal_has_no_route() -> None:
    walls = [Obstacle("north", (0.0, 1.5), (4.0, 1.0)), Obstacle("south", (0.0, -1.5), (4.0, 1.0)),
             Obstacle("east", (1.5, 0.0), (1.0, 4.0)), Obstacle("west", (-1.5, 0.0), (1.0, 4.0))]
    with pytest.raises(NoPath, match=r"no route from \(5\.000, 0\.000\) to goal \(0\.000, 0\.000\)"):
        plan_path((5.0, 0.0), (0.0, 0.0), walls, 0.1)


def test_bounds_close_the_way_around() -> None:
    wall = Obstacle("wall", (0.0, 0.0), (0.2, 2.0))
    assert len(plan_path((-1.0, 0.0), (1.0, 0.0), [wall], 0.3, (-3.0, -3.0, 3.0, 3.0))) == 4
    with pytest.raises(NoPath, match=r"no route .* within x -3\.\.3, y -1\.\.1"):
        plan_path((-1.0, 0.0), (1.0, 0.0), [wall], 0.3, (-3.0, -1.0, 3.0, 1.0))
    with pytest.raises(NoPath, match=r"goal .* is outside the bounds"):
        plan_path((-1.0, 0.0), (4.0, 0.0), [wall], 0.3, (-3.0, -3.0, 3.0, 3.0))


def test_bad_inputs_are_limit_violations() -> None:
    with pytest.raises(LimitViolation, match="goal"):
        plan_path((0.0, 0.0), (math.nan, 0.0), [], 0.3)
    with pytest.raises(LimitViolation, match="clearance_m"):
        plan_path((0.0, 0.0), (1.0, 0.0), [], -0.1)
    with pytest.raises(LimitViolation, match="bounds"):
        plan_path((0.0, 0.0), (1.0, 0.0), [], 0.1, (1.0, 0.0, 0.0, 1.0))


def test_goal_at_the_start_is_a_one_point_path() -> None:
    assert plan_path((3.0, 3.0), (3.0, 3.0), [TABLE], 0.3) == [(3.0, 3.0)]


rectangles = st.builds(
    Obstacle, st.just("box"),
    st.tuples(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0)),
    st.tuples(st.floats(0.1, 2.0), st.floats(0.1, 2.0)),
    st.one_of(st.just(0.0), st.floats(-math.pi, math.pi)))
points = st.tuples(st.floats(-5.0, 5.0), st.floats(-5.0, 5.0))


@settings(max_examples=200, deadline=None)
@given(st.lists(rectangles, min_size=1, max_size=6), points, points, st.floats(0.0, 0.5))
def test_no_segment_ever_crosses_a_grown_obstacle(obstacles: list[Obstacle], start: Point,
                                                  goal: Point, clearance_m: float) -> None:
    assume(not any(o.contains(p, clearance_m) for o in obstacles for p in (start, goal)))
    assume(math.dist(start, goal) > 1e-6)
    try:
        path = plan_path(start, goal, obstacles, clearance_m)
    except NoPath:
        return  # a pocket walled in by overlapping rectangles
    assert path[0] == start and path[-1] == goal
    assert path_length_m(path) >= math.dist(start, goal) - 1e-9
    _assert_clear(path, obstacles, clearance_m)


# --- timing --------------------------------------------------------------------------------
def _samples(profile: Profile, dt: float = 0.002) -> list[tuple[float, ...]]:
    n = math.ceil(profile.duration_s / dt) + 2
    return [(i * dt, *profile.sample(i * dt)) for i in range(n)]


def test_profile_respects_speed_acceleration_and_turn_rate() -> None:
    path = plan_path((-2.0, 0.2), (2.0, 0.2), [TABLE], 0.3)
    profile = time_path(path, 0.0, math.pi / 2, max_speed_m_s=0.8, max_accel_m_s2=0.5,
                        max_turn_rad_s=0.6, max_turn_accel_rad_s2=1.0)
    samples = _samples(profile)
    dt = samples[1][0] - samples[0][0]
    for (_, x0, y0, yaw0, vx0, vy0, wz0), (_, x1, y1, yaw1, vx1, vy1, wz1) in itertools.pairwise(samples):
        assert math.hypot(vx0, vy0) <= 0.8 + 1e-9 and abs(wz0) <= 0.6 + 1e-9
        assert math.hypot(x1 - x0, y1 - y0) <= 0.8 * dt + 1e-9  # positions follow the speeds
        assert abs(math.remainder(yaw1 - yaw0, 2 * math.pi)) <= 0.6 * dt + 1e-9
        assert math.hypot(vx1 - vx0, vy1 - vy0) <= 0.5 * dt + 1e-9
        assert abs(wz1 - wz0) <= 1.0 * dt + 1e-9
        assert wz0 == 0.0 or math.hypot(vx0, vy0) == 0.0  # turns happen in place
    assert max(math.hypot(s[4], s[5]) for s in samples) == pytest.approx(0.8)
    end = profile.sample(profile.duration_s + 1.0)
    assert (end.x_m, end.y_m, end.yaw_rad) == pytest.approx((2.0, 0.2, math.pi / 2))
    assert (end.vx_m_s, end.vy_m_s, end.wz_rad_s) == (0.0, 0.0, 0.0)
    assert profile.length_m == pytest.approx(path_length_m(path))


def test_profile_walks_facing_each_segment_along_the_waypoints() -> None:
    path = [(0.0, 0.0), (1.0, 0.0), (1.0, 2.0)]
    profile = time_path(path, math.pi, 0.0, max_accel_m_s2=1.0, max_turn_rad_s=1.0)
    for t, x, y, yaw, vx, vy, _ in _samples(profile, 0.01):
        if math.hypot(vx, vy) > 1e-9:
            assert yaw == pytest.approx(math.atan2(vy, vx))
            assert min(abs(y), abs(x - 1.0)) == pytest.approx(0.0, abs=1e-9), t


def test_short_segment_is_a_triangle_below_the_speed_limit() -> None:
    profile = time_path([(0.0, 0.0), (0.1, 0.0)], 0.0, 0.0, max_accel_m_s2=1.0, max_turn_rad_s=1.0)
    assert profile.duration_s == pytest.approx(2.0 * math.sqrt(0.1))
    assert profile.sample(profile.duration_s / 2).vx_m_s == pytest.approx(math.sqrt(0.1))


def test_speed_above_one_metre_per_second_is_refused() -> None:
    assert MAX_WALK_SPEED_M_S == 1.0
    with pytest.raises(LimitViolation, match=r"max_speed_m_s 1\.5 exceeds 1\.0 m/s"):
        time_path([(0.0, 0.0), (1.0, 0.0)], 0.0, 0.0, max_speed_m_s=1.5, max_accel_m_s2=1.0,
                  max_turn_rad_s=1.0)


def test_non_positive_limits_are_refused() -> None:
    with pytest.raises(LimitViolation, match="max_turn_rad_s"):
        time_path([(0.0, 0.0)], 0.0, 1.0, max_accel_m_s2=1.0, max_turn_rad_s=0.0)


# --- the footprint of the packaged worlds --------------------------------------------------
@pytest.fixture
def line2() -> Iterator[SimWorld]:
    world = load_world("line2")
    yield world
    world.close()


def test_arm_cell_table_is_an_obstacle_and_the_floor_is_not() -> None:
    world = load_world("arm_cell")
    try:
        assert isinstance(world, PhysicsWorld)
        obstacles = {o.name: o for o in world.obstacles()}
    finally:
        world.close()
    assert "floor" not in obstacles
    table = obstacles["table"]
    assert table.center_m == pytest.approx((0.3, 0.0)) and table.size_m == pytest.approx((1.0, 1.3))


def test_line2_footprint_is_its_two_tables_and_three_trays(line2: SimWorld) -> None:
    obstacles = {o.name: o for o in line2.obstacles()}
    assert sorted(obstacles) == ["handover", "infeed", "outfeed", "table_a", "table_b"]
    assert obstacles["table_a"].center_m == pytest.approx((0.3, -0.5))
    assert obstacles["table_b"].center_m == pytest.approx((0.3, 0.5))
    assert all(obstacles[t].size_m == pytest.approx((1.0, 1.0)) for t in ("table_a", "table_b"))
    assert obstacles["infeed"].size_m == pytest.approx((0.34, 0.34))


def test_walking_past_line2_goes_around_both_tables(line2: SimWorld) -> None:
    obstacles = line2.obstacles()
    path = plan_path((1.5, -1.5), (-0.5, 1.5), obstacles, 0.35)
    _assert_clear(path, obstacles, 0.35)
    with pytest.raises(NoPath, match="inside obstacle 'table_a', 'infeed'"):
        plan_path((1.5, -1.5), (0.5, -0.5), obstacles, 0.35)


def test_urdf_and_tilted_objects_are_bounded_by_their_aabb(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(
        "objects:\n"
        "  - {name: floor, kind: urdf, urdf: plane.urdf}\n"
        "  - {name: desk, kind: urdf, urdf: table/table.urdf, position: [2.0, 1.0, 0.0]}\n"
        "  - {name: turned, kind: box, size: [1.0, 0.5, 0.4], position: [-2.0, 0.0, 0.2],\n"
        "     orientation_rpy: [0.0, 0.0, 0.5]}\n"
        "  - {name: mat, kind: box, size: [1.0, 1.0, 0.005], position: [0.0, -3.0, 0.0025]}\n")
    world = load_world(str(tmp_path / "w.yaml"))
    try:
        obstacles = {o.name: o for o in world.obstacles()}
    finally:
        world.close()
    assert sorted(obstacles) == ["desk", "turned"]  # the floor and a flat mat are walked on
    assert obstacles["desk"].center_m == pytest.approx((2.0, 1.0), abs=0.01)
    assert obstacles["desk"].yaw_rad == 0.0 and min(obstacles["desk"].size_m) > 0.5
    assert obstacles["turned"].yaw_rad == pytest.approx(0.5)
    assert obstacles["turned"].size_m == pytest.approx((1.0, 0.5))
