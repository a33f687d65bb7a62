"""The job store (orchestrator.store) on a real SQLite file: its durability settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellwright.orchestrator import store as store_module
from cellwright.orchestrator.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "jobs.db")
    yield opened
    opened.close()


def test_the_store_writes_ahead_so_readers_never_wait_for_the_writer(store: Store) -> None:
    assert store.pragma("journal_mode") == "wal"


def test_the_store_syncs_every_commit_so_an_acknowledged_job_survives_a_power_loss(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FULL is also this SQLite build's default, so the connection starts at OFF here (as
    builds whose WAL default is NORMAL do, at NORMAL): the store must ask for FULL itself."""
    connect = store_module._connect

    def lax(path: str, busy_timeout_s: float) -> sqlite3.Connection:
        db = connect(path, busy_timeout_s)
        db.execute("PRAGMA synchronous=OFF")
        return db

    monkeypatch.setattr(store_module, "_connect", lax)
    store = Store(tmp_path / "jobs.db")
    try:
        assert store.pragma("synchronous") == "2"  # FULL
    finally:
        store.close()

