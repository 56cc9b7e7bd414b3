import subprocess
from pathlib import Path

import pytest

from harness.backends.local.haproxy import FrontDoorTiming, HaproxyBackendServer, render_haproxy_config
from harness.tools import find_haproxy


def render() -> str:
    return render_haproxy_config(
        service="ehr", bind_host="127.0.0.1", bind_port=18000, stats_port=18001,
        servers=[HaproxyBackendServer("ehr-a", "127.0.0.1", 18002),
                 HaproxyBackendServer("ehr-b", "127.0.0.1", 18003)],
        primary_check_path="/primary", timing=FrontDoorTiming(check_interval=0.25, fall=3))


def test_config_routes_on_the_primary_check() -> None:
    cfg = render()
    assert "option httpchk GET /primary" in cfg
    assert "server ehr-a 127.0.0.1:18002 check" in cfg
    assert "inter 250ms" in cfg and "fall 3" in cfg
    assert "on-marked-down shutdown-sessions" in cfg


@pytest.mark.integration
def test_real_haproxy_accepts_the_config(tmp_path: Path) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text(render())
    haproxy = find_haproxy().path
    result = subprocess.run([str(haproxy), "-c", "-f", str(path)], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stdout + result.stderr
