"""`cellwright cell run`: one cell, or several cells that share one world (a world host)."""

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
    cell = sub.add_parser("cell", help="run cell controllers")
    actions = cell.add_subparsers(dest="action", required=True)
    run = actions.add_parser(
        "run", help="connect cells to the orchestrator and take tasks",
        description="Run one cell, or several cells in one process sharing one world (give "
                    "--config once per cell; they must name the same world).")
    run.add_argument("--config", type=Path, required=True, action="append",
                     help="cell YAML file (repeat for cells that share a world)")
    run.add_argument("--orchestrator", default="127.0.0.1:50051",
                     help="host:port of the orchestrator (default %(default)s)")
    run.add_argument("--gui", action="store_true", help="show the PyBullet GUI (needs a display)")
    run.add_argument("--snapshot", type=Path, help="write a PNG of the final scene on exit")
    run.add_argument("--record", type=Path, metavar="DIR",
                     help="record the run into DIR: an animated GIF of one camera while something "
                          "moves, PNG snapshots when tasks start and end and of the final scene, and "
                          "index.json (PyBullet worlds only)")
    run.add_argument("--record-camera", metavar="NAME",
                     help="the world camera to record (default: the world's first)")
    run.add_argument("--record-fps", type=float, default=4.0, metavar="N",
                     help="GIF frames per second of simulation time (default %(default)s)")
    run.add_argument("--record-speedup", type=float, default=1.0, metavar="X",
                     help="play the GIF X times faster than simulation time, a time-lapse "
                          "(default %(default)s; frames per simulated second times X <= 50)")
    run.set_defaults(func=run_cells)

    return actions  # type: ignore[no-any-return]


def run_cells(args: argparse.Namespace) -> int:
    from cellwright.cells.host import WorldHost  # imports robots lazily

    logging.basicConfig(level=logging.INFO, format="%(asctime)s cell %(levelname)s %(message)s")
    # asyncua logs every OPC UA publish at INFO: about 0.8 MB a minute per robot.
    logging.getLogger("asyncua").setLevel(logging.WARNING)
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
        configs = [load_config(path) for path in args.config]
        for config in configs:
            if config.world:
                from cellwright.sim_worlds.registry import resolve_world_path

                try:
                    resolve_world_path(config.world)
                except (FileNotFoundError, KeyError) as exc:
                    raise ConfigError(f"{config.source}: world: {exc.args[0]}") from None
        camera = None
        if args.record is not None:
            from cellwright.cells.recording import MAX_FPS, record_camera

            if not 0 < args.record_fps <= MAX_FPS:
                raise ValueError(f"--record-fps {args.record_fps:g}: give 0 < N <= {MAX_FPS:g} "
                                 f"frames per simulated second")
            if not 0 < args.record_speedup <= MAX_FPS / args.record_fps:
                raise ValueError(f"--record-speedup {args.record_speedup:g}: give 0 < X <= "
                                 f"{MAX_FPS / args.record_fps:g} at --record-fps {args.record_fps:g} "
                                 f"(a GIF shows at most {MAX_FPS:g} frames a second)")
            try:
                camera = record_camera(configs, args.record_camera)
            except ValueError as exc:
                raise ValueError(f"--record: {exc}") from None
        elif args.record_camera is not None:
            raise ValueError("--record-camera needs --record DIR")
        world_host = WorldHost(configs, args.orchestrator, gui=args.gui, snapshot=args.snapshot,
                               record=args.record, record_camera=camera, record_fps=args.record_fps,
                               record_speedup=args.record_speedup)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def main() -> None:
        task = asyncio.create_task(world_host.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
    except ConfigError as exc:  # robots, mounts and locators are checked as the world loads
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
