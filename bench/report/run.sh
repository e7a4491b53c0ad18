#!/usr/bin/env bash
# The daily SLA report end to end through the server path: `nines report
# generate` (connect, migrate, figures from the SLO engine, JSON, PDF, files,
# index) on a SQLite database with 10,000 services and 45 days of history,
# against the same command on an empty database in the same run (the
# baseline: process start, migrations, an empty report).
#   bench/report/run.sh          (SERVICES, DAYS, RUNS override the size)
# Needs: cargo, hyperfine.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
RUNS=${RUNS:-5}
echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}')"
cargo build --release -q -p nines
cargo build --release -q -p nines-server --example report_seed
BIN=$CARGO_TARGET_DIR/release/nines
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$CARGO_TARGET_DIR/release/examples/report_seed" "$WORK/seeded"
mkdir -p "$WORK/empty"
# an empty database with one service, so there is one organization to report
NINES_LOG=warn "$BIN" apikey list --data-dir "$WORK/empty" >/dev/null
DATE=$(date -u -d yesterday +%F)
export NINES_LOG=warn
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$WORK/result.md" \
  -n "10,000 services" "$BIN report generate --data-dir $WORK/seeded --date $DATE --organization bench" \
  -n "empty database" "$BIN report generate --data-dir $WORK/empty --date $DATE --organization bench"
cat "$WORK/result.md"
ls -l "$WORK/seeded/reports/bench/$DATE.pdf" "$WORK/seeded/reports/bench/$DATE.json" | awk '{print $5, $9}'
echo "pdf pages: $(pdfinfo "$WORK/seeded/reports/bench/$DATE.pdf" 2>/dev/null | awk '/^Pages/ {print $2}')"
