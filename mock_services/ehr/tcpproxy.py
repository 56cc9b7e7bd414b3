"""A tiny TCP link for process tests: forward 127.0.0.1:port to a target, with latency or cut.

The harness puts a real Toxiproxy on every link; process tests of the EHR alone need only two
of its powers, without the binary: *latency* (every chunk is delivered ``latency`` seconds
after it was read, in order, in each direction) and *cut* (every open connection is closed
and data in flight is dropped -- as when a data center loses power -- and new connections
are closed at once until :meth:`TcpProxy.heal`).

Runs its own asyncio loop in a daemon thread; the setters are thread-safe. Use as a context
manager (``with TcpProxy(target_port) as proxy: proxy.port``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from types import TracebackType

CHUNK = 65536


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.latency = 0.0  # seconds; read by the proxy thread for every chunk
        self._cut = False
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tcpproxy->{target_port}", daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        if not self._ready.wait(5.0):
            raise RuntimeError("the TCP proxy did not start within 5 s")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)

    def cut(self) -> None:
        """Drop every connection (and what is in flight) and refuse new ones until healed."""
        self._cut = True
        done = threading.Event()

        def close_all() -> None:
            for writer in list(self._writers):
                writer.transport.abort()
            done.set()

        self._loop.call_soon_threadsafe(close_all)
        done.wait(2.0)

    def heal(self) -> None:
        self._cut = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            for writer in list(self._writers):
                writer.transport.abort()
            self._server.close()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        try:
            await asyncio.gather(self._pump(reader, upstream_writer), self._pump(upstream_reader, writer))
        finally:
            for end in (writer, upstream_writer):
                self._writers.discard(end)
                end.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction, each chunk held back by the latency at the time it was read."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                try:
                    data = await reader.read(CHUNK)
                except OSError:
                    data = b""
                await queue.put((time.monotonic() + self.latency, data))
                if not data:
                    break
            await sender
        except OSError:
            pass
        finally:
            sender.cancel()
