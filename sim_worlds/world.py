"""A simulated world: one PyBullet client, a clock, scenery, parts, robots and cameras.

Threading: a `SimWorld` and everything in it (robots included) must be used from one
thread only, the cell's simulation thread. Other threads may call a robot's `state()`,
`stop()` and `estop()`, which never touch PyBullet.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet as p
import yaml

from cellwright.robots.interface import Pose, Robot
from cellwright.robots.sim import make_robot
from cellwright.sim_worlds.build import build_object, build_part
from cellwright.sim_worlds.clock import SimClock
from cellwright.sim_worlds.render import capture, write_png
from cellwright.sim_worlds.spec import Region, WorldConfigError, WorldSpec, parse_world

WORLDS_DIR = Path(__file__).parent / "worlds"
SETTLE_S = 0.5


@dataclass(frozen=True)
class Part:
    """A spawned part: stable id, type name and PyBullet body id."""

    id: str
    type: str
    body_id: int


@dataclass(frozen=True)
class PartInfo:
    """Where a part is now, read from the physics."""

    id: str
    type: str
    pose: Pose


@dataclass
class _Listener:
    fn: Callable[[], None]
    every_n_steps: int


class SimWorld:
    """A loaded world. Build it with `load_world`; use it from one thread only."""

    def __init__(self, spec: WorldSpec, client: int, *, realtime: bool) -> None:
        self.spec = spec
        self.clock = SimClock(spec.physics.dt)
        self.realtime = realtime
        self.robots: dict[str, Robot] = {}
        self.parts: dict[str, Part] = {}
        self.regions: Mapping[str, Region] = spec.regions
        self.locations: Mapping[str, Pose] = spec.locations
        self.joint_locations: Mapping[str, tuple[float, ...]] = spec.joint_locations
        self._client = client
        self._listeners: list[_Listener] = []
        self._names: dict[int, str] = {}
        self._part_bodies: dict[int, Part] = {}
        self._pace_origin = (time.monotonic(), 0.0)

    # --- clock and stepping --------------------------------------------------------
    @property
    def client(self) -> int:
        """The PyBullet physics client id."""
        return self._client

    @property
    def dt(self) -> float:
        """Simulation seconds per step."""
        return self.clock.dt

    def now_s(self) -> float:
        """Simulation time, seconds."""
        return self.clock.now_s()

    def step(self, n: int = 1) -> None:
        """Step the physics `n` times, calling step listeners after each step.

        In realtime mode, sleeps so that simulation time keeps pace with wall time.
        """
        for _ in range(n):
            self._step_once()
            if self.realtime:
                self._pace()

    def add_step_listener(self, fn: Callable[[], None], every_n_steps: int = 1) -> None:
        """Call `fn` (on the simulation thread) after every `every_n_steps` steps."""
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self._listeners.append(_Listener(fn, every_n_steps))

    def idle_for(self, wall_seconds: float) -> None:
        """Keep stepping, paced to wall time, for `wall_seconds` (when there is no task)."""
        start_wall, start_sim = time.monotonic(), self.now_s()
        while (elapsed := time.monotonic() - start_wall) < wall_seconds:
            if elapsed - (self.now_s() - start_sim) >= self.dt:
                self._step_once()
            else:
                time.sleep(min(self.dt, wall_seconds - elapsed))

    def _step_once(self) -> None:
        p.stepSimulation(physicsClientId=self._client)
        self.clock.advance()
        for listener in self._listeners:
            if self.clock.steps % listener.every_n_steps == 0:
                listener.fn()

    def _pace(self) -> None:
        origin_wall, origin_sim = self._pace_origin
        ahead = (self.now_s() - origin_sim) - (time.monotonic() - origin_wall)
        if ahead > 0:
            time.sleep(ahead)
        elif ahead < -0.5:  # fell far behind (slow machine): re-anchor, don't race to catch up
            self._pace_origin = (time.monotonic(), self.now_s())

    # --- bodies and parts ----------------------------------------------------------
    def is_part(self, body_id: int) -> bool:
        """True if the body is a movable part."""
        return body_id in self._part_bodies

    def body_name(self, body_id: int) -> str:
        """The body's name in the world file (or its PyBullet name)."""
        if body_id in self._names:
            return self._names[body_id]
        return p.getBodyInfo(body_id, physicsClientId=self._client)[1].decode() or f"body {body_id}"

    def part_types(self) -> list[str]:
        """Names of the part types this world defines."""
        return sorted(self.spec.part_types)

    def part_info(self, part_id: str) -> PartInfo:
        """The part's current pose from the physics.

        Raises:
            KeyError: no such part.
        """
        part = self.parts[part_id]
        position, orientation = p.getBasePositionAndOrientation(part.body_id,
                                                                physicsClientId=self._client)
        return PartInfo(part.id, part.type, Pose(tuple(position), tuple(orientation)))

    def parts_in(self, region: str) -> list[PartInfo]:
        """Parts whose centre is inside the named region box, in part id order.

        Raises:
            KeyError: no such region.
        """
        box = self._region(region)
        infos = (self.part_info(part_id) for part_id in self.parts)
        return [info for info in infos if box.contains(info.pose.position)]

    def locate_part(self, part_type: str, region: str = "infeed") -> PartInfo | None:
        """The part of `part_type` in `region` nearest the region's centre, or None."""
        centre = np.array(self._region(region).center[:2])
        candidates = [info for info in self.parts_in(region) if info.type == part_type]
        return min(candidates, default=None, key=lambda info: float(
            np.linalg.norm(np.array(info.pose.position[:2]) - centre)))

    def nearest_part(self, position: tuple[float, float, float],
                     max_distance_m: float) -> PartInfo | None:
        """The part whose centre is nearest `position`, if within `max_distance_m`."""
        infos = [self.part_info(part_id) for part_id in self.parts]
        distances = [math.dist(info.pose.position, position) for info in infos]
        if not infos or min(distances) > max_distance_m:
            return None
        return infos[int(np.argmin(distances))]

    def _region(self, name: str) -> Region:
        try:
            return self.regions[name]
        except KeyError:
            raise KeyError(f"no region {name!r}; this world has {sorted(self.regions)}") from None

    # --- rendering and teardown ------------------------------------------------------
    def render_png(self, path: str | Path, width: int = 640, height: int = 480,
                   camera: str | None = None) -> None:
        """Render the named camera (the first one by default) to a PNG file."""
        if not self.spec.cameras:
            raise KeyError(f"world {self.spec.name!r} defines no cameras")
        name = camera if camera is not None else next(iter(self.spec.cameras))
        if name not in self.spec.cameras:
            raise KeyError(f"no camera {name!r}; this world has {sorted(self.spec.cameras)}")
        write_png(path, capture(self._client, self.spec.cameras[name], width, height))

    def close(self) -> None:
        """Deactivate the robots and disconnect the physics client."""
        for robot in self.robots.values():
            robot.deactivate()
        if p.isConnected(physicsClientId=self._client):
            p.disconnect(physicsClientId=self._client)

    # --- construction ----------------------------------------------------------------
    def _populate(self, world_dir: Path, seed: int) -> None:
        for obj in self.spec.objects:
            self._names[build_object(self._client, obj, world_dir)] = obj.name
        rng = random.Random(seed)
        jitter = self.spec.spawn_jitter
        counts: dict[str, int] = {}
        for spawn in self.spec.parts:
            counts[spawn.type] = counts.get(spawn.type, 0) + 1
            part_id = f"{spawn.type}-{counts[spawn.type]}"
            x, y, z = spawn.position
            position = (x + rng.uniform(-1, 1) * jitter.position_m,
                        y + rng.uniform(-1, 1) * jitter.position_m, z)
            yaw = spawn.yaw_rad + rng.uniform(-1, 1) * jitter.yaw_rad
            body = build_part(self._client, self.spec.part_types[spawn.type], position,
                              p.getQuaternionFromEuler((0.0, 0.0, yaw)))
            part = Part(part_id, spawn.type, body)
            self.parts[part_id] = part
            self._part_bodies[body] = part
            self._names[body] = part_id
        for robot_spec in self.spec.robots:
            robot = make_robot(robot_spec.kind, world=self, name=robot_spec.name,
                               base_position=robot_spec.position,
                               base_orientation=robot_spec.orientation, **robot_spec.options)
            self.robots[robot_spec.name] = robot
        for robot in self.robots.values():
            robot.activate()
        self.step(round(SETTLE_S / self.dt))


