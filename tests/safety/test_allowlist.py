"""The allow-list: what may be contacted outside loopback (pure logic; names resolved by a fake
resolver, so nothing is looked up)."""

from __future__ import annotations

import pytest

from harness.load.safety import refused_hosts
from harness.safety.allowlist import AllowList, is_loopback, parse_entry

ZONE = {"pacs.staging.example": ["10.20.1.5"], "split.staging.example": ["10.20.1.6", "192.0.2.7"],
        "v6.staging.example": ["fd00::5"]}


def resolve(host: str) -> list[str]:
    return ZONE.get(host, [])


@pytest.mark.parametrize("entry", ["ehr.staging.example", "EHR.Staging.Example.", "10.20.0.0/16", "10.20.1.5",
                                   "fd00::/64", "::1", "[fd00::1]", "relay_a"])
def test_entries_that_parse(entry: str) -> None:
    parse_entry(entry)


@pytest.mark.parametrize(("entry", "why"), [
    ("", "empty"), ("http://ehr.example", "no scheme, port or path"), ("ehr.example:443", "no scheme, port or path"),
    ("/fhir", "no scheme"), ("10.0.0.0/40", "CIDR"), ("ehr..example", "not a valid host name"),
    ("-ehr.example", "not a valid host name"), ("a" * 64 + ".example", "not a valid host name"),
    ("10.20", "neither an IP address nor a host name"), ("010.1.1.1", "neither an IP address nor a host name")])
def test_entries_that_do_not_parse_say_why(entry: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_entry(entry)


def test_decisions() -> None:
    allow = AllowList.parse(["10.20.0.0/16", "ehr.staging.example", "fd00::/64"], own=["172.30.0.5"])
    expected = {
        "127.0.0.1": (True, "loopback"), "127.9.0.1": (True, "loopback"), "::1": (True, "loopback"),
        "localhost": (True, "loopback"),
        "10.20.9.9": (True, "in allow: 10.20.0.0/16"), "10.21.0.1": (False, "not in allow"),
        "ehr.staging.example": (True, "in allow: ehr.staging.example"),
        "EHR.staging.example.": (True, "in allow: ehr.staging.example"),
        "pacs.staging.example": (True, "resolves to 10.20.1.5, all allowed"),
        "v6.staging.example": (True, "resolves to fd00::5, all allowed"),
        "split.staging.example": (False, "resolves to 192.0.2.7, not in allow"),  # every address must be allowed
        "nowhere.staging.example": (False, "does not resolve"),
        "172.30.0.5": (True, "the run's own container"), "172.30.0.6": (False, "not in allow"),
    }
    for host, (allowed, reason) in expected.items():
        decision = allow.decide(host, resolve)
        assert (decision.allowed, reason in decision.reason) == (allowed, True), (host, decision)


def test_an_empty_list_allows_loopback_only() -> None:
    allow = AllowList.parse([])
    assert allow.permits("127.0.0.1", resolve) and not allow.permits("10.20.1.5", resolve)
    assert not allow.permits("pacs.staging.example", resolve)
    assert is_loopback("[::1]") and not is_loopback("localhost.example.org")


def test_the_load_check_uses_the_same_rule() -> None:
    assert refused_hosts(["127.0.0.1", "10.20.3.4", "10.21.3.4"], ["10.20.0.0/16"]) == ["10.21.3.4"]
