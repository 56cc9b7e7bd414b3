"""Opt-in memory tracing for soaks: where does a long-running process's memory go?

Off unless ``HCHAOS_TRACEMALLOC=<directory>`` is in the environment (``bench/bench_soak.py
--tracemalloc`` sets it for the runner and, through the environment they inherit, every
service). Then :func:`start_from_environment` starts :mod:`tracemalloc` and a daemon thread
that, every ``HCHAOS_TRACEMALLOC_INTERVAL`` seconds (default 60), appends a report to
``<directory>/<pid>.txt``:

* the process's VmRSS, the bytes tracemalloc sees (Python's allocations: an RSS that grows
  while these stay flat is the C allocator's or a C library's, not a Python object kept);
* the live objects by type whose count changed most since the *baseline*;
* every httpcore connection pool, with its connections by state (a pool that only grows, or
  connections stuck ``ACTIVE``/``CONNECTING``, are leaks that hold sockets);
* the top allocation sites by traceback, as the difference from the baseline, the snapshot
  taken one interval after start (a warm-up: imports, pools, first caches), so that what keeps
  growing rises to the top and what was allocated once does not show. Each site is shown by
  its innermost frame and the project's own frames under it.

The file's first line is the command line, so a reader can tell the services apart.
``HCHAOS_TRACEMALLOC_FRAMES=0`` skips allocation tracing (object counts and pools only, at
almost no cost). Tracing slows allocations and costs memory of its own, counted in RSS: use it
to find a leak, not to measure one; the figures of a soak come from a run without it.
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

ENV = "HCHAOS_TRACEMALLOC"
INTERVAL_ENV = "HCHAOS_TRACEMALLOC_INTERVAL"
FRAMES_ENV = "HCHAOS_TRACEMALLOC_FRAMES"
FRAMES = 12  # enough to reach the project's own code from inside a library
TOP = 20
TOP_TYPES = 15
PROJECT_FRAMES = 5
_PROJECT = str(Path(__file__).resolve().parents[2]) + "/"
_IGNORED = (tracemalloc.__file__, "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
_started = threading.Event()


def _rss_kib() -> int:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def _types() -> collections.Counter[str]:
    return collections.Counter(type(obj).__qualname__ for obj in gc.get_objects())


def _snapshot() -> tracemalloc.Snapshot | None:
    if not tracemalloc.is_tracing():
        return None
    return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, name) for name in _IGNORED])


def report(baseline: tracemalloc.Snapshot | None, base_types: collections.Counter[str], elapsed: float) -> str:
    """One report: RSS, traced bytes, object counts, pools and allocation sites against the baseline."""
    snapshot = _snapshot()
    types = _types()
    current, peak = tracemalloc.get_traced_memory()
    lines = [f"=== t={elapsed:.0f}s rss={_rss_kib()} KiB traced={current / 1024:.0f} KiB (peak {peak / 1024:.0f})",
             "objects by type, now (change since baseline):"]
    changed = sorted(types, key=lambda name: abs(types[name] - base_types.get(name, 0)), reverse=True)
    for name in changed[:TOP_TYPES]:
        lines.append(f"  {name:<40} {types[name]:>8} ({types[name] - base_types.get(name, 0):+d})")
    lines += _pools()
    if snapshot is not None and baseline is not None:
        lines.append(f"top {TOP} allocation sites by growth since baseline (innermost frame, then the project's):")
        for stat in snapshot.compare_to(baseline, "traceback")[:TOP]:
            lines.append(f"  {stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks "
                         f"(now {stat.size / 1024:.1f} KiB)")
            lines += [f"      {frame.filename.removeprefix(_PROJECT)}:{frame.lineno}" for frame in _shown(stat)]
    return "\n".join(lines) + "\n"


def _shown(stat: tracemalloc.StatisticDiff) -> list[tracemalloc.Frame]:
    frames = list(reversed(stat.traceback))  # innermost first
    ours = [f for f in frames[1:] if f.filename.startswith(_PROJECT) and "site-packages" not in f.filename]
    return frames[:1] + ours[:PROJECT_FRAMES]


def _pools() -> list[str]:
    """httpcore connection pools with their connections by state, and connections in no pool."""
    httpcore = sys.modules.get("httpcore")
    if httpcore is None:
        return []
    objects = gc.get_objects()
    pools = [o for o in objects if isinstance(o, httpcore.AsyncConnectionPool | httpcore.ConnectionPool)]
    pooled = {id(c) for pool in pools for c in pool.connections}
    connections = (httpcore.AsyncHTTPConnection, httpcore.HTTPConnection)
    loose = sum(1 for o in objects if isinstance(o, connections) and id(o) not in pooled)
    lines = [f"connection pools: {len(pools)}, connections in no pool: {loose}"]
    for pool in pools:
        states = collections.Counter(_state(repr(c)) for c in pool.connections)
        lines.append(f"  {pool!r} {dict(states)}")
    return lines


def _state(text: str) -> str:
    for state in ("ACTIVE", "IDLE", "CLOSED", "NEW", "CONNECTING", "CONNECTION FAILED"):
        if state in text:
            return state
    return text[:40]


def _loop(path: Path, interval: float) -> None:
    started = time.monotonic()
    time.sleep(interval)
    gc.collect()
    baseline, base_types = _snapshot(), _types()
    with path.open("a") as out:
        out.write(f"=== baseline t={time.monotonic() - started:.0f}s rss={_rss_kib()} KiB\n")
    while True:
        time.sleep(interval)
        gc.collect()
        text = report(baseline, base_types, time.monotonic() - started)
        with path.open("a") as out:
            out.write(text)


def start_from_environment() -> bool:
    """Start the reports if ``HCHAOS_TRACEMALLOC`` names a directory (created if need be);
    True if started by this call. Idempotent; never raises for a bad setting (it is a tool)."""
    target = os.environ.get(ENV)
    if not target or _started.is_set():
        return False
    try:
        interval = float(os.environ.get(INTERVAL_ENV, "60"))
        frames = int(os.environ.get(FRAMES_ENV, str(FRAMES)))
        directory = Path(target)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{os.getpid()}.txt"
        path.write_text(" ".join(sys.argv) + "\n")
    except (ValueError, OSError) as error:
        print(f"{ENV}: not tracing ({error})", file=sys.stderr)
        return False
    _started.set()
    if frames > 0 and not tracemalloc.is_tracing():
        tracemalloc.start(frames)
    threading.Thread(target=_loop, args=(path, max(1.0, interval)), name="memtrace", daemon=True).start()
    return True
