"""Camera images from PyBullet's TinyRenderer (works headless) and a tiny PNG writer."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pybullet as p
from numpy.typing import NDArray

from cellwright.sim_worlds.spec import CameraSpec


def capture(client: int, camera: CameraSpec, width: int, height: int) -> NDArray[np.uint8]:
    """Render an RGB image (height, width, 3) from `camera`."""
    view = p.computeViewMatrix(camera.eye, camera.target, camera.up, physicsClientId=client)
    projection = p.computeProjectionMatrixFOV(camera.fov_deg, width / height, 0.02, 10.0,
                                              physicsClientId=client)
    image = p.getCameraImage(width, height, view, projection, renderer=p.ER_TINY_RENDERER,
                             physicsClientId=client)
    rgba = np.reshape(np.asarray(image[2], dtype=np.uint8), (height, width, 4))
    return np.ascontiguousarray(rgba[:, :, :3])


def write_png(path: str | Path, rgb: NDArray[np.uint8]) -> None:
    """Write an 8-bit RGB image as a PNG file (no dependency beyond zlib)."""
    height, width, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                           + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
