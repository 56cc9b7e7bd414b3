"""Mock lab results portal: read-only lab results by patient, read from the EHR over FHIR R4.

Runs in both data centers (labs-a in dc-a, labs-b in dc-b), stateless: every request reads the
EHR (through the front door in production runs) unless ``--cache-ttl`` allows reuse. The one
rule that matters for the harness's degraded-mode checks: when the EHR is unreachable, times
out or answers 5xx the portal answers 503 ``ehr-unavailable`` -- an outage never looks like
"no results".

Run with ``python -m mock_services.labs`` (flags in :mod:`.__main__`). Modules, one concept
each: ``config`` (settings), ``ehr_client`` (FHIR reads and searches with paging, typed
failures), ``results`` (reports + observations -> result documents, H/L/N flags), ``pages``
(the clinicians' HTML), ``app`` (routes, cache, /health; the endpoint contract), ``mock_services.common.service``
(identity headers, metrics, JSON errors),
``mock_services.common.serve`` (serving), ``mock_services.common.eventlog`` (one stderr line per notable
event), ``testing`` (a fake FHIR EHR over synthetic data).
"""
