"""Simulation speed of the arm cell beside bare PyBullet stepping the same scene.

Three runs of the same number of physics steps, on the packaged arm_cell world:

- cell: the `pybullet.panda` arm cell in lockstep runs pick_place jobs through its skills
  (control loop, goals, IK, collision checks, ground-truth locator) and publishes its
  state stream at 120 Hz of its clock, as a cell does; no gRPC session;
- replay: bare PyBullet, the same scene and Panda, replaying the joint positions the cell
  recorded at every tick as position targets (the motor work without our code);
- static: bare PyBullet stepping the same scene with the Panda holding still.

It prints the real-time factor (simulated s per wall s) of each and the cell's ratio to
the two bare ceilings, measured in the same run. Prints figures, never asserts:

    python -m bench.sim_speed [--jobs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import pybullet as p

from bench import save_json
from cellwright.cells.config import CellConfig, RobotEntry
from cellwright.cells.environment import Environment
from cellwright.cells.publishing import StatePublishing
from cellwright.cells.skills import SkillContext, get_skill
from cellwright.robots import Arm
from cellwright.robots.models import franka_panda
from cellwright.sim_worlds import load_world
from cellwright.v1 import state_pb2

JOBS = [("red_cube", "outfeed_a"), ("green_cube", "outfeed_b"), ("blue_cube", "outfeed_a"),
        ("red_cube", "outfeed_b"), ("green_cube", "outfeed_a"), ("blue_cube", "outfeed_b")]


def run_cell(jobs: int) -> tuple[float, list[list[float]], float]:
    """Run `jobs` pick_place jobs; return (wall s, joint positions per tick, sim s)."""
    environment = Environment.build([CellConfig(
        cell_id="bench", world="arm_cell", robots={"panda": RobotEntry("pybullet.panda", "panda")},
        clock="lockstep")])
    runtime = environment.cells["bench"]
    arm = runtime.robots["panda"].of_kind(Arm)[0]
    positions: list[list[float]] = []
    runtime.loop.add_listener(lambda _now: positions.append(arm.state().position.tolist()),
                              runtime.loop.dt, when_idle=False)
    ctx = SkillContext(runtime.robots, runtime.layout, runtime.parts, runtime.loop.now_s,
                       runtime.loop.sleep)
    environment.start()
    publishing = StatePublishing("bench", runtime, lambda now: state_pb2.CellState(
        cell_id="bench", clock_s=now), "tcp://127.0.0.1:0", 120.0)  # as a cell publishes
    try:
        start_sim, start = runtime.loop.now_s(), time.perf_counter()
        for i, (part, tray) in enumerate(JOBS[:jobs], 1):
            result = get_skill("pick_place").run(ctx, {"part": part, "place_at": tray})
            print(f"  cell: job {i}/{jobs} {part} -> {tray} in {result['cycle_time_s']:.2f} s "
                  f"(sim)", flush=True)
        wall = time.perf_counter() - start
        sim = runtime.loop.now_s() - start_sim
    finally:
        publishing.close()
        environment.close()
    return wall, positions, sim


def run_bare(positions: list[list[float]], replay: bool) -> float:
    """Step the bare scene once per recorded tick; return wall seconds."""
    world = load_world("arm_cell", seed=0)
    client = world.client
    try:
        mount = world.layout.mount("panda")
        body = p.loadURDF(franka_panda.URDF_PATH, mount.position, mount.orientation,
                          useFixedBase=True, physicsClientId=client)
        names = {p.getJointInfo(body, j, physicsClientId=client)[1].decode(): j
                 for j in range(p.getNumJoints(body, physicsClientId=client))}
        joints = [names[n] for n in franka_panda.ARM_JOINTS]
        efforts = [p.getJointInfo(body, j, physicsClientId=client)[10] for j in joints]
        for j, value in zip(joints, positions[0], strict=True):
            p.resetJointState(body, j, value, physicsClientId=client)
        hold = positions[0]
        start = time.perf_counter()
        for target in positions:
            p.setJointMotorControlArray(body, joints, p.POSITION_CONTROL,
                                        targetPositions=target if replay else hold,
                                        forces=efforts, physicsClientId=client)
            world.step()
        return time.perf_counter() - start
    finally:
        world.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3, help="pick_place jobs (1..6)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    jobs = max(1, min(args.jobs, len(JOBS)))
    print(f"sim_speed: {jobs} pick_place jobs on arm_cell, then bare PyBullet for the same steps")
    cell_wall, positions, sim = run_cell(jobs)
    ticks = len(positions)
    print(f"  replaying {ticks} ticks in bare PyBullet ...", flush=True)
    replay_wall = run_bare(positions, replay=True)
    static_wall = run_bare(positions, replay=False)
    dt = sim / ticks
    rows = [("cell (pybullet.panda, lockstep)", cell_wall), ("bare replay of its joint positions", replay_wall),
            ("bare static scene", static_wall)]
    print(f"\n{'run':38} {'wall s':>8} {'x real time':>12} {'steps/s':>9}")
    for name, wall in rows:
        print(f"{name:38} {wall:8.2f} {ticks * dt / wall:12.1f} {ticks / wall:9.0f}")
    ratios = {"cell/replay": replay_wall / cell_wall, "cell/static": static_wall / cell_wall}
    print(f"\ncell speed as a share of bare PyBullet: {ratios['cell/replay']:.2f} of the replay, "
          f"{ratios['cell/static']:.2f} of the static scene ({ticks} steps, {sim:.1f} s simulated)")
    report: dict[str, Any] = {
        "machine": platform.platform(), "python": platform.python_version(), "jobs": jobs,
        "ticks": ticks, "sim_s": sim, "wall_s": {name: wall for name, wall in rows},
        "ratios": ratios}
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
