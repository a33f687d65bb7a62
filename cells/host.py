"""A world host: one process, one environment (world and control loop), several cells.

Cells that share a PyBullet world must live in one process (two processes cannot share a
PyBullet connection). Each cell keeps its own gRPC session, PackML machine, skill thread
and state topics; only the world, its clock and the loop are shared. A cell on real
hardware is hosted the same way, alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cellwright.cells.config import CellConfig
from cellwright.cells.controller import CellController, resolve_skills
from cellwright.cells.environment import Environment
from cellwright.cells.shutdown import build, shut_down

if TYPE_CHECKING:
    from cellwright.cells.recording import Recorder


class WorldHost:
    """Hosts `configs` (which must name the same world, seed and clock) in one environment.

    Args:
        configs: the cells' configurations; their cell ids must differ.
        orchestrator: host:port every cell connects to.
        gui: show the PyBullet GUI.
        snapshot: write a PNG of the final scene on shutdown.
        record: record the run into this directory: a GIF of one camera while something
            moves, and snapshots when tasks start and end (cells/recording.py).
        record_camera: the world camera to record; None: the world's first.
        record_fps: GIF frames per second of simulation time.
        record_speedup: the GIF plays this many times faster than simulation time.

    Raises:
        ValueError: no configs, equal cell ids, unknown skills, or `record` without a
            PyBullet world.
    """

    def __init__(self, configs: Sequence[CellConfig], orchestrator: str, *, gui: bool = False,
                 snapshot: Path | None = None, record: Path | None = None,
                 record_camera: str | None = None, record_fps: float = 4.0,
                 record_speedup: float = 1.0) -> None:
        ids = [c.cell_id for c in configs]
        if not ids:
            raise ValueError("a world host needs at least one cell config")
        if len(set(ids)) != len(ids):
            raise ValueError(f"cell ids must differ within a host, got {ids}")
        for config in configs:
            resolve_skills(config)  # fail before building anything
        if record is not None:
            from cellwright.cells.recording import check_recordable

            check_recordable(configs)
        self.configs, self.orchestrator = list(configs), orchestrator
        self._gui, self._snapshot = gui, snapshot
        self._record, self._record_camera = record, record_camera
        self._record_fps, self._record_speedup = record_fps, record_speedup
        self.environment: Environment | None = None
        self.controllers: list[CellController] = []
        self.recorder: Recorder | None = None

    async def run(self) -> None:
        """Build the environment, run every cell until cancelled, then shut down."""
        self.environment = await build(lambda: Environment.build(self.configs, gui=self._gui),
                                       Environment.close)
        try:
            self.environment.start()
            if self._record is not None:
                from cellwright.cells.recording import Recorder

                self.recorder = Recorder(self.environment.loop, self.environment.world, self._record,
                                         camera=self._record_camera, fps=self._record_fps,
                                         speedup=self._record_speedup,
                                         tasks=self._in_flight)
                self.recorder.start()
            self.controllers = [CellController(c, self.orchestrator, environment=self.environment)
                                for c in self.configs]
            tasks = [asyncio.create_task(c.run(), name=c.config.cell_id) for c in self.controllers]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            await shut_down(self._close)

    def _in_flight(self) -> dict[str, str]:
        """Cell id -> the task it runs, for cells with one in flight (the recorder calls
        this on the loop thread: plain attribute reads only)."""
        tasks: dict[str, str] = {}
        for controller in self.controllers:
            try:
                current = controller.tasks.current
            except (AssertionError, AttributeError):  # not running yet
                continue
            if current is not None:
                tasks[controller.config.cell_id] = current.task_id
        return tasks

    def _close(self) -> None:
        assert self.environment is not None
        try:
            if self.recorder is not None:
                self.recorder.close()  # renders the final scene: before the world closes
        finally:
            try:
                if self._snapshot is not None:
                    self.environment.render_png(self._snapshot)
            finally:
                self.environment.close()
