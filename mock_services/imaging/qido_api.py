"""The QIDO-RS endpoints (search logic and its contract: :mod:`.qido`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_services.imaging.qido import Level, QueryError, build_query, to_results
from mock_services.imaging.responses import Problem, json_response, require_json_accepted
from mock_services.imaging.service import Service

_MORE = 'There are additional results that can be requested'
_FUZZY = "The fuzzymatching parameter is not supported. Only literal matching has been performed."


def retrieve_url(base: str, uids: dict[str, str]) -> str:
    """The WADO-RS URL of the most specific resource named by ``uids``."""
    url = f"{base}/studies/{uids.get('StudyInstanceUID', '')}"
    if "SeriesInstanceUID" in uids:
        url += f"/series/{uids['SeriesInstanceUID']}"
        if "SOPInstanceUID" in uids:
            url += f"/instances/{uids['SOPInstanceUID']}"
    return url


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
        headers = {"warning": ", ".join(warnings)} if warnings else {}
        if not results:
            return Response(status_code=204, headers=headers)
        return json_response(results, headers=headers)

    return handler


def qido_routes(service: Service) -> list[Route]:
    """Search routes. A search that names a study or series in its path returns that
    level's attributes only (plus the UIDs); a search at the root also returns the levels above."""
    study, series, instance = Level.STUDY, Level.SERIES, Level.INSTANCE
    return [
        Route("/studies", _search(service, study, (study,)), methods=["GET"]),
        Route("/series", _search(service, series, (study, series)), methods=["GET"]),
        Route("/instances", _search(service, instance, (study, series, instance)), methods=["GET"]),
        Route("/studies/{study}/series", _search(service, series, (series,)), methods=["GET"]),
        Route("/studies/{study}/instances", _search(service, instance, (series, instance)), methods=["GET"]),
        Route("/studies/{study}/series/{series}/instances", _search(service, instance, (instance,)), methods=["GET"]),
    ]
