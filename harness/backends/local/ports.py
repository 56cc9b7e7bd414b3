"""Port allocation on the loopback interface.

Free ports come from the kernel (bind to port 0) and are released just before the
processes bind them; the window is short, and a lost race shows up as a process that
fails its readiness check with the reason in its log. Ports the user fixed are checked up
front so that "port already taken" is reported before anything starts.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from harness.errors import InfrastructureError

LOOPBACK = "127.0.0.1"


class PortInUse(InfrastructureError):
    """A port the run needs is already bound by another program."""


def allocate_free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct ports that were free on ``host`` a moment ago."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def ensure_ports_free(ports: Mapping[str, int], host: str = LOOPBACK) -> None:
    """Raise :class:`PortInUse` naming every fixed port (``purpose -> port``) that is taken."""
    taken: list[str] = []
    for purpose, port in ports.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            taken.append(f"{host}:{port} ({purpose}): {exc.strerror}")
        finally:
            sock.close()
    if taken:
        raise PortInUse("port(s) already in use: " + "; ".join(taken),
                        hint="stop the program holding it (ss -ltnp shows it), or choose another port")
