"""The QIDO-RS endpoints (search logic and its contract: :mod:`.qido`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from mock_services.common.openapi import Json, Operation, query, response
from mock_services.imaging import api
from mock_services.imaging.qido import MAX_LIMIT, Level, QueryError, build_query, to_results
from mock_services.imaging.responses import Problem, json_response, require_json_accepted
from mock_services.imaging.service import Service

_MORE = 'There are additional results that can be requested'
_FUZZY = "The fuzzymatching parameter is not supported. Only literal matching has been performed."
_IGNORED = "These query parameters are not supported and were ignored"


def retrieve_url(base: str, uids: dict[str, str]) -> str:
    """The WADO-RS URL of the most specific resource named by ``uids``."""
    url = f"{base}/studies/{uids.get('StudyInstanceUID', '')}"
    if "SeriesInstanceUID" in uids:
        url += f"/series/{uids['SeriesInstanceUID']}"
        if "SOPInstanceUID" in uids:
            url += f"/instances/{uids['SOPInstanceUID']}"
    return url


def _quotable(text: str, limit: int = 300) -> str:
    """``text`` as the inside of a quoted header string: printable ASCII only (parameter
    names are the client's and may hold anything: a newline must not end the header),
    quotes and backslashes escaped, at most ``limit`` characters."""
    safe = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    if len(safe) > limit:
        safe = safe[: limit - 3] + "..."
    return safe.replace("\\", "\\\\").replace('"', '\\"')


def _search(service: Service, level: Level, returned: tuple[Level, ...]) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        require_json_accepted(request)
        params: dict[str, list[str]] = defaultdict(list)
        for name, value in request.query_params.multi_items():
            params[name].append(value)
        fixed = {}
        if "study" in request.path_params:
            fixed["StudyInstanceUID"] = request.path_params["study"]
        if "series" in request.path_params:
            fixed["SeriesInstanceUID"] = request.path_params["series"]
        try:
            query = build_query(level, params, fixed, returned)
        except QueryError as error:
            raise Problem(400, str(error)) from None
        rows = service.store.query(query.sql, query.params)
        base = str(request.base_url).rstrip("/")
        results = to_results(query, rows, lambda uids: retrieve_url(base, uids))
        warnings = []
        if len(rows) > query.limit:
            warnings.append(f'299 {request.url.netloc}: "{_MORE}"')
        if query.fuzzy_requested:
            warnings.append(f'299 {request.url.netloc}: "{_FUZZY}"')
        if query.ignored:
            warnings.append(f'299 {request.url.netloc}: "{_IGNORED}: {_quotable(", ".join(query.ignored))}"')
        headers = {"warning": ", ".join(warnings)} if warnings else {}
        if not results and service.config.qido_empty_status == 204:
            return Response(status_code=204, headers=headers)
        return json_response(results, headers=headers)

    return handler


_STUDY_KEYS = [
    api.uid_query("StudyInstanceUID", "Study Instance UID"),
    api.text_query("PatientID", "Patient ID"),
    api.text_query("PatientName", "Patient's Name (case-insensitive)"),
    api.range_query("PatientBirthDate", "Patient's Birth Date"),
    api.range_query("StudyDate", "Study Date (YYYYMMDD)"),
    api.range_query("StudyTime", "Study Time (HHMMSS)"),
    api.text_query("AccessionNumber", "Accession Number"),
    api.text_query("StudyID", "Study ID"),
    api.text_query("ReferringPhysicianName", "Referring Physician's Name (case-insensitive)"),
    query("ModalitiesInStudy", {"type": "string"}, "modalities (',' separated): a study with a series of one"),
]
_SERIES_KEYS = [
    api.uid_query("SeriesInstanceUID", "Series Instance UID"),
    query("Modality", {"type": "string"}, "Modality (',' separated list)"),
    query("SeriesNumber", {"type": "integer"}, "Series Number"),
    api.range_query("PerformedProcedureStepStartDate", "Performed Procedure Step Start Date"),
]
_INSTANCE_KEYS = [
    api.uid_query("SOPInstanceUID", "SOP Instance UID"),
    api.uid_query("SOPClassUID", "SOP Class UID"),
    query("InstanceNumber", {"type": "integer"}, "Instance Number"),
]
_CONTROL = [
    query("limit", {"type": "integer", "minimum": 0}, f"at most this many results (and at most {MAX_LIMIT})"),
    query("offset", {"type": "integer", "minimum": 0}, "skip this many results"),
    query("includefield", {"type": "string"}, "more attributes to return (keywords or tags, ',' separated) or 'all'"),
    query("fuzzymatching", {"type": "string", "enum": ["true", "false"]}, "accepted; literal matching only"),
]
_ANSWERS = {
    200: api.datasets("the matching results (an empty array when nothing matches, unless configured for 204)"),
    204: response("nothing matches (with --qido-empty-status 204)"),
    400: api.error("an invalid value of a supported parameter, or an attribute of a lower level"),
    406: api.NOT_ACCEPTABLE,
}


def qido_operations(service: Service) -> list[Operation]:
    """Search operations. Every result carries the attributes of its level and of the levels
    above it, even when the path names the study or series: PS3.18 requires them only for
    the root searches (All Series, All Instances), but Orthanc sends them always and clients
    written against it read, say, a series' Patient Name."""
    study, series, instance = Level.STUDY, Level.SERIES, Level.INSTANCE
    upto_series, upto_instance = (study, series), (study, series, instance)
    studies_keys = [*_STUDY_KEYS, *_CONTROL]
    series_keys = [*_STUDY_KEYS, *_SERIES_KEYS, *_CONTROL]
    instance_keys = [*_STUDY_KEYS, *_SERIES_KEYS, *_INSTANCE_KEYS, *_CONTROL]

    def search(path: str, level: Level, levels: tuple[Level, ...], params: list[Json], what: str) -> Operation:
        path_params = [p for p, name in ((api.STUDY, "{study}"), (api.SERIES, "{series}")) if name in path]
        return Operation("GET", path, _search(service, level, levels), f"QIDO-RS: search {what}", _ANSWERS,
                         parameters=[*path_params, *params], tags=("QIDO-RS",))  # fmt: skip

    return [
        search("/studies", study, (study,), studies_keys, "all studies"),
        search("/series", series, upto_series, series_keys, "all series"),
        search("/instances", instance, upto_instance, instance_keys, "all instances"),
        search("/studies/{study}/series", series, upto_series, series_keys, "a study's series"),
        search("/studies/{study}/instances", instance, upto_instance, instance_keys, "a study's instances"),
        search("/studies/{study}/series/{series}/instances", instance, upto_instance, instance_keys,
               "a series' instances"),
    ]
