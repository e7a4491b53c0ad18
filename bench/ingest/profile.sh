#!/usr/bin/env bash
# A short ingestion burst for profiling and quick A/B comparisons: seeds
# 10,000 services (in 5 s rounds until all are known), waits SETTLE seconds, then 12 s of health reports
# as fast as wrk goes with CONNS connections. Prints the rate and the RSS
# before and after; with SETTLE2=N also the RSS every 5 s for N seconds.
# It also prints the server's CPU time per 1,000 reports: during the burst,
# and including the background workers' catching up afterwards. CPU time
# varies far less than the rate on a shared machine, so A/B comparisons of
# the work a report costs can be read off it even when the rate is noisy.
#
#   bench/ingest/profile.sh            # the rate
#   bench/ingest/profile.sh perf       # plus `perf record` of the server (perf.data here)
#   BIN=/tmp/other/nines bench/ingest/profile.sh   # another build
#
# Needs wrk (and linux-perf for `perf`). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/ingest/lib.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p nines
  BIN=$CARGO_TARGET_DIR/release/nines
fi
PORT=${PORT:-18191}
DATA=$(mktemp -d)
NINES_LOG=${NINES_LOG:-warn} $BIN serve --listen 127.0.0.1:$PORT --data-dir "$DATA" > "$DATA/serve.out" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null && wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do [ -s "$DATA/admin-api-key" ] && curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.2; done
[ -s "$DATA/admin-api-key" ] || { echo "the server did not start:" >&2; cat "$DATA"/serve.out >&2; exit 1; }
export NINES_API_KEY=$(cat "$DATA/admin-api-key") SERVICES=10000
URL=http://127.0.0.1:$PORT
seed_services $URL
echo "services known: $COUNT"
sleep "${SETTLE:-20}"
echo "rss before burst: $(awk '/VmRSS/ {print $2/1024}' /proc/$PID/status) MiB"
if [ "${1:-}" = perf ]; then
  perf record -e cpu-clock -F 2000 -g -p $PID -o perf.data -- sleep 10 >/dev/null 2>&1 &
  PERF=$!
fi
CPU0=$(cpu_ticks)
wrk -t2 -c"${CONNS:-64}" -d12s -s bench/ingest/health.lua $URL | tee "$DATA/burst.txt" | grep -E "Requests|Latency"
CPU1=$(cpu_ticks)
echo "rss after burst: $(awk '/VmRSS/ {print $2/1024}' /proc/$PID/status) MiB"
if [ -n "${PERF:-}" ]; then wait "$PERF"; fi
settle
N=$(awk '/requests in/ {print $1}' "$DATA/burst.txt")
TCK=$(getconf CLK_TCK)
echo "cpu per 1000 reports: burst $(awk -v c=$((CPU1 - CPU0)) -v n=$N -v t=$TCK 'BEGIN {printf "%.1f", c*1000/t*1000/n}') ms, with the workers' catching up $(awk -v c=$((TICKS - CPU0)) -v n=$N -v t=$TCK 'BEGIN {printf "%.1f", c*1000/t*1000/n}') ms ($N reports)"
if [ -n "${SETTLE2:-}" ]; then
  for _ in $(seq $((SETTLE2 / 5))); do sleep 5; echo -n "$(awk '/VmRSS/ {printf "%d ", $2/1024}' /proc/$PID/status)"; done
  echo
fi
