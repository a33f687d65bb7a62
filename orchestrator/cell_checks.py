"""Checks on what a cell says about itself, so one bad cell cannot poison what the
orchestrator serves to everyone else (ListCells, GetCell, scheduling)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from google.protobuf import struct_pb2

from cellwright.api.layout import EMPTY, Layout
from cellwright.api.schema import CELL_ID, SchemaError, check_schema, quote
from cellwright.api.structs import from_struct
from cellwright.orchestrator.errors import FailedPrecondition, InvalidArgument
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import packml_pb2

MAX_SKILLS = 256
MAX_ROBOTS = 32
MAX_TAGS = 64


PACKML_STATES = frozenset(packml_pb2.PackmlState.values()) - {packml_pb2.PACKML_STATE_UNSPECIFIED}


def check_packml_state(value: int, field: str) -> None:
    if value not in PACKML_STATES:
        raise InvalidArgument(field, f"{value} is not a PackML state")


def check_stats(stats: cell_pb.CellStats) -> None:
    """Every figure a duration >= 0 (on every heartbeat: a name is built only to fail)."""
    figures = [("clock_s", stats.clock_s), ("busy_s", stats.busy_s), *stats.state_time_s.items()]
    for i, (name, value) in enumerate(figures):
        if not (math.isfinite(value) and value >= 0):
            where = name if i < 2 else f"state_time_s[{quote(name)}]"
            raise InvalidArgument(f"heartbeat.stats.{where}", f"{value} is not a duration >= 0")


def check_hello(hello: cell_pb.Hello, layout: Layout = EMPTY) -> None:
    """Raise InvalidArgument naming the first thing wrong with a hello; with a line layout,
    FailedPrecondition if a robot stands on a mount the layout does not have (the cell's
    configuration and the plant's layout disagree)."""
    if not CELL_ID.match(hello.cell_id):
        raise InvalidArgument("hello.cell_id", f"{quote(hello.cell_id)} must match {CELL_ID.pattern}")
    if not hello.boot_id:
        raise InvalidArgument("hello.boot_id", "required: a random id per process start, e.g. a UUID")
    check_packml_state(hello.packml_state, "hello.packml_state")
    if len(hello.skills) > MAX_SKILLS or len(hello.robots) > MAX_ROBOTS or len(hello.tags) > MAX_TAGS:
        raise InvalidArgument("hello", f"at most {MAX_SKILLS} skills, {MAX_ROBOTS} robots and "
                              f"{MAX_TAGS} tags")
    names = [s.name for s in hello.skills]
    for i, name in enumerate(names):
        if not name or names.index(name) != i:
            raise InvalidArgument(f"hello.skills[{i}].name", f"{quote(name)} is empty or given twice")
        for kind in ("params_schema", "result_schema"):
            _check_schema(getattr(hello.skills[i], kind), f"hello.skills[{i}].{kind}")
    for r, robot in enumerate(hello.robots):
        where = f"hello.robots[{r}]"
        _check_joints(robot.joints, where)
        for c, component in enumerate(robot.components):
            _check_joints(component.joints, f"{where}.components[{c}]")
            gripper = (component.stroke_m, component.max_force_n)
            if not all(math.isfinite(v) and v >= 0 for v in gripper):
                raise InvalidArgument(f"{where}.components[{c}]", f"gripper stroke and force "
                                      f"{gripper} must be finite and >= 0")
        if layout.mounts and robot.mount not in layout.mounts:
            raise FailedPrecondition(
                f"{where}.mount: robot {quote(robot.name)} of cell {quote(hello.cell_id)} stands "
                f"on mount {quote(robot.mount)}, which layout {layout.name} does not have "
                f"(mounts: {sorted(layout.mounts)}); fix the cell's config or the layout")


def _check_joints(joints: Sequence[cell_pb.Joint], where: str) -> None:
    for j, joint in enumerate(joints):
        limits = (joint.lower_rad, joint.upper_rad, joint.max_velocity_rad_s)
        if not all(math.isfinite(v) for v in limits) or joint.lower_rad > joint.upper_rad:
            raise InvalidArgument(f"{where}.joints[{j}]", f"limits {limits} are not "
                                  "finite with lower <= upper")


_CHECKED_SCHEMAS: set[bytes] = set()  # schemas found valid: a plant's cells share a few
MAX_CHECKED_SCHEMAS = 4096


def _check_schema(struct: struct_pb2.Struct, where: str) -> None:
    """A skill's schema is empty (not declared) or an object schema in our subset: the
    first cell to advertise a skill sets its schema for the plant, so a malformed one
    would poison every check after it. A schema found valid before is not checked again
    (about a millisecond a hello, which a connect storm pays thousands of times)."""
    key = struct.SerializeToString(deterministic=True)
    if key in _CHECKED_SCHEMAS:
        return
    try:
        schema = from_struct(struct, where)
        if schema:
            check_schema(schema, where)
    except SchemaError as exc:
        raise InvalidArgument(exc.field, exc.problem) from exc
    if len(_CHECKED_SCHEMAS) >= MAX_CHECKED_SCHEMAS:
        _CHECKED_SCHEMAS.clear()
    _CHECKED_SCHEMAS.add(key)
