"""What the store keeps of the plant besides jobs: workflow versions, every cell and skill
ever advertised, and reservations of layout stations. Mixed into `Store` (writes) and
`_Queries` (reads), on the same connection and transactions as the jobs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from cellwright.orchestrator.model import KnownCell, Reservation, SkillSchema, StoredWorkflow

PLANT_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    digest TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS known_cells (
    cell_id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS skills (
    name TEXT PRIMARY KEY,
    params_schema TEXT NOT NULL,
    result_schema TEXT NOT NULL,
    first_cell TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
    resource TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    state TEXT NOT NULL,
    since REAL NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS reservations_task ON reservations(task_id);
"""


class PlantQueries:
    """Reads of the plant tables."""

    _db: sqlite3.Connection

    def workflow_versions(self, name: str) -> list[StoredWorkflow]:
        rows = self._db.execute("SELECT * FROM workflows WHERE name = ? ORDER BY version", (name,))
        return [StoredWorkflow(**dict(r)) for r in rows]

    def newest_with_digest(self, digest: str) -> StoredWorkflow | None:
        """The workflow version with this text, if it is the newest of its name."""
        row = self._db.execute(
            "SELECT w.* FROM workflows w WHERE w.digest = ? AND w.version = (SELECT MAX(version)"
            " FROM workflows v WHERE v.name = w.name)", (digest,)).fetchone()
        return None if row is None else StoredWorkflow(**dict(row))

    def newest_workflows(self) -> list[StoredWorkflow]:
        rows = self._db.execute(
            "SELECT w.* FROM workflows w JOIN (SELECT name, MAX(version) AS v FROM workflows"
            " GROUP BY name) n ON n.name = w.name AND n.v = w.version ORDER BY w.name")
        return [StoredWorkflow(**dict(r)) for r in rows]

    def known_cells(self) -> list[KnownCell]:
        cells = []
        for row in self._db.execute("SELECT * FROM known_cells ORDER BY cell_id"):
            record = json.loads(row["record"])
            cells.append(KnownCell(row["cell_id"], frozenset(record["skills"]),
                                   frozenset(record["tags"]), frozenset(record["kinds"]),
                                   frozenset(record["models"]), row["last_seen"]))
        return cells

    def skill_schemas(self, names: Sequence[str] | None = None) -> dict[str, SkillSchema]:
        """The schema of every skill the plant knows (of `names` only, if given)."""
        if names is None:
            rows = self._db.execute("SELECT * FROM skills")
        else:
            rows = self._db.execute(f"SELECT * FROM skills WHERE name IN ({','.join('?' * len(names))})",
                                    names)
        return {r["name"]: SkillSchema(r["name"], json.loads(r["params_schema"]),
                                       json.loads(r["result_schema"]), r["first_cell"]) for r in rows}

    def reservations(self) -> list[Reservation]:
        return [Reservation(**dict(r)) for r in
                self._db.execute("SELECT * FROM reservations ORDER BY resource")]


class PlantWrites:
    """Writes of the plant tables (inside the caller's transaction)."""

    _db: sqlite3.Connection

    def insert_workflow(self, workflow: StoredWorkflow) -> None:
        self._db.execute("INSERT INTO workflows VALUES (?,?,?,?,?,?)",
                         (workflow.name, workflow.version, workflow.source, workflow.digest,
                          workflow.origin, workflow.created_at))

    def remember_cell(self, cell: KnownCell, skills: Iterable[SkillSchema]) -> None:
        """Record a cell's hello; skills not yet known (or known without a declared schema)
        take this cell's schemas."""
        record = {"skills": sorted(cell.skills), "tags": sorted(cell.tags),
                  "kinds": sorted(cell.kinds), "models": sorted(cell.models)}
        self._db.execute("INSERT OR REPLACE INTO known_cells VALUES (?,?,?)",
                         (cell.cell_id, json.dumps(record), cell.last_seen))
        self._db.executemany(
            "INSERT INTO skills VALUES (?,?,?,?) ON CONFLICT (name) DO UPDATE SET"
            " params_schema = CASE WHEN params_schema = '{}' THEN excluded.params_schema"
            " ELSE params_schema END, result_schema = CASE WHEN result_schema = '{}'"
            " THEN excluded.result_schema ELSE result_schema END",
            [(s.name, json.dumps(s.params_schema, sort_keys=True),
              json.dumps(s.result_schema, sort_keys=True), s.first_cell) for s in skills])

    def reserve(self, reservations: Iterable[Reservation]) -> bool:
        """Take every reservation or none: False if one is held already."""
        rows = [(r.resource, r.job_id, r.task_id, r.cell_id, r.boot_id, r.epoch, r.state, r.since,
                 r.note) for r in reservations]
        if not rows:
            return True
        held = self._db.execute(
            f"SELECT 1 FROM reservations WHERE resource IN ({','.join('?' * len(rows))})",
            [r[0] for r in rows]).fetchone()
        if held is not None:
            return False
        self._db.executemany("INSERT INTO reservations VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return True

    def release(self, task_id: str, epoch: int | None = None) -> list[str]:
        """Free the reservations of a task (of that epoch, if given); returns the resources."""
        where, args = "task_id = ?", list[object]([task_id])
        if epoch is not None:
            where += " AND epoch = ?"
            args.append(epoch)
        rows = self._db.execute(f"DELETE FROM reservations WHERE {where} RETURNING resource", args)
        return sorted(r[0] for r in rows)

    def release_holder(self, task_id: str, cell_id: str, boot_id: str, epoch: int) -> list[str]:
        """Free what one holder (a task's cell, boot and epoch) holds: its final report, even
        one stale for the task (skipped or retried since), says it is out of the station."""
        rows = self._db.execute(
            "DELETE FROM reservations WHERE task_id = ? AND cell_id = ? AND boot_id = ? AND epoch = ?"
            " RETURNING resource", (task_id, cell_id, boot_id, epoch))
        return sorted(r[0] for r in rows)

    def release_job(self, job_id: str, keep_tasks: Iterable[str]) -> list[str]:
        """Free a job's reservations but those of `keep_tasks` (tasks still on a cell)."""
        keep = list(keep_tasks)
        rows = self._db.execute(
            f"DELETE FROM reservations WHERE job_id = ? AND task_id NOT IN ({','.join('?' * len(keep))})"
            " RETURNING resource", (job_id, *keep))
        return sorted(r[0] for r in rows)

    def suspect(self, task_id: str, note: str) -> None:
        self._db.execute("UPDATE reservations SET state = 'SUSPECT', note = ? WHERE task_id = ?",
                         (note, task_id))

    def unsuspect(self, task_id: str, epoch: int) -> None:
        """The holder is back (the same boot reports the task running): HELD again."""
        self._db.execute("UPDATE reservations SET state = 'HELD', note = '' WHERE task_id = ?"
                         " AND epoch = ?", (task_id, epoch))
