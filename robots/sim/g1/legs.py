"""`G1Legs`: the G1's legged base in PyBullet: it stands, walks and judges balance.

    stand     physics alone (no base constraint): leg joints under position control
              capped at the URDF torques; the whole-body CoM (arms as measured, payloads
              included) is held over the middle of the feet by moving the pelvis
    walk      `walk_to(x, y, yaw)`: a path from `plan_path` (straight by default),
              footsteps along it (`gait.plan_footsteps`), the DCM-referenced whole-body
              controller (`wholebody`) every tick at the world's dt. Each landed foot is
              taken where it really is and the steps still to come are re-planned from
              there (except the last two)
    tiers     dynamic (default): nothing but contacts holds the body. guided (config
              `walking: guided`): a constraint drives the pelvis along the planned gait
              (floor position and heading, never height) with a bounded force, its
              wrench recorded every tick (`helper_wrench`, `helper_wrench_summary()`)
    balance   every tick: feet in contact, CoM (Pinocchio, measured joints and pelvis,
              payloads included), ZMP (centre of pressure of the foot contact forces,
              low-passed over `ZMP_FILTER_S`), support polygon (hull of the sole contact
              spheres within 2 mm of the floor, by the soles' geometry: see
              `G1Body.sole_points`) and the stability margin: the ZMP's signed distance
              inside the polygon while walking or stopping, the CoM projection's while
              standing (quasi-static)
    unstable  the margin below `margin_floor_m` for longer than `margin_debounce_s`:
              `body.fault(Unstable)`: every component's goal fails with it, the legs
              finish the step in progress, bring the feet side by side and stand
    fallen    the pelvis below `fall_height_m`, or a link other than a foot touching
              something within 3 cm of the floor: `body.fault(Fallen)`: every
              component's goal fails with it and every component goes to ERROR
    stop      stop() and estop() finish the step in progress, bring the feet side by
              side and stand: torque is never cut
    speed     `speed_override` below 1 shortens the steps still to come (slower); 0 is
              a protective stop (finish the step, stand; the goal stays alive and goes
              on when the override returns); the goal's timeout does not run meanwhile

Rates: tested with the world and the controller at 480 Hz (dt 1/480 s): the controller
runs at the world's dt; at 240 Hz the same gait fell far more often (FACTS.md).

The margin floor (default -0.02 m, held 0.1 s), chosen from measured walks
(bench/g1_walk.py, 480 Hz, 20 seeds a scenario): the G1 walks on four 5 mm sole spheres,
and its (filtered) ZMP rides on the edge of the stance sole for tens of milliseconds at
almost every step: the lowest margin held for 0.1 s in successful walks was 0 to +2 mm,
and in walks that recovered from a 50 N side push -13 mm (the stance foot rolled on its
edge for up to 0.9 s and came back). With a floor of 0 m, 7 of 20 pushed walks and 18 of
20 walks carrying 3 kg stopped Unstable although, without the trigger, they went on;
walks that did fall first lost every foot contact (margin -inf) and were stopped Unstable
about 0.2 s before the fall was detected. A negative floor reads: the ZMP held more than
2 cm outside the soles touching the floor for 0.1 s. Standing still keeps 60-80 mm.

Threads: as every component (see `robots.component`).
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pinocchio as pin
import pybullet as p

from cellwright.api.geometry import FloatArray, Pose
from cellwright.robots.component import Hazard
from cellwright.robots.errors import (
    EStopActive,
    Fallen,
    LimitViolation,
    MotionStopped,
    MotionTimeout,
    RobotError,
    Unstable,
)
from cellwright.robots.goal import Goal
from cellwright.robots.legged import WALKING_TIERS, LeggedBase, LeggedBaseInfo, LeggedBaseState
from cellwright.robots.models import unitree_g1 as g1
from cellwright.robots.sim.g1.body import FootContact, G1Body
from cellwright.robots.sim.g1.gait import ARRIVED_M, ARRIVED_RAD, Footstep, GaitParams, body_of, plan_footsteps
from cellwright.robots.sim.g1.model import G1Model
from cellwright.robots.sim.g1.stability import convex_hull, signed_distance
from cellwright.robots.sim.g1.wholebody import LEG_JOINTS, Measured, StabilizerGains, WholeBodyController

DRIVER = "pybullet"
Point = tuple[float, float]
PathPlanner = Callable[[Point, Point], list[Point]]

FINAL_STEPS = 2
"""The last footsteps of a walk are not re-planned at landing (re-planning them from where
the feet landed adds millimetre sidesteps that rock the robot)."""
ZMP_FILTER_S = 0.03
"""Time constant of the ZMP's low-pass filter (s)."""

