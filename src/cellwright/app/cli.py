"""The `cellwright` command."""

from __future__ import annotations

import argparse
import sys

from cellwright import __version__
from cellwright.app import (
    commands,
    demo,
    driver_check,
    promote,
    registries,
    state_tail,
    virtual_controller,
    virtual_device,
    workflow_cli,
)
from cellwright.cells import cli as cell_cli
from cellwright.orchestrator import cli as orchestrator_cli


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="cellwright", description="Orchestrate robot cells: jobs over gRPC, cells of "
        "robot components in PyBullet simulation, as mocks or on real drivers (OPC UA, Modbus TCP), state over "
        "ZeroMQ.")
    root.add_argument("--version", action="version", version=f"cellwright {__version__}")
    sub = root.add_subparsers(dest="command", required=True)
    demo.add_parser(sub)
    orchestrator_cli.add_parser(sub)
    cell_actions = cell_cli.add_parsers(sub)
    commands.add_parsers(sub, cell_actions)
    state_tail.add_parser(sub)
    registries.add_parser(sub)
    workflow_cli.add_parser(sub)
    virtual_device.add_parser(sub)
    virtual_controller.add_parser(sub)
    driver_check.add_parser(sub)
    promote.add_parser(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return commands.run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
