"""`cellwright workflow put|get|list|validate|graph`: store workflows in an orchestrator,
read them back, check workflow files (offline or against an orchestrator's plant) and draw
their steps.

`validate FILE...` prints every problem of every file (file:line:column: severity: message,
then a hint), then a summary; exit 1 if any file has an error. With `--orchestrator ADDR`
the orchestrator checks them (ValidateWorkflow: the skills its cells advertised, its
layout); offline, skills are checked against
the skills installed here (built in and plugins) unless `--skills FILE` gives them::

    # skills.yaml: skill name -> its params schema (cellwright.api.schema) and, optionally,
    # its result schema (what `${steps.<id>.result...}` may use; absent: anything)
    pick_place:
      params_schema:
        type: object
        properties: {part: {type: string}, place_at: {type: string}}
        required: [part, place_at]
      result_schema: {type: object, properties: {part_id: {type: string}}}

`--layout FILE` (a layout file, cellwright.api.layout) checks the stations and zones that
steps reserve.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

import grpc
from google.protobuf import json_format

from cellwright.api.client import Client
from cellwright.api.layout import LayoutError, load_layout
from cellwright.api.schema import SchemaError, check_schema
from cellwright.api.yamlfile import load_yaml
from cellwright.orchestrator.catalog import MAX_SOURCE_BYTES
from cellwright.orchestrator.workflow import Catalog, Diagnostic, SkillSpec, Workflow, check
from cellwright.v1 import workflow_service_pb2 as wf_pb
from cellwright.v1 import workflow_service_pb2_grpc as wf_grpc

ADDRESS_HELP = "orchestrator host:port (default %(default)s)"
DEFAULT_ADDRESS = "127.0.0.1:50051"


class UsageError(Exception):
    """A --skills or --layout file cannot be used; the message says why."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("workflow", help="store, read, check and draw workflows")
    actions = parser.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--orchestrator", default=DEFAULT_ADDRESS, help=ADDRESS_HELP)

    put = actions.add_parser(
        "put", parents=[common], help="store workflow files as new versions in the orchestrator",
        description="Store each FILE as the next version of its workflow (the orchestrator checks "
                    "it against its plant first). Prints name@version, created or unchanged, then "
                    "warnings; a refused file prints every error and the exit code is 1.")
    put.add_argument("files", nargs="+", metavar="FILE", help="workflow YAML files")
    put.set_defaults(func=run_put)
    get = actions.add_parser("get", parents=[common], help="print a stored workflow's YAML",
                             description="Print the YAML of a stored workflow as it was put "
                                         "(--format json: its metadata, without the source).")
    get.add_argument("ref", metavar="NAME[@VERSION]", help="workflow name; the newest version "
                                                            "unless @VERSION is given")
    get.add_argument("--format", choices=["yaml", "json"], default="yaml",
                     help="yaml (default: the source) or json (name, version, digest, origin, ...)")
    get.set_defaults(func=run_get)
    listing = actions.add_parser("list", parents=[common], help="list stored workflows",
                                 description="The newest version of every workflow, or every "
                                             "version of NAME.")
    listing.add_argument("name", nargs="?", default="", metavar="NAME")
    listing.set_defaults(func=run_list)

    check_cmd = actions.add_parser(
        "validate", help="print every problem of workflow files (exit 1 if any has an error)",
        description="Check workflow files: YAML, structure, references, expressions, skills and "
                    "their params, reservations. Every problem names file:line:column. Offline "
                    "by default; with --orchestrator, against that orchestrator's plant.")
    check_cmd.add_argument("files", nargs="+", metavar="FILE", help="workflow YAML files")
    check_cmd.add_argument("--orchestrator", metavar="HOST:PORT",
                           help="check against this orchestrator's plant (the skills its cells "
                                "advertised, its layout); --skills and --layout do not apply")
    check_cmd.add_argument("--skills", metavar="FILE",
                           help="YAML/JSON mapping skill name -> {params_schema, result_schema} "
                                "(default: the skills installed here)")
    check_cmd.add_argument("--layout", metavar="FILE", help="a layout file: check reserved stations and zones")
    check_cmd.add_argument("--format", choices=["text", "json"], default="text",
                           help="text (default) or json (a list of diagnostics)")
    check_cmd.set_defaults(func=run_validate)
    graph = actions.add_parser(
        "graph", help="draw a workflow's steps and needs (SVG or PNG)",
        description="Draw a workflow file, or with --orchestrator a stored workflow NAME[@VERSION].")
    graph.add_argument("file", metavar="FILE|NAME[@VERSION]",
                       help="a workflow YAML file; with --orchestrator, a stored workflow")
    graph.add_argument("--orchestrator", metavar="HOST:PORT",
                       help="draw the stored workflow FILE names, fetched from this orchestrator")
    graph.add_argument("-o", "--output", metavar="OUT.svg|OUT.png",
                       help="write here; the format follows the suffix (default: SVG on stdout)")
    graph.set_defaults(func=run_graph)


