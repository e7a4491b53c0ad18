#!/usr/bin/env bash
# Dashboard hierarchy tree with 5,000 services on SQLite.
#
#   bench/dashboard/run.sh          # needs curl; SERVICES and RUNS override the size,
#                                   # BIN=path runs that binary instead of building one
#
# One release `nines serve` on a fresh SQLite data dir, loopback only:
#   1. seeds SERVICES services by health reports (5 platforms x 4 environments
#      x 25 clusters, 1 % without nodeId so the `unknown` node exists; mixed
#      statuses) through one curl process with --parallel;
#   2. GET /ui (the tree page, all 5,000 services in the HTML) RUNS times with
#      an organization's key: the server time from the page's Server-Timing
#      header and curl's total time;
#   3. the baseline, in the same run on the same server: GET /api/v1/hierarchy
#      (the JSON API's tree of the same services) RUNS times, curl's total time;
#   4. GET /healthz (no work at all) for the floor of a request on this machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/ingest/lib.sh
SERVICES=${SERVICES:-5000}
RUNS=${RUNS:-31}
PORT=${PORT:-18191}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
# BIN=path runs a given build (to compare two side by side); otherwise
# the release binary is built here
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p nines
  BIN=$CARGO_TARGET_DIR/release/nines
fi
DATA=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
# push services stay fresh for the whole run (no stale transitions mid-measurement)
NINES_LOG=warn $BIN serve --listen 127.0.0.1:$PORT --data-dir "$DATA" \
  --stale-unknown-after-seconds 86400 --stale-down-after-seconds 172800 > "$DATA/serve.out" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -s "$DATA/admin-api-key" ] && curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.2; done
URL=http://127.0.0.1:$PORT
ADMIN=$(cat "$DATA/admin-api-key")
KEY=$(curl -sf -X POST "$URL/api/v1/apikeys" -H "X-API-Key: $ADMIN" -d '{"organization":"bench","role":"operator"}' \
  | sed -n 's/.*"secret":"\([^"]*\)".*/\1/p')
[ -n "$KEY" ] || { echo "could not create a key" >&2; exit 1; }

echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}'), $(uname -r)"
echo "== seeding $SERVICES services"
awk -v n="$SERVICES" -v url="$URL/api/v1/health/report" -v key="$KEY" 'BEGIN {
  split("OPERATIONAL OPERATIONAL OPERATIONAL OPERATIONAL OPERATIONAL OPERATIONAL OPERATIONAL DEGRADED DOWN UNKNOWN", st, " ");
  for (i = 0; i < n; i++) {
    node = (i % 100 == 99) ? "" : sprintf(",\\\"nodeId\\\":\\\"bench/platform-%d/env-%d/cluster-%d\\\"", i % 5, i % 4, i % 25);
    printf "url = \"%s\"\nheader = \"X-API-Key: %s\"\nheader = \"Content-Type: application/json\"\n", url, key;
    printf "data = \"{\\\"service\\\":\\\"svc-%05d\\\",\\\"status\\\":\\\"%s\\\"%s}\"\noutput = \"/dev/null\"\nnext\n", i, st[i % 10 + 1], node;
  }
}' | sed '$d' > "$DATA/seed.cfg"   # no "next" after the last request
curl -s --no-progress-meter --parallel --parallel-max 8 -K "$DATA/seed.cfg"
COUNT=$(count_services "$URL" "$KEY")
echo "services known: $COUNT"
sleep 2

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# $1 path, $2 output file: "server-timing-ms total-ms bytes" per run
measure() {
  for _ in $(seq "$RUNS"); do
    curl -s -o /dev/null -D "$DATA/h" -H "X-API-Key: $KEY" -w '%{time_total} %{size_download}\n' "$URL$1" > "$DATA/w"
    st=$(tr -d '\r' < "$DATA/h" | sed -n 's/^server-timing: app;dur=\(.*\)$/\1/Ip')
    awk -v st="${st:-0}" '{printf "%s %.3f %d\n", st, $1 * 1000, $2}' "$DATA/w"
  done > "$2"
}
curl -s -o /dev/null -H "X-API-Key: $KEY" "$URL/ui"   # warm caches once
echo "== GET /ui (tree), $RUNS runs"
measure /ui "$DATA/ui.txt"
echo "== GET /api/v1/hierarchy (baseline), $RUNS runs"
measure /api/v1/hierarchy "$DATA/api.txt"
echo "== GET /healthz (floor), $RUNS runs"
measure /healthz "$DATA/noop.txt"

UI_SERVER=$(awk '{print $1}' "$DATA/ui.txt" | median)
UI_TOTAL=$(awk '{print $2}' "$DATA/ui.txt" | median)
UI_BYTES=$(awk '{print $3}' "$DATA/ui.txt" | median)
UI_MAX=$(awk '{print $1}' "$DATA/ui.txt" | sort -n | tail -1)
API_TOTAL=$(awk '{print $2}' "$DATA/api.txt" | median)
API_BYTES=$(awk '{print $3}' "$DATA/api.txt" | median)
NOOP=$(awk '{print $2}' "$DATA/noop.txt" | median)
RATIO=$(awk -v a="$UI_TOTAL" -v b="$API_TOTAL" 'BEGIN {printf "%.2f", a/b}')
echo
echo "RESULT services=$COUNT ui_server_ms=$UI_SERVER (max $UI_MAX) ui_total_ms=$UI_TOTAL ui_bytes=$UI_BYTES api_total_ms=$API_TOTAL api_bytes=$API_BYTES ratio_ui_api=$RATIO noop_ms=$NOOP"
