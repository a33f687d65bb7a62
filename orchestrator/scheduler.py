"""Matching READY tasks to idle cells: a pure function, easy to test and to replace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cellwright.orchestrator.model import ReadyTask


@dataclass(frozen=True)
class CellOffer:
    """An idle, connected cell in PackML Execute and what it can do."""

    cell_id: str
    boot_id: str
    skills: frozenset[str]
    tags: frozenset[str] = frozenset()


def match(ready: Sequence[ReadyTask], cells: Sequence[CellOffer]
          ) -> list[tuple[ReadyTask, CellOffer]]:
    """Give each task (most urgent first, as `ready` is ordered) an idle cell offering its skill.

    A job's next step prefers the cell that ran its previous step, so a part held by one
    cell stays with it when several cells are equal.
    Each cell gets at most one task; tasks nobody can take now stay READY.
    """
    free = list(cells)
    matches: list[tuple[ReadyTask, CellOffer]] = []
    for item in ready:
        capable = [c for c in free if item.task.skill in c.skills]
        if not capable:
            continue
        chosen = next((c for c in capable if c.cell_id == item.last_cell), capable[0])
        matches.append((item, chosen))
        free.remove(chosen)
        if not free:
            break
    return matches
