#!/usr/bin/env bash
# Where one command's server time goes, counted in instructions by callgrind (repeatable on a
# noisy machine, unlike timings): runs redis-server with the module under callgrind, sends
# CALLS requests of the command over a 1,000,000-key random keyspace, and prints the
# functions that make up most of it, in instructions per call.
#
#   bench/profile.sh RL.HIT k:__rand_int__ 100 60
#   bench/profile.sh SET k:__rand_int__ 1 PX 60000
#   CALLS=50000 KEYSPACE=10000 bench/profile.sh RL.HIT k:__rand_int__ 1000000 60
#   AOF=yes bench/profile.sh RL.HIT k:__rand_int__ 100 60      (effects built and written)
#   MODULE=/path/to/librl.so bench/profile.sh ...             (another build of the module)
#   MODULE_ARGS="log-max-entries 100000" KEYSPACE=10 bench/profile.sh RL.HIT k:__rand_int__ 100000 60 ALGO LOG
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-100000}
KEYSPACE=${KEYSPACE:-1000000}
PORT=${PORT:-7398}
AOF=${AOF:-no}
MODULE=${MODULE:-$PWD/target/release/librl.so}
MODULE_ARGS=${MODULE_ARGS:-cell-compat yes}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    redis-server --port "$PORT" --bind 127.0.0.1 --dir "$out" --save '' --appendonly "$AOF" \
    --loadmodule "$MODULE" $MODULE_ARGS > "$out/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do redis-cli -p "$PORT" ping > /dev/null 2>&1 && break; sleep 0.2; done
redis-benchmark -p "$PORT" -c 10 -n "$CALLS" -P 16 -r "$KEYSPACE" -q "$@" > /dev/null
redis-cli -p "$PORT" shutdown nosave > /dev/null 2>&1 || true
wait "$server" || true

echo "instructions per call, $CALLS calls of: $*"
callgrind_annotate --inclusive=yes "$out/callgrind.out" 2>/dev/null |
    awk -v calls="$CALLS" '
        /^ *[0-9,]+ \(/ && / \* / == 0 {
            n = $1; gsub(",", "", n)
            name = $0; sub(/^ *[0-9,]+ \( *[0-9.]+%\) +/, "", name); sub(/ \[.*$/, "", name)
            if (name ~ /(^|:)(call|processCommand)$/) seen = 1
            if (seen && n / calls >= 40 && !printed[name]++) printf "%8.0f  %s\n", n / calls, name
        }' | head -40
