"""Cell configuration: a small YAML file per cell.

    cell_id: arm-1                   # [A-Za-z0-9._-], unique per orchestrator
    tags: [arm, panda]
    world: arm_cell                  # a sim_worlds name or YAML path; omit for no simulation
    skills: [move_to, pick, place, pick_place]   # default: every registered skill
    state_endpoint: tcp://127.0.0.1:0            # ZeroMQ PUB bind address (0 = free port)
    realtime: false                  # pace the simulation to wall time
    auto_start: true                 # Reset + Start on launch, so the cell takes work
    publish_hz: 120                  # robot state rate on the simulation clock (>= 100)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellwright.api.schema import CELL_ID
from cellwright.api.yamlfile import load_yaml

KEYS = {"cell_id", "tags", "world", "skills", "state_endpoint", "realtime", "auto_start",
        "publish_hz"}


class ConfigError(ValueError):
    """The cell configuration is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class CellConfig:
    cell_id: str
    tags: tuple[str, ...] = ()
    world: str | None = None
    skills: tuple[str, ...] | None = None
    state_endpoint: str = "tcp://127.0.0.1:0"
    realtime: bool = False
    auto_start: bool = True
    publish_hz: float = 120.0
    source: str = field(default="<memory>", compare=False)


def parse_config(doc: Any, source: str) -> CellConfig:
    """Validate a parsed YAML document into a CellConfig."""
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {problem}")

    if not isinstance(doc, dict):
        raise fail("(top)", "expected a mapping with at least cell_id")
    if extra := set(doc) - KEYS:
        raise fail(sorted(extra)[0], f"unknown key; allowed: {sorted(KEYS)}")
    cell_id = doc.get("cell_id")
    if not isinstance(cell_id, str) or not CELL_ID.match(cell_id):
        raise fail("cell_id", f"{cell_id!r} must match {CELL_ID.pattern}")
    tags, skills = doc.get("tags", []), doc.get("skills")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise fail("tags", "expected a list of strings")
    if skills is not None and (not isinstance(skills, list)
                               or not all(isinstance(s, str) for s in skills)):
        raise fail("skills", "expected a list of skill names")
    publish_hz = doc.get("publish_hz", 120.0)
    if not isinstance(publish_hz, (int, float)) or not 100 <= publish_hz <= 1000:
        raise fail("publish_hz", f"{publish_hz!r} must be a number in 100..1000 (Hz of the cell's clock)")
    for key in ("realtime", "auto_start"):
        if not isinstance(doc.get(key, False), bool):
            raise fail(key, "expected true or false")
    world = doc.get("world")
    if world is not None and not isinstance(world, str):
        raise fail("world", "expected a world name or path")
    return CellConfig(
        cell_id=cell_id, tags=tuple(tags), world=world,
        skills=tuple(skills) if skills is not None else None,
        state_endpoint=str(doc.get("state_endpoint", "tcp://127.0.0.1:0")),
        realtime=doc.get("realtime", False), auto_start=doc.get("auto_start", True),
        publish_hz=float(publish_hz), source=source)


def load_config(path: str | Path) -> CellConfig:
    """Read and validate a cell YAML file."""
    try:
        doc = load_yaml(Path(path).read_text(), str(path))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return parse_config(doc, str(path))
