"""How fast ``pause`` is applied, and that a paused instance's links carry no bytes from it.
Target: the pause inject in <= 10 ms (median); 0 bytes out of the instance while paused.

Prints figures; asserts nothing.

    .venv/bin/python bench/bench_pause.py [--cycles N] [--window SECONDS]

Brings up ``topology: {services: [ehr]}`` on the local backend and pauses the primary, ``ehr-a``:

* the time of ``Nemesis.inject`` of a planned ``pause`` fault (journal entry with its fsync,
  then SIGSTOP of the process group), of the bare ``backend.pause_instance`` (the signal only),
  and until the kernel shows the process stopped (``/proc/<pid>/stat`` state ``T``), each the
  median over ``--cycles`` pause/resume cycles;
* the bytes on the instance's links (Toxiproxy proxies), in windows of the same length before
  and during the pause, while a client sends ``GET /health`` through the ``frontdoor-ehr-a``
  link every 100 ms, each on a new connection kept open to the end of the window. Counted by
  the kernel on Toxiproxy's side of each link's TCP connection to or from the instance
  (``ss -tin``: ``bytes_received`` is what the instance sent, ``bytes_acked`` what it was sent
  and its kernel acknowledged), sampled every 10 ms through the window (a connection that
  opens and closes between two samples is missed, so the client keeps its own open). Bytes
  *from* the instance must be 0 while it is paused; bytes *to* it (the client's requests,
  HAProxy's health checks) still land in its kernel's socket buffers, where they wait for the
  heal. The client's own count of response bytes received during the window is printed too.

Why not Toxiproxy's own counters: its JSON API has none; its Prometheus endpoint
(``-proxy-metrics``) counts a connection's bytes only when the connection closes, so a window
would miss long-lived connections and count, in the pause, bytes of a connection that flowed
before it. ``/proc/<toxiproxy pid>/io`` counts every proxy and the API together.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.backends import Endpoints
    from harness.topology import Link

TARGET_MS = 10.0
SAMPLE_EVERY = 0.01
Counts = dict[tuple[str, str], tuple[int, int]]  # (local, peer) -> (bytes_received, bytes_acked)
FIELD = re.compile(r"\b(bytes_received|bytes_acked):(\d+)")


def sockets(filter_expr: str) -> Counts:
    """Toxiproxy's ends of the link connections that ``filter_expr`` (an ``ss`` filter) selects."""
    done = subprocess.run(["ss", "-tinHO", "state", "connected", filter_expr], capture_output=True, text=True,
                          check=True, timeout=5)
    found: Counts = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        fields = dict(FIELD.findall(line))
        if not fields:  # TIME-WAIT and the like: the kernel keeps no counts for them any more
            continue
        found[(parts[3], parts[4])] = (int(fields.get("bytes_received", 0)), int(fields.get("bytes_acked", 0)))
    return found


class Sampler:
    """Samples the kernel's byte counts of some TCP connections until stopped, keeping each
    connection's first and highest figures (a connection that closes keeps its last sample)."""

    def __init__(self, filter_expr: str) -> None:
        self._filter = filter_expr
        self._first = sockets(filter_expr)
        self._last = dict(self._first)
        self._stop = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _update(self) -> None:
        for key, (received, acked) in sockets(self._filter).items():
            old_received, old_acked = self._last.get(key, (0, 0))
            self._last[key] = (max(received, old_received), max(acked, old_acked))

    def _run(self) -> None:
        try:
            while not self._stop.wait(SAMPLE_EVERY):
                self._update()
        except BaseException as exc:  # reported by stop(): a sampler that died would count nothing
            self._failed = exc

    def stop(self) -> tuple[int, int, int]:
        """(bytes from the instance, bytes to it, connections seen) since the sampler started."""
        self._stop.set()
        self._thread.join(timeout=5)
        if self._failed is not None:
            raise RuntimeError(f"sampling {self._filter} failed: {self._failed}") from self._failed
        self._update()
        got = sent = 0
        for key, (received, acked) in self._last.items():
            start_received, start_acked = self._first.get(key, (0, 0))
            got += received - start_received
            sent += acked - start_acked
        return got, sent, len(self._last)


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def wait_state(pid: int, stopped: bool, budget: float = 2.0) -> float:
    """Seconds until the process is (or is no longer) stopped; polls without sleeping, bounded."""
    started = time.perf_counter()
    while (proc_state(pid) == "T") != stopped:
        if time.perf_counter() - started > budget:
            raise SystemExit(f"pid {pid} is {'not ' if stopped else ''}stopped after {budget} s")
    return time.perf_counter() - started


def client_bytes(host: str, port: int, window: float) -> tuple[int, int, list[socket.socket]]:
    """Send ``GET /health`` on a new keep-alive connection every 100 ms for ``window`` seconds;
    returns (requests sent, response bytes received during the window, the open connections).
    The connections stay open (so the sampler sees them) until the caller closes them."""
    request = f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    sockets: list[socket.socket] = []
    received = 0
    deadline = time.monotonic() + window
    try:
        while time.monotonic() < deadline:
            sock = socket.create_connection((host, port), timeout=1)
            sockets.append(sock)
            sock.sendall(request)
            sock.setblocking(False)
            pause_until = min(deadline, time.monotonic() + 0.1)
            while time.monotonic() < pause_until:
                for s in sockets:
                    with contextlib.suppress(BlockingIOError):  # nothing yet: the answer may still come
                        received += len(s.recv(65536))
                time.sleep(0.005)
    except BaseException:
        for s in sockets:
            s.close()
        raise
    return len(sockets), received, sockets


