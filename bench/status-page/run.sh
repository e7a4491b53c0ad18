#!/usr/bin/env bash
# Public status page with 5,000 public services and 90 days of history.
#
#   bench/status-page/run.sh      # needs wrk and curl (apt-get install wrk curl);
#                                 # BIN=path serves with a given build
#
# Seeds a fresh SQLite database (SERVICES, GROUPS, DAYS override the size),
# starts a release `nines serve` on it, then measures in one run:
#   1. the first page request (it builds the page's snapshot: cold),
#   2. the page's server time once cached (Server-Timing "app", and curl's
#      time to first byte on loopback), median of 200 requests,
#   3. the time a snapshot rebuild takes (Server-Timing "build"),
#   4. GET /healthz (a no-op handler of the same server) under wrk, then the
#      page under wrk, with the same connections and duration,
#   5. GET /status (the full JSON), size and time.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-20s}
CONNS=${CONNS:-64}
PORT=${PORT:-18282}
export SERVICES=${SERVICES:-5000} GROUPS=${GROUPS:-50} DAYS=${DAYS:-90}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
# one build of both, so the features (and the compiled dependencies) are shared;
# BIN=path serves with that binary instead (to compare two builds side by side)
cargo build --release -q -p nines -p nines-server --example status_page_seed
BIN=${BIN:-$CARGO_TARGET_DIR/release/nines}
DATA=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
URL=http://127.0.0.1:$PORT

echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}'), $(uname -r)"
echo "== seeding $SERVICES services, $GROUPS groups, $DAYS days"
DATABASE_URL="sqlite://$DATA/nines.db" "$CARGO_TARGET_DIR/release/examples/status_page_seed"
NINES_LOG=warn $BIN serve --listen 127.0.0.1:$PORT --data-dir "$DATA" > "$DATA/serve.out" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf $URL/healthz >/dev/null && break; sleep 0.2; done

timing() { grep -i '^server-timing' | sed -E "s/.*$1;dur=([0-9.]+).*/\1/I" | tr -d '\r'; }
echo "== cold: the first request builds the snapshot"
COLD=$(curl -s -o "$DATA/page.html" -D "$DATA/h0" -w '%{time_starttransfer}' $URL/)
BUILD_COLD=$(timing build < "$DATA/h0")
echo "first response after $(awk -v t="$COLD" 'BEGIN {printf "%.1f", t*1000}') ms (snapshot build ${BUILD_COLD} ms)"

# the server first works through the seeded history (the downtime worker
# opens and closes the past downtimes): wait until the page stops changing
echo "== waiting for the workers to settle"
LAST=; SAME=0
for _ in $(seq 300); do
  E=$(curl -s -o /dev/null -D - $URL/ | awk 'tolower($1) == "etag:" {print $2}')
  if [ "$E" = "$LAST" ]; then SAME=$((SAME+1)); else SAME=0; LAST=$E; fi
  [ $SAME -ge 5 ] && break
  sleep 1
done
DOWNTIMES=$(curl -s $URL/feed.atom | grep -o '<entry>' | wc -l)
PAGE_BYTES=$(curl -s $URL/ | wc -c)
echo "settled; the feed lists $DOWNTIMES incidents; the page is $PAGE_BYTES bytes"

echo "== cached: 200 sequential requests"
: > "$DATA/app"; : > "$DATA/ttfb"; : > "$DATA/build"
for _ in $(seq 200); do
  curl -s -o /dev/null -D "$DATA/h" -w '%{time_starttransfer} %{time_pretransfer}\n' $URL/ | awk '{printf "%.3f\n", ($1-$2)*1000}' >> "$DATA/ttfb"
  timing app < "$DATA/h" >> "$DATA/app"
  timing build < "$DATA/h" >> "$DATA/build"
done
med() { sort -g "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
APP=$(med "$DATA/app"); TTFB=$(med "$DATA/ttfb"); BUILD=$(sort -g "$DATA/build" | tail -1)
echo "server time (handler) median ${APP} ms; time to first byte median ${TTFB} ms; slowest snapshot build seen ${BUILD} ms"

echo "== no-op handler (GET /healthz), $DURATION, $CONNS connections"
NOOP=$(wrk -t2 -c$CONNS -d$DURATION $URL/healthz | tee /dev/stderr | awk '/Requests\/sec/ {print $2}')
echo "== the page (GET /), $DURATION, $CONNS connections"
PAGE=$(wrk -t2 -c$CONNS -d$DURATION --latency $URL/ | tee /dev/stderr | awk '/Requests\/sec/ {print $2}')

echo "== GET /status (the full JSON)"
JSON=$(curl -s -o "$DATA/status.json" -w '%{time_starttransfer}' $URL/status)
JSON2=$(curl -s -o /dev/null -w '%{time_starttransfer}' $URL/status)
JSON_BYTES=$(wc -c < "$DATA/status.json")

RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
RATIO=$(awk -v a="$PAGE" -v b="$NOOP" 'BEGIN {printf "%.2f", a/b}')
echo
echo "RESULT services=$SERVICES cold=$(awk -v t="$COLD" 'BEGIN {printf "%.0f", t*1000}')ms build=${BUILD_COLD}ms app=${APP}ms ttfb=${TTFB}ms page=${PAGE_BYTES}B no-op=${NOOP}/s page=${PAGE}/s ratio=${RATIO} json=${JSON_BYTES}B json-first=$(awk -v t="$JSON" 'BEGIN {printf "%.0f", t*1000}')ms json-cached=$(awk -v t="$JSON2" 'BEGIN {printf "%.1f", t*1000}')ms rss=$((RSS_KB/1024))MiB"
