"""Value types: validation of what we ask for, parsing of what the server says."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.errors import InvalidInput
from harness.toxiproxy import Proxy, ProxySpec, Toxic, ToxicSpec


@pytest.mark.parametrize("kwargs, fragment", [
    ({"name": "", "listen": "127.0.0.1:0", "upstream": "h:1"}, "non-empty name"),
    ({"name": "a/b", "listen": "127.0.0.1:0", "upstream": "h:1"}, "must not contain '/'"),
    ({"name": "a", "listen": "127.0.0.1", "upstream": "h:1"}, "listen address '127.0.0.1'"),
    ({"name": "a", "listen": "127.0.0.1:0", "upstream": "h:99999"}, "upstream address"),
])
def test_bad_proxy_spec_is_invalid_input(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ProxySpec(**kwargs)
    assert fragment in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("kwargs, fragment", [
    ({"type": ""}, "needs a type"),
    ({"type": "latency", "name": ""}, "toxic name"),
    ({"type": "latency", "stream": "sideways"}, "stream must be one of"),
    ({"type": "latency", "toxicity": 50}, "between 0 and 1"),
    ({"type": "latency", "toxicity": math.nan}, "between 0 and 1"),
    ({"type": "latency", "attributes": {"latency": "100ms"}}, "must be a number"),
    ({"type": "latency", "attributes": {"latency": True}}, "must be a number"),
])
def test_bad_toxic_spec_is_invalid_input(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ToxicSpec(**kwargs)
    assert fragment in caught.value.message


def test_toxic_spec_json_omits_a_missing_name_so_the_server_picks_it() -> None:
    assert ToxicSpec("latency", attributes={"latency": 5}).to_json() == \
        {"type": "latency", "stream": "downstream", "toxicity": 1.0, "attributes": {"latency": 5}}
    assert ToxicSpec("timeout", name="cut").to_json()["name"] == "cut"


def test_attributes_are_copied_and_read_only() -> None:
    raw = {"latency": 100}
    spec = ToxicSpec("latency", attributes=raw)
    raw["latency"] = 1
    assert spec.attributes["latency"] == 100
    with pytest.raises(TypeError):
        spec.attributes["latency"] = 2  # type: ignore[index]
    toxic = Toxic("t", "latency", "downstream", 1.0, {"latency": 1})
    assert hash(toxic) == hash(Toxic("t", "latency", "downstream", 1.0, {"latency": 1}))


def test_proxy_from_server_json() -> None:
    proxy = Proxy.from_json({
        "name": "ehr", "listen": "[::]:26379", "upstream": "db:5432", "enabled": True,
        "Logger": {},  # 2.12.0 leaks an internal field; it must be ignored
        "toxics": [{"attributes": {"rate": 5}, "name": "bw", "type": "bandwidth",
                    "stream": "upstream", "toxicity": 1}],
    })
    assert proxy.listen_host_port == ("::", 26379)
    assert proxy.toxic("bw") == Toxic("bw", "bandwidth", "upstream", 1.0, {"rate": 5})
    assert proxy.toxic("nope") is None


@pytest.mark.parametrize("data, fragment", [
    ([], "JSON object"),
    ({"name": "a", "listen": "x:1", "upstream": "y:2"}, "'enabled'"),
    ({"name": "a", "listen": "x:1", "upstream": 3, "enabled": True}, "'upstream'"),
    ({"name": "a", "listen": "x:1", "upstream": "y:2", "enabled": True, "toxics": {}}, "'toxics'"),
    ({"name": "a", "listen": "x:1", "upstream": "y:2", "enabled": True,
      "toxics": [{"name": "t", "type": "x", "stream": "both", "toxicity": 1}]}, "'stream'"),
])
def test_malformed_server_json_raises_value_error(data: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Proxy.from_json(data)