def resolve_world_path(name_or_path: str) -> Path:
    """A bare name like ``arm_cell`` means the packaged ``worlds/arm_cell.yaml``."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    packaged = WORLDS_DIR / f"{name_or_path}.yaml"
    if not packaged.exists():
        known = sorted(path.stem for path in WORLDS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no world {name_or_path!r}; packaged worlds: {known}")
    return packaged


def load_world(name_or_path: str, *, gui: bool = False, realtime: bool = False,
               seed: int = 0) -> SimWorld:
    """Load a world by packaged name or YAML path, with its robots activated.

    Args:
        name_or_path: a packaged world name (``"arm_cell"``) or a path to a YAML file.
        gui: open the PyBullet GUI instead of the headless DIRECT client.
        realtime: pace `step()` so simulation time follows wall time.
        seed: seeds the spawn jitter of parts, so equal seeds give equal worlds.

    Raises:
        FileNotFoundError: unknown world; WorldConfigError: malformed world file.
    """
    path = resolve_world_path(name_or_path)
    spec = parse_world(yaml.safe_load(path.read_text()), str(path))
    client = p.connect(p.GUI if gui else p.DIRECT)
    try:
        p.resetSimulation(physicsClientId=client)
        p.setGravity(*spec.physics.gravity, physicsClientId=client)
        p.setPhysicsEngineParameter(fixedTimeStep=spec.physics.dt,
                                    numSolverIterations=spec.physics.solver_iterations,
                                    deterministicOverlappingPairs=1, physicsClientId=client)
        world = SimWorld(spec, client, realtime=realtime)
    except BaseException:
        p.disconnect(physicsClientId=client)
        raise
    try:
        world._populate(path.parent, seed)
    except BaseException:
        world.close()  # also releases robots already activated (their IK clients)
        raise
    return world


__all__ = ["Part", "PartInfo", "SimWorld", "WorldConfigError", "load_world"]
