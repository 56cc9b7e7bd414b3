"""The small built-in services: the lab results portal, the schedules, the EHR's fencing
witness and the out-of-band notification sink (no knobs of their own)."""

from __future__ import annotations

from harness.services.base import Driver, LaunchContext


def labs_argv(ctx: LaunchContext) -> list[str]:
    argv = [*ctx.common(), "--port", str(ctx.port())]
    for link in ctx.outgoing("dependency"):
        argv += ["--ehr-url", ctx.link_url(link)]
    return argv


def scheduling_argv(ctx: LaunchContext) -> list[str]:
    return [*ctx.common(), "--port", str(ctx.port()), "--db", ctx.path(".sqlite"), *ctx.data_flags()]


def witness_argv(ctx: LaunchContext) -> list[str]:
    return ["--name", ctx.instance.name, "--host", ctx.host, "--port", str(ctx.port()), "--db", ctx.path(".sqlite")]


def notify_argv(ctx: LaunchContext) -> list[str]:
    return [*ctx.common(), "--port", str(ctx.port()), "--db", ctx.path(".sqlite")]


LABS = Driver("labs", labs_argv, "mock_services.labs")
SCHEDULING = Driver("scheduling", scheduling_argv, "mock_services.scheduling")
WITNESS = Driver("witness", witness_argv, "mock_services.witness")
NOTIFY = Driver("notify", notify_argv, "mock_services.notify")
