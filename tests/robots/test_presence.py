"""The presence component kind and its simulated implementation, `pybullet.presence`."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellwright.robots import ROBOTS, BuildContext, ControlLoop, build_robot
from cellwright.robots.presence import Presence, PresenceInfo
from cellwright.sim_worlds import load_world

WORLD = """
objects: [{name: floor, kind: urdf, urdf: plane.urdf}]
workers:
  - {name: alice, route: [[0, 3], [4, 3]], speed_m_s: 1.0}
  - {name: bob, route: [[2, -1], [2, -4]], start_delay_s: 5.0, radius_m: 0.3}
"""


def test_the_simulated_sensor_sees_every_worker_and_says_it_reads_ground_truth(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(WORLD)
    world = load_world(str(tmp_path / "w.yaml"))
    robot = build_robot("pybullet.presence", BuildContext("people", world=world), {})
    sensor = robot.components["presence"]
    assert isinstance(sensor, Presence)
    loop = ControlLoop(world.dt, world=world)
    loop.add(sensor)
    sensor.activate()
    try:
        for _ in range(240):
            loop.tick()
        state = sensor.state()
        assert state.stamp_s == pytest.approx(1.0)
        assert state.people == world.people()
        alice, bob = state.people
        assert alice.name == "alice"
        assert alice.position == pytest.approx((1.5, 3.0))  # the world's clock: 0.5 s of settling first
        assert alice.velocity == pytest.approx((1.0, 0.0))
        assert (bob.position, bob.velocity, bob.radius_m) == ((2.0, -1.0), (0.0, 0.0), 0.3)
        info = sensor.info()
        assert isinstance(info, PresenceInfo)
        assert (info.name, info.kind, info.driver) == ("people/presence", "presence", "pybullet")
        assert info.approximation.startswith("reads the simulator's ground truth of worker positions; "
                                             "a real one would be a safety laser scanner or a camera")
        assert robot.approximations == (info.approximation,)
    finally:
        sensor.shutdown()
        world.close()


def test_pybullet_presence_is_registered_and_needs_a_world_with_people() -> None:
    assert ROBOTS.get("pybullet.presence").model == "presence_sensor"
    with pytest.raises(ValueError, match=r"pybullet\.presence needs a PyBullet world"):
        build_robot("pybullet.presence", BuildContext("people"), {})
    with pytest.raises(TypeError, match=r"needs a world with now_s\(\) and people\(\); got object"):
        build_robot("pybullet.presence", BuildContext("people", world=object()), {})
