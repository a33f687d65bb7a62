"""Cell configuration: a small YAML file per cell (docs/cell-config.md is the reference).

    cell_id: arm-1                   # [A-Za-z0-9._-], unique per orchestrator
    tags: [arm, panda]
    world: arm_cell                  # the world the cell lives in: a registered name or a
                                     # YAML path; omit for a cell on real hardware
    layout: line.layout.yaml         # the line layout; default: the one the world refers to
    robots:                          # robot name -> registry id (one line switches sim/real)
      panda: pybullet.panda          #   or {model: mock.panda, mount: panda, ...options}
    parts: pybullet.ground_truth     # the PartLocator; default: the robots' driver's own
    skills: [move_to, pick, place, pick_place]   # default: every registered skill
    seed: 0                          # seeds the world (part spawn jitter)
    state_endpoint: tcp://127.0.0.1:0            # ZeroMQ PUB bind address (0 = free port)
    clock: fast                      # lockstep | fast | realtime (robots.loop); default:
                                     # fast with a world, realtime without one
                                     # (0.1's `realtime: true|false` still reads as
                                     # realtime|fast)
    auto_start: true                 # Reset + Start on launch, so the cell takes work
    publish_hz: 120                  # robot state rate on the cell's clock (>= 100)
    orchestrator_grace_s: 30         # without its orchestrator this long (wall time; never
                                     # less than the lease), the cell stops its robots and
                                     # Holds; until then its task runs on (a restart costs nothing)
    safety: {warning_m: 1.5, protective_m: 0.8, slow_fraction: 0.3, clear_s: 1.0,
             hysteresis_m: 0.1}      # speed and separation monitoring (robots.safety): on
                                     # with a presence robot (people: pybullet.presence);
                                     # these are the defaults
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellwright.api.schema import CELL_ID
from cellwright.api.yamlfile import load_yaml
from cellwright.robots.loop import CLOCKS
from cellwright.robots.safety import SafetyConfig

KEYS = {"cell_id", "tags", "world", "layout", "robots", "parts", "skills", "seed",
        "state_endpoint", "clock", "realtime", "auto_start", "publish_hz", "safety",
        "orchestrator_grace_s"}
DEFAULT_ORCHESTRATOR_GRACE_S = 30.0
PART_LOCATORS = ("pybullet.ground_truth", "mock.parts")


class ConfigError(ValueError):
    """The cell configuration is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class RobotEntry:
    """One robot of the cell: its registry id, the layout mount it stands on, and the
    model's own options (everything else of the entry, checked by the model's config
    schema when the robot is built)."""

    model: str
    mount: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def driver(self) -> str:
        return self.model.partition(".")[0]


@dataclass(frozen=True)
class CellConfig:
    cell_id: str
    tags: tuple[str, ...] = ()
    world: str | None = None
    layout: str | None = None
    robots: Mapping[str, RobotEntry] = field(default_factory=dict)
    parts: str | None = None
    skills: tuple[str, ...] | None = None
    seed: int = 0
    state_endpoint: str = "tcp://127.0.0.1:0"
    clock: str | None = None
    auto_start: bool = True
    publish_hz: float = 120.0
    orchestrator_grace_s: float = DEFAULT_ORCHESTRATOR_GRACE_S
    """Wall seconds a cell works on without its orchestrator before it stops and Holds
    (the lease the orchestrator announces is the floor)."""
    safety: SafetyConfig | None = None
    """`safety:` as given (None: not given; a cell with a presence component then
    monitors with the defaults)."""
    source: str = field(default="<memory>", compare=False)

    @property
    def clock_mode(self) -> str:
        """The control loop's clock: as configured, else fast with a world and realtime
        without one (a real cell's clock is the wall clock)."""
        if self.clock is not None:
            return self.clock
        return "fast" if self.world else "realtime"

    @property
    def part_locator(self) -> str | None:
        """The PartLocator id: given, or, for a cell in a world, the one of its robots'
        driver (None: no world, or robots of several drivers)."""
        if self.parts is not None:
            return self.parts
        if not self.world:
            return None
        drivers = {entry.driver for entry in self.robots.values()}
        if drivers == {"pybullet"}:
            return "pybullet.ground_truth"
        if drivers == {"mock"}:
            return "mock.parts"
        return None


