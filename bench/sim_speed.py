"""Simulation speed of cells beside a bare PyBullet loop stepping the same bodies.

Cases (`--cases`, default all that can be built here):

    arm       world `arm_cell` (Panda, table, trays, 9 cubes; 240 Hz): a `pybullet.panda`
              cell runs `pick_place` jobs through the skill on its environment
    standing  a floor-only world (480 Hz, written by this script): a `pybullet.g1` cell
              stands (legs' balance control every tick) for a given simulated time
    walking   the same world: the G1 walks forward (`walk_to`)
    line      world `line` (480 Hz): cell `kitter` (Panda) kits parts into the tote with
              `pick_place` while cell `humanoid` (G1) is there too, both
              at once on the one loop, the G1 standing beside the table (balancing
              every tick); `--line-g1 walk` has it walk along the aisle instead (it
              turns from the table first: in the one run on 2026-12-01 it fell doing
              so, a hand on the floor), `none` leaves it out

While `pybullet.g1` is not in the robot registry, the bench registers a stand-in built
from `G1Body` and `G1Legs` only (no arm or hand components) and says so.

Every cell runs on a lockstep control loop (as fast as the CPU allows), with its state
stream published as a cell does (`StatePublishing`, 120 Hz of its clock; no gRPC session).

The bare loop, per case and in the same run:

1. `load_world` of the same world file and seed; the same robots built by the same
   registry factories on the same mounts and activated (so the bodies are loaded by the
   same code: URDF, flags, dynamics, constraints, collision filters), and never ticked;
2. `p.restoreState` of a `.bullet` snapshot taken in the cell's world just before its work
   began (every body's pose and velocity, so both start from the same state);
3. timed: a plain Python loop of `p.stepSimulation`, as many steps as the cell ticked, with
   - replay: before each step, the very PyBullet calls that changed the world between the
     cell's steps (motor commands, constraint changes, workers moved, ...), recorded in
     an untimed cell run and called again with the same arguments;
   - held: the first tick's recorded calls once, then stepping only (robots hold their
     first targets: the static scene).
   The bare replay's final state is compared with the cell's (bodies' positions), to show
   it did the same physical work (an open-loop replay may drift).

Aim: the cell loop costs at most 25 % over bare stepping: cell speed >= 0.8 of the replay.
Timed runs are interleaved (cell, replay, held) `--repeats` times; medians are printed.
A last cell run under cProfile (the loop thread and the skill threads) says where the
cell's time goes: physics (`stepSimulation`), other PyBullet calls, our Python by module
(own time; Pinocchio's calls are Boost.Python functions, which cProfile does not see, so
their time counts in the G1 module that calls them). Prints figures, never asserts:

    python -m bench.sim_speed [--cases arm,standing,walking,line] [--repeats 3]
        [--jobs N] [--stand-s S] [--walk-m M] [--line-walk-m M] [--line-g1 walk|stand|none]
        [--quick] [--top N] [--json PATH]
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import platform
import pstats
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pybullet as p

from bench import save_json
from cellwright.cells.config import CellConfig, RobotEntry
from cellwright.cells.environment import CellRuntime, Environment
from cellwright.cells.publishing import StatePublishing
from cellwright.cells.skills import SkillContext, get_skill
from cellwright.robots import ROBOTS, BuildContext, build_robot
from cellwright.robots.legged import LeggedBase
from cellwright.sim_worlds import load_world
from cellwright.v1 import state_pb2

AIM = 0.8
"""Cell speed as a share of the bare replay that the issue aims at (<= 25 % overhead)."""

ARM_JOBS = [("red_cube", "outfeed_a"), ("green_cube", "outfeed_b"), ("blue_cube", "outfeed_a"),
            ("red_cube", "outfeed_b"), ("green_cube", "outfeed_a"), ("blue_cube", "outfeed_b")]
LINE_PARTS = ["red_cube", "green_cube", "blue_cube"]
ROOT = Path(__file__).resolve().parents[1]

# PyBullet calls that change the world; recorded between the cell's steps and replayed.
MUTATORS = (
    "setJointMotorControlArray", "setJointMotorControl2", "setJointMotorControlMultiDof",
    "setJointMotorControlMultiDofArray", "resetJointState", "resetJointStateMultiDof",
    "resetJointStatesMultiDof", "resetBasePositionAndOrientation", "resetBaseVelocity",
    "changeDynamics", "changeConstraint", "createConstraint", "removeConstraint",
    "applyExternalForce", "applyExternalTorque", "setCollisionFilterPair",
    "setCollisionFilterGroupMask", "createCollisionShape", "createVisualShape",
    "createMultiBody", "removeBody", "loadURDF",
)

FLOOR_WORLD = """\
# sim_speed's humanoid world: a floor, nothing else. 480 Hz as the line (docs/humanoids.md).
name: sim_speed_floor
description: a floor for the humanoid alone
layout: floor.layout.yaml
physics: {dt: 0.0020833333333333333, gravity: [0.0, 0.0, -9.81], solver_iterations: 100}
objects:
  - {name: floor, kind: urdf, urdf: plane.urdf}
