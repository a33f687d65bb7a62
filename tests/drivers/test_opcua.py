"""The OPC UA driver against real servers on loopback: the address space as OPC 40010 puts it
(checked against the official NodeSet2 and by an independent node-opcua client), security,
and a controller killed mid-motion."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cellwright.app.virtual_controller import start_virtual_controller
from cellwright.robots import BuildContext, ControlLoop, Lifecycle, NotActive, Robot, build_robot
from cellwright.robots.drivers.opcua import security, spec
from cellwright.robots.drivers.opcua.link import CLIENT_URI
from cellwright.testing import wait_until

NODE_CHECK = Path(__file__).parents[2] / "examples" / "opcua_node"
NODESET = NODE_CHECK / "node_modules" / "node-opcua-nodesets" / "nodesets" / "Opc.Ua.Robotics.NodeSet2.xml"
HANG_GUARD_S = 60.0
UA = "{http://opcfoundation.org/UA/2011/03/UANodeSet.xsd}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cell(config: dict[str, Any]) -> tuple[Robot, ControlLoop]:
    robot = build_robot("opcua.panda", BuildContext("panda"), config)
    loop = ControlLoop(0.01, clock="realtime")
    for component in robot.components.values():
        loop.add(component)
    loop.start()
    return robot, loop


def _close(robot: Robot, loop: ControlLoop) -> None:
    for component in robot.components.values():
        loop.call(component.shutdown)
    loop.stop()


# --- the address space ----------------------------------------------------------------------
@pytest.mark.skipif(not NODESET.is_file(), reason="needs the official NodeSet2: npm ci in examples/opcua_node")
def test_our_types_sit_where_the_official_robotics_nodeset_puts_them() -> None:
    root = ET.parse(NODESET).getroot()
    uris = [u.text for u in root.find(f"{UA}NamespaceUris") or []]
    robotics = f"ns={uris.index(spec.ROBOTICS_URI) + 1};i="
    di = f"ns={uris.index(spec.DI_URI) + 1};i="
    nodes = {el.get("NodeId"): el for el in root if el.get("NodeId")}

    def refs(node: ET.Element) -> list[tuple[str, bool, str]]:
        return [(r.get("ReferenceType", ""), r.get("IsForward", "true") == "true", r.text or "")
                for r in node.find(f"{UA}References") or []]

    for name, number in {**spec.OBJECT_TYPES, **spec.REFERENCE_TYPES, **spec.DATA_TYPES}.items():
        node = nodes[robotics + str(number)]
        assert node.get("BrowseName", "").endswith(f":{name}"), (name, node.get("BrowseName"))
    for name in spec.OBJECT_TYPES:
        supertype = [t for r, fwd, t in refs(nodes[robotics + str(spec.OBJECT_TYPES[name])])
                     if r == "HasSubtype" and not fwd]
        expected = "i=58" if name in spec.BASE_OBJECT_TYPES else di + str(spec.DI_COMPONENT_TYPE)
        assert supertype == [expected], (name, supertype)
    for type_name, path, number, _kind, _data_type, mandatory in spec.DECLARATIONS:
        node = nodes[robotics + str(number)]
        assert node.get("BrowseName", "").endswith(":" + path.split("/")[-1]), (path, node.get("BrowseName"))
        rule = [t for r, _, t in refs(node) if r == "HasModellingRule"]
        assert rule == ["i=78" if mandatory else "i=80"], (type_name, path, rule)
    for enum_type, members in ((3006, spec.OperationalMode), (18193, spec.MotionDeviceCategory),
                               (3008, spec.AxisMotionProfile)):
        fields = [(f.get("Name"), int(f.get("Value", "-1")))
                  for f in nodes[robotics + str(enum_type)].find(f"{UA}Definition") or []]
        assert fields == [(m.name, m.value) for m in members]


@pytest.mark.skipif(shutil.which("node") is None or not (NODE_CHECK / "node_modules").is_dir(),
                    reason="needs Node.js and `npm ci` in examples/opcua_node")
def test_an_independent_node_opcua_client_finds_the_robot_and_moves_it(tmp_path: Path) -> None:
    controller = start_virtual_controller("arm_cell", "panda", url="opc.tcp://127.0.0.1:0",
                                          pki=tmp_path / "controller", policy="None")
    try:
        run = subprocess.run(["node", str(NODE_CHECK / "client.js"), controller.server.url],
                             capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    finally:
        controller.close()
    assert run.returncode == 0, run.stderr
    seen = json.loads(next(line[len("RESULT "):] for line in run.stdout.splitlines()
                           if line.startswith("RESULT ")))
    robotics = seen["namespaces"]["robotics"]
    assert seen["systemType"] == f"ns={robotics};i=1002"
    assert seen["deviceType"] == f"ns={robotics};i=1004"
    assert [a["name"] for a in seen["axes"]] == [f"panda_joint{i}" for i in range(1, 8)]
    assert {a["type"] for a in seen["axes"]} == {f"ns={robotics};i=16601"}
    assert {a["unit"] for a in seen["axes"]} == {"rad"}
    assert seen["error"] == "" and seen["status"] == [seen["commandId"], int(spec.CommandState.SUCCEEDED)]
    assert np.allclose(seen["after"], seen["target"], atol=5e-3)


# --- security -------------------------------------------------------------------------------
def test_an_untrusted_cell_is_refused_with_the_reason_and_trusting_it_needs_no_restart(tmp_path: Path) -> None:
    controller = start_virtual_controller("arm_cell", "panda", url="opc.tcp://127.0.0.1:0",
                                          pki=tmp_path / "controller")
    robot, loop = _cell({"endpoint": controller.server.url, "pki_dir": str(tmp_path / "cell"),
                         "server_certificate": str(controller.server.certificate)})
    try:
        arm = robot.components["arm"]
        with pytest.raises(NotActive, match=r"cannot connect.*Bad"):
            loop.call(arm.activate, HANG_GUARD_S)
        rejected = list((tmp_path / "controller" / "rejected").glob("*.der"))
        assert len(rejected) == 1
        shutil.copy(rejected[0], tmp_path / "controller" / "trusted" / "cell.der")
        loop.call(arm.activate, HANG_GUARD_S)
        assert arm.lifecycle is Lifecycle.ACTIVE
    finally:
        _close(robot, loop)
        controller.close()


def test_security_none_is_used_only_when_the_cell_names_it(tmp_path: Path) -> None:
    controller = start_virtual_controller("arm_cell", "panda", url="opc.tcp://127.0.0.1:0",
                                          pki=tmp_path / "controller", policy="None")
    robot, loop = _cell({"endpoint": controller.server.url, "pki_dir": str(tmp_path / "cell")})
    try:
        with pytest.raises(NotActive, match="needs the server's certificate"):
            loop.call(robot.components["arm"].activate, HANG_GUARD_S)
    finally:
        _close(robot, loop)
        controller.close()


# --- a controller killed mid-motion -----------------------------------------------------------
class ControllerProcess:
    """`cellwright virtual-controller` as a process of its own, (re)started on one port."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, _free_port()
        self.cell_certificate = asyncio.run(security.identity(folder / "cell", CLIENT_URI, server=False)).cert
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cellwright", "virtual-controller", "--url",
             f"opc.tcp://127.0.0.1:{self.port}", "--pki", str(self.folder / "controller"),
             "--trust", str(self.cell_certificate)],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert " ready " in line, line
        return line.split()[0]

    def kill(self) -> None:
        """SIGKILL: the controller dies at once, mid-motion, without closing its sessions."""
        assert self.process is not None and self.process.stdout is not None
        self.process.kill()
        self.process.wait(HANG_GUARD_S)
        self.process.stdout.close()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(HANG_GUARD_S)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def controller_process(tmp_path: Path) -> Iterator[ControllerProcess]:
    controller = ControllerProcess(tmp_path)
    yield controller
    controller.close()


