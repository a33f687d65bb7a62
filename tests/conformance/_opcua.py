"""Environments for the `opcua.*` models: a virtual controller on loopback (a PyBullet robot
behind a real asyncua server), with Basic256Sha256 SignAndEncrypt and the cell's certificate
trusted explicitly."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from _served import Served

from cellwright.api.netproxy import DelayProxy
from cellwright.app.virtual_controller import start_virtual_controller
from cellwright.robots.drivers.opcua import security
from cellwright.robots.drivers.opcua.link import CLIENT_URI


def cell_identity(pki: Path) -> Path:
    """Make the cell's certificate in `pki` (as its driver would on first use); its path."""
    return asyncio.run(security.identity(pki, CLIENT_URI, server=False)).cert


def opcua_environment(model_id: str, **options: Any) -> Served:
    """Start a virtual controller for `model_id` behind a delay proxy (no delay; it stalls
    the link to break it) and return the cell's robot config for it, how to close both and
    how to break and restore the link. `options` go to the robot config."""
    models = {"opcua.panda": ("pybullet.panda", "arm_cell", "panda")}
    if model_id not in models:
        raise ValueError(f"no virtual controller for {model_id}; known: {sorted(models)}")
    model, world, robot = models[model_id]
    folder = Path(tempfile.mkdtemp(prefix="cellwright-opcua-"))
    cell_pki = folder / "cell"
    controller = start_virtual_controller(world, robot, model=model, url="opc.tcp://127.0.0.1:0",
                                          pki=folder / "controller", trust=(cell_identity(cell_pki),))
    host, port = controller.server.url.removeprefix("opc.tcp://").rsplit(":", 1)
    proxy = DelayProxy(host, int(port))
    proxy.start()
    config = {"endpoint": f"opc.tcp://{proxy.url_host_port}", "controller_robot": robot,
              "pki_dir": str(cell_pki), "server_certificate": str(controller.server.certificate),
              **options}

    def close() -> None:
        proxy.stop()
        controller.close()

    return Served(config, close, proxy.stall, proxy.resume)
