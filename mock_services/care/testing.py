"""Test seams for the care application: switchable links, an in-process hospital, real processes.

* :class:`Switch` -- an httpx transport in front of another one that a test can cut (``down``:
  every request fails to connect, as a dead data center would) or make answer ``status`` 503.
* :func:`in_process` -- a real EHR (``mock_services.ehr``, single primary, synthetic patients),
  the real lab portal, imaging archive, scheduling service and notification sink, all in-process over ASGI
  transports, plus the care application wired to them through :class:`Switch` links: fast,
  no sockets, the real code on both sides. Yields an :class:`InProcess`.
* :func:`admit` -- give patients an in-progress encounter in a ward (the census reads those).
* :class:`Processes` -- ``python -m mock_services.<name>`` processes on free ports (EHR,
  scheduling, notify, care...), logs in files printed at :meth:`Processes.close`, killed there.
* ``running`` / ``free_port`` / ``eventually`` (re-exported from :mod:`mock_services.common.testing`)
  -- serve any ASGI app on a real port in a thread; a free port; an async bounded poll.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from mock_services.care.app import create_app
from mock_services.care.config import Config
from mock_services.care.context import Care
from mock_services.common.testing import ServiceProcess, eventually, free_port, running, serving, wait_until
from mock_services.ehr.app import create_app as create_ehr_app
from mock_services.ehr.config import Config as EhrConfig
from mock_services.ehr.config import ConfiguredRole
from mock_services.imaging.app import create_app as create_imaging_app
from mock_services.imaging.config import Config as ImagingConfig
from mock_services.imaging.config import Role
from mock_services.labs.app import create_app as create_labs_app
from mock_services.labs.config import Config as LabsConfig
from mock_services.notify.app import create_app as create_notify_app
from mock_services.notify.config import Config as NotifyConfig
from mock_services.scheduling.app import create_app as create_scheduling_app
from mock_services.scheduling.config import Config as SchedulingConfig

__all__ = ["InProcess", "Processes", "Switch", "admit", "eventually", "free_port", "in_process", "running"]
FHIR_JSON = "application/fhir+json"


class Switch(httpx.AsyncBaseTransport):
    """A link to ``inner`` that a test can cut (``down``) or make answer ``status`` (e.g. 503)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False
        self.status: int | None = None
        self.requests: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if self.down:
            raise httpx.ConnectError("connection refused (test link down)", request=request)
        if self.status is not None:
            return httpx.Response(self.status, json={"error": "test", "detail": "injected by the test"})
        return await self.inner.handle_async_request(request)


async def admit(ehr: httpx.AsyncClient, ward: str, patients: list[str]) -> list[str]:
    """Create an in-progress Encounter in ``ward`` for each patient; returns their ids."""
    ids = []
    for patient in patients:
        encounter = {
            "resourceType": "Encounter", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": f"Patient/{patient}"}, "period": {"start": "2024-08-03T06:00:00Z"},
            "serviceProvider": {"display": ward},
        }  # fmt: skip
        response = await ehr.post("/Encounter", json=encounter, headers={"Content-Type": FHIR_JSON})
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


@dataclass
class InProcess:
    """The in-process hospital: clients to each service, the links the care app uses, its state."""

    care: httpx.AsyncClient  # the care application, as a clinician's browser would reach it
    ehr: httpx.AsyncClient  # the EHR directly (test set-up and checks)
    scheduling: httpx.AsyncClient
    notify: httpx.AsyncClient
    links: dict[str, Switch]  # care -> ehr / labs / imaging / scheduling / notify, and "labs-ehr" (labs -> ehr)
    app: Starlette
    config: Config
    ehr_app: Starlette = field(repr=False)

    @property
    def state(self) -> Care:
        care: Care = self.app.state.care
        return care


