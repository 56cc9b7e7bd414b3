"""Command lines of the care application and the notification sink: every bad value names its flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_services.care.__main__ import parse_config
from mock_services.notify.__main__ import parse_config as parse_notify_config

BASE = ["--name", "care-1", "--port", "18070", "--state-dir", "/tmp/care-1"]


def test_full_command_line() -> None:
    config = parse_config([
        *BASE, "--ehr-url", "http://127.0.0.1:18000/", "--labs-url", "http://127.0.0.1:18040",
        "--scheduling-url", "http://127.0.0.1:18050", "--notify-url", "http://127.0.0.1:18090/notifications",
        "--downtime-mode", "off", "--snapshot-interval", "30", "--max-snapshot-age", "120", "--max-patients", "50",
        "--ward", "cardiologie", "--ward", "urgences", "--breaker-failures", "5", "--breaker-window", "20",
        "--breaker-reset", "4", "--dependency-timeout", "1.5", "--probe-interval", "0.5", "--queue-capacity", "7",
        "--id-prefix", "PANNE", "--printer", "fail",
    ])  # fmt: skip
    assert config.ehr_url == "http://127.0.0.1:18000" and config.imaging_url is None
    assert config.configured("labs") and not config.configured("imaging")
    assert config.datacenter == "campus" and config.downtime_mode is False and config.printer_failing is True
    assert config.wards == ("cardiologie", "urgences") and config.state_dir == Path("/tmp/care-1")
    assert (config.breaker_failures, config.breaker_window, config.breaker_reset) == (5, 20.0, 4.0)
    assert (config.queue_capacity, config.id_prefix, config.max_patients) == (7, "PANNE", 50)
    defaults = parse_config(BASE)
    assert defaults.downtime_mode is True and defaults.ehr_url is None and defaults.snapshot_interval == 30.0


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--ehr-url", "ftp://x"], "--ehr-url"),
        (["--notify-url", "nowhere"], "--notify-url"),
        (["--snapshot-interval", "0"], "--snapshot-interval"),
        (["--snapshot-interval", "600"], "--max-snapshot-age"),
        (["--breaker-failures", "0"], "--breaker-failures"),
        (["--breaker-reset", "-1"], "--breaker-reset"),
        (["--dependency-timeout", "soon"], "--dependency-timeout"),
        (["--queue-capacity", "0"], "--queue-capacity"),
        (["--max-patients", "0"], "--max-patients"),
        (["--id-prefix", "D-T"], "--id-prefix"),
        (["--downtime-mode", "maybe"], "--downtime-mode"),
        (["--ward", " "], "--ward"),
    ],
)
def test_invalid_values_exit_2_naming_the_flag(extra: list[str], flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_config([*BASE, *extra])
    assert exit_.value.code == 2 and flag in capsys.readouterr().err


def test_an_instance_name_must_fit_in_downtime_identifiers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_config(["--name", "care 1/a", "--port", "1", "--state-dir", "/tmp/x"])
    assert "--name" in capsys.readouterr().err


def test_notify_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    config = parse_notify_config(["--name", "notify", "--datacenter", "witness", "--port", "18090"])
    assert config.db_path is None and config.host == "127.0.0.1"
    with pytest.raises(SystemExit):
        parse_notify_config(["--name", "notify", "--datacenter", "witness", "--port", "99999"])
    assert "--port" in capsys.readouterr().err
