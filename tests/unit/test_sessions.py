"""A cell session as the orchestrator keeps it, without gRPC."""

from __future__ import annotations

from pathlib import Path

from cellwright.orchestrator.sessions import CellSession
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import packml_pb2

BEATS = 100_000


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _beat(i: int) -> cell_pb.Heartbeat:
    return cell_pb.Heartbeat(
        packml_state=packml_pb2.PACKML_STATE_EXECUTE, busy=False,
        stats=cell_pb.CellStats(clock_s=float(i), busy_s=0.5 * i, tasks_succeeded=i,
                                state_time_s={"Execute": float(i), "Idle": 1.0, "Resetting": 0.5}))


def test_heartbeats_do_not_grow_the_sessions_memory() -> None:
    """0.1 leaked ~1.6 KB of native memory per heartbeat (CopyFrom into a long-lived
    message): 100k heartbeats would add ~160 MB. Memory, not time: deterministic enough
    to assert with a wide margin."""
    session = CellSession(cell_pb.Hello(cell_id="c1", boot_id="b"))
    for i in range(1000):  # warm up allocator pools
        session.apply_heartbeat(_beat(i))
    before = _rss_bytes()
    for i in range(BEATS):
        session.apply_heartbeat(_beat(i))
    grown = _rss_bytes() - before
    assert grown < 16 * 2**20, f"{grown / BEATS:.0f} B per heartbeat"
    assert session.stats.clock_s == BEATS - 1


def test_a_session_calls_on_change_only_when_whether_it_is_idle_may_change() -> None:
    changes: list[str] = []
    session = CellSession(cell_pb.Hello(cell_id="c1", boot_id="b"),
                          on_change=lambda s: changes.append(f"{s.packml_state}/{s.busy}/{s.task_id}"))
    session.apply_heartbeat(_beat(1))
    session.apply_heartbeat(_beat(2))  # the same state: no change
    busy = _beat(3)
    busy.busy = True
    session.apply_heartbeat(busy)
    session.set_task("j/s")
    session.set_task("j/s")
    session.set_packml_state(packml_pb2.PACKML_STATE_HELD)
    session.close()
    session.close()
    assert changes == ["5/False/", "5/True/", "5/True/j/s", "9/True/j/s", "9/True/j/s"]
    assert session.offer() is None and session.offer_of(busy_ok=True) is None
