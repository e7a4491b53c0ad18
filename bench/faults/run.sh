#!/usr/bin/env bash
# Faults, measured through the server as users run it (release build):
#
# 1. Pushes under slow clients: wrk's latency for health reports (p50, p99)
#    alone, then while 500 slow or idle connections (bench/faults/slow.py)
#    press on the same server; side by side in one run, so the ratio holds
#    on a noisy machine.
# 2. Failover: two replicas on one PostgreSQL; the leader is killed with
#    kill -9 and the seconds until the survivor logs "took the workers
#    lease" are counted (ROUNDS times).
#
#   bench/faults/run.sh                 # both
#   PG=postgres://postgres@127.0.0.1:5432/test bench/faults/run.sh
#
# Needs wrk, python3 and, for the failover, a PostgreSQL (.ci/run starts one).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p nines
  BIN=$CARGO_TARGET_DIR/release/nines
fi
SLOW=${SLOW:-500}
ROUNDS=${ROUNDS:-3}
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "== pushes with and without $SLOW slow clients"
PORT=18291
NINES_LOG=warn $BIN serve --listen 127.0.0.1:$PORT --data-dir "$WORK/a" > "$WORK/a.out" 2>&1 &
for _ in $(seq 100); do [ -s "$WORK/a/admin-api-key" ] && curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.2; done
export NINES_API_KEY=$(cat "$WORK/a/admin-api-key")
export SERVICES=200 START=0 STRIDE=100
lat() { wrk -t2 -c16 -d15s --latency -s bench/ingest/health.lua "http://127.0.0.1:$PORT" | awk '/requests in/ {n=$1} / 50%/ {p50=$2} / 99%/ {p99=$2} END {print n " pushes, p50 " p50 ", p99 " p99}'; }
echo "alone:              $(lat)"
python3 bench/faults/slow.py 127.0.0.1 $PORT "$SLOW" 20 > "$WORK/slow.out" &
sleep 3
echo "with slow clients:  $(lat)"
wait %2 2>/dev/null || true
cat "$WORK/slow.out"
kill %1; wait %1 2>/dev/null || true

echo "== failover: kill -9 of the leader to the survivor running the workers"
if ! psql "$PG" -c 'select 1' > /dev/null 2>&1; then
  echo "SKIP failover: no PostgreSQL at $PG"
  exit 0
fi
for r in $(seq "$ROUNDS"); do
  SCHEMA="nines_bench_$$_$r"
  psql -q "$PG" -c "CREATE SCHEMA $SCHEMA" > /dev/null
  URL="$PG?options=-csearch_path%3D$SCHEMA"
  NINES_LOG=info NINES_DATABASE_URL=$URL $BIN serve --listen 127.0.0.1:18292 --data-dir "$WORK/r$r-a" > "$WORK/r$r-a.out" 2>&1 &
  A=$!
  for _ in $(seq 100); do grep -q "took the workers lease" "$WORK/r$r-a.out" && break; sleep 0.1; done
  NINES_LOG=info NINES_DATABASE_URL=$URL $BIN serve --listen 127.0.0.1:18293 --data-dir "$WORK/r$r-b" > "$WORK/r$r-b.out" 2>&1 &
  B=$!
  sleep 3
  T0=$(date +%s.%N)
  kill -9 $A
  for _ in $(seq 600); do grep -q "took the workers lease" "$WORK/r$r-b.out" && break; sleep 0.05; done
  T1=$(date +%s.%N)
  echo "round $r: $(echo "$T1 - $T0" | bc) s"
  kill $B; wait $B 2>/dev/null || true
  psql -q "$PG" -c "DROP SCHEMA $SCHEMA CASCADE" > /dev/null 2>&1
done
