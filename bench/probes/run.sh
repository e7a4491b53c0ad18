#!/usr/bin/env bash
# Probe engine benchmark: nines vs Debian's prometheus-blackbox-exporter
# against the same local HTTP target (loopback only, bounded in time), then
# 100,000 scheduled checks for start lateness and RSS.
#
#   bench/probes/run.sh            # defaults below; override via environment
#   apt-get install -y prometheus-blackbox-exporter wrk   (once)
set -euo pipefail

SECONDS_THROUGHPUT=${SECONDS_THROUGHPUT:-20}
CONCURRENCY=${CONCURRENCY:-32}
CHECKS=${CHECKS:-100000}
INTERVAL=${INTERVAL:-60}
SCHED_SECONDS=${SCHED_SECONDS:-150}
SCHED_CONCURRENCY=${SCHED_CONCURRENCY:-512}

root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
cargo build --quiet --release -p nines-probe --example probe_bench --manifest-path "$root/Cargo.toml"
bench="$CARGO_TARGET_DIR/release/examples/probe_bench"
bbe=$(command -v prometheus-blackbox-exporter)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

target_port=$(free_port)
"$bench" target "$target_port" & pids+=($!)
bbe_port=$(free_port)
cat > "$tmp/blackbox.yml" <<YML
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
YML
"$bbe" --config.file="$tmp/blackbox.yml" --web.listen-address="127.0.0.1:$bbe_port" >"$tmp/bbe.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$bbe_port/" >/dev/null && break; sleep 0.1; done
target="http://127.0.0.1:$target_port/health"
probe_url="http://127.0.0.1:$bbe_port/probe?target=$target&module=http_2xx"

echo "machine: $(nproc) cores, $(uname -sr), $($bbe --version 2>&1 | head -1)"
echo "blackbox sanity: $(curl -s "$probe_url" | grep -E '^probe_success')"
echo "== (a) blackbox exporter, wrk -t2 -c$CONCURRENCY -d${SECONDS_THROUGHPUT}s"
bb_rps=$(wrk -t2 -c"$CONCURRENCY" -d"${SECONDS_THROUGHPUT}s" "$probe_url" | tee "$tmp/wrk.txt" | awk '/Requests\/sec/ {print $2}')
grep -E "Requests/sec|requests in|Non-2xx|Socket errors" "$tmp/wrk.txt" || true
echo "blackbox_probes_per_second $bb_rps"

echo "== (b) nines probe engine, $CONCURRENCY concurrent, ${SECONDS_THROUGHPUT}s, fresh connection per probe"
nines_line=$("$bench" throughput "$target" "$SECONDS_THROUGHPUT" "$CONCURRENCY")
echo "$nines_line"
nines_rps=$(echo "$nines_line" | awk '{print $2}')
python3 -c "print('ratio_nines_over_blackbox %.2f' % ($nines_rps / $bb_rps))"

echo "== (c) scheduler: $CHECKS checks every ${INTERVAL}s for ${SCHED_SECONDS}s"
"$bench" scheduler "$target" "$CHECKS" "$INTERVAL" "$SCHED_SECONDS" "$SCHED_CONCURRENCY"
