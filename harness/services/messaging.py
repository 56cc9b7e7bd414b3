"""The HL7 v2 engines (``mock_services.messaging``, MLLP): store and forward to the EHR."""

from __future__ import annotations

from harness.durations import PositiveDuration
from harness.models import FrozenModel
from harness.services.base import Driver, LaunchContext


class MessagingOptions(FrozenModel):
    """The HL7 v2 engines' store-and-forward behaviour."""

    rotate: bool = True
    """A message that cannot be delivered goes to the back of the queue (Mirth's 'rotate'),
    so one poison message does not block the others; off shows head-of-line blocking."""

    dedup: bool = True
    """Forwarded results carry an identifier from MSH-10 and are created conditionally, so
    retries do not duplicate them at the EHR; off: at-least-once with duplicates."""

    retry_interval: PositiveDuration = 0.5
    """Time between two delivery attempts of a queued message."""

    forward_timeout: PositiveDuration = 5.0
    """How long an engine waits for the EHR's answer to a forwarded result before retrying
    (a short one under a slow link makes at-least-once delivery retry writes that landed)."""


def messaging_argv(ctx: LaunchContext) -> list[str]:
    msg = ctx.options.messaging
    argv = [*ctx.common(), "--mllp-port", str(ctx.port("mllp")), "--http-port", str(ctx.port()),
            "--db", ctx.path(".sqlite"), "--forward-retry-interval", str(msg.retry_interval),
            "--forward-timeout", str(msg.forward_timeout), "--dedup-key", "on" if msg.dedup else "off"]
    if msg.rotate:
        argv.append("--rotate")
    for link in ctx.outgoing("dependency"):
        argv += ["--destination-fhir", ctx.link_url(link)]
    return argv


DRIVER = Driver("messaging", messaging_argv, "mock_services.messaging")
