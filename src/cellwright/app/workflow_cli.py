"""`cellwright workflow validate|graph`: check workflow files offline and draw their steps.

`validate FILE...` prints every problem of every file (file:line:column: severity: message,
then a hint), then a summary; exit 1 if any file has an error. Skills are checked against
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

from cellwright.api.layout import LayoutError, load_layout
from cellwright.api.schema import SchemaError, check_schema
from cellwright.api.yamlfile import load_yaml
from cellwright.orchestrator.workflow import Catalog, Diagnostic, SkillSpec, check


class UsageError(Exception):
    """A --skills or --layout file cannot be used; the message says why."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("workflow", help="check workflow files and draw their steps")
    actions = parser.add_subparsers(dest="action", required=True)
    check_cmd = actions.add_parser(
        "validate", help="print every problem of workflow files (exit 1 if any has an error)",
        description="Check workflow files offline: YAML, structure, references, expressions, "
                    "skills and their params, reservations. Every problem names file:line:column.")
    check_cmd.add_argument("files", nargs="+", metavar="FILE", help="workflow YAML files")
    check_cmd.add_argument("--skills", metavar="FILE",
                           help="YAML/JSON mapping skill name -> {params_schema, result_schema} "
                                "(default: the skills installed here)")
    check_cmd.add_argument("--layout", metavar="FILE", help="a layout file: check reserved stations and zones")
    check_cmd.add_argument("--format", choices=["text", "json"], default="text",
                           help="text (default) or json (a list of diagnostics)")
    # --orchestrator ADDRESS goes here once the orchestrator's WorkflowService exists: check
    # against its catalog (the skills of connected cells, its layout) and put/get/list.
    check_cmd.set_defaults(func=run_validate)
    graph = actions.add_parser("graph", help="draw a workflow's steps and needs (SVG or PNG)")
    graph.add_argument("file", metavar="FILE", help="a workflow YAML file")
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


def run_validate(args: argparse.Namespace) -> int:
    try:
        skills = skills_file(args.skills) if args.skills else installed_skills()
        layout = load_layout(args.layout) if args.layout else None
    except (UsageError, LayoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    catalog = Catalog(skills=skills, layout=layout)
    found = [d for path in args.files for d in check_file(path, catalog)]
    if args.format == "json":
        print(json.dumps([d.to_dict() for d in found], indent=2))
    else:
        for diagnostic in found:
            print(diagnostic)
        print(summary(found, len(args.files)))
    return 1 if any(d.severity == "error" for d in found) else 0


def run_graph(args: argparse.Namespace) -> int:
    from cellwright.orchestrator.workflow import graph

    catalog = Catalog(skills=None)
    path = args.file
    try:
        text = Path(path).read_text()
    except OSError as exc:
        print(f"error: {path}: {exc.strerror}", file=sys.stderr)
        return 2
    workflow, found = check(text, path, catalog)
    errors = [d for d in found if d.severity == "error"]
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
