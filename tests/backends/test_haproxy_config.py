import subprocess
from pathlib import Path

import pytest

from harness.backends.local.haproxy import (
    FrontDoorTiming,
    HaproxyBackendServer,
    HaproxyRoute,
    render_haproxy_config,
)
from harness.tools import find_haproxy


def render() -> str:
    return render_haproxy_config(
        bind_host="127.0.0.1", stats_port=18001, timing=FrontDoorTiming(check_interval=0.25, fall=3),
        routes=[
            HaproxyRoute("ehr", 18000, (HaproxyBackendServer("ehr-a", "127.0.0.1", 18002),
                                        HaproxyBackendServer("ehr-b", "127.0.0.1", 18003)), "/primary", "primary"),
            HaproxyRoute("imaging", 18010, (HaproxyBackendServer("pacs-a", "127.0.0.1", 18012),
                                            HaproxyBackendServer("pacs-b", "127.0.0.1", 18013)),
                         "/health", "active-backup"),
        ])


def test_primary_route_checks_the_primary_endpoint_and_has_no_backup() -> None:
    cfg = render()
    assert "option httpchk GET /primary" in cfg
    assert "server ehr-a 127.0.0.1:18002 check\n" in cfg
    assert "server ehr-b 127.0.0.1:18003 check\n" in cfg
    assert "inter 250ms" in cfg and "fall 3" in cfg
    assert "on-marked-down shutdown-sessions" in cfg


def test_active_backup_route_marks_the_second_server_backup() -> None:
    cfg = render()
    assert "bind 127.0.0.1:18010" in cfg
    assert "server pacs-a 127.0.0.1:18012 check\n" in cfg
    assert "server pacs-b 127.0.0.1:18013 check backup" in cfg


@pytest.mark.integration
def test_real_haproxy_accepts_the_config(tmp_path: Path) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text(render())
    haproxy = find_haproxy().path
    result = subprocess.run([str(haproxy), "-c", "-f", str(path)], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stdout + result.stderr
