"""Workflow versions in the store: put (validated against the plant), resolve, list.

Every version is immutable and durable; putting the same text as the newest version of
its name stores nothing. Workflows are checked against what the plant advertised (the
skills and their schemas every cell ever sent) and the line layout; while the plant knows
no cell at all, skills are not checked (a warning says so) and jobs are checked at submit.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from cellwright.api.layout import Layout
from cellwright.api.schema import quote
from cellwright.orchestrator.errors import InvalidArgument, NotFound
from cellwright.orchestrator.model import StoredWorkflow
from cellwright.orchestrator.store import Store, StoreReader
from cellwright.orchestrator.workflow import Catalog, Diagnostic, SkillSpec, Workflow, check

BUILTIN_DIR = Path(__file__).parent / "builtin_workflows"
MAX_SOURCE_BYTES = 256 * 1024
MAX_LISTED_CHARS = 3500  # within the server's status-details limit (HTTP/2 headers)
NOT_CHECKED = {  # the offline checker's hints, as they apply to an orchestrator
    "skills": "no cell has connected to this orchestrator yet: skills are checked against what "
              "cells advertise once one has",
    "reservations": "start the orchestrator with --layout FILE to check reserved stations",
}
UNMET = ("no cell of this plant has advertised it yet; jobs that need it are refused until "
         "one does")


class WorkflowRefused(InvalidArgument):
    """A workflow with errors; `diagnostics` has every one."""

    def __init__(self, origin: str, diagnostics: list[Diagnostic]) -> None:
        errors = [d for d in diagnostics if d.severity == "error"]
        lines: list[str] = []
        for error in errors:  # one line each (hints left out) while they fit a status message
            line = f"{error.file}:{error.line}:{error.column}: error: {error.message}"
            if sum(len(x) + 1 for x in lines) + len(line) > MAX_LISTED_CHARS:
                lines.append(f"... and {len(errors) - len(lines)} more: ValidateWorkflow "
                             "(`cellwright workflow validate --orchestrator`) lists every one "
                             "with its hint")
                break
            lines.append(line)
        super().__init__("source", f"{len(errors)} error(s) in {origin}:\n" + "\n".join(lines))
        self.diagnostics = diagnostics


class WorkflowCatalog:
    """Versions of workflows kept in the store; parsed ones cached (they never change)."""

    def __init__(self, store: Store, layout: Layout, clock: Callable[[], float],
                 reader: Store | StoreReader | None = None) -> None:
        self.store = store
        self.reader = reader or store
        self.layout = layout
        self._clock = clock
        self._parsed: dict[tuple[str, int], Workflow] = {}
        self._lock = threading.Lock()

    def plant(self, db: Store | StoreReader) -> Catalog:
        """What workflows are checked against now (read through `db`)."""
        schemas = db.skill_schemas()
        skills = {name: SkillSpec(name, s.params_schema, s.result_schema or None)
                  for name, s in schemas.items()} if db.known_cells() else None
        return Catalog(skills=skills, layout=self.layout)

    def check(self, source: str, origin: str, db: Store | StoreReader
              ) -> tuple[Workflow | None, list[Diagnostic]]:
        """Check against the plant. A skill no cell has advertised yet is a warning here
        (the plant may not have met every cell; SubmitJob refuses what no known cell runs);
        `with` values against the skills it knows are errors."""
        _check_size(source)
        plant = self.plant(db)
        workflow, diagnostics = check(source, origin, plant)
        errors = [d for d in diagnostics if d.severity == "error"]
        if workflow is None and errors and all(d.code == "unknown-skill" for d in errors):
            workflow, _ = check(source, origin, Catalog(layout=plant.layout))
            diagnostics = [replace(d, severity="warning", hint=UNMET) if d.code == "unknown-skill"
                           else d for d in diagnostics]
        return workflow, [replace(d, hint=NOT_CHECKED[d.message.split()[0]])
                          if d.code == "not-checked" and d.message.split()[0] in NOT_CHECKED else d
                          for d in diagnostics]

    def validate(self, source: str, origin: str) -> list[Diagnostic]:
        """Every diagnostic against the plant; on the reader (ValidateWorkflow stores nothing)."""
        return self.check(source, origin, self.reader)[1]

    def put(self, source: str, origin: str) -> tuple[StoredWorkflow, bool, list[Diagnostic]]:
        """Store `source` as the next version of its workflow (call in a transaction on the
        writer). Returns (stored, created, warnings); raises WorkflowRefused."""
        digest = hashlib.sha256(source.encode()).hexdigest()
        unchanged = self.store.newest_with_digest(digest)
        if unchanged is not None:  # checked when it was put; a restart does not refuse it now
            return unchanged, False, []
        workflow, diagnostics = self.check(source, origin, self.store)
        if workflow is None:
            raise WorkflowRefused(origin, diagnostics)
        versions = self.store.workflow_versions(workflow.name)
        stored = StoredWorkflow(workflow.name, len(versions) + 1, source, digest, origin, self._clock())
        self.store.insert_workflow(stored)
        return stored, True, diagnostics

    def put_folders(self, folders: Iterable[Path]) -> list[tuple[StoredWorkflow, bool]]:
        """Put every *.yaml / *.yml of the built-in folder and `folders` (at start-up)."""
        stored = []
        for folder in (BUILTIN_DIR, *folders):
            if not Path(folder).is_dir():
                raise InvalidArgument("--workflows", f"{folder} is not a folder; give a folder of "
                                      "workflow files")
            paths = sorted([*Path(folder).glob("*.yaml"), *Path(folder).glob("*.yml")])
            if not paths:
                raise InvalidArgument("--workflows", f"{folder}: no workflow files (*.yaml, *.yml)")
            with self.store.transaction():
                for path in paths:
                    workflow, created, _ = self.put(path.read_text(), str(path))
                    stored.append((workflow, created))
        return stored

    def resolve(self, ref: str) -> Workflow:
        """`name` (newest version) or `name@version`, parsed; NotFound lists what exists."""
        name, at, version = ref.partition("@")
        versions = self.store.workflow_versions(name)
        if not versions:
            known = [w.name for w in self.store.newest_workflows()]
            raise NotFound(f"workflow {quote(name)} not found; known workflows: {known}")
        if not at:
            chosen = versions[-1]
        elif version.isdigit() and 1 <= int(version) <= len(versions):
            chosen = versions[int(version) - 1]
        else:
            raise NotFound(f"workflow {quote(name)} has no version {quote(version)}; versions: "
                           f"{[v.version for v in versions]}")
        return self.parsed(chosen)

    def parsed(self, stored: StoredWorkflow) -> Workflow:
        """The stored version parsed (not checked against the plant again: it was when put)."""
        key = (stored.name, stored.version)
        with self._lock:
            if key not in self._parsed:
                # no plant and no layout: what was checked at put is not undone by a restart
                # with another layout or other cells
                workflow, diagnostics = check(stored.source, stored.origin, Catalog())
                if workflow is None:
                    error = next(d for d in diagnostics if d.severity == "error")
                    raise InvalidArgument("workflow", f"stored {stored.name}@{stored.version} no "
                                          f"longer parses: {error}")
                self._parsed[key] = replace(workflow, version=stored.version)
            return self._parsed[key]


def _check_size(source: str) -> None:
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise InvalidArgument("source", f"workflow over {MAX_SOURCE_BYTES // 1024} KiB; split it")
