"""Traffic for the slow-removal scenarios (Toxiproxy issue #558), shared by
tests/toxiproxy/test_toxic_removal.py and bench/bench_toxic_heal.py: an upstream that answers in
several TCP writes (each its own Toxiproxy chunk, so a latency toxic holds several), the request,
and the client-side helpers."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

REQUEST = b"GET /parts HTTP/1.1\r\nHost: ehr\r\n\r\n"
PART = b"p" * 1000
"""One TCP write of a /parts answer."""


class PartsUpstream:
    """HTTP/1.1 keep-alive server on 127.0.0.1. ``GET /parts`` is answered in ``parts`` TCP
    writes 10 ms apart; ``GET /stream`` with data without end. While ``reset_new_after`` is
    set, connections accepted then are reset (RST) that many seconds after acceptance."""

    def __init__(self, parts: int) -> None:
        self.parts = parts
        self.reset_new_after: float | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            if self.reset_new_after is not None:
                threading.Timer(self.reset_new_after, reset_close, args=(conn,)).start()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one write, one chunk
        buffer = b""
        with contextlib.suppress(OSError):
            while data := conn.recv(65536):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    request, buffer = buffer.split(b"\r\n\r\n", 1)
                    if request.split(b" ")[1:2] == [b"/stream"]:
                        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
                        while True:
                            conn.sendall(b"s" * 16384)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(PART) * self.parts) + PART)
                    for _ in range(self.parts - 1):
                        time.sleep(0.01)
                        conn.sendall(PART)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()


def reset_close(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as HAProxy and killed processes with unread data do."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_answer(sock: socket.socket) -> bytes:
    """Read one /parts answer (headers + Content-Length body) and return its body; raises
    OSError or EOFError."""
    data = b""
    while b"\r\n\r\n" not in data:
        if not (chunk := sock.recv(65536)):
            raise EOFError("connection closed before the headers")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        if not (chunk := sock.recv(65536)):
            raise EOFError("connection closed mid-body")
        body += chunk
    return body