"""
FLOOR_LAYOUT = """\
apiVersion: cellwright/v1
kind: Layout
name: sim_speed_floor
mounts:
  g1: {position: [0.0, 0.0, 0.0], orientation_rpy: [0.0, 0.0, 0.0]}
"""


# --- cases ------------------------------------------------------------------------------
Work = Callable[[Environment], list[Callable[[], str]]]
"""Given the started environment, the jobs to run, one thread each; each returns a note."""


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    configs: Callable[[], list[CellConfig]]
    work: Work
    needs_g1: bool = False


def skill_context(runtime: CellRuntime) -> SkillContext:
    return SkillContext(runtime.robots, runtime.layout, runtime.parts, runtime.loop.now_s,
                        runtime.loop.sleep)


def pick_places(runtime: CellRuntime, jobs: Sequence[tuple[str, str]], label: str,
                extra: dict[str, Any] | None = None) -> Callable[[], str]:
    def run() -> str:
        ctx, skill, cycles = skill_context(runtime), get_skill("pick_place"), []
        for i, (part, place) in enumerate(jobs, 1):
            result = skill.run(ctx, {"part": part, "place_at": place, **(extra or {})})
            cycles.append(result["cycle_time_s"])
            print(f"      {label}: job {i}/{len(jobs)} {part} -> {place} "
                  f"in {result['cycle_time_s']:.2f} s (sim)", flush=True)
        return f"{label}: {len(jobs)} pick_place, cycles {', '.join(f'{c:.2f}' for c in cycles)} s"
    return run


def legs_of(runtime: CellRuntime) -> LeggedBase:
    for robot in runtime.robots.values():
        found = robot.of_kind(LeggedBase)
        if found:
            return found[0]
    raise RuntimeError("no legged base in the cell")


def walk(runtime: CellRuntime, dx: float, dy: float, label: str) -> Callable[[], str]:
    """One `walk_to` by (dx, dy) from where the G1 stands, ending facing the way it walked
    (it turns there first if it faces elsewhere)."""
    legs = legs_of(runtime)

    def run() -> str:
        x0, y0, _ = legs.state().pose.position
        start = runtime.loop.now_s()
        legs.walk_to(x0 + dx, y0 + dy, math.atan2(dy, dx), timeout_s=600.0).result()
        state = legs.state()
        return (f"{label}: walked {state.distance_walked_m:.2f} m in {runtime.loop.now_s() - start:.1f} s "
                f"(sim; the legs' odometer), pelvis at {state.pose.position[2]:.3f} m, tier {state.tier}, min margin "
                f"{getattr(legs, 'min_margin_m', math.nan) * 1000:.0f} mm")
    return run


def yaw_of(q: Sequence[float]) -> float:
    x, y, z, w = q
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def stand(runtime: CellRuntime, seconds: float) -> Callable[[], str]:
    legs = legs_of(runtime)

    def run() -> str:
        runtime.loop.sleep(seconds).result()
        state = legs.state()
        return (f"stood {seconds:g} s (sim), phase {state.phase}, pelvis at "
                f"{state.pose.position[2]:.3f} m, feet {list(state.feet_in_contact)}, "
                f"margin {state.margin_m * 1000:.0f} mm")
    return run


def make_cases(args: argparse.Namespace, floor_world: str) -> dict[str, Case]:
    def arm_cell() -> list[CellConfig]:
        return [CellConfig(cell_id="arm", world="arm_cell",
                           robots={"panda": RobotEntry("pybullet.panda", "panda")}, clock="lockstep")]

    def floor() -> list[CellConfig]:
        return [CellConfig(cell_id="humanoid", world=floor_world,
                           robots={"g1": RobotEntry("pybullet.g1", "g1")}, clock="lockstep")]

    def line() -> list[CellConfig]:
        kitter = CellConfig(cell_id="kitter", world="line",
                            robots={"panda": RobotEntry("pybullet.panda", "panda")}, clock="lockstep")
        if args.line_g1 == "none":
            return [kitter]
        return [kitter, CellConfig(cell_id="humanoid", world="line",
                                   robots={"g1": RobotEntry("pybullet.g1", "g1")}, clock="lockstep")]

    def line_work(env: Environment) -> list[Callable[[], str]]:
        kitting = pick_places(env.cells["kitter"], [(part, "kitting") for part in parts], "kitter",
                              {"from": "infeed", "retreat_to": "home"})
        if args.line_g1 == "walk":
            return [kitting, walk(env.cells["humanoid"], 0.0, args.line_walk_m, "g1")]
        return [kitting]  # standing: the legs balance every tick while the loop ticks

    jobs = ARM_JOBS[:max(1, min(args.jobs, len(ARM_JOBS)))]
    parts = LINE_PARTS[:max(1, min(args.jobs, len(LINE_PARTS)))]
    line_title = f"line: Panda kits {len(parts)} parts" + {
        "walk": f" while the G1 walks {args.line_walk_m:g} m along the aisle (turning to it first)",
        "stand": " while the G1 stands beside the table (balancing every tick)",
        "none": " (no G1 in the line)"}[args.line_g1]
    return {
        "arm": Case("arm", f"arm cell: {len(jobs)} pick_place on arm_cell", arm_cell,
                    lambda env: [pick_places(env.cells["arm"], jobs, "arm")]),
        "standing": Case("standing", f"humanoid standing {args.stand_s:g} s on a floor", floor,
                         lambda env: [stand(env.cells["humanoid"], args.stand_s)], needs_g1=True),
        "walking": Case("walking", f"humanoid walking {args.walk_m:g} m on a floor", floor,
                        lambda env: [walk(env.cells["humanoid"], args.walk_m, 0.0, "g1")],
                        needs_g1=True),
        "line": Case("line", line_title, line, line_work, needs_g1=args.line_g1 != "none"),
    }


# --- recording PyBullet's world-changing calls ---------------------------------------------
class Recorder:
    """Wraps `MUTATORS` and `stepSimulation` on the pybullet module: the calls made between
    two steps of the world's client become one tick's list (calls on other clients, such
    as the Panda's IK model, are not the world's). Installed only for the untimed recording
    run."""

    def __init__(self, client: int) -> None:
        self.client = client
        self.ticks: list[list[tuple[str, tuple[Any, ...], dict[str, Any]]]] = []
        self._current: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._saved: dict[str, Any] = {}

    def install(self) -> None:
        for name in (*MUTATORS, "stepSimulation"):
            real = getattr(p, name, None)
            if real is not None:
                self._saved[name] = real
                setattr(p, name, self._wrap(name, real))

    def remove(self) -> None:
        for name, real in self._saved.items():
            setattr(p, name, real)
        self._saved.clear()

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        if name == "stepSimulation":
            def step(*args: Any, **kwargs: Any) -> Any:
                if kwargs.get("physicsClientId", 0) == self.client:
                    self.ticks.append(self._current)
                    self._current = []
                return real(*args, **kwargs)
            return step

        def call(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("physicsClientId", 0) == self.client:
                self._current.append((name, args, dict(kwargs)))
            return real(*args, **kwargs)
        return call


# --- one cell run ------------------------------------------------------------------------
@dataclass
class CellRun:
    wall_s: float
    ticks: int
    sim_s: float
    dt: float
    notes: list[str]
    final: dict[int, tuple[float, float, float]]
    recorded: list[list[tuple[str, tuple[Any, ...], dict[str, Any]]]] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)


def world_positions(client: int) -> dict[int, tuple[float, float, float]]:
    """Every body's base position (and every robot's by id), for comparing two worlds."""
    bodies = [p.getBodyUniqueId(i, physicsClientId=client)
              for i in range(p.getNumBodies(physicsClientId=client))]
    positions = {}
    for b in bodies:
        x, y, z = p.getBasePositionAndOrientation(b, physicsClientId=client)[0]
        positions[b] = (float(x), float(y), float(z))
    return positions


def cell_state(cell_id: str) -> Callable[[float], state_pb2.CellState]:
    """A minimal CellState builder, as the cell's own (it reads plain attributes)."""
    def build(now: float) -> state_pb2.CellState:
        return state_pb2.CellState(cell_id=cell_id, clock_s=now)
    return build


