"""A worker walking into a walking humanoid's path: the monitor slows it, then stops it
(a protective stop: it finishes its step and stands), and the walk goes on and arrives
once the worker has passed."""

from __future__ import annotations

from pathlib import Path

from cellwright.cells.config import CellConfig, RobotEntry
from cellwright.cells.environment import Environment
from cellwright.robots import LeggedBase

WORLD = """\
name: aisle
physics: {dt: 0.0020833333333333333}
objects:
  - {name: floor, kind: urdf, urdf: plane.urdf}
workers:
  # crosses the humanoid's path 0.8 m ahead of it, then stays away
  - {name: worker, route: [[0.8, 2.5], [0.8, -2.5]], mode: back_and_forth, speed_m_s: 1.0,
     start_delay_s: 1.0, pause_s: 600.0}
"""


def test_a_worker_in_the_path_stops_the_walk_which_then_arrives(tmp_path: Path) -> None:
    world = tmp_path / "aisle.yaml"
    world.write_text(WORLD)
    robots = {"g1": RobotEntry("pybullet.g1", options={"hands": False}),
              "people": RobotEntry("pybullet.presence")}
    environment = Environment.build([CellConfig(cell_id="humanoid", world=str(world),
                                                robots=robots, clock="lockstep")])
    environment.start()
    try:
        runtime = environment.cells["humanoid"]
        legs = runtime.robots["g1"].of_kind(LeggedBase)[0]
        stopped_at: list[float] = []  # pelvis x at every tick of a protective stop

        def watch(_now_s: float) -> None:
            if runtime.safety.record().of("g1/legs").zone == "protective":
                stopped_at.append(legs.state().pose.position[0])

        runtime.loop.add_listener(watch, runtime.loop.dt, when_idle=False)
        legs.walk_to(1.0, 0.0, 0.0, timeout_s=120.0).result(600)
        # it finishes the step in progress (<= 0.8 s at 480 Hz), then stands where it is
        settled = stopped_at[int(1.0 * 480):]
        assert settled and max(settled) - min(settled) < 0.02
        record = runtime.safety.record().of("g1/legs")
        assert record.protective_stops >= 1
        assert record.min_separation_m < runtime.safety.record().config.protective_m
        x, y, _z = legs.state().pose.position
        assert abs(x - 1.0) < 0.1 and abs(y) < 0.1
        assert legs.state().phase == "standing"
    finally:
        environment.close()
