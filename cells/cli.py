"""`cellwright cell run`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from cellwright.cells.config import ConfigError, load_config


def add_parsers(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """Add `cell run`; returns the `cell` actions for more subcommands."""
    cell = sub.add_parser("cell", help="run a cell controller")
    actions = cell.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="connect a cell to the orchestrator and take tasks")
    run.add_argument("--config", type=Path, required=True, help="cell YAML file")
    run.add_argument("--orchestrator", default="127.0.0.1:50051",
                     help="host:port of the orchestrator (default %(default)s)")
    run.add_argument("--gui", action="store_true", help="show the PyBullet GUI (needs a display)")
    run.add_argument("--snapshot", type=Path, help="write a PNG of the final scene on exit")
    run.set_defaults(func=run_cell)

    return actions  # type: ignore[no-any-return]


def run_cell(args: argparse.Namespace) -> int:
    from cellwright.cells.controller import CellController  # imports PyBullet lazily

    logging.basicConfig(level=logging.INFO, format="%(asctime)s cell %(levelname)s %(message)s")
    host, _, port = args.orchestrator.rpartition(":")
    if not host or not port.isdigit():
        print(f"error: --orchestrator {args.orchestrator!r}: give host:port, e.g. 127.0.0.1:50051",
              file=sys.stderr)
        return 2
    if args.gui and not os.environ.get("DISPLAY"):
        print("error: --gui needs a display, and DISPLAY is not set; leave out --gui to run "
              "headless (PyBullet DIRECT)", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        if config.world:
            from cellwright.sim_worlds.world import resolve_world_path
            resolve_world_path(config.world)
        controller = CellController(config, args.orchestrator, gui=args.gui, snapshot=args.snapshot)
    except FileNotFoundError as exc:
        print(f"error: {args.config}: world: {exc}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def main() -> None:
        task = asyncio.create_task(controller.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 0