def link_window(filters: dict[str, str], traffic: Callable[[], tuple[int, int, list[socket.socket]]]
                ) -> tuple[dict[str, tuple[int, int, int]], int, int]:
    """Bytes on each group of connections while ``traffic`` runs; with its (requests, response
    bytes). The client's connections close only after the last sample."""
    samplers = {name: Sampler(expr) for name, expr in filters.items()}
    requests, received, opened = traffic()
    try:
        return {name: sampler.stop() for name, sampler in samplers.items()}, requests, received
    finally:
        for sock in opened:
            sock.close()


def link_filters(endpoints: Endpoints, links: list[Link], target: str) -> dict[str, str]:
    """``ss`` filters selecting Toxiproxy's end of each link connection to or from ``target``.

    Links into the instance share its port (Toxiproxy dials it from an ephemeral port, so one
    such connection cannot be told from another link's): they are one group, selected by the
    destination port. A link out of it is selected by its listen port (the source port of
    Toxiproxy's accepted end)."""
    into = [link for link in links if link.target == target]
    groups: dict[int, list[str]] = {}
    for link in into:
        groups.setdefault(endpoints.links[link.name].upstream_port, []).append(link.name)
    filters = {f"into it ({', '.join(names)})": f"( dport = :{port} )" for port, names in groups.items()}
    for link in links:
        if link.source == target:
            filters[f"out of it ({link.name})"] = f"( sport = :{endpoints.links[link.name].listen_port} )"
    return filters


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:6.2f} ms (max {max(values) * 1e3:6.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=20, help="pause/resume cycles timed")
    parser.add_argument("--window", type=float, default=1.0, help="seconds of traffic counted, before and paused")
    args = parser.parse_args()

    from harness.backends.local import LocalBackend, LocalOptions
    from harness.experiment.faults import PauseFault
    from harness.faults import Nemesis, plan_fault
    from harness.run.journal import Journal
    from harness.topology import reference_topology

    topology = reference_topology(("ehr",))
    target = next(i.name for i in topology.instances if i.service == "ehr" and i.role == "primary")
    links = [link for link in topology.links if target in (link.source, link.target)]
    with tempfile.TemporaryDirectory(prefix="hchaos-bench-pause-") as tmp:
        run_dir = Path(tmp)
        journal = Journal(run_dir, "bench-pause")
        backend = LocalBackend(topology, run_dir, options=LocalOptions(), journal=journal)
        try:
            endpoints = backend.up()
            nemesis = Nemesis(endpoints, backend, journal)
            pid = backend.supervisor.process(target).pid
            fault = plan_fault(PauseFault(type="pause", target=target, duration=5, name="freeze"), "freeze", topology)
            inject_s, signal_s, stopped_s = [], [], []
            for _ in range(args.cycles):  # each pause a few ms, far below the standby's promote_after
                started = time.perf_counter()
                nemesis.inject(fault)
                inject_s.append(time.perf_counter() - started)
                stopped_s.append(time.perf_counter() - started + wait_state(pid, stopped=True))
                nemesis.heal(fault)
                wait_state(pid, stopped=False)
                time.sleep(0.1)
                started = time.perf_counter()
                backend.pause_instance(target)
                signal_s.append(time.perf_counter() - started)
                wait_state(pid, stopped=True)
                backend.resume_instance(target)
                wait_state(pid, stopped=False)
                time.sleep(0.1)

            filters = link_filters(endpoints, links, target)
            front = endpoints.links[f"frontdoor-{target}"]
            traffic = partial(client_bytes, front.listen_host, front.listen_port, args.window)
            running, run_requests, run_received = link_window(filters, traffic)
            nemesis.inject(fault)
            wait_state(pid, stopped=True)
            time.sleep(0.05)  # what the instance wrote just before the signal may still be in flight
            paused, paused_requests, paused_received = link_window(filters, traffic)
            nemesis.heal(fault)
            wait_state(pid, stopped=False)
            nemesis.close()
        finally:
            backend.down()
            journal.close()

    print(f"pause of {target} (local backend, services: [ehr]), median of {args.cycles} cycles"
          f" (target <= {TARGET_MS:.0f} ms):")
    print(f"  Nemesis.inject (journal fsync + SIGSTOP)   {ms(inject_s)}")
    print(f"  backend.pause_instance (SIGSTOP only)      {ms(signal_s)}")
    print(f"  inject until /proc state T (stopped)       {ms(stopped_s)}")
    print(f"bytes on {target}'s links in {args.window:.1f} s, kernel counts of Toxiproxy's connections,"
          " running vs paused (target: 0 from it while paused):")
    width = max(len(name) for name in filters)
    for name in filters:
        row = [f"  {name:<{width}}"]
        for label, counts in (("running", running), ("paused", paused)):
            got, sent, seen = counts[name]
            row.append(f"{label}: from it {got:7d} B, to it {sent:7d} B ({seen:2d} conns)")
        print("  ".join(row))
    total = {label: [sum(c[name][i] for name in filters) for i in (0, 1)]
             for label, c in (("running", running), ("paused", paused))}
    print(f"  {'all its links':<{width}}  " + "  ".join(
        f"{label}: from it {t[0]:7d} B, to it {t[1]:7d} B           " for label, t in total.items()).rstrip())
    print(f"client through frontdoor-{target}: running {run_requests} requests, {run_received} response bytes;"
          f" paused {paused_requests} requests, {paused_received} response bytes")


if __name__ == "__main__":
    main()
