"""What every persona shares: who the simulated user is, which patients it works on, and the
one way HTTP personas send a request (expected statuses, body checks, record fields).

Imports Locust: only ever loaded inside Locust's processes (see the package docstring).

*Identity*: ``user`` is ``"<worker index>-<serial>"`` -- the worker index the master gave
this process (0 when standalone), and a per-process counter -- stable for the user's life
and unique in the run. Each user has its own ``random.Random`` seeded from the plan's seed,
the persona and that id, so a run's choices do not depend on other users' timing.

*Patients*: with ``plan.patients`` > 0 every task picks one of the synthetic patients
``p000001``...; with 0, EHR personas first register their own ward patient with a FHIR
conditional create (``If-None-Exist`` on an identifier of theirs, so a retry never creates a
second one) and work on it; the others use a per-user id.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

from locust import FastHttpUser, User
from locust.env import Environment

from harness.load.plan import LoadPlan
from harness.load.users import clinical

_serials = itertools.count(1)


class BadBody(Exception):
    """A response with the expected status whose body is not what the service promises."""


def user_identity(environment: Environment) -> str:
    """``"<worker index>-<serial>"`` (see the module docstring)."""
    index = getattr(environment.runner, "worker_index", 0)
    if not isinstance(index, int) or index < 0:  # a master too old to number its workers
        index = abs(hash(getattr(environment.runner, "client_id", ""))) % 10_000
    return f"{index}-{next(_serials)}"


def user_rng(plan: LoadPlan, persona: str, user: str) -> random.Random:
    return random.Random(f"{plan.seed}:{persona}:{user}")


class PersonaIdentity:
    """Mixed into every persona: ``persona``, ``user``, ``rng``, unique write identifiers."""

    plan: ClassVar[LoadPlan]
    persona: ClassVar[str] = ""
    user_id: str
    rng: random.Random

    def _init_identity(self, environment: Environment) -> None:
        self.user_id = user_identity(environment)
        self.rng = user_rng(self.plan, self.persona, self.user_id)
        self._writes = itertools.count(1)

    def next_write_id(self) -> str:
        """``<run>-<user>-<n>``: the identifier value of this user's next write."""
        return f"{self.plan.run_id}-{self.user_id}-{next(self._writes)}"

    def record_context(self) -> dict[str, Any]:
        return {"persona": self.persona, "user": self.user_id}

    def synthetic_index(self) -> int | None:
        """A random synthetic patient's index (1-based), or None when the plan has none."""
        return self.rng.randint(1, self.plan.patients) if self.plan.patients > 0 else None


@dataclass
class Reply:
    """What a task gets back from :meth:`HttpPersona.call`: status, body (parsed JSON; the raw
    bytes when ``parse_json`` is off, e.g. a PDF), headers, and the dict that
    becomes the request's record context (set ``resource_id``/``version`` there)."""

    status: int
    body: Any
    headers: Mapping[str, Any]
    context: dict[str, Any]

    def header(self, name: str) -> str | None:
        value = self.headers.get(name) if self.headers is not None else None
        if isinstance(value, list):
            value = value[0] if value else None
        return value if isinstance(value, str) else None


class HttpPersona(PersonaIdentity, FastHttpUser):
    """Base of the HTTP personas: requests go to absolute front-door URLs of the plan's
    ``http_targets``; the factory sets ``host``, timeouts, tasks and weight per plan."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._init_identity(environment)
        self._own_patient: str | None = None

    def context(self) -> dict[str, Any]:
        return self.record_context()

    def url(self, service: str, path: str) -> str:
        return self.plan.http_targets[service].rstrip("/") + path

    def call(
        self,
        method: str,
        service: str,
        path: str,
        name: str,
        *,
        expect: tuple[int, ...] = (200,),
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        context: dict[str, Any] | None = None,
        parse_json: bool = True,
        check: Callable[[Reply], None] | None = None,
    ) -> Reply | None:
        """Send one request and report it exactly once; return the reply if it succeeded.

        A status outside ``expect`` is a failure (error ``http-<status>``); so is a body that
        is not JSON when ``parse_json`` (``bad-body``), or one ``check`` rejects by raising
        (:class:`BadBody`, or any error reading it). A transport error (no response) is
        reported with its exception. ``check`` runs inside the request's report, so it can
        add record fields to ``reply.context`` and must not send requests itself.
        """
        request_context = {"service": service, **(context or {})}
        body = data
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            all_headers.setdefault("Content-Type", "application/fhir+json" if service == "ehr" else "application/json")
        all_headers.setdefault("Accept", "application/fhir+json" if service == "ehr" else "application/json")
        # geventhttpclient sends bytes as they are (the annotation says str or dict only).
        with self.client.request(method, self.url(service, path), name=name, data=body,  # type: ignore[arg-type]
                                 headers=all_headers, catch_response=True, context=request_context) as response:
            record = response.request_meta["context"]
            status = response.status_code
            if not status:
                return None  # no answer: Locust reports the transport exception at the block's end
            if status not in expect:
                record["error"] = f"http-{status}"
                response.failure(f"HTTP {status}, expected {'/'.join(map(str, expect))}")
                return None
            parsed: Any = None
            content = response.content or b""
            if parse_json and content:
                try:
                    parsed = json.loads(content)
                except ValueError:
                    record["error"] = "bad-body"
                    response.failure(f"HTTP {status} with a body that is not JSON")
                    return None
            reply = Reply(status, parsed if parse_json else content, response.headers or {}, record)
            if check is not None:
                try:
                    check(reply)
                except Exception as error:  # any surprise in the body: reported, never a lost request
                    record.setdefault("error", "bad-body")  # a check may name the error more precisely
                    response.failure(f"HTTP {status}: unexpected body: {type(error).__name__}: {error}")
                    return None
            response.success()
            return reply

    # -- patients ----------------------------------------------------------------------------

    def patient(self) -> str | None:
        """The patient for the next task, or None if this user's own patient could not be
        registered yet (the task is skipped; the next one tries again)."""
        index = self.synthetic_index()
        if index is not None:
            return clinical.synthetic_patient(index)
        if self._own_patient is None:
            self._own_patient = self.register_ward_patient()
        return self._own_patient

    def register_ward_patient(self) -> str | None:
        """Conditional create of this user's own Patient; its id, or None on failure."""
        value = f"{self.plan.run_id}-{self.user_id}"
        condition = urlencode({"identifier": f"{clinical.WARD_PATIENT_SYSTEM}|{value}"})  # a run id is free text
        created: dict[str, str] = {}

        def check(reply: Reply) -> None:
            resource_id = reply.body["id"]
            if reply.body.get("resourceType") != "Patient" or not isinstance(resource_id, str):
                raise BadBody("not a Patient with an id")
            created["id"] = resource_id
            reply.context["resource_id"] = f"Patient/{resource_id}"
            reply.context["version"] = str(reply.body.get("meta", {}).get("versionId", "")) or None

        patient = clinical.ward_patient(value, self.rng)
        reply = self.call("POST", "ehr", "/Patient", "ehr: POST Patient (conditional)", expect=(200, 201),
                          json_body=patient, headers={"If-None-Exist": condition}, check=check,
                          context={"write_key": clinical.write_key(patient)})
        return created["id"] if reply is not None else None


class PlainPersona(PersonaIdentity, User):
    """Base of non-HTTP personas (the MLLP lab system)."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._init_identity(environment)

    def context(self) -> dict[str, Any]:
        return self.record_context()
