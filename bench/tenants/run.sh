#!/usr/bin/env bash
# Tenant provisioning against a real Keycloak (issue #17): ORGS Organizations
# and CONTACTS Contacts (default 100 and 500, one organization role each)
# applied at once to the operator (in-process, against the fake Kubernetes
# API server, with the production resync periods); prints the seconds until
# every one is Ready and the Keycloak calls that took; then makes every
# object reconcile once more with nothing changed and prints the Keycloak
# calls per reconcile and how many of them wrote (expected: none).
# Loopback only.
#
#   bench/tenants/run.sh                 # needs .ci/keycloak.sh's Keycloak
#   ORGS=20 CONTACTS=100 bench/tenants/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
eval "$(bash .ci/keycloak.sh)"
echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}')"
cargo test --release -q -p nines-operator --test e2e_tenants bench_provisioning -- --ignored --nocapture 2>&1 | grep '^BENCH'
