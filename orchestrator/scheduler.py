"""Matching READY tasks to idle cells: cells indexed by skill, and a pure matching function.

`CellIndex` serves the dispatcher's idle cells and the plant's known cells: finding a cell
for a task looks only at the cells offering its skill, and of those stops at the first that
meets its placement terms, so dispatch and the checks at submit cost what one task needs,
not what the plant holds. Cells of one skill keep the order they were put in: a cell put
back after a task goes last, so work spreads over equal cells.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
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


class CellIndex:
    """Cell offers by cell id and by skill; put, remove and find cost O(skills of a cell)."""

    def __init__(self, offers: Iterable[CellOffer] = ()) -> None:
        self._cells: dict[str, CellOffer] = {}
        self._by_skill: dict[str, dict[str, CellOffer]] = {}
        for offer in offers:
            self.put(offer)

    def __len__(self) -> int:
        return len(self._cells)

    def __iter__(self) -> Iterator[CellOffer]:
        return iter(self._cells.values())

    def __contains__(self, cell_id: object) -> bool:
        return cell_id in self._cells

    def get(self, cell_id: str) -> CellOffer | None:
        return self._cells.get(cell_id)

    def put(self, offer: CellOffer) -> None:
        """Add a cell, or replace what it offers (it goes last among its skills' cells)."""
        self.remove(offer.cell_id)
        self._cells[offer.cell_id] = offer
        for skill in offer.skills:
            self._by_skill.setdefault(skill, {})[offer.cell_id] = offer

    def remove(self, cell_id: str) -> None:
        """Take a cell out (nothing if it is not in)."""
        offer = self._cells.pop(cell_id, None)
        if offer is None:
            return
        for skill in offer.skills:
            group = self._by_skill[skill]
            del group[cell_id]
            if not group:
                del self._by_skill[skill]

    def skills(self) -> list[str]:
        """Every skill some cell in the index offers, sorted."""
        return sorted(self._by_skill)

    def copy(self) -> CellIndex:
        """An independent copy (to hand to another thread): O(cells x their skills)."""
        twin = CellIndex()
        twin._cells = dict(self._cells)
        twin._by_skill = {skill: dict(group) for skill, group in self._by_skill.items()}
        return twin

    def find(self, item: ReadyTask, prefer: str = "") -> CellOffer | None:
        """The first cell that admits `item` (`prefer` first if it does), or None."""
        group = self._by_skill.get(item.task.skill)
        if not group:
            return None
        preferred = group.get(prefer)
        if preferred is not None and admits(item, preferred):
            return preferred
        return next((cell for cell in group.values() if admits(item, cell)), None)

    def admitting(self, item: ReadyTask) -> list[str]:
        """The ids of every cell that admits `item`, in index order."""
        return [cell.cell_id for cell in self._by_skill.get(item.task.skill, {}).values()
                if admits(item, cell)]


def match(ready: Sequence[ReadyTask], cells: CellIndex, held: Collection[str] = ()
          ) -> list[tuple[ReadyTask, CellOffer]]:
    """Give each task (most urgent first, as `ready` is ordered) an idle cell it admits;
    the cells given a task are taken out of `cells`.

    A task whose reservations (`spec.reserve`) meet one held now (`held`) or taken by an
    earlier match waits. A job's next step prefers the cell that ran its previous step, so
    a part held by one cell stays with it when several cells are equal. Each cell gets at
    most one task; tasks nobody can take now stay READY.
    """
    taken = set(held)
    matches: list[tuple[ReadyTask, CellOffer]] = []
    for item in ready:
        if not cells:
            break
        reserve = item.task.spec.reserve
        if taken.intersection(reserve):
            continue
        chosen = cells.find(item, prefer=item.last_cell)
        if chosen is None:
            continue
        matches.append((item, chosen))
        taken.update(reserve)
        cells.remove(chosen.cell_id)
    return matches
