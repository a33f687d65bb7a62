"""`cellwright driver check CONFIG`: run the conformance kit (`cellwright.testing.check_component`)
on every component of a cell config's robots, on the hardware or simulation it names.

Motion checks move the robot (small moves, then moves that are stopped, e-stopped and
cancelled). On real drivers they run only with `--allow-motion`; without it the kit checks
lifecycle, info, state, refused limits and the stop flags, and says that motion was skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

SIMULATED = ("pybullet", "mock")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `cellwright driver check`."""
    parser = sub.add_parser("driver", help="check robot drivers against the component contracts")
    actions = parser.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="run the conformance kit on every component of a cell "
                                             "config's robots (real hardware included)")
    check.add_argument("config", help="a cell config YAML")
    check.add_argument("--robot", action="append", default=[], help="only this robot (repeatable)")
    check.add_argument("--allow-motion", action="store_true",
                       help="let the kit move real robots (small moves, stops, e-stops); keep the cell clear")
    check.add_argument("--stop-within", type=float, default=0.5, metavar="S",
                       help="loop seconds a stopped motion may take to end (default %(default)s)")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Here, not at the top: every `cellwright` command imports this module, and the kit
    # loads PyBullet (its PlaneWorld), which a `job watch` has no use for.
    from cellwright.cells.config import ConfigError, load_config
    from cellwright.cells.environment import Environment
    from cellwright.testing import check_component

    try:
        config = load_config(args.config)
        unknown = sorted(set(args.robot) - set(config.robots))
        if unknown:
            raise ConfigError(f"{args.config}: no robots {unknown}; it has {sorted(config.robots)}")
        environment = Environment.build([config])
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a driver that cannot connect: say so, with its reason
        print(f"error: could not bring up the robots of {args.config}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    rows: list[dict[str, Any]] = []
    try:
        environment.start()
        runtime = environment.cells[config.cell_id]
        for robot_name, robot in runtime.robots.items():
            if args.robot and robot_name not in args.robot:
                continue
            motion = robot.driver in SIMULATED or args.allow_motion
            for key, component in robot.components.items():
                print(f"checking {component.name} ({robot.registry_id}, {component.kind})...",
                      file=sys.stderr, flush=True)
                started = time.monotonic()
                try:
                    check_component(component, runtime.loop, motion=motion, stop_within_s=args.stop_within)
                    failures: list[str] = []
                except AssertionError as exc:
                    failures = [line.strip()[2:] for line in str(exc).splitlines() if line.strip().startswith("- ")]
                rows.append({"robot": robot_name, "component": key, "model": robot.registry_id,
                             "kind": component.kind, "motion_checked": motion, "passed": not failures,
                             "failures": failures, "wall_s": round(time.monotonic() - started, 2)})
    finally:
        environment.close()
    _print(rows, args.json)
    return 0 if all(r["passed"] for r in rows) else 1


def _print(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"components": rows}, indent=2))
        return
    print(f"{'component':24} {'model':18} {'kind':8} {'motion':8} result")
    for row in rows:
        motion = "checked" if row["motion_checked"] else "skipped"
        result = "pass" if row["passed"] else f"FAIL ({len(row['failures'])})"
        print(f"{row['robot'] + '/' + row['component']:24} {row['model']:18} {row['kind']:8} {motion:8} {result}")
        for failure in row["failures"]:
            print(f"    - {failure}")
    if any(not r["motion_checked"] for r in rows):
        print("motion was not checked on real drivers; run again with --allow-motion, the cell clear")
