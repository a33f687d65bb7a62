"""A simulated world: one PyBullet client, a clock, scenery, parts, workers and cameras.

The world holds no robots and never steps by itself: robots are built by the cells (on the
layout's mounts, with the world as their `BuildContext.world`), and the control loop
(`cellwright.robots.loop.ControlLoop`) steps the world every tick, paces it and calls the
listeners.

Threading: a `SimWorld` must be used from one thread only (PyBullet allows one), the control
loop's; other threads go through `loop.call()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pybullet as p

from cellwright.api.geometry import Pose
from cellwright.api.layout import Layout
from cellwright.robots.paths import Obstacle
from cellwright.robots.presence import Person
from cellwright.sim_worlds.build import build_object, build_part
from cellwright.sim_worlds.clock import SimClock
from cellwright.sim_worlds.registry import resolve_world_path
from cellwright.sim_worlds.render import capture, write_png
from cellwright.sim_worlds.spec import ObjectSpec, WorldConfigError, WorldSpec, read_world, spawn_poses
from cellwright.sim_worlds.workers import Workers

SETTLE_S = 0.5
"""Seconds of simulation the parts get to settle after spawning, before the world is used."""

FLOOR_TOP_M = 0.01
"""A static object whose top is this high or lower is floor (walked on), not an obstacle."""


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


class SimWorld:
    """A loaded world. Build it with `load_world`; use it from one thread only.

    Attributes:
        spec: the checked world file.
        layout: the line layout the world file refers to.
        seed: the seed of the parts' spawn jitter.
        clock: simulation time, advanced by `step()` only.
        parts: the spawned parts by id (`red_cube-1`, ...).
    """

    def __init__(self, spec: WorldSpec, client: int, *, seed: int = 0) -> None:
        self.spec = spec
        self.layout: Layout = spec.layout
        self.seed = seed
        self.clock = SimClock(spec.physics.dt)
        self.parts: dict[str, Part] = {}
        self._client = client
        self._names: dict[int, str] = {}
        self._part_bodies: dict[int, Part] = {}
        self._workers = Workers(spec.workers)
        self._obstacles: list[Obstacle] = []

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
        """Move the workers, step the physics and advance the clock, `n` times: no pacing,
        no callbacks."""
        for _ in range(n):
            self._workers.move((self.clock.steps + 1) * self.dt)
            p.stepSimulation(physicsClientId=self._client)
            self.clock.advance()

    # --- bodies and parts ----------------------------------------------------------
    def obstacles(self) -> list[Obstacle]:
        """The world's footprint: every static object but the floor, as a floor rectangle
        (boxes and trays from their size, position and yaw; URDF objects, and anything
        tilted, by their axis-aligned bounding box). Objects whose top is at most
        `FLOOR_TOP_M` high are walked on, not around. Computed once at load: static
        objects do not move; parts and robots are not in it."""
        return list(self._obstacles)

    def people(self) -> tuple[Person, ...]:
        """The workers now, exactly: the simulator's ground truth (a `robots.sim.PeopleWorld`)."""
        return self._workers.people(self.now_s())

    def is_part(self, body_id: int) -> bool:
        """True if the body is a movable part."""
        return body_id in self._part_bodies

    def name_body(self, body_id: int, name: str) -> None:
        """Give a body (a robot) the name `body_name` reports for it."""
        self._names[body_id] = name

    def body_name(self, body_id: int) -> str:
        """The body's name in the world file, a part's id, or its PyBullet name."""
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
        try:
            part = self.parts[part_id]
        except KeyError:
            raise KeyError(f"no part {part_id!r} in world {self.spec.name}") from None
        position, orientation = p.getBasePositionAndOrientation(part.body_id,
                                                                physicsClientId=self._client)
        x, y, z = (float(v) for v in position)
        qx, qy, qz, qw = (float(v) for v in orientation)
        return PartInfo(part.id, part.type, Pose((x, y, z), (qx, qy, qz, qw)))

    def part_shape(self, part_id: str) -> tuple[int, tuple[float, float, float], float]:
        """The part's body id, outside size (a tray's with its walls) and mass.

        Raises:
            KeyError: no such part.
        """
        try:
            part = self.parts[part_id]
        except KeyError:
            raise KeyError(f"no part {part_id!r} in world {self.spec.name}") from None
        kind = self.spec.part_types[part.type]
        x, y, z = kind.size
        return part.body_id, (x, y, z + kind.wall_height), kind.mass

    # --- rendering and teardown ------------------------------------------------------
    def render_png(self, path: str | Path, width: int = 640, height: int = 480,
                   camera: str | None = None) -> None:
        """Render the named camera (the first one by default) to a PNG file.

        Raises:
            KeyError: the world has no cameras, or none of that name.
        """
        cameras = self.spec.cameras
        if not cameras:
            raise KeyError(f"world {self.spec.name!r} defines no cameras")
        name = camera if camera is not None else next(iter(cameras))
        if name not in cameras:
            raise KeyError(f"no camera {name!r}; this world has {sorted(cameras)}")
        write_png(path, capture(self._client, cameras[name], width, height))

    def close(self) -> None:
        """Disconnect the physics client (robots built on the world are the cells' to
        shut down first)."""
        if p.isConnected(physicsClientId=self._client):
            p.disconnect(physicsClientId=self._client)

    # --- construction ----------------------------------------------------------------
    def _populate(self, world_dir: Path) -> None:
        for obj in self.spec.objects:
            body = build_object(self._client, obj, world_dir)
            self._names[body] = obj.name
            footprint = _footprint(self._client, obj, body)
            if footprint is not None:
                self._obstacles.append(footprint)
        for spawn in spawn_poses(self.spec, self.seed):
            body = build_part(self._client, self.spec.part_types[spawn.type], spawn.position,
                              p.getQuaternionFromEuler((0.0, 0.0, spawn.yaw_rad)))
            part = Part(spawn.id, spawn.type, body)
            self.parts[spawn.id] = part
            self._part_bodies[body] = part
            self._names[body] = spawn.id
        for body, name in self._workers.build(self._client, self.now_s()).items():
            self._names[body] = f"worker {name}"
        self.step(round(SETTLE_S / self.dt))


