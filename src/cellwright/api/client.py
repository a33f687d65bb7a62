"""A small synchronous client of the orchestrator's public API (used by the CLI and demo)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
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
RECONNECT_BACKOFF_S = (0.1, 2.0)
WATCH_BATCH = 256  # events per WatchJobs response: a long replay is ~10x faster than one each
"""First and longest wait between reconnection attempts of a resuming watch."""


class Client:
    """JobService and CellService stubs on one channel. Use as a context manager."""

    def __init__(self, address: str, timeout_s: float = 10.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        first_ms, longest_ms = (int(s * 1000) for s in RECONNECT_BACKOFF_S)
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.initial_reconnect_backoff_ms", first_ms),
            ("grpc.max_reconnect_backoff_ms", longest_ms)])
        self.jobs = job_grpc.JobServiceStub(self.channel)
        self.cells = cell_grpc.CellServiceStub(self.channel)
        self._reached = threading.Event()  # the channel has been connected at least once
        self._watching_connectivity = False

    def _on_connectivity(self, state: grpc.ChannelConnectivity) -> None:
        if state is grpc.ChannelConnectivity.READY:
            self._reached.set()

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
        """Submit a job; a fresh UUID is the idempotency key when `request_id` is None."""
        struct = struct_pb2.Struct()
        struct.update(params or {})
        response: job_svc.SubmitJobResponse = self.jobs.SubmitJob(job_svc.SubmitJobRequest(
            request_id=str(uuid.uuid4()) if request_id is None else request_id,
            workflow=workflow, params=struct,
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

    def watch(self, after_seq: int = 0, job_id: str = "", timeout_s: float | None = None, *,
              resume: bool = False, on_lost: Callable[[grpc.RpcError], None] | None = None
              ) -> Generator[job_pb2.JobEvent, None, None]:
        """Job events from `after_seq` on, live, until the iterator is closed or `timeout_s`
        passes (then it simply ends).

        With `resume`, a connection lost (UNAVAILABLE) after the channel has been connected
        is not an error: the watch reconnects with a capped backoff (RECONNECT_BACKOFF_S) and
        asks for the events after the last one it yielded, so none is yielded twice or
        missed. `on_lost(error)` is called when the connection is lost, and not again until
        events flow once more. `timeout_s` bounds the whole watch, reconnections included.
        """
        if resume and not self._watching_connectivity:
            # Only here: grpc watches connectivity on a thread of its own that raises if the
            # channel is closed before its first look, as a one-shot command's soon is.
            self._watching_connectivity = True
            self.channel.subscribe(self._on_connectivity)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        first_wait, longest_wait = RECONNECT_BACKOFF_S
        wait, lost = first_wait, False
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            stream = self.jobs.WatchJobs(
                job_svc.WatchJobsRequest(after_seq=after_seq, job_id=job_id, max_batch=WATCH_BATCH),
                timeout=left, wait_for_ready=lost or None)
            try:
                for response in stream:
                    self._reached.set()  # data came: connected, whatever the callback says yet
                    wait, lost = first_wait, False
                    for event in response.events or [response.event]:  # event: an older server
                        after_seq = event.seq
                        yield event
                return
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return
                if not (resume and exc.code() == grpc.StatusCode.UNAVAILABLE and self._reached.is_set()):
                    raise
                if not lost and on_lost is not None:
                    on_lost(exc)
                lost = True
            finally:
                stream.cancel()
            time.sleep(wait if left is None else min(wait, left))
            wait = min(2 * wait, longest_wait)

    def cancel(self, job_id: str, reason: str = "") -> job_pb2.Job:
        response: job_svc.CancelJobResponse = self.jobs.CancelJob(
            job_svc.CancelJobRequest(job_id=job_id, reason=reason), timeout=self.timeout_s)
        return response.job

    def retry_task(self, job_id: str, task_id: str, reason: str) -> job_pb2.Job:
        """Run an UNKNOWN task of a HELD job again; `task_id` is its id or its step id."""
        response: job_svc.RetryTaskResponse = self.jobs.RetryTask(
            job_svc.RetryTaskRequest(job_id=job_id, task_id=task_id, reason=reason),
            timeout=self.timeout_s)
        return response.job

    def resume_job(self, job_id: str, reason: str) -> job_pb2.Job:
        """Confirm that every UNKNOWN task of a HELD job was done, so the job goes on."""
        response: job_svc.ResumeJobResponse = self.jobs.ResumeJob(
            job_svc.ResumeJobRequest(job_id=job_id, reason=reason), timeout=self.timeout_s)
        return response.job

    def list_cells(self) -> list[cell_pb.Cell]:
        """Every known cell, in cell id order (read a page at a time)."""
        cells: list[cell_pb.Cell] = []
        token = ""
        while True:
            response: cell_pb.ListCellsResponse = self.cells.ListCells(
                cell_pb.ListCellsRequest(page_size=1000, page_token=token), timeout=self.timeout_s)
            cells += response.cells
            token = response.next_page_token
            if not token:
                return cells

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
