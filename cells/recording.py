"""Pictures of a run on a PyBullet world: an animated GIF of one camera while something
moves, and PNG snapshots at key moments (a task starts, a task ends, the final scene).

    <dir>/run.gif        frames every 1/fps simulation seconds while a component is busy
                         or a task is in flight; played back at `speedup` times
                         simulation time (1: in step with it)
    <dir>/t0012.345_arm-1_<task>_start.png   a cell's task started (sim time, cell, task)
    <dir>/t0019.870_arm-1_<task>_end.png     ... and ended
    <dir>/t0031.002_final.png                the scene when the recording closed
    <dir>/index.json     the files with their simulation times (rewritten at every snapshot,
                         so a run killed hard still leaves one)

Cost (measured on the 2-core dev machine, PyBullet 3.2.7 TinyRenderer, 400 x 300): a GIF
frame takes 65-80 ms to render on the arm_cell world's `overview` camera with the Panda in
view (43 ms on its closer `inspection` camera; 50-60 ms on the line world's cameras with
the Panda, the G1 not yet measured), and 120 ms in a world host run with the orchestrator
on the same two cores; quantizing and encoding add ~2 ms. A 640 x 480 snapshot takes
100-120 ms. Frames are rendered on the control loop (only its thread may touch PyBullet),
so recording slows a run: the arm cell moving its arm went from 14x to 3x real time at
4 fps of simulation time (0.3-0.5 wall seconds of rendering per simulated second).
`index.json` reports the render and encode times measured in each run.

Memory stays bounded: each frame is quantized to the first frame's 256-colour palette and
only the rectangle that changed since the previous frame is appended to the GIF file, so
one frame is held at a time, however long the run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray
from PIL import GifImagePlugin, Image

from cellwright.cells.config import CellConfig
from cellwright.robots.loop import ControlLoop
from cellwright.sim_worlds.render import capture, write_png
from cellwright.sim_worlds.world import SimWorld

__all__ = ["DEFAULT_FPS", "FRAME_SIZE", "MAX_FPS", "SNAPSHOT_SIZE", "GifStream", "Recorder",
           "RecordingIndex", "Snapshot", "check_recordable", "read_index", "record_camera"]

log = logging.getLogger(__name__)

DEFAULT_FPS = 4.0
"""GIF frames per second of simulation time."""
MAX_FPS = 50.0
"""GIF frame delays are centiseconds, and browsers slow down delays below 20 ms."""
FRAME_SIZE = (400, 300)
"""GIF frame width, height in pixels: small, so the TinyRenderer cost stays small."""
SNAPSHOT_SIZE = (640, 480)
"""Snapshot width, height in pixels."""
WATCH_S = 0.05
"""How often tasks are checked for starts and ends: simulation seconds while the loop
ticks, wall seconds while it stands idle."""
GIF_NAME = "run.gif"
INDEX_NAME = "index.json"


@dataclass(frozen=True)
class Snapshot:
    """One PNG of a key moment.

    Attributes:
        file: the file name, in the recording's directory.
        sim_time_s: the loop's clock when it was rendered.
        moment: "start" or "end" (of a task), or "final" (the recording closed).
        cell_id: the cell whose task started or ended ("" for final).
        task_id: that task ("" for final).
    """

    file: str
    sim_time_s: float
    moment: str
    cell_id: str = ""
    task_id: str = ""

    @property
    def caption(self) -> str:
        """A short line for under a thumbnail."""
        if self.moment == "final":
            return f"final scene, t = {self.sim_time_s:.1f} s"
        return f"{self.cell_id}: task {self.task_id} {self.moment}s, t = {self.sim_time_s:.1f} s"


@dataclass(frozen=True)
class RecordingIndex:
    """What `index.json` lists (`read_index`); paths are absolute."""

    gif: Path | None
    frames: int
    frame_times_s: tuple[float, ...]
    snapshots: tuple[tuple[Path, Snapshot], ...]
    camera: str
    note: str


def read_index(directory: Path) -> RecordingIndex:
    """Read `<directory>/index.json` as a recording wrote it.

    Raises:
        FileNotFoundError: no index there.
        ValueError: the index is not one a recording wrote.
    """
    try:
        data = json.loads((directory / INDEX_NAME).read_text())
        gif = data["gif"]
        snapshots = tuple((directory / s["file"], Snapshot(s["file"], float(s["sim_time_s"]), s["moment"],
                                                           s.get("cell_id", ""), s.get("task_id", "")))
                          for s in data["snapshots"])
        return RecordingIndex(directory / gif["file"] if gif["frames"] else None, int(gif["frames"]),
                              tuple(float(t) for t in gif["frame_times_s"]), snapshots,
                              str(data["camera"]), str(data.get("note", "")))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{directory / INDEX_NAME}: not a recording index ({exc!r})") from exc


def record_camera(configs: Sequence[CellConfig], camera: str | None) -> str:
    """The camera a recording of these cells' world uses: `camera`, or the world's first.
    Reads the world file.

    Raises:
        ValueError: the cells have no PyBullet world (no `world:`, or no pybullet.* robot),
            the world defines no cameras, or none named `camera`.
    """
    check_recordable(configs)
    from cellwright.sim_worlds.registry import resolve_world_path
    from cellwright.sim_worlds.spec import read_world

    world = configs[0].world
    assert world is not None
    cameras = list(read_world(resolve_world_path(world)).cameras)
    if not cameras:
        raise ValueError(f"world {world!r} defines no cameras, so there is nothing to record from; "
                         f"add one under `cameras:` in its world file")
    if camera is None:
        return cameras[0]
    if camera not in cameras:
        raise ValueError(f"world {world!r} has no camera {camera!r}; its cameras: {', '.join(cameras)}")
    return camera


def check_recordable(configs: Sequence[CellConfig]) -> None:
    """Raise ValueError unless the cells run on a PyBullet world (no I/O)."""
    if not configs or not configs[0].world or not any(
            entry.driver == "pybullet" for config in configs for entry in config.robots.values()):
        ids = ", ".join(c.cell_id for c in configs)
        raise ValueError(f"recording renders PyBullet's cameras, and the cells {ids} run on no "
                         f"PyBullet world (it needs a `world:` and a pybullet.* robot; mock and "
                         f"real cells have nothing to render)")


class GifStream:
    """An animated GIF written frame by frame: constant memory however many frames.

    Every frame is mapped to the first frame's 256-colour palette (no dithering, so a
    still scene stays still), and only the rectangle that changed since the previous frame
    is written. Encoding goes through Pillow's GIF encoder (`GifImagePlugin.getdata`):
    imageio's GIF writers either hold every frame until closed (the v3 pillow plugin) or,
    with Pillow 13, write files that do not read back (the legacy GIF-PIL one); imageio
    reads ours back.

    Args:
        fp: a binary file open for writing; `close()` ends the GIF but leaves `fp` open.
        delay_s: how long each frame shows (stored in centiseconds).
    """

    def __init__(self, fp: IO[bytes], delay_s: float) -> None:
        self._fp = fp
        self._delay_ms = max(10, round(delay_s * 100) * 10)
        self._palette: Image.Image | None = None
        self._previous: NDArray[np.uint8] | None = None
        self.frames = 0

    def append(self, rgb: NDArray[np.uint8]) -> None:
        """Add an RGB frame (height, width, 3); every frame must be the first one's size."""
        image = Image.fromarray(rgb, "RGB")
        if self._palette is None:
            indexed = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            self._palette = indexed
            self._write_header(indexed)
        else:
            if image.size != self._palette.size:
                raise ValueError(f"frame is {image.size}, the GIF is {self._palette.size}")
            indexed = image.quantize(palette=self._palette, dither=Image.Dither.NONE)
        pixels = np.asarray(indexed)
        box = (0, 0, indexed.width, indexed.height)
        if self._previous is not None:
            rows, cols = np.nonzero(pixels != self._previous)
            box = ((0, 0, 1, 1) if rows.size == 0
                   else (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1))
        self._previous = pixels
        patch = indexed.crop(box) if box != (0, 0, indexed.width, indexed.height) else indexed
        for chunk in GifImagePlugin.getdata(patch, offset=box[:2], duration=self._delay_ms, disposal=1):
            self._fp.write(chunk)
        self.frames += 1

    def _write_header(self, indexed: Image.Image) -> None:
        palette = bytes((indexed.getpalette() or [])[:768]).ljust(768, b"\0")
        self._fp.write(b"GIF89a" + struct.pack("<HHBBB", indexed.width, indexed.height, 0xF7, 0, 0)
                       + palette  # global colour table: 256 entries of 8 bits
                       + b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\0")  # loop forever

    def close(self) -> None:
        """Write the trailer (a GIF needs at least one frame to be valid)."""
        self._fp.write(b";")
        self._fp.flush()


class Recorder:
    """Records a run on a PyBullet world into `directory` (see the module docstring).

    Lifecycle: construct (no I/O), `start()` once the control loop runs, `close()` before
    the world closes (it renders the final scene and finishes the GIF). Rendering happens on
    the loop thread, in loop listeners.

    Args:
        loop: the control loop that steps `world`.
        world: the world to render.
        directory: where to write (created if missing).
        camera: one of the world's cameras; None: its first.
        fps: GIF frames per second of simulation time (0 < fps <= 50).
        speedup: the GIF plays this many times faster than simulation time (a time-lapse
            of a long run); fps * speedup <= 50.
        tasks: returns, for each cell with a task in flight, cell id -> task id; called
            on the loop thread, so it must only read plain attributes.
        frame_size: GIF frame width, height in pixels.
        snapshot_size: snapshot width, height in pixels.

    Raises:
        ValueError: fps out of range; no such camera.
    """

    def __init__(self, loop: ControlLoop, world: SimWorld, directory: Path, *, camera: str | None = None,
                 fps: float = DEFAULT_FPS, speedup: float = 1.0,
                 tasks: Callable[[], Mapping[str, str]] = dict,
                 frame_size: tuple[int, int] = FRAME_SIZE,
                 snapshot_size: tuple[int, int] = SNAPSHOT_SIZE) -> None:
        if not 0 < fps <= MAX_FPS:
            raise ValueError(f"fps must be in (0, {MAX_FPS:g}] frames per simulated second, got {fps}")
        if not speedup > 0 or fps * speedup > MAX_FPS:
            raise ValueError(f"speedup {speedup:g} at {fps:g} fps plays {fps * speedup:g} frames a "
                             f"second; give speedup > 0 with fps * speedup <= {MAX_FPS:g}")
        cameras = world.spec.cameras
        name = camera if camera is not None else next(iter(cameras), None)
        if name is None or name not in cameras:
            raise ValueError(f"world {world.spec.name!r} has no camera {camera!r}; its cameras: "
                             f"{', '.join(cameras) or 'none'}")
        self.loop, self.world, self.directory = loop, world, Path(directory)
        self.camera, self.fps, self.speedup, self._tasks = name, fps, speedup, tasks
        self.frame_size, self.snapshot_size = frame_size, snapshot_size
        self.snapshots: list[Snapshot] = []
        self.frame_times_s: list[float] = []
        self._in_flight: dict[str, str] = {}
        self._file: IO[bytes] | None = None
        self._gif: GifStream | None = None
        self._render_s = self._encode_s = 0.0
        self._closed = False

    @property
    def gif_path(self) -> Path:
        return self.directory / GIF_NAME

    @property
    def index_path(self) -> Path:
        return self.directory / INDEX_NAME

    def start(self) -> None:
        """Open the GIF and start watching (call once the loop runs, or before)."""
        if self._file is not None:
            raise RuntimeError("the recorder is already started")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file = self.gif_path.open("wb")
        self._gif = GifStream(self._file, 1.0 / (self.fps * self.speedup))
        self.loop.add_listener(self._frame, 1.0 / self.fps, when_idle=False)
        self.loop.add_listener(self._watch, WATCH_S, when_idle=True)
        log.info("recording camera %s at %g fps of simulation time into %s", self.camera, self.fps,
                 self.directory)

    def close(self) -> Path:
        """Stop watching, render the final scene, finish the GIF and write the index;
        returns the index's path. Idempotent; call before the world closes."""
        if self._closed or self._file is None:
            return self.index_path
        self._closed = True
        self.loop.remove_listener(self._frame)
        self.loop.remove_listener(self._watch)
        try:
            self.loop.call(self._finish)
        finally:
            self._file.close()
        log.info("recorded %d GIF frames and %d snapshots into %s", len(self.frame_times_s),
                 len(self.snapshots), self.directory)
        return self.index_path

    # --- on the loop thread -----------------------------------------------------------
    def _busy(self) -> bool:
        return bool(self._in_flight) or any(c.busy() or c.has_pending_goal for c in self.loop.components)

    def _frame(self, now: float) -> None:
        if self._gif is None or not self._busy():
            return
        self._add_frame(now)

    def _add_frame(self, now: float) -> None:
        assert self._gif is not None
        started = time.perf_counter()
        rgb = capture(self.world.client, self.world.spec.cameras[self.camera], *self.frame_size)
        rendered = time.perf_counter()
        self._gif.append(rgb)
        self._render_s += rendered - started
        self._encode_s += time.perf_counter() - rendered
        self.frame_times_s.append(round(now, 4))

    def _watch(self, now: float) -> None:
        current = dict(self._tasks())
        for cell_id, task_id in self._in_flight.items():
            if current.get(cell_id) != task_id:
                self._snapshot(now, "end", cell_id, task_id)
        for cell_id, task_id in current.items():
            if self._in_flight.get(cell_id) != task_id:
                self._snapshot(now, "start", cell_id, task_id)
        self._in_flight = current

    def _snapshot(self, now: float, moment: str, cell_id: str = "", task_id: str = "") -> None:
        stem = "_".join(part for part in (f"t{now:08.3f}", cell_id, task_id, moment) if part)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem)[:150]
        name, n = f"{stem}.png", 1
        while (self.directory / name).exists():
            n += 1
            name = f"{stem}-{n}.png"
        write_png(self.directory / name,
                  capture(self.world.client, self.world.spec.cameras[self.camera], *self.snapshot_size))
        self.snapshots.append(Snapshot(name, round(now, 4), moment, cell_id, task_id))
        self._write_index()

    def _finish(self) -> None:
        now = self.loop.now_s()
        assert self._gif is not None
        if not self.frame_times_s:  # nothing moved: one still frame keeps the GIF valid
            self._add_frame(now)
        self._gif.close()
        self._snapshot(now, "final")

    def _write_index(self) -> None:
        frames = len(self.frame_times_s)
        data: dict[str, Any] = {
            "camera": self.camera,
            "fps_sim": self.fps,
            "speedup": self.speedup,
            "gif": {"file": GIF_NAME, "frames": frames, "size_px": list(self.frame_size),
                    "render_ms_per_frame": round(1000 * self._render_s / frames, 1) if frames else None,
                    "encode_ms_per_frame": round(1000 * self._encode_s / frames, 1) if frames else None,
                    "frame_times_s": self.frame_times_s},
            "snapshots": [{**asdict(s), "caption": s.caption} for s in self.snapshots],
            "note": (f"GIF frames every {1 / self.fps:g} s of simulation time while a component "
                     f"was busy or a task was in flight, shown at {self.speedup:g}x simulation "
                     f"speed; idle "
                     f"stretches are left out. Times are the loop's clock (simulation seconds)."),
        }
        tmp = self.index_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.index_path)
