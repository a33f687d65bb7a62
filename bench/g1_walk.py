"""The G1 walking in PyBullet: success rates over seeded runs, speed, margins, sim speed.

Scenarios (each run: a fresh world at 480 Hz, the legs component on a ControlLoop ticked
on the simulation clock):

    turn5    5 m: 2.5 m straight, a 90 deg left turn, 2.5 m (ends facing +y)
    load10   10 m straight carrying a 3 kg box held in front of the body. STAND-IN: the
             box is fixed to both hands by rigid constraints (no grasp, no friction);
             the legs' model is told its mass (G1Body.attach_box)
    push     5 m straight with a 50 N sideways push on the pelvis for 0.15 s half-way

Margins are the legs' `min_margin_m`: the lowest stability margin held for the debounce
time (the figure the margin floor is compared with).

A seed perturbs the start: joint angles (normal noise, 0.005 rad), the feet's lateral
friction (x U(0.9, 1.1)) and the settling time before the walk (0.5-0.6 s). A run succeeds
when the goal succeeds (arrived within 5 cm, 0.06 rad; no Unstable, no Fallen).

    python -m bench.g1_walk --seeds 20 --tier dynamic --json out.json
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench import save_json

SCENARIOS = ("turn5", "load10", "push")
DT = 1.0 / 480.0
PUSH_N = 50.0
PUSH_S = 0.15


@dataclass(frozen=True)
class Run:
    scenario: str
    seed: int
    tier: str
    margin_floor_m: float | None = None


def run_one(run: Run) -> dict[str, Any]:
    import numpy as np
    import pybullet as p

    from cellwright.api.geometry import Pose
    from cellwright.robots import ControlLoop
    from cellwright.robots.sim.g1.body import FOOT_CONTACT, G1Body
    from cellwright.robots.sim.g1.legs import G1Legs
    from cellwright.testing.worlds import PlaneWorld

    rng = np.random.default_rng(run.seed)
    world = PlaneWorld(DT)
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=False, label="g1")
    if run.scenario == "turn5":
        target = (2.5, 2.5, math.pi / 2)

        def plan(start: tuple[float, float], goal: tuple[float, float]) -> list[tuple[float, float]]:
            return [(2.5, 0.0), goal]
    else:
        target = (10.0, 0.0, 0.0) if run.scenario == "load10" else (5.0, 0.0, 0.0)

        def plan(start: tuple[float, float], goal: tuple[float, float]) -> list[tuple[float, float]]:
            return [goal]
    config: dict[str, Any] = {"walking": run.tier}
    if run.margin_floor_m is not None:
        config["margin_floor_m"] = run.margin_floor_m
    legs = G1Legs("g1/legs", body, config, plan_path=plan)
    faults: list[Any] = []
    body.add_fault_listener(faults.append)
    loop = ControlLoop(DT, world=world)
    loop.add(legs)
    legs.activate()
    for name in body.joint_names:
        index = body.joint_index[name]
        angle = p.getJointState(body.id, index, physicsClientId=world.client)[0]
        p.resetJointState(body.id, index, angle + rng.normal(0.0, 0.005), physicsClientId=world.client)
    for link in body.foot_links.values():
        p.changeDynamics(body.id, body.link_index[link], physicsClientId=world.client,
                         lateralFriction=FOOT_CONTACT["lateralFriction"] * rng.uniform(0.9, 1.1))
    if run.scenario == "load10":
        carry_pose(body)
        for _ in range(240):
            loop.tick()
        body.attach_box(3.0, (0.1, 0.15, 0.08), ["left_rubber_hand", "right_rubber_hand"],
                        hand_to_box(body))
    for _ in range(240 + int(rng.integers(0, 48))):
        loop.tick()
    start_xy = legs.state().pose.position[:2]
    goal = legs.walk_to(*target, timeout_s=400.0)
    wall = time.perf_counter()
    t0 = loop.now_s()
    push_at: float | None = None
    below_s = longest_below_s = 0.0
    while not goal.done() and loop.now_s() - t0 < 400.0:
        if run.scenario == "push" and push_at is None and legs.state().pose.position[0] > 2.5:
            push_at = loop.now_s()
        if push_at is not None and loop.now_s() - push_at < PUSH_S:
            p.applyExternalForce(body.id, -1, (0.0, PUSH_N, 0.0), body.pelvis_pose().position,
                                 p.WORLD_FRAME, physicsClientId=world.client)
        loop.tick()
        margin = legs.state().margin_m
        below_s = below_s + DT if margin < 0.0 else 0.0
        longest_below_s = max(longest_below_s, below_s)
    min_margin = legs.min_margin_m
    wall = time.perf_counter() - wall
    sim = loop.now_s() - t0
    error = goal.error() if goal.done() else None
    state = legs.state()
    end_xy = state.pose.position[:2]
    peak, mean = legs.helper_wrench_summary()
    world.close()
    return {"scenario": run.scenario, "seed": run.seed, "tier": run.tier,
            "success": goal.done() and error is None,
            "error": "" if error is None and goal.done() else (error.reason if error else "no result"),
            "message": str(error) if error else "",
            "sim_s": sim, "wall_s": wall, "distance_m": state.distance_walked_m,
            "straight_m": math.dist(start_xy, end_xy),
            "mean_speed_m_s": (state.distance_walked_m / sim) if sim > 0 else 0.0,
            "min_margin_walking_m": min_margin, "pushed": push_at is not None,
            "longest_margin_below_0_s": longest_below_s,
            "fell": any(f.reason == "fallen" for f in faults),
            "helper_peak_n": peak, "helper_mean_n": mean}


def carry_pose(body: Any) -> None:
    """Both forearms forward at waist height (where the stand-in box goes)."""
    pose = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        pose.update({f"{side}_shoulder_pitch_joint": -0.35, f"{side}_shoulder_roll_joint": 0.0 * sign,
                     f"{side}_elbow_joint": 1.2, f"{side}_wrist_roll_joint": 0.0})
    body.command(list(pose), list(pose.values()))
    body.flush()


def hand_to_box(body: Any) -> tuple[float, float, float]:
    """The box's centre between the hands, in the left hand's frame."""
    import pybullet as p

    left = body.link_pose("left_rubber_hand")
    right = body.link_pose("right_rubber_hand")
    middle = [(a + b) / 2 for a, b in zip(left.position, right.position, strict=True)]
    inv_pos, inv_orn = p.invertTransform(left.position, left.orientation)
    local, _ = p.multiplyTransforms(inv_pos, inv_orn, middle, (0.0, 0.0, 0.0, 1.0))
    return (float(local[0]), float(local[1]), float(local[2]))


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    table = {}
    for scenario in SCENARIOS:
        rows = [r for r in results if r["scenario"] == scenario]
        if not rows:
            continue
        ok = [r for r in rows if r["success"]]
        table[scenario] = {
            "runs": len(rows), "successes": len(ok),
            "failures": {r["seed"]: r["error"] for r in rows if not r["success"]},
            "falls": sum(1 for r in rows if r["fell"]),
            "longest_margin_below_0_s": max(r["longest_margin_below_0_s"] for r in rows),
            "mean_speed_m_s": sum(r["mean_speed_m_s"] for r in ok) / len(ok) if ok else 0.0,
            "min_margin_walking_m": min(r["min_margin_walking_m"] for r in rows),
            "median_min_margin_walking_m": sorted(r["min_margin_walking_m"] for r in rows)[len(rows) // 2],
            "sim_x_real_time": sum(r["sim_s"] for r in rows) / max(1e-9, sum(r["wall_s"] for r in rows)),
            "helper_peak_n": max(r["helper_peak_n"] for r in rows),
            "helper_mean_n": sum(r["helper_mean_n"] for r in rows) / len(rows),
        }
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tier", choices=("dynamic", "guided"), default="dynamic")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default="")
    parser.add_argument("--margin-floor", type=float, default=None,
                        help="override the legs' margin_floor_m (m; to measure margins without the trigger)")
    args = parser.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    runs = [Run(s, seed, args.tier, args.margin_floor) for s in scenarios
            for seed in range(args.first_seed, args.first_seed + args.seeds)]
    print(f"G1 walking, tier {args.tier}, physics {1 / DT:.0f} Hz, {len(runs)} runs on "
          f"{args.workers} workers", flush=True)
    if "load10" in scenarios:
        print("load10: STAND-IN load: a 3 kg box fixed to both hands by rigid constraints "
              "(not a friction grasp)", flush=True)
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for result in pool.imap_unordered(run_one, runs):
            results.append(result)
            mark = "ok " if result["success"] else f"FAIL ({result['error']}: {result['message'][:80]})"
            print(f"[{len(results):3d}/{len(runs)}] {result['scenario']:6s} seed {result['seed']:2d} "
                  f"{mark} {result['sim_s']:6.1f} s sim, {result['distance_m']:5.2f} m, "
                  f"{result['mean_speed_m_s']:.3f} m/s, min margin {result['min_margin_walking_m'] * 1000:6.1f} mm, "
                  f"below 0 for {result['longest_margin_below_0_s']:.2f} s, "
                  f"{result['sim_s'] / max(result['wall_s'], 1e-9):.2f}x real time", flush=True)
    table = summarize(results)
    print(f"\n{'scenario':8s} {'success':>9s} {'falls':>6s} {'speed m/s':>10s} {'min margin mm':>14s} "
          f"{'median min mm':>14s} {'below 0 s':>10s} {'x real time':>12s} {'helper peak N':>14s}")
    for scenario, row in table.items():
        print(f"{scenario:8s} {row['successes']:>4d}/{row['runs']:<4d} {row['falls']:>6d} "
              f"{row['mean_speed_m_s']:>10.3f} "
              f"{row['min_margin_walking_m'] * 1000:>14.1f} {row['median_min_margin_walking_m'] * 1000:>14.1f} "
              f"{row['longest_margin_below_0_s']:>10.2f} "
              f"{row['sim_x_real_time']:>12.2f} {row['helper_peak_n']:>14.1f}")
    print(f"wall {time.perf_counter() - started:.0f} s")
    save_json(args.json, {"tier": args.tier, "physics_hz": 1 / DT, "seeds": args.seeds,
                          "first_seed": args.first_seed, "stand_in_load": "load10" in scenarios,
                          "summary": table, "runs": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