def run_cell(case: Case, snapshot: str | None = None, *, record: bool = False,
             profile: bool = False, top: int = 15) -> CellRun:
    """Build the case's environment, run its work on lockstep and time it."""
    configs = case.configs()
    env = Environment.build(configs)
    publishers: list[StatePublishing] = []
    recorder: Recorder | None = None
    profilers: dict[str, cProfile.Profile] = {}
    try:
        for config in configs:  # as a cell publishes
            publishers.append(StatePublishing(config.cell_id, env.cells[config.cell_id],
                                              cell_state(config.cell_id), "tcp://127.0.0.1:0",
                                              config.publish_hz))
        env.start()
        jobs = case.work(env)
        client = env.world.client
        recorder = Recorder(client) if record else None
        if snapshot is not None:
            env.loop.call(lambda: p.saveBullet(snapshot, physicsClientId=client))
        if recorder is not None:
            env.loop.call(recorder.install)
        if profile:
            profilers["loop"] = cProfile.Profile()
            env.loop.call(profilers["loop"].enable)
        notes: list[str] = [""] * len(jobs)
        errors: list[BaseException] = []

        def job(i: int, fn: Callable[[], str]) -> None:
            prof = profilers.setdefault(f"skill {i}", cProfile.Profile()) if profile else None
            try:
                if prof is not None:
                    prof.enable()
                notes[i] = fn()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
            finally:
                if prof is not None:
                    prof.disable()

        threads = [threading.Thread(target=job, args=(i, fn), name=f"skill-{i}")
                   for i, fn in enumerate(jobs)]
        start_ticks, start_sim, start = env.loop.ticks, env.loop.now_s(), time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        ticks, sim = env.loop.ticks - start_ticks, env.loop.now_s() - start_sim
        if profile:
            env.loop.call(profilers["loop"].disable)
        if recorder is not None:
            env.loop.call(recorder.remove)
        if errors:
            raise errors[0]
        final = env.loop.call(lambda: world_positions(client))
        run = CellRun(wall, ticks, sim, env.loop.dt, notes, final)
        if recorder is not None:
            run.recorded = recorder.ticks[-ticks:] if ticks else []
            if len(recorder.ticks) != ticks:
                raise RuntimeError(f"recorded {len(recorder.ticks)} steps, the loop ticked {ticks}")
        if profile:
            run.profile = split_profile(profilers, wall, top)
        return run
    finally:
        if recorder is not None:
            recorder.remove()
        for publishing in publishers:
            publishing.close()
        env.close()


