"""`cellwright registry list`: what is installed in the robot, skill and world registries."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cellwright.api.registry import Registry
from cellwright.cells.skills import SKILLS
from cellwright.robots import ROBOTS
from cellwright.sim_worlds.registry import WORLDS


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("registry", help="list installed robot models, skills and worlds")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "list", help="every registry entry with where it came from (built in, register(), or "
                     "a plugin's entry point) and plugins that failed to load")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)


def rows() -> list[dict[str, str]]:
    """One row per entry of every registry; plugin entry points are loaded first."""
    registries: list[tuple[str, Registry[Any], Any]] = [
        ("robot", ROBOTS, lambda m: m.description),
        ("skill", SKILLS, lambda s: s.description),
        ("world", WORLDS, lambda w: w.description or str(w.path)),
    ]
    found = []
    for kind, registry, describe in registries:
        for entry_id in registry.ids():
            found.append({"registry": kind, "id": entry_id, "origin": registry.origin(entry_id),
                          "description": describe(registry.get(entry_id))})
    return found


def load_errors() -> dict[str, dict[str, str]]:
    """Entry points that failed to load, by registry."""
    return {kind: dict(registry.load_errors) for kind, registry in
            (("robot", ROBOTS), ("skill", SKILLS), ("world", WORLDS)) if registry.load_errors}


def run_list(args: argparse.Namespace) -> int:
    found, errors = rows(), load_errors()
    if args.json:
        print(json.dumps({"entries": found, "load_errors": errors}, indent=2))
        return 1 if errors else 0
    width = max(len(r["id"]) for r in found)
    for row in found:
        print(f"{row['registry']:6} {row['id']:{width}}  {row['description']}  [{row['origin']}]")
    for kind, failed in errors.items():
        for name, error in failed.items():
            print(f"error: {kind} plugin {name!r} failed to load: {error}")
    return 1 if errors else 0
