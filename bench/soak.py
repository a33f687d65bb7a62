"""Soak: N idle cells heartbeating for minutes; the orchestrator's memory must stay flat.

Processes: the orchestrator (`cellwright orchestrator serve`, fresh SQLite file) and N real
noop cells (`CellController`, no world) as asyncio tasks in one separate process. Nothing
is submitted: every message is a heartbeat. Every `--every` seconds this prints the
orchestrator's resident memory (VmRSS from /proc) and its growth per heartbeat since the
warm-up, where heartbeats = cells x seconds / heartbeat interval (the interval the
orchestrator asks cells to keep). Flat means the growth per heartbeat tends to 0 bytes;
0.1 leaked ~1.6 KB per heartbeat. Prints figures, never asserts. From the repository root:

    python -m bench.soak [--quick] [--cells N] [--minutes M] [--heartbeat S] [--json PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import save_json
from bench.dispatch import Child, _cells_main, machine
from cellwright.api.client import Client
from cellwright.app.launch import start_orchestrator
from cellwright.v1 import packml_pb2


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _wait_connected(client: Client, cells: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        live = [c for c in client.list_cells()
                if c.connected and c.packml_state == packml_pb2.PACKML_STATE_EXECUTE]
        if len(live) >= cells:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{cells} cells did not all connect within {timeout_s:.0f} s")


def run(cells: int, seconds: float, heartbeat_s: float, every_s: float, warmup_s: float) -> dict[str, Any]:
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="cellwright-soak-") as tmp:
        orchestrator, address = start_orchestrator(
            Path(tmp) / "soak.db", Path(tmp) / "orchestrator.log",
            extra=["--heartbeat-interval", str(heartbeat_s), "--lease-ttl", str(max(5.0, 20 * heartbeat_s))])
        pid = orchestrator.popen.pid
        fleet = Child(_cells_main, address, cells, False)
        fleet.start()
        try:
            with Client(address) as client:
                _wait_connected(client, cells, 120.0)
            print(f"{cells} cells connected; warming up {warmup_s:.0f} s", flush=True)
            time.sleep(warmup_s)
            start, base = time.monotonic(), rss_bytes(pid)
            print(f"{'t (s)':>7} {'RSS (MiB)':>10} {'growth (KiB)':>13} {'heartbeats':>11} "
                  f"{'B/heartbeat':>12}", flush=True)
            while (elapsed := time.monotonic() - start) < seconds:
                time.sleep(min(every_s, seconds - elapsed))
                elapsed = time.monotonic() - start
                rss = rss_bytes(pid)
                beats = cells * elapsed / heartbeat_s
                sample = {"t_s": elapsed, "rss_bytes": rss, "growth_bytes": rss - base,
                          "heartbeats": beats, "bytes_per_heartbeat": (rss - base) / beats}
                samples.append(sample)
                print(f"{elapsed:7.0f} {rss / 2**20:10.1f} {(rss - base) / 1024:13.0f} "
                      f"{beats:11.0f} {sample['bytes_per_heartbeat']:12.2f}", flush=True)
        finally:
            fleet.stop()
            orchestrator.stop()
    return {"machine": machine(), "cells": cells, "heartbeat_interval_s": heartbeat_s,
            "seconds": seconds, "warmup_s": warmup_s, "samples": samples}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=256)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--heartbeat", type=float, default=0.25, metavar="S",
                        help="heartbeat interval the orchestrator asks for (default %(default)s)")
    parser.add_argument("--every", type=float, default=15.0, metavar="S", help="sample period")
    parser.add_argument("--quick", action="store_true", help="64 cells, 1 minute")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    cells, minutes = (64, 1.0) if args.quick else (args.cells, args.minutes)
    report = run(cells, minutes * 60, args.heartbeat, args.every, warmup_s=20.0)
    last = report["samples"][-1] if report["samples"] else None
    if last is not None:
        print(f"\n{cells} idle cells, heartbeat every {args.heartbeat:g} s: RSS grew "
              f"{last['growth_bytes'] / 2**20:.1f} MiB over {last['heartbeats']:.0f} heartbeats "
              f"({last['bytes_per_heartbeat']:.2f} B per heartbeat)")
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
