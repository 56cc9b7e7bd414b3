"""The testing seam: instances to STOW, multipart helpers, in-process apps and real processes.

* :func:`make_attrs` / :func:`make_part10` / :func:`make_dataset` -- a valid, small DICOM
  instance with fresh UIDs (or the ones given), as attributes, Part 10 bytes, or a pydicom
  ``FileDataset`` (with preamble, so ``dcmwrite`` -- and so dicomweb-client's
  ``store_instances`` -- writes it as Part 10); :func:`make_rich_dataset` adds the
  conditional QIDO attributes, :func:`part10_of` writes a data set back to bytes.
* :func:`stow_body` / :func:`split_multipart` -- request bodies and response parsing.
* :func:`make_config`, :func:`serving`, :func:`running_pair` -- in-process instances over
  httpx's ASGI transport; the pair's archive ships to its replica through a
  :class:`~mock_services.common.testing.CuttableLink` that a test can cut (the replication link down).
* ``free_port``, ``wait_until``, ``eventually``: :mod:`mock_services.common.testing`.
* :class:`ImagingProcess` -- ``python -m mock_services.imaging`` on a real port, for
  integration tests (start, wait until ready, signal, SIGKILL).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pydicom
from pydicom.dataset import Dataset, FileDataset
from pydicom.uid import generate_uid
from starlette.applications import Starlette

from mock_services.common.testing import REPO, CuttableLink, eventually, free_port, wait_until
from mock_services.common.testing import serving as common_serving
from mock_services.imaging import multipart
from mock_services.imaging.app import create_app
from mock_services.imaging.config import Config, Role
from mock_services.imaging.mediatypes import parse_media_type
from mock_services.imaging.part10 import InstanceAttrs
from mock_services.imaging.render import render_part10
from mock_services.imaging.service import Service

__all__ = [
    "CT_IMAGE_STORAGE", "REPO", "CuttableLink", "ImagingProcess", "InProcessPair", "eventually", "free_port",
    "make_attrs", "make_config", "make_dataset", "make_part10", "make_rich_dataset", "part10_of", "running_pair",
    "service_of", "serving", "split_multipart", "stow_body", "wait_until",
]  # fmt: skip
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def make_attrs(**overrides: Any) -> InstanceAttrs:
    """A CT instance of patient ``TEST0001`` with fresh UIDs; ``overrides``: any field."""
    attrs = InstanceAttrs(
        study_uid=generate_uid(),
        series_uid=generate_uid(),
        sop_uid=generate_uid(),
        sop_class_uid=CT_IMAGE_STORAGE,
        transfer_syntax="1.2.840.10008.1.2.1",
        patient_id="TEST0001",
        patient_name="TESTER^Ada",
        birth_date="19700101",
        sex="F",
        study_date="20240803",
        study_time="101500",
        accession="ACCTEST01",
        study_description="Scanner test",
        modality="CT",
        series_number=1,
        series_description="Test series",
        instance_number=1,
        rows=8,
        columns=8,
        bits_allocated=16,
        frames=1,
    )
    return dataclasses.replace(attrs, **overrides)


def make_part10(**overrides: Any) -> bytes:
    """The Part 10 bytes of :func:`make_attrs` (8 x 8 pixels by default: ~1 KB)."""
    return render_part10(make_attrs(**overrides))


def make_dataset(**overrides: Any) -> FileDataset:
    """:func:`make_part10` read back by pydicom: a ``FileDataset`` with preamble and File Meta."""
    ds = pydicom.dcmread(BytesIO(make_part10(**overrides)))
    assert isinstance(ds, FileDataset)
    return ds


def make_rich_dataset(**overrides: Any) -> FileDataset:
    """:func:`make_dataset` with every conditional QIDO-RS attribute a modality may write
    (PS3.18 Tables 10.6.3-3/4): Referring Physician, Study ID, Performed Procedure Step
    Start Date/Time, a Request Attributes Sequence item (``SPS-7`` / ``RP-9``)."""
    ds = make_dataset(**overrides)
    ds.ReferringPhysicianName = "HOUSE^Gregory"
    ds.StudyID = "S-42"
    ds.PerformedProcedureStepStartDate = "20240803"
    ds.PerformedProcedureStepStartTime = "101200"
    item = Dataset()
    item.ScheduledProcedureStepID = "SPS-7"
    item.RequestedProcedureID = "RP-9"
    ds.RequestAttributesSequence = [item]
    return ds


def part10_of(ds: Dataset) -> bytes:
    """``ds`` (with its File Meta) written as a Part 10 file."""
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def stow_body(files: Sequence[bytes]) -> tuple[bytes, dict[str, str]]:
    """``(body, headers)`` of a STOW-RS request carrying ``files``."""
    body, content_type = multipart.encode(files, "application/dicom")
    return body, {"content-type": content_type, "accept": "application/dicom+json"}


def split_multipart(content_type: str, body: bytes) -> list[bytes]:
    """The contents of the parts of a ``multipart/related`` response."""
    media_type = parse_media_type(content_type)
    assert media_type.essence == "multipart/related", content_type
    boundary = media_type.param("boundary")
    assert boundary, content_type
    return [part.content for part in multipart.decode(body, boundary)]


def make_config(directory: Path, name: str, role: Role, **overrides: Any) -> Config:
    """A config for in-process use: storage ``<directory>/<name>``, datacenter ``dc-<last
    letter of name>``, replication interval 0.05 s, peer timeout 0.5 s."""
    config = Config(
        name=name,
        datacenter=f"dc-{name[-1]}",
        role=role,
        storage=directory / name,
        replication_interval=0.05,
        peer_timeout=0.5,
    )
    return dataclasses.replace(config, **overrides)


def service_of(app: Starlette) -> Service:
    service = app.state.service
    assert isinstance(service, Service)
    return service


def serving(app: Starlette, base_url: str = "http://pacs.test") -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """Run ``app``'s lifespan and yield a client talking to it in-process
    (:func:`mock_services.common.testing.serving`, with the archive's default base URL)."""
    return common_serving(app, base_url)


@dataclass
class InProcessPair:
    archive: httpx.AsyncClient
    replica: httpx.AsyncClient
    archive_service: Service
    replica_service: Service
    link: CuttableLink


@asynccontextmanager
async def running_pair(directory: Path, **overrides: Any) -> AsyncIterator[InProcessPair]:
    """``pacs-a`` (archive) shipping to ``pacs-b`` (replica) through a :class:`CuttableLink`."""
    replica_app = create_app(make_config(directory, "pacs-b", Role.REPLICA, **overrides))
    link = CuttableLink(replica_app)
    archive_config = make_config(directory, "pacs-a", Role.ARCHIVE, replica_url="http://pacs-b.test", **overrides)
    archive_app = create_app(archive_config, replica_transport=httpx.ASGITransport(app=link))
    async with (
        serving(replica_app, "http://pacs-b.test") as replica,
        serving(archive_app, "http://pacs-a.test") as archive,
    ):
        yield InProcessPair(archive, replica, service_of(archive_app), service_of(replica_app), link)


@dataclass
class ImagingProcess:
    """One ``python -m mock_services.imaging`` process; output goes to ``log``."""

    name: str
    role: Role
    port: int
    storage: Path
    log: Path
    extra: list[str] = field(default_factory=list)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def args(self) -> list[str]:
        return [
            "--name", self.name, "--datacenter", f"dc-{self.name[-1]}", "--role", self.role.value,
            "--host", "127.0.0.1", "--port", str(self.port), "--storage", str(self.storage), *self.extra,
        ]  # fmt: skip

    def start(self) -> None:
        with self.log.open("ab") as log:
            command = [sys.executable, "-m", "mock_services.imaging", *self.args]
            self.popen = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 15.0) -> float:
        """Wait until ``/health`` answers 200; returns the seconds it took."""

        def ready() -> bool:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log.read_text()}")
            return httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200

        return wait_until(ready, timeout, f"{self.name} ready")

    def signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL (a data-center power cut) and reap. Idempotent."""
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGCONT)  # a stopped process dies too, but be explicit
            self.popen.kill()
            self.popen.wait(timeout=5)
