"""A small synchronous client of the orchestrator's public API (used by the CLI and demo)."""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from typing import Any

import grpc
from google.protobuf import struct_pb2

from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

FINAL_JOB_STATES = frozenset({job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED,
                              job_pb2.JOB_STATE_CANCELLED})


class Client:
    """JobService and CellService stubs on one channel. Use as a context manager."""

    def __init__(self, address: str, timeout_s: float = 10.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.channel = grpc.insecure_channel(address)
        self.jobs = job_grpc.JobServiceStub(self.channel)
        self.cells = cell_grpc.CellServiceStub(self.channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Block until the orchestrator accepts connections."""
        grpc.channel_ready_future(self.channel).result(timeout=timeout_s)

    def submit(self, workflow: str, params: dict[str, Any] | None = None, *,
               request_id: str | None = None, priority: int = 0,
               labels: dict[str, str] | None = None) -> job_pb2.Job:
        """Submit a job; a fresh UUID is the idempotency key unless one is given."""
        struct = struct_pb2.Struct()
        struct.update(params or {})
        response: job_svc.SubmitJobResponse = self.jobs.SubmitJob(job_svc.SubmitJobRequest(
            request_id=request_id or str(uuid.uuid4()), workflow=workflow, params=struct,
            priority=priority, labels=labels or {}), timeout=self.timeout_s)
        return response.job

    def get(self, job_id: str) -> job_pb2.Job:
        response: job_svc.GetJobResponse = self.jobs.GetJob(
            job_svc.GetJobRequest(job_id=job_id), timeout=self.timeout_s)
        return response.job

    def list_jobs(self, **filters: Any) -> Iterator[job_pb2.Job]:
        """Every job matching the ListJobs filters, following page tokens."""
        token = ""
        while True:
            page: job_svc.ListJobsResponse = self.jobs.ListJobs(job_svc.ListJobsRequest(page_token=token, **filters),
                                      timeout=self.timeout_s)
            yield from page.jobs
            token = page.next_page_token
            if not token:
                return

    def watch(self, after_seq: int = 0, job_id: str = "", timeout_s: float | None = None
              ) -> Generator[job_pb2.JobEvent, None, None]:
        """Job events from `after_seq` on, live, until the iterator is closed or `timeout_s`
        passes (then it simply ends)."""
        stream = self.jobs.WatchJobs(job_svc.WatchJobsRequest(after_seq=after_seq, job_id=job_id),
                                     timeout=timeout_s)
        try:
            for response in stream:
                yield response.event
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        finally:
            stream.cancel()

    def cancel(self, job_id: str, reason: str = "") -> job_pb2.Job:
        response: job_svc.CancelJobResponse = self.jobs.CancelJob(
            job_svc.CancelJobRequest(job_id=job_id, reason=reason), timeout=self.timeout_s)
        return response.job

    def list_cells(self) -> list[cell_pb.Cell]:
        response: cell_pb.ListCellsResponse = self.cells.ListCells(
            cell_pb.ListCellsRequest(), timeout=self.timeout_s)
        return list(response.cells)

    def get_cell(self, cell_id: str) -> cell_pb.Cell:
        response: cell_pb.GetCellResponse = self.cells.GetCell(
            cell_pb.GetCellRequest(cell_id=cell_id), timeout=self.timeout_s)
        return response.cell

    def command(self, cell_id: str, command: int, all_cells: bool = False
                ) -> list[cell_pb.CommandResult]:
        response: cell_pb.CommandCellResponse = self.cells.CommandCell(cell_pb.CommandCellRequest(
            cell_id=cell_id, command=command, all_cells=all_cells),  # type: ignore[arg-type]
            timeout=self.timeout_s)
        return list(response.results)
