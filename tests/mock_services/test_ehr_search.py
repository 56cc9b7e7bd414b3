"""FHIR searches (US Core's mandatory ones) against an in-process EHR loaded with FakeDataset(6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mock_services.ehr.app import create_app
from mock_services.ehr.config import ConfiguredRole
from mock_services.ehr.index import TokenMatch
from mock_services.ehr.search import parse_token_list
from mock_services.ehr.testing import MRN_SYSTEM, FakeDataset, make_config, serving

pytestmark = pytest.mark.anyio
Client = httpx.AsyncClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def ehr(tmp_path: Path) -> AsyncIterator[Client]:
    config = make_config(tmp_path, "ehr-a", ConfiguredRole.PRIMARY, peer=False, patients=6)
    async with serving(create_app(config, dataset=FakeDataset(6))) as client:
        yield client


async def ids(client: Client, path: str, **params: str) -> list[str]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    found = [entry["resource"]["id"] for entry in bundle["entry"]]
    assert bundle["total"] == len(found)  # every search below fits one page
    return found


async def test_patient_searches(ehr: Client) -> None:
    assert await ids(ehr, "/Patient", _id="p000002,p000004") == ["p000002", "p000004"]
    assert await ids(ehr, "/Patient", identifier=f"{MRN_SYSTEM}|MRN00000003") == ["p000003"]
    assert await ids(ehr, "/Patient", identifier="MRN00000003") == ["p000003"]  # any system
    assert await ids(ehr, "/Patient", identifier="urn:other|MRN00000003") == []
    # name: case- and accent-insensitive prefix of family, given, or "given family"
    assert await ids(ehr, "/Patient", name="family5") == ["p000005"]
    assert await ids(ehr, "/Patient", name="AMELIE") == ["p000001", "p000003", "p000005"]
    assert await ids(ehr, "/Patient", name="pierre family4") == ["p000004"]
    assert await ids(ehr, "/Patient", name="Amélie", birthdate="1980-01-03") == ["p000003"]
    assert await ids(ehr, "/Patient", birthdate="ge1980-01-05") == ["p000005", "p000006"]
    assert await ids(ehr, "/Patient", family="FAM", gender="male") == ["p000002", "p000004", "p000006"]


async def test_encounter_by_patient_and_date_prefixes(ehr: Client) -> None:
    # enc-i starts 2024-01-10 for even i, 2024-02-10 for odd i.
    assert await ids(ehr, "/Encounter", patient="p000001") == ["enc-1"]
    assert await ids(ehr, "/Encounter", patient="Patient/p000001") == ["enc-1"]
    assert await ids(ehr, "/Encounter", subject="Patient/p000002", date="ge2024-01-10") == ["enc-2"]
    assert await ids(ehr, "/Encounter", patient="p000002", date="gt2024-01-10") == []
    assert await ids(ehr, "/Encounter", patient="p000002", date="lt2024-01-10") == []
    assert await ids(ehr, "/Encounter", patient="p000002", date="le2024-01-10") == ["enc-2"]
    assert await ids(ehr, "/Encounter", patient="p000002", date="eq2024-01") == ["enc-2"]
    assert await ids(ehr, "/Encounter", patient="p000001", date="2024-01") == []
    both = await ehr.get("/Encounter", params=[("date", "ge2024-01-01"), ("date", "lt2024-02-01")])
    assert [e["resource"]["id"] for e in both.json()["entry"]] == ["enc-2", "enc-4", "enc-6"]


async def test_clinical_searches_by_patient(ehr: Client) -> None:
    assert await ids(ehr, "/Observation", patient="p000001", category="laboratory") == ["lab-1"]
    assert await ids(ehr, "/Observation", patient="p000001", category="vital-signs", date="ge2024-01-01") == ["vs-1"]
    assert await ids(ehr, "/Observation", patient="p000001", category="vital-signs", date="ge2024-02-01") == []
    assert await ids(ehr, "/Observation", patient="p000001", code="http://loinc.org|718-7") == ["lab-1"]
    assert await ids(ehr, "/Observation", patient="p000001", code="718-7,8867-4") == ["vs-1", "lab-1"]
    assert await ids(ehr, "/MedicationRequest", patient="p000001", intent="order") == ["mr-1"]
    assert await ids(ehr, "/MedicationRequest", patient="p000002", intent="order", status="active") == []
    assert await ids(ehr, "/MedicationRequest", patient="p000002", intent="order", status="completed") == ["mr-2"]
    assert await ids(ehr, "/DiagnosticReport", patient="p000003", category="LAB") == ["dr-3"]
    assert await ids(ehr, "/AllergyIntolerance", patient="p000004") == ["al-4"]
    assert await ids(ehr, "/Observation", patient="Group/p000001") == []  # patient means Patient


async def test_paging_follows_next_links_with_a_cursor(ehr: Client) -> None:
    seen: list[str] = []
    url: str | None = "/Observation?category=laboratory&_count=4"
    pages = 0
    while url is not None and pages < 10:  # bounded: 6 results in pages of 4
        bundle = (await ehr.get(url)).json()
        pages += 1
        assert bundle["total"] == 6
        seen += [entry["resource"]["id"] for entry in bundle["entry"]]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert links["self"].startswith("http://ehr.test/Observation?")
        url = links.get("next")
        if url is not None:
            query = parse_qs(urlsplit(url).query)
            assert query["category"] == ["laboratory"] and query["_count"] == ["4"] and "_cursor" in query
    assert pages == 2
    assert seen == [f"lab-{i}" for i in range(1, 7)]


async def test_search_bundle_entries_are_complete(ehr: Client) -> None:
    bundle = (await ehr.get("/AllergyIntolerance", params={"patient": "p000001"})).json()
    (entry,) = bundle["entry"]
    assert entry["fullUrl"] == "http://ehr.test/AllergyIntolerance/al-1"
    assert entry["search"] == {"mode": "match"}
    assert entry["resource"]["meta"] == {
        "versionId": "1",
        "lastUpdated": "2024-08-03T00:00:00.000000Z",
        "source": "synthetic#0",
    }
    assert bundle["meta"]["lastUpdated"].endswith("Z")
    summary = (await ehr.get("/Observation", params={"_summary": "count"})).json()
    assert summary["total"] == 12 and summary["entry"] == []


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/Observation", {"patient": "p1", "colour": "red"}, "unknown search parameter 'colour' for Observation"),
        ("/Patient", {"name:exact": "x"}, "'name:exact': modifier not supported"),
        ("/Observation", {"subject.name": "x"}, "'subject.name': chained search not supported"),
        ("/Encounter", {"date": "ap2024"}, "prefix 'ap' is not supported"),
        ("/Encounter", {"date": "2024-13-01"}, "'2024-13-01' is not a FHIR date"),
        ("/Patient", {"_count": "5000"}, "_count must be an integer 0..1000"),
        ("/Patient", {"identifier": "|"}, "empty token"),
        ("/Patient", {"_cursor": "x"}, "_cursor"),
        ("/Patient", {"_cursor": "32294167327281350967296"}, "_cursor"),  # was a 500: SQLite integer overflow
        ("/Patient", {"_count": "\u00b2"}, "_count"),  # '²'.isdigit() but int('²') fails: was a 500
        ("/Patient", {"_cursor": "\u0663"}, "_cursor"),  # an Arabic-Indic 3 is not an ASCII cursor
        ("/Patient", {"name": "a,"}, "empty value"),  # an empty part of a list is still an error
        ("/Patient", {"family": "\u0301"}, "'family'"),  # a lone accent: nothing left to search for
    ],
)
async def test_bad_searches_are_400_naming_the_parameter(
    ehr: Client, path: str, params: dict[str, str], named: str
) -> None:
    response = await ehr.get(path, params=params)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["code"] == "invalid" and named in issue["diagnostics"]


async def test_empty_search_values_are_ignored(ehr: Client) -> None:
    """FHIR R4 search: "parameters with empty values are ignored"."""
    everyone = await ids(ehr, "/Patient")
    assert len(everyone) == 6
    assert await ids(ehr, "/Patient", family="") == everyone
    assert await ids(ehr, "/Patient", _id="", identifier="", birthdate="", gender="") == everyone
    assert await ids(ehr, "/Patient", family="", gender="male") == ["p000002", "p000004", "p000006"]
    assert await ids(ehr, "/Patient", _count="", _cursor="", _summary="") == everyone
    assert await ids(ehr, "/Observation", patient="", category="laboratory", code="") == [
        f"lab-{i}" for i in range(1, 7)
    ]


async def test_unknown_resource_type_is_404_not_supported(ehr: Client) -> None:
    for response in (await ehr.get("/Foo"), await ehr.get("/Foo/1"), await ehr.post("/Foo", json={})):
        assert response.status_code == 404
        issue = response.json()["issue"][0]
        assert issue["code"] == "not-supported" and "resource type 'Foo' is not supported" in issue["diagnostics"]


def test_token_values_honour_fhir_escapes() -> None:
    assert parse_token_list(r"urn:a\|b|x\,y,plain") == [TokenMatch("urn:a|b", "x,y"), TokenMatch(None, "plain")]
    assert parse_token_list("urn:sys|") == [TokenMatch("urn:sys", None)]
    assert parse_token_list("|code") == [TokenMatch("", "code")]
