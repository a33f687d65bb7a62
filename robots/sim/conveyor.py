"""A belt conveyor simulated in PyBullet, as an IO component (`pybullet.conveyor`).

    PyBulletConveyor(IO)    points run, speed, part_present (`models.conveyor`)
    build(context, config)  the factory: a Robot with one component, `conveyor`

The belt is a static box whose bottom centre stands on the robot's mount; it runs along
the mount's x axis. It is an approximation: the belt surface does not move. While it runs,
every body with mass resting on its top gets its velocity along the axis set to the belt
speed (times `speed_override`) each tick, so friction against the static box slows it a
little within each step, and a part stops dead when the belt stops. part_present is a ray
across the belt, `sensor_height_m` above it, at `sensor_at_m` along the axis from the centre.

Threads: creating the belt (`configure()`), `read()`, `update()` and `write()` run on the
control loop's thread, the only one that touches the world. `set()`, `stop()` and
`estop()` queue changes that the next `update()` applies; stop() and estop() stop the belt.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pybullet as p

from cellwright.api.geometry import Pose
from cellwright.robots.io import IO, IOInfo, IOState, Value
from cellwright.robots.models.conveyor import MODEL, PART_PRESENT, RUN, SPEED, points
from cellwright.robots.robot import BuildContext, Robot
from cellwright.robots.sim._world import PhysicsWorld

REGISTRY_ID = "pybullet.conveyor"
DRIVER = "pybullet"
APPROXIMATIONS = (
    "the belt surface does not move: bodies resting on it get the belt's speed along its axis "
    "every tick, slowed a little by friction within each step, and stop dead with the belt",
    "part_present is an ideal ray across the belt: no response time, no reflections",
)
_ON_TOP = 0.5
"""A contact whose normal is this close to the belt's up axis (cosine) is a body on top."""


class PyBulletConveyor(IO):
    """A belt conveyor in a PyBullet world (see the module docstring).

    Args:
        mount: the belt's bottom centre; its x axis is the direction of travel.
        length_m, width_m, height_m: the belt box.
    """

    def __init__(self, name: str, world: PhysicsWorld, mount: Pose, *, length_m: float,
                 width_m: float, height_m: float, max_speed_m_s: float, sensor_at_m: float,
                 sensor_height_m: float, label: str) -> None:
        super().__init__(name, MODEL, DRIVER)
        self._world, self._mount, self._label = world, mount, label
        self._size = (length_m, width_m, height_m)
        self._sensor = (sensor_at_m, sensor_height_m)
        self._info = IOInfo(name, self.kind, MODEL, DRIVER, points(max_speed_m_s))
        self._outputs: dict[str, Value] = {RUN: False, SPEED: 0.0}
        self._state = IOState(0.0, MappingProxyType({**self._outputs, PART_PRESENT: False}))
        self._queued: dict[str, Value] = {}
        self._lock = threading.Lock()
        self._belt: int | None = None

    def info(self) -> IOInfo:
        return self._info

    def state(self) -> IOState:
        return self._state

    def busy(self) -> bool:
        return bool(self._queued) or super().busy()

    # --- lifecycle (loop thread) -----------------------------------------------------------
    def _configure(self) -> None:
        if self._belt is not None:
            return
        client = self._world.client
        length, width, height = self._size
        half = (length / 2, width / 2, height / 2)
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client)
        visual = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=(0.15, 0.15, 0.17, 1.0),
                                     physicsClientId=client)
        position, orientation = self._to_world((0.0, 0.0, height / 2))
        self._belt = int(p.createMultiBody(0.0, shape, visual, position, orientation,
                                           physicsClientId=client))
        self._world.name_body(self._belt, self._label)

    def _shutdown(self) -> None:
        belt, self._belt = self._belt, None
        if belt is not None and p.isConnected(physicsClientId=self._world.client):
            p.removeBody(belt, physicsClientId=self._world.client)

    def _on_stop(self) -> None:
        with self._lock:
            self._queued[RUN] = False

    def _write_point(self, name: str, value: Value) -> None:
        with self._lock:
            self._queued[name] = value

    # --- control loop (loop thread) ----------------------------------------------------------
    def read(self, now_s: float) -> None:
        if self._belt is None:
            return
        _length, width, height = self._size
        at, above = self._sensor
        start, _ = self._to_world((at, -width / 2 - 0.05, height + above))
        end, _ = self._to_world((at, width / 2 + 0.05, height + above))
        hit = p.rayTest(start, end, physicsClientId=self._world.client)[0][0]
        present = hit not in (-1, self._belt)
        self._state = IOState(now_s, MappingProxyType({**self._outputs, PART_PRESENT: present}))

    def update(self, now_s: float, dt_s: float) -> None:
        with self._lock:
            queued, self._queued = self._queued, {}
        if queued:
            self._outputs.update(queued)
            self._state = IOState(now_s, MappingProxyType({**self._state.values, **self._outputs}))

    def write(self) -> None:
        speed = float(self._outputs[SPEED]) * self.speed_override if self._outputs[RUN] else 0.0
        if self._belt is None or speed == 0.0:
            return
        client = self._world.client
        rotation = np.array(p.getMatrixFromQuaternion(self._mount.orientation)).reshape(3, 3)
        axis, up = rotation[:, 0], rotation[:, 2]
        carried: set[int] = set()
        for contact in p.getContactPoints(bodyA=self._belt, physicsClientId=client):
            body = contact[2]
            if body in carried or float(np.dot(contact[7], up)) > -_ON_TOP:
                continue  # the normal on the body points from it into the belt: down
            if p.getDynamicsInfo(body, -1, physicsClientId=client)[0] <= 0.0:
                continue
            carried.add(body)
            velocity = np.array(p.getBaseVelocity(body, physicsClientId=client)[0])
            velocity += (speed - float(np.dot(velocity, axis))) * axis
            p.resetBaseVelocity(body, linearVelocity=velocity.tolist(), physicsClientId=client)

    def _to_world(self, local: tuple[float, float, float]) -> tuple[Any, Any]:
        position, orientation = p.multiplyTransforms(self._mount.position, self._mount.orientation, local,
                                    (0.0, 0.0, 0.0, 1.0))
        return position, orientation


def build(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    """The `pybullet.conveyor` factory (config: `models.conveyor.CONFIG_SCHEMA`, validated).

    Raises:
        ValueError: no world. TypeError: the world is not a PyBullet world.
    """
    world = context.world
    if world is None:
        raise ValueError(f"{REGISTRY_ID} needs a PyBullet world: give the cell a world "
                         f"(robot {context.robot_name!r})")
    if not isinstance(world, PhysicsWorld):
        raise TypeError(f"{REGISTRY_ID} needs a PyBullet world with client, dt, now_s(), "
                        f"is_part(), body_name() and name_body(); got {type(world).__name__}")
    name = context.robot_name
    label = f"conveyor {name} on mount {context.mount_name}" if context.mount_name else f"conveyor {name}"
    conveyor = PyBulletConveyor(
        f"{name}/conveyor", world, context.mount, length_m=config["length_m"],
        width_m=config["width_m"], height_m=config["height_m"], max_speed_m_s=config["max_speed_m_s"],
        sensor_at_m=config["sensor_at_m"], sensor_height_m=config["sensor_height_m"], label=label)
    return Robot(name=name, registry_id=REGISTRY_ID, model=MODEL, driver=DRIVER,
                 components={"conveyor": conveyor}, approximations=APPROXIMATIONS)


__all__ = ["PyBulletConveyor", "build"]
