#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./dev.sh demo [dyad demo options]   install everything, then run the live demo
#   ./dev.sh test [pytest options]      install everything, then run the whole test suite
# System packages come from Debian (apt-get, as root or through sudo); Python packages go
# into ./.venv, reinstalled only when pyproject.toml changes.
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

install_python_packages() {
    local stamp=.venv/.installed want
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "dev.sh: installing Python packages into .venv (first time: a few minutes)" >&2
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e ".[test]"
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
    *)
        echo "usage: ./dev.sh demo [options] | ./dev.sh test [pytest options]" >&2
        exit 2
        ;;
esac
