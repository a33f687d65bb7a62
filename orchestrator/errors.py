"""Errors of the orchestrator, each mapped once to a gRPC status code.

    OrchestratorError          root; `code` is the gRPC status to answer with
    ├── InvalidArgument        INVALID_ARGUMENT: a request field is wrong (message names it)
    ├── NotFound               NOT_FOUND: unknown job, workflow or cell
    ├── AlreadyExists          ALREADY_EXISTS: idempotency key reused with another body
    ├── FailedPrecondition     FAILED_PRECONDITION: valid request, wrong moment
    ├── OutOfRange             OUT_OF_RANGE: a sequence number beyond what exists
    └── Unavailable            UNAVAILABLE: a cell did not answer in time, or the job
                               database cannot be used now (locked, disk full)
"""

from __future__ import annotations

import grpc


class OrchestratorError(Exception):
    """Root of orchestrator errors."""

    code = grpc.StatusCode.INTERNAL


class InvalidArgument(OrchestratorError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(OrchestratorError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(OrchestratorError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(OrchestratorError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class OutOfRange(OrchestratorError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unavailable(OrchestratorError):
    code = grpc.StatusCode.UNAVAILABLE
