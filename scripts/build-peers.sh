#!/usr/bin/env bash
# Builds the real peers weft is measured against and run beside in the lab (issue 18): `flanneld`
# (github.com/flannel-io/flannel) and the reference CNI plugins (github.com/containernetworking/plugins:
# bridge, host-local, loopback, portmap) at pinned releases, from the Go module proxy, into a cache
# outside the repository (WEFT_PEERS_CACHE, default /var/cache/weft/peers/<name>-<version>/bin), reused
# when present. No source of theirs enters the repository: the module proxy supplies it to Go's module
# cache and it is built there.
#
# - The CNI plugins: `go install module/pkg@version` (the module has no `replace` lines).
# - flanneld: its main package imports every backend, among them the TencentCloud VPC one, whose SDK
#   module (github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc) the module proxy refuses here
#   ("403 Forbidden: This module version is not available"). So flanneld is built from a throwaway
#   module (a temporary directory) that requires flannel at the pinned release and holds a copy of its
#   main.go without that one import: every other backend and all of flanneld's code are the release's.
#   Built with cgo, as flannel's Makefile does on amd64 (its udp backend needs it there).
#
# - kube-network-policies (sigs.k8s.io/kube-network-policies): opt-in only, NOT in the default list that
#   .ci/run builds. Every release the module proxy serves (v0.7.0, v0.8.0) sends packets to userspace
#   with the nftables `queue` expression, and this machine's kernel is built without CONFIG_NFT_QUEUE:
#   the binary starts, then every sync of its ruleset fails (the error is in the README's peers section),
#   so no test or benchmark here can use it. It is built so that anyone can see that error for
#   themselves: `bash scripts/build-peers.sh kube-network-policies`. Built from the release's own
#   module directory (its go.mod has no `replace` lines and its go.sum is complete) as its Makefile
#   does: `go build ./cmd`, static (CGO_ENABLED=0).
#
# Usage: scripts/build-peers.sh [flannel|cni-plugins|coredns|kube-network-policies ...]   (default:
# flannel cni-plugins coredns). A part that cannot be built is reported with go's own error and the
# script goes on to the next; the exit code says whether all did.
set -uo pipefail

flannel_version="${WEFT_FLANNEL_VERSION:-v0.28.11}"
cni_version="${WEFT_CNI_PLUGINS_VERSION:-v1.10.0}"
coredns_version="${WEFT_COREDNS_VERSION:-v1.14.7}"
knp_version="${WEFT_KUBE_NETWORK_POLICIES_VERSION:-v0.8.0}"
root="${WEFT_PEERS_CACHE:-/var/cache/weft/peers}"
parts=("$@")
[ "${#parts[@]}" -gt 0 ] || parts=(flannel cni-plugins coredns)

command -v go >/dev/null || { echo "build-peers: go is not installed (needed to build the peers)" >&2; exit 1; }

# build NAME VERSION LDFLAGS PACKAGE... : each package's binary lands in $root/NAME-VERSION/bin.
build() {
  local name="$1" version="$2" ldflags="$3"
  shift 3
  local dir="$root/$name-$version" missing=() pkg
  for pkg in "$@"; do [ -x "$dir/bin/$(basename "$pkg")" ] || missing+=("$pkg"); done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "build-peers: $name $version already built in $dir/bin"
    return 0
  fi
  local started partial
  started=$(date +%s)
  partial="$dir/bin.partial"
  rm -rf "$partial"
  mkdir -p "$partial"
  [ -d "$dir/bin" ] && cp -a "$dir/bin/." "$partial/"
  for pkg in "${missing[@]}"; do
    echo "build-peers: go install $pkg@$version ($(($(date +%s) - started)) s so far)"
    if ! GOBIN="$partial" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install -trimpath -ldflags "$ldflags" "$pkg@$version"; then
      echo "build-peers: FAILED to build $pkg@$version (the error is above)" >&2
      rm -rf "$partial"
      return 1
    fi
  done
  rm -rf "$dir/bin"
  mv "$partial" "$dir/bin"
  echo "build-peers: built $name $version in $(($(date +%s) - started)) s: $dir/bin ($(cd "$dir/bin" && echo *))"
}

