"""The balance log reads a legged robot's balance off a real ZeroMQ state stream (the
publisher cells use, on a random loopback port) and sums it up."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from cellwright.api.statestream import StatePublisher, cell_topic, robot_topic
from cellwright.app.balance_log import BalanceLog, samples_from_json, summarize
from cellwright.v1 import state_pb2

WAIT_S = 10.0  # wall seconds; only against a hang


def robot_state(margin_m: float = 0.05, *, phase: str = "walking", tier: str = "dynamic",
                walked_m: float = 0.0, helper: tuple[float, ...] = (0.0,) * 6) -> state_pb2.RobotState:
    return state_pb2.RobotState(cell_id="humanoid", robot="g1", balance=state_pb2.Balance(
        walking_tier=tier, phase=phase, feet_in_contact=["left", "right"],
        com_m=state_pb2.Vector3(x=walked_m, y=0.01, z=0.68), zmp_x_m=walked_m + 0.02, zmp_y_m=-0.03,
        margin_m=margin_m, margin_floor_m=0.015,
        support_polygon_xy=[-0.1, -0.15, 0.1, -0.15, 0.1, 0.15, -0.1, 0.15],
        helper_wrench=list(helper), distance_walked_m=walked_m))


def wait_until(condition: Callable[[], bool], publish: Callable[[], object] = lambda: None) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        publish()
        time.sleep(0.01)


@pytest.fixture
def publisher() -> Iterator[StatePublisher]:
    with StatePublisher("tcp://127.0.0.1:0") as pub:
        yield pub


@pytest.fixture
def balance_log(publisher: StatePublisher) -> Iterator[BalanceLog]:
    """A log that has joined: a t = 0 sample has arrived (ZeroMQ subscribers join late)."""
    with BalanceLog(publisher.endpoint, "humanoid") as log:
        wait_until(lambda: len(log.samples()) == 1,
                   lambda: publisher.publish(robot_topic("humanoid", "g1"), robot_state(phase="standing"), 0.0))
        yield log


def test_the_log_keeps_each_balance_sample_of_the_stream(publisher: StatePublisher, balance_log: BalanceLog) -> None:
    for i in range(1, 11):
        publisher.publish(robot_topic("humanoid", "g1"), robot_state(0.05 - 0.001 * i, walked_m=0.03 * i),
                          0.1 * i)
    wait_until(lambda: len(balance_log.samples()) == 11)

    assert balance_log.samples()[-1].to_json() == {
        "t_s": 1.0, "robot": "g1", "margin_m": 0.04, "margin_floor_m": 0.015, "com_m": [0.3, 0.01, 0.68],
        "zmp_m": [0.32, -0.03], "phase": "walking", "tier": "dynamic", "feet": ["left", "right"],
        "helper_force_n": 0.0, "helper_torque_nm": 0.0, "distance_walked_m": 0.3,
        "support_polygon": [[-0.1, -0.15], [0.1, -0.15], [0.1, 0.15], [-0.1, 0.15]]}
    assert [s.t_s for s in balance_log.samples()] == pytest.approx([0.1 * i for i in range(11)])


def test_other_cells_robots_without_balance_and_a_standing_clock_add_nothing(
        publisher: StatePublisher, balance_log: BalanceLog) -> None:
    publisher.publish(robot_topic("humanoid-2", "g1"), robot_state(), 0.5)  # another cell
    publisher.publish(robot_topic("humanoid", "panda"), state_pb2.RobotState(robot="panda"), 0.5)  # no balance
    publisher.publish(cell_topic("humanoid"), state_pb2.CellState(cell_id="humanoid"), 0.5)
    publisher.publish(robot_topic("humanoid", "g1"), robot_state(phase="standing"), 0.0)  # clock stood
    publisher.publish(robot_topic("humanoid", "g1"), robot_state(), 0.7)  # the marker
    wait_until(lambda: len(balance_log.samples()) == 2)

    time.sleep(0.1)
    assert [(s.robot, s.t_s) for s in balance_log.samples()] == [("g1", 0.0), ("g1", pytest.approx(0.7))]


def test_the_summary_gives_min_margin_time_below_floor_distance_tier_and_helper_peak(
        publisher: StatePublisher, balance_log: BalanceLog) -> None:
    margins = [0.05, 0.01, 0.012, 0.03, -math.inf, 0.04]  # below the 15 mm floor from t=1 to t=3, at t=4
    for i, margin in enumerate(margins, start=1):
        helper = (30.0, 40.0, 0.0, 0.0, 0.0, 2.0) if i == 3 else (0.0,) * 6
        publisher.publish(robot_topic("humanoid", "g1"),
                          robot_state(margin, tier="guided", walked_m=0.5 * i, helper=helper), float(i))
    wait_until(lambda: len(balance_log.samples()) == 1 + len(margins))
    balance_log.stop()

    summary = balance_log.summary()
    assert summary.min_margin_m == -math.inf and summary.min_margin_t_s == 5.0
    assert summary.time_below_floor_s == pytest.approx(3.0)  # [2, 4) and [5, 6)
    assert summary.distance_walked_m == pytest.approx(3.0)
    assert summary.tiers == ("dynamic", "guided")
    assert summary.helper_force_peak_n == pytest.approx(50.0)
    assert summary.helper_torque_peak_nm == pytest.approx(2.0)
    assert summary.duration_s == pytest.approx(6.0)


def test_to_json_round_trips_the_samples_and_carries_the_summary(
        publisher: StatePublisher, balance_log: BalanceLog) -> None:
    publisher.publish(robot_topic("humanoid", "g1"), robot_state(-math.inf, phase="fallen"), 0.4)
    wait_until(lambda: len(balance_log.samples()) == 2)

    data = balance_log.to_json()
    assert data["summary"]["min_margin_m"] is None and data["summary"]["fallen"] is True
    assert data["samples"][1]["margin_m"] is None
    assert samples_from_json(data) == balance_log.samples()
    assert summarize([]).min_margin_m is None


def test_stop_ends_the_subscriber_thread(publisher: StatePublisher) -> None:
    log = BalanceLog(publisher.endpoint, "humanoid").start()
    assert "balance-log humanoid" in [t.name for t in threading.enumerate()]
    log.stop()
    assert "balance-log humanoid" not in [t.name for t in threading.enumerate()]
