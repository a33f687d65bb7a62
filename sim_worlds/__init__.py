"""Simulated worlds: YAML world files (which refer to a line layout), the loader, the
worlds registry, the simulation clock, rendering and the ground-truth part locator.

Reading world files (`spec`) and the registry do not import PyBullet; `SimWorld`,
`load_world` and friends import it on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cellwright.sim_worlds.clock import SimClock
from cellwright.sim_worlds.registry import WORLDS, WorldEntry, resolve_world_path
from cellwright.sim_worlds.spec import WorldConfigError, WorldSpec, read_world

if TYPE_CHECKING:
    from cellwright.sim_worlds.world import SETTLE_S, Part, PartInfo, SimWorld, load_world

_NEEDS_PYBULLET = {"SETTLE_S", "Part", "PartInfo", "SimWorld", "load_world"}


def __getattr__(name: str) -> Any:
    if name in _NEEDS_PYBULLET:
        return getattr(importlib.import_module("cellwright.sim_worlds.world"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SETTLE_S", "WORLDS", "Part", "PartInfo", "SimClock", "SimWorld", "WorldConfigError",
           "WorldEntry", "WorldSpec", "load_world", "read_world", "resolve_world_path"]
