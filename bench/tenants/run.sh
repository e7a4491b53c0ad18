#!/usr/bin/env bash
# Tenant provisioning against a real Keycloak (issue #17): ORGS Organizations
# and CONTACTS Contacts (default 100 and 500, one organization role each)
# applied at once to the operator (in-process, against the fake Kubernetes
# API server); prints the seconds until every one is Ready, the Keycloak
# calls that took, and then, with everything in sync, the Keycloak calls per
# reconcile over 20 s of resync passes (one a second per object here) and how
# many of them wrote (expected: none). Loopback only.
#
#   bench/tenants/run.sh                 # needs .ci/keycloak.sh's Keycloak
#   ORGS=20 CONTACTS=100 bench/tenants/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nines-target}
eval "$(bash .ci/keycloak.sh)"
echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}')"
cargo test --release -q -p nines-operator --test e2e_tenants bench_provisioning -- --ignored --nocapture 2>&1 | grep '^BENCH'
