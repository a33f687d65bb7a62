"""`G1Carrier`: the G1's two Dex3 hands as one grip (`robots.carrier.Carrier`), on the
bimanual friction grasp of `grasp.BimanualGrasp`; parts are found in the world by id."""

from __future__ import annotations

from typing import cast

from cellwright.robots.carrier import Carrier, CarrierInfo, CarrierState, HoldResult
from cellwright.robots.errors import LimitViolation
from cellwright.robots.goal import Goal
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim._world import PartWorld
from cellwright.robots.sim.g1.grasp import BimanualGrasp, Tote
from cellwright.robots.sim.g1.payload import payload_limit_kg

DRIVER = "pybullet"
APPROXIMATION = ("the tote is held by the friction of both hands' fingertips in PyBullet "
                 "(friction anchors on); its size and mass come from the world file, not "
                 "from sensing")


class G1Carrier(Carrier):
    """Both hands of a G1 holding a part between them (`grasp` module docstring).

    Args:
        name: `<robot>/carrier`.
        grasp: the robot's bimanual grasp.
        world: where parts are looked up by id.
    """

    def __init__(self, name: str, grasp: BimanualGrasp, world: PartWorld) -> None:
        super().__init__(name, g1.MODEL, DRIVER)
        self._grasp, self._world = grasp, world
        self._holding = ""
        self._info = CarrierInfo(name, self.kind, g1.MODEL, DRIVER,
                                 payload_limit_kg=payload_limit_kg(grasp.body.hands),
                                 approximation=APPROXIMATION)

    def info(self) -> CarrierInfo:
        return self._info

    def state(self) -> CarrierState:
        return CarrierState(self._world_now(), self._holding if self._grasp.holding else "")

    def _world_now(self) -> float:
        return float(self._grasp.body.world.now_s())

    def _pick(self, part_id: str, timeout_s: float) -> Goal[HoldResult]:
        try:
            body_id, size, mass = self._world.part_shape(part_id)
        except KeyError as exc:
            raise LimitViolation(f"{self.name}: {exc.args[0]}") from None
        goal = self._grasp.pick(Tote(body_id, size, mass, part_id), timeout_s=timeout_s)
        self._holding = part_id
        return cast(Goal[HoldResult], goal)  # a PickResult is a HoldResult

    def _place(self, timeout_s: float) -> Goal[HoldResult]:
        return cast(Goal[HoldResult], self._grasp.place(timeout_s=timeout_s))

