"""Bad input over real gRPC is answered with the right code and a short, precise message.

A message that echoed a 64 KiB value back would not fit in the status details (they travel
in HTTP/2 headers): the client would see RESOURCE_EXHAUSTED or a truncated status instead
of the INVALID_ARGUMENT / NOT_FOUND that names the field. Values are therefore quoted
clipped, and every message stays short whatever the request holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from cellwright.orchestrator.engine import MAX_PARAMS_BYTES
from cellwright.orchestrator.server import MAX_DETAILS
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

TIMEOUT_S = 30.0
HUGE = 64 * 1024
FITS_IN_BODY = MAX_PARAMS_BYTES - 1024
"""A value this long leaves the job body under its 64 KiB limit, so the body-size check
passes and the field's own check (enum, unknown name) is the one that answers."""
MODEST = 512
"""A one-line message: the field path, a clipped quote of the value and what is allowed."""


@pytest.fixture
def jobs(channel: grpc.aio.Channel) -> job_grpc.JobServiceStub:
    return job_grpc.JobServiceStub(channel)


def submission(workflow: str, params: dict[str, Any]) -> job_svc.SubmitJobRequest:
    struct = struct_pb2.Struct()
    struct.update(params)
    return job_svc.SubmitJobRequest(request_id=str(uuid.uuid4()), workflow=workflow, params=struct)


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def test_a_huge_param_value_outside_the_enum_is_invalid_argument_naming_the_field_briefly(
        jobs: job_grpc.JobServiceStub) -> None:
    value = "x" * FITS_IN_BODY
    error = await rpc_error(jobs.SubmitJob(submission("pick-place", {"part": value}),
                                           timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith("params.part: ")
    assert "is not one of ['red_cube', 'green_cube', 'blue_cube']" in error.details()
    assert len(error.details()) <= MODEST


async def test_a_param_value_over_the_body_limit_is_invalid_argument_naming_params_briefly(
        jobs: job_grpc.JobServiceStub) -> None:
    error = await rpc_error(jobs.SubmitJob(submission("pick-place", {"part": "x" * HUGE}),
                                           timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details() == f"params: request body over {MAX_PARAMS_BYTES} bytes"


async def test_a_huge_unknown_parameter_name_is_invalid_argument_naming_it_briefly(
        jobs: job_grpc.JobServiceStub) -> None:
    name = "n" * FITS_IN_BODY
    error = await rpc_error(jobs.SubmitJob(submission("pick-place", {"part": "red_cube", name: 1}),
                                           timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith("params.nnnn")
    assert "unknown parameter; workflow pick-place takes" in error.details()
    assert len(error.details()) <= MODEST


async def test_get_job_of_a_huge_unknown_id_is_not_found_briefly(
        jobs: job_grpc.JobServiceStub) -> None:
    error = await rpc_error(jobs.GetJob(job_svc.GetJobRequest(job_id="j" * HUGE), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
    assert error.details().startswith("job 'jjjj")
    assert error.details().endswith("not found")
    assert len(error.details()) <= MODEST


async def test_list_cells_given_bytes_that_are_no_request_is_invalid_argument(
        channel: grpc.aio.Channel) -> None:
    list_cells = channel.unary_unary("/cellwright.v1.CellService/ListCells")  # bytes as they are
    error = await rpc_error(list_cells(b"\xff\xff\xff", timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith(
        "request: not a valid cellwright.v1.CellService.ListCells request")


async def test_a_message_that_forgets_to_clip_a_huge_value_still_reaches_the_client_clipped(
        jobs: job_grpc.JobServiceStub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last line of defence: the servicer clips every status message, so one that
    quotes a value in full (here: the engine's NotFound, made to forget) is still answered
    with its own code, not lost to the header limit."""
    monkeypatch.setattr("cellwright.orchestrator.engine.quote", repr)
    error = await rpc_error(jobs.GetJob(job_svc.GetJobRequest(job_id="j" * HUGE), timeout=TIMEOUT_S))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
    assert error.details().startswith("job 'jjjj")
    assert len(error.details()) <= MAX_DETAILS + len("... (65552 characters)")
