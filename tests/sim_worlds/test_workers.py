"""Simulated workers: the `workers:` world-file key, their routes on the simulation clock,
their bodies in PyBullet (real PyBullet, DIRECT)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pybullet as p
import pytest
import yaml

from cellwright.robots import BuildContext, CollisionDetected, ControlLoop, build_robot
from cellwright.sim_worlds import SimWorld, WorldConfigError, load_world
from cellwright.sim_worlds.routes import walk
from cellwright.sim_worlds.spec import WorkerSpec, parse_world

WORLD = """
name: aisle
objects:
  - {name: floor, kind: urdf, urdf: plane.urdf}
workers:
  - {name: alice, route: [[0, 0], [3, 0]], pause_s: 0.5, start_delay_s: 1.0}
  - {name: bob, route: [[0, 2], [2, 2], [2, 4]], mode: loop, speed_m_s: 1.0, radius_m: 0.3}
"""


@pytest.fixture
def aisle(tmp_path: Path) -> Path:
    path = tmp_path / "aisle.yaml"
    path.write_text(WORLD)
    return path


@pytest.fixture
def world(aisle: Path) -> Iterator[SimWorld]:
    loaded = load_world(str(aisle))
    yield loaded
    loaded.close()


def test_a_back_and_forth_route_waits_walks_pauses_and_comes_back() -> None:
    spec = WorkerSpec("alice", ((0.0, 0.0), (3.0, 0.0)), speed_m_s=1.5, start_delay_s=1.0, pause_s=0.5)
    assert walk(spec, 0.9).position == (0.0, 0.0)
    assert walk(spec, 0.9).velocity == (0.0, 0.0)
    assert walk(spec, 2.0).position == pytest.approx((1.5, 0.0))
    assert walk(spec, 2.0).velocity == pytest.approx((1.5, 0.0))
    assert walk(spec, 3.2).position == pytest.approx((3.0, 0.0))  # pausing at the far end
    assert walk(spec, 3.2).velocity == (0.0, 0.0)
    assert walk(spec, 4.5).position == pytest.approx((1.5, 0.0))
    assert walk(spec, 4.5).velocity == pytest.approx((-1.5, 0.0))
    assert walk(spec, 5.7).position == pytest.approx((0.0, 0.0))  # pausing at the start
    assert walk(spec, 7.0).position == pytest.approx((1.5, 0.0))  # round again: period 5 s


def test_a_loop_goes_round_through_its_corners_and_back_to_the_start() -> None:
    spec = WorkerSpec("bob", ((0.0, 0.0), (2.0, 0.0), (2.0, 2.0)), mode="loop", speed_m_s=1.0)
    assert walk(spec, 3.0).position == pytest.approx((2.0, 1.0))
    assert walk(spec, 3.0).velocity == pytest.approx((0.0, 1.0))
    lap = 4.0 + 8 ** 0.5
    assert walk(spec, 4.0 + 8 ** 0.5 / 2).position == pytest.approx((1.0, 1.0))
    assert walk(spec, lap + 1.0).position == pytest.approx((1.0, 0.0))


def test_workers_walk_their_routes_on_the_simulation_clock(world: SimWorld) -> None:
    world.step(round((2.0 - world.now_s()) / world.dt))
    alice, bob = world.people()
    assert (alice.name, bob.name) == ("alice", "bob")
    assert alice.position == pytest.approx((1.2, 0.0), abs=1e-6)
    assert alice.velocity == pytest.approx((1.2, 0.0))
    assert bob.radius_m == 0.3
    body = next(b for b in range(p.getNumBodies(physicsClientId=world.client))
                if world.body_name(b) == "worker alice")
    position, _ = p.getBasePositionAndOrientation(body, physicsClientId=world.client)
    assert position == pytest.approx((1.2, 0.0, 1.75 / 2), abs=1e-6)
    assert not world.is_part(body)


def test_worker_routes_repeat_exactly_whatever_the_seed(aisle: Path) -> None:
    tracks = []
    for seed in (0, 7):
        world = load_world(str(aisle), seed=seed)
        try:
            track = []
            for _ in range(40):
                world.step(30)
                track.append(world.people())
            tracks.append(track)
        finally:
            world.close()
    assert tracks[0] == tracks[1]
    assert len({people[0].position for people in tracks[0]}) > 10  # they did walk


def test_a_worker_walking_into_an_arm_is_a_collision_naming_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "bump.yaml"
    path.write_text("objects: [{name: floor, kind: urdf, urdf: plane.urdf}]\n"
                    "workers: [{name: walker, route: [[1.5, 0], [0.2, 0]], speed_m_s: 1.0}]\n")
    world = load_world(str(path))
    arm = build_robot("pybullet.panda", BuildContext("panda", world=world), {}).components["arm"]
    loop = ControlLoop(world.dt, world=world)
    loop.add(arm)
    arm.activate()
    try:
        target = np.array(arm.state().position)
        target[0] += 0.5
        goal = arm.move_joints(target, speed=0.05)
        while not goal.done() and loop.now_s() < 10.0:
            loop.tick()
        assert isinstance(goal.error(), CollisionDetected)
        assert "worker walker" in str(goal.error())
    finally:
        arm.shutdown()
        world.close()


@pytest.mark.parametrize("worker, message", [
    ("{name: a, route: [[0, 0]]}", "workers[0].route: expected at least two different"),
    ("{name: a, route: [[0, 0], [0, 0]]}", "workers[0].route: expected at least two different"),
    ("{name: a, route: [[0, 0, 0], [1, 0, 0]]}", "workers[0].route[0]: expected a list of 2"),
    ("{route: [[0, 0], [1, 0]]}", "workers[0]: missing 'name'"),
    ("{name: a, route: [[0, 0], [1, 0]], speed_m_s: 2.5}",
     "workers[0].speed_m_s: 2.5 m/s is faster than people walk (at most 1.6 m/s"),
    ("{name: a, route: [[0, 0], [1, 0]], speed_m_s: 0}", "workers[0].speed_m_s: must be positive"),
    ("{name: a, route: [[0, 0], [1, 0]], pause_s: -1}", "workers[0].pause_s: must be at least 0"),
    ("{name: a, route: [[0, 0], [1, 0]], mode: zigzag}", "workers[0].mode: expected one of ['loop', 'back_and_forth']"),
    ("{name: a, route: [[0, 0], [1, 0]], legs: 2}", "workers[0].legs: unknown key"),
])
def test_bad_workers_are_refused_naming_the_key(worker: str, message: str) -> None:
    with pytest.raises(WorldConfigError, match=re.escape(f"w.yaml: {message}")):
        parse_world(yaml.safe_load(f"workers: [{worker}]"), "w.yaml")


def test_worker_names_are_unique() -> None:
    doc = yaml.safe_load("workers: [{name: a, route: [[0, 0], [1, 0]]}, {name: a, route: [[0, 1], [1, 1]]}]")
    with pytest.raises(WorldConfigError, match=r"w.yaml: workers: names must be unique; given twice: \['a'\]"):
        parse_world(doc, "w.yaml")
