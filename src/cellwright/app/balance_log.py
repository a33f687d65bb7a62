"""A log of a legged robot's balance, read from its cell's state stream.

`BalanceLog` subscribes to `cell/<cell_id>/robot/` on a background thread and keeps, per
state message that carries a `Balance`, one `BalanceSample`. Samples come at the cell's
`publish_hz` of simulation time, so a dip of the margin shorter than a sample interval can
be missed here: the robot's own 0.1 s minima (the skill results) are the record of the
worst margin; this log is for plots and the run's summary.

    with BalanceLog(cell.state_endpoint, "humanoid") as log:
        ...  # run the job
    plot_balance(log.samples(), "balance.png"); json.dump(log.to_json(), f)
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from cellwright.api.statestream import StateMessage, robot_topic
from cellwright.app.state_tail import messages
from cellwright.v1 import state_pb2

__all__ = ["BalanceLog", "BalanceSample", "BalanceSummary", "sample_from_message", "samples_from_json",
           "summarize"]

log = logging.getLogger(__name__)
MAX_SAMPLES = 200_000
"""Samples kept (about 28 min of simulation at 120 Hz); later ones are counted, not kept."""


@dataclass(frozen=True)
class BalanceSample:
    """A legged robot's balance at one moment of the state stream.

    Attributes:
        t_s: simulation time (the cell's clock), seconds.
        robot: the robot's name in its cell.
        margin_m: signed distance of the ZMP (quasi-static: the CoM projection) inside the
            support polygon, metres; negative outside; -inf with no foot on the floor.
        margin_floor_m: the margin below which a motion fails with `unstable`, metres.
        com_m: centre of mass, world x, y, z, metres.
        zmp_m: zero-moment point on the floor, world x, y, metres.
        phase: standing, walking, stopping or fallen.
        tier: the walking tier, "dynamic" or "guided".
        feet: the feet in contact.
        helper_force_n: norm of the guided tier's constraint force on the pelvis, N (0 in
            the dynamic tier).
        helper_torque_nm: norm of its torque, N m.
        distance_walked_m: distance the base has walked since the cell started, metres.
        support_polygon: the support polygon's corners, world x, y, metres.
    """

    t_s: float
    robot: str
    margin_m: float
    margin_floor_m: float
    com_m: tuple[float, float, float]
    zmp_m: tuple[float, float]
    phase: str
    tier: str
    feet: tuple[str, ...]
    helper_force_n: float
    helper_torque_nm: float
    distance_walked_m: float
    support_polygon: tuple[tuple[float, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (a margin of -inf, no foot on the floor, becomes null)."""
        return {
            "t_s": round(self.t_s, 4), "robot": self.robot,
            "margin_m": round(self.margin_m, 5) if math.isfinite(self.margin_m) else None,
            "margin_floor_m": self.margin_floor_m,
            "com_m": [round(v, 5) for v in self.com_m], "zmp_m": [round(v, 5) for v in self.zmp_m],
            "phase": self.phase, "tier": self.tier, "feet": list(self.feet),
            "helper_force_n": round(self.helper_force_n, 3),
            "helper_torque_nm": round(self.helper_torque_nm, 3),
            "distance_walked_m": round(self.distance_walked_m, 4),
            "support_polygon": [[round(x, 4), round(y, 4)] for x, y in self.support_polygon],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BalanceSample:
        """The inverse of `to_json`."""
        margin = data["margin_m"]
        com, zmp = data["com_m"], data["zmp_m"]
        return cls(float(data["t_s"]), str(data["robot"]), -math.inf if margin is None else float(margin),
                   float(data["margin_floor_m"]), (float(com[0]), float(com[1]), float(com[2])),
                   (float(zmp[0]), float(zmp[1])), str(data["phase"]), str(data["tier"]),
                   tuple(data["feet"]), float(data["helper_force_n"]), float(data["helper_torque_nm"]),
                   float(data["distance_walked_m"]),
                   tuple((float(x), float(y)) for x, y in data.get("support_polygon", ())))


def sample_from_message(message: StateMessage) -> BalanceSample | None:
    """The balance in a `RobotState` message, or None if it carries none (not a legged robot)."""
    state = message.payload
    if not isinstance(state, state_pb2.RobotState) or not state.HasField("balance"):
        return None
    b = state.balance
    wrench = list(b.helper_wrench) + [0.0] * (6 - len(b.helper_wrench))
    corners = list(b.support_polygon_xy)
    return BalanceSample(
        t_s=message.sim_time_s, robot=state.robot or message.topic.rsplit("/", 1)[-1],
        margin_m=b.margin_m, margin_floor_m=b.margin_floor_m,
        com_m=(b.com_m.x, b.com_m.y, b.com_m.z), zmp_m=(b.zmp_x_m, b.zmp_y_m),
        phase=b.phase, tier=b.walking_tier, feet=tuple(b.feet_in_contact),
        helper_force_n=math.hypot(*wrench[:3]), helper_torque_nm=math.hypot(*wrench[3:6]),
        distance_walked_m=b.distance_walked_m,
        support_polygon=tuple(zip(corners[0::2], corners[1::2], strict=False)))


def samples_from_json(data: Mapping[str, Any]) -> list[BalanceSample]:
    """The samples of a `BalanceLog.to_json()` document."""
    return [BalanceSample.from_json(s) for s in data["samples"]]


@dataclass(frozen=True)
class BalanceSummary:
    """What a run's balance comes to, per the samples (see the module docstring on their
    resolution).

    Attributes:
        samples: how many.
        duration_s: simulation time from the first sample to the last.
        min_margin_m: the smallest margin seen (None: no samples; -inf: a foot-less moment).
        min_margin_t_s: when.
        margin_floor_m: the configured floor (the last seen).
        time_below_floor_s: simulation time with the margin below the floor, each sample
            standing for the interval until the next.
        distance_walked_m: the last distance walked seen (since the cell started).
        tiers: the walking tiers seen.
        phases: the phases seen.
        helper_force_peak_n: largest helper force; 0 means no helper force all along.
        helper_torque_peak_nm: largest helper torque.
        fallen: a sample said `fallen`.
    """

    samples: int
    duration_s: float
    min_margin_m: float | None
    min_margin_t_s: float | None
    margin_floor_m: float | None
    time_below_floor_s: float
    distance_walked_m: float
    tiers: tuple[str, ...]
    phases: tuple[str, ...]
    helper_force_peak_n: float
    helper_torque_peak_nm: float
    fallen: bool

    def to_json(self) -> dict[str, Any]:
        finite = self.min_margin_m is not None and math.isfinite(self.min_margin_m)
        return {
            "samples": self.samples, "duration_s": round(self.duration_s, 3),
            "min_margin_m": round(self.min_margin_m, 5) if finite and self.min_margin_m is not None else None,
            "min_margin_t_s": self.min_margin_t_s, "margin_floor_m": self.margin_floor_m,
            "time_below_floor_s": round(self.time_below_floor_s, 3),
            "distance_walked_m": round(self.distance_walked_m, 3), "tiers": list(self.tiers),
            "phases": list(self.phases), "helper_force_peak_n": round(self.helper_force_peak_n, 2),
            "helper_torque_peak_nm": round(self.helper_torque_peak_nm, 2), "fallen": self.fallen,
        }


def summarize(samples: Sequence[BalanceSample]) -> BalanceSummary:
    """Summary figures of `samples` (of one robot, or several: then the worst of them)."""
    below = 0.0
    by_robot: dict[str, list[BalanceSample]] = {}
    for sample in samples:
        by_robot.setdefault(sample.robot, []).append(sample)
    for run in by_robot.values():
        for this, after in itertools.pairwise(run):
            if this.margin_m < this.margin_floor_m:
                below += after.t_s - this.t_s
    worst = min(samples, key=lambda s: s.margin_m, default=None)
    return BalanceSummary(
        samples=len(samples),
        duration_s=samples[-1].t_s - samples[0].t_s if samples else 0.0,
        min_margin_m=worst.margin_m if worst else None, min_margin_t_s=worst.t_s if worst else None,
        margin_floor_m=samples[-1].margin_floor_m if samples else None,
        time_below_floor_s=below,
        distance_walked_m=sum(run[-1].distance_walked_m for run in by_robot.values()),
        tiers=tuple(sorted({s.tier for s in samples if s.tier})),
        phases=tuple(sorted({s.phase for s in samples if s.phase})),
        helper_force_peak_n=max((s.helper_force_n for s in samples), default=0.0),
        helper_torque_peak_nm=max((s.helper_torque_nm for s in samples), default=0.0),
        fallen=any(s.phase == "fallen" for s in samples))


class BalanceLog:
    """Keeps the balance samples of a cell's legged robot(s) from its state stream.

    The subscription runs on a background thread from `start()` to `stop()` (or as a
    context manager). A message with the same simulation time as the robot's previous
    sample (the stream keeps flowing on wall time while the clock stands) adds nothing and
    is skipped. ZeroMQ SUB sockets join late: messages published before the connection is
    made are not seen.

    Args:
        endpoint: the cell's state endpoint (`cellwright cell list` shows it).
        cell_id: the cell.
        robot: only this robot; None: every robot of the cell with a balance.
        max_samples: samples kept; later ones are counted in `dropped`.
    """

    def __init__(self, endpoint: str, cell_id: str, robot: str | None = None, *,
                 max_samples: int = MAX_SAMPLES) -> None:
        self.endpoint, self.cell_id, self.robot = endpoint, cell_id, robot
        self.topic_prefix = robot_topic(cell_id, robot) if robot else robot_topic(cell_id, "")
        self.max_samples = max_samples
        self.dropped = 0
        self.gaps = 0
        self.malformed = 0
        self._samples: list[BalanceSample] = []
        self._last_t: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BalanceLog:
        """Subscribe on a background thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("the balance log is already started")
        self._thread = threading.Thread(target=self._run, name=f"balance-log {self.cell_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop subscribing and close the socket (the samples stay). Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> BalanceLog:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def samples(self) -> list[BalanceSample]:
        """The samples so far, in arrival order (simulation time order per robot)."""
        with self._lock:
            return list(self._samples)

    def latest(self) -> BalanceSample | None:
        """The newest sample, if any."""
        with self._lock:
            return self._samples[-1] if self._samples else None

    def summary(self) -> BalanceSummary:
        return summarize(self.samples())

    def to_json(self) -> dict[str, Any]:
        """The log as a JSON-ready dict: source, summary and samples."""
        samples = self.samples()
        return {"cell_id": self.cell_id, "robot": self.robot, "endpoint": self.endpoint,
                "summary": summarize(samples).to_json(), "dropped": self.dropped, "gaps": self.gaps,
                "malformed": self.malformed, "samples": [s.to_json() for s in samples]}

    def add(self, samples: Iterable[BalanceSample]) -> None:
        """Keep `samples` as if they had arrived (what the subscriber thread calls)."""
        with self._lock:
            for sample in samples:
                if self._last_t.get(sample.robot) == sample.t_s:
                    continue
                self._last_t[sample.robot] = sample.t_s
                if len(self._samples) >= self.max_samples:
                    self.dropped += 1
                else:
                    self._samples.append(sample)

    def _run(self) -> None:
        def malformed(exc: ValueError) -> None:
            self.malformed += 1
            log.warning("balance log %s: malformed message skipped: %s", self.cell_id, exc)

        try:
            with contextlib.closing(messages(self.endpoint, self.topic_prefix, stop=self._stop,
                                             malformed=malformed)) as stream:
                for message in stream:
                    self.gaps += message.gap
                    sample = sample_from_message(message)
                    if sample is not None:
                        self.add((sample,))
        except Exception:  # logged: a log that stopped must not go unnoticed
            log.exception("balance log %s stopped", self.cell_id)
