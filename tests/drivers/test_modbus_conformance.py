"""The `modbus.*` components keep their kind's contract (`check_component`) against the
virtual devices of `tests/conformance/_modbus.py`, on a real-time loop as real drivers run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from _modbus_devices import client

from cellwright.testing import check_component


def _environments() -> ModuleType:
    path = Path(__file__).parents[1] / "conformance" / "_modbus.py"
    spec = importlib.util.spec_from_file_location("_modbus_environments", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model_id", ["modbus.gripper", "modbus.conveyor"])
def test_the_modbus_component_keeps_its_kind_contract_against_its_virtual_device(model_id: str) -> None:
    config, close = _environments().modbus_environment(model_id)
    try:
        with client(model_id, config) as (component, loop):
            check_component(component, loop)
    finally:
        close()
