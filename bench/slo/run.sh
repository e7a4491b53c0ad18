#!/usr/bin/env bash
# SLO engine at scale: 10,000 services with 90 days of history on SQLite.
#   bench/slo/run.sh            (SERVICES, DAYS, FLAPPING override the size)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}')"
cargo run --release -q -p nines-server --example slo_bench
