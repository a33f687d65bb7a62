"""`cellwright job ...` and `cellwright cell list|get|command`: the API from a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import grpc
import yaml
from google.protobuf import json_format

from cellwright.api.client import FINAL_JOB_STATES, Client
from cellwright.v1 import job_pb2, packml_pb2

ADDRESS_HELP = "orchestrator host:port (default %(default)s)"


def add_parsers(sub: argparse._SubParsersAction, cell_actions: argparse._SubParsersAction  # type: ignore[type-arg]
                ) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--orchestrator", default="127.0.0.1:50051", help=ADDRESS_HELP)
    job = sub.add_parser("job", help="submit, inspect, watch and cancel jobs")
    actions = job.add_subparsers(dest="action", required=True)

    def action(group: argparse._SubParsersAction, name: str, text: str  # type: ignore[type-arg]
               ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, help=text, parents=[common])
        return parser

    submit = action(actions, "submit", "submit a job")
    submit.add_argument("workflow", help="workflow name, optionally name@version")
    submit.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="job parameter; VALUE is read as YAML (3, true, red_cube) (repeatable)")
    submit.add_argument("--request-id", help="idempotency key (default: a new UUID)")
    submit.add_argument("--priority", type=int, default=0, help="0..1000, higher runs first (default 0)")
    submit.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                        help="a label to find the job by later (repeatable)")
    submit.add_argument("--wait", action="store_true", help="watch the job until it ends")
    submit.add_argument("--timeout", type=float, metavar="S",
                        help="with --wait: give up waiting after this many seconds (exit 1)")
    submit.set_defaults(func=job_submit)
    get = action(actions, "get", "print a job as JSON")
    get.add_argument("job_id")
    get.set_defaults(func=job_get)
    listing = action(actions, "list", "list jobs")
    listing.add_argument("--state", action="append", default=[], help="only jobs in this state (repeatable)",
                         choices=[n.removeprefix("JOB_STATE_") for n in job_pb2.JobState.keys()[1:]])
    listing.add_argument("--workflow", default="")
    listing.set_defaults(func=job_list)
    watch = action(actions, "watch", "print job events live")
    watch.add_argument("job", nargs="?", default="", help="only this job (default: every job)")
    watch.add_argument("--after", type=int, default=0, help="resume after this event seq")
    watch.set_defaults(func=job_watch)
    cancel = action(actions, "cancel", "cancel a job")
    cancel.add_argument("job_id")
    cancel.add_argument("--reason", default="", help="told to the cell and kept in the logs")
    cancel.set_defaults(func=job_cancel)

    action(cell_actions, "list", "list cells").set_defaults(func=cell_list)
    get_cell = action(cell_actions, "get", "print a cell as JSON")
    get_cell.add_argument("cell_id")
    get_cell.set_defaults(func=cell_get)
    command = action(cell_actions, "command", "send a PackML command or estop")
    command.add_argument("cell_id", help="cell id, or 'all' (e.g. for estop)")
    command.add_argument("command", choices=[n.removeprefix("PACKML_COMMAND_").lower()
                                             for n in packml_pb2.PackmlCommand.keys()[1:]])
    command.set_defaults(func=cell_command)


def _pairs(items: list[str], what: str, parse: Any) -> dict[str, Any]:
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: {what} {item!r} must be KEY=VALUE")
        result[key] = parse(value)
    return result


def _state(job: job_pb2.Job) -> str:
    return job_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")


def _json(message: Any) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True)


def _client(args: argparse.Namespace) -> Client:
    return Client(args.orchestrator)


def describe_event(event: job_pb2.JobEvent) -> str:
    """One line for a job event: seq, job, state, and the task that changed."""
    job = event.job
    line = f"#{event.seq:<5} {job.id} {job.workflow:<11} {_state(job):<9}"
    task = next((t for t in job.tasks if t.id == event.task_id), None)
    if task is not None:
        state = job_pb2.TaskState.Name(task.state).removeprefix("TASK_STATE_")
        line += f"  {task.step_id}: {state}"
        if task.cell_id:
            line += f" on {task.cell_id} (epoch {task.epoch})"
        if task.HasField("error") and task.error.reason:
            line += f" [{task.error.reason}: {task.error.message}]"
    return line


def job_submit(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.submit(args.workflow, _pairs(args.param, "param", yaml.safe_load),
                            request_id=args.request_id, priority=args.priority,
                            labels=_pairs(args.label, "label", str))
        print(f"{job.id} {_state(job)}")
        if not args.wait:
            return 0
        for event in client.watch(job_id=job.id, timeout_s=args.timeout):
            print(describe_event(event))
            if event.job.state in FINAL_JOB_STATES:
                return 0 if event.job.state == job_pb2.JOB_STATE_SUCCEEDED else 1
    print(f"error: {job.id} still not ended after --timeout {args.timeout:g} s", file=sys.stderr)
    return 1


def job_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(_json(client.get(args.job_id)))
    return 0


def job_list(args: argparse.Namespace) -> int:
    states = [job_pb2.JobState.Value(f"JOB_STATE_{s}") for s in args.state]
    with _client(args) as client:
        print(f"{'job':<21} {'workflow':<12} {'state':<10} {'cycle s':>8}  created")
        for job in client.list_jobs(states=states, workflow=args.workflow):
            created = job.create_time.ToDatetime().isoformat(timespec="seconds")
            print(f"{job.id:<21} {job.workflow:<12} {_state(job):<10} {job.cycle_time_s:>8.2f}  {created}")
    return 0


def job_watch(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for event in client.watch(after_seq=args.after, job_id=args.job):
            print(describe_event(event), flush=True)
    return 0


def job_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.cancel(args.job_id, args.reason)
        pending = " (cancel requested; a task is still stopping)" if job.state not in FINAL_JOB_STATES else ""
        print(f"{job.id} {_state(job)}{pending}")
    return 0


def cell_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(f"{'cell':<12} {'connected':<9} {'packml':<12} {'busy':<5} {'skills':<40} state stream")
        for cell in client.list_cells():
            state = packml_pb2.PackmlState.Name(cell.packml_state).removeprefix("PACKML_STATE_")
            skills = ",".join(s.name for s in cell.skills)
            print(f"{cell.id:<12} {cell.connected!s:<9} {state:<12} {cell.busy!s:<5} "
                  f"{skills:<40} {cell.state_endpoint}")
    return 0


def cell_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(_json(client.get_cell(args.cell_id)))
    return 0


def cell_command(args: argparse.Namespace) -> int:
    value = packml_pb2.PackmlCommand.Value(f"PACKML_COMMAND_{args.command.upper()}")
    everyone = args.cell_id == "all"
    with _client(args) as client:
        results = client.command("" if everyone else args.cell_id, value, all_cells=everyone)
    for result in results:
        state = packml_pb2.PackmlState.Name(result.packml_state).removeprefix("PACKML_STATE_")
        print(f"{result.cell_id}: {'ok' if result.ok else 'not done'}, now {state}"
              + (f" ({result.error})" if result.error else ""))
    return 0 if all(r.ok for r in results) else 1


def run(func: Any, args: argparse.Namespace) -> int:
    """Run a client command, turning gRPC errors into one clear line and exit code 1."""
    try:
        return int(func(args))
    except grpc.RpcError as exc:
        print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `cellwright job watch | head`: the reader is gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


__all__ = ["add_parsers", "describe_event", "run"]
