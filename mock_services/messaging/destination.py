"""Delivery to the FHIR destination (the EHR's base URL): which messages go, and how.

What goes where (:func:`destination_for`): ADT^A01/A03/A08 and ORU^R01 are queued for the
``fhir`` destination when ``--destination-fhir`` is set; ORM^O01 and OML^O21 are stored with
no destination (the EHR takes no ServiceRequest), as is everything when no destination is set.

How (:class:`FhirDestination`, resources from :mod:`.fhir_mapping`):

* *Subject* of results and encounters: ``GET /Patient?identifier=<PID-3 system|value>`` ->
  ``{"reference": "Patient/<id>", "identifier": ...}`` when found, the logical
  ``{"identifier": ...}`` alone when not (results may arrive before the admission).
* *ORU^R01*: POST each Observation, then the DiagnosticReport with ``result`` referencing them.
  *ADT^A03*: POST the finished Encounter.
* *ADT^A01/A08* (conditional create/update by PID-3): with de-duplication on, POST the
  Patient with ``If-None-Exist: identifier=<PID-3>``; off, search by PID-3 and POST if none.
  When the patient already exists, the message's demographics (name, birth date, gender,
  address, new identifiers) are merged into it and written with ``PUT /Patient/<id>`` and
  ``If-Match`` on the version read -- only if something changed, so a retry writes nothing.
* *De-duplication* (``--dedup-key on``): every Observation, DiagnosticReport and Encounter is
  POSTed with ``If-None-Exist: identifier=urn:hchaos:hl7:message-key|<key>`` (its message key:
  a digest of MSH-3, MSH-10 and the resource's place in the message, see
  :mod:`.fhir_mapping`), so a retry after a lost response -- or the other engine receiving
  the sender's resend -- finds what the first attempt created, and nothing else. Off: no
  condition -- a retry creates duplicates, on purpose.

Any answer other than 200/201, a timeout or a connection error raises
:class:`~.forwarder.DeliveryError`: the forwarder retries the whole message (what was
already created is found again thanks to the conditions).

*Before the ACK* (:func:`mapping_problem`): the listener maps every message it is about to
queue here, dry (no HTTP, a placeholder subject), and answers AE instead of AA when that
fails -- a message that cannot be mapped would otherwise be acknowledged and then retried
for ever at the head of the queue.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from mock_services.messaging import fhir_mapping
from mock_services.messaging.forwarder import DeliveryError
from mock_services.messaging.hl7v2 import Message, parse
from mock_services.messaging.store import StoredMessage
from mock_services.messaging.validation import message_type

FHIR_DESTINATION = "fhir"
FORWARDED_TYPES = frozenset({"ADT^A01", "ADT^A03", "ADT^A08", "ORU^R01"})
_JSON = "application/fhir+json"


def destination_for(message_type_text: str, destination_fhir: str | None) -> str:
    """The destination queue of a message type ('' = stored only)."""
    return FHIR_DESTINATION if destination_fhir and message_type_text in FORWARDED_TYPES else ""


_PLACEHOLDER_SUBJECT: dict[str, object] = {"identifier": {"system": "urn:hchaos:dry-run", "value": "x"}}


def mapping_problem(message: Message) -> str | None:
    """Why ``message`` (valid, of a forwarded type) could not be turned into FHIR -- whatever
    the destination would answer -- or None when it can. Pure: the same mapping functions as
    delivery, with a placeholder subject, then JSON without NaN or infinity."""
    code, trigger = message_type(message)
    try:
        resources: list[object] = []
        if code == "ORU":
            for lab in fhir_mapping.lab_reports(message, _PLACEHOLDER_SUBJECT, message.control_id):
                resources += [lab.report, *lab.observations]
        elif trigger == "A03":
            resources.append(fhir_mapping.encounter(message, _PLACEHOLDER_SUBJECT, message.control_id))
        else:
            resources.append(fhir_mapping.patient(message))
        resources.append(fhir_mapping.primary_identifier(message).token())
        json.dumps(resources, allow_nan=False)
    except Exception as error:  # any bug of the mapping: refused now rather than never delivered
        return f"{type(error).__name__}: {error}"
    return None


class FhirDestination:
    """Delivers one stored message as FHIR resources (blocking; owned by the forwarder thread)."""

    def __init__(
        self, base_url: str, timeout: float, dedup: bool, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url
        self.dedup = dedup
        self._client = httpx.Client(
            timeout=timeout, transport=transport, headers={"Accept": _JSON, "User-Agent": "hchaos-messaging"}
        )

    def close(self) -> None:
        self._client.close()

    def deliver(self, stored: StoredMessage) -> list[str]:
        """Send ``stored``; return the references of the resources it became. Raises DeliveryError."""
        message = parse(stored.raw)
        code, trigger = message_type(message)
        try:
            if code == "ORU":
                return self._results(message, stored.control_id)
            if (code, trigger) in (("ADT", "A01"), ("ADT", "A08")):
                return [self._patient(message)]
            if (code, trigger) == ("ADT", "A03"):
                subject = self._subject(message)
                encounter = fhir_mapping.encounter(message, subject, stored.control_id)
                return [self._post(encounter, self._condition(encounter))[0]]
        except httpx.HTTPError as error:
            raise DeliveryError(f"{type(error).__name__}: {error}") from error
        raise DeliveryError(f"no FHIR mapping for {code}^{trigger}")

    def _results(self, message: Message, control_id: str) -> list[str]:
        subject = self._subject(message)
        references: list[str] = []
        for lab in fhir_mapping.lab_reports(message, subject, control_id):
            results = [self._post(observation, self._condition(observation))[0] for observation in lab.observations]
            lab.report["result"] = [{"reference": reference} for reference in results]
            references += [*results, self._post(lab.report, self._condition(lab.report))[0]]
        return references

    def _subject(self, message: Message) -> dict[str, object]:
        identifier = fhir_mapping.primary_identifier(message)
        found = self._find("Patient", identifier.token())
        if found is not None:
            return {"reference": f"Patient/{found['id']}", "identifier": identifier.to_fhir()}
        return {"identifier": identifier.to_fhir()}

    def _patient(self, message: Message) -> str:
        resource = fhir_mapping.patient(message)
        token = fhir_mapping.primary_identifier(message).token()
        if self.dedup:
            reference, existing = self._post(resource, token)
        else:
            existing = self._find("Patient", token)
            if existing is None:
                return self._post(resource, None)[0]
            reference = f"Patient/{existing['id']}"
        if existing is not None:
            self._update(reference, existing, fhir_mapping.merge_patient(existing, resource))
        return reference

    def _update(self, reference: str, current: dict[str, Any], merged: dict[str, Any]) -> None:
        if fhir_mapping.same_content(current, merged):
            return  # nothing new (e.g. a retry): no new version
        headers = {"Content-Type": _JSON}
        version = (current.get("meta") or {}).get("versionId")
        if version:
            headers["If-Match"] = f'W/"{version}"'
        response = self._client.put(f"{self.base_url}/{reference}", json=merged, headers=headers)
        if response.status_code not in (200, 201):
            raise DeliveryError(f"PUT {reference}: HTTP {response.status_code} {response.text[:200]}")

    def _condition(self, resource: dict[str, object]) -> str | None:
        """``system|value`` of the message key when dedup is on, else None."""
        if not self.dedup:
            return None
        identifiers = resource["identifier"]
        assert isinstance(identifiers, list)
        key = next(i for i in identifiers if i["system"] == fhir_mapping.MESSAGE_KEY_SYSTEM)
        return f"{key['system']}|{key['value']}"

    def _post(self, resource: dict[str, object], condition: str | None) -> tuple[str, dict[str, Any] | None]:
        """POST ``resource`` (``If-None-Exist: identifier=<condition>`` unless None).

        Returns its reference, and the existing resource when the condition matched one (200)."""
        kind = str(resource["resourceType"])
        headers = {"Content-Type": _JSON}
        if condition:
            headers["If-None-Exist"] = f"identifier={quote(condition, safe='|:/')}"
        response = self._client.post(f"{self.base_url}/{kind}", json=resource, headers=headers)
        if response.status_code not in (200, 201):
            raise DeliveryError(f"POST {kind}: HTTP {response.status_code} {response.text[:200]}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("resourceType") == kind and body.get("id"):
            return f"{kind}/{body['id']}", body if response.status_code == 200 else None
        # No resource in the body (a server answering Prefer: return=minimal style): find it.
        found = self._find(kind, condition) if condition else None
        if found is not None:
            return f"{kind}/{found['id']}", found if response.status_code == 200 else None
        location = str(response.headers.get("location", ""))
        if response.status_code == 201 and f"{kind}/" in location:
            return kind + "/" + location.split(f"{kind}/", 1)[1].split("/")[0], None
        raise DeliveryError(f"POST {kind}: HTTP {response.status_code} without the resource or its id")

    def _find(self, kind: str, token: str) -> dict[str, Any] | None:
        """The first ``kind`` whose identifier matches ``system|value`` (None if none)."""
        response = self._client.get(f"{self.base_url}/{kind}", params={"identifier": token})
        if response.status_code != 200:
            raise DeliveryError(f"GET {kind}?identifier: HTTP {response.status_code} {response.text[:200]}")
        for entry in response.json().get("entry") or []:
            resource = entry.get("resource") or {}
            if resource.get("resourceType") == kind and resource.get("id"):
                found: dict[str, Any] = resource
                return found
        return None
