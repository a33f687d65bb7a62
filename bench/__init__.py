"""Benchmarks: scripts that print figures (never tests). See docs/benchmarks.md."""

from __future__ import annotations

import json
from typing import Any


def save_json(path: str | None, report: dict[str, Any]) -> None:
    """Write the figures to `path` as JSON, if a path was given."""
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