def installed_skills() -> dict[str, SkillSpec]:
    """The skills of this installation (built in and plugins) as the validator sees them."""
    from cellwright.cells.skills import SKILLS  # the app layer may know the cell side

    skills = {}
    for name in SKILLS.ids():
        skill = SKILLS.get(name)
        skills[name] = SkillSpec(name, skill.params_schema, getattr(skill, "result_schema", None))
    return skills


def skills_file(path: str) -> dict[str, SkillSpec]:
    """Skills from a --skills file (see the module doc).

    Raises:
        UsageError: unreadable, not YAML/JSON, or not in that form.
    """
    try:
        data = load_yaml(Path(path).read_text(), path)  # JSON is YAML
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not isinstance(data, Mapping):
        raise UsageError(f"{path}: expected a mapping of skill name -> {{params_schema: ..., result_schema: ...}}")
    skills = {}
    for name, entry in data.items():
        where = f"{path}: {name}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("params_schema"), Mapping):
            raise UsageError(f"{where}: expected {{params_schema: {{type: object, properties: ...}}}}")
        if extra := set(entry) - {"params_schema", "result_schema"}:
            raise UsageError(f"{where}: unknown key {sorted(extra)[0]!r}; allowed: params_schema, result_schema")
        try:
            check_schema(entry["params_schema"], "params_schema")
        except SchemaError as exc:
            raise UsageError(f"{where}: {exc}") from exc
        result = entry.get("result_schema")
        if result is not None and not isinstance(result, Mapping):
            raise UsageError(f"{where}: result_schema: expected a mapping (a JSON schema)")
        skills[str(name)] = SkillSpec(str(name), entry["params_schema"], result)
    return skills


def check_file(path: str, catalog: Catalog) -> list[Diagnostic]:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return [Diagnostic(path, 1, 1, "", f"cannot read the file: {reason}", code="io")]
    return check(text, path, catalog)[1]


def summary(found: list[Diagnostic], files: int) -> str:
    errors = sum(d.severity == "error" for d in found)
    warnings = len(found) - errors

    def n(count: int, word: str) -> str:
        return f"{count} {word}" if count == 1 else f"{count} {word}s"

    return f"{n(errors, 'error')}, {n(warnings, 'warning')} in {n(files, 'file')}"


def _report(found: list[Diagnostic], files: int, fmt: str) -> int:
    if fmt == "json":
        print(json.dumps([d.to_dict() for d in found], indent=2))
    else:
        for diagnostic in found:
            print(diagnostic)
        print(summary(found, files))
    return 1 if any(d.severity == "error" for d in found) else 0


