"""The line demo runs the cells examples/line documents (its configs are a copy, so that
the demo works from an installed wheel)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cellwright.app.demo_line import CELLS, WORKFLOW, WORKFLOW_FILE

EXAMPLES = Path(__file__).parents[2] / "examples" / "line"


def test_the_demo_cells_are_the_example_configs() -> None:
    assert {cell_id: yaml.safe_load((EXAMPLES / f"{cell_id}.yaml").read_text())
            for cell_id in ("kitter", "humanoid")} == CELLS


def test_the_demo_workflow_is_the_examples_one() -> None:
    """The example links to the packaged file; installed, the demo reads the package's copy."""
    assert (EXAMPLES / f"{WORKFLOW}.yaml").read_text() == WORKFLOW_FILE.read_text()
