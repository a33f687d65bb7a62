"""A TCP proxy on loopback that delays, stalls or cuts a link: a slow or lossy network between
a cell and its devices, for tests and for the sim-to-real gate.

    proxy = DelayProxy("127.0.0.1", 4840, latency_s=0.02, jitter_s=0.01, seed=1)
    port = proxy.start()          # clients connect to 127.0.0.1:<port>
    proxy.stall()                 # bytes stop flowing both ways (a link that hangs)
    proxy.resume()
    proxy.cut()                   # every connection is closed at once (a link that drops)
    proxy.stop()

Each chunk of bytes is held `latency_s` ± uniform `jitter_s` (seeded) from when it arrived
before it is passed on, in order: a chunk never overtakes an earlier one on its connection,
as on a real TCP link. Reading goes on while chunks wait, so delays do not add up.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time

from cellwright.api.loopthread import LoopThread

START_TIMEOUT_S = 10.0


class DelayProxy:
    """Forward 127.0.0.1:<port> to `target_host:target_port` with a delay per direction."""

    def __init__(self, target_host: str, target_port: int, *, latency_s: float = 0.0,
                 jitter_s: float = 0.0, seed: int = 0, listen_host: str = "127.0.0.1",
                 listen_port: int = 0) -> None:
        if latency_s < 0 or jitter_s < 0 or jitter_s > latency_s:
            raise ValueError(f"latency_s {latency_s} and jitter_s {jitter_s} must be >= 0 with "
                             f"jitter_s <= latency_s (a delay is never negative)")
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.latency_s, self.jitter_s = latency_s, jitter_s
        self.port = listen_port
        self.chunks_passed = 0
        """Chunks passed on so far, both ways (a test can tell that traffic went through)."""
        self._random = random.Random(seed)
        self._flowing = threading.Event()
        self._flowing.set()
        self._async = LoopThread("delay-proxy")
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> int:
        """Listen (on `listen_port`, or a free one) and return the port clients connect to."""
        self._async.start()
        return self._async.run(self._start(), START_TIMEOUT_S)

    def stall(self) -> None:
        """Stop passing bytes on (connections stay open, as when a cable is pulled)."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        """Close every open connection at once (new ones are still accepted)."""
        self._async.run(self._cut(), START_TIMEOUT_S)

    def stop(self) -> None:
        """Close the listener and every connection; end the thread."""
        if self._async.running:
            self._async.run(self._stop(), START_TIMEOUT_S)
        self._async.stop(START_TIMEOUT_S)

    @property
    def url_host_port(self) -> str:
        return f"{self.listen_host}:{self.port}"

    # --- asyncio thread ---------------------------------------------------------------
    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self.listen_host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction: read on, while a sender passes each chunk on when it is due."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        sender = asyncio.create_task(self._send(queue, writer))
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + self._delay(), chunk))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait(None)
            await sender

    async def _send(self, queue: asyncio.Queue[tuple[float, bytes] | None], writer: asyncio.StreamWriter) -> None:
        due_last = 0.0
        try:
            while (item := await queue.get()) is not None:
                due, chunk = item
                due_last = max(due, due_last)  # in order, as TCP delivers
                await asyncio.sleep(max(0.0, due_last - time.monotonic()))
                while not self._flowing.is_set():
                    await asyncio.sleep(0.01)
                writer.write(chunk)
                self.chunks_passed += 1
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _delay(self) -> float:
        return self.latency_s + (self._random.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0)

    async def _cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut()
        if self._server is not None:
            await self._server.wait_closed()
