# Shared by the ingestion benchmarks (sourced, not run).

# seed_services URL: health reports in 5 s rounds until $SERVICES services are
# known (a slow machine needs more than one round): the two wrk threads start
# half the services apart, each round where the last one stopped; sets COUNT.
seed_services() {
  local start=0 n
  for _ in $(seq 12); do
    n=$(START=$start STRIDE=$((SERVICES / 2)) wrk -t2 -c32 -d5s -s bench/ingest/health.lua "$1" | awk '/requests in/ {print $1}')
    start=$((start + n * 2 / 5))
    COUNT=$(count_services "$1" "$NINES_API_KEY")
    [ "$COUNT" -ge "$SERVICES" ] && return
  done
}

# count_services URL KEY: how many services the key sees, following the
# list's pages (`limit`, `nextCursor`).
count_services() {
  python3 - "$1" "$2" <<'PY'
import json, sys, urllib.parse, urllib.request
base, key, n, cursor = sys.argv[1], sys.argv[2], 0, None
while True:
    q = "limit=1000" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
    req = urllib.request.Request(f"{base}/api/v1/services?{q}", headers={"X-API-Key": key})
    page = json.load(urllib.request.urlopen(req))
    n += len(page["items"])
    cursor = page.get("nextCursor")
    if not cursor:
        break
print(n)
PY
}

# cpu_ticks: the server's ($PID) CPU time so far, user and system, in clock ticks.
cpu_ticks() { awk '{print $14+$15}' /proc/$PID/stat; }

# settle: wait until the server's ($PID) background workers are done: less
# than 5 % of a core used over a second (at most 120 s). Keeps the largest
# RSS seen meanwhile, in KiB, in MAX_KB, and the CPU ticks at the end in TICKS.
settle() {
  local prev kb
  prev=$(cpu_ticks)
  for _ in $(seq 120); do
    sleep 1
    kb=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
    [ "$kb" -gt "${MAX_KB:-0}" ] && MAX_KB=$kb
    TICKS=$(cpu_ticks)
    [ $((TICKS - prev)) -lt 5 ] && return
    prev=$TICKS
  done
}