GUIDED_APPROXIMATION = ("walking tier guided: a constraint drives the pelvis along the planned "
                        "gait (force bounded by guide_max_force_n); its wrench is reported as "
                        "helper_wrench, so balance while walking is not the controller's alone")


def straight_line(start: Point, goal: Point) -> list[Point]:
    """The default path planner: straight to the goal (no obstacles known)."""
    return [goal]


@dataclass(frozen=True)
class LegsConfig:
    """The legs' configuration (cell config keys, all optional).

    Attributes:
        walking: "dynamic" (default) or "guided".
        max_speed_m_s: the walking speed at `speed=1` (m/s, at most 1).
        max_turn_rad_s: the most the body turns per second while walking.
        margin_floor_m: the stability margin below which motion fails `unstable`.
        margin_debounce_s: how long the margin must stay below the floor.
        fall_height_m: the pelvis below this height above the floor is a fall.
        workspace: (x_min, y_min, x_max, y_max) the legs may be sent to (world, m).
        guide_max_force_n: the guided tier's constraint force bound (N).
    """

    walking: str = "dynamic"
    max_speed_m_s: float = 0.125
    max_turn_rad_s: float = 0.25
    margin_floor_m: float = -0.02
    margin_debounce_s: float = 0.1
    fall_height_m: float = 0.45
    workspace: tuple[float, float, float, float] = (-math.inf, -math.inf, math.inf, math.inf)
    guide_max_force_n: float = 60.0

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> LegsConfig:
        """Read the keys above from a cell config entry; unknown keys are ignored (they
        belong to other components).

        Raises:
            ValueError: a bad value (names the key).
        """
        default = cls()
        values: dict[str, Any] = {}
        for key in ("max_speed_m_s", "max_turn_rad_s", "margin_floor_m", "margin_debounce_s",
                    "fall_height_m", "guide_max_force_n"):
            if key in config:
                try:
                    values[key] = float(config[key])
                except (TypeError, ValueError):
                    raise ValueError(f"{key}: expected a number, got {config[key]!r}") from None
        walking = str(config.get("walking", default.walking))
        if walking not in WALKING_TIERS:
            raise ValueError(f"walking: expected one of {WALKING_TIERS}, got {walking!r}")
        values["walking"] = walking
        if "workspace" in config:
            box = tuple(float(v) for v in config["workspace"])
            if len(box) != 4 or box[0] >= box[2] or box[1] >= box[3]:
                raise ValueError(f"workspace: expected [x_min, y_min, x_max, y_max], got {config['workspace']!r}")
            values["workspace"] = box
        result = replace(default, **values)
        if not 0.0 < result.max_speed_m_s <= 1.0:
            raise ValueError(f"max_speed_m_s: must be in (0, 1], got {result.max_speed_m_s}")
        if result.max_turn_rad_s <= 0.0 or result.margin_debounce_s < 0.0 or result.guide_max_force_n <= 0.0:
            raise ValueError("max_turn_rad_s and guide_max_force_n must be > 0, margin_debounce_s >= 0")
        return result


class _Walk(Goal[None]):
    """A walk to a floor pose; progress by distance along the path."""

    def __init__(self, what: str, x: float, y: float, yaw: float, speed: float, timeout_s: float,
                 on_cancel: Callable[[], None]) -> None:
        super().__init__(what, on_cancel=on_cancel)
        self.target = (x, y, yaw)
        self.speed = speed
        self.timeout_s = timeout_s
        self.elapsed_s = 0.0  # loop time walked (not while paused by speed_override 0)
        self.waypoints: list[Point] = []
        self.length_m = 0.0
        self.started = False


