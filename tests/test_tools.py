"""harness.tools: where tools are looked for, in which order, and what a failure says.
Also the reporting side of scripts/install-tools.sh (overrides and --check), which needs
no network: every tool is overridden with a small fake executable."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import tools
from harness.errors import ToolMissing
from harness.tools import (
    ToolInfo,
    ToolProblem,
    find_haproxy,
    find_orthanc,
    find_orthanc_dicomweb,
    find_toxiproxy_cli,
    find_toxiproxy_server,
    survey,
    tools_dir,
)

REPO = Path(__file__).resolve().parent.parent
ENV_VARS = ("HCHAOS_TOXIPROXY_SERVER", "HCHAOS_TOXIPROXY_CLI", "HCHAOS_HAPROXY",
            "HCHAOS_TOOLS_DIR", "HCHAOS_ALLOW_ANY_TOXIPROXY", "HCHAOS_ORTHANC",
            "HCHAOS_ORTHANC_DICOMWEB", "HCHAOS_ORTHANC_PLUGIN_DIRS", "HCHAOS_LIBFAKETIME",
            "HCHAOS_LIBFAKETIME_DIRS")

MakeTool = Callable[..., Path]


def write_tool(directory: Path, name: str, output: str, *, exit_code: int = 0,
               body: str | None = None) -> Path:
    """A tiny executable printing ``output`` (whatever the arguments) and exiting."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    script = body if body is not None else f"echo '{output}'\nexit {exit_code}\n"
    path.write_text(f"#!/bin/sh\n{script}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty tools dir and PATH under tmp_path; no HCHAOS_* overrides."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    dirs = {"tools": tmp_path / "tools", "path": tmp_path / "path", "env": tmp_path / "env",
            "plugins": tmp_path / "plugins"}
    for d in dirs.values():
        d.mkdir()
    monkeypatch.setenv("HCHAOS_TOOLS_DIR", str(dirs["tools"]))
    monkeypatch.setenv("PATH", str(dirs["path"]))
    monkeypatch.setenv("HCHAOS_ORTHANC_PLUGIN_DIRS", str(dirs["plugins"]))  # not this machine's
    return dirs


SERVER_OK = "toxiproxy-server version 2.12.0"
ORTHANC_OK = "Orthanc 1.10.1"
PLUGIN = "libOrthancDicomWeb.so"


# -- lookup order ----------------------------------------------------------------------------


def test_env_beats_tools_dir_beats_path(sandbox: dict[str, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = write_tool(sandbox["path"], "toxiproxy-server", SERVER_OK)
    in_tools = write_tool(sandbox["tools"] / "bin", "toxiproxy-server", SERVER_OK)
    from_env = write_tool(sandbox["env"], "my-toxiproxy", SERVER_OK)
    monkeypatch.setenv("HCHAOS_TOXIPROXY_SERVER", str(from_env))

    assert find_toxiproxy_server() == \
        ToolInfo("toxiproxy-server", from_env, "2.12.0", "env HCHAOS_TOXIPROXY_SERVER")
    monkeypatch.delenv("HCHAOS_TOXIPROXY_SERVER")
    assert find_toxiproxy_server() == ToolInfo(
        "toxiproxy-server", in_tools, "2.12.0", f"project tools dir ({sandbox['tools'] / 'bin'})")
    in_tools.unlink()
    assert find_toxiproxy_server() == ToolInfo("toxiproxy-server", on_path, "2.12.0", "PATH")


def test_same_order_for_cli_and_haproxy(sandbox: dict[str, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    write_tool(sandbox["path"], "haproxy",
               "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/")
    write_tool(sandbox["path"], "toxiproxy-cli", "toxiproxy-cli version 2.12.0")
    cli = write_tool(sandbox["tools"] / "bin", "toxiproxy-cli", "toxiproxy-cli version 2.11.0")
    haproxy = write_tool(sandbox["env"], "haproxy", "HAProxy version 3.0.5-1 2024/09/19")
    monkeypatch.setenv("HCHAOS_HAPROXY", str(haproxy))
    assert (find_haproxy().path, find_haproxy().version) == (haproxy, "3.0.5-1")
    monkeypatch.delenv("HCHAOS_HAPROXY")
    assert find_haproxy().version == "2.6.12-1+deb12u4"
    # The CLI is not version-pinned: the first one found wins, whatever its version.
    assert (find_toxiproxy_cli().path, find_toxiproxy_cli().version) == (cli, "2.11.0")


def test_first_place_wins_even_at_a_wrong_version(sandbox: dict[str, Path]) -> None:
    # Predictable: a right version further down PATH does not silently take over.
    write_tool(sandbox["path"], "toxiproxy-server", SERVER_OK)
    write_tool(sandbox["tools"] / "bin", "toxiproxy-server", "toxiproxy-server version 2.9.0")
    with pytest.raises(ToolMissing, match=re.escape("version 2.9.0, expected 2.12.0")):
        find_toxiproxy_server()


# -- versions --------------------------------------------------------------------------------


@pytest.mark.parametrize("printed, found", [("toxiproxy-server version 2.11.0", "2.11.0"),
                                            ("toxiproxy-server version git", "git")])
def test_wrong_toxiproxy_version_names_found_and_expected(
        sandbox: dict[str, Path], monkeypatch: pytest.MonkeyPatch, printed: str,
        found: str) -> None:
    path = write_tool(sandbox["tools"] / "bin", "toxiproxy-server", printed)
    with pytest.raises(ToolMissing) as caught:
        find_toxiproxy_server()
    err = caught.value
    assert err.message == (f"toxiproxy-server at {path} (from project tools dir "
                           f"({sandbox['tools'] / 'bin'})) is version {found}, expected 2.12.0")
    assert err.hint is not None and "install-tools.sh" in err.hint
    assert "HCHAOS_ALLOW_ANY_TOXIPROXY=1" in err.hint

    monkeypatch.setenv("HCHAOS_ALLOW_ANY_TOXIPROXY", "1")
    assert find_toxiproxy_server().version == found


def test_binary_without_a_version_line_is_reported(sandbox: dict[str, Path]) -> None:
    path = write_tool(sandbox["path"], "haproxy", "segfault", exit_code=139)
    with pytest.raises(ToolMissing) as caught:
        find_haproxy()
    assert str(path) in caught.value.message
    assert "exited 139" in caught.value.message and "'segfault'" in caught.value.message


def test_hanging_binary_is_cut_off_by_the_timeout(sandbox: dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "VERSION_TIMEOUT", 0.3)
    write_tool(sandbox["path"], "haproxy", "", body="exec /bin/sleep 30\n")
    with pytest.raises(ToolMissing, match=r"did not answer .* within 0\.3 s"):
        find_haproxy()


# -- missing ---------------------------------------------------------------------------------


def test_missing_tool_lists_every_place_looked(sandbox: dict[str, Path]) -> None:
    with pytest.raises(ToolMissing) as caught:
        find_toxiproxy_server()
    err = caught.value
    assert err.message == (
        "toxiproxy-server not found; looked in: env HCHAOS_TOXIPROXY_SERVER (not set); "
        f"project tools dir {sandbox['tools'] / 'bin'} (no toxiproxy-server); "
        f"PATH ({sandbox['path']})"
    )
    assert err.hint is not None
    assert "scripts/install-tools.sh" in err.hint and "make tools" in err.hint
    assert "HCHAOS_TOXIPROXY_SERVER" in err.hint
    assert err.exit_code == 3


def test_bad_env_override_is_an_error_not_a_fallback(sandbox: dict[str, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_tool(sandbox["tools"] / "bin", "haproxy", "HAProxy version 2.6.12")
    missing = sandbox["env"] / "nope"
    monkeypatch.setenv("HCHAOS_HAPROXY", str(missing))
    with pytest.raises(ToolMissing) as caught:
        find_haproxy()
    assert caught.value.message == f"haproxy: HCHAOS_HAPROXY={missing} does not exist"
    assert caught.value.hint is not None and "unset HCHAOS_HAPROXY" in caught.value.hint


# -- tools dir and survey --------------------------------------------------------------------


def test_tools_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HCHAOS_TOOLS_DIR", raising=False)
    assert tools_dir() == REPO / ".tools"
    assert (tools_dir().parent / "harness" / "tools.py").is_file()
    monkeypatch.setenv("HCHAOS_TOOLS_DIR", str(tmp_path))
    assert tools_dir() == tmp_path


def test_survey_reports_every_tool_found_or_not(sandbox: dict[str, Path]) -> None:
    write_tool(sandbox["path"], "haproxy", "HAProxy version 2.6.12-1+deb12u4 2026/10/17")
    write_tool(sandbox["tools"] / "bin", "toxiproxy-server", "toxiproxy-server version 2.0.0")
    report = survey()
    assert [item.name for item in report] == \
        ["python", "toxiproxy-server", "toxiproxy-cli", "haproxy", "Orthanc", "libfaketime"]
    python, server, cli, haproxy, orthanc, _libfaketime = report
    assert isinstance(python, ToolInfo) and python.path.name.startswith("python")
    assert isinstance(server, ToolProblem) and "expected 2.12.0" in server.message
    assert isinstance(cli, ToolProblem) and "not found" in cli.message and cli.hint
    assert isinstance(haproxy, ToolInfo) and haproxy.version == "2.6.12-1+deb12u4"
    assert isinstance(orthanc, ToolProblem) and "Orthanc not found" in orthanc.message
    assert orthanc.hint is not None and "orthanc-dicomweb" in orthanc.hint


# -- Orthanc and its DICOMweb plugin ---------------------------------------------------------


def test_orthanc_version_and_plugin_next_to_the_binary(sandbox: dict[str, Path]) -> None:
    prefix = sandbox["env"] / "usr"
    binary = write_tool(prefix / "sbin", "Orthanc", ORTHANC_OK)
    write_tool(prefix / "share" / "orthanc" / "plugins", PLUGIN, "")
    (sandbox["path"] / "Orthanc").symlink_to(binary)  # the plugin is found through the link
    found = find_orthanc()
    assert (found.name, found.version, found.source) == ("Orthanc", "1.10.1", "PATH")
    assert find_orthanc_dicomweb(found.path) == prefix / "share" / "orthanc" / "plugins" / PLUGIN


def test_orthanc_without_its_dicomweb_plugin_is_missing(sandbox: dict[str, Path]) -> None:
    write_tool(sandbox["path"], "Orthanc", ORTHANC_OK)
    with pytest.raises(ToolMissing) as caught:
        find_orthanc()
    assert PLUGIN in caught.value.message and str(sandbox["plugins"]) in caught.value.message
    assert caught.value.hint is not None and "HCHAOS_ORTHANC_DICOMWEB" in caught.value.hint
    write_tool(sandbox["plugins"], PLUGIN, "")
    assert find_orthanc().version == "1.10.1"


def test_orthanc_overrides_must_exist(sandbox: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCHAOS_ORTHANC", str(write_tool(sandbox["env"], "orth", ORTHANC_OK)))
    monkeypatch.setenv("HCHAOS_ORTHANC_DICOMWEB", str(sandbox["env"] / "nope.so"))
    with pytest.raises(ToolMissing, match=r"HCHAOS_ORTHANC_DICOMWEB=.*nope\.so does not exist"):
        find_orthanc()
    monkeypatch.setenv("HCHAOS_ORTHANC_DICOMWEB", str(write_tool(sandbox["env"], "dw.so", "")))
    assert find_orthanc().source == "env HCHAOS_ORTHANC"


def test_orthanc_that_prints_no_version_is_reported(sandbox: dict[str, Path]) -> None:
    write_tool(sandbox["path"], "Orthanc", "Orthanc: cannot open configuration", exit_code=255)
    write_tool(sandbox["plugins"], PLUGIN, "")
    with pytest.raises(ToolMissing, match="expected a version line"):
        find_orthanc()


@pytest.mark.integration
def test_installed_tools_are_found() -> None:
    # What CI relies on after scripts/install-tools.sh has run.
    assert find_toxiproxy_server().version == "2.12.0"
    assert find_toxiproxy_cli().version == "2.12.0"
    assert find_haproxy().version
    orthanc = find_orthanc()  # the imaging mock's side-by-side tests need it
    assert orthanc.version and find_orthanc_dicomweb(orthanc.path).name == PLUGIN


# -- scripts/install-tools.sh (reporting paths; no network) -----------------------------------


def run_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "scripts" / "install-tools.sh"), *args],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], **env}, check=False)


@pytest.fixture
def overrides(tmp_path: Path) -> dict[str, str]:
    return {
        "HCHAOS_TOOLS_DIR": str(tmp_path / "tools"),
        "HCHAOS_TOXIPROXY_SERVER": str(write_tool(tmp_path, "srv", SERVER_OK)),
        "HCHAOS_TOXIPROXY_CLI": str(write_tool(tmp_path, "cli", "toxiproxy-cli version 2.12.0")),
        "HCHAOS_HAPROXY": str(write_tool(tmp_path, "hap", "HAProxy version 2.6.12-1+deb12u4 x")),
        "HCHAOS_ORTHANC": str(write_tool(tmp_path, "orthanc", ORTHANC_OK)),
        "HCHAOS_ORTHANC_DICOMWEB": str(write_tool(tmp_path, PLUGIN, "")),
        "HCHAOS_LIBFAKETIME": str(write_tool(tmp_path, "libfaketime.so.1", "")),
    }


@pytest.mark.parametrize("args", [(), ("--check",)])
def test_script_verifies_overrides_without_installing(overrides: dict[str, str],
                                                      args: tuple[str, ...]) -> None:
    done = run_script(*args, env=overrides)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5
    for line, name, var in zip(lines, ("toxiproxy-server", "toxiproxy-cli", "haproxy", "Orthanc", "libfaketime"),
                               ("HCHAOS_TOXIPROXY_SERVER", "HCHAOS_TOXIPROXY_CLI",
                                "HCHAOS_HAPROXY", "HCHAOS_ORTHANC", "HCHAOS_LIBFAKETIME"), strict=True):
        fields = line.split()
        assert (fields[0], fields[2]) == (name, overrides[var])
        assert line.endswith(f"already present (from {var})")
    assert "2.6.12-1+deb12u4" in lines[2]
    assert lines[3].split()[1] == "1.10.1"
    assert not Path(overrides["HCHAOS_TOOLS_DIR"]).exists()  # nothing was built


def test_script_check_fails_with_3_on_a_wrong_version(overrides: dict[str, str],
                                                      tmp_path: Path) -> None:
    overrides["HCHAOS_TOXIPROXY_SERVER"] = str(
        write_tool(tmp_path, "old", "toxiproxy-server version 2.5.0"))
    done = run_script("--check", env=overrides)
    assert done.returncode == 3
    assert "WRONG VERSION" in done.stdout
    assert "version 2.5.0, expected 2.12.0" in done.stderr


def test_script_check_reports_missing_tools_dir_binaries(overrides: dict[str, str]) -> None:
    del overrides["HCHAOS_TOXIPROXY_CLI"]
    done = run_script("--check", env=overrides)
    assert done.returncode == 3
    assert "toxiproxy-cli" in done.stdout and "MISSING" in done.stdout


def test_script_rejects_unknown_arguments(overrides: dict[str, str]) -> None:
    done = run_script("--frobnicate", env=overrides)
    assert done.returncode == 2
    assert "unknown argument '--frobnicate'" in done.stderr


# -- install-tools.sh's HAProxy branch, with a sandboxed PATH (fake id / apt-get) -------------

SCRIPT_NEEDS = ("dirname", "awk", "head", "timeout", "sed", "mktemp", "rm", "mv", "chmod",
                "mkdir", "env", "cat", "touch", "ln")


@pytest.fixture
def shim(tmp_path: Path, overrides: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A PATH holding only the basics the script needs (no haproxy, no sudo) plus the
    toxiproxy overrides, so only the HAProxy branch has work to do."""
    bin_dir = tmp_path / "shim"
    bin_dir.mkdir()
    for name in SCRIPT_NEEDS:
        real = shutil.which(name)
        assert real is not None, f"{name} is needed on PATH to run install-tools.sh"
        (bin_dir / name).symlink_to(real)
    lists = tmp_path / "apt-lists"
    lists.mkdir()
    (lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").touch()
    env = {k: v for k, v in overrides.items() if k != "HCHAOS_HAPROXY"}
    # Hermetic: no system sbin dirs (this machine may have /usr/sbin/haproxy), fake lists.
    env.update(PATH=str(bin_dir), HCHAOS_SBIN_DIRS="", HCHAOS_APT_LISTS_DIR=str(lists))
    return bin_dir, env


def run_sandboxed(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")  # absolute: the sandboxed PATH has no bash
    assert bash is not None
    return subprocess.run([bash, str(REPO / "scripts" / "install-tools.sh"), *args],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def test_script_without_apt_get_explains_how_to_install_haproxy(
        shim: tuple[Path, dict[str, str]]) -> None:
    _, env = shim
    done = run_sandboxed(env)
    assert done.returncode == 3
    assert "apt-get is not available" in done.stderr
    assert "HCHAOS_HAPROXY=" in done.stderr


def test_script_not_root_without_sudo_explains_and_exits_3(
        shim: tuple[Path, dict[str, str]]) -> None:
    bin_dir, env = shim
    write_tool(bin_dir, "id", "1000")
    write_tool(bin_dir, "apt-get", "", body=f"touch {bin_dir}/apt-was-called\nexit 1\n")
    done = run_sandboxed(env)
    assert done.returncode == 3
    assert "needs root" in done.stderr and "HCHAOS_HAPROXY" in done.stderr
    assert not (bin_dir / "apt-was-called").exists()


def fake_apt(bin_dir: Path) -> Path:
    """Fake apt-get: "install" fails until "update" ran, then drops a haproxy on PATH.
    Returns the log of its invocations ("$DEBIAN_FRONTEND args")."""
    log = bin_dir / "apt.log"
    write_tool(bin_dir, "apt-get", "", body=f"""
echo "$DEBIAN_FRONTEND $*" >> {log}
case "$1" in
  update) touch {bin_dir}/lists; exit 0 ;;
  install) [ -e {bin_dir}/lists ] || exit 100
           printf '#!/bin/sh\\necho "HAProxy version 2.6.12-1+deb12u4 2026/10/17"\\n' \\
             > {bin_dir}/haproxy; chmod +x {bin_dir}/haproxy ;;
esac
""")
    return log


def test_script_installs_haproxy_with_apt_updating_lists_only_after_a_failure(
        shim: tuple[Path, dict[str, str]]) -> None:
    bin_dir, env = shim
    write_tool(bin_dir, "id", "0")
    log = fake_apt(bin_dir)
    done = run_sandboxed(env)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        "noninteractive install -y --no-install-recommends haproxy",
        "noninteractive update",
        "noninteractive install -y --no-install-recommends haproxy",
    ]
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("haproxy")]
    assert line.split()[1:3] == ["2.6.12-1+deb12u4", str(bin_dir / "haproxy")]
    assert line.endswith("installed")


def test_script_without_go_says_so(shim: tuple[Path, dict[str, str]],
                                   overrides: dict[str, str]) -> None:
    _, env = shim
    del env["HCHAOS_TOXIPROXY_SERVER"], env["HCHAOS_TOXIPROXY_CLI"]
    env["HCHAOS_HAPROXY"] = overrides["HCHAOS_HAPROXY"]
    done = run_sandboxed(env)
    assert done.returncode == 3
    assert "'go' is not on PATH" in done.stderr
    assert "HCHAOS_TOXIPROXY_SERVER" in done.stderr
    assert [ln.split()[0] for ln in done.stdout.splitlines()] == \
        ["toxiproxy-server", "toxiproxy-cli", "haproxy", "Orthanc", "libfaketime"]
    assert "FAILED" in done.stdout.splitlines()[0]


def test_script_updates_apt_lists_first_when_there_are_none(
        shim: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = shim
    write_tool(bin_dir, "id", "0")
    log = fake_apt(bin_dir)
    empty = tmp_path / "no-lists"
    empty.mkdir()
    env["HCHAOS_APT_LISTS_DIR"] = str(empty)
    done = run_sandboxed(env)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        "noninteractive update",
        "noninteractive install -y --no-install-recommends haproxy",
    ]


def test_script_links_an_sbin_haproxy_that_is_not_on_path(
        shim: tuple[Path, dict[str, str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, env = shim
    sbin = tmp_path / "sbin"
    installed = write_tool(sbin, "haproxy", "HAProxy version 2.6.12-1+deb12u4 2026/10/17")
    env["HCHAOS_SBIN_DIRS"] = str(sbin)

    before = run_sandboxed(env, "--check")
    assert before.returncode == 3
    assert f"HCHAOS_HAPROXY={installed}" in before.stderr and "NOT ON PATH" in before.stdout

    done = run_sandboxed(env)
    assert done.returncode == 0, done.stderr
    link = Path(env["HCHAOS_TOOLS_DIR"]) / "bin" / "haproxy"
    assert link.resolve() == installed.resolve()
    assert f"already present (linked to {installed})" in done.stdout

    after = run_sandboxed(env, "--check")
    assert after.returncode == 0, after.stderr
    # ... and the harness finds it through the tools dir.
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HCHAOS_TOOLS_DIR", env["HCHAOS_TOOLS_DIR"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    found = find_haproxy()
    assert (found.path, found.source) == (link, f"project tools dir ({link.parent})")


# -- install-tools.sh's Orthanc branch, sandboxed like HAProxy's ------------------------------


@pytest.fixture
def orthanc_shim(shim: tuple[Path, dict[str, str]], overrides: dict[str, str],
                 tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """The sandboxed PATH with every other tool overridden and no Orthanc anywhere; returns
    (bin dir, env, the plugin dir the script looks in)."""
    bin_dir, env = shim
    env = {k: v for k, v in env.items() if not k.startswith("HCHAOS_ORTHANC")}
    env["HCHAOS_HAPROXY"] = overrides["HCHAOS_HAPROXY"]
    plugins = tmp_path / "orthanc-plugins"
    plugins.mkdir()
    env["HCHAOS_ORTHANC_PLUGIN_DIRS"] = str(plugins)
    return bin_dir, env, plugins


def orthanc_line(done: subprocess.CompletedProcess[str]) -> str:
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("Orthanc")]
    return line


def fake_orthanc_apt(bin_dir: Path, plugins: Path) -> Path:
    """Fake apt-get whose "install" drops an Orthanc on PATH and the plugin in ``plugins``."""
    log = bin_dir / "apt.log"
    write_tool(bin_dir, "apt-get", "", body=f"""
echo "$DEBIAN_FRONTEND $*" >> {log}
case "$1" in
  install) printf '#!/bin/sh\\necho "Orthanc 1.10.1"\\n' > {bin_dir}/Orthanc; chmod +x {bin_dir}/Orthanc
           touch {plugins}/{PLUGIN} ;;
esac
""")
    return log


def test_script_check_reports_a_missing_orthanc(orthanc_shim: tuple[Path, dict[str, str], Path]) -> None:
    _, env, _ = orthanc_shim
    done = run_sandboxed(env, "--check")
    assert done.returncode == 3
    assert orthanc_line(done).split()[1:] == ["-", "-", "MISSING"]


def test_script_installs_orthanc_and_its_plugin_then_leaves_them_alone(
        orthanc_shim: tuple[Path, dict[str, str], Path]) -> None:
    bin_dir, env, plugins = orthanc_shim
    write_tool(bin_dir, "id", "0")
    log = fake_orthanc_apt(bin_dir, plugins)
    done = run_sandboxed(env)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        "noninteractive install -y --no-install-recommends orthanc orthanc-dicomweb"]
    line = orthanc_line(done)
    assert line.split()[1:3] == ["1.10.1", str(bin_dir / "Orthanc")] and line.endswith("installed")
    again = run_sandboxed(env)  # idempotent: present now, apt not called again
    assert again.returncode == 0 and orthanc_line(again).endswith("already present")
    assert len(log.read_text().splitlines()) == 1
    assert run_sandboxed(env, "--check").returncode == 0


def test_script_installs_the_missing_plugin_of_an_orthanc_on_path(
        orthanc_shim: tuple[Path, dict[str, str], Path]) -> None:
    bin_dir, env, plugins = orthanc_shim
    write_tool(bin_dir, "Orthanc", ORTHANC_OK)
    check = run_sandboxed(env, "--check")
    assert check.returncode == 3 and orthanc_line(check).endswith("NO DICOMWEB PLUGIN")
    assert PLUGIN in check.stderr
    write_tool(bin_dir, "id", "0")
    log = fake_orthanc_apt(bin_dir, plugins)
    done = run_sandboxed(env)
    assert done.returncode == 0, done.stderr
    assert "orthanc-dicomweb" in log.read_text() and (plugins / PLUGIN).is_file()


def test_script_links_an_sbin_orthanc_that_is_not_on_path(
        orthanc_shim: tuple[Path, dict[str, str], Path], tmp_path: Path) -> None:
    _, env, plugins = orthanc_shim
    sbin = tmp_path / "sbin"
    installed = write_tool(sbin, "Orthanc", ORTHANC_OK)
    write_tool(plugins, PLUGIN, "")
    env["HCHAOS_SBIN_DIRS"] = str(sbin)
    before = run_sandboxed(env, "--check")
    assert before.returncode == 3 and orthanc_line(before).endswith("NOT ON PATH")
    assert f"HCHAOS_ORTHANC={installed}" in before.stderr
    done = run_sandboxed(env)
    assert done.returncode == 0, done.stderr
    link = Path(env["HCHAOS_TOOLS_DIR"]) / "bin" / "Orthanc"
    assert link.resolve() == installed.resolve()
    assert orthanc_line(done).endswith(f"already present (linked to {installed})")


def test_script_not_root_without_sudo_cannot_install_orthanc(
        orthanc_shim: tuple[Path, dict[str, str], Path]) -> None:
    bin_dir, env, _ = orthanc_shim
    write_tool(bin_dir, "id", "1000")
    write_tool(bin_dir, "apt-get", "", body=f"touch {bin_dir}/apt-was-called\nexit 1\n")
    done = run_sandboxed(env)
    assert done.returncode == 3
    assert "needs root" in done.stderr and "HCHAOS_ORTHANC" in done.stderr
    assert not (bin_dir / "apt-was-called").exists()
