"""Matching READY tasks to idle cells: a pure function, easy to test and to replace."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cellwright.orchestrator.model import ReadyTask


@dataclass(frozen=True)
class CellOffer:
    """An idle, connected cell in PackML Execute and what it can do."""

    cell_id: str
    boot_id: str
    skills: frozenset[str]
    tags: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()  # component kinds of its robots: arm, gripper, ...
    models: frozenset[str] = frozenset()  # models of its robots, e.g. franka_panda


def admits(item: ReadyTask, cell: CellOffer) -> bool:
    """Whether `cell` may run `item`: it offers the skill and meets every placement term
    (the step's, the job's pin, `same_cell_as`) and did not report the task `not_found`."""
    task, place = item.task, item.task.spec.place
    if task.skill not in cell.skills or cell.cell_id in task.excluded_cells:
        return False
    if task.same_cell and cell.cell_id != task.same_cell:
        return False
    for wanted_cells, wanted_tags in ((place.cells, place.tags), (item.pin.cells, item.pin.tags)):
        if wanted_cells and cell.cell_id not in wanted_cells:
            return False
        if not cell.tags.issuperset(wanted_tags):
            return False
    return (not place.kind or place.kind in cell.kinds) and \
        (not place.model or place.model in cell.models)


def match(ready: Sequence[ReadyTask], cells: Sequence[CellOffer], held: Collection[str] = ()
          ) -> list[tuple[ReadyTask, CellOffer]]:
    """Give each task (most urgent first, as `ready` is ordered) an idle cell it admits.

    A task whose reservations (`spec.reserve`) meet one held now (`held`) or taken by an
    earlier match waits. A job's next step prefers the cell that ran its previous step, so
    a part held by one cell stays with it when several cells are equal. Each cell gets at
    most one task; tasks nobody can take now stay READY.
    """
    free = list(cells)
    taken = set(held)
    matches: list[tuple[ReadyTask, CellOffer]] = []
    for item in ready:
        reserve = item.task.spec.reserve
        if taken.intersection(reserve):
            continue
        capable = [c for c in free if admits(item, c)]
        if not capable:
            continue
        chosen = next((c for c in capable if c.cell_id == item.last_cell), capable[0])
        matches.append((item, chosen))
        taken.update(reserve)
        free.remove(chosen)
        if not free:
            break
    return matches
