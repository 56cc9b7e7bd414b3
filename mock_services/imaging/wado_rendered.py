"""WADO-RS rendered resources (PS3.18 10.4.1.1.3): images a browser can show.

* ``.../instances/{sop}/rendered`` -- the instance's first frame;
* ``.../instances/{sop}/frames/{n}/rendered`` -- frame ``n`` (one frame per request: a list
  of several is a 400, we do not build multi-frame GIFs);
* ``/studies/{study}/rendered`` and ``.../series/{series}/rendered`` -- the first instance
  of the study or series (series then instance number order), as Orthanc does: a single
  representative image, not the multipart rendering of every instance.

Accept: ``image/jpeg`` (the default, PS3.18 Table 8.7.4-1), ``image/png`` or ``image/gif``;
``*/*`` and ``image/*`` (or no Accept) give JPEG; anything else is a 406, and DICOM and
rendered media types mixed in one Accept a 400 (PS3.18 8.7.5). Query parameters and the
pixel pipeline: :mod:`.rendering`. Unknown UIDs: 404 naming the level, as for WADO-RS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from starlette.requests import Request
from starlette.responses import Response

from mock_services.common.openapi import Json, Operation, path_param, query
from mock_services.imaging import api
from mock_services.imaging.rendering import MEDIA_TYPES, RenderError, parse_options, render_frame
from mock_services.imaging.responses import Problem
from mock_services.imaging.service import Service
from mock_services.imaging.wado import find_instances, retrieve_ranges

DEFAULT = "image/jpeg"


def negotiate_rendered(request: Request) -> str:
    """The rendered media type to answer with; 406 if Accept allows none of ours."""
    for candidate in retrieve_ranges(request):
        for media_type in MEDIA_TYPES:  # our preference order: JPEG first for wildcards
            if candidate.covers(media_type):
                return media_type
    raise Problem(
        406,
        f"cannot answer with {request.headers.get('accept')!r}: rendered resources are {', '.join(MEDIA_TYPES)}",
    )


def _frame_number(request: Request) -> int:
    text = request.path_params.get("frames")
    if text is None:
        return 1
    try:
        numbers = [int(piece) for piece in text.split(",")]
    except ValueError:
        raise Problem(400, f"frame list {text!r}: expected a frame number (1-based)") from None
    if len(numbers) != 1 or numbers[0] < 1:
        raise Problem(400, f"frame list {text!r}: render one frame at a time, numbered from 1")
    return numbers[0]


def _rendered(service: Service) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        instances = find_instances(service, request)
        media_type = negotiate_rendered(request)
        frame = _frame_number(request)
        try:
            options = parse_options(dict(request.query_params))
            data = service.store.read_bytes(instances[0])
            # Decoding and encoding take a while for a large image: off the event loop.
            image = await anyio.to_thread.run_sync(render_frame, data, frame, media_type, options)
        except RenderError as error:
            raise Problem(error.status, error.message) from None
        return Response(image, media_type=media_type)

    return handler


def rendered_operations(service: Service) -> list[Operation]:
    study, series, instance = "/studies/{study}", "/studies/{study}/series/{series}", "/instances/{sop}"
    handler = _rendered(service)
    image = api.binary("the rendered image, 8 bits per channel", *MEDIA_TYPES)
    answers = {
        200: image,
        400: api.error("a bad rendering parameter, a frame list of several, or a malformed or mixed Accept"),
        404: api.NOT_FOUND,
        406: api.error("Accept allows no rendered media type we make, or this instance cannot be rendered"),
    }
    params = [
        query("quality", {"type": "integer", "minimum": 1, "maximum": 100}, "JPEG quality"),
        query("window", {"type": "string"}, "center,width[,linear|linear-exact|sigmoid] (grayscale)"),
        query("viewport", {"type": "string"}, "vw,vh: fit in vw x vh pixels"),
    ]
    frames = path_param("frames", {"type": "string"}, "one frame number, 1-based", example="1")
    at_study, at_series = [api.STUDY], [api.STUDY, api.SERIES]
    at_instance = [api.STUDY, api.SERIES, api.SOP]

    def get(path: str, summary: str, path_params: list[Json]) -> Operation:
        return Operation("GET", path, handler, f"WADO-RS: {summary}", answers, parameters=[*path_params, *params],
                         tags=("WADO-RS",))  # fmt: skip

    return [
        get(f"{study}/rendered", "a study's first image, rendered", at_study),
        get(f"{series}/rendered", "a series' first image, rendered", at_series),
        get(f"{series}{instance}/rendered", "an instance, rendered", at_instance),
        get(f"{series}{instance}/frames/{{frames}}/rendered", "a frame, rendered", [*at_instance, frames]),
    ]
