"""The imaging archive (``mock_services.imaging``, DICOMweb) and its asynchronous replica."""

from __future__ import annotations

from typing import Literal

from harness.durations import PositiveDuration
from harness.models import FrozenModel
from harness.services.base import Driver, LaunchContext


class ImagingOptions(FrozenModel):
    """The imaging archive's asynchronous replica."""

    replication_interval: PositiveDuration = 0.2
    """How often the archive ships new images to the replica in dc-b."""
    qido_empty_status: Literal[200, 204] = 200
    """What a QIDO-RS search that matches nothing answers: ``200`` with ``[]`` (what Orthanc
    and most clients expect) or ``204`` No Content (what PS3.18 8.3.4.4.1 says). Real servers
    differ here, so an experiment can test a client against either."""


def imaging_argv(ctx: LaunchContext) -> list[str]:
    argv = [*ctx.common(), "--role", ctx.instance.role, "--port", str(ctx.port()), "--storage", ctx.path("-dicom"),
            "--replication-interval", str(ctx.options.imaging.replication_interval),
            "--qido-empty-status", str(ctx.options.imaging.qido_empty_status), *ctx.data_flags()]
    for link in ctx.outgoing("replication"):
        argv += ["--replica-url", ctx.link_url(link)]
    return argv


DRIVER = Driver("imaging", imaging_argv, "mock_services.imaging")
