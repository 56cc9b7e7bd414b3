"""API contract of ToxiproxyClient, run against BOTH the in-memory fake and the real
toxiproxy-server 2.12.0 (the ``api`` fixture), so the fake cannot drift from the server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.toxiproxy import (
    Proxy,
    ProxySpec,
    Toxic,
    ToxicSpec,
    ToxiproxyClient,
    ToxiproxyConflict,
    ToxiproxyError,
    ToxiproxyNotFound,
)

UPSTREAM = "127.0.0.1:9"  # never dialled: no client connects through these proxies


def make(api: ToxiproxyClient, name: str, *, enabled: bool = True) -> Proxy:
    return api.create_proxy(ProxySpec(name, "127.0.0.1:0", UPSTREAM, enabled=enabled))


# -- server --------------------------------------------------------------------------------


def test_version_is_the_pinned_release(api: ToxiproxyClient) -> None:
    assert api.version() == "2.12.0"


# -- proxies -------------------------------------------------------------------------------


def test_create_proxy_binds_a_port_and_is_listed(api: ToxiproxyClient) -> None:
    created = make(api, "ehr")
    host, port = created.listen_host_port
    assert (created.name, created.upstream, created.enabled, created.toxics) == \
        ("ehr", UPSTREAM, True, ())
    assert host == "127.0.0.1" and port > 0
    assert api.proxy("ehr") == created
    assert api.proxies() == {"ehr": created}


def test_disabled_proxy_keeps_port_zero_until_enabled(api: ToxiproxyClient) -> None:
    created = make(api, "labs", enabled=False)
    assert (created.enabled, created.listen) == (False, "127.0.0.1:0")
    enabled = api.enable("labs")
    assert enabled.enabled and enabled.listen_host_port[1] > 0


def test_disable_then_enable_keeps_the_bound_port(api: ToxiproxyClient) -> None:
    created = make(api, "pacs")
    assert api.disable("pacs").enabled is False
    assert api.proxy("pacs").enabled is False
    again = api.enable("pacs")
    assert again.enabled and again.listen == created.listen


def test_update_upstream_keeps_toxics(api: ToxiproxyClient) -> None:
    make(api, "mllp")
    api.add_toxic("mllp", ToxicSpec("latency", attributes={"latency": 50}))
    updated = api.update_proxy("mllp", upstream="127.0.0.1:10")
    assert updated.upstream == "127.0.0.1:10"
    assert [t.name for t in updated.toxics] == ["latency_downstream"]


def test_create_duplicate_proxy_conflicts_with_a_useful_message(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    with pytest.raises(ToxiproxyConflict) as caught:
        make(api, "ehr")
    err = caught.value
    assert (err.status, err.method, err.path, err.detail) == \
        (409, "POST", "/proxies", "proxy already exists")
    assert err.message == f"toxiproxy at {api.base_url}: POST /proxies -> 409: proxy already exists"
    assert err.exit_code == 3


def test_listen_address_in_use_fails_and_creates_nothing(api: ToxiproxyClient) -> None:
    first = make(api, "a")
    with pytest.raises(ToxiproxyError) as caught:
        api.create_proxy(ProxySpec("b", first.listen, UPSTREAM))
    assert caught.value.status == 500
    assert "address already in use" in caught.value.detail
    assert set(api.proxies()) == {"a"}


def test_failed_re_listen_stores_new_address_and_leaves_proxy_disabled(api: ToxiproxyClient) -> None:
    # Surprising but real: the server stops the proxy, stores the new address, then fails.
    a = make(api, "a")
    make(api, "b")
    with pytest.raises(ToxiproxyError) as caught:
        api.update_proxy("b", listen=a.listen)
    assert caught.value.status == 500
    b = api.proxy("b")
    assert (b.listen, b.enabled) == (a.listen, False)


@pytest.mark.parametrize("call", [
    lambda api: api.proxy("nope"),
    lambda api: api.disable("nope"),
    lambda api: api.delete_proxy("nope"),
    lambda api: api.toxics("nope"),
    lambda api: api.add_toxic("nope", ToxicSpec("latency")),
], ids=["get", "update", "delete", "toxics", "add_toxic"])
def test_missing_proxy_is_not_found(api: ToxiproxyClient,
                                    call: Callable[[ToxiproxyClient], object]) -> None:
    with pytest.raises(ToxiproxyNotFound) as caught:
        call(api)
    assert caught.value.status == 404
    assert caught.value.detail == "proxy not found"
    assert "/proxies/nope" in caught.value.message


def test_delete_proxy_and_missing_ok(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    api.delete_proxy("ehr")
    assert api.proxies() == {}
    api.delete_proxy("ehr", missing_ok=True)  # idempotent heal
    with pytest.raises(ToxiproxyNotFound):
        api.delete_proxy("ehr")


def test_names_are_escaped_in_paths(api: ToxiproxyClient) -> None:
    created = api.create_proxy(ProxySpec("dc a?x#y", "127.0.0.1:0", UPSTREAM))
    assert api.proxy("dc a?x#y") == created
    api.add_toxic("dc a?x#y", ToxicSpec("latency", name="t ?#"))
    assert api.toxic("dc a?x#y", "t ?#").name == "t ?#"


# -- populate / reset -----------------------------------------------------------------------


def test_populate_creates_in_order(api: ToxiproxyClient) -> None:
    specs = [ProxySpec("ehr", "127.0.0.1:0", UPSTREAM),
             ProxySpec("labs", "127.0.0.1:0", UPSTREAM, enabled=False)]
    created = api.populate(specs)
    assert [(p.name, p.enabled) for p in created] == [("ehr", True), ("labs", False)]
    assert api.proxies() == {p.name: p for p in created}


def test_populate_empty_list(api: ToxiproxyClient) -> None:
    assert api.populate([]) == []


def test_populate_keeps_a_matching_proxy_untouched(api: ToxiproxyClient) -> None:
    ehr = make(api, "ehr")
    api.add_toxic("ehr", ToxicSpec("latency", attributes={"latency": 10}))
    # Same listen/upstream: kept as is -- toxics stay and enabled=False is NOT applied.
    [kept] = api.populate([ProxySpec("ehr", ehr.listen, UPSTREAM, enabled=False)])
    assert kept.enabled is True
    assert [t.name for t in kept.toxics] == ["latency_downstream"]


def test_populate_replaces_a_differing_proxy(api: ToxiproxyClient) -> None:
    ehr = make(api, "ehr")
    api.add_toxic("ehr", ToxicSpec("latency"))
    [replaced] = api.populate([ProxySpec("ehr", ehr.listen, "127.0.0.1:10")])
    assert (replaced.upstream, replaced.toxics, replaced.listen) == ("127.0.0.1:10", (), ehr.listen)


def test_reset_enables_every_proxy_and_removes_every_toxic(api: ToxiproxyClient) -> None:
    make(api, "a")
    make(api, "born-disabled", enabled=False)
    api.add_toxic("a", ToxicSpec("timeout"))
    api.add_toxic("a", ToxicSpec("latency", stream="upstream"))
    api.disable("a")
    api.reset()
    after = api.proxies()
    assert {name: (p.enabled, p.toxics) for name, p in after.items()} == \
        {"a": (True, ()), "born-disabled": (True, ())}


# -- toxics ---------------------------------------------------------------------------------


def test_add_toxic_fills_server_defaults(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    toxic = api.add_toxic("ehr", ToxicSpec("latency", attributes={"latency": 100}))
    assert toxic == Toxic("latency_downstream", "latency", "downstream", 1.0,
                          {"latency": 100, "jitter": 0})
    assert api.toxics("ehr") == [toxic]
    assert api.toxic("ehr", "latency_downstream") == toxic
    assert api.proxy("ehr").toxics == (toxic,)


def test_toxicity_round_trips_as_float32(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    assert api.add_toxic("ehr", ToxicSpec("timeout", toxicity=0.3)).toxicity == 0.3
    assert api.add_toxic("ehr", ToxicSpec("latency", toxicity=0.123456789)).toxicity == 0.12345679


def test_toxics_list_upstream_first_then_in_insertion_order(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    api.add_toxic("ehr", ToxicSpec("latency", name="d1"))
    api.add_toxic("ehr", ToxicSpec("timeout", name="u1", stream="upstream"))
    api.add_toxic("ehr", ToxicSpec("bandwidth", name="d2", attributes={"rate": 10}))
    api.add_toxic("ehr", ToxicSpec("slicer", name="u2", stream="upstream"))
    assert [t.name for t in api.toxics("ehr")] == ["u1", "u2", "d1", "d2"]
    api.remove_toxic("ehr", "u1")
    assert [t.name for t in api.toxics("ehr")] == ["u2", "d1", "d2"]


def test_duplicate_toxic_conflicts(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    api.add_toxic("ehr", ToxicSpec("latency"))
    with pytest.raises(ToxiproxyConflict) as caught:
        api.add_toxic("ehr", ToxicSpec("latency"))  # default name latency_downstream again
    assert caught.value.message == (f"toxiproxy at {api.base_url}: POST /proxies/ehr/toxics "
                                    "-> 409: toxic already exists")


def test_unknown_toxic_type_is_a_400(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    with pytest.raises(ToxiproxyError) as caught:
        api.add_toxic("ehr", ToxicSpec("earthquake"))
    assert (type(caught.value), caught.value.status, caught.value.detail) == \
        (ToxiproxyError, 400, "invalid toxic type")


def test_fractional_attribute_is_refused_by_the_server(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    with pytest.raises(ToxiproxyError) as caught:
        api.add_toxic("ehr", ToxicSpec("latency", attributes={"latency": 1.5}))
    assert caught.value.status == 400
    assert "cannot unmarshal number 1.5" in caught.value.detail
    assert "LatencyToxic.attributes.latency" in caught.value.detail
    assert api.toxics("ehr") == []


def test_unknown_attributes_are_ignored_by_the_server(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    toxic = api.add_toxic("ehr", ToxicSpec("bandwidth", attributes={"rate": 5, "burst": 9}))
    assert dict(toxic.attributes) == {"rate": 5}


def test_update_toxic_merges_attributes_and_keeps_toxicity(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    api.add_toxic("ehr", ToxicSpec("latency", name="slow", toxicity=0.5,
                                   attributes={"latency": 100, "jitter": 10}))
    updated = api.update_toxic("ehr", "slow", attributes={"latency": 250})
    assert (dict(updated.attributes), updated.toxicity) == ({"latency": 250, "jitter": 10}, 0.5)
    updated = api.update_toxic("ehr", "slow", toxicity=1.0)
    assert (dict(updated.attributes), updated.toxicity) == ({"latency": 250, "jitter": 10}, 1.0)
    assert api.toxics("ehr") == [updated]


def test_update_toxic_with_a_bad_attribute_changes_nothing(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    before = api.add_toxic("ehr", ToxicSpec("latency", attributes={"latency": 100}))
    with pytest.raises(ToxiproxyError) as caught:
        api.update_toxic("ehr", "latency_downstream", attributes={"latency": 0.5})
    assert caught.value.status == 400
    assert api.toxics("ehr") == [before]


def test_update_missing_toxic_is_not_found(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    with pytest.raises(ToxiproxyNotFound) as caught:
        api.update_toxic("ehr", "ghost", toxicity=0.5)
    assert caught.value.message == (f"toxiproxy at {api.base_url}: PATCH /proxies/ehr/toxics/ghost"
                                    " -> 404: toxic not found")


def test_remove_toxic_and_missing_ok(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    api.add_toxic("ehr", ToxicSpec("timeout", name="cut"))
    api.remove_toxic("ehr", "cut")
    assert api.toxics("ehr") == []
    api.remove_toxic("ehr", "cut", missing_ok=True)
    api.remove_toxic("no-such-proxy", "cut", missing_ok=True)
    with pytest.raises(ToxiproxyNotFound) as caught:
        api.remove_toxic("ehr", "cut")
    assert caught.value.detail == "toxic not found"


def test_toxics_on_a_disabled_proxy_are_kept(api: ToxiproxyClient) -> None:
    make(api, "ehr")
    api.add_toxic("ehr", ToxicSpec("latency"))
    disabled = api.disable("ehr")
    assert [t.name for t in disabled.toxics] == ["latency_downstream"]
    assert [t.name for t in api.enable("ehr").toxics] == ["latency_downstream"]