# --- the bare loop -------------------------------------------------------------------------
@contextmanager
def bare_world(case: Case, snapshot: str) -> Iterator[Any]:
    """The case's world with its robots built and activated the same way, restored to the
    cell's state at the start of its work; never ticked by a control loop."""
    configs = case.configs()
    world = load_world(configs[0].world or "", seed=configs[0].seed)
    components = []
    try:
        for config in configs:
            for name, entry in config.robots.items():
                robot = build_robot(entry.model, BuildContext(
                    name, world.layout.mount(entry.mount), world, config.seed, entry.mount),
                    entry.options)
                for component in robot.components.values():
                    component.activate()
                    components.append(component)
        p.restoreState(fileName=snapshot, physicsClientId=world.client)
        yield world
    finally:
        for component in components:
            component.shutdown()
        world.close()


def run_bare(case: Case, snapshot: str, recorded: list[list[tuple[str, tuple[Any, ...], dict[str, Any]]]],
             replay: bool) -> tuple[float, dict[int, tuple[float, float, float]]]:
    """Step the bare world once per recorded tick; return (wall s, final positions)."""
    with bare_world(case, snapshot) as world:
        client = world.client
        ticks = [[(getattr(p, name), args, {**kwargs, "physicsClientId": client})
                  for name, args, kwargs in calls] for calls in recorded]
        step = p.stepSimulation
        if replay:
            start = time.perf_counter()
            for calls in ticks:
                for fn, args, kwargs in calls:
                    fn(*args, **kwargs)
                step(physicsClientId=client)
            wall = time.perf_counter() - start
        else:
            for fn, args, kwargs in ticks[0] if ticks else []:
                fn(*args, **kwargs)
            start = time.perf_counter()
            for _ in range(len(ticks)):
                step(physicsClientId=client)
            wall = time.perf_counter() - start
        return wall, world_positions(client)


