"""Durable store of jobs, tasks and the job event log, on SQLite in WAL mode.

Every change is one transaction committed with `synchronous=FULL`, so anything the
orchestrator has acknowledged survives a crash of the process or of the machine.
Task transitions are compare-and-set on (state, epoch): a stale epoch changes nothing.

`Store` is the one writer (its connection used from one thread at a time: the
orchestrator's writer thread); `StoreReader` is a read-only connection of its own, so
reads go on while a write waits for a lock. A transaction whose COMMIT fails is rolled
back and raises: nothing later joins a half-open transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cellwright.orchestrator import codec
from cellwright.orchestrator.model import Job, JobState, ReadyTask, StoredEvent, Task, TaskError, TaskState
from cellwright.orchestrator.store_plant import PLANT_SCHEMA, PlantQueries, PlantWrites

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL UNIQUE,
    body_hash TEXT NOT NULL,
    workflow TEXT NOT NULL,
    workflow_version INTEGER NOT NULL,
    params TEXT NOT NULL,
    priority INTEGER NOT NULL,
    deadline REAL NOT NULL,
    labels TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    ordinal INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    params TEXT NOT NULL,
    needs TEXT NOT NULL,
    retries INTEGER NOT NULL,
    state TEXT NOT NULL,
    cell_id TEXT NOT NULL DEFAULT '',
    boot_id TEXT NOT NULL DEFAULT '',
    epoch INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    result TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    duration_s REAL NOT NULL DEFAULT 0,
    assigned_at REAL NOT NULL DEFAULT 0,
    finished_at REAL NOT NULL DEFAULT 0,
    operator_note TEXT NOT NULL DEFAULT '',
    rank_priority INTEGER NOT NULL DEFAULT 0,
    rank_deadline REAL NOT NULL DEFAULT 1e300,
    rank_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_job ON tasks(job_id);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state);
CREATE INDEX IF NOT EXISTS tasks_cell ON tasks(cell_id, state);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    job_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    snapshot BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, seq);
CREATE TABLE IF NOT EXISTS probes (id INTEGER PRIMARY KEY CHECK (id = 1), time REAL NOT NULL);
"""
# Columns added after 0.1, as (table, column, definition): `_migrate` adds the missing ones,
# so a 0.1 database opens with every old row reading as the defaults.
ADDED_COLUMNS = [
    ("tasks", "operator_note", "TEXT NOT NULL DEFAULT ''"),
    ("tasks", "spec", "TEXT NOT NULL DEFAULT '{}'"),
    ("tasks", "idx", "INTEGER NOT NULL DEFAULT 0"),
    ("tasks", "item", "TEXT NOT NULL DEFAULT 'null'"),
    ("tasks", "not_before", "REAL NOT NULL DEFAULT 0"),
    ("tasks", "excluded_cells", "TEXT NOT NULL DEFAULT '[]'"),
    ("tasks", "same_cell", "TEXT NOT NULL DEFAULT ''"),
    ("jobs", "outputs", "TEXT NOT NULL DEFAULT '{}'"),
    ("jobs", "outputs_spec", "TEXT NOT NULL DEFAULT '{}'"),
    ("jobs", "pin", "TEXT NOT NULL DEFAULT '{}'"),
]
# The order READY tasks are dispatched in, copied from their job at submission (priority
# and deadline never change): an index walk finds the most urgent ones without sorting
# every READY task, however long the queue (after `_migrate`: 0.1 files lack the columns).
RANK_INDEXES = """
CREATE INDEX IF NOT EXISTS tasks_ready ON tasks(state, rank_priority, rank_deadline, rank_seq, ordinal);
CREATE INDEX IF NOT EXISTS tasks_late ON tasks(state, rank_deadline);
"""
NO_DEADLINE = 1e300
BUSY_TIMEOUT_S = 5.0


def _error_json(error: TaskError | None) -> str | None:
    return None if error is None else json.dumps(
        {"reason": error.reason, "message": error.message, "retryable": error.retryable})


