"""The conformance kit on real hardware: set CELLWRIGHT_HARDWARE_CONFIG to a cell config for
it (and CELLWRIGHT_HARDWARE_MOTION=1 to let the kit move it, the cell clear). Skipped where
there is none, as on CI."""

from __future__ import annotations

import os

import pytest

from cellwright.app.cli import main

CONFIG = os.environ.get("CELLWRIGHT_HARDWARE_CONFIG", "")
pytestmark = [pytest.mark.hardware,
              pytest.mark.skipif(not CONFIG, reason="no hardware here: set CELLWRIGHT_HARDWARE_CONFIG "
                                                    "to the cell config of a real robot or device")]


def test_the_hardware_keeps_the_component_contracts() -> None:
    motion = ["--allow-motion"] if os.environ.get("CELLWRIGHT_HARDWARE_MOTION") == "1" else []
    assert main(["driver", "check", CONFIG, *motion]) == 0
