#!/usr/bin/env bash
# Installs what optune needs on Debian or Ubuntu, then builds the CLI. Idempotent: on a machine
# that already has everything it installs nothing and does no apt work.
#
# Usage: tools/setup.sh [--no-build]
#   --no-build   only install the system and Python packages; do not build optune
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup: unknown option: $arg (try --help)" >&2; exit 2 ;;
    esac
done

say() { printf 'setup: %s\n' "$*"; }
is_root() { [ "$(id -u)" -eq 0 ]; }
installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }
apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_updated=1
    fi
}
apt_install() {
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# --- System packages ------------------------------------------------------------------------------
if command -v dpkg >/dev/null 2>&1; then
    missing=()
    for package in liblz4-dev libopenblas-dev libpq-dev zlib1g-dev pkg-config; do
        installed "$package" || missing+=("$package")
    done
    # The server programs (initdb, pg_ctl, postgres) of any installed major version will do.
    if ! installed postgresql-15 && ! installed postgresql \
        && ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
        server=postgresql-15
        if is_root; then
            apt_update_once
            apt-cache show postgresql-15 >/dev/null 2>&1 || server=postgresql
        elif ! apt-cache show postgresql-15 >/dev/null 2>&1; then
            server=postgresql
        fi
        missing+=("$server")
    fi
    if ! installed python3-pip && ! python3 -m pip --version >/dev/null 2>&1; then
        missing+=(python3-pip)
    fi

    if [ "${#missing[@]}" -eq 0 ]; then
        say "system packages: all present"
    elif is_root; then
        say "installing: ${missing[*]}"
        apt_install "${missing[@]}"
    else
        say "missing system packages: ${missing[*]}" >&2
        say "install them as root, then run this again:" >&2
        printf '    sudo apt-get update && sudo apt-get install -y %s\n' "${missing[*]}" >&2
        exit 1
    fi
else
    say "not a Debian-like system (no dpkg): make sure liblz4, OpenBLAS, libpq, zlib, pkg-config," \
        "the PostgreSQL 15 server programs and python3 with pip are installed"
fi

# --- Python package for the reference decoder (tools/token_blob.py) -------------------------------
if python3 -c 'import lz4.block' >/dev/null 2>&1; then
    say "python lz4: present"
else
    say "installing the python package lz4"
    pip_install=(python3 -m pip install -q --disable-pip-version-check)
    if is_root; then pip_install+=(--root-user-action=ignore); fi
    pip_errors=$(mktemp)
    if ! "${pip_install[@]}" lz4 2>"$pip_errors"; then
        if grep -q externally-managed "$pip_errors"; then
            # Debian's own python3 refuses pip installs into it without this flag (PEP 668).
            "${pip_install[@]}" --break-system-packages lz4
        else
            cat "$pip_errors" >&2
            rm -f "$pip_errors"
            exit 1
        fi
    fi
    rm -f "$pip_errors"
    python3 -c 'import lz4.block'
fi

# --- Build ----------------------------------------------------------------------------------------
if [ "$build" -eq 1 ]; then
    if ! command -v swift >/dev/null 2>&1; then
        say "swift is not on PATH: install Swift 6 (https://www.swift.org/install/) and run this again" >&2
        exit 1
    fi
    say "building optune (swift build -c release --product optune)"
    swift build -c release --product optune
    say "built: $(swift build -c release --show-bin-path)/optune"
fi
