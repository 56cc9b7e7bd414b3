"""The base snapshot: synthetic patients and clinical data loaded at start-up (``--patients N``).

How it meets replication (the design decision):

* The base snapshot is **not** part of the replicated log. Both instances of a pair are
  started with the same ``--seed``/``--patients`` and generate the same data themselves
  (:mod:`mock_services.synthetic` is deterministic), storing it at lsn 0 with byte-identical
  bodies: ``meta.versionId`` "1", ``meta.lastUpdated`` the generator's or
  :data:`BASE_LAST_UPDATED`, ``meta.source`` :data:`BASE_SOURCE`. Shipping 300 000 resources
  through the replication link would take minutes and would be a fault scenario of its own.
* The load is ONE transaction that also records the snapshot's *descriptor*
  (``synthetic seed=S patients=N``) in the ``meta`` table: a process killed mid-load leaves
  no base at all and loads again at its next start; a completed load is skipped at the next
  start (``base-present``).
* A store holding a different base, or writes but no base, refuses to start
  (:class:`BaseMismatch`): serving different data on the two sides would look like
  replication loss to every checker.
* A resync replaces the log only; the base stays. Writes may update base resources (the
  superseded base version is kept for vread and for rewinding).
* The descriptor is part of ``/_replication/status`` (``base``) and the primary logs
  ``base-mismatch`` if its standby's differs.

Progress goes to stderr as ``base-load-start``, ``base-load-progress`` (every
:data:`PROGRESS_EVERY` seconds) and ``base-load-done`` lines.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Iterable
from typing import Any, Protocol

from mock_services.ehr.eventlog import log_event
from mock_services.ehr.store import Store

BASE_LAST_UPDATED = "2024-08-03T00:00:00.000000Z"
BASE_SOURCE = "synthetic#0"  # "<who>#<epoch>" like every write; epoch 0 = before any primary
PROGRESS_EVERY = 1.0  # seconds between progress lines


class Dataset(Protocol):
    """The part of :class:`mock_services.synthetic.SyntheticData` the EHR loads."""

    def patients(self) -> Iterable[dict[str, Any]]: ...

    def clinical(self) -> Iterable[dict[str, Any]]: ...


class BaseMismatch(Exception):
    """The store's base snapshot is not the one asked for; the message says what to do."""


def descriptor(seed: int, patients: int) -> str:
    return f"synthetic seed={seed} patients={patients}"


def base_meta(resource: dict[str, object]) -> dict[str, object]:
    """The deterministic ``meta`` of a base resource (see the module docstring)."""
    given = resource.get("meta")
    meta = dict(given) if isinstance(given, dict) else {}
    return {
        **meta,
        "versionId": "1",
        "lastUpdated": meta.get("lastUpdated", BASE_LAST_UPDATED),
        "source": BASE_SOURCE,
    }


def ensure_base(store: Store, seed: int, patients: int, dataset: Dataset | None = None) -> int:
    """Make sure ``store`` holds the base snapshot for (seed, patients); return resources loaded.

    0 is returned when nothing was loaded (``patients`` 0, or already present). ``dataset``
    replaces the synthetic generator (tests). Raises :class:`BaseMismatch`.
    """
    if patients <= 0:
        return 0
    wanted = descriptor(seed, patients)
    if store.base == wanted:
        log_event("base-present", base=wanted, resources=store.resource_count())
        return 0
    if store.base is not None:
        raise BaseMismatch(
            f"the database holds base snapshot {store.base!r} but {wanted!r} was asked for: "
            "start with the same --seed/--patients, or with a fresh --db"
        )
    if store.last_lsn > 0 or store.resource_count() > 0:
        raise BaseMismatch(
            f"the database holds {store.last_lsn} writes but no base snapshot, so {wanted!r} cannot be "
            "loaded under them: start without --patients, or with a fresh --db"
        )
    if dataset is None:
        from mock_services.synthetic import SyntheticConfig, generate  # only needed when loading

        dataset = generate(SyntheticConfig(seed=seed, patients=patients))
    started = time.monotonic()
    last_report = started
    log_event("base-load-start", base=wanted)

    def progress(count: int) -> None:
        nonlocal last_report
        now = time.monotonic()
        if now - last_report >= PROGRESS_EVERY:
            last_report = now
            log_event("base-load-progress", resources=count, seconds=f"{now - started:.1f}")

    resources = itertools.chain(dataset.patients(), dataset.clinical())
    # The load allocates millions of short-lived, acyclic dicts: the cyclic GC would only scan
    # them again and again with nothing to free (a small saving, but a free one).
    collecting = gc.isenabled()
    gc.disable()
    try:
        count = store.load_base(wanted, resources, meta=base_meta, progress=progress)
    finally:
        if collecting:
            gc.enable()
    log_event("base-load-done", base=wanted, resources=count, seconds=f"{time.monotonic() - started:.1f}")
    return count