def _error(text: str | None) -> TaskError | None:
    return None if text is None else TaskError(**json.loads(text))


class StoreInUse(RuntimeError):
    """Another orchestrator has the database open."""


class _Queries(PlantQueries):
    """Reads shared by the writer and the reader connections."""

    _db: sqlite3.Connection

    def get_job(self, job_id: str) -> Job | None:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else self._job(row)

    def list_jobs(self, *, states: Sequence[JobState], workflow: str, labels: dict[str, str],
                  after_seq: int, limit: int) -> list[tuple[int, Job]]:
        """(seq, job) in submission order after `after_seq` (seq is the page position)."""
        where, args = ["seq > ?"], list[Any]([after_seq])
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args += [s.value for s in states]
        if workflow:  # "pick-place" also matches jobs submitted as "pick-place@1"
            where.append("(workflow = ? OR substr(workflow, 1, ?) = ?)")
            args += [workflow, len(workflow) + 1, f"{workflow}@"]
        for key, value in labels.items():
            where.append("json_extract(labels, ?) = ?")
            args += [f'$."{key}"', value]
        rows = self._db.execute(
            f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
            (*args, limit)).fetchall()
        return [(r["seq"], self._job(r)) for r in rows]

    def get_task(self, task_id: str) -> Task | None:
        row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else self._task(row)

    def events_after(self, seq: int, job_id: str, limit: int) -> list[StoredEvent]:
        """Events after `seq` (of one job if `job_id`), oldest first."""
        rows = self._db.cursor()
        rows.row_factory = None  # plain tuples: a replay reads many rows
        if job_id:
            rows.execute("SELECT seq, time, job_id, task_id, snapshot FROM events WHERE job_id = ?"
                         " AND seq > ? ORDER BY seq LIMIT ?", (job_id, seq, limit))
        else:
            rows.execute("SELECT seq, time, job_id, task_id, snapshot FROM events WHERE seq > ?"
                         " ORDER BY seq LIMIT ?", (seq, limit))
        return [StoredEvent(*r) for r in rows]

    def in_flight_tasks(self) -> list[Task]:
        rows = self._db.execute("SELECT * FROM tasks WHERE state IN ('ASSIGNED', 'RUNNING')")
        return [self._task(r) for r in rows]

    def newest_seq(self) -> int:
        """The seq of the newest job event (0 if none)."""
        return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def _job(self, row: sqlite3.Row) -> Job:
        tasks = self._db.execute(
            "SELECT * FROM tasks WHERE job_id = ? ORDER BY ordinal", (row["id"],)).fetchall()
        return Job(
            id=row["id"], request_id=row["request_id"], workflow=row["workflow"],
            workflow_version=row["workflow_version"], params=json.loads(row["params"]),
            priority=row["priority"], deadline=row["deadline"], labels=json.loads(row["labels"]),
            state=JobState(row["state"]), tasks=tuple(self._task(t) for t in tasks),
            created_at=row["created_at"], updated_at=row["updated_at"], error=_error(row["error"]),
            cancel_requested=bool(row["cancel_requested"]), outputs=json.loads(row["outputs"]),
            outputs_spec=json.loads(row["outputs_spec"]),
            pin=codec.placement_from_dict(json.loads(row["pin"])))

    @staticmethod
    def _task(row: sqlite3.Row) -> Task:
        return Task(
            id=row["id"], job_id=row["job_id"], step_id=row["step_id"], skill=row["skill"],
            params=json.loads(row["params"]), needs=tuple(json.loads(row["needs"])),
            state=TaskState(row["state"]), cell_id=row["cell_id"],
            boot_id=row["boot_id"], epoch=row["epoch"], attempt=row["attempt"],
            result=json.loads(row["result"]), error=_error(row["error"]),
            duration_s=row["duration_s"], assigned_at=row["assigned_at"],
            finished_at=row["finished_at"], operator_note=row["operator_note"],
            spec=codec.spec_from_json(row["spec"]), index=row["idx"], item=json.loads(row["item"]),
            not_before=row["not_before"], excluded_cells=tuple(json.loads(row["excluded_cells"])),
            same_cell=row["same_cell"])


