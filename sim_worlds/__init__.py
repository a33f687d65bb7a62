"""Simulated worlds: YAML world files, the loader, the simulation clock and rendering."""

from cellwright.sim_worlds.clock import SimClock
from cellwright.sim_worlds.spec import Region, WorldConfigError
from cellwright.sim_worlds.world import Part, PartInfo, SimWorld, load_world

__all__ = ["Part", "PartInfo", "Region", "SimClock", "SimWorld", "WorldConfigError", "load_world"]
