"""Environments for the `opcua.*` models: a virtual controller on loopback (a PyBullet robot
behind a real asyncua server), with Basic256Sha256 SignAndEncrypt and the cell's certificate
trusted explicitly."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cellwright.app.virtual_controller import start_virtual_controller
from cellwright.robots.drivers.opcua import security
from cellwright.robots.drivers.opcua.link import CLIENT_URI


def cell_identity(pki: Path) -> Path:
    """Make the cell's certificate in `pki` (as its driver would on first use); its path."""
    return asyncio.run(security.identity(pki, CLIENT_URI, server=False)).cert


def opcua_environment(model_id: str, **options: Any) -> tuple[dict[str, Any], Callable[[], None]]:
    """Start a virtual controller for `model_id` and return the cell's robot config for it
    and a function that stops it. `options` go to the robot config (e.g. link_timeout_s)."""
    models = {"opcua.panda": ("pybullet.panda", "arm_cell", "panda")}
    if model_id not in models:
        raise ValueError(f"no virtual controller for {model_id}; known: {sorted(models)}")
    model, world, robot = models[model_id]
    folder = Path(tempfile.mkdtemp(prefix="cellwright-opcua-"))
    cell_pki = folder / "cell"
    controller = start_virtual_controller(world, robot, model=model, url="opc.tcp://127.0.0.1:0",
                                          pki=folder / "controller", trust=(cell_identity(cell_pki),))
    config = {"endpoint": controller.server.url, "controller_robot": robot, "pki_dir": str(cell_pki),
              "server_certificate": str(controller.server.certificate), **options}
    return config, controller.close