class Store(_Queries, PlantWrites):
    """Jobs, tasks and events in one SQLite file (created if missing); the one writer.

    One orchestrator per file: a second Store on the same file raises StoreInUse (an
    advisory lock on `<file>.lock`, released by close() or by the process's end, even a
    SIGKILL), so two dispatchers can never share one database. A write that waits longer
    than `busy_timeout_s` for another process's lock raises sqlite3.OperationalError.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = str(path)
        self.busy_timeout_s = busy_timeout_s
        self._lock = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise StoreInUse(f"database {self.path} is in use by another orchestrator; "
                             "stop it first or give this one its own --db") from None
        self._db = _connect(self.path, busy_timeout_s)
        self._after_commit: list[Callable[[], None]] = []
        self._savepoints = itertools.count()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._db.executescript(PLANT_SCHEMA)
        self._migrate()

    def close(self) -> None:
        self._db.close()
        self._lock.close()

    def _migrate(self) -> None:
        """Bring a 0.1 database up to date (columns added since)."""
        for table, column, definition in ADDED_COLUMNS:
            if column not in {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(tasks)")}
        if "rank_seq" not in columns:
            with self.transaction():
                self._db.execute("ALTER TABLE tasks ADD COLUMN rank_priority INTEGER NOT NULL DEFAULT 0")
                self._db.execute("ALTER TABLE tasks ADD COLUMN rank_deadline REAL NOT NULL DEFAULT 1e300")
                self._db.execute("ALTER TABLE tasks ADD COLUMN rank_seq INTEGER NOT NULL DEFAULT 0")
                self._db.execute(
                    "UPDATE tasks SET (rank_priority, rank_deadline, rank_seq) = (SELECT -j.priority,"
                    " CASE WHEN j.deadline > 0 THEN j.deadline ELSE ? END, j.seq FROM jobs j"
                    " WHERE j.id = tasks.job_id)", (NO_DEADLINE,))
        self._db.executescript(RANK_INDEXES)

    def reader(self) -> StoreReader:
        """A read-only connection of its own to the same file."""
        return StoreReader(self.path, self.busy_timeout_s)

    def pragma(self, name: str) -> str:
        """A PRAGMA's value on the writer connection, e.g. journal_mode (`wal`) or
        synchronous (`2` = FULL)."""
        return str(self._db.execute(f"PRAGMA {name}").fetchone()[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic, durable change.

        If anything fails, COMMIT included, the transaction is rolled back and the error
        raised; the callbacks given to `after_commit` run only once COMMIT succeeded. Used
        inside another transaction it is a savepoint: a failure undoes only its own part
        (and drops its callbacks), and nothing is durable before the outermost COMMIT.
        """
        if self._db.in_transaction:
            with self._savepoint():
                yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._after_commit.clear()
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        name = f"nested_{next(self._savepoints)}"
        mark = len(self._after_commit)
        self._db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            del self._after_commit[mark:]
            if self._db.in_transaction:  # SQLite may have rolled everything back itself
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
            raise
        self._db.execute(f"RELEASE {name}")

    def run_group(self, calls: Sequence[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        """Run `calls` in one transaction, one COMMIT (one fsync) for all of them, each in
        a savepoint of its own. Returns (ok, result or exception) per call: a call that
        raises undoes only its own writes. A failure of the whole (BEGIN, COMMIT, or SQLite
        rolling the transaction back by itself) is raised, and nothing of it is durable."""
        outcomes: list[tuple[bool, Any]] = []
        with self.transaction():
            for call in calls:
                try:
                    with self.transaction():
                        outcomes.append((True, call()))
                except Exception as exc:
                    if not self._db.in_transaction:
                        raise
                    outcomes.append((False, exc))
        return outcomes

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the current transaction has committed (never if it fails)."""
        if not self._db.in_transaction:
            raise RuntimeError("after_commit outside a transaction")
        self._after_commit.append(callback)

    def probe(self, now: float) -> None:
        """A small durable write, to learn whether the database can be written again."""
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO probes (id, time) VALUES (1, ?)", (now,))

    # --- jobs ----------------------------------------------------------------------
    def insert_job(self, job: Job, body_hash: str) -> None:
        self._db.execute(
            "INSERT INTO jobs (id, request_id, body_hash, workflow, workflow_version, params,"
            " priority, deadline, labels, state, created_at, updated_at, outputs_spec, pin)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (job.id, job.request_id, body_hash, job.workflow, job.workflow_version,
             json.dumps(job.params), job.priority, job.deadline, json.dumps(job.labels),
             job.state.value, job.created_at, job.updated_at, json.dumps(job.outputs_spec),
             json.dumps(job.pin.to_dict())))
        self.insert_tasks(job.id, 0, job.tasks)

    def insert_tasks(self, job_id: str, first_ordinal: int, tasks: Sequence[Task]) -> None:
        """Add tasks to a job (at submission, or a recovery step when it is started)."""
        rank = self._db.execute(
            "SELECT -priority, CASE WHEN deadline > 0 THEN deadline ELSE ? END, seq FROM jobs"
            " WHERE id = ?", (NO_DEADLINE, job_id)).fetchone()
        self._db.executemany(
            "INSERT INTO tasks (id, job_id, ordinal, step_id, skill, params, needs, retries, state,"
            " rank_priority, rank_deadline, rank_seq, spec, idx, item, same_cell, error,"
            " assigned_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(t.id, job_id, first_ordinal + i, t.step_id, t.skill, json.dumps(t.params),
              json.dumps(t.needs), t.max_attempts - 1, t.state.value, *rank,
              codec.spec_to_json(t.spec), t.index, json.dumps(t.item), t.same_cell,
              _error_json(t.error), t.assigned_at, t.finished_at)
             for i, t in enumerate(tasks)])

    def find_request(self, request_id: str) -> tuple[str, str] | None:
        """(job id, body hash) of an earlier submission with this idempotency key."""
        row = self._db.execute(
            "SELECT id, body_hash FROM jobs WHERE request_id = ?", (request_id,)).fetchone()
        return None if row is None else (row["id"], row["body_hash"])

    def update_job(self, job_id: str, now: float, *, state: JobState | None = None,
                   error: TaskError | None = None, cancel_requested: bool | None = None,
                   outputs: dict[str, Any] | None = None, expect_state: JobState | None = None) -> None:
        """Change the fields given (of a job in `expect_state` only, when given)."""
        sets, args = ["updated_at = ?"], list[Any]([now])
        if outputs is not None:
            sets.append("outputs = ?")
            args.append(json.dumps(outputs))
        if state is not None:
            sets.append("state = ?")
            args.append(state.value)
        if error is not None:
            sets.append("error = ?")
            args.append(_error_json(error))
        if cancel_requested is not None:
            sets.append("cancel_requested = ?")
            args.append(int(cancel_requested))
        where = "id = ?" if expect_state is None else "id = ? AND state = ?"
        args += [job_id] if expect_state is None else [job_id, expect_state.value]
        self._db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE {where}", args)

    # --- tasks ---------------------------------------------------------------------

    def ready_tasks(self, skills: Sequence[str], now: float, limit: int) -> list[ReadyTask]:
        """READY tasks needing one of `skills`, most urgent first: priority, then deadline,
        then age; a retry waiting out its backoff (`not_before`) is left out. Filtering by
        skill here keeps tasks nobody can run now from hiding
        those somebody can."""
        if not skills:
            return []
        rows = self._db.execute(
            "SELECT t.*, j.priority AS j_priority, j.deadline AS j_deadline,"
            " j.created_at AS j_created, j.pin AS j_pin, (SELECT p.cell_id FROM tasks p WHERE p.job_id = t.job_id"
            " AND p.cell_id != '' ORDER BY p.assigned_at DESC LIMIT 1) AS last_cell"
            " FROM tasks t JOIN jobs j ON j.id = t.job_id"
            f" WHERE t.state = 'READY' AND t.skill IN ({','.join('?' * len(skills))})"
            " AND t.not_before <= ?"
            " ORDER BY t.rank_priority, t.rank_deadline, t.rank_seq, t.ordinal"
            " LIMIT ?", (*skills, now, limit)).fetchall()
        return [ReadyTask(self._task(r), r["j_priority"], r["j_deadline"], r["j_created"],
                          r["last_cell"] or "", codec.placement_from_dict(json.loads(r["j_pin"])))
                for r in rows]

    def late_jobs(self, now: float) -> list[tuple[str, str]]:
        """(job id, READY task id) of unfinished jobs past their deadline with a task not
        yet dispatched, one row per job."""
        rows = self._db.execute(
            "SELECT t.job_id, MIN(t.id) FROM tasks t JOIN jobs j ON j.id = t.job_id"
            " WHERE t.state = 'READY' AND t.rank_deadline < ?"
            " AND j.state IN ('QUEUED', 'RUNNING', 'HELD') GROUP BY t.job_id", (now,))
        return [(r[0], r[1]) for r in rows]

    def tasks_in_state(self, state: TaskState) -> list[Task]:
        return [self._task(r) for r in
                self._db.execute("SELECT * FROM tasks WHERE state = ?", (state.value,))]

    def tasks_on_cell(self, cell_id: str, states: Sequence[TaskState]) -> list[Task]:
        """Tasks last assigned to `cell_id` that are in one of `states`."""
        rows = self._db.execute(
            f"SELECT * FROM tasks WHERE cell_id = ? AND state IN ({','.join('?' * len(states))})",
            (cell_id, *(s.value for s in states)))
        return [self._task(r) for r in rows]

    def update_task(self, task_id: str, *, expect_states: Iterable[TaskState],
                    expect_epoch: int | None = None, **fields: Any) -> bool:
        """Compare-and-set: change `fields` only if the task is in one of `expect_states`
        (and at `expect_epoch` when given). Returns whether the row changed."""
        states = [s.value for s in expect_states]
        sets, args = [], []
        for name, value in fields.items():
            sets.append(f"{name} = ?")
            if isinstance(value, TaskState):
                value = value.value
            elif name in ("result", "params", "excluded_cells"):
                value = json.dumps(value)
            elif name == "error":
                value = _error_json(value)
            args.append(value)
        sql = (f"UPDATE tasks SET {', '.join(sets)} WHERE id = ?"
               f" AND state IN ({','.join('?' * len(states))})")
        args += [task_id, *states]
        if expect_epoch is not None:
            sql += " AND epoch = ?"
            args.append(expect_epoch)
        return self._db.execute(sql, args).rowcount == 1

    # --- events --------------------------------------------------------------------
    def append_event(self, now: float, job_id: str, task_id: str, snapshot: bytes) -> int:
        cursor = self._db.execute(
            "INSERT INTO events (time, job_id, task_id, snapshot) VALUES (?,?,?,?)",
            (now, job_id, task_id, snapshot))
        return int(cursor.lastrowid or 0)


class StoreReader(_Queries):
    """A read-only connection (`Store.reader()`): readers never wait for the writer."""

    def __init__(self, path: str, busy_timeout_s: float) -> None:
        self._db = _connect(path, busy_timeout_s)
        self._db.execute("PRAGMA query_only=ON")

    def close(self) -> None:
        self._db.close()


def _connect(path: str, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from the one
    thread that owns it at a time."""
    db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_s, check_same_thread=False)
    db.row_factory = sqlite3.Row
    return db
