"""`GroundTruthLocator`: parts located by reading the simulator's ground truth.

This is not perception. It reads every part's exact pose from PyBullet: no camera, no
noise, no misses, no occlusion. Skills that pass with it show that the motion and handling
work; what a real cell's camera-based locator would see is a different question.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from cellwright.robots.parts import PartLocator, PartSighting
from cellwright.sim_worlds.world import SimWorld

T = TypeVar("T")


class RunOnLoop(Protocol):
    """Runs a function on the thread that owns the world and returns its result
    (`ControlLoop.call` fits)."""

    def __call__(self, fn: Callable[[], T], /) -> T: ...


class GroundTruthLocator(PartLocator):
    """Parts as the simulator has them: exact poses of every part, ground truth.

    Args:
        world: the PyBullet world.
        run_on_loop: runs a function on the loop thread (`loop.call`), where all PyBullet
            reads happen; the locator's methods may then be called from any thread.
    """

    id = "pybullet.ground_truth"
    approximation = ("reads part poses from the simulator's ground truth: exact, no "
                     "perception noise or misses")

    def __init__(self, world: SimWorld, run_on_loop: RunOnLoop) -> None:
        self._world = world
        self._run = run_on_loop

    def part_types(self) -> list[str]:
        """The part types the world file defines."""
        return self._world.part_types()

    def parts(self) -> list[PartSighting]:
        """Every part of the world, exact poses, in id order."""
        return self._run(self._read_all)

    def part(self, part_id: str) -> PartSighting:
        """The part with id `part_id` (reads that part only).

        Raises:
            KeyError: no such part.
        """
        if part_id not in self._world.parts:
            raise KeyError(f"no part {part_id!r} is seen")
        return self._run(lambda: self._read(part_id))

    def _read_all(self) -> list[PartSighting]:
        return [self._read(part_id) for part_id in sorted(self._world.parts)]

    def _read(self, part_id: str) -> PartSighting:
        info = self._world.part_info(part_id)
        return PartSighting(info.id, info.type, info.pose)


__all__ = ["GroundTruthLocator", "RunOnLoop"]