def drift_mm(cell: dict[int, tuple[float, float, float]], bare: dict[int, tuple[float, float, float]]) -> float:
    """The largest distance between a body's final position in the cell and in the replay."""
    common = cell.keys() & bare.keys()
    return max((math.dist(cell[b], bare[b]) * 1000 for b in common), default=math.nan)


# --- where the time goes -------------------------------------------------------------------
def category(filename: str, func: str) -> str:
    if "pybullet.stepSimulation" in func:
        return "physics (stepSimulation)"
    if "pybullet." in func:
        return "other PyBullet calls (reads, commands)"
    if func.startswith("<method 'acquire'") or func.startswith("<method 'wait'") or "sleep" in func:
        return "waiting (locks, sleep)"
    if filename == "~":
        return "Python builtins"
    if "zmq" in filename or "zmq" in func:
        return "ZeroMQ"
    if "protobuf" in filename or "upb" in func or "_message" in func:
        return "protobuf"
    if "numpy" in filename or "numpy" in func:
        return "numpy"
    path = Path(filename)
    if not path.is_absolute():
        return "other Python (stdlib, libraries)"
    try:
        rel = path.resolve().relative_to(ROOT)
    except (ValueError, OSError):
        return "other Python (stdlib, libraries)"
    return f"ours: {rel.parent if rel.parent.name in ('g1', 'skills') else rel}"