# finish_build WHAT DIR RC: after a build into DIR/bin.partial that ended with RC, puts it in place as
# DIR/bin; on a failure says so and removes the partial build (and returns 1).
finish_build() {
  local what="$1" dir="$2" rc="$3"
  if [ "$rc" -ne 0 ]; then
    echo "build-peers: FAILED to build $what (the error is above)" >&2
    rm -rf "$dir/bin.partial"
    return 1
  fi
  rm -rf "$dir/bin"
  mv "$dir/bin.partial" "$dir/bin"
}

# flanneld from a throwaway module (see the top of this file).
build_flannel() {
  local version="$1" dir="$root/flannel-$1"
  if [ -x "$dir/bin/flanneld" ]; then
    echo "build-peers: flannel $version already built in $dir/bin"
    return 0
  fi
  local started work module_dir
  started=$(date +%s)
  work="$(mktemp -d /tmp/weft-build-flannel.XXXXXX)"
  echo "build-peers: building flanneld $version into $dir/bin (a few minutes, once per machine)"
  # Each step checks its own status: `set -e` does not hold inside a function called from `|| status=1`.
  (
    cd "$work" || exit 1
    go mod init weft.invalid/build-flannel >/dev/null 2>&1 || exit 1
    module_dir=$(go mod download -json "github.com/flannel-io/flannel@$version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
    [ -f "$module_dir/main.go" ] || { echo "build-peers: no main.go in flannel $version ($module_dir)" >&2; exit 1; }
    go mod edit -require "github.com/flannel-io/flannel@$version" || exit 1
    cp "$module_dir/go.sum" go.sum || exit 1
    grep -v '"github.com/flannel-io/flannel/pkg/backend/tencentvpc"' "$module_dir/main.go" >main.go || exit 1
    echo "build-peers: go mod tidy ($(($(date +%s) - started)) s so far)"
    go mod tidy >/dev/null || exit 1
    echo "build-peers: go build flanneld ($(($(date +%s) - started)) s so far)"
    mkdir -p "$dir/bin.partial" || exit 1
    CGO_ENABLED=1 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$version" -o "$dir/bin.partial/flanneld" .
  )
  local rc=$?
  rm -rf "$work"
  finish_build "flanneld $version" "$dir" "$rc" || return 1
  echo "build-peers: built flannel $version in $(($(date +%s) - started)) s: $dir/bin/flanneld ($("$dir/bin/flanneld" --version 2>&1))"
}

# CoreDNS with the plugins of kubeadm's Corefile only (and log), as CoreDNS's own compile-time
# plugin selection does: a throwaway module whose main.go (written here, not CoreDNS's) imports
# coremain and those plugin packages and sets dnsserver.Directives to them in the order of the
# release's plugin.cfg (the order CoreDNS runs plugins in). The cloud plugins' SDKs (route53,
# azure, clouddns), which the full build downloads and compiles, are left out.
build_coredns() {
  local version="$1" dir="$root/coredns-$1"
  if [ -x "$dir/bin/coredns" ]; then
    echo "build-peers: coredns $version already built in $dir/bin"
    return 0
  fi
  local started work
  started=$(date +%s)
  work="$(mktemp -d /tmp/weft-build-coredns.XXXXXX)"
  echo "build-peers: building coredns $version into $dir/bin (a few minutes, once per machine)"
  (
    cd "$work" || exit 1
    go mod init weft.invalid/build-coredns >/dev/null 2>&1 || exit 1
    local module_dir
    module_dir=$(go mod download -json "github.com/coredns/coredns@$version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
    [ -f "$module_dir/plugin.cfg" ] || { echo "build-peers: no plugin.cfg in coredns $version ($module_dir)" >&2; exit 1; }
    go mod edit -require "github.com/coredns/coredns@$version" || exit 1
    cp "$module_dir/go.sum" go.sum || exit 1
    local wanted=" errors health ready kubernetes prometheus forward cache loop reload loadbalance log "
    local directives="" imports="" name path
    while IFS=: read -r name path; do
      case "$name" in '' | '#'*) continue ;; esac
      case "$wanted" in *" $name "*) ;; *) continue ;; esac
      directives="$directives\"$name\", "
      case "$path" in */*) ;; *) path="github.com/coredns/coredns/plugin/$path" ;; esac
      imports="${imports}\t_ \"$path\"\n"
    done <"$module_dir/plugin.cfg"
    printf '%b' "// Generated by weft's scripts/build-peers.sh: CoreDNS with a chosen set of plugins.\npackage main\n\nimport (\n\t\"github.com/coredns/coredns/core/dnsserver\"\n\t\"github.com/coredns/coredns/coremain\"\n$imports)\n\nfunc init() { dnsserver.Directives = []string{$directives} }\n\nfunc main() { coremain.Run() }\n" >main.go || exit 1
    echo "build-peers: go mod tidy ($(($(date +%s) - started)) s so far)"
    go mod tidy >/dev/null || exit 1
    echo "build-peers: go build coredns ($(($(date +%s) - started)) s so far)"
    mkdir -p "$dir/bin.partial" || exit 1
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$version" -o "$dir/bin.partial/coredns" .
  )
  local rc=$?
  rm -rf "$work"
  finish_build "coredns $version" "$dir" "$rc" || return 1
  echo "build-peers: built coredns $version in $(($(date +%s) - started)) s: $dir/bin/coredns ($("$dir/bin/coredns" -plugins | tr '\n' ' '))"
}

# kube-network-policies from its release's module directory (see the top of this file).
build_knp() {
  local version="$1" dir="$root/kube-network-policies-$1"
  if [ -x "$dir/bin/kube-network-policies" ]; then
    echo "build-peers: kube-network-policies $version already built in $dir/bin"
    return 0
  fi
  local started
  started=$(date +%s)
  echo "build-peers: building kube-network-policies $version into $dir/bin (opt-in: this kernel lacks nft queue)"
  (
    local module_dir
    module_dir=$(cd / && go mod download -json "sigs.k8s.io/kube-network-policies@$version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
    [ -f "$module_dir/cmd/main.go" ] || { echo "build-peers: no cmd/main.go in kube-network-policies $version ($module_dir)" >&2; exit 1; }
    cd "$module_dir" || exit 1
    mkdir -p "$dir/bin.partial" || exit 1
    CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" go build -trimpath -ldflags "-s -w" \
      -o "$dir/bin.partial/kube-network-policies" ./cmd
  )
  local rc=$?
  finish_build "kube-network-policies $version" "$dir" "$rc" || return 1
  echo "build-peers: built kube-network-policies $version in $(($(date +%s) - started)) s: $dir/bin/kube-network-policies"
}

status=0
for part in "${parts[@]}"; do
  case "$part" in
    flannel)
      build_flannel "$flannel_version" || status=1
      ;;
    cni-plugins)
      m=github.com/containernetworking/plugins
      build cni-plugins "$cni_version" \
        "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$cni_version" \
        "$m/plugins/main/bridge" "$m/plugins/ipam/host-local" "$m/plugins/main/loopback" "$m/plugins/meta/portmap" ||
        status=1
      ;;
    coredns)
      build_coredns "$coredns_version" || status=1
      ;;
    kube-network-policies)
      build_knp "$knp_version" || status=1
      ;;
    *)
      echo "build-peers: unknown part '$part' (known: flannel, cni-plugins, coredns, kube-network-policies)" >&2
      status=1
      ;;
  esac
done
exit "$status"