@asynccontextmanager
async def in_process(directory: Path, patients: int = 20, **overrides: Any) -> AsyncIterator[InProcess]:
    """EHR (``patients`` synthetic patients), scheduling, notify and care, in-process (module docstring).

    Care defaults for tests: breaker 2 failures in 5 s, reset 0.3 s, probe every 0.1 s, timeout
    1 s, snapshot every 30 s (tests refresh it with ``/_admin/snapshot``); ``overrides`` win."""
    ehr_config = EhrConfig(name="ehr-a", datacenter="dc-a", role=ConfiguredRole.PRIMARY,
                           db_path=directory / "ehr.sqlite", patients=patients)  # fmt: skip
    ehr_app = create_ehr_app(ehr_config)
    scheduling_app = create_scheduling_app(
        SchedulingConfig(name="sched-a", datacenter="dc-a", db_path=directory / "sched.sqlite", patients=patients)
    )
    notify_app = create_notify_app(NotifyConfig(name="notify", datacenter="witness"))
    labs_to_ehr = Switch(httpx.ASGITransport(app=ehr_app))
    labs_app = create_labs_app(LabsConfig(name="labs-a", datacenter="dc-a", ehr_url="http://ehr.test"),
                               ehr_transport=labs_to_ehr)  # fmt: skip
    imaging_app = create_imaging_app(ImagingConfig(name="pacs-a", datacenter="dc-a", role=Role.ARCHIVE,
                                                   storage=directory / "pacs", patients=patients))  # fmt: skip
    links = {
        "ehr": Switch(httpx.ASGITransport(app=ehr_app)),
        "imaging": Switch(httpx.ASGITransport(app=imaging_app)),
        "labs": Switch(httpx.ASGITransport(app=labs_app)),
        "scheduling": Switch(httpx.ASGITransport(app=scheduling_app)),
        "notify": Switch(httpx.ASGITransport(app=notify_app)),
    }
    settings: dict[str, Any] = {
        "name": "care-1", "state_dir": directory / "care", "ehr_url": "http://ehr.test", "labs_url": "http://labs.test",
        "imaging_url": "http://pacs.test",
        "scheduling_url": "http://sched.test", "notify_url": "http://notify.test/notifications",
        "breaker_failures": 2, "breaker_window": 5.0, "breaker_reset": 0.3, "probe_interval": 0.1,
        "dependency_timeout": 1.0, "snapshot_interval": 30.0, "max_snapshot_age": 60.0,
    }  # fmt: skip
    config = dataclasses.replace(Config(**settings), **overrides) if overrides else Config(**settings)
    async with (
        serving(ehr_app, "http://ehr.test") as ehr,
        serving(scheduling_app, "http://sched.test") as scheduling,
        serving(notify_app, "http://notify.test") as notify,
        serving(labs_app, "http://labs.test"),
        serving(imaging_app, "http://pacs.test"),
    ):
        app = create_app(config, transports=dict(links))
        async with serving(app, "http://care.test") as care:
            yield InProcess(care, ehr, scheduling, notify, {**links, "labs-ehr": labs_to_ehr}, app, config, ehr_app)


@dataclass
class Processes:
    """Real service processes on free ports (see the module docstring). ``close()`` kills them all."""

    directory: Path
    started: list[ServiceProcess] = field(default_factory=list)

    def spawn(self, name: str, module: str, args: list[str], port: int | None = None) -> ServiceProcess:
        port = port or free_port()
        process = ServiceProcess(name, module, [*args, "--host", "127.0.0.1", "--port", str(port)], port,
                                 self.directory / f"{name}.log")  # fmt: skip
        process.start()
        self.started.append(process)
        return process

    def ehr(self, patients: int, port: int | None = None) -> ServiceProcess:
        args = ["--name", "ehr-a", "--datacenter", "dc-a", "--role", "primary", "--db",
                str(self.directory / "ehr.sqlite"), "--patients", str(patients)]  # fmt: skip
        return self.spawn("ehr-a", "mock_services.ehr", args, port)

    def scheduling(self, patients: int) -> ServiceProcess:
        args = ["--name", "sched-a", "--datacenter", "dc-a", "--db", str(self.directory / "sched.sqlite"),
                "--patients", str(patients)]  # fmt: skip
        return self.spawn("sched-a", "mock_services.scheduling", args)

    def notify(self) -> ServiceProcess:
        args = ["--name", "notify", "--datacenter", "witness", "--db", str(self.directory / "notify.sqlite")]
        return self.spawn("notify", "mock_services.notify", args)

    def care(self, name: str, *flags: str, port: int | None = None) -> ServiceProcess:
        args = ["--name", name, "--state-dir", str(self.directory / name), *flags]
        return self.spawn(name, "mock_services.care", args, port)

    @staticmethod
    def wait_healthy(process: ServiceProcess, timeout: float = 20.0) -> float:
        def healthy() -> bool:
            assert process.popen is not None and process.popen.poll() is None, f"{process.name} exited"
            return httpx.get(f"{process.url}/health", timeout=1.0).status_code == 200

        return wait_until(healthy, timeout, f"{process.name} /health")

    def close(self) -> None:
        for process in self.started:
            process.kill()
        for process in self.started:
            if process.log.exists():
                print(f"----- {process.name} log -----\n{process.log.read_text(errors='replace')[-20000:]}")
