"""The job store (orchestrator.store) on a real SQLite file: durability settings, migration."""

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



def test_a_0_1_database_is_brought_up_to_date_and_keeps_its_queue_order(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript((Path(__file__).parent / "data" / "store_0_1.sql").read_text())
    old.close()
    store = Store(path)
    try:
        ready = store.ready_tasks(["noop"], now=2e9, limit=10)
        assert [r.task.id for r in ready] == ["job-b/noop", "job-a/noop"]  # priority 5 first
        assert [r.task.operator_note for r in ready] == ["", ""]
        assert store.late_jobs(now=1700000200) == [("job-b", "job-b/noop")]  # its deadline passed
    finally:
        store.close()


def test_a_group_commits_every_call_but_the_one_that_failed(store: Store) -> None:
    """Group commit: one COMMIT for several writes, each in a savepoint of its own."""
    store._db.execute("DROP TABLE probes")
    store._db.execute("CREATE TABLE probes (id INTEGER PRIMARY KEY, time REAL NOT NULL)")
    announced: list[str] = []

    def write(name: str, fail: bool = False) -> str:
        with store.transaction():
            store.after_commit(lambda: announced.append(name))
            store._db.execute("INSERT INTO probes (id, time) VALUES (?, 0)", (ord(name),))
            if fail:
                raise ValueError(f"{name} refused")
        return name

    outcomes = store.run_group([lambda: write("a"), lambda: write("b", fail=True), lambda: write("c")])
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert str(outcomes[1][1]) == "b refused"
    assert announced == ["a", "c"]  # b's callback went with its savepoint
    other = sqlite3.connect(store.path)
    try:
        assert other.execute("SELECT id FROM probes ORDER BY id").fetchall() == [(ord("a"),), (ord("c"),)]
    finally:
        other.close()


def test_a_group_whose_commit_fails_leaves_nothing_and_announces_nothing(store: Store) -> None:
    store._db.execute("CREATE TABLE owners (name TEXT PRIMARY KEY)")
    store._db.execute("CREATE TABLE owned (owner TEXT REFERENCES owners(name) DEFERRABLE INITIALLY DEFERRED)")
    announced: list[str] = []

    def write(sql: str) -> None:
        with store.transaction():
            store.after_commit(lambda: announced.append(sql))
            store._db.execute(sql)

    with pytest.raises(sqlite3.IntegrityError):  # the deferred key fails at the one COMMIT
        store.run_group([lambda: write("INSERT INTO owners VALUES ('ann')"),
                         lambda: write("INSERT INTO owned VALUES ('nobody')")])
    assert announced == []
    assert store._db.execute("SELECT COUNT(*) FROM owners").fetchone()[0] == 0