def test_a_controller_killed_mid_motion_fails_the_goal_and_the_cell_recovers_after_a_restart(
        controller_process: ControllerProcess) -> None:
    url = controller_process.start()
    folder = controller_process.folder
    robot, loop = _cell({"endpoint": url, "pki_dir": str(folder / "cell"),
                         "server_certificate": str(folder / "controller" / "own" / "cert.der")})
    try:
        arm, gripper = robot.components["arm"], robot.components["gripper"]
        for component in (arm, gripper):
            loop.call(component.activate, HANG_GUARD_S)
        start = arm.state().position.copy()
        goal = arm.move_joints(start + np.array([0.8, 0, 0, 0, 0, 0, 0]), speed=0.1, timeout_s=30.0)
        wait_until(lambda: abs(arm.state().position[0] - start[0]) > 0.01, HANG_GUARD_S, "the arm moves")
        controller_process.kill()
        assert goal.wait(HANG_GUARD_S), "the goal hung after its controller died"
        assert isinstance(goal.error(), NotActive), goal.error()
        wait_until(lambda: arm.lifecycle is Lifecycle.ERROR and gripper.lifecycle is Lifecycle.ERROR,
                   HANG_GUARD_S, "both components go to ERROR")
        assert "OPC UA link" in arm.error_reason, arm.error_reason
        with pytest.raises(NotActive, match="activate"):
            arm.move_joints(start)
        controller_process.start()  # the same port, the same certificate
        for component in (arm, gripper):
            loop.call(component.activate, HANG_GUARD_S)
        arm.move_joints(start, speed=0.5).result(HANG_GUARD_S)
        assert np.allclose(arm.state().position, start, atol=5e-3)
    finally:
        _close(robot, loop)

