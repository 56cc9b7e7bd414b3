#!/usr/bin/env bash
# Install the external tools the harness drives: Toxiproxy (server + CLI) and HAProxy; and
# Orthanc with its DICOMweb plugin, the real PACS the imaging mock is compared with in tests.
#
# Usage:
#   scripts/install-tools.sh           install what is missing, then report every tool
#   scripts/install-tools.sh --check   only report; install nothing
#
# Contract:
#   * Idempotent: a tool that is already present at the expected version is left alone,
#     so running this many times is cheap and safe.
#   * Toxiproxy v2.12.0 is built with `go install` from the Go module proxy into
#     ${HCHAOS_TOOLS_DIR:-<repo>/.tools}/bin as toxiproxy-server and toxiproxy-cli.
#   * HAProxy comes from the Debian package `haproxy` (apt-get) when not on PATH.
#   * HCHAOS_TOXIPROXY_SERVER, HCHAOS_TOXIPROXY_CLI, HCHAOS_HAPROXY point at existing binaries
#     (the harness honours the same variables): such a tool is not installed, only verified.
#   * Prints one line per tool: name, version, path, and "already present" / "installed".
#   * Exit codes follow the harness's: 0 all good, 2 bad usage, 3 a tool is missing, wrong
#     or could not be installed (with a message saying what to do).
#   * A haproxy installed in /usr/sbin but not on PATH is symlinked into the tools dir.
#   * Orthanc comes from the Debian packages `orthanc` and `orthanc-dicomweb` when the
#     Orthanc binary or its DICOMweb plugin is missing; like haproxy, an Orthanc in an sbin
#     dir is symlinked into the tools dir. HCHAOS_ORTHANC (the binary) and
#     HCHAOS_ORTHANC_DICOMWEB (the plugin, libOrthancDicomWeb.so) are verified, never replaced.
#     The package's own system service is disabled again if this script installed it: tests
#     start their own Orthanc on a free loopback port.
#   * libfaketime (for the clock_skew fault) comes from the Debian package `faketime` when
#     libfaketime.so.1 is in none of HCHAOS_LIBFAKETIME_DIRS (default: the multiarch dir
#     /usr/lib/<arch>-linux-gnu/faketime, /usr/lib/faketime, /usr/local/lib/faketime);
#     HCHAOS_LIBFAKETIME (the library) is verified, never replaced.
#   * Mainly for tests: HCHAOS_SBIN_DIRS (default "/usr/sbin /usr/local/sbin"),
#     HCHAOS_ORTHANC_PLUGIN_DIRS (default "/usr/share/orthanc/plugins
#     /usr/local/share/orthanc/plugins") and HCHAOS_APT_LISTS_DIR (default
#     /var/lib/apt/lists) say where to look for those.

set -euo pipefail

readonly TOXIPROXY_VERSION="2.12.0"
readonly TOXIPROXY_MODULE="github.com/Shopify/toxiproxy/v2"
readonly EXIT_USAGE=2
readonly EXIT_INFRA=3

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${HCHAOS_TOOLS_DIR:-$REPO_ROOT/.tools}"
BIN_DIR="$TOOLS_DIR/bin"
SBIN_DIRS="${HCHAOS_SBIN_DIRS-/usr/sbin /usr/local/sbin}"
ORTHANC_PLUGIN_DIRS="${HCHAOS_ORTHANC_PLUGIN_DIRS-/usr/share/orthanc/plugins /usr/local/share/orthanc/plugins}"
APT_LISTS_DIR="${HCHAOS_APT_LISTS_DIR:-/var/lib/apt/lists}"

CHECK_ONLY=0
case "${1:-}" in
    "") ;;
    --check) CHECK_ONLY=1 ;;
    -h|--help)
        sed -n '2,35p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install-tools.sh: unknown argument '$1' (expected nothing or --check)" >&2
        exit "$EXIT_USAGE"
        ;;
esac

