"""Cancelling a job reaches the skill running on a simulated arm, the arm stops, and the
next job on that cell moves it again."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import numpy as np
from google.protobuf import struct_pb2

from cellwright.api.statestream import StateSubscriber, robot_topic
from cellwright.cells.config import RobotEntry
from cellwright.v1 import job_pb2, state_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

PANDA = {"panda": RobotEntry("pybullet.panda", "panda")}


async def test_cancel_stops_the_arm_in_a_running_pick_and_the_next_job_moves_it_again(
        channel: grpc.aio.Channel, start_cell, job_in_state) -> None:
    # Real-time pacing gives the cancel a window of seconds while the arm moves.
    cell = await start_cell("arm-1", skills=("pick_place", "move_to"), world="arm_cell", robots=PANDA, clock="realtime")
    jobs = job_grpc.JobServiceStub(channel)

    async def pick_place(part: str, to: str) -> job_pb2.Job:
        params = struct_pb2.Struct()
        params.update({"part": part, "to": to})
        return (await jobs.SubmitJob(job_svc.SubmitJobRequest(
            request_id=str(uuid.uuid4()), workflow="pick-place", params=params))).job

    job = await pick_place("blue_cube", "outfeed_b")

    with StateSubscriber(cell.controller.state_endpoint, robot_topic("arm-1", "")) as stream:
        def speed() -> float:
            message = stream.recv(5000)
            assert message is not None, "no robot state within 5 s"
            assert isinstance(message.payload, state_pb2.RobotState)
            return float(np.max(np.abs(message.payload.velocity_rad_s)))

        await job_in_state(job.id, job_pb2.JOB_STATE_RUNNING)
        moving = await asyncio.to_thread(lambda: max(speed() for _ in range(60)))
        assert moving > 0.05, "the arm should be moving before the cancel"

        await jobs.CancelJob(job_svc.CancelJobRequest(job_id=job.id, reason="test"))
        done = await job_in_state(job.id, job_pb2.JOB_STATE_CANCELLED)

        # Drain what was queued before the stop, then the arm must be still.
        await asyncio.to_thread(lambda: [stream.recv(1000) for _ in range(60)])
        still = await asyncio.to_thread(lambda: max(speed() for _ in range(30)))

    task = done.tasks[0]
    assert task.state == job_pb2.TASK_STATE_CANCELLED
    assert task.error.reason == "stopped"
    assert still < 0.02, f"arm still moving at {still:.3f} rad/s after the cancel"

    # The cancel's stop holds until the cell releases it for the next task.
    after = await job_in_state((await pick_place("red_cube", "outfeed_a")).id,
                               job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED, timeout_s=120)
    assert after.state == job_pb2.JOB_STATE_SUCCEEDED, after.tasks[0].error
