"""The `pybullet.g1` factory: a Unitree G1 of legs, two arms, two Dex3 hands and the hands'
shared grip, all driving one PyBullet body, walking on paths planned around the world's
footprint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellwright.robots.component import Component
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.paths import Point, plan_path
from cellwright.robots.robot import BuildContext, Robot
from cellwright.robots.sim._world import PartWorld, PhysicsWorld
from cellwright.robots.sim.g1.arms import G1Arm
from cellwright.robots.sim.g1.body import G1Body
from cellwright.robots.sim.g1.carrier import APPROXIMATION as CARRIER_APPROXIMATION
from cellwright.robots.sim.g1.carrier import G1Carrier
from cellwright.robots.sim.g1.grasp import BimanualGrasp
from cellwright.robots.sim.g1.hands import G1Hand
from cellwright.robots.sim.g1.legs import G1Legs

REGISTRY_ID = "pybullet.g1"
DRIVER = "pybullet"
PATH_CLEARANCE_M = 0.3
"""Paths keep the pelvis this far from the world's static objects (the G1's half width plus
a margin for its swinging arms); to a stand pose nearer a table than that, the whole path
keeps the stand pose's own distance (less 1 cm)."""

APPROXIMATIONS = (
    "joints follow PyBullet position control capped at the URDF's effort limits, not "
    "Unitree's low-level torque controllers",
    "contacts are PyBullet's: the soles are four 5 mm spheres each, with torsional friction "
    "0.03 standing in for a rubber sole's resistance to twisting",
    "joint states, base pose and contact forces are read exactly, without sensor noise",
    CARRIER_APPROXIMATION,
)


def build(context: BuildContext, config: Mapping[str, Any]) -> Robot:
    """The `pybullet.g1` factory (config: the legs' keys, `robots.sim.g1.legs.LegsConfig`,
    plus `hands`).

    Raises:
        ValueError: no world, or a bad option (naming the key).
        TypeError: the world is not a PyBullet world.
    """
    world = context.world
    if world is None:
        raise ValueError(f"{REGISTRY_ID} needs a PyBullet world: give the cell a world "
                         f"(robot {context.robot_name!r})")
    if not isinstance(world, PhysicsWorld) or not isinstance(world, PartWorld):
        raise TypeError(f"{REGISTRY_ID} needs a PyBullet world with parts; got {type(world).__name__}")
    name = context.robot_name
    hands = bool(config.get("hands", True))
    label = f"robot {name} on mount {context.mount_name}" if context.mount_name else f"robot {name}"
    body = G1Body(world, name, context.mount, hands=hands, label=label)
    obstacles = world.obstacles()

    def planner(start: Point, goal: Point) -> list[Point]:
        room = min((o.clearance_of(goal) for o in obstacles), default=PATH_CLEARANCE_M)
        clearance = PATH_CLEARANCE_M if room >= PATH_CLEARANCE_M else max(room - 0.01, 0.0)
        return plan_path(start, goal, obstacles, clearance)[1:]

    components: dict[str, Component] = {
        "legs": G1Legs(f"{name}/legs", body, {k: v for k, v in config.items() if k != "hands"},
                       plan_path=planner)}
    arms = {side: G1Arm(f"{name}/{side}_arm", body, side) for side in g1.SIDES}
    components.update({f"{side}_arm": arm for side, arm in arms.items()})
    if hands:
        grips = {side: G1Hand(f"{name}/{side}_hand", body, side) for side in g1.SIDES}
        components.update({f"{side}_hand": hand for side, hand in grips.items()})
        grasp = BimanualGrasp(arms["left"], arms["right"], grips["left"], grips["right"])
        components["carrier"] = G1Carrier(f"{name}/carrier", grasp, world)
    return Robot(name=name, registry_id=REGISTRY_ID, model=g1.MODEL, driver=DRIVER,
                 components=components, approximations=APPROXIMATIONS)
