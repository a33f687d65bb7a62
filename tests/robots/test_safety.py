"""Speed and separation monitoring (robots.safety) in the control loop, with real PyBullet:
a worker walks up to a Panda in mid-motion, waits, and walks away. Time is the loop's
clock, never the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cellwright.robots import BuildContext, Component, ControlLoop, Lifecycle, Robot, build_robot
from cellwright.robots.presence import MODEL, Person, Presence, PresenceInfo, PresenceState
from cellwright.robots.safety import PROTECTIVE, RAMP_S, WARNING, SafetyConfig, SafetyMonitor
from cellwright.sim_worlds import SimWorld, load_world

DT = 1.0 / 240.0
CONFIG = SafetyConfig(warning_m=1.5, protective_m=0.8, slow_fraction=0.3, clear_s=1.0, hysteresis_m=0.1)
# The worker stands 2 s at 1.0 m from the Panda's base (0.1-0.4 m from its links), then
# walks back to 4 m; the arm's slow joint move (about 12 s planned) is in mid-motion then.
WORLD = """
objects: [{name: floor, kind: urdf, urdf: plane.urdf}]
workers:
  - {name: walker, route: [[4.0, 0.0], [1.0, 0.0]], speed_m_s: 1.2, start_delay_s: 1.0, pause_s: 2.0}
