#!/usr/bin/env bash
# Probes as a user runs them: `nines serve` (release) with checks applied
# through its API, against a local nginx counting requests, beside Debian's
# blackbox_exporter driven by wrk, in one run. See server.py for the method.
#
#   apt-get install -y nginx-light wrk prometheus-blackbox-exporter   (once)
#   bench/probes/server.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
cargo build --quiet --release -p nines --manifest-path "$root/Cargo.toml"
ulimit -n 65536 || true
NINES_BIN="$CARGO_TARGET_DIR/release/nines" exec python3 "$(dirname "$0")/server.py"
