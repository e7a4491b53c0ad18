#!/usr/bin/env bash
# A real Kubernetes control plane for tests on loopback (envtest style):
# kube-apiserver v1.37.2, etcd v3.7.3 and helm v4.3.2, built from the Go
# module proxy (nothing else is fetched) into a cache directory, once.
#
#   eval "$(bash .ci/build-kube.sh [CACHE_DIR])"
#
# CACHE_DIR defaults to $HOME/.cache/nines-kube-v1.37.2. A binary already
# there is not rebuilt; the three paths are printed as shell to eval:
#
#   NINES_KUBE_APISERVER_BIN  NINES_ETCD_BIN  NINES_HELM_BIN
#
# The wrapper modules and their go.sum live in .ci/kube/ (see its README).
# Module and build caches: $HOME/.cache/nines-kube-go/{mod,build}, or
# NINES_KUBE_GOMODCACHE / NINES_KUBE_GOCACHE. Progress goes to stderr.
# A cold build takes 12-14 minutes on two cores (kube-apiserver ~7, helm ~4,
# etcd ~1) and needs ~5 GB of caches, removed once it is done; the binaries are bit-for-bit
# reproducible (-trimpath, no VCS stamp, CGO off, fixed -X values).
set -euo pipefail

K8S_VERSION=v1.37.2
HELM_VERSION=v4.3.2
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HOME/.cache/nines-kube-$K8S_VERSION}

log() { echo "build-kube.sh: $*" >&2; }

export GOMODCACHE=${NINES_KUBE_GOMODCACHE:-$HOME/.cache/nines-kube-go/mod}
export GOCACHE=${NINES_KUBE_GOCACHE:-$HOME/.cache/nines-kube-go/build}
# go.sum is committed: -mod=readonly refuses to build if it would change.
export GOFLAGS="-mod=readonly -buildvcs=false -p=2"
export CGO_ENABLED=0
export GOPROXY=${GOPROXY:-https://proxy.golang.org,direct}
mkdir -p "$OUT" "$GOMODCACHE" "$GOCACHE"

# component-base/version is what /version and --version report; without
# these the server calls itself v0.0.0-master.
V=k8s.io/component-base/version
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
APISERVER_LDFLAGS="-s -w -X $V.gitVersion=$K8S_VERSION -X $V.gitMajor=1 -X $V.gitMinor=$minor"
APISERVER_LDFLAGS+=" -X $V.gitTreeState=clean -X $V.gitCommit="
HELM_LDFLAGS="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
HELM_LDFLAGS+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

# build NAME: builds $OUT/NAME unless it is there (written under a temporary
# name, then renamed, so an interrupted build is redone)
build() {
  local name=$1 start
  if [ -x "$OUT/$name" ]; then
    return 0
  fi
  start=$(date +%s)
  log "building $name into $OUT ($(go version))"
  case $name in
    kube-apiserver)
      (cd "$HERE/kube/apiserver" &&
        go build -trimpath -ldflags="$APISERVER_LDFLAGS" -o "$OUT/.$name.tmp" .) ;;
    etcd)
      (cd "$HERE/kube/etcd" &&
        go build -trimpath -ldflags="-s -w" -o "$OUT/.$name.tmp" .) ;;
    helm)
      # helm's own go.mod and go.sum pin its dependencies; no wrapper needed
      rm -rf "$OUT/.helm-gobin"
      (cd "$OUT" && GOBIN="$OUT/.helm-gobin" \
        go install -trimpath -ldflags="$HELM_LDFLAGS" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION")
      mv "$OUT/.helm-gobin/helm" "$OUT/.$name.tmp"
      rm -rf "$OUT/.helm-gobin" ;;
  esac
  mv "$OUT/.$name.tmp" "$OUT/$name"
  log "built $name in $(($(date +%s) - start)) s, $(du -h "$OUT/$name" | cut -f1)"
}

built=0
for b in etcd helm kube-apiserver; do
  [ -x "$OUT/$b" ] || built=1
  build "$b"
done
# The binaries are what is kept; the module and build caches (about 5 GB)
# are only needed to build them again, so a build does not leave them on a
# disk the Rust target shares. NINES_KUBE_KEEP_GOCACHE=1 keeps them.
if [ "$built" = 1 ] && [ "${NINES_KUBE_KEEP_GOCACHE:-0}" != 1 ]; then
  go clean -modcache
  rm -rf "$GOCACHE"
  log "removed the Go module and build caches"
fi

printf 'export NINES_KUBE_APISERVER_BIN=%q\n' "$OUT/kube-apiserver"
printf 'export NINES_ETCD_BIN=%q\n' "$OUT/etcd"
printf 'export NINES_HELM_BIN=%q\n' "$OUT/helm"
