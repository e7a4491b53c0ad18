#!/usr/bin/env bash
# The Keycloak server the provisioning tests run against (issue #17): the
# server distribution from Maven Central, unpacked once into
# $HOME/.cache/nines-keycloak-<version>/ and reused by later runs.
#
# Prints the two variables the test harness (crates/nines-operator/tests/
# common/keycloak.rs) reads, as shell to eval:
#
#   eval "$(bash .ci/keycloak.sh)"
#
#   NINES_KEYCLOAK_HOME       the directory holding bin/kc.sh
#   NINES_KEYCLOAK_JAVA_HOME  a JDK 21 or newer (Keycloak 26 refuses 17)
#
# Progress goes to stderr. NINES_KEYCLOAK_VERSION picks another version;
# without it the first of KC_VERSIONS that the registry serves is used.
set -euo pipefail

KC_VERSIONS=(26.7.3 26.5.6)
if [ -n "${NINES_KEYCLOAK_VERSION:-}" ]; then
  KC_VERSIONS=("$NINES_KEYCLOAK_VERSION")
fi
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

log() { echo "keycloak.sh: $*" >&2; }

# A JDK new enough: the one named, the Temurin 25 of the CI image, or the
# newest other JDK >= 21 under /usr/lib/jvm.
java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}
find_java() {
  local candidates=()
  [ -n "${NINES_KEYCLOAK_JAVA_HOME:-}" ] && candidates+=("$NINES_KEYCLOAK_JAVA_HOME")
  candidates+=(/usr/lib/jvm/temurin-25-jdk-amd64)
  for d in $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do candidates+=("${d%/}"); done
  for d in "${candidates[@]}"; do
    if [ -x "$d/bin/java" ] && [ "$(java_major "$d")" -ge 21 ] 2>/dev/null; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

JAVA=$(find_java) || { log "no JDK 21 or newer found under /usr/lib/jvm"; exit 1; }

# The first `start-dev` of a fresh unpack spends ~30 s re-augmenting the
# server for the dev profile and persists the result under lib/quarkus; later
# starts with the same build-time options skip it (22 s instead of 56 s on two
# cores). `kc.sh build` refuses the dev profile, so prime it here by starting
# once and stopping as soon as the augmentation is done, before tests race
# each other doing it in the same directory. The build-time options must be
# the ones the test harness passes: --db=dev-mem --health-enabled=true.
prime() {
  local home=$1 log=$scratch/prime.log pid
  log "priming $home for start-dev (one-time augmentation)"
  # env execs kc.sh, so $! is kc.sh, which hands a TERM on to its JVM (or,
  # once the augmentation is done, is that JVM)
  env JAVA_HOME="$JAVA" "$home/bin/kc.sh" start-dev --db=dev-mem --health-enabled=true \
    --http-host=127.0.0.1 --http-port=0 --http-management-port=0 </dev/null >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    grep -qs "Running the server in development mode" "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if ! grep -q "Running the server in development mode" "$log"; then
    cat "$log" >&2
    log "priming failed"
    exit 1
  fi
}

home_of() { echo "$HOME/.cache/nines-keycloak-$1"; }

# Already unpacked? (the marker is written last, so a half-done unpack is
# redone)
KC_HOME=
for v in "${KC_VERSIONS[@]}"; do
  if [ -f "$(home_of "$v")/.complete" ]; then
    KC_HOME=$(home_of "$v")
    break
  fi
done

if [ -z "$KC_HOME" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  for v in "${KC_VERSIONS[@]}"; do
    log "fetching org.keycloak:keycloak-quarkus-dist:$v:zip"
    if mvn -B -q "$DEP_PLUGIN:copy" -Dartifact="org.keycloak:keycloak-quarkus-dist:$v:zip" \
      -DoutputDirectory="$scratch" -Dmdep.overWriteReleases=true >&2; then
      dest=$(home_of "$v")
      mkdir -p "$(dirname "$dest")"
      rm -rf "$dest" "$scratch/unpacked"
      unzip -q "$scratch/keycloak-quarkus-dist-$v.zip" -d "$scratch/unpacked"
      # the zip holds one top directory, keycloak-<version>/
      mv "$scratch/unpacked"/keycloak-* "$dest"
      prime "$dest"
      touch "$dest/.complete"
      KC_HOME=$dest
      break
    fi
    log "version $v not fetched"
  done
fi

[ -n "$KC_HOME" ] || { log "could not fetch any of: ${KC_VERSIONS[*]}"; exit 1; }
log "Keycloak in $KC_HOME, Java in $JAVA"
printf 'export NINES_KEYCLOAK_HOME=%q\n' "$KC_HOME"
printf 'export NINES_KEYCLOAK_JAVA_HOME=%q\n' "$JAVA"
