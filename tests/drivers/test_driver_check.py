"""`cellwright driver check CONFIG`: the conformance kit on a cell config's robots, here an
OPC UA cell against a virtual controller on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cellwright.app.cli import main
from cellwright.app.virtual_controller import start_virtual_controller


def _config(tmp_path: Path, endpoint: str) -> Path:
    path = tmp_path / "opcua-cell.yaml"
    path.write_text(f"cell_id: arm-1\nrobots:\n  panda: {{model: opcua.panda, endpoint: '{endpoint}', "
                    f"security_policy: None}}\n")
    return path


def test_driver_check_passes_an_opcua_cell_against_a_virtual_controller(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    controller = start_virtual_controller("arm_cell", "panda", url="opc.tcp://127.0.0.1:0",
                                          pki=tmp_path / "controller", policy="None")
    try:
        config = _config(tmp_path, controller.server.url)
        assert main(["driver", "check", str(config), "--json"]) == 0
        without: dict[str, Any] = json.loads(capsys.readouterr().out)
        assert main(["driver", "check", str(config), "--allow-motion", "--json"]) == 0
        moved: dict[str, Any] = json.loads(capsys.readouterr().out)
    finally:
        controller.close()
    assert [(r["component"], r["passed"], r["motion_checked"]) for r in without["components"]] == [
        ("arm", True, False), ("gripper", True, False)]  # real drivers move only when allowed
    assert [(r["component"], r["passed"], r["motion_checked"]) for r in moved["components"]] == [
        ("arm", True, True), ("gripper", True, True)]


def test_driver_check_says_why_when_the_controller_is_not_there(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "opc.tcp://127.0.0.1:1")
    assert main(["driver", "check", str(config)]) == 1
    assert "cannot connect to opc.tcp://127.0.0.1:1" in capsys.readouterr().err


def test_driver_check_refuses_an_unknown_robot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "opc.tcp://127.0.0.1:1")
    assert main(["driver", "check", str(config), "--robot", "kuka"]) == 2
    assert "no robots ['kuka']; it has ['panda']" in capsys.readouterr().err
