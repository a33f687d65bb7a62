"""The worlds registry: world names (`arm_cell`) to world files, plus entry points in the
group `cellwright.worlds`.

A package adds worlds by declaring, in its pyproject.toml::

    [project.entry-points."cellwright.worlds"]
    acme = "acme_cells.worlds:WORLDS"      # a WorldEntry, or a list or tuple of them

where `acme_cells/worlds.py` has
``WORLDS = [WorldEntry("acme_line", Path(__file__).parent / "acme_line.yaml")]``. The
layout a world refers to is found relative to the world file, so ship both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cellwright.api.registry import Registry, RegistryError

WORLDS_DIR = Path(__file__).parent / "worlds"
"""The packaged world files."""


@dataclass(frozen=True)
class WorldEntry:
    """A registered world: its `id` (what cell configs and `load_world` name) and the path
    of its YAML file."""

    id: str
    path: Path
    description: str = ""


def _check_world(entry: object) -> None:
    if not isinstance(entry, WorldEntry):
        raise TypeError(f"a world registry entry must be a cellwright.sim_worlds.registry."
                        f"WorldEntry, got {type(entry).__name__}")
    if not entry.id or not isinstance(entry.id, str):
        raise TypeError(f"world id must be a non-empty string, got {entry.id!r}")
    if not Path(entry.path).is_file():
        raise TypeError(f"world {entry.id!r}: no file {str(entry.path)!r}")


WORLDS: Registry[WorldEntry] = Registry("cellwright.worlds", "world", key=lambda w: w.id,
                                        check=_check_world)

PACKAGED = (
    WorldEntry("arm_cell", WORLDS_DIR / "arm_cell.yaml",
               "one Panda on a table: an infeed tray with nine cubes, two outfeed trays"),
    WorldEntry("line2", WORLDS_DIR / "line2.yaml",
               "two Pandas in one world: infeed, a shared handover tray, outfeed"),
    WorldEntry("line", WORLDS_DIR / "line.yaml",
               "a kitting line: a Panda kits parts into a tote, a G1 humanoid carries it to "
               "assembly and back, a worker crosses the aisle"),
)
for _entry in PACKAGED:
    WORLDS.register(_entry, origin="cellwright (built in)")


def register(entry: WorldEntry, *, replace: bool = False) -> WorldEntry:
    """Add a world to the registry (plugins may use entry points instead)."""
    return WORLDS.register(entry, replace=replace)


def resolve_world_path(name_or_path: str) -> Path:
    """The world file for a registered name (``arm_cell``); a path ending .yaml or .yml is
    used as it is.

    Raises:
        RegistryError: unknown name; the message lists the known worlds and a close match.
    """
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    return Path(WORLDS.get(name_or_path).path)


__all__ = ["WORLDS", "WORLDS_DIR", "RegistryError", "WorldEntry", "register",
           "resolve_world_path"]
