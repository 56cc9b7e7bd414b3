"""Users' existing scripts use the PyPI package ``toxiproxy-python`` (import name
``toxiproxy``). They must keep working against the proxies the harness creates: it reads
them, toggles them, adds toxics, and our client sees what it did (and vice versa)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from harness.toxiproxy import ProxySpec, ToxicSpec, ToxiproxyClient

pytestmark = pytest.mark.integration

# Dev extra toxiproxy-python==0.1.1 (untyped). Imported by name because this test directory
# is itself called "toxiproxy", which confuses static checkers run over tests/. A missing
# package means a broken dev environment, so it fails rather than skips.
legacy_api: Any = importlib.import_module("toxiproxy.api")
legacy_server: Any = importlib.import_module("toxiproxy.server")


@pytest.fixture
def legacy(toxiproxy_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """toxiproxy-python pointed at the test server.

    Its host and port are class attributes of ``APIConsumer`` (process-wide globals);
    monkeypatch restores them afterwards so no other test inherits our server.
    """
    monkeypatch.setattr(legacy_api.APIConsumer, "host", "127.0.0.1")
    monkeypatch.setattr(legacy_api.APIConsumer, "port", toxiproxy_server.port)
    # It uses `requests`, which honours proxy variables; keep its calls on loopback.
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield legacy_server.Toxiproxy()


def test_toxiproxy_python_reads_and_toggles_our_proxies(
        legacy: Any, real_client: ToxiproxyClient) -> None:
    ehr, labs = real_client.populate([ProxySpec("ehr", "127.0.0.1:0", "127.0.0.1:5432"),
                                      ProxySpec("labs", "127.0.0.1:0", "127.0.0.1:2575")])
    real_client.add_toxic("ehr", ToxicSpec("latency", name="slow", attributes={"latency": 300}))

    seen = legacy.proxies()
    assert set(seen) == {"ehr", "labs"}
    assert (seen["ehr"].listen, seen["ehr"].upstream, seen["ehr"].enabled) == \
        (ehr.listen, "127.0.0.1:5432", True)
    assert seen["labs"].listen == labs.listen
    legacy_toxics = seen["ehr"].toxics()
    assert set(legacy_toxics) == {"slow"}
    assert legacy_toxics["slow"].attributes == {"latency": 300, "jitter": 0}

    seen["ehr"].disable()  # toxiproxy-python uses the deprecated POST; still supported
    assert real_client.proxy("ehr").enabled is False
    assert real_client.proxy("labs").enabled is True
    seen["ehr"].enable()
    assert real_client.proxy("ehr").enabled is True


def test_what_toxiproxy_python_adds_is_visible_to_us(
        legacy: Any, real_client: ToxiproxyClient) -> None:
    real_client.create_proxy(ProxySpec("pacs", "127.0.0.1:0", "127.0.0.1:8042"))
    legacy.get_proxy("pacs").add_toxic(type="bandwidth", attributes={"rate": 64})
    [toxic] = real_client.toxics("pacs")
    assert (toxic.name, toxic.type, toxic.stream, dict(toxic.attributes)) == \
        ("bandwidth_downstream", "bandwidth", "downstream", {"rate": 64})
    legacy.reset()
    assert real_client.toxics("pacs") == []