def _footprint(client: int, obj: ObjectSpec, body: int) -> Obstacle | None:
    """A static object's rectangle on the floor, or None if it is walked on (the floor)."""
    roll, pitch, yaw = p.getEulerFromQuaternion(obj.orientation)
    if obj.kind != "urdf" and abs(roll) < 1e-9 and abs(pitch) < 1e-9:
        if obj.position[2] + obj.size[2] / 2 <= FLOOR_TOP_M:
            return None
        return Obstacle(obj.name, (obj.position[0], obj.position[1]), (obj.size[0], obj.size[1]),
                        float(yaw))
    boxes = [p.getAABB(body, link, physicsClientId=client)
             for link in range(-1, p.getNumJoints(body, physicsClientId=client))]
    low = [min(box[0][i] for box in boxes) for i in range(3)]
    high = [max(box[1][i] for box in boxes) for i in range(3)]
    if high[2] <= FLOOR_TOP_M:
        return None
    return Obstacle(obj.name, ((low[0] + high[0]) / 2, (low[1] + high[1]) / 2),
                    (high[0] - low[0], high[1] - low[1]))


def load_world(name_or_path: str, *, gui: bool = False, seed: int = 0) -> SimWorld:
    """Load a world by registered name or YAML path, its parts spawned and settled.

    Args:
        name_or_path: a registered world (``"arm_cell"``, see `sim_worlds.registry.WORLDS`)
            or a path to a YAML file (ending .yaml or .yml).
        gui: open the PyBullet GUI instead of the headless DIRECT client.
        seed: seeds the spawn jitter of parts: equal seeds give equal worlds.

    Raises:
        RegistryError: unknown world name (with a close match, if any).
        WorldConfigError: a missing, unreadable or malformed world file.
        LayoutError: a malformed layout file.
    """
    path = resolve_world_path(name_or_path)
    spec = read_world(path)
    client = p.connect(p.GUI if gui else p.DIRECT)
    try:
        p.resetSimulation(physicsClientId=client)
        p.setGravity(*spec.physics.gravity, physicsClientId=client)
        p.setPhysicsEngineParameter(fixedTimeStep=spec.physics.dt,
                                    numSolverIterations=spec.physics.solver_iterations,
                                    deterministicOverlappingPairs=1, physicsClientId=client)
        world = SimWorld(spec, client, seed=seed)
        world._populate(path.parent)
    except BaseException:
        p.disconnect(physicsClientId=client)
        raise
    return world


__all__ = ["SETTLE_S", "Part", "PartInfo", "SimWorld", "WorldConfigError", "load_world",
           "resolve_world_path"]
