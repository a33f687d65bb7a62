"""`Poller`: a thread that owns a device's `Link`: queued writes first, then one read,
every period. The control loop never waits on the network: it reads `latest` and
`failure`, and queues writes that go out at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cellwright.robots.drivers.modbus._link import DeviceError, Link

S = TypeVar("S")


@dataclass(frozen=True)
class Polled(Generic[S]):
    """A device's state as read by poll number `count`, after the writes up to `acked` (the
    number `Poller.write` returned) had been answered."""

    count: int
    acked: int
    state: S


@dataclass(frozen=True)
class _Write:
    seq: int
    what: str
    send: Callable[[Link], None]


class Poller(Generic[S]):
    """Polls one device at `period_s` on its own thread until closed or failed.

    A request that fails (no connection, no answer within the link's timeout, a Modbus
    exception) is a missed poll; writes that did not go out stay queued. After
    `max_missed` missed polls in a row the poller stops and `failure` says why.

    Args:
        link: connected; the first state was read with it (`first`).
        read: reads the device's state (raises DeviceError).
    """

    def __init__(self, link: Link, read: Callable[[Link], S], first: S, *, period_s: float,
                 max_missed: int, name: str) -> None:
        self._link, self._read = link, read
        self.period_s, self.max_missed = period_s, max_missed
        self.latest: Polled[S] = Polled(0, 0, first)
        self.failure = ""
        """Why polling stopped ("" while it runs): "<what> at <host>:<port>: <why>"."""
        self._writes: list[_Write] = []
        self._seq = 0
        self._closing = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def write(self, what: str, send: Callable[[Link], None]) -> int:
        """Queue a write (any thread, never blocks); it goes out before the next read.
        Returns its number, which `Polled.acked` reaches once the device has answered it."""
        with self._wake:
            self._seq += 1
            self._writes.append(_Write(self._seq, what, send))
            self._wake.notify_all()
            return self._seq

    def wait_for(self, done: Callable[[Polled[S]], bool], timeout_s: float) -> Polled[S] | None:
        """Block until a poll satisfies `done` (the latest one first), polling fails, or
        `timeout_s` of wall time passes; returns that poll, or None."""
        deadline = time.monotonic() + timeout_s
        with self._wake:
            while not done(self.latest):
                left = deadline - time.monotonic()
                if self.failure or left <= 0:
                    return None
                self._wake.wait(left)
            return self.latest

    def close(self) -> None:
        """Send the queued writes (a last stop), stop polling and disconnect (any thread;
        waits at most a few requests' timeouts)."""
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(self._link.endpoint.timeout_s * (len(self._writes) + 2) + 1.0)

    def _flush(self, writes: list[_Write]) -> None:
        """Closing: send what is queued once, best effort (the device may be gone)."""
        for write in writes:
            try:
                write.send(self._link)
            except DeviceError:
                return

    def _run(self) -> None:
        missed, acked, count = 0, 0, 0
        due = time.monotonic()
        try:
            while True:
                with self._wake:  # queued writes go at once, except right after a miss
                    while (not self._closing and (missed or not self._writes)
                           and time.monotonic() < due):
                        self._wake.wait(max(0.0, due - time.monotonic()))
                    writes, closing = list(self._writes), self._closing
                if closing:
                    self._flush(writes)
                    return
                due = time.monotonic() + self.period_s
                try:
                    for write in writes:
                        write.send(self._link)
                        acked = write.seq
                        with self._wake:
                            self._writes.remove(write)
                    state = self._read(self._link)
                except DeviceError as exc:
                    missed += 1
                    if missed >= self.max_missed:
                        with self._wake:
                            self.failure = f"{exc} ({missed} polls in a row failed)"
                            self._wake.notify_all()
                        return
                    continue
                missed, count = 0, count + 1
                with self._wake:
                    self.latest = Polled(count, acked, state)
                    self._wake.notify_all()
        finally:
            self._link.close()