def split_profile(profilers: dict[str, cProfile.Profile], wall: float, top: int) -> dict[str, Any]:
    """Per thread: seconds by category (own time) and the top functions by own time."""
    out: dict[str, Any] = {"profiled_wall_s": wall}
    for thread, prof in profilers.items():
        stats = pstats.Stats(prof)
        by_cat: dict[str, float] = defaultdict(float)
        rows = []
        for (filename, line, func), (_cc, calls, tottime, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            by_cat[category(filename, func)] += tottime
            rows.append((tottime, calls, f"{Path(filename).name}:{line}({func})" if filename != "~" else func))
        rows.sort(reverse=True)
        total = sum(by_cat.values())
        out[thread] = {
            "total_s": total,
            "categories": dict(sorted(by_cat.items(), key=lambda kv: -kv[1])),
            "top": [{"function": name, "calls": calls, "own_s": t} for t, calls, name in rows[:top]],
        }
    return out


def print_profile(profile: dict[str, Any], top: int) -> None:
    wall = profile["profiled_wall_s"]
    for thread, data in profile.items():
        if thread == "profiled_wall_s":
            continue
        total = data["total_s"]
        print(f"    {thread} thread: {total:.2f} s profiled of {wall:.2f} s wall")
        for name, seconds in data["categories"].items():
            if seconds >= 0.005 * total:
                print(f"      {seconds:7.3f} s {100 * seconds / total:5.1f} %  {name}")
        if thread == "loop":
            print(f"    top {top} functions of the loop thread by own time:")
            for row in data["top"][:top]:
                print(f"      {row['own_s']:7.3f} s {row['calls']:9d}  {row['function']}")


# --- main --------------------------------------------------------------------------------
def g1_available() -> str:
    """'' if `pybullet.g1` can be built: from the robot registry, or else (while the
    registry id is still being written) a stand-in registered here from `G1Body` and
    `G1Legs` alone, said so in the output ('stand-in: ...'); otherwise why not."""
    if "pybullet.g1" in ROBOTS.ids():
        return ""
    try:
        from cellwright.robots.models import unitree_g1
        from cellwright.robots.robot import Robot, RobotModel
        from cellwright.robots.sim.g1.body import G1Body
        from cellwright.robots.sim.g1.legs import G1Legs
    except ImportError as exc:
        return f"pybullet.g1 is not in the robot registry and G1Legs does not import: {exc}"

    def build(context: BuildContext, config: Any) -> Robot:
        name = context.robot_name
        body = G1Body(context.world, name, context.mount, hands=False, label=f"robot {name}")
        legs = G1Legs(f"{name}/legs", body, dict(config))
        return Robot(name=name, registry_id="pybullet.g1", model=unitree_g1.MODEL, driver="pybullet",
                     components={"legs": legs})

    schema = {"type": "object", "properties": {"margin_floor_m": {"type": "number"}}}
    ROBOTS.register(RobotModel("pybullet.g1", unitree_g1.MODEL, "pybullet", build, schema,
                               description="sim_speed stand-in: G1Body and G1Legs only"),
                    origin="bench.sim_speed stand-in")
    return ("stand-in: pybullet.g1 is not in the registry yet, so the bench built the G1 from "
            "G1Body (29 dof, no hands) and G1Legs only (no arm or hand components)")


def measure(case: Case, repeats: int, top: int, tmp: str) -> dict[str, Any]:
    snapshot = os.path.join(tmp, f"{case.key}.bullet")
    print(f"\n== {case.title}", flush=True)
    print("  recording run (untimed: records the PyBullet calls between steps)", flush=True)
    recording = run_cell(case, snapshot, record=True)
    for note in recording.notes:
        print(f"    {note}")
    ticks, dt = recording.ticks, recording.dt
    cell, replay, held, drifts, tick_counts = [], [], [], [], []
    for r in range(1, repeats + 1):
        print(f"  run {r}/{repeats}: cell ...", end="", flush=True)
        run = run_cell(case)
        cell.append(run.wall_s / run.sim_s)  # wall s per simulated s
        tick_counts.append(run.ticks)
        print(f" {run.wall_s:.2f} s ({run.ticks} ticks); bare replay ...", end="", flush=True)
        wall, final = run_bare(case, snapshot, recording.recorded, replay=True)
        replay.append(wall / (ticks * dt))
        drifts.append(drift_mm(recording.final, final))
        print(f" {wall:.2f} s; bare held ...", end="", flush=True)
        wall, _ = run_bare(case, snapshot, recording.recorded, replay=False)
        held.append(wall / (ticks * dt))
        print(f" {wall:.2f} s", flush=True)
    print("  profiled cell run (cProfile on the loop and skill threads) ...", flush=True)
    profiled = run_cell(case, profile=True, top=top)
    rtf = {name: [1.0 / v for v in values] for name, values in
           (("cell", cell), ("replay", replay), ("held", held))}
    med = {name: statistics.median(values) for name, values in rtf.items()}
    ratios = {"cell/replay": [c / b for c, b in zip(rtf["cell"], rtf["replay"], strict=True)],
              "cell/held": [c / b for c, b in zip(rtf["cell"], rtf["held"], strict=True)]}
    per_tick_us = {name: 1e6 * dt / med[name] for name in med}
    print(f"\n  {case.title}: {ticks} steps at {1 / dt:.0f} Hz = {ticks * dt:.1f} s simulated "
          f"(cell ticks per run: {tick_counts})")
    print(f"  {'':34} {'x real time':>12} {'steps/s':>9} {'us/step':>8} {'cell / it':>10}")
    labels = {"cell": "cell (lockstep, publishing)", "replay": "bare replay of its calls",
              "held": "bare held (static scene)"}
    for name in ("cell", "replay", "held"):
        ratio = "" if name == "cell" else f"{statistics.median(ratios['cell/' + name]):10.2f}"
        print(f"  {labels[name]:34} {med[name]:12.2f} {med[name] / dt:9.0f} {per_tick_us[name]:8.0f} {ratio}")
    share = statistics.median(ratios["cell/replay"])
    print(f"  aim: cell >= {AIM} of the bare replay: {share:.2f} "
          f"({'met' if share >= AIM else 'NOT met'}; our cost "
          f"{per_tick_us['cell'] - per_tick_us['replay']:.0f} us per step over the replay's "
          f"{per_tick_us['replay']:.0f}); replay drift from the cell's final state: "
          f"max {max(drifts):.1f} mm")
    print_profile(profiled.profile, top)
    return {"title": case.title, "steps": ticks, "dt": dt, "sim_s": ticks * dt,
            "cell_ticks": tick_counts, "notes": recording.notes,
            "x_real_time": rtf, "median_x_real_time": med, "us_per_step": per_tick_us,
            "ratios": ratios, "median_ratios": {k: statistics.median(v) for k, v in ratios.items()},
            "replay_drift_mm": drifts, "profile": profiled.profile,
            "profiled_cell_wall_s": profiled.wall_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="arm,standing,walking,line",
                        help="comma-separated: arm, standing, walking, line")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (medians)")
    parser.add_argument("--jobs", type=int, default=3, help="pick_place jobs of the arm (1..6) "
                        "and parts the line kits (1..3)")
    parser.add_argument("--stand-s", type=float, default=10.0, help="simulated seconds standing")
    parser.add_argument("--walk-m", type=float, default=0.5, help="metres walked forward")
    parser.add_argument("--line-walk-m", type=float, default=1.0,
                        help="metres the G1 walks along the line's aisle")
    parser.add_argument("--line-g1", choices=("walk", "stand", "none"), default="stand",
                        help="what the line's G1 does while the Panda kits (walk: it fell "
                             "turning from the table, 2026-12-01)")
    parser.add_argument("--quick", action="store_true",
                        help="1 job, 2 s standing, 0.3 m walks, 1 repeat")
    parser.add_argument("--top", type=int, default=12, help="functions listed per profile")
    parser.add_argument("--json", "--out", dest="json", metavar="PATH",
                        help="also save every figure as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.stand_s, args.walk_m, args.line_walk_m, args.repeats = 1, 2.0, 0.3, 0.3, 1
    keys = [k.strip() for k in args.cases.split(",") if k.strip()]
    with tempfile.TemporaryDirectory(prefix="sim_speed-") as tmp:
        Path(tmp, "floor.yaml").write_text(FLOOR_WORLD, encoding="utf-8")
        Path(tmp, "floor.layout.yaml").write_text(FLOOR_LAYOUT, encoding="utf-8")
        cases = make_cases(args, str(Path(tmp, "floor.yaml")))
        unknown = [k for k in keys if k not in cases]
        if unknown:
            parser.error(f"unknown cases {unknown}; known: {sorted(cases)}")
        report: dict[str, Any] = {
            "machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "pybullet_api": p.getAPIVersion(), "aim_cell_over_replay": AIM,
            "load_average_at_start": os.getloadavg(), "cases": {}, "skipped": {}}
        missing = g1_available()
        if missing.startswith("stand-in"):
            print(f"note: {missing}")
            report["g1"] = missing
            missing = ""
        print(f"sim_speed: cases {', '.join(keys)}; {args.repeats} timed runs each "
              f"(cell, bare replay, bare held, interleaved); machine {platform.node()}: "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"PyBullet {p.getAPIVersion()}")
        for key in keys:
            case = cases[key]
            if case.needs_g1 and missing:
                print(f"\n== {case.title}: skipped ({missing})")
                report["skipped"][key] = missing
                continue
            report["cases"][key] = measure(case, max(1, args.repeats), args.top, tmp)
    print("\nsummary (medians): simulated s per wall s, cell / bare replay, cell / bare held")
    for key, data in report["cases"].items():
        med, ratios = data["median_x_real_time"], data["median_ratios"]
        print(f"  {key:9} cell {med['cell']:6.2f}x  replay {med['replay']:6.2f}x  "
              f"held {med['held']:6.2f}x  ratio {ratios['cell/replay']:.2f} "
              f"(aim >= {AIM})  / held {ratios['cell/held']:.2f}")
    for key, why in report["skipped"].items():
        print(f"  {key:9} skipped: {why}")
    report["load_average_at_end"] = os.getloadavg()
    print(f"load average (1, 5, 15 min) at start {report['load_average_at_start']}, at end "
          f"{report['load_average_at_end']} (other work on the machine slows both sides alike)")
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
