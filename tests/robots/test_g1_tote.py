"""A G1 with Dex3 hands picks a tote off a table between its hands, standing on its own legs:
held or slipped by the contacts' friction alone, refused by the payload limit, kept
through an e-stop.

The test world: a 0.70 m table (a 0.04 m top on a block at its far end, so the legs fit
under its edge) in front of the robot, a 0.30 x 0.40 x 0.15 m box-shaped tote on it.
Real PyBullet (DIRECT) at 480 Hz; assertions on loop time only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pybullet as p
import pytest

from cellwright.api.geometry import Pose
from cellwright.robots.component import Component
from cellwright.robots.errors import EStopActive, PayloadExceeded
from cellwright.robots.loop import ControlLoop
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.arms import G1Arm
from cellwright.robots.sim.g1.body import G1Body
from cellwright.robots.sim.g1.grasp import BimanualGrasp, Tote
from cellwright.robots.sim.g1.hands import G1Hand
from cellwright.robots.sim.g1.legs import G1Legs
from cellwright.robots.sim.g1.payload import payload_limit, payload_limit_kg
from cellwright.testing.worlds import PlaneWorld

HANG_GUARD_S = 300.0
TOTE_SIZE = (0.30, 0.40, 0.15)
TOTE_FRICTION = 0.8
"""Polypropylene against the hands' rubber pads (the pair's coefficient: hands are 1.0)."""


@dataclass
class Cell:
    world: PlaneWorld
    loop: ControlLoop
    legs: G1Legs
    arms: dict[str, G1Arm]
    grasp: BimanualGrasp
    tote_id: int

    def tote(self, mass_kg: float) -> Tote:
        return Tote(self.tote_id, TOTE_SIZE, mass_kg)

    def tote_z(self) -> float:
        return float(p.getBasePositionAndOrientation(self.tote_id, physicsClientId=self.world.client)[0][2])


def _cell(mass_kg: float, friction: float) -> tuple[Cell, list[Component]]:
    world = PlaneWorld(1.0 / 480.0)
    world.add_box("table top", (0.42, 0.0, 0.68), (0.30, 0.40, 0.02))
    world.add_box("table block", (0.62, 0.0, 0.33), (0.10, 0.40, 0.33))
    half = (TOTE_SIZE[0] / 2, TOTE_SIZE[1] / 2, TOTE_SIZE[2] / 2)
    tote = world.add_box("tote", (0.28, 0.0, 0.776), half, part=True, mass=mass_kg)
    p.changeDynamics(tote, -1, lateralFriction=friction, physicsClientId=world.client)
    body = G1Body(world, "g1", Pose((0.0, 0.0, 0.0)), hands=True, label="g1")
    legs = G1Legs("g1/legs", body)
    arms = {side: G1Arm(f"g1/{side}_arm", body, side) for side in g1.SIDES}
    hands = {side: G1Hand(f"g1/{side}_hand", body, side) for side in g1.SIDES}
    components: list[Component] = [legs, *arms.values(), *hands.values()]
    loop = ControlLoop(world.dt, world=world)
    for component in components:
        loop.add(component)
    loop.start()
    for component in components:
        loop.call(component.activate)
    grasp = BimanualGrasp(arms["left"], arms["right"], hands["left"], hands["right"])
    for goal in [arm.move_joints(arm.info().configurations["home"]) for arm in arms.values()]:
        goal.result(HANG_GUARD_S)
    return Cell(world, loop, legs, arms, grasp, tote), components


MakeCell = Callable[..., Cell]


@pytest.fixture
def make_cell() -> Iterator[MakeCell]:
    made: list[tuple[Cell, list[Component]]] = []

    def make(mass_kg: float = 2.0, friction: float = TOTE_FRICTION) -> Cell:
        made.append(_cell(mass_kg, friction))
        return made[-1][0]

    yield make
    for cell, components in made:
        for component in components:
            cell.loop.call(component.shutdown)
        cell.loop.stop()
        cell.world.close()


def test_the_payload_limit_comes_from_the_arm_effort_limits() -> None:
    limit = payload_limit(hands=True)
    assert 3.0 < limit.mass_kg < 4.0
    assert limit.joint.endswith("wrist_pitch_joint") and limit.effort_nm == 5.0
    assert payload_limit_kg(hands=True) == limit.mass_kg


def test_an_overweight_tote_is_refused_with_the_limit_and_its_source(make_cell: MakeCell) -> None:
    cell = make_cell(mass_kg=8.0)
    with pytest.raises(PayloadExceeded, match=r"tote of 8.0 kg exceeds the G1's payload limit of "
                                              r"3.4 kg .*URDF effort limits.*wrist_pitch_joint"):
        cell.grasp.pick(cell.tote(8.0))
    assert cell.grasp.held is None


def test_a_2_kg_tote_is_picked_by_friction_and_held_for_3_s(make_cell: MakeCell) -> None:
    cell = make_cell(mass_kg=2.0)
    start_z = cell.tote_z()
    result = cell.grasp.pick(cell.tote(2.0)).result(HANG_GUARD_S)
    assert result.held, result.reason
    assert min(result.forces_n) > 10.0 and result.rise_m > 0.08
    cell.loop.sleep(3.0).result(HANG_GUARD_S)
    assert cell.tote_z() - start_z > 0.075  # still up after 3 s, held by the hands alone
    assert cell.legs.state().phase == "standing" and cell.legs.state().margin_m > 0.0
    placed = cell.grasp.place().result(HANG_GUARD_S)
    assert not placed.held and abs(cell.tote_z() - start_z) < 0.01
    assert cell.grasp.held is None


def test_placing_stops_on_the_table_however_far_it_was_asked_to_lower(make_cell: MakeCell) -> None:
    """A tote that slipped in the hands on the way reaches the table before the hands have
    come down the lifted height; the hands stop there instead of pressing on."""
    cell = make_cell(mass_kg=1.5)
    start_z = cell.tote_z()
    assert cell.grasp.pick(cell.tote(1.5)).result(HANG_GUARD_S).held
    placed = cell.grasp.place(lower_m=0.16).result(HANG_GUARD_S)  # 6 cm below the table top
    assert not placed.held and abs(cell.tote_z() - start_z) < 0.01
    assert cell.legs.state().phase == "standing" and cell.legs.state().margin_m > 0.0


def test_a_slippery_tote_slips_and_the_pick_fails(make_cell: MakeCell) -> None:
    cell = make_cell(mass_kg=2.0, friction=0.15)
    start_z = cell.tote_z()
    result = cell.grasp.pick(cell.tote(2.0)).result(HANG_GUARD_S)
    assert not result.held
    assert result.reason.startswith("slipped") and result.rise_m < 0.02
    assert cell.tote_z() - start_z < 0.01 and cell.grasp.held is None


def test_an_estop_with_a_held_tote_keeps_holding_it(make_cell: MakeCell) -> None:
    cell = make_cell(mass_kg=2.0)
    start_z = cell.tote_z()
    assert cell.grasp.pick(cell.tote(2.0)).result(HANG_GUARD_S).held
    for arm in cell.arms.values():
        arm.estop()
    with pytest.raises(EStopActive):
        cell.arms["left"].move_joints(cell.arms["left"].info().configurations["home"])
    cell.loop.sleep(3.0).result(HANG_GUARD_S)
    assert cell.tote_z() - start_z > 0.075
    assert cell.grasp.held is not None


def test_after_a_place_the_arms_are_back_at_home_and_pick_the_tote_again(make_cell: MakeCell) -> None:
    """The arm is redundant: IK back to the home pose alone left joints up to 0.24 rad off
    `home`, and the next pick, planned from there, missed a tote within reach."""
    cell = make_cell(mass_kg=1.5)
    assert cell.grasp.pick(cell.tote(1.5)).result(HANG_GUARD_S).held
    cell.grasp.place().result(HANG_GUARD_S)
    for arm in cell.arms.values():
        home = np.array(arm.info().configurations["home"])
        assert np.abs(arm.state().position - home).max() < 0.02, arm.name
    again = cell.grasp.pick(cell.tote(1.5)).result(HANG_GUARD_S)
    assert again.held, again.reason