"""


@dataclass(frozen=True)
class Sample:
    t: float
    zone: str
    override: float
    separation: float
    progress: float
    speed: float  # the arm's fastest joint, rad/s


@dataclass
class Run:
    samples: list[Sample]
    monitor: SafetyMonitor
    error: Exception | None
    done: bool


def _world(tmp_path: Path, text: str = WORLD) -> SimWorld:
    path = tmp_path / "walker.yaml"
    path.write_text(text)
    return load_world(str(path))


def _cell(world: SimWorld) -> tuple[ControlLoop, Robot, SafetyMonitor]:
    panda = build_robot("pybullet.panda", BuildContext("panda", world=world), {})
    people = build_robot("pybullet.presence", BuildContext("people", world=world), {})
    loop = ControlLoop(world.dt, world=world)
    for component in [*panda.components.values(), *people.components.values()]:
        loop.add(component)
        component.activate()
    monitor = SafetyMonitor(CONFIG, [panda, people])
    loop.add_guard(monitor.check, monitor.guarded)
    return loop, panda, monitor


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    world = _world(tmp_path_factory.mktemp("walker"))
    loop, panda, monitor = _cell(world)
    arm = panda.components["arm"]
    target = np.array(arm.state().position)
    target[0] += 1.2
    goal = arm.move_joints(target, speed=0.1, timeout_s=15.0)
    samples = []
    while not goal.done() and loop.now_s() < 40.0:
        loop.tick()
        entry = monitor.record().of("panda/arm")
        samples.append(Sample(loop.now_s(), entry.zone, arm.speed_override, entry.separation_m,
                              goal.progress, float(np.max(np.abs(arm.state().velocity)))))
    yield Run(samples, monitor, goal.error(), goal.done())
    for component in loop.components:
        component.shutdown()
    world.close()


def _while(samples: list[Sample], zone: str) -> list[Sample]:
    """The samples up to the first one in another zone."""
    end = next((i for i, s in enumerate(samples) if s.zone != zone), len(samples))
    return samples[:end]


def _progress_rate(samples: list[Sample]) -> float:
    return (samples[-1].progress - samples[0].progress) / (samples[-1].t - samples[0].t)


def test_the_arm_moves_at_the_slow_fraction_inside_the_warning_distance(run: Run) -> None:
    first_warning = next(i for i, s in enumerate(run.samples) if s.zone == WARNING)
    ramped = first_warning + round(RAMP_S / DT) + 1
    warning = _while(run.samples[ramped:], WARNING)
    clear = run.samples[first_warning - 60:first_warning - 1]
    assert len(warning) > 40
    assert all(s.override == pytest.approx(0.3) for s in warning)
    assert _progress_rate(warning) / _progress_rate(clear) == pytest.approx(0.3, rel=0.02)


def test_inside_the_protective_distance_the_arm_holds_still_and_its_goal_lives_on(run: Run) -> None:
    stop = next(i for i, s in enumerate(run.samples) if s.zone == PROTECTIVE)
    held = _while(run.samples[stop + round((RAMP_S + 0.3) / DT):], PROTECTIVE)
    assert held[-1].t - held[0].t > 1.5  # the worker stood there 2 s
    assert all(s.override == 0.0 for s in held)
    assert max(s.speed for s in held) < 0.01
    assert held[-1].progress == held[0].progress < 1.0
    assert run.done and run.error is None  # the move succeeded after the worker left


def test_the_arm_resumes_once_the_person_stays_clear_for_clear_s(run: Run) -> None:
    stop = next(i for i, s in enumerate(run.samples) if s.zone == PROTECTIVE)
    end = next(i for i in range(stop, len(run.samples)) if run.samples[i].zone != PROTECTIVE)
    clear_from = next(i for i in range(end, stop, -1)
                      if run.samples[i - 1].separation < CONFIG.protective_m + CONFIG.hysteresis_m)
    assert run.samples[end].t - run.samples[clear_from].t == pytest.approx(CONFIG.clear_s, abs=0.01)
    assert run.samples[-1].progress == 1.0


def test_minimum_separation_and_protective_stops_are_recorded_per_component(run: Run) -> None:
    record = run.monitor.record()
    assert record.on and record.note == ""
    for name in ("panda/arm", "panda/gripper"):
        entry = record.of(name)
        assert entry.min_separation_m == pytest.approx(min(s.separation for s in run.samples))
        assert 0.0 < entry.min_separation_m < CONFIG.protective_m
        assert entry.protective_stops == 2  # the worker came back while the arm still moved
        stopped = sum(1 for s in run.samples if s.zone == PROTECTIVE) * DT
        assert entry.protective_stop_s == pytest.approx(stopped, rel=0.01)
    with pytest.raises(KeyError, match="'people/presence' is not guarded"):
        record.of("people/presence")


def test_a_paused_arm_move_outlasts_its_timeout_and_then_succeeds(tmp_path: Path) -> None:
    world = _world(tmp_path, "objects: [{name: floor, kind: urdf, urdf: plane.urdf}]\n")
    arm = build_robot("pybullet.panda", BuildContext("panda", world=world), {}).components["arm"]
    loop = ControlLoop(world.dt, world=world)
    loop.add(arm)
    arm.activate()
    try:
        target = np.array(arm.state().position)
        target[0] += 0.3
        goal = arm.move_joints(target, timeout_s=2.0)
        _tick_for(loop, 0.2)
        arm.speed_override = 0.0
        _tick_for(loop, 3.0)
        assert not goal.done()
        arm.speed_override = 1.0
        _tick_for(loop, 3.0)
        assert goal.done() and goal.error() is None
    finally:
        arm.shutdown()
        world.close()


def test_a_paused_gripper_holds_its_width_past_its_timeout_and_then_finishes(tmp_path: Path) -> None:
    world = _world(tmp_path, "objects: [{name: floor, kind: urdf, urdf: plane.urdf}]\n")
    gripper = build_robot("pybullet.panda", BuildContext("panda", world=world), {}).components["gripper"]
    loop = ControlLoop(world.dt, world=world)
    loop.add(gripper)
    gripper.activate()
    try:
        goal = gripper.move(0.02, timeout_s=1.0)
        loop.tick()  # its first tick: the fingers start to close
        gripper.speed_override = 0.0
        _tick_for(loop, 0.1)
        width = gripper.state().width_m
        _tick_for(loop, 2.0)
        assert not goal.done()
        assert gripper.state().width_m == pytest.approx(width, abs=5e-4)
        assert width > 0.03
        gripper.speed_override = 1.0
        _tick_for(loop, 1.0)
        assert goal.done() and goal.error() is None
        assert gripper.state().width_m == pytest.approx(0.02, abs=1e-3)
    finally:
        gripper.shutdown()
        world.close()


class _BrokenPresence(Presence):
    def info(self) -> PresenceInfo:
        return PresenceInfo(self.name, self.kind, MODEL, "test")

    def state(self) -> PresenceState:
        raise RuntimeError("scanner cable cut")


class _Still(Component):
    kind = "thing"


def test_a_monitor_that_raises_puts_what_it_guards_in_error() -> None:
    thing = _Still("robot/thing", "widget", "test")
    sensor = _BrokenPresence("scanner/presence", MODEL, "test")
    robots = [Robot("robot", "test.robot", "widget", "test", {"thing": thing}),
              Robot("scanner", "test.scanner", MODEL, "test", {"presence": sensor})]
    loop = ControlLoop(0.01)
    loop.add(thing)
    monitor = SafetyMonitor(CONFIG, robots)
    loop.add_guard(monitor.check, monitor.guarded)
    loop.tick()
    assert thing.lifecycle is Lifecycle.ERROR
    assert "scanner cable cut" in thing.error_reason


class _Scanner(Presence):
    def __init__(self, people: tuple[Person, ...]) -> None:
        super().__init__("scanner/presence", MODEL, "test")
        self.people = people

    def info(self) -> PresenceInfo:
        return PresenceInfo(self.name, self.kind, MODEL, "test")

    def state(self) -> PresenceState:
        return PresenceState(0.0, self.people)


def test_a_robot_without_hazard_points_is_reported_unguarded() -> None:
    thing = _Still("robot/thing", "widget", "test")
    robots = [Robot("robot", "test.robot", "widget", "test", {"thing": thing}),
              Robot("scanner", "test.scanner", MODEL, "test",
                    {"presence": _Scanner((Person("p", (0.0, 0.0), (0.0, 0.0), 0.25),))})]
    monitor = SafetyMonitor(CONFIG, robots)
    monitor.check(0.01, 0.01)
    record = monitor.record()
    assert record.note == "unguarded (no hazard points): robot"
    assert record.of("robot/thing").zone == "unguarded"
    assert thing.speed_override == 1.0


def test_without_a_presence_component_the_monitor_is_off_and_says_so() -> None:
    thing = _Still("robot/thing", "widget", "test")
    monitor = SafetyMonitor(CONFIG, [Robot("robot", "test.robot", "widget", "test", {"thing": thing})])
    assert not monitor.on
    assert monitor.record().note.startswith("off: no presence component")


@pytest.mark.parametrize("values, message", [
    ({"protective_m": 1.5, "warning_m": 1.5}, "protective_m: 1.5 m must be less than warning_m (1.5 m)"),
    ({"protective_m": 2.0}, "protective_m: 2.0 m must be less than warning_m (1.5 m)"),
    ({"warning_m": -1.0}, "warning_m: must not be negative, got -1.0"),
    ({"clear_s": -0.5}, "clear_s: must not be negative, got -0.5"),
    ({"protective_m": 0.0}, "protective_m: must be above 0"),
    ({"slow_fraction": 1.5}, "slow_fraction: must be in (0, 1], got 1.5"),
    ({"hysteresis_m": float("nan")}, "hysteresis_m: expected a finite number"),
    ({"warning_m": "far"}, "warning_m: expected a finite number, got 'far'"),
    ({"warning": 1.5}, "warning: unknown key; allowed: ['clear_s', 'hysteresis_m', 'protective_m'"),
])
def test_bad_safety_configs_are_refused_naming_the_key(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        SafetyConfig.from_mapping(values)
    assert str(refused.value).startswith(message)


def _tick_for(loop: ControlLoop, seconds: float) -> None:
    for _ in range(round(seconds / loop.dt)):
        loop.tick()
