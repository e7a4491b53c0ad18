#!/usr/bin/env bash
# Observability accounting (issue #18): one accounting run of the release
# server for ORGS organizations (default 1,000) against a real
# VictoriaMetrics (Debian's victoria-metrics) and VictoriaLogs (the binary
# .ci/run builds) holding 31 days of data, through the API
# (POST /api/v1/observability/refresh, which reports queries and time per
# backend). First the runs that fill 30 days (each at most 8 queries per
# backend, a day per query, newest first), then a steady one at the next
# 5-minute boundary (what the worker does every 5 minutes). Beside them, in the same
# run, the same steady queries sent straight to the backends with curl: the
# ratio is what nines adds (parsing, storing the rows). Loopback only.
#
#   bench/observability/run.sh               ORGS=100 SERIES=5 LINES=1 override
# Needs: cargo, curl, python3, victoria-metrics, NINES_VICTORIALOGS_BIN (or .ci/run's cache).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
ORGS=${ORGS:-1000}
SERIES=${SERIES:-5}
LINES=${LINES:-1}
VL_BIN=${NINES_VICTORIALOGS_BIN:-$HOME/.cache/nines-victorialogs-v1.52.2/victoria-logs}
VM_BIN=${NINES_VICTORIAMETRICS_BIN:-/usr/bin/victoria-metrics}
echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}')"
cargo build --release -q -p nines
BIN=$CARGO_TARGET_DIR/release/nines
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
VMP=$(port); VLP=$(port); NP=$(port)
"$VM_BIN" -storageDataPath="$WORK/vm" -httpListenAddr=127.0.0.1:$VMP -retentionPeriod=1y -search.disableCache -loggerLevel=ERROR >"$WORK/vm.log" 2>&1 & PIDS+=($!)
"$VL_BIN" -storageDataPath="$WORK/vl" -httpListenAddr=127.0.0.1:$VLP -retentionPeriod=100d -loggerLevel=ERROR >"$WORK/vl.log" 2>&1 & PIDS+=($!)
VM=http://127.0.0.1:$VMP; VL=http://127.0.0.1:$VLP
for u in $VM $VL; do for _ in $(seq 100); do curl -sf "$u/health" >/dev/null && break; sleep 0.1; done; done
echo "== loading $ORGS organizations x $SERIES series, $LINES log line(s) per organization and hour, 31 days"
python3 bench/observability/load.py "$VM" "$VL" "$ORGS" "$SERIES" "$LINES"

NINES_LOG=warn "$BIN" serve --data-dir "$WORK/nines" --listen 127.0.0.1:$NP >"$WORK/nines.log" 2>&1 & PIDS+=($!)
N=http://127.0.0.1:$NP
for _ in $(seq 100); do curl -sf "$N/healthz" >/dev/null && break; sleep 0.1; done
KEY=$(cat "$WORK/nines/admin-api-key")
api() { curl -sf -H "X-API-Key: $KEY" -H 'Content-Type: application/json' "$@"; }
# the organizations nines knows: one service each
python3 - "$N" "$KEY" "$ORGS" <<'PY'
import json, sys, urllib.request
n, key, orgs = sys.argv[1], sys.argv[2], int(sys.argv[3])
for o in range(orgs):
    body = json.dumps({"service": "web", "status": "OPERATIONAL", "nodeId": f"org-{o:04d}/p/prod/c1"}).encode()
    req = urllib.request.Request(f"{n}/api/v1/health/report", data=body, method="POST",
                                 headers={"X-API-Key": key, "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
PY
api -X PUT "$N/api/v1/system-config/VICTORIAMETRICS_URL" -d "{\"value\":\"$VM\"}" >/dev/null
api -X PUT "$N/api/v1/system-config/VICTORIAMETRICS_IS_CLUSTER" -d '{"value":false}' >/dev/null
api -X PUT "$N/api/v1/system-config/VICTORIALOGS_URL" -d "{\"value\":\"$VL\"}" >/dev/null

summary() { python3 -c 'import json,sys; r=json.load(sys.stdin); print("  metrics: %d queries, %d slots, %d ms%s\n  logs:    %d queries, %d hours, %d ms%s" % (r["metrics"]["queries"], r["metrics"]["intervals"], r["metrics"]["durationMs"], (" ERROR "+r["metrics"]["error"]) if r["metrics"]["error"] else "", r["logs"]["queries"], r["logs"]["intervals"], r["logs"]["durationMs"], (" ERROR "+r["logs"]["error"]) if r["logs"]["error"] else ""))'; }
for i in 1 2 3 4 5 6; do
  echo "== filling run $i"
  t0=$(date +%s.%N); api -X POST "$N/api/v1/observability/refresh" -d '{}' >"$WORK/r1.json"; t1=$(date +%s.%N)
  summary <"$WORK/r1.json"; echo "  wall: $(echo "$t1 - $t0" | bc) s"
  python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r["metrics"]["queries"] <= 1 and r["logs"]["queries"] == 1 else 1)' <"$WORK/r1.json" && break
done
# the steady run: just after the next 5-minute boundary, one new slot
now=$(date +%s); wait=$(( (300 - now % 300) + 2 )); echo "== waiting ${wait} s for the next 5-minute slot"; sleep "$wait"
t0=$(date +%s.%N); api -X POST "$N/api/v1/observability/refresh" -d '{}' >"$WORK/r2.json"; t1=$(date +%s.%N)
echo "== steady run (every 5 minutes)"; summary <"$WORK/r2.json"; echo "  wall: $(echo "$t1 - $t0" | bc) s"
# the same two questions straight to the backends
slot=$(( $(date +%s) / 300 * 300 )); hour=$(( $(date +%s) / 3600 * 3600 ))
vmq=$(curl -s -o /dev/null -w '%{time_total}' "$VM/api/v1/query_range" --data-urlencode 'query=count by (customer) (last_over_time({customer!=""}[1h]) keep_metric_names)' --data-urlencode "start=$slot" --data-urlencode "end=$slot" --data-urlencode step=300s --data-urlencode nocache=1)
from=$(date -u -d @$((hour - 3 * 3600)) +%FT%TZ); to=$(date -u -d @$hour +%FT%TZ)
vlq=$(curl -s -o /dev/null -w '%{time_total}' "$VL/select/logsql/query" --data-urlencode "query=_time:[$from, $to) \"organizations.polycrate.io/name\":* | stats by (_time:1h, \"organizations.polycrate.io/name\") count() as lines, sum_len(_msg) as bytes")
echo "== the same queries with curl: VictoriaMetrics ${vmq} s, VictoriaLogs ${vlq} s"
echo "== reading the figures: GET /api/v1/observability/organizations ($ORGS organizations)"
for i in 1 2 3; do curl -s -o /dev/null -w '  %{time_total} s\n' -H "X-API-Key: $KEY" "$N/api/v1/observability/organizations"; done
