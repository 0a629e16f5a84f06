#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./dev.sh demo [dyad demo options]   install everything, then run the live demo
#   ./dev.sh test [pytest options]      install everything, then run the whole test suite
#   ./dev.sh lock [uv lock options]     regenerate uv.lock after editing pyproject.toml
#   ./dev.sh check-lock                 fail if uv.lock no longer satisfies pyproject.toml
# System packages come from Debian (apt-get, as root or through sudo); Python packages go
# into ./.venv from uv.lock, reinstalled only when uv.lock or pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")"

SYSTEM_PACKAGES=(libportaudio2 libsndfile1 espeak-ng sox liblo-tools alsa-utils chromium)
PYTHON=${PYTHON:-python3}

install_system_packages() {
    local missing=()
    for pkg in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "dev.sh: installing system packages: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_viewer_packages() {
    # three.js for the live viewer, from the npm registry, pinned by adapters/viewer/package-lock.json
    [ -f adapters/viewer/node_modules/three/build/three.module.js ] && return 0
    if ! command -v npm >/dev/null 2>&1; then
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
    fi
    (cd adapters/viewer && npm ci --no-audit --no-fund --loglevel=error)
}

ensure_uv() {
    # uv comes from requirements-bootstrap.txt (exact version, hash-checked) into ./.tools.
    local want
    want=$(sha256sum requirements-bootstrap.txt | cut -d' ' -f1)
    [ -x .tools/bin/uv ] && [ "$(cat .tools/.installed 2>/dev/null)" = "$want" ] && return 0
    "$PYTHON" -m venv .tools
    .tools/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements-bootstrap.txt
    echo "$want" >.tools/.installed
}

check_lock() {
    # The lock must still satisfy pyproject.toml; a stale lock fails here, never silently.
    ensure_uv
    if ! .tools/bin/uv lock --check --quiet 2>/dev/null; then
        echo "dev.sh: uv.lock no longer matches pyproject.toml: run './dev.sh lock' and commit uv.lock" >&2
        return 1
    fi
}

install_python_packages() {
    # Every Python package comes from uv.lock (exact versions and hashes), never from a fresh
    # resolution, so a new release on the index cannot change what a new machine gets.
    local stamp=.venv/.installed want
    ensure_uv
    want=$(cat uv.lock pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "dev.sh: installing Python packages from uv.lock into .venv (first time: a few minutes)" >&2
        UV_PROJECT_ENVIRONMENT=.venv .tools/bin/uv sync --quiet --frozen --extra test --python "$PYTHON"
        echo "$want" >"$stamp"
    fi
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
    demo)
        install_system_packages
        install_viewer_packages
        install_python_packages
        exec .venv/bin/dyad demo "$@"
        ;;
    test)
        install_system_packages
        install_viewer_packages
        install_python_packages
        status=0
        .venv/bin/python -m pytest "$@" || status=$?
        # pytest exits 5 when it collected no tests: that is a failure, not a pass.
        [ "$status" -eq 5 ] && echo "dev.sh: no tests ran" >&2
        exit "$status"
        ;;
    lock)
        # The one command that refreshes the lock after pyproject.toml changes (or to take
        # upgrades on purpose: ./dev.sh lock --upgrade-package NAME).
        ensure_uv
        exec .tools/bin/uv lock "$@"
        ;;
    check-lock)
        check_lock
        ;;
    *)
        echo "usage: ./dev.sh demo [options] | ./dev.sh test [pytest options] | ./dev.sh lock [uv lock options] | ./dev.sh check-lock" >&2
        exit 2
        ;;
esac
