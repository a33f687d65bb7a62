"""Starting the orchestrator and cells as separate processes (demo, tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

LISTENING = "cellwright orchestrator listening on "


class Process:
    """A child process whose output goes to a log file; stopped gently, then killed."""

    def __init__(self, name: str, args: Sequence[str], log_path: Path, *,
                 capture_stdout: bool = False, preexec_fn: Callable[[], None] | None = None) -> None:
        self.name = name
        self.log_path = log_path
        self._pump: threading.Thread | None = None
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "cellwright", *args],
            stdout=subprocess.PIPE if capture_stdout else self._log,
            stderr=self._log, env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=preexec_fn)

    def read_until(self, prefix: str, timeout_s: float) -> str:
        """Wait for a stdout line starting with `prefix`; copy the rest of stdout to the log."""
        stdout = self.popen.stdout
        assert stdout is not None
        found: list[str] = []
        done = threading.Event()

        def pump() -> None:
            with stdout:
                for raw in stdout:
                    self._log.write(raw)
                    self._log.flush()
                    line = raw.decode(errors="replace").strip()
                    if not done.is_set() and line.startswith(prefix):
                        found.append(line)
                        done.set()
            done.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        if not done.wait(timeout_s) or not found:
            raise RuntimeError(f"{self.name} did not start (see {self.log_path}): "
                               f"{self.tail_log()}")
        return found[0]

    def tail_log(self, lines: int = 15) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as in a crash."""
        self.popen.kill()
        self.popen.wait()
        self._close()

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, wait, then SIGKILL; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._close()
        return self.popen.returncode

    def _close(self) -> None:
        if self._pump is not None:
            self._pump.join(5)
        self._log.close()


def start_orchestrator(db: Path, log_path: Path, *, listen: str = "127.0.0.1:0",
                       extra: Sequence[str] = (), timeout_s: float = 60.0,
                       preexec_fn: Callable[[], None] | None = None) -> tuple[Process, str]:
    """Start `cellwright orchestrator serve`; returns the process and its host:port.
    `preexec_fn` runs in the child before it starts (e.g. to set resource limits)."""
    process = Process("orchestrator", ["orchestrator", "serve", "--listen", listen,
                                       "--db", str(db), *extra], log_path, capture_stdout=True,
                      preexec_fn=preexec_fn)
    line = process.read_until(LISTENING, timeout_s)
    address = line.removeprefix(LISTENING).split()[0]
    return process, address


def start_cell(config: Path, orchestrator: str, log_path: Path, *,
               snapshot: Path | None = None, gui: bool = False) -> Process:
    """Start `cellwright cell run`; it connects by itself (check with ListCells)."""
    args = ["cell", "run", "--config", str(config), "--orchestrator", orchestrator]
    if snapshot is not None:
        args += ["--snapshot", str(snapshot)]
    if gui:
        args.append("--gui")
    return Process("cell", args, log_path)
