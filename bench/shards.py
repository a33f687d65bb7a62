"""Past one process: K orchestrators side by side, each owning its own cells and store.

The plan for a plant larger than one orchestrator process (docs/architecture.md): every
orchestrator owns a group of cells and its own SQLite file, and the MES sends each job to
the orchestrator of the group that runs it. This measures what K such orchestrators give
on one machine: K independent `bench.dispatch` runs (each its own orchestrator process,
noop cells process and client loop; the clients are threads of this process), started
together. The aggregate is all jobs over the span from the first shard's start to the last
shard's last job (windows that do not quite overlap lower it: never flattering). Prints
figures, never asserts. From the repository root:

    python -m bench.shards [--quick] [--shards 1,2] [--cells N] [--jobs M] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import save_json
from bench.dispatch import FULL, QUICK, Config, machine, run_jobs


def run_shards(shards: int, config: Config, db_dir: Path) -> dict[str, Any]:
    """K dispatch runs at once; their figures and the aggregate rate."""
    with ThreadPoolExecutor(shards) as pool:
        runs = list(pool.map(lambda _: run_jobs(config, db_dir, None), range(shards)))
    start = min(r["window"][0] for r in runs)
    end = max(r["window"][1] for r in runs)
    final = sum(r["final"] for r in runs)
    return {"shards": shards, "final": final, "span_s": end - start,
            "jobs_s": final / (end - start) if end > start else 0.0,
            "per_shard_jobs_s": [r["jobs_s"] for r in runs],
            "cpu_ms_per_job": [r["cpu_ms_per_job"] for r in runs],
            "timed_out": any(r["timed_out"] for r in runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--shards", default="1,2", help="orchestrator counts to run (default %(default)s)")
    parser.add_argument("--cells", type=int, help="noop cells per orchestrator (default 8)")
    parser.add_argument("--jobs", type=int, help="jobs per orchestrator")
    parser.add_argument("--db-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--json", metavar="PATH", help="also save the figures as JSON")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    config = replace(config, cells=args.cells or config.cells, jobs=args.jobs or config.jobs)
    results = [run_shards(int(k), config, args.db_dir) for k in args.shards.split(",")]
    m = machine()
    print(f"shards: {config.jobs:,} noop jobs and {config.cells} noop cells per orchestrator, "
          f"{config.concurrency} in flight each; {m['cores']} cores, {m['cpu_model']}")
    print(f"{'orchestrators':>13} {'jobs/s (all)':>13} {'vs one':>7}  per orchestrator jobs/s")
    one = results[0]["jobs_s"] if results[0]["shards"] == 1 else float("nan")
    for r in results:
        print(f"{r['shards']:>13} {r['jobs_s']:>13,.0f} {r['jobs_s'] / one:>7.2f}  "
              + ", ".join(f"{x:,.0f}" for x in r["per_shard_jobs_s"])
              + ("  ** TIMED OUT **" if r["timed_out"] else ""))
    save_json(args.json, {"config": asdict(config), "machine": m, "results": results})
    return 1 if any(r["timed_out"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
