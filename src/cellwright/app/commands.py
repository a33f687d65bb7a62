"""`cellwright job ...`, `cellwright cell list|get|command` and `cellwright reservations
list|release`: the API from a terminal."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import yaml
from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from cellwright.api.client import FINAL_JOB_STATES, Client
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc

ADDRESS_HELP = "orchestrator host:port (default %(default)s)"
PARAM_HELP = ("job parameter (repeatable). VALUE is a number if it reads as one (3, -3, 0.5, 1e2, 1E-3), "
              "a boolean if it is true or false, a list or map in YAML flow style ([a, 2], {x: 1}; the same "
              "rules inside), and text otherwise; quote it to force text: -p 'code=\"007\"'")


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
                        type=key_value(param_value), help=PARAM_HELP)
    submit.add_argument("--request-id", type=_given("a unique key per job, e.g. a UUID, or leave "
                                                    "--request-id out to get a new UUID"),
                        help="idempotency key (default: a new UUID)")
    submit.add_argument("--priority", type=int, default=0, help="0..1000, higher runs first (default 0)")
    submit.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", type=key_value(str),
                        help="a label to find the job by later; VALUE is always text (repeatable)")
    submit.add_argument("--cell", action="append", default=[], metavar="ID",
                        help="pin the job: every task runs on one of these cells (repeatable)")
    submit.add_argument("--tag", action="append", default=[], metavar="TAG",
                        help="pin the job: every task runs on a cell with all these tags (repeatable)")
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
    reason = _given("what the operator checked or did, e.g. --reason 'part found in outfeed_b'")
    retry = action(actions, "retry", "HELD job: run its UNKNOWN task again, on any capable cell")
    retry.add_argument("job_id")
    retry.add_argument("step", help="the UNKNOWN task: its step id (e.g. transfer) or task id")
    retry.add_argument("--reason", required=True, type=reason, help="why (kept on the task); required")
    retry.set_defaults(func=job_retry)
    resume = action(actions, "resume", "HELD job: confirm its UNKNOWN tasks were done, so it goes on")
    resume.add_argument("job_id")
    resume.add_argument("--reason", required=True, type=reason, help="why (kept on the tasks); required")
    resume.set_defaults(func=job_resume)
    act = action(actions, "act", "an operator acts on one task: hold, resume, skip, cancel, retry, "
                 "confirm or reject")
    act.add_argument("job_id")
    act.add_argument("task", help="the task: its step id (kit, or kit[2] for a repetition) or task id")
    act.add_argument("task_action", metavar="ACTION", choices=TASK_ACTIONS,
                     help=f"one of {', '.join(TASK_ACTIONS)}")
    _act_options(act, reason)
    for name, text in SHORT_ACTIONS.items():
        short = action(actions, name, f"{text} (job act JOB TASK {name})")
        short.add_argument("job_id")
        short.add_argument("task", help="the task: its step id (or step[i]) or task id")
        short.set_defaults(task_action=name)
        _act_options(short, reason)

    reservations = sub.add_parser("reservations", help="stations and zones held by tasks")
    held = reservations.add_subparsers(dest="action", required=True)
    action(held, "list", "stations and zones held now (HELD or SUSPECT)").set_defaults(
        func=reservations_list)
    release = action(held, "release", "free a station or zone after checking it (a SUSPECT one above all)")
    release.add_argument("resource", help="the station or zone name")
    release.add_argument("--reason", required=True, type=_given("what you checked, e.g. --reason "
                                                                "'handover empty'"),
                         help="what you checked (kept in the log); required")
    release.set_defaults(func=reservations_release)

    action(cell_actions, "list", "list cells").set_defaults(func=cell_list)
    get_cell = action(cell_actions, "get", "print a cell as JSON")
    get_cell.add_argument("cell_id")
    get_cell.set_defaults(func=cell_get)
    command = action(cell_actions, "command", "send a PackML command or estop")
    command.add_argument("cell_id", help="cell id, or 'all' (e.g. for estop)")
    command.add_argument("command", choices=[n.removeprefix("PACKML_COMMAND_").lower()
                                             for n in packml_pb2.PackmlCommand.keys()[1:]])
    command.set_defaults(func=cell_command)


TASK_ACTIONS = [n.removeprefix("TASK_ACTION_").lower() for n in job_svc.TaskAction.keys()[1:]]
SHORT_ACTIONS = {"confirm": "an operator step: confirm it was done",
                 "reject": "an operator step: refuse it (the step fails)",
                 "hold": "do not dispatch a READY or PENDING task until resumed",
                 "skip": "count a task as done without running it"}


def _act_options(parser: argparse.ArgumentParser, reason: Callable[[str], str]) -> None:
    parser.add_argument("--reason", required=True, type=reason,
                        help="what you checked or decided (kept on the task); required")
    parser.add_argument("--operator", default=_login(), metavar="NAME",
                        help="who acts (default: your login name, %(default)s)")
    parser.set_defaults(func=job_act)


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return ""


_NUMBER = r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
_BOOLEAN = r"true|True|TRUE|false|False|FALSE"


def _scalar(text: str) -> Any:
    """A plain -p value: an int, a float, a bool, or the text itself (see PARAM_HELP)."""
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    if re.fullmatch(_NUMBER, text):
        return float(text)
    if re.fullmatch(_BOOLEAN, text):
        return text.lower() == "true"
    return text


class _FlowLoader(yaml.SafeLoader):
    """YAML for -p lists and maps, its plain scalars read by `_scalar` (no YAML 1.1 rules)."""


_FlowLoader.yaml_implicit_resolvers = {}
_FlowLoader.add_implicit_resolver("!cellwright-scalar", re.compile(f"^(?:{_NUMBER}|{_BOOLEAN})$"),
                                  list("-+.0123456789tTfF"))
_FlowLoader.add_constructor("!cellwright-scalar", lambda loader, node: _scalar(node.value))


def param_value(text: str) -> Any:
    """A -p VALUE: YAML flow syntax if it opens with [ { " or ', else `_scalar`."""
    if text[:1] not in ("[", "{", '"', "'"):
        return _scalar(text)
    try:
        value = yaml.load(text, Loader=_FlowLoader)  # a SafeLoader: plain data only
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or exc
        raise argparse.ArgumentTypeError(f"{text!r} is not a YAML flow value: {problem}") from exc
    try:
        struct_pb2.Struct().update({"value": value})
    except (TypeError, ValueError, AttributeError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON data: map keys must be text, "
                                         "and YAML tags (!!) are not accepted") from exc
    return value


def key_value(parse: Callable[[str], Any]) -> Callable[[str], tuple[str, Any]]:
    """An argparse type for KEY=VALUE, VALUE read by `parse`."""
    def pair(item: str) -> tuple[str, Any]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"{item!r} must be KEY=VALUE")
        return key, parse(value)
    return pair


def _given(what: str) -> Callable[[str], str]:
    """An argparse type refusing an empty (or blank) text, telling what to give instead."""
    def given(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"must not be empty: give {what}")
        return text
    return given


def _name(enum: EnumDescriptor, number: int) -> str:
    """An enum value's name without its type's prefix: SUCCEEDED, EXECUTE (the CLI's one form)."""
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    return value.name.removeprefix(enum.values_by_number[0].name.removesuffix("UNSPECIFIED"))


def _state(job: job_pb2.Job) -> str:
    return _name(job_pb2.JobState.DESCRIPTOR, job.state)


def _tidy(field: FieldDescriptor, value: Any) -> Any:
    """MessageToDict's `value` of `field`, with enum numbers turned into `_name`s."""
    kind = field.message_type
    if kind is not None and kind.GetOptions().map_entry:
        return {k: _tidy(kind.fields_by_name["value"], v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(field, v) for v in value]
    if field.enum_type is not None:
        return _name(field.enum_type, value)
    if kind is not None and not kind.full_name.startswith("google.protobuf."):
        return _tidy_message(kind, value)
    return value


def _tidy_message(kind: Descriptor | Any, data: dict[str, Any]) -> dict[str, Any]:  # Any: upb's Descriptor
    return {k: _tidy(kind.fields_by_name[k], v) for k, v in data.items()}


def to_json(message: Message) -> str:
    """A message as the CLI prints it: every field under its .proto name, enum values as
    `_name`s, 64-bit integers as numbers, times as RFC 3339 text."""
    data = json_format.MessageToDict(message, always_print_fields_with_no_presence=True,
                                     preserving_proto_field_name=True, use_integers_for_enums=True,
                                     unquote_int64_if_possible=True)
    return json.dumps(_tidy_message(message.DESCRIPTOR, data), indent=2)


def _client(args: argparse.Namespace) -> Client:
    return Client(args.orchestrator)


def describe_event(event: job_pb2.JobEvent) -> str:
    """One line for a job event: seq, job, state, and the task that changed."""
    job = event.job
    line = f"#{event.seq:<5} {job.id} {job.workflow:<11} {_state(job):<9}"
    task = next((t for t in job.tasks if t.id == event.task_id), None)
    if task is not None:  # by its id in the job: a repetition shows as pick[2]
        line += f"  {task.id.partition('/')[2]}: {_name(job_pb2.TaskState.DESCRIPTOR, task.state)}"
        if task.cell_id and task.state not in (job_pb2.TASK_STATE_READY, job_pb2.TASK_STATE_PENDING):
            line += f" on {task.cell_id} (epoch {task.epoch})"
        if task.HasField("error") and task.error.reason:
            line += f" [{task.error.reason}: {task.error.message}]"
    for waiting in job.tasks:
        if waiting.state == job_pb2.TASK_STATE_AWAITING_OPERATOR:
            line += f"  | {waiting.id.partition('/')[2]} waits for a person: {waiting.prompt}"
    return line


def _watch(client: Client, args: argparse.Namespace, **options: Any) -> Any:
    """Client.watch, resuming after a lost connection with one note on stderr."""
    def note(error: grpc.RpcError) -> None:
        print(f"note: lost the orchestrator at {args.orchestrator} ({error.code().name}); "
              "reconnecting, then resuming after the last event shown", file=sys.stderr, flush=True)
    return client.watch(resume=True, on_lost=note, **options)


def _submit(client: Client, args: argparse.Namespace) -> job_pb2.Job:
    """SubmitJob with the job's pin (`--cell`, `--tag`), if any."""
    if not (args.cell or args.tag):
        return client.submit(args.workflow, dict(args.param), request_id=args.request_id,
                             priority=args.priority, labels=dict(args.label))
    params = struct_pb2.Struct()
    params.update(dict(args.param))
    response: job_svc.SubmitJobResponse = client.jobs.SubmitJob(job_svc.SubmitJobRequest(
        request_id=args.request_id or str(uuid.uuid4()), workflow=args.workflow, params=params,
        priority=args.priority, labels=dict(args.label),
        placement=job_pb2.Placement(cells=args.cell, tags=args.tag)), timeout=client.timeout_s)
    return response.job


def job_submit(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = _submit(client, args)
        print(f"{job.id} {_state(job)}", flush=True)
        if not args.wait:
            return 0
        for event in _watch(client, args, job_id=job.id, timeout_s=args.timeout):
            print(describe_event(event), flush=True)
            if event.job.state in FINAL_JOB_STATES:
                return 0 if event.job.state == job_pb2.JOB_STATE_SUCCEEDED else 1
    print(f"error: {job.id} still not ended after --timeout {args.timeout:g} s", file=sys.stderr)
    return 1


def job_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = json.loads(to_json(client.get(args.job_id)))
    job.setdefault("outputs", {})  # none until the job succeeds
    for task in job["tasks"]:  # a step not repeated by for_each has no item: say so
        task.setdefault("item", None)
    print(json.dumps(job, indent=2))
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
        for event in _watch(client, args, after_seq=args.after, job_id=args.job):
            print(describe_event(event), flush=True)
    return 0


def job_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.cancel(args.job_id, args.reason)
        pending = " (cancel requested; a task is still stopping)" if job.state not in FINAL_JOB_STATES else ""
        print(f"{job.id} {_state(job)}{pending}")
    return 0


def job_retry(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.retry_task(args.job_id, args.step, args.reason)
    task = next(t for t in job.tasks if args.step in (t.id, t.step_id, t.id.partition("/")[2]))
    print(f"{job.id} {_state(job)}; {task.id.partition('/')[2]}: {_name(job_pb2.TaskState.DESCRIPTOR, task.state)} "
          f"(epoch {task.epoch})")
    return 0


def job_resume(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.resume_job(args.job_id, args.reason)
    print(f"{job.id} {_state(job)}")
    return 0


def job_act(args: argparse.Namespace) -> int:
    value = job_svc.TaskAction.Value(f"TASK_ACTION_{args.task_action.upper()}")
    with _client(args) as client:
        response: job_svc.ActOnTaskResponse = client.jobs.ActOnTask(job_svc.ActOnTaskRequest(
            job_id=args.job_id, task_id=args.task, action=value,
            reason=args.reason, operator=args.operator), timeout=client.timeout_s)
    job = response.job
    task = next((t for t in job.tasks if args.task in (t.id, t.step_id, t.id.partition("/")[2])), None)
    line = f"{job.id} {_state(job)}"
    if task is not None:
        line += f"; {task.id.partition('/')[2] or task.step_id}: {_name(job_pb2.TaskState.DESCRIPTOR, task.state)}"
    print(line + (f" ({job.waiting_reason})" if job.waiting_reason else ""))
    return 0


def _since(reservation: job_pb2.Reservation) -> str:
    return reservation.since_time.ToDatetime().isoformat(timespec="seconds")


def reservations_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        response: job_svc.ListReservationsResponse = client.jobs.ListReservations(
            job_svc.ListReservationsRequest(), timeout=client.timeout_s)
    print(f"{'resource':<14} {'state':<8} {'job':<21} {'task':<16} {'cell':<12} {'since':<20} note")
    for r in response.reservations:
        state = _name(job_pb2.ReservationState.DESCRIPTOR, r.state)
        task = r.task_id.partition("/")[2] or r.task_id
        print(f"{r.resource:<14} {state:<8} {r.job_id:<21} {task:<16} {r.cell_id:<12} {_since(r):<20} {r.note}")
    return 0


def reservations_release(args: argparse.Namespace) -> int:
    with _client(args) as client:
        response: job_svc.ReleaseReservationResponse = client.jobs.ReleaseReservation(
            job_svc.ReleaseReservationRequest(resource=args.resource, reason=args.reason),
            timeout=client.timeout_s)
    r = response.reservation
    print(f"released {r.resource} (was {_name(job_pb2.ReservationState.DESCRIPTOR, r.state)}, "
          f"held by {r.task_id} on {r.cell_id})")
    return 0


def cell_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(f"{'cell':<12} {'state':<28} {'busy':<5} {'skills':<40} state stream")
        for cell in client.list_cells():
            state = _name(packml_pb2.PackmlState.DESCRIPTOR, cell.packml_state)
            if not cell.connected:  # what it said last, not what it is now
                state = f"disconnected (last {state})"
            busy = str(cell.busy) if cell.connected else "-"
            skills = ",".join(s.name for s in cell.skills)
            print(f"{cell.id:<12} {state:<28} {busy:<5} {skills:<40} {cell.state_endpoint}")
    return 0


def cell_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(to_json(client.get_cell(args.cell_id)))
    return 0


def cell_command(args: argparse.Namespace) -> int:
    value = packml_pb2.PackmlCommand.Value(f"PACKML_COMMAND_{args.command.upper()}")
    everyone = args.cell_id == "all"
    with _client(args) as client:
        results = client.command("" if everyone else args.cell_id, value, all_cells=everyone)
    for result in results:
        state = _name(packml_pb2.PackmlState.DESCRIPTOR, result.packml_state)
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
