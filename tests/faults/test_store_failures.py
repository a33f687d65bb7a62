"""The job database failing under the orchestrator: a COMMIT that fails, a lock held by
another process, a full disk. Nothing not on disk is acknowledged, errors are UNAVAILABLE
with a plain message, health says NOT_SERVING, and the event loop keeps serving."""

from __future__ import annotations

import asyncio
import resource
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cellwright.api.client import Client
from cellwright.app.launch import start_orchestrator
from cellwright.orchestrator.store import Store
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "jobs.db")
    yield s
    s.close()


def _deferred_fk_violation(store: Store) -> None:
    """A write whose error SQLite reports only at COMMIT (a deferred foreign key)."""
    store._db.execute("INSERT INTO owned (owner) VALUES ('nobody')")


def test_a_failed_commit_is_rolled_back_and_later_writes_are_durable(store: Store) -> None:
    store._db.execute("CREATE TABLE owners (name TEXT PRIMARY KEY)")
    store._db.execute("CREATE TABLE owned (owner TEXT REFERENCES owners(name) "
                      "DEFERRABLE INITIALLY DEFERRED)")
    announced: list[str] = []
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.after_commit(lambda: announced.append("bad"))
        _deferred_fk_violation(store)
    assert not store._db.in_transaction
    assert announced == []
    with store.transaction():  # today's bug: this joined the failed transaction, never committed
        store.after_commit(lambda: announced.append("good"))
        store._db.execute("INSERT INTO owners (name) VALUES ('ann')")
    assert announced == ["good"]
    other = sqlite3.connect(store.path)  # what another process (or a restart) would see
    try:
        assert other.execute("SELECT name FROM owners").fetchall() == [("ann",)]
        assert other.execute("SELECT COUNT(*) FROM owned").fetchone() == (0,)
    finally:
        other.close()


def _submit() -> job_svc.SubmitJobRequest:
    return job_svc.SubmitJobRequest(request_id=str(uuid.uuid4()), workflow="noop")


async def _health(channel: grpc.aio.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return (await stub.Check(health_pb2.HealthCheckRequest(service=""))).status  # type: ignore[no-any-return]


async def test_reads_and_health_go_on_while_a_write_waits_for_a_lock(start_orchestrator) -> None:
    info = await start_orchestrator(busy_timeout_s=60.0)
    async with grpc.aio.insecure_channel(info.address) as channel:
        jobs = job_grpc.JobServiceStub(channel)
        first = (await jobs.SubmitJob(_submit())).job
        locker = sqlite3.connect(info.db_path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another process's write lock
        try:
            waiting = asyncio.ensure_future(jobs.SubmitJob(_submit()))
            read = (await jobs.GetJob(job_svc.GetJobRequest(job_id=first.id), timeout=30)).job
            status = await _health(channel)
            assert not waiting.done()  # the write still waits; the reads were not behind it
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert read.id == first.id and status == SERVING
        assert (await waiting).created


async def test_a_lock_held_past_the_busy_timeout_is_unavailable_then_recovers(start_orchestrator) -> None:
    info = await start_orchestrator(busy_timeout_s=0.2)
    async with grpc.aio.insecure_channel(info.address) as channel:
        jobs = job_grpc.JobServiceStub(channel)
        locker = sqlite3.connect(info.db_path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await jobs.SubmitJob(_submit())
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            details = caught.value.details() or ""
            assert "locked" in details and "Error" not in details  # plain words, no class name
            assert await _health(channel) == NOT_SERVING
        finally:
            locker.execute("ROLLBACK")
            locker.close()

        async def serving_again() -> None:  # the watchdog's probe writes once the lock is gone
            while await _health(channel) != SERVING:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(serving_again(), 30)
        assert (await jobs.SubmitJob(_submit())).created


def _limit_file_size(limit_bytes: int) -> None:
    """In the child: files may not grow past `limit_bytes` (as on a full disk); writes past
    it fail with EFBIG instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def test_a_full_disk_is_unavailable_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    db = tmp_path / "full.db"
    Store(db).close()  # the schema exists; the WAL may grow only a little past it
    limit = db.stat().st_size + 64 * 1024
    process, address = start_orchestrator(db, tmp_path / "full.log",
                                          preexec_fn=lambda: _limit_file_size(limit))
    acknowledged: list[str] = []
    refused: list[grpc.StatusCode] = []
    try:
        with Client(address) as client:
            for _ in range(400):
                try:
                    acknowledged.append(client.submit("noop").id)
                except grpc.RpcError as exc:
                    refused.append(exc.code())
                    if len(refused) >= 5:
                        break
        assert refused, "the disk never filled: raise the number of submits"
        assert set(refused) == {grpc.StatusCode.UNAVAILABLE}
    finally:
        process.kill()
    restarted, address = start_orchestrator(db, tmp_path / "restarted.log")
    try:
        with Client(address) as client:
            for job_id in acknowledged:  # every job acknowledged before (or between) failures
                assert client.get(job_id).id == job_id
    finally:
        restarted.stop()
