"""The control loop's guards: a stop is acted on even with nothing moving, a broken
listener or component does not stop the others, and a dead loop ends every wait."""

from __future__ import annotations

import time

import pytest

from cellwright.robots import ControlLoop, NotActive
from cellwright.robots.loop import LoopStopped
from cellwright.robots.mock import MockGripper

HANG_GUARD_S = 30.0  # wall seconds: only against a hang


def gripper(name: str = "r/gripper", **options: float) -> MockGripper:
    return MockGripper(name, "m", stroke_m=0.08, max_force_n=70.0, **options)  # type: ignore[arg-type]


def running(loop: ControlLoop, *components: MockGripper) -> ControlLoop:
    for component in components:
        loop.add(component)
        component.activate()
    loop.start()
    return loop


@pytest.mark.parametrize("clock", ["lockstep", "fast"])
def test_a_stop_while_nothing_moves_is_acted_on_before_the_next_goal(clock: str) -> None:
    """In lockstep an idle loop does not tick; a stop must still be seen by update(), or
    the next goal after resume() ends at once with MotionStopped (PackML Reset aborted)."""
    g = gripper()
    loop = running(ControlLoop(0.01, clock=clock), g)
    try:
        g.stop()
        loop.settled([g]).result(HANG_GUARD_S)
        assert not g.stop_unseen
        g.resume()
        assert g.move(0.02).result(HANG_GUARD_S) is False  # reached, holding nothing
    finally:
        loop.stop()


def test_a_listener_that_raises_is_dropped_and_the_loop_goes_on() -> None:
    g = gripper()
    loop = running(ControlLoop(0.01), g)
    calls = []

    def broken(now: float) -> None:
        calls.append(now)
        raise RuntimeError("socket closed")

    try:
        loop.add_listener(broken, 0.01)
        assert g.move(0.0).result(HANG_GUARD_S) is False
        assert len(calls) == 1 and loop.running
    finally:
        loop.stop()


def test_a_component_that_raises_goes_to_error_and_the_others_go_on() -> None:
    good, bad = gripper("r/good"), gripper("r/bad")

    def explode(now_s: float, dt_s: float) -> None:
        raise ValueError("driver fault")

    bad.update = explode  # type: ignore[method-assign]
    loop = running(ControlLoop(0.01), good, bad)
    try:
        failing, working = bad.move(0.0), good.move(0.0)
        with pytest.raises(NotActive, match="driver fault"):
            failing.result(HANG_GUARD_S)
        assert working.result(HANG_GUARD_S) is False
        assert bad.lifecycle.value == "error" and good.lifecycle.value == "active"
    finally:
        loop.stop()


class DyingWorld:
    """A world whose physics step fails after a few ticks (a fake: the failure is the point)."""

    dt = 0.01

    def __init__(self) -> None:
        self.steps = 0

    def step(self, n: int = 1) -> None:
        self.steps += 1
        if self.steps > 5:
            raise RuntimeError("physics server gone")


def test_when_the_loop_dies_every_goal_timer_and_waiter_ends() -> None:
    g = gripper(finger_speed_m_s=0.001)  # a slow close, still moving when the loop dies
    loop = running(ControlLoop(0.01, world=DyingWorld(), clock="realtime"), g)
    goal, timer = g.move(0.0, timeout_s=100), loop.sleep(100.0)
    with pytest.raises(NotActive, match="physics server gone"):
        goal.result(HANG_GUARD_S)
    with pytest.raises(LoopStopped):
        timer.result(HANG_GUARD_S)
    deadline = time.monotonic() + HANG_GUARD_S
    while loop.running and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(LoopStopped):
        loop.settled([g]).result(HANG_GUARD_S)
    with pytest.raises(LoopStopped):
        loop.sleep(0.1).result(HANG_GUARD_S)
    with pytest.raises(LoopStopped):
        loop.submit(lambda: None).result(HANG_GUARD_S)
    assert g.lifecycle.value == "error"


def test_stopping_the_loop_ends_its_timers() -> None:
    loop = running(ControlLoop(0.01, clock="realtime"))
    timer = loop.sleep(3600.0)
    loop.stop()
    with pytest.raises(LoopStopped):
        timer.result(HANG_GUARD_S)