FAILED=0
TMP_DIRS=()
# Clean build dirs on any exit, including Ctrl-C in the middle of a build.
cleanup() { if (( ${#TMP_DIRS[@]} )); then rm -rf "${TMP_DIRS[@]}"; fi; }
trap cleanup EXIT

err() { echo "install-tools.sh: error: $*" >&2; }

# report NAME VERSION PATH STATUS -- the one line per tool the contract promises.
report() { printf '%-16s %-22s %-50s %s\n' "$1" "$2" "$3" "$4"; }

# Print the version a toxiproxy binary reports, or nothing if it does not run.
# Both binaries print "<name> version X.Y.Z" for -version.
toxiproxy_version_of() { version_line_of "$1" -version; }

# Print HAProxy's version ("2.6.12-1+deb12u4"), or nothing if it does not run.
haproxy_version_of() { version_line_of "$1" -v; }

# version_line_of BINARY FLAG: the word after "version" on the first line BINARY prints.
version_line_of() {
    local out
    # Capture everything, then cut: piping into `head -n1` could SIGPIPE a binary that
    # prints several lines (haproxy -v), and pipefail would then call it broken.
    # timeout: a broken binary must not hang the setup step.
    out="$(timeout 10 "$1" "$2" 2>/dev/null)" || return 0
    out="${out%%$'\n'*}"
    awk '{for (i = 1; i < NF; i++) if ($i == "version") {print $(i + 1); exit}}' <<<"$out"
}

# Build one toxiproxy command (server or cli) and install it as toxiproxy-<name>.
build_toxiproxy() {
    local cmd="$1" target="$2" tmp
    if ! command -v go >/dev/null 2>&1; then
        err "'go' is not on PATH; it is needed to build Toxiproxy $TOXIPROXY_VERSION."
        err "install Go >= 1.22 (https://go.dev/dl/), or point HCHAOS_TOXIPROXY_SERVER /" \
            "HCHAOS_TOXIPROXY_CLI at existing v$TOXIPROXY_VERSION binaries."
        return 1
    fi
    mkdir -p "$BIN_DIR"
    # Build into a private temp dir, then move into place: a failed or interrupted build
    # never leaves a half-written binary where the harness would find it.
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/hchaos-toxiproxy.XXXXXX")"
    TMP_DIRS+=("$tmp")
    echo "building toxiproxy-$cmd $TOXIPROXY_VERSION with $(go version | awk '{print $3}') ..." >&2
    # -ldflags: without the Version stamp the binary reports "git" for -version, and our
    # version check (here and in harness/tools.py) could never succeed.
    # -buildvcs=false: we build from the module cache, not a VCS checkout.
    if ! (cd "$tmp" && GOBIN="$tmp" GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
            go install -ldflags "-X $TOXIPROXY_MODULE.Version=$TOXIPROXY_VERSION" \
            "$TOXIPROXY_MODULE/cmd/$cmd@v$TOXIPROXY_VERSION" >&2); then
        err "go install $TOXIPROXY_MODULE/cmd/$cmd@v$TOXIPROXY_VERSION failed (see output above)."
        err "is the Go module proxy reachable (GOPROXY=$(go env GOPROXY))?"
        return 1
    fi
    mv -f "$tmp/$cmd" "$target"
    chmod 0755 "$target"
}

# ensure_toxiproxy CMD TOOLNAME ENVVAR
ensure_toxiproxy() {
    local cmd="$1" name="$2" envvar="$3"
    local override="${!envvar:-}" path version status

    if [[ -n "$override" ]]; then
        # The user chose this binary: verify it, never replace it.
        path="$override"
        version="$(toxiproxy_version_of "$path")"
        if [[ -z "$version" ]]; then
            err "$envvar=$path does not run ('$path -version' failed)."
            FAILED=1; report "$name" "-" "$path" "MISSING (from $envvar)"; return
        fi
        status="already present (from $envvar)"
        if [[ "$version" != "$TOXIPROXY_VERSION" ]]; then
            err "$envvar=$path is version $version, expected $TOXIPROXY_VERSION."
            FAILED=1; status="WRONG VERSION (from $envvar)"
        fi
        report "$name" "$version" "$path" "$status"; return
    fi

    path="$BIN_DIR/$name"
    version=""
    [[ -x "$path" ]] && version="$(toxiproxy_version_of "$path")"
    if [[ "$version" == "$TOXIPROXY_VERSION" ]]; then
        report "$name" "$version" "$path" "already present"; return
    fi
    if (( CHECK_ONLY )); then
        FAILED=1
        if [[ -n "$version" ]]; then
            err "$path is version $version, expected $TOXIPROXY_VERSION."
            report "$name" "$version" "$path" "WRONG VERSION"
        else
            report "$name" "-" "$path" "MISSING"
        fi
        return
    fi
    if ! build_toxiproxy "$cmd" "$path"; then
        FAILED=1; report "$name" "-" "$path" "FAILED"; return
    fi
    version="$(toxiproxy_version_of "$path")"
    if [[ "$version" != "$TOXIPROXY_VERSION" ]]; then
        err "built $path but it reports version '${version:-?}', expected $TOXIPROXY_VERSION."
        FAILED=1; report "$name" "${version:--}" "$path" "FAILED"; return
    fi
    report "$name" "$version" "$path" "installed"
}

haproxy_help() {
    err "install HAProxy yourself, e.g. 'sudo apt-get install -y haproxy' (Debian/Ubuntu),"
    err "'dnf install haproxy', 'brew install haproxy'; or point the harness at an existing"
    err "binary with HCHAOS_HAPROXY=/path/to/haproxy."
}

# Debian installs haproxy in /usr/sbin, which is not on a normal user's PATH; the harness
# looks in the tools dir before PATH, so a symlink there makes such a binary findable.
link_haproxy() {
    mkdir -p "$BIN_DIR"
    ln -sfn "$1" "$BIN_DIR/haproxy"
}

# First system sbin dir holding a working haproxy, or nothing.
haproxy_in_sbin() {
    local dir
    for dir in $SBIN_DIRS; do
        if [[ -x "$dir/haproxy" && -n "$(haproxy_version_of "$dir/haproxy")" ]]; then
            echo "$dir/haproxy"; return
        fi
    done
}

ensure_haproxy() {
    local path version sudo=0 candidate
    if [[ -n "${HCHAOS_HAPROXY:-}" ]]; then
        path="$HCHAOS_HAPROXY"
        version="$(haproxy_version_of "$path")"
        if [[ -z "$version" ]]; then
            err "HCHAOS_HAPROXY=$path does not run ('$path -v' failed)."
            FAILED=1; report haproxy "-" "$path" "MISSING (from HCHAOS_HAPROXY)"; return
        fi
        report haproxy "$version" "$path" "already present (from HCHAOS_HAPROXY)"; return
    fi

    # Same order as harness/tools.py: the project tools dir, then PATH.
    for candidate in "$BIN_DIR/haproxy" "$(command -v haproxy 2>/dev/null || true)"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            version="$(haproxy_version_of "$candidate")"
            if [[ -n "$version" ]]; then
                report haproxy "$version" "$candidate" "already present"; return
            fi
        fi
    done

    path="$(haproxy_in_sbin)"
    if [[ -n "$path" ]]; then
        version="$(haproxy_version_of "$path")"
        if (( CHECK_ONLY )); then
            err "haproxy is installed at $path but not on PATH: run scripts/install-tools.sh" \
                "to link it into $BIN_DIR, or set HCHAOS_HAPROXY=$path."
            FAILED=1; report haproxy "$version" "$path" "NOT ON PATH"; return
        fi
        link_haproxy "$path"
        report haproxy "$version" "$BIN_DIR/haproxy" "already present (linked to $path)"; return
    fi
    if (( CHECK_ONLY )); then
        FAILED=1; report haproxy "-" "-" "MISSING"; return
    fi

    if ! command -v apt-get >/dev/null 2>&1; then
        err "HAProxy is not on PATH and apt-get is not available to install it."
        haproxy_help; exit "$EXIT_INFRA"
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        # -n: never prompt for a password from a setup script that may run in CI.
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=1
        else
            err "HAProxy is not on PATH; installing it needs root (and sudo is unavailable)."
            haproxy_help; exit "$EXIT_INFRA"
        fi
    fi

    local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
    if (( sudo )); then apt=(sudo -n "${apt[@]}"); fi
    echo "installing the Debian package haproxy ..." >&2
    # `apt-get update` is slow and usually unnecessary: run it first only when there are no
    # package lists at all (fresh containers), otherwise only after a failed install.
    if ! compgen -G "$APT_LISTS_DIR/*_Packages*" >/dev/null; then
        "${apt[@]}" update >&2 || true  # the install below reports the real failure
    fi
    if ! "${apt[@]}" install -y --no-install-recommends haproxy >&2; then
        echo "apt-get install failed; running apt-get update and retrying ..." >&2
        if ! "${apt[@]}" update >&2 || ! "${apt[@]}" install -y --no-install-recommends haproxy >&2
        then
            err "apt-get could not install haproxy (see output above)."
            haproxy_help; exit "$EXIT_INFRA"
        fi
    fi
    path="$(command -v haproxy 2>/dev/null || true)"
    if [[ -z "$path" ]]; then
        path="$(haproxy_in_sbin)"
        [[ -n "$path" ]] && link_haproxy "$path"
    fi
    version="${path:+$(haproxy_version_of "$path")}"
    if [[ -z "$version" ]]; then
        err "installed the haproxy package but 'haproxy -v' does not run."
        FAILED=1; report haproxy "-" "${path:--}" "FAILED"; return
    fi
    report haproxy "$version" "$path" "installed"
}

# -- Orthanc + DICOMweb plugin (a real PACS for the imaging mock's side-by-side tests) --------

readonly ORTHANC_DICOMWEB_PLUGIN="libOrthancDicomWeb.so"

orthanc_help() {
    err "install Orthanc and its DICOMweb plugin yourself, e.g. 'sudo apt-get install -y orthanc"
    err "orthanc-dicomweb' (Debian/Ubuntu); or point at existing files with"
    err "HCHAOS_ORTHANC=/path/to/Orthanc and HCHAOS_ORTHANC_DICOMWEB=/path/to/$ORTHANC_DICOMWEB_PLUGIN."
}

# Print Orthanc's version ("1.10.1"), or nothing if it does not run. `Orthanc --version`
# prints "<argv0> 1.10.1" and then its copyright: the version is the last word of line 1.
orthanc_version_of() {
    local out
    out="$(timeout 10 "$1" --version 2>/dev/null)" || return 0
    out="${out%%$'\n'*}"
    awk '$NF ~ /^[0-9]+\.[0-9]/ {print $NF}' <<<"$out"
}

# The DICOMweb plugin: HCHAOS_ORTHANC_DICOMWEB if set (it must exist), else the first plugin
# dir holding it; prints nothing when there is none.
orthanc_plugin() {
    local dir
    if [[ -n "${HCHAOS_ORTHANC_DICOMWEB:-}" ]]; then
        [[ -f "$HCHAOS_ORTHANC_DICOMWEB" ]] && echo "$HCHAOS_ORTHANC_DICOMWEB"
        return 0
    fi
    for dir in $ORTHANC_PLUGIN_DIRS; do
        if [[ -f "$dir/$ORTHANC_DICOMWEB_PLUGIN" ]]; then echo "$dir/$ORTHANC_DICOMWEB_PLUGIN"; return 0; fi
    done
}

# First system sbin dir holding a working Orthanc, or nothing (Debian puts it in /usr/sbin).
orthanc_in_sbin() {
    local dir
    for dir in $SBIN_DIRS; do
        if [[ -x "$dir/Orthanc" && -n "$(orthanc_version_of "$dir/Orthanc")" ]]; then
            echo "$dir/Orthanc"; return
        fi
    done
}

# apt_install HELP_FUNCTION PACKAGE... -- install Debian packages the way HAProxy's branch
# does (root or password-less sudo; `apt-get update` first only when there are no package
# lists, otherwise only after a failed install). On failure: the help, then exit 3.
apt_install() {
    local help="$1" sudo=0
    shift
    if ! command -v apt-get >/dev/null 2>&1; then
        err "$* not installed and apt-get is not available to install them."
        "$help"; exit "$EXIT_INFRA"
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=1
        else
            err "installing $* needs root (and sudo is unavailable)."
            "$help"; exit "$EXIT_INFRA"
        fi
    fi
    local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
    if (( sudo )); then apt=(sudo -n "${apt[@]}"); fi
    echo "installing the Debian package(s) $* ..." >&2
    if ! compgen -G "$APT_LISTS_DIR/*_Packages*" >/dev/null; then
        "${apt[@]}" update >&2 || true  # the install below reports the real failure
    fi
    if ! "${apt[@]}" install -y --no-install-recommends "$@" >&2; then
        echo "apt-get install failed; running apt-get update and retrying ..." >&2
        if ! "${apt[@]}" update >&2 || ! "${apt[@]}" install -y --no-install-recommends "$@" >&2; then
            err "apt-get could not install $* (see output above)."
            "$help"; exit "$EXIT_INFRA"
        fi
    fi
    APT_INSTALLED_WITH_SUDO="$sudo"
}

# The Debian package enables and starts a system Orthanc (ports 4242 and 8042) on machines
# running systemd. Nothing here uses it, so a service this script brought in is switched off
# again: installing a test tool must not leave a PACS listening.
disable_orthanc_service() {
    [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1 || return 0
    local -a systemctl=(systemctl)
    if (( ${APT_INSTALLED_WITH_SUDO:-0} )); then systemctl=(sudo -n systemctl); fi
    if "${systemctl[@]}" disable --now orthanc.service >/dev/null 2>&1; then
        echo "disabled the orthanc system service the package started (tests run their own)" >&2
    fi
}

# report_orthanc PATH SOURCE-STATUS: the one line, after checking the plugin is there too.
report_orthanc() {
    local path="$1" status="$2" version plugin
    version="$(orthanc_version_of "$path")"
    plugin="$(orthanc_plugin)"
    if [[ -z "$plugin" ]]; then
        if [[ -n "${HCHAOS_ORTHANC_DICOMWEB:-}" ]]; then
            err "HCHAOS_ORTHANC_DICOMWEB=$HCHAOS_ORTHANC_DICOMWEB does not exist."
        else
            err "Orthanc's DICOMweb plugin ($ORTHANC_DICOMWEB_PLUGIN) is in none of: $ORTHANC_PLUGIN_DIRS."
        fi
        FAILED=1; report Orthanc "$version" "$path" "NO DICOMWEB PLUGIN"; return
    fi
    report Orthanc "$version" "$path" "$status"
}

ensure_orthanc() {
    local path version candidate
    if [[ -n "${HCHAOS_ORTHANC:-}" ]]; then
        path="$HCHAOS_ORTHANC"
        if [[ -z "$(orthanc_version_of "$path")" ]]; then
            err "HCHAOS_ORTHANC=$path does not run ('$path --version' failed)."
            FAILED=1; report Orthanc "-" "$path" "MISSING (from HCHAOS_ORTHANC)"; return
        fi
        report_orthanc "$path" "already present (from HCHAOS_ORTHANC)"; return
    fi

    # Same order as harness/tools.py: the project tools dir, then PATH, then (to link) sbin.
    path=""
    for candidate in "$BIN_DIR/Orthanc" "$(command -v Orthanc 2>/dev/null || true)"; do
        if [[ -n "$candidate" && -x "$candidate" && -n "$(orthanc_version_of "$candidate")" ]]; then
            path="$candidate"; break
        fi
    done
    local linked=""
    if [[ -z "$path" ]]; then
        path="$(orthanc_in_sbin)"
        if [[ -n "$path" ]] && (( CHECK_ONLY )); then
            err "Orthanc is installed at $path but not on PATH: run scripts/install-tools.sh" \
                "to link it into $BIN_DIR, or set HCHAOS_ORTHANC=$path."
            FAILED=1; report Orthanc "$(orthanc_version_of "$path")" "$path" "NOT ON PATH"; return
        fi
        if [[ -n "$path" ]]; then
            mkdir -p "$BIN_DIR"; ln -sfn "$path" "$BIN_DIR/Orthanc"
            linked=" (linked to $path)"; path="$BIN_DIR/Orthanc"
        fi
    fi
    if [[ -n "$path" && ( -n "$(orthanc_plugin)" || -n "${HCHAOS_ORTHANC_DICOMWEB:-}" ) ]]; then
        report_orthanc "$path" "already present$linked"; return
    fi
    if (( CHECK_ONLY )); then
        if [[ -n "$path" ]]; then report_orthanc "$path" "already present"; return; fi
        FAILED=1; report Orthanc "-" "-" "MISSING"; return
    fi

    # The binary or the plugin is missing: both packages (apt leaves an installed one alone).
    apt_install orthanc_help orthanc orthanc-dicomweb
    disable_orthanc_service
    path="$(command -v Orthanc 2>/dev/null || true)"
    if [[ -z "$path" ]]; then
        path="$(orthanc_in_sbin)"
        if [[ -n "$path" ]]; then mkdir -p "$BIN_DIR"; ln -sfn "$path" "$BIN_DIR/Orthanc"; fi
    fi
    version="${path:+$(orthanc_version_of "$path")}"
    if [[ -z "$version" ]]; then
        err "installed the orthanc package but 'Orthanc --version' does not run."
        FAILED=1; report Orthanc "-" "${path:--}" "FAILED"; return
    fi
    report_orthanc "$path" "installed"
}

# -- libfaketime (the clock_skew fault preloads it into the instances it skews) -------------

readonly LIBFAKETIME="libfaketime.so.1"

faketime_help() {
    err "install libfaketime yourself, e.g. 'sudo apt-get install -y faketime' (Debian/Ubuntu);"
    err "or point at an existing library with HCHAOS_LIBFAKETIME=/path/to/$LIBFAKETIME."
}

# The library: HCHAOS_LIBFAKETIME if set (it must exist), else the first dir holding it.
libfaketime_path() {
    local dir
    if [[ -n "${HCHAOS_LIBFAKETIME:-}" ]]; then
        [[ -f "$HCHAOS_LIBFAKETIME" ]] && echo "$HCHAOS_LIBFAKETIME"
        return 0
    fi
    for dir in ${HCHAOS_LIBFAKETIME_DIRS-/usr/lib/${HOSTTYPE:-x86_64}-linux-gnu/faketime /usr/lib/faketime /usr/local/lib/faketime}; do
        if [[ -f "$dir/$LIBFAKETIME" ]]; then echo "$dir/$LIBFAKETIME"; return 0; fi
    done
}

# "0.9.10" from the faketime wrapper the package ships with the library, or "-".
faketime_version() {
    local out
    out="$(timeout 10 faketime --version 2>&1)" || true
    out="$(sed -n 's/.*Version \([^ ]*\).*/\1/p' <<<"$out" | head -n1)"
    echo "${out:--}"
}

ensure_faketime() {
    local path
    path="$(libfaketime_path)"
    if [[ -n "$path" ]]; then
        report libfaketime "$(faketime_version)" "$path" "already present${HCHAOS_LIBFAKETIME:+ (from HCHAOS_LIBFAKETIME)}"
        return
    fi
    if [[ -n "${HCHAOS_LIBFAKETIME:-}" ]]; then
        err "HCHAOS_LIBFAKETIME=$HCHAOS_LIBFAKETIME does not exist."
        FAILED=1; report libfaketime "-" "$HCHAOS_LIBFAKETIME" "MISSING (from HCHAOS_LIBFAKETIME)"; return
    fi
    if (( CHECK_ONLY )); then FAILED=1; report libfaketime "-" "-" "MISSING"; return; fi
    apt_install faketime_help faketime
    path="$(libfaketime_path)"
    if [[ -z "$path" ]]; then
        err "installed the faketime package but $LIBFAKETIME is not where it was expected."
        FAILED=1; report libfaketime "-" "-" "FAILED"; return
    fi
    report libfaketime "$(faketime_version)" "$path" "installed"
}

ensure_toxiproxy server toxiproxy-server HCHAOS_TOXIPROXY_SERVER
ensure_toxiproxy cli toxiproxy-cli HCHAOS_TOXIPROXY_CLI
ensure_haproxy
ensure_orthanc
ensure_faketime

if (( FAILED )); then
    if (( CHECK_ONLY )); then
        err "some tools are missing or at the wrong version; run scripts/install-tools.sh"
    else
        err "some tools could not be installed (see messages above)."
    fi
    exit "$EXIT_INFRA"
fi
