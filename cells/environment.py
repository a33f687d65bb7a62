"""Where cells live: one control loop, its world, and the robots of the cells in it.

    PyBullet world   a cell with `pybullet.*` robots: the world steps on the loop, and
                     every cell that names the same world shares it (parts travel between
                     them); its PartLocator reads the simulator's ground truth
    kinematic scene  a world's parts in a table, no physics, for `mock.*` robots
    nothing          a cell on real hardware (or with no robots): drivers on a wall-clock loop

Two processes cannot share one PyBullet connection, so one process (a world host) builds
one `Environment` for all the cells of a world.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellwright.api.geometry import ORIGIN
from cellwright.api.layout import EMPTY, Layout, load_layout
from cellwright.api.schema import SchemaError
from cellwright.cells.config import CellConfig, ConfigError
from cellwright.robots import BuildContext, Component, ControlLoop, PartLocator, Robot, build_robot
from cellwright.robots.safety import SafetyConfig, SafetyMonitor

log = logging.getLogger(__name__)
WALL_LOOP_DT_S = 0.01  # the loop period of a cell without a world: 100 Hz


@dataclass
class CellRuntime:
    """What one cell works with: the loop its components run on, its robots, the layout,
    its part locator and its speed and separation monitor (`safety.record()`: on or off,
    separations and protective stops)."""

    loop: ControlLoop
    robots: dict[str, Robot]
    layout: Layout
    parts: PartLocator | None
    safety: SafetyMonitor

    def components(self) -> list[Component]:
        return [c for robot in self.robots.values() for c in robot.components.values()]


class Environment:
    """A control loop with what it steps and the robots of every cell in it.

    Build it with `Environment.build(configs)`, then `start()`; `close()` stops the loop,
    shuts the components down and releases the world.
    """

    def __init__(self, loop: ControlLoop, world: Any, layout: Layout, scene: Any) -> None:
        self.loop = loop
        self.world = world
        """The PyBullet world, if any (for snapshots)."""
        self.layout = layout
        self._scene = scene
        self.cells: dict[str, CellRuntime] = {}

    @classmethod
    def build(cls, configs: Sequence[CellConfig], *, gui: bool = False) -> Environment:
        """Load the world the configs share (if any) and build and activate their robots.

        Raises:
            ConfigError: the configs disagree on world, seed or clock; an unknown robot,
                mount or locator; a robot option its model refuses.
        """
        first = configs[0]
        for config in configs[1:]:
            for key in ("world", "seed", "clock_mode"):
                if getattr(config, key) != getattr(first, key):
                    raise ConfigError(f"{config.source}: {key}: cells of one host share one world "
                                      f"and clock; {first.cell_id} has {getattr(first, key)!r}, "
                                      f"{config.cell_id} has {getattr(config, key)!r}")
        drivers = {entry.driver for config in configs for entry in config.robots.values()}
        name = f"control-loop {first.world or first.cell_id}"
        world: Any = None
        scene: Any = None
        layout = _layout_file(first) or EMPTY
        if first.world and "pybullet" in drivers:
            from cellwright.sim_worlds import load_world  # only simulated cells need PyBullet

            world = load_world(first.world, gui=gui, seed=first.seed)
            layout = _layout_file(first) or world.layout
            loop = ControlLoop(world.dt, world=world, clock=first.clock_mode, name=name)
        elif first.world:
            from cellwright.sim_worlds.scene import kinematic_scene

            scene, layout, dt = kinematic_scene(first.world, first.seed, _layout_file(first))
            loop = ControlLoop(dt, clock=first.clock_mode, name=name)
        else:
            loop = ControlLoop(WALL_LOOP_DT_S, clock=first.clock_mode, name=name)
        env = cls(loop, world, layout, scene)
        try:
            for config in configs:
                env.cells[config.cell_id] = env._build_cell(config)
        except BaseException:
            env.close()
            raise
        return env

    def _build_cell(self, config: CellConfig) -> CellRuntime:
        robots: dict[str, Robot] = {}
        try:
            return self._build_robots(config, robots)
        except BaseException:
            _shut_down(c for robot in robots.values() for c in robot.components.values())
            raise

    def _build_robots(self, config: CellConfig, robots: dict[str, Robot]) -> CellRuntime:
        """Build, add and activate the config's robots into `robots` (so that a failure
        half-way leaves the caller what to shut down)."""
        layout = _layout_file(config) or self.layout
        for name, entry in config.robots.items():
            if layout.mounts and entry.mount not in layout.mounts:
                raise ConfigError(f"{config.source}: robots.{name}.mount: layout {layout.name} has "
                                  f"no mount {entry.mount!r}; mounts: {sorted(layout.mounts)}")
            mount = layout.mounts.get(entry.mount, ORIGIN)
            where = self.world if entry.driver == "pybullet" else self._scene
            try:
                robot = build_robot(entry.model, BuildContext(
                    name, mount, where, config.seed, entry.mount if layout.mounts else ""),
                    entry.options)
            except SchemaError as exc:  # names the key itself: robots.<name>.<key>
                raise ConfigError(f"{config.source}: {exc}") from exc
            except (KeyError, ValueError, TypeError) as exc:
                raise ConfigError(f"{config.source}: robots.{name}: {_message(exc)}") from exc
            robots[name] = robot
            for component in robot.components.values():
                self.loop.add(component)
                self.loop.call(component.activate)
        return CellRuntime(self.loop, robots, layout, self._locator(config), self._safety(config, robots))

    def _safety(self, config: CellConfig, robots: dict[str, Robot]) -> SafetyMonitor:
        """The cell's monitor, guarding its components in the loop if it has a presence one."""
        monitor = SafetyMonitor(config.safety or SafetyConfig(), robots.values())
        if monitor.on:
            self.loop.call(lambda: self.loop.add_guard(monitor.check, monitor.guarded))
        elif config.safety is not None:
            raise ConfigError(f"{config.source}: safety: given, but no robot of the cell has a "
                              f"presence component, so nobody would be watched; add one, e.g. "
                              f"`robots: {{people: pybullet.presence}}`")
        else:
            log.info("cell %s: speed and separation monitoring is %s", config.cell_id,
                     monitor.record().note)
        return monitor

    def _locator(self, config: CellConfig) -> PartLocator | None:
        kind = config.part_locator
        if kind == "pybullet.ground_truth":
            if self.world is None:
                raise ConfigError(f"{config.source}: parts: pybullet.ground_truth needs a PyBullet "
                                  f"world (a `world:` and a pybullet.* robot)")
            from cellwright.sim_worlds.locator import GroundTruthLocator

            return GroundTruthLocator(self.world, self.loop.call)
        if kind == "mock.parts":
            if self._scene is None:
                raise ConfigError(f"{config.source}: parts: mock.parts reads the parts of a world "
                                  f"file; give the cell a `world:`")
            from cellwright.robots.mock.scene import MockPartLocator

            return MockPartLocator(self._scene)
        return None

    def start(self) -> None:
        """Start the control loop."""
        self.loop.start()

    def render_png(self, path: Path) -> None:
        """Write a picture of the world (on the loop thread)."""
        if self.world is not None:
            self.loop.call(lambda: self.world.render_png(path))

    def close(self) -> None:
        """Stop the loop, shut every component down, release the world."""
        if not self.loop.stop():
            log.error("the control loop did not end within its timeout; leaving its world and "
                      "components to the process's exit rather than closing them under it")
            return
        _shut_down(c for runtime in self.cells.values() for c in runtime.components())
        if self.world is not None:
            self.world.close()


def _shut_down(components: Iterable[Component]) -> None:
    for component in components:
        try:
            component.shutdown()
        except Exception:  # one broken driver must not keep the others open
            log.exception("shutting down %s failed", component.name)


def _layout_file(config: CellConfig) -> Layout | None:
    if config.layout is None:
        return None
    path = Path(config.layout)
    if not path.is_absolute() and config.source not in ("<memory>", ""):
        path = Path(config.source).parent / path
    try:
        return load_layout(path)
    except ValueError as exc:
        raise ConfigError(f"{config.source}: layout: {exc}") from exc


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
