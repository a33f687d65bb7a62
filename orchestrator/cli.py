"""`cellwright orchestrator serve`: run the orchestrator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from cellwright.api.layout import EMPTY, LayoutError, load_layout
from cellwright.orchestrator.errors import InvalidArgument
from cellwright.orchestrator.serve import serve
from cellwright.orchestrator.store import BUSY_TIMEOUT_S, StoreInUse


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("orchestrator", help="run the orchestrator")
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser("serve", help="serve JobService and CellService over gRPC")
    run.add_argument("--listen", default="127.0.0.1:50051",
                     help="host:port to listen on; port 0 picks a free one (default %(default)s)")
    run.add_argument("--db", type=Path, default=Path("cellwright.db"),
                     help="SQLite database file, created if missing (default %(default)s)")
    run.add_argument("--workflows", type=Path, action="append", default=[],
                     help="folder of workflow YAML files, in addition to the built-in ones "
                          "(repeatable)")
    run.add_argument("--heartbeat-interval", type=float, default=1.0, metavar="S",
                     help="how often cells send heartbeats (default %(default)s)")
    run.add_argument("--lease-ttl", type=float, default=5.0, metavar="S",
                     help="a cell silent this long loses its lease (default %(default)s)")
    run.add_argument("--forget-cells-after", type=float, default=600.0, metavar="S",
                     help="a cell gone this long and holding no task leaves `cell list` "
                          "(default %(default)s)")
    run.add_argument("--busy-timeout", type=float, default=BUSY_TIMEOUT_S, metavar="S",
                     help="how long a write waits for another process's database lock before "
                          "the request fails with UNAVAILABLE (default %(default)s)")
    run.add_argument("--layout", type=Path,
                     help="the line layout (kind: Layout): cells must stand on its mounts, and "
                          "`cell list` shows what each reaches")
    run.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s orchestrator %(levelname)s %(message)s")
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        print(f"error: --listen {args.listen!r}: give host:port, e.g. 127.0.0.1:50051 "
              "(port 0 picks a free one)", file=sys.stderr)
        return 2

    def ready(port: int) -> None:
        # The first stdout line is machine-readable: the demo and tests wait for it.
        print(f"cellwright orchestrator listening on {host}:{port} db={args.db}", flush=True)

    try:
        layout = load_layout(args.layout) if args.layout is not None else EMPTY
    except LayoutError as exc:
        print(f"error: --layout: {exc}", file=sys.stderr)
        return 2

    async def main() -> None:
        task = asyncio.create_task(serve(
            args.listen, args.db, args.workflows, heartbeat_interval_s=args.heartbeat_interval,
            lease_ttl_s=args.lease_ttl, forget_after_s=args.forget_cells_after,
            busy_timeout_s=args.busy_timeout, layout=layout, ready=ready))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
    except (InvalidArgument, StoreInUse, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
