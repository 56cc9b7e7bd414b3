"""Probers for plain HTTP and DICOMweb targets: one read-only request each, no data written.

* :class:`HttpProber` (``http``) -- ``GET {base_url}{path}``; ok when the status is one of
  ``target.ok_status``, else ``error`` ``http-<status>``; operation ``read``.
* :class:`DicomwebProber` (``dicomweb``) -- QIDO-RS ``GET {base_url}/studies?limit=1`` with
  ``Accept: application/dicom+json``; ok on 204 (nothing stored yet) or on 200 with a JSON
  array (what QIDO-RS answers: a 200 that is not one -- an HTML page from whatever answers on
  that port -- is ``bad-body``); operation ``search``.

Both record ``status``, and ``served_by``/``datacenter`` when the response carries our
services' identity headers (``x-served-by``, ``x-datacenter``), else ``None``. A request that
got no answer records the error kind of :func:`~harness.probe.httpcommon.error_kind`.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from harness.probe.httpcommon import error_kind, http_client, identity
from harness.probe.prober import Attempt, Prober, ProberSettings
from harness.probe.stats import LiveStats
from harness.timeline import RequestTap, TimelineWriter

DICOM_JSON = "application/dicom+json"
QIDO_PROBE = ("/studies", {"limit": "1"})
"""The DICOMweb probe request: the cheapest QIDO-RS search every server supports (PS3.18 10.6)."""


class _WebProber(Prober):
    """An httpx client to ``target.base_url`` sized for the pool, closed at :meth:`stop`."""

    accept: ClassVar[str] = "*/*"

    def __init__(self, settings: ProberSettings, timeline: TimelineWriter, stats: LiveStats | None = None,
                 tap: RequestTap | None = None) -> None:
        super().__init__(settings, timeline, stats, tap)
        assert settings.target.base_url is not None  # ProbeTarget guarantees it for HTTP protocols
        self._client = http_client(settings.target.base_url, settings.timeout, self.workers, self.accept)

    def _close(self) -> None:
        self._client.close()


class HttpProber(_WebProber):
    """``http``: GET ``target.path``, ok when its status is in ``target.ok_status``."""

    operation = "read"

    def _attempt(self, operation: str) -> Attempt:
        try:
            response = self._client.get(self.target.path)
        except httpx.HTTPError as error:
            return Attempt(ok=False, error=error_kind(error))
        served_by, datacenter = identity(response)
        ok = response.status_code in self.target.ok_status
        return Attempt(ok=ok, status=response.status_code, error=None if ok else f"http-{response.status_code}",
                       served_by=served_by, datacenter=datacenter)


class DicomwebProber(_WebProber):
    """``dicomweb``: one QIDO-RS study search (see the module docstring)."""

    operation = "search"
    accept = DICOM_JSON

    def _attempt(self, operation: str) -> Attempt:
        path, params = QIDO_PROBE
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as error:
            return Attempt(ok=False, error=error_kind(error))
        status = response.status_code
        served_by, datacenter = identity(response)
        if status == 204:
            ok, error_text = True, None
        elif status != 200:
            ok, error_text = False, f"http-{status}"
        else:
            try:
                ok = isinstance(response.json(), list)
            except ValueError:  # not JSON at all (JSONDecodeError, a body that is not UTF-8)
                ok = False
            error_text = None if ok else "bad-body"
        return Attempt(ok=ok, status=status, error=error_text, served_by=served_by, datacenter=datacenter)
