"""Live watchers are served committed events from memory, never across a gap."""

from __future__ import annotations

from pathlib import Path

from cellwright.orchestrator.engine import Engine
from cellwright.orchestrator.live import Orchestrator
from cellwright.orchestrator.model import StoredEvent
from cellwright.orchestrator.store import Store
from cellwright.orchestrator.storethreads import StoreThreads


async def _ignore(_writable: bool) -> None:
    return None


def _event(seq: int) -> StoredEvent:
    return StoredEvent(seq, 0.0, "job-1", "", b"")


async def test_memory_serves_only_consecutive_events_it_reaches_back_to(tmp_path: Path) -> None:
    store = Store(tmp_path / "jobs.db")
    db = StoreThreads(store.run_group, _ignore)
    try:
        live = Orchestrator(Engine(store, encode_job=lambda job: b"",
                                   on_event=lambda event: None), db)
        assert live.recent_after(0) is None  # nothing in memory: read the store
        live.notify(_event(5))
        live.notify(_event(6))
        assert live.recent_after(3) is None  # seq 4 is not in memory
        assert [e.seq for e in live.recent_after(4) or []] == [5, 6]
        assert live.recent_after(6) == []
        live.notify(_event(8))  # 7 never came: memory starts again at 8
        assert live.recent_after(6) is None
        assert [e.seq for e in live.recent_after(7) or []] == [8]
    finally:
        db.close()
        store.close()
