#!/usr/bin/env bash
# Health-report ingestion on SQLite with 10,000 known services.
#
#   bench/ingest/run.sh            # needs wrk (apt-get install wrk)
#
# One run measures, side by side on the same server process, after seeding
# 10,000 services and letting the background workers finish with them:
#   1. health reports at a steady ~1,000/s with latency percentiles,
#   2. /healthz (a no-op handler of the same server) as fast as wrk goes,
#   3. health reports as fast as wrk goes (sustained, 10,000 services),
#      with nearly every report changing its service's status (MIX=flap),
# and reads the server's RSS right after the burst, its largest while the
# background workers catch up with the burst's transitions, and once they
# have finished with it; then
#   4. health reports as fast as wrk goes that change no status (MIX=steady),
#      as a healthy fleet sends them. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/ingest/lib.sh
DURATION=${DURATION:-20s}
CONNS=${CONNS:-64}
PORT=${PORT:-18181}
export SERVICES=${SERVICES:-10000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
# BIN=path/to/nines runs a given build instead (to compare two side by side)
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p nines
  BIN=$CARGO_TARGET_DIR/release/nines
fi
DATA=$(mktemp -d)
trap 'kill $PID 2>/dev/null && wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
NINES_LOG=warn $BIN serve --listen 127.0.0.1:$PORT --data-dir "$DATA" > "$DATA/serve.out" &
PID=$!
for _ in $(seq 50); do [ -s "$DATA/admin-api-key" ] && curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.2; done
[ -s "$DATA/admin-api-key" ] || { echo "the server did not start:" >&2; cat "$DATA"/serve.out >&2; exit 1; }
export NINES_API_KEY=$(cat "$DATA/admin-api-key")
URL=http://127.0.0.1:$PORT

MAX_KB=0

echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}'), $(uname -r)"
echo "== seeding $SERVICES services"
seed_services $URL
echo "services known: $COUNT"

echo "== waiting for the workers to finish with the seeding"
settle

echo "== steady ~1000 reports/s (10 connections x 1 request / 10 ms), latency"
DELAY_MS=10 wrk -t2 -c10 -d$DURATION --latency -s bench/ingest/steady.lua $URL | tee "$DATA/steady.txt" >&2
P99=$(awk '/^ +99%/ {print $2}' "$DATA/steady.txt")
STEADY=$(awk '/Requests\/sec/ {print $2}' "$DATA/steady.txt")

echo "== no-op handler (GET /healthz), $DURATION, $CONNS connections"
NOOP=$(wrk -t2 -c$CONNS -d$DURATION $URL/healthz | tee /dev/stderr | awk '/Requests\/sec/ {print $2}')

echo "== health reports, $DURATION, $CONNS connections"
INGEST=$(wrk -t2 -c$CONNS -d$DURATION -s bench/ingest/health.lua $URL | tee /dev/stderr | awk '/Requests\/sec/ {print $2}')
PEAK_KB=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)

echo "== waiting for the workers to finish with the burst"
MAX_KB=$PEAK_KB
settle
# freed memory goes back to the system within 5 s of the workers' last pass
sleep 6
RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
ANON_KB=$(awk '/RssAnon/ {print $2}' /proc/$PID/status)
FILE_KB=$(awk '/RssFile/ {print $2}' /proc/$PID/status)
DB_BYTES=$(du -cb "$DATA"/nines.db* | tail -1 | awk '{print $1}')
RATIO=$(awk -v a="$INGEST" -v b="$NOOP" 'BEGIN {printf "%.2f", a/b}')

echo "== health reports that change nothing (MIX=steady: OPERATIONAL only), $DURATION, $CONNS connections"
HEALTHY=$(MIX=steady wrk -t2 -c$CONNS -d$DURATION -s bench/ingest/health.lua $URL | tee /dev/stderr | awk '/Requests\/sec/ {print $2}')
RATIO2=$(awk -v a="$HEALTHY" -v b="$NOOP" 'BEGIN {printf "%.2f", a/b}')
echo
echo "RESULT no-op=${NOOP}/s ingest=${INGEST}/s ratio=${RATIO} ingest_steady_mix=${HEALTHY}/s ratio_steady_mix=${RATIO2} steady=${STEADY}/s p99=${P99} rss=$((RSS_KB/1024))MiB (anon $((ANON_KB/1024)), file $((FILE_KB/1024))) rss_right_after_burst=$((PEAK_KB/1024))MiB rss_max_while_settling=$((MAX_KB/1024))MiB db=$((DB_BYTES/1024/1024))MiB services=$COUNT"
