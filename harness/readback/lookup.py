"""Read-back: for every write key (:mod:`.keys`), what exists now -- for FHIR the resources
carrying the client's identifier (ids, versions, who accepted them: ``meta.source``), for
DICOM the instances with that SOP Instance UID (QIDO-RS).

Contract: :func:`read_back` never raises for a service error; a key that could not be
read (after :data:`ATTEMPTS` tries) comes back with ``error`` set and ``found`` empty, and the
ledger treats it as indeterminate, never as lost. Bounded: one search per key, a fixed pool
of :data:`WORKERS` threads, each request with its own timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.readback.keys import DICOM_PREFIX, is_dicom

READBACK_FILE = "readback.jsonl"
WORKERS = 8
ATTEMPTS = 3
TIMEOUT = 5.0


@dataclass(frozen=True)
class FoundResource:
    """One resource found for a write key: its id, version and who accepted it (``meta.source``),
    when it was last written (``meta.lastUpdated``: a lab result's arrival in the EHR), whether
    it is tagged as entered during downtime by the care application (``downtime``); for orders
    also ``authored`` (``authoredOn``) and ``subject`` (the patient reference)."""

    id: str
    version: str | None
    source: str | None
    authored: str | None = None
    subject: str | None = None
    downtime: bool | None = None
    updated: str | None = None


@dataclass(frozen=True)
class ReadBack:
    """What a write key finds now. ``error`` set: it could not be read (indeterminate)."""

    key: str
    found: tuple[FoundResource, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["found"] = [asdict(f) for f in self.found]
        return {k: v for k, v in data.items() if v not in (None, (), [])}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReadBack:
        return cls(data["key"], tuple(FoundResource(f["id"], f.get("version"), f.get("source"), f.get("authored"),
                                                    f.get("subject"), f.get("downtime"), f.get("updated"))
                                      for f in data.get("found", [])), data.get("error"))


SOP_INSTANCE_UID_TAG = "00080018"


DOWNTIME_TAG = ("urn:hchaos:care", "downtime")
"""(system, code) of the tag the care application puts on what was entered during downtime."""


def _found_fhir(response: httpx.Response, resource_type: str) -> tuple[FoundResource, ...]:
    bundle = response.json()
    return tuple(_found_resource(r) for r in (entry.get("resource", {}) for entry in bundle.get("entry", []))
                 if r.get("resourceType") == resource_type)


def _found_resource(resource: dict[str, Any]) -> FoundResource:
    meta = resource.get("meta") or {}
    tags = {(t.get("system"), t.get("code")) for t in meta.get("tag") or [] if isinstance(t, dict)}
    subject = resource.get("subject")
    return FoundResource(str(resource.get("id")), meta.get("versionId"), meta.get("source"),
                         resource.get("authoredOn"), subject.get("reference") if isinstance(subject, dict) else None,
                         DOWNTIME_TAG in tags, meta.get("lastUpdated"))


def _found_dicom(response: httpx.Response) -> tuple[FoundResource, ...]:
    if response.status_code == 204 or not response.content:  # QIDO-RS: no match
        return ()
    source = response.headers.get("x-served-by")
    return tuple(FoundResource(str(item[SOP_INSTANCE_UID_TAG]["Value"][0]), None, source)
                 for item in response.json() if SOP_INSTANCE_UID_TAG in item)


def _one(client: httpx.Client, locate: Callable[[str], str | None], key: str) -> ReadBack:
    dicom = is_dicom(key)
    path, _, query = key.removeprefix(DICOM_PREFIX).partition("?")
    name, _, value = query.partition("=")
    base = locate(key)
    if base is None:  # nothing in the topology holds it: indeterminate, never asked of a wrong server
        return ReadBack(key, error=f"no {'dicomweb' if dicom else 'fhir-r4'} service to read it back from")
    base_url = base.rstrip("/")
    params = {name: value} if dicom else {name: value, "_count": "50"}
    error = "not read"
    for attempt in range(ATTEMPTS):
        try:
            response = client.get(f"{base_url}/{path}", params=params,
                                  headers={"Accept": "application/dicom+json"} if dicom else None)
            if response.status_code not in (200, 204):
                error = f"http-{response.status_code}"
            else:
                return ReadBack(key, _found_dicom(response) if dicom else _found_fhir(response, path))
        except (httpx.HTTPError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        time.sleep(0.2 * (attempt + 1))
    return ReadBack(key, error=error)


def read_back(locate: Callable[[str], str | None], keys: Iterable[str], *, workers: int = WORKERS,
              progress: Callable[[int, int], None] | None = None,
              check: Callable[[], None] | None = None) -> list[ReadBack]:
    """Look up every key (distinct, in the order given) at the base URL ``locate(key)`` gives:
    where the FHIR or DICOMweb API holding it lives (:mod:`.targets` chooses it from the
    topology; a ``KeyBases.base_for`` serves one service, a mapping's ``get`` many). A key
    ``locate`` has no base for comes back with ``error`` set (indeterminate), unasked.
    ``check`` is called after each
    result (a run's interruption safe point): if it raises, the lookups not yet started are
    cancelled and the exception propagates once the running ones are done."""
    unique = list(dict.fromkeys(keys))
    results: list[ReadBack] = []
    with httpx.Client(timeout=TIMEOUT, limits=httpx.Limits(max_connections=workers)) as client:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="readback")
        try:
            for index, result in enumerate(pool.map(lambda key: _one(client, locate, key), unique), start=1):
                results.append(result)
                if progress is not None and (index % 500 == 0 or index == len(unique)):
                    progress(index, len(unique))
                if check is not None:
                    check()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return results


def write_readback(path: Path, results: Iterable[ReadBack]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for result in results:
            out.write(json.dumps(result.to_json()) + "\n")


def read_readback(path: Path) -> dict[str, ReadBack] | None:
    """The read-back of a run by key, or ``None`` if the run has none."""
    if not path.exists():
        return None
    results = (ReadBack.from_json(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()
               if line.strip())
    return {r.key: r for r in results}
