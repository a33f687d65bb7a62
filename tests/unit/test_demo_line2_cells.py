"""The line2 demo runs the cells examples/line2 documents (its configs are a copy, so that
the demo works from an installed wheel)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cellwright.app.demo_line2 import CELLS

EXAMPLES = Path(__file__).parents[2] / "examples" / "line2"


def test_the_demo_cells_are_the_example_configs():
    assert {cell_id: yaml.safe_load((EXAMPLES / f"{cell_id}.yaml").read_text())
                     for cell_id in ("arm-a", "arm-b")} == CELLS
