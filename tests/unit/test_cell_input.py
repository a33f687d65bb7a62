"""What a cell may say: task states it may report, skill schemas it may advertise."""

from __future__ import annotations

import pytest

from cellwright.api.structs import to_struct
from cellwright.orchestrator.cell_checks import check_hello, check_stats
from cellwright.orchestrator.convert import task_report
from cellwright.orchestrator.errors import InvalidArgument
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import job_pb2, packml_pb2


@pytest.mark.parametrize("state", ["SKIPPED", "HELD", "AWAITING_OPERATOR", "READY", "UNKNOWN"])
def test_a_cell_may_not_report_a_state_only_the_orchestrator_gives(state):
    update = cell_pb.TaskUpdate(task_id="j/a", epoch=1, state=job_pb2.TaskState.Value(f"TASK_STATE_{state}"))
    with pytest.raises(InvalidArgument, match=rf"task_update.state: a cell reports .* not {state}"):
        task_report(update)


def hello(params_schema: dict[str, object]) -> cell_pb.Hello:
    return cell_pb.Hello(cell_id="c1", boot_id="b1", packml_state=packml_pb2.PACKML_STATE_EXECUTE,
                         skills=[cell_pb.Skill(name="weld", params_schema=to_struct(params_schema))])


def test_a_malformed_skill_schema_is_refused_at_hello_naming_it():
    with pytest.raises(InvalidArgument, match=r"hello.skills\[0\].params_schema.properties"):
        check_hello(hello({"type": "object", "properties": "oops"}))


def test_an_empty_schema_means_not_declared_and_is_accepted():
    check_hello(hello({}))
    check_hello(hello({"type": "object", "properties": {"speed": {"type": "number"}}}))


def test_schemas_through_a_struct_keep_their_integer_bounds():
    """A Struct carries every number as a double (minItems 3 arrives as 3.0)."""
    check_hello(hello({"type": "object", "properties": {
        "at": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}}}))


@pytest.mark.parametrize(("stats", "where"), [
    (cell_pb.CellStats(clock_s=float("nan")), r"heartbeat.stats.clock_s: nan is not a duration"),
    (cell_pb.CellStats(busy_s=-1.0), r"heartbeat.stats.busy_s: -1.0 is not a duration"),
    (cell_pb.CellStats(state_time_s={"Execute": 1.0, "clock_s": float("inf")}),
     r"heartbeat.stats.state_time_s\['clock_s'\]: inf is not a duration"),
])
def test_a_heartbeat_figure_that_is_no_duration_is_refused_naming_it(stats, where):
    with pytest.raises(InvalidArgument, match=where):
        check_stats(stats)


def test_a_heartbeats_durations_pass():
    check_stats(cell_pb.CellStats(clock_s=3.0, busy_s=1.0, state_time_s={"Execute": 2.0, "Idle": 0.0}))


def test_a_schema_found_valid_once_is_not_checked_again_and_a_bad_one_always_is():
    good = hello({"type": "object", "properties": {"seam": {"type": "string"}}})
    check_hello(good)
    check_hello(good)  # from the set of checked schemas
    for _ in range(2):  # never remembered
        with pytest.raises(InvalidArgument, match=r"hello.skills\[0\].params_schema.properties"):
            check_hello(hello({"type": "object", "properties": "oops"}))
