"""The command line and ``--config`` files (JSON / TOML, flags win), and what they reject."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mock_services.ehr.__main__ import main, parse_config
from mock_services.ehr.baseload import ensure_base
from mock_services.ehr.config import ReplicationMode
from mock_services.ehr.eventlog import logger
from mock_services.ehr.store import Store
from mock_services.ehr.testing import FakeDataset

REQUIRED = ["--name", "ehr-a", "--datacenter", "dc-a", "--role", "primary", "--port", "18001", "--db", "/tmp/x.db"]


def test_flags_give_a_config_with_fencing_and_base_snapshot() -> None:
    fencing = ["--fencing", "on", "--witness-url", "http://127.0.0.1:8", "--lease-ttl", "1.5"]
    data = ["--patients", "100", "--seed", "7", "--replication", "async"]
    config = parse_config([*REQUIRED, "--peer-url", "http://127.0.0.1:9/", *fencing, *data])
    assert config.fencing and config.witness_url == "http://127.0.0.1:8" and config.lease_ttl == 1.5
    assert config.peer_url == "http://127.0.0.1:9"
    assert (config.patients, config.seed, config.replication) == (100, 7, ReplicationMode.ASYNC)
    assert not parse_config(REQUIRED).fencing  # off by default: today's behaviour


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_config_file_supplies_settings_and_flags_win(tmp_path: Path, suffix: str) -> None:
    settings = {
        "name": "from-file",
        "datacenter": "dc-b",
        "role": "standby",
        "port": 18002,
        "db": str(tmp_path / "b.sqlite"),
        "peer_url": "http://127.0.0.1:18001",
        "sync-strict": True,
        "fencing": True,
        "witness-url": "http://127.0.0.1:18020",
        "promote_after": 4.5,
    }
    path = tmp_path / f"ehr{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(settings))
    else:
        lines = [
            f"{key} = {json.dumps(value) if not isinstance(value, bool) else str(value).lower()}"
            for key, value in settings.items()
        ]
        path.write_text("\n".join(lines))

    config = parse_config(["--config", str(path), "--name", "from-flag", "--fencing", "off"])

    assert config.name == "from-flag" and not config.fencing  # flags win
    assert (config.datacenter, config.port, config.sync_strict, config.promote_after) == ("dc-b", 18002, True, 4.5)


@pytest.mark.parametrize(
    ("argv", "file_text", "message"),
    [
        (["--fencing", "on"], None, "fencing on needs --witness-url"),
        (["--fencing", "on", "--witness-url", "http://w"], None, "fencing on needs --peer-url"),
        (["--patients", "100001"], None, "expected a patient count 0..100000"),
        (["--fencing", "maybe"], None, "invalid choice: 'maybe'"),
        ([], '{"name": "x", "colour": "red"}', "unknown key 'colour'"),
        ([], '{"port": [1, 2]}', "'port' must be a string, number or boolean"),
        ([], "name = ", "not valid"),
    ],
)
def test_bad_settings_exit_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], file_text: str | None, message: str
) -> None:
    if file_text is not None:
        path = tmp_path / "bad.conf"
        path.write_text(file_text)
        argv = [*argv, "--config", str(path)]
    with pytest.raises(SystemExit) as exit_info:
        parse_config([*REQUIRED, *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_database_holding_another_base_snapshot_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # main() configures the package logger for a process; undo that for the tests that follow.
    for attribute in ("handlers", "propagate", "level"):
        value = getattr(logger, attribute)
        monkeypatch.setattr(logger, attribute, list(value) if attribute == "handlers" else value)
    db = tmp_path / "ehr.sqlite"
    store = Store.open(db)
    ensure_base(store, 1, 2, FakeDataset(2))
    store.close()
    argv = ["--name", "ehr-a", "--datacenter", "dc-a", "--role", "primary", "--port", "0", "--db", str(db)]

    status = main([*argv, "--seed", "2", "--patients", "2"])

    assert status == 2
    assert "holds base snapshot 'synthetic seed=1 patients=2'" in capsys.readouterr().err
