#!/usr/bin/env bash
# Builds the real Kubernetes parts the lab runs with `--api kube` (kube-apiserver,
# kube-controller-manager, kubectl) and `--services kube-proxy` (kube-proxy, issue 18) from the Go
# module k8s.io/kubernetes at one pinned release, into a cache outside the repository
# (WEFT_KUBE_CACHE, default /var/cache/weft/kube/vVERSION) that is reused when present: only the
# binaries missing from it are built (a cache made before kube-proxy was on the list gains just that
# one). No source of theirs enters the repository: the Go module proxy supplies it.
#
# k8s.io/kubernetes points its staging modules (k8s.io/api, k8s.io/client-go, ...) at ./staging with
# `replace` lines, which a consumer does not inherit; so the throwaway module made here replaces each of
# them with its published v0.MINOR.PATCH release, as every consumer of that module must.
set -euo pipefail

version="${WEFT_KUBE_VERSION:-1.34.4}"
cache="${WEFT_KUBE_CACHE:-/var/cache/weft/kube/v$version}"
binaries=(kube-apiserver kube-controller-manager kubectl kube-proxy)

missing=()
for b in "${binaries[@]}"; do [ -x "$cache/bin/$b" ] || missing+=("$b"); done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "build-kube: Kubernetes v$version already built in $cache/bin"
  exit 0
fi
command -v go >/dev/null || { echo "build-kube: go is not installed (needed to build Kubernetes v$version)" >&2; exit 1; }

staging_version="v0.${version#1.}"
minor="${version#1.}"
minor="${minor%%.*}"
work="$(mktemp -d /tmp/weft-build-kube.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
started=$(date +%s)
echo "build-kube: building ${missing[*]} v$version into $cache (a few minutes to half an hour, once per machine)"

go mod init weft.invalid/build-kube >/dev/null 2>&1
go mod download -json "k8s.io/kubernetes@v$version" >"$work/kubernetes.json"
module_dir=$(sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p' "$work/kubernetes.json")
# The staging modules, from the release's own go.mod (its `k8s.io/x => ./staging/src/k8s.io/x` lines).
mapfile -t staging < <(sed -n 's#^\s*\(k8s.io/[A-Za-z0-9._-]*\) => ./staging/.*#\1#p' "$module_dir/go.mod")
[ "${#staging[@]}" -gt 10 ] || { echo "build-kube: found no staging modules in $module_dir/go.mod" >&2; exit 1; }
for m in "${staging[@]}"; do
  go mod edit -replace "$m=$m@$staging_version"
done
go mod edit -require "k8s.io/kubernetes@v$version"
cat >tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
EOF
go mod tidy -e >/dev/null 2>"$work/tidy.log" || { cat "$work/tidy.log" >&2; exit 1; }

rm -rf "$cache/bin.partial"
mkdir -p "$cache/bin.partial"
for b in "${missing[@]}"; do
  built=$(date +%s)
  echo "build-kube: go build $b ($(($(date +%s) - started)) s so far)"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    -o "$cache/bin.partial/$b" "k8s.io/kubernetes/cmd/$b"
  echo "build-kube: $b took $(($(date +%s) - built)) s"
done
# One rename per binary into bin/: labs already running from it keep their binaries, and bin/ never
# holds a half-written one.
mkdir -p "$cache/bin"
for b in "${missing[@]}"; do mv -f "$cache/bin.partial/$b" "$cache/bin/$b"; done
rm -rf "$cache/bin.partial"
echo "build-kube: done in $(($(date +%s) - started)) s: $cache/bin"
