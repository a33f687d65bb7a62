"""Unit-test fixtures shared by the engine's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cellwright.orchestrator.engine import Engine
from cellwright.orchestrator.model import Job


@pytest.fixture(autouse=True)
def snapshots_match_the_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every job event the engine records from the job it holds in memory (not read back)
    must equal the job as the store has it then: the writer skips that read."""
    record = Engine._record

    def checked(self: Engine, job_id: str, task_id: str, job: Job | None = None) -> None:
        if job is not None:
            assert job == self._job(job_id), f"event of {job_id} differs from the stored job"
        record(self, job_id, task_id, job)

    monkeypatch.setattr(Engine, "_record", checked)
    yield
