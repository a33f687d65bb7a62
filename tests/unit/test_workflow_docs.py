"""The complete workflows in docs/workflows.md check as the page says: valid, or refused
with the error it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cellwright.orchestrator.workflow import check

DOC = (Path(__file__).parents[2] / "docs" / "workflows.md").read_text()
EXAMPLES = re.findall(r"```yaml\n(apiVersion: cellwright/v1\nkind: Workflow\nname: ([a-z0-9-]+)\n.*?)```",
                      DOC, re.S)


def test_the_page_has_worked_examples():
    assert {name for _, name in EXAMPLES} >= {"kit-two", "sort-parts"}


@pytest.mark.parametrize(("text", "name"), EXAMPLES, ids=[name for _, name in EXAMPLES])
def test_each_worked_example_checks_as_documented(text, name):
    workflow, diagnostics = check(text, f"{name}.yaml")
    errors = [str(d) for d in diagnostics if d.severity == "error"]
    shown = re.search(rf"```\n({re.escape(name)}\.yaml:.*?)```", DOC, re.S)
    if shown is None:
        assert workflow is not None, errors
    else:
        assert errors == [shown.group(1).split("\n1 error")[0].rstrip()]