class G1Legs(LeggedBase):
    """The G1's legs (see the module docstring).

    Args:
        name: `<robot>/legs`.
        body: the shared PyBullet body.
        config: the keys of `LegsConfig` (a mapping, or a `LegsConfig`).
        plan_path: `plan_path(start_xy, goal_xy) -> waypoints` (the last is the goal);
            default a straight line. Raise `Unreachable` for no path.
        gait: gait shape (step length and timing); its step length is capped by
            `max_speed_m_s`.
        gains: the stabilizer's gains.
    """

    def __init__(self, name: str, body: G1Body, config: Mapping[str, Any] | LegsConfig | None = None,
                 *, plan_path: PathPlanner = straight_line, gait: GaitParams | None = None,
                 gains: StabilizerGains | None = None) -> None:
        super().__init__(name, g1.MODEL, DRIVER)
        self._body = body
        self.config = config if isinstance(config, LegsConfig) else LegsConfig.from_mapping(config or {})
        self._plan_path = plan_path
        base_gait = gait or GaitParams()
        self._gait = replace(base_gait, step_length_m=min(
            base_gait.step_length_m, self.config.max_speed_m_s * base_gait.step_s),
            turn_per_step_rad=min(base_gait.turn_per_step_rad, self.config.max_turn_rad_s * base_gait.step_s))
        self._gains = gains or StabilizerGains()
        self._model: G1Model | None = None
        self._controller: WholeBodyController | None = None
        guided = self.config.walking == "guided"
        self._info = LeggedBaseInfo(
            name, self.kind, g1.MODEL, DRIVER, mobility="legged", workspace=self.config.workspace,
            approximation=GUIDED_APPROXIMATION if guided else "", tier=self.config.walking,
            max_speed_m_s=self._gait.step_length_m / self._gait.step_s,
            max_turn_rad_s=self._gait.turn_per_step_rad / self._gait.step_s,
            margin_floor_m=self.config.margin_floor_m,
            helper_forces=("pelvis guide constraint",) if guided else ())
        self._state = LeggedBaseState(0.0, body.mount, False, tier=self.config.walking)
        self._phase = "standing"
        self._stopping: RobotError | None = None  # why the walk is ending (stop, e-stop, unstable)
        self._paused = False
        self._below_since: float | None = None
        self._distance = 0.0
        self._last_xy: Point | None = None
        self._measured: Measured | None = None
        self._margin = -math.inf
        self._min_margin = math.inf
        self._guide: int | None = None
        self._wrench = (0.0,) * 6
        self._wrench_peak = 0.0
        self._wrench_sum = 0.0
        self._wrench_ticks = 0
        self._fault: Fallen | None = None
        self._stop_latched = False
        self._speed_planned = 1.0
        self._landed_planned = 0
        self._force_lp = 0.0
        self._window: collections.deque[tuple[float, float]] = collections.deque()
        self._moment_lp = np.zeros(2)
        body.add_fault_listener(self._on_body_fault)

    # --- queries (any thread) ---------------------------------------------------------------
    def info(self) -> LeggedBaseInfo:
        return self._info

    def state(self) -> LeggedBaseState:
        return self._state

    def busy(self) -> bool:
        controller = self._controller
        return super().busy() or (controller is not None and controller.walking) or self._stopping is not None

    @property
    def min_margin_m(self) -> float:
        """The lowest stability margin held for `margin_debounce_s` (the lowest of the
        windowed maxima: what the floor is compared with) since the last `walk_to` began."""
        return self._min_margin

    def helper_wrench_summary(self) -> tuple[float, float]:
        """Peak and mean force (N) of the guided tier's constraint since the walk began
        (0, 0 in the dynamic tier)."""
        mean = self._wrench_sum / self._wrench_ticks if self._wrench_ticks else 0.0
        return self._wrench_peak, mean

    def hazard_points(self) -> tuple[Hazard, ...]:
        pose = self._state.pose
        x, y, z = pose.position
        return (Hazard((x, y, z), 0.35), Hazard((x, y, 0.1), 0.3))

    # --- lifecycle (loop thread) --------------------------------------------------------------
    def _configure(self) -> None:
        body = self._body
        body.acquire(self.name)
        if self._model is None:
            self._model = G1Model(body.hands)
        self._controller = WholeBodyController(self._model, self._gait, body.world.dt, self._gains)
        self._fault = body.faulted
        self._measured = self._measure()
        self._controller.reset(self._measured, self._feet(), float(self._measured.pelvis_position[2]))
        self.read(body.world.now_s())

    def _shutdown(self) -> None:
        goal = self._goal
        if goal is not None:
            goal.fail(MotionStopped(f"{self.name}: shut down"))
        self._remove_guide()
        self._body.remove_fault_listener(self._on_body_fault)
        self._body.release(self.name)

    def _on_stop(self) -> None:
        self._stop_latched = True

    # --- motion (any thread) ------------------------------------------------------------------
    def _move_to(self, x_m: float, y_m: float, yaw_rad: float, speed: float, timeout_s: float) -> Goal[None]:
        if self._fault is not None:
            raise LimitViolation(f"{self.name}: the robot has fallen; it must be seen to first")
        goal = _Walk(f"{self.name}: walk to ({x_m:.2f}, {y_m:.2f}, {math.degrees(yaw_rad):.0f} deg)",
                     x_m, y_m, yaw_rad, speed, timeout_s, on_cancel=lambda: self.wake())
        x0, y0, _ = self._state.pose.position
        goal.waypoints = [(float(a), float(b)) for a, b in self._plan_path((x0, y0), (x_m, y_m))]
        if not goal.waypoints or math.dist(goal.waypoints[-1], (x_m, y_m)) > 1e-6:
            goal.waypoints.append((x_m, y_m))
        points = [(x0, y0), *goal.waypoints]
        goal.length_m = sum(math.dist(a, b) for a, b in itertools.pairwise(points))
        self._begin(goal)
        return goal

    # --- control loop (loop thread) ------------------------------------------------------------
    def read(self, now_s: float) -> None:
        body, model = self._body, self._model
        if body.id is None or model is None:
            return
        measured = self._measure()
        self._measured = measured
        q = np.concatenate((measured.pelvis_position, measured.pelvis_orientation, measured.q_joints))
        com = model.com(q, measured.payloads)
        contacts = body.foot_contacts()
        soles = body.sole_points()
        feet = tuple(sorted(soles))
        polygon = convex_hull([point for points in soles.values() for point in points])
        zmp = self._filtered_zmp(contacts)
        controller = self._controller
        dynamic = controller is not None and (controller.walking or self._stopping is not None)
        if dynamic:
            margin = signed_distance(zmp, polygon) if zmp is not None else -math.inf
        else:
            margin = signed_distance(com[:2], polygon)
        self._margin = margin
        self._window.append((now_s, margin))
        while self._window and self._window[0][0] < now_s - self.config.margin_debounce_s + 1e-9:
            self._window.popleft()
        sustained = max(m for _, m in self._window)
        self._min_margin = min(self._min_margin, sustained)
        self.margins.add(now_s, sustained)
        if controller is not None:
            feet_now = controller.feet if not controller.walking or controller.timeline is None \
                else controller.timeline.feet_before(controller.landed)
            x, y, _ = body_of(feet_now["left"], feet_now["right"])
            if self._last_xy is not None:
                self._distance += math.dist((x, y), self._last_xy)
            self._last_xy = (x, y)
        if self._guide is not None:
            forces = p.getConstraintState(self._guide, physicsClientId=body.client)
            fx, fy, fz, tx, ty, tz = (float(f) for f in forces[:6])
            self._wrench = (fx, fy, fz, tx, ty, tz)
            force = math.sqrt(sum(f * f for f in self._wrench[:3]))
            self._wrench_peak = max(self._wrench_peak, force)
            self._wrench_sum += force
            self._wrench_ticks += 1
        joints = dict(zip(model.joint_names, measured.q_joints.tolist(), strict=True))
        px, py, pz = (float(v) for v in measured.pelvis_position)
        qx, qy, qz, qw = (float(v) for v in measured.pelvis_orientation)
        pose = Pose((px, py, pz), (qx, qy, qz, qw))
        self._state = LeggedBaseState(
            stamp_s=now_s, pose=pose, moving=self.busy(), tier=self.config.walking,
            phase=self._phase, joints=joints, feet_in_contact=feet,
            com=(float(com[0]), float(com[1]), float(com[2])),
            zmp=(float(zmp[0]), float(zmp[1])) if zmp is not None else (float(com[0]), float(com[1])),
            support_polygon=polygon, margin_m=margin, helper_wrench=self._wrench,
            distance_walked_m=self._distance)

    def update(self, now_s: float, dt_s: float) -> None:
        body, controller, measured = self._body, self._controller, self._measured
        if body.id is None or controller is None or measured is None or self._fault is not None:
            return
        if self._check_fall():
            return
        stop_latched, self._stop_latched = self._stop_latched, False
        goal = self._goal
        walk = goal if isinstance(goal, _Walk) and not goal.done() else None
        # stop, e-stop: finish the step in progress and stand, then end the goal
        stop = stop_latched or self.stop_requested or (walk is not None and walk.cancel_requested)
        if self._stopping is None and stop and (controller.walking or walk is not None):
            error: RobotError = (EStopActive(f"{self.name}: e-stopped while walking") if self.estopped
                                 else MotionStopped(f"{self.name}: stopped on request"))
            self._begin_stopping(error)
        if walk is not None and self._stopping is None:
            self._advance(walk, dt_s)
        self._check_margin(now_s)
        legs = controller.tick(measured)
        body.command(LEG_JOINTS, legs)
        if self._guide is not None:
            self._drive_guide()
        if self._stopping is not None and not controller.walking:
            self._finish_stopping()
        self._phase = ("stopping" if self._stopping is not None else
                       "walking" if controller.walking else "standing")

    def write(self) -> None:
        self._body.flush()

    # --- walking --------------------------------------------------------------------------------
    def _advance(self, walk: _Walk, dt_s: float) -> None:
        controller = self._controller
        assert controller is not None
        override = self.speed_override
        if not walk.started:
            walk.started = True
            self._min_margin = math.inf
            self._wrench_peak = self._wrench_sum = 0.0
            self._wrench_ticks = 0
            self._start_steps(walk, override)
            return
        if override <= 0.0:
            if controller.walking and not self._paused:
                controller.stop_soon()
            self._paused = True
            return
        walk.elapsed_s += dt_s
        if self._paused and not controller.walking:
            self._paused = False
            self._start_steps(walk, override)
            return
        if controller.walking and (abs(override - self._speed_planned) > 0.2
                                   or (controller.landed != self._landed_planned
                                       and controller.steps_left() > FINAL_STEPS)):
            self._replan(walk, override)
        progress = 1.0 - self._remaining_m(walk) / max(walk.length_m, 1e-9)
        walk.progress = min(1.0, max(walk.progress, progress))
        if not controller.walking and not self._paused:
            x, y, yaw = walk.target
            pose = self._state.pose.position
            feet = controller.feet
            bx, by, byaw = body_of(feet["left"], feet["right"])
            if math.hypot(bx - x, by - y) < ARRIVED_M * 2 and abs(_wrap(byaw - yaw)) < ARRIVED_RAD * 2:
                walk.succeed(None)
                self._remove_guide()
            else:
                self._start_steps(walk, override)
                if not controller.walking:
                    walk.fail(MotionTimeout(f"{walk.what}: no steps lead closer (at {pose[0]:.2f}, {pose[1]:.2f})"))
            return
        if walk.elapsed_s > walk.timeout_s:
            self._begin_stopping(MotionTimeout(f"{walk.what}: not there after {walk.timeout_s:.1f} s"))

    def _start_steps(self, walk: _Walk, override: float) -> None:
        controller = self._controller
        assert controller is not None
        feet = controller.feet
        steps = self._footsteps(walk, feet["left"], feet["right"], override * walk.speed)
        self._landed_planned = 0
        if steps:
            controller.walk(steps)
            if self.config.walking == "guided" and self._guide is None:
                self._add_guide()

    def _footsteps(self, walk: _Walk, left: Footstep, right: Footstep, speed: float,
                   after: Footstep | None = None) -> list[Footstep]:
        """Footsteps from the feet to the goal; `after`: the last step already taken (the
        walk goes on at full step length with the other foot)."""
        yaw = walk.target[2]
        bx, by, _ = body_of(left, right)
        remaining = list(walk.waypoints)
        # drop the waypoints already passed: those before the closest, and the closest
        # if it is within a step
        if len(remaining) > 1:
            distances = [math.hypot(wx - bx, wy - by) for wx, wy in remaining]
            closest = int(np.argmin(distances[:-1]))
            if distances[closest] < self._gait.step_length_m * 1.5:
                closest += 1
            remaining = remaining[closest:]
            walk.waypoints = remaining
        params = replace(self._gait, step_length_m=self._gait.step_length_m * max(0.2, min(1.0, speed)))
        self._speed_planned = self.speed_override
        if after is None:
            return plan_footsteps(left, right, remaining, yaw, params)
        return plan_footsteps(left, right, remaining, yaw, params, first_step_scale=1.0,
                              first_swing="right" if after.side == "left" else "left")

    def _replan(self, walk: _Walk, override: float) -> None:
        controller = self._controller
        assert controller is not None and controller.timeline is not None
        self._landed_planned = controller.landed
        kept = controller.stop_soon(join=False)
        feet = controller.timeline.feet_before(len(kept))
        more = self._footsteps(walk, feet["left"], feet["right"], override * walk.speed,
                               kept[-1] if kept else None)
        controller.extend(more)

    def _remaining_m(self, walk: _Walk) -> float:
        x, y, _ = self._state.pose.position
        points = [(x, y), *walk.waypoints]
        return sum(math.dist(a, b) for a, b in itertools.pairwise(points))

    # --- stopping and faults ------------------------------------------------------------------
    def _begin_stopping(self, error: RobotError) -> None:
        controller = self._controller
        assert controller is not None
        self._stopping = error
        if controller.walking:
            controller.stop_soon()

    def _finish_stopping(self) -> None:
        error, self._stopping = self._stopping, None
        self._paused = False
        self._remove_guide()
        goal = self._goal
        if goal is not None and error is not None:
            goal.fail(error)

    def _check_margin(self, now_s: float) -> None:
        floor = self.config.margin_floor_m
        if self._margin >= floor:
            self._below_since = None
            return
        if self._below_since is None:
            self._below_since = now_s
        if now_s - self._below_since + 1e-9 < self.config.margin_debounce_s:
            return
        self._below_since = None
        error = Unstable(f"{self.name}: stability margin {self._margin * 1000:.0f} mm below the floor "
                         f"{floor * 1000:.0f} mm for {self.config.margin_debounce_s:.2f} s")
        self._body.fault(error)

    def _check_fall(self) -> bool:
        measured = self._measured
        assert measured is not None
        height = float(measured.pelvis_position[2]) - self._body.floor_z
        why = ""
        if height < self.config.fall_height_m:
            why = f"pelvis {height:.2f} m above the floor (below {self.config.fall_height_m:.2f} m)"
        else:
            touching = self._body.non_foot_floor_contacts()
            if touching:
                why = f"{', '.join(touching)} on the floor"
        if not why:
            return False
        self._body.fault(Fallen(f"{self.name}: fallen: {why}"))
        return True

    def _on_body_fault(self, error: RobotError) -> None:
        """Every fault of the robot (loop thread): ours or another component's."""
        goal = self._goal
        if isinstance(error, Fallen):
            self._fault = error
            self._remove_guide()
            self._phase = "fallen"
            if goal is not None:
                goal.fail(error)
            self._state = replace(self._state, phase="fallen", moving=False)
            self.fail(f"fallen: {error}")
            return
        walking = self._controller is not None and self._controller.walking
        if self._stopping is None and ((goal is not None and not goal.done()) or walking):
            self._begin_stopping(error)

    # --- the guided tier ---------------------------------------------------------------------------
    def _add_guide(self) -> None:
        body = self._body
        position, orientation = p.getBasePositionAndOrientation(body.id, physicsClientId=body.client)
        self._guide = int(p.createConstraint(body.id, -1, -1, -1, p.JOINT_FIXED, (0, 0, 0), (0, 0, 0),
                                             position, childFrameOrientation=orientation,
                                             physicsClientId=body.client))
        p.changeConstraint(self._guide, maxForce=self.config.guide_max_force_n, physicsClientId=body.client)

    def _drive_guide(self) -> None:
        """The pelvis' planned pose (from the CoM reference, facing between the feet) at its
        measured height: the guide pulls along the floor and turns, never lifts (and its
        force bound, default 60 N, is a fifth of the robot's weight)."""
        controller, body = self._controller, self._body
        assert controller is not None and self._guide is not None
        target = controller.pelvis_target
        if target is None:
            return
        position, orientation = target
        measured = self._measured
        if measured is not None:  # it guides along the floor and the heading; the legs carry the weight
            position = np.array([position[0], position[1], measured.pelvis_position[2]])
            roll, pitch, _ = pin.rpy.matrixToRpy(pin.Quaternion(measured.pelvis_orientation).toRotationMatrix())
            _, _, yaw = pin.rpy.matrixToRpy(pin.Quaternion(np.asarray(orientation)).toRotationMatrix())
            orientation = pin.Quaternion(pin.rpy.rpyToMatrix(roll, pitch, yaw)).coeffs()
        inertial = p.getDynamicsInfo(body.id, -1, physicsClientId=body.client)
        pos, orn = p.multiplyTransforms(position, orientation, inertial[3], inertial[4])
        p.changeConstraint(self._guide, jointChildPivot=pos, jointChildFrameOrientation=orn,
                           maxForce=self.config.guide_max_force_n, physicsClientId=body.client)

    def _remove_guide(self) -> None:
        if self._guide is not None:
            if p.isConnected(physicsClientId=self._body.client):
                p.removeConstraint(self._guide, physicsClientId=self._body.client)
            self._guide = None
            self._wrench = (0.0,) * 6

    # --- measuring --------------------------------------------------------------------------------
    def _measure(self) -> Measured:
        body, model = self._body, self._model
        assert model is not None
        pose = body.pelvis_pose()
        linear, angular = body.pelvis_velocity()
        return Measured(np.array(pose.position), np.array(pose.orientation), linear, angular,
                        body.joint_positions(model.joint_names), body.joint_velocities(model.joint_names),
                        [(pl.link, pl.mass_kg, pl.offset) for pl in body.payloads.values()],
                        self._feet())

    def _filtered_zmp(self, contacts: list[FootContact]) -> FloatArray | None:
        """The centre of pressure of the foot contact forces, low-passed over
        `ZMP_FILTER_S` (the solver's force distribution over the four sole spheres
        chatters from one step to the next)."""
        force = sum(c.normal_force_n for c in contacts)
        moment = np.zeros(2)
        for c in contacts:
            moment += c.normal_force_n * np.array(c.position[:2])
        alpha = min(1.0, self._body.world.dt / ZMP_FILTER_S)
        self._force_lp += alpha * (force - self._force_lp)
        self._moment_lp += alpha * (moment - self._moment_lp)
        if force <= 0.0 or self._force_lp <= 1.0:
            return None
        return self._moment_lp / self._force_lp

    def _feet(self) -> dict[str, Footstep]:
        feet = {}
        for side in g1.SIDES:
            pose = self._body.link_pose(g1.FOOT_LINKS[side])
            rotation = pin.Quaternion(np.array(pose.orientation)).toRotationMatrix()
            yaw = float(pin.rpy.matrixToRpy(rotation)[2])
            feet[side] = Footstep(side, pose.position[0], pose.position[1], yaw)
        return feet


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


__all__ = ["G1Legs", "LegsConfig", "straight_line"]