def run_validate(args: argparse.Namespace) -> int:
    if args.orchestrator:
        if args.skills or args.layout:
            print("error: --skills and --layout check offline; with --orchestrator the plant's "
                  "skills and layout are used: leave them out", file=sys.stderr)
            return 2
        return _report(validate_remote(args.orchestrator, args.files), len(args.files), args.format)
    try:
        skills = skills_file(args.skills) if args.skills else installed_skills()
        layout = load_layout(args.layout) if args.layout else None
    except (UsageError, LayoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    catalog = Catalog(skills=skills, layout=layout)
    found = [d for path in args.files for d in check_file(path, catalog)]
    return _report(found, len(args.files), args.format)


def diagnostic_from_proto(d: wf_pb.Diagnostic) -> Diagnostic:
    """A Diagnostic of the API as the offline checker makes them (printed the same way)."""
    return Diagnostic(d.file, d.line, d.column, d.path, d.message, d.hint,
                      "error" if d.severity == wf_pb.SEVERITY_ERROR else "warning", d.code)


def _read(path: str) -> tuple[str | None, Diagnostic | None]:
    """The file's text, or why it cannot be a workflow (unreadable, or over the size the
    orchestrator takes)."""
    try:
        if Path(path).stat().st_size > MAX_SOURCE_BYTES:
            return None, Diagnostic(path, 1, 1, "", f"the file is over {MAX_SOURCE_BYTES // 1024} KiB, "
                                    "the most an orchestrator takes", "split the workflow", code="io")
        return Path(path).read_text(), None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return None, Diagnostic(path, 1, 1, "", f"cannot read the file: {reason}", code="io")


def _stub(client: Client) -> wf_grpc.WorkflowServiceStub:
    return wf_grpc.WorkflowServiceStub(client.channel)


def validate_remote(address: str, paths: list[str]) -> list[Diagnostic]:
    """Every problem of the files, as the orchestrator at `address` sees them."""
    found: list[Diagnostic] = []
    with Client(address) as client:
        for path in paths:
            text, unreadable = _read(path)
            if text is None:
                found += [unreadable] if unreadable else []
                continue
            response: wf_pb.ValidateWorkflowResponse = _stub(client).ValidateWorkflow(
                wf_pb.ValidateWorkflowRequest(source=text, origin=path), timeout=client.timeout_s)
            found += [diagnostic_from_proto(d) for d in response.diagnostics]
    return found


def run_put(args: argparse.Namespace) -> int:
    code = 0
    with Client(args.orchestrator) as client:
        for path in args.files:
            text, unreadable = _read(path)
            if text is None:
                print(f"error: {path}: {unreadable.message if unreadable else 'unreadable'}",
                      file=sys.stderr)
                code = 1
                continue
            try:
                response: wf_pb.PutWorkflowResponse = _stub(client).PutWorkflow(
                    wf_pb.PutWorkflowRequest(source=text, origin=path), timeout=client.timeout_s)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    raise
                checked: wf_pb.ValidateWorkflowResponse = _stub(client).ValidateWorkflow(
                    wf_pb.ValidateWorkflowRequest(source=text, origin=path), timeout=client.timeout_s)
                print(f"error: {path} was not stored:", file=sys.stderr)  # every problem, hints too
                for diagnostic in checked.diagnostics or []:
                    print(diagnostic_from_proto(diagnostic), file=sys.stderr)
                if not checked.diagnostics:
                    print(exc.details(), file=sys.stderr)
                code = 1
                continue
            workflow = response.workflow
            print(f"{workflow.name}@{workflow.version} {'created' if response.created else 'unchanged'}")
            for warning in response.warnings:
                print(diagnostic_from_proto(warning))
    return code


def parse_ref(ref: str) -> tuple[str, int]:
    """NAME or NAME@VERSION -> (name, version; 0 for the newest)."""
    name, at, version = ref.partition("@")
    if at and not (version.isdigit() and int(version) >= 1):
        raise UsageError(f"{ref!r}: give NAME or NAME@VERSION with VERSION a number from 1, e.g. "
                         f"{name}@2")
    return name, int(version) if at else 0


def fetch(client: Client, name: str, version: int) -> wf_pb.Workflow:
    response: wf_pb.GetWorkflowResponse = _stub(client).GetWorkflow(
        wf_pb.GetWorkflowRequest(name=name, version=version), timeout=client.timeout_s)
    return response.workflow


def _created(workflow: wf_pb.Workflow) -> str:
    return workflow.create_time.ToDatetime().isoformat(timespec="seconds")


def run_get(args: argparse.Namespace) -> int:
    try:
        name, version = parse_ref(args.ref)  # before connecting: a usage error sends nothing
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with Client(args.orchestrator) as client:
        workflow = fetch(client, name, version)
    if args.format == "json":
        data = json_format.MessageToDict(workflow, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
        data.pop("source", None)
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(workflow.source if workflow.source.endswith("\n") else workflow.source + "\n")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with Client(args.orchestrator) as client:
        response: wf_pb.ListWorkflowsResponse = _stub(client).ListWorkflows(
            wf_pb.ListWorkflowsRequest(name=args.name), timeout=client.timeout_s)
    if args.name and not response.workflows:
        print(f"error: NOT_FOUND: workflow {args.name!r} not found", file=sys.stderr)
        return 1
    name = max([12, *(len(w.name) for w in response.workflows)])
    origin = max([20, *(len(w.origin) for w in response.workflows)])
    print(f"{'name':<{name}} {'version':>7} {'steps':>5}  {'origin':<{origin}}  created")
    for w in response.workflows:
        print(f"{w.name:<{name}} {w.version:>7} {len(w.steps):>5}  {w.origin:<{origin}}  {_created(w)}")
    return 0


def _workflow_of(args: argparse.Namespace) -> tuple[Workflow | None, list[Diagnostic], str]:
    """The workflow to draw (a file, or fetched with --orchestrator), its errors, its origin."""
    if args.orchestrator:
        name, version = parse_ref(args.file)
        with Client(args.orchestrator) as client:
            stored = fetch(client, name, version)
        text, origin = stored.source, f"{stored.name}@{stored.version}"
    else:
        origin = args.file
        try:
            text = Path(origin).read_text()
        except OSError as exc:
            raise UsageError(f"{origin}: {exc.strerror}") from exc
    workflow, found = check(text, origin, Catalog(skills=None))
    return workflow, [d for d in found if d.severity == "error"], origin


def run_graph(args: argparse.Namespace) -> int:
    from cellwright.orchestrator.workflow import graph

    try:
        workflow, errors, _ = _workflow_of(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if workflow is None:
        for diagnostic in errors:
            print(diagnostic, file=sys.stderr)
        return 1
    output = args.output
    fmt = Path(output).suffix.lstrip(".").lower() if output else "svg"
    if fmt not in ("svg", "png"):
        print(f"error: {output}: give a .svg or .png file", file=sys.stderr)
        return 2
    try:
        data = graph.render(workflow, fmt)
    except (ImportError, RuntimeError, ValueError) as exc:  # e.g. PNG without its optional package
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if output:
        Path(output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