def robot_entries(value: Any, fail: Any) -> dict[str, RobotEntry]:
    """Parse `robots:`; `fail(key, problem)` makes the error."""
    if not isinstance(value, dict):
        raise fail("robots", "expected a mapping of robot name to registry id, e.g. "
                             "{panda: pybullet.panda}")
    entries: dict[str, RobotEntry] = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not CELL_ID.match(name) or "/" in name:
            raise fail("robots", f"robot name {name!r} must match {CELL_ID.pattern}")
        if isinstance(entry, str):
            entry = {"model": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            raise fail(f"robots.{name}", "expected a registry id (pybullet.panda) or a mapping "
                                         "with `model: <registry id>`")
        mount = entry.get("mount", name)
        if not isinstance(mount, str):
            raise fail(f"robots.{name}.mount", "expected a mount name of the layout")
        options = {k: v for k, v in entry.items() if k not in ("model", "mount")}
        entries[name] = RobotEntry(entry["model"], mount, options)
    return entries


def parse_config(doc: Any, source: str) -> CellConfig:
    """Validate a parsed YAML document into a CellConfig (robot options are checked by
    their model's schema when the cell builds its robots)."""
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
    grace = doc.get("orchestrator_grace_s", DEFAULT_ORCHESTRATOR_GRACE_S)
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not 0 < grace <= 86400:
        raise fail("orchestrator_grace_s", f"{grace!r} must be a number of seconds in (0, 86400]")
    for key in ("realtime", "auto_start"):
        if key in doc and not isinstance(doc[key], bool):
            raise fail(key, "expected true or false")
    seed = doc.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise fail("seed", f"{seed!r} must be an integer >= 0")
    for key in ("world", "layout", "parts"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise fail(key, "expected a name or a path")
    clock = doc.get("clock")
    if clock is not None and clock not in CLOCKS:
        raise fail("clock", f"{clock!r} is not one of {list(CLOCKS)}")
    if "realtime" in doc:
        if clock is not None:
            raise fail("realtime", "give `clock:` only (realtime: true is clock: realtime)")
        clock = "realtime" if doc["realtime"] else "fast"
    robots = robot_entries(doc.get("robots", {}), fail)
    safety = doc.get("safety")
    if safety is not None:
        if not isinstance(safety, dict):
            raise fail("safety", "expected a mapping, e.g. {warning_m: 1.5, protective_m: 0.8}")
        try:
            safety = SafetyConfig.from_mapping(safety)
        except ValueError as exc:  # "<key>: <problem>"
            key, _, problem = str(exc).partition(": ")
            raise fail(f"safety.{key}", problem) from None
    if doc.get("world") and not robots:
        raise fail("robots", "a cell in a world names its robots since 0.2 (worlds no longer "
                             "hold them); add e.g. `robots: {panda: pybullet.panda}`")
    if doc.get("parts") is not None and doc["parts"] not in PART_LOCATORS:
        raise fail("parts", f"{doc['parts']!r} is not a part locator; known: {list(PART_LOCATORS)}")
    return CellConfig(
        cell_id=cell_id, tags=tuple(tags), world=doc.get("world"), layout=doc.get("layout"),
        robots=robots, parts=doc.get("parts"),
        skills=tuple(skills) if skills is not None else None, seed=seed,
        state_endpoint=str(doc.get("state_endpoint", "tcp://127.0.0.1:0")),
        clock=clock, auto_start=doc.get("auto_start", True),
        publish_hz=float(publish_hz), orchestrator_grace_s=float(grace), safety=safety,
        source=source)


def load_config(path: str | Path) -> CellConfig:
    """Read and validate a cell YAML file."""
    try:
        doc = load_yaml(Path(path).read_text(), str(path))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return parse_config(doc, str(path))
