"""Skewed clocks for the local backend: libfaketime preloaded, driven through a timestamp file.

An instance that a ``clock_skew`` fault of the experiment targets is *started* under
libfaketime (``LD_PRELOAD`` must be set when a process starts), reading its setting from its
own timestamp file ``<run>/clock/<instance>.faketime`` on every clock call
(``FAKETIME_NO_CACHE=1``). The file says ``+0 x1`` (true time) until the inject rewrites it,
and again after the heal (or ``hchaos rollback``).

What was checked on Debian's libfaketime 0.9.10 with CPython 3.11 (tests/backends/
test_clock_disk_local.py keeps checking it):

* ``time.time()`` / ``datetime.now()`` (``clock_gettime(CLOCK_REALTIME)``) follow the file
  within one call of its rewrite.
* ``FAKETIME_DONT_FAKE_MONOTONIC=1`` keeps ``CLOCK_MONOTONIC`` true, so timeouts, asyncio's
  loop, ``Event.wait`` and ``select`` are not skewed. Without it libfaketime 0.9.10 turns the
  monotonic clock into the wall clock, and a jump then hangs ``threading.Event.wait``.
* Known libfaketime 0.9.10 bug (upstream issue #426): with monotonic excluded,
  ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`` gets a wrong deadline and fails with
  EINVAL, so in a skewed process Python >= 3.11's ``time.sleep`` and ``Popen.wait(timeout)``
  raise ``OSError: [Errno 22]``. Our mock services sleep only through asyncio and events;
  a user service that calls ``time.sleep`` cannot be clock-skewed with this libfaketime.
* A setting without ``x<rate>`` keeps the previous rate, so every setting written here has
  an explicit rate (``x1`` for true speed).
* The rate applies from the moment the library initialised (the process start), not from the
  file's rewrite: ``+0 x2`` written 10 s after the start shows the clock 10 s ahead at once.
  :func:`faketime_setting` compensates with the process's age, so a drift starts at the inject
  (to within the process's own start-up time times ``rate - 1``). ``FAKETIME_XRESET`` would do
  that too, but on 0.9.10 it then ignores every later setting, the heal's included.
* ``FAKETIME`` in the environment overrides the file: the harness's own environment must not
  set it (the supervisor passes its environment on).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NEUTRAL = "+0 x1"
"""The timestamp file's content when the clock is not skewed: no offset, true speed."""

CLOCK_DIR = "clock"


def clock_file(run_dir: Path, instance: str) -> Path:
    """Where the timestamp file of ``instance`` lives in the run folder."""
    return run_dir / CLOCK_DIR / f"{instance}.faketime"


def faketime_setting(offset: float, rate: float, running_for: float) -> str:
    """The libfaketime setting that puts a process's clock ``offset`` seconds off *now* and
    makes it run at ``rate`` from now on, for a process whose libfaketime started
    ``running_for`` seconds ago (see the module docstring for why the age matters)."""
    shift = offset - max(running_for, 0.0) * (rate - 1.0)
    return f"{shift:+.3f} x{rate:g}"


def write_setting(path: Path, setting: str) -> None:
    """Replace the timestamp file atomically (write, fsync, rename): libfaketime re-reads it on
    every clock call and must never see it half written or missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="ascii") as handle:
        handle.write(setting + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_setting(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()


@dataclass(frozen=True)
class FaketimeClock:
    """How one instance's process is started under libfaketime."""

    library: Path
    """``libfaketime.so.1`` (:func:`harness.tools.find_libfaketime`)."""
    timestamp_file: Path

    def env(self, inherited: Mapping[str, str]) -> dict[str, str]:
        """The variables to add to the process's environment; ``inherited`` is the environment
        it would otherwise get (a ``LD_PRELOAD`` already there is kept, after libfaketime)."""
        preload = " ".join(p for p in (str(self.library), inherited.get("LD_PRELOAD", "")) if p)
        return {
            "LD_PRELOAD": preload,
            "FAKETIME_TIMESTAMP_FILE": str(self.timestamp_file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }
