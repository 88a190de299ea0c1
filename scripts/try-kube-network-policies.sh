#!/usr/bin/env bash
# Runs the real kube-network-policies (built by `scripts/build-peers.sh kube-network-policies`) once, for
# SECONDS, on node NODE of a running `weft lab up --api kube` lab, as its DaemonSet pod would run (the node's
# network namespace, its ServiceAccount's token, --hostname-override the node), and prints what it logged.
# On this machine it cannot work: every release the module proxy serves sends packets to userspace with the
# nftables `queue` expression and the kernel is built without CONFIG_NFT_QUEUE, so each sync of its table
# fails (README, "Real peers"). This is that error's reproduction, not a lab option.
#
# - kube-network-policies has no --kubeconfig flag: it reads the in-cluster config only (the token and CA
#   under /var/run/secrets/kubernetes.io/serviceaccount, the API server from KUBERNETES_SERVICE_HOST/PORT).
#   The script gives it those in a private mount namespace (a tmpfs over /run in it), so nothing of the
#   host's is written, and the API server's address is the lab's relay as the nodes reach it.
# - Its identity is deploy/peers/kube-network-policies.yaml (the rights its own manifest asks for).
# - --disable-nri: there is no container runtime's NRI socket in the lab.
#
# Usage (as root): scripts/try-kube-network-policies.sh LAB [NODE (n1)] [SECONDS (15)]
#   (WEFT_LAB_ROOT as for weft; the log stays in a temporary directory, named at the end)
set -euo pipefail
cd "$(dirname "$0")/.."

lab="${1:?usage: scripts/try-kube-network-policies.sh LAB [NODE] [SECONDS]}"
node="${2:-n1}"
seconds="${3:-15}"
version="${WEFT_KUBE_NETWORK_POLICIES_VERSION:-v0.8.0}"
bin="${WEFT_PEERS_CACHE:-/var/cache/weft/peers}/kube-network-policies-$version/bin/kube-network-policies"
kubectl="${WEFT_KUBE_CACHE:-/var/cache/weft/kube/v1.34.4}/bin/kubectl"
dir="${WEFT_LAB_ROOT:-/run/weft/labs}/$lab"

[ -x "$bin" ] || { echo "try-kube-network-policies: $bin is not built (bash scripts/build-peers.sh kube-network-policies)" >&2; exit 1; }
[ -f "$dir/lab.json" ] || { echo "try-kube-network-policies: no lab \"$lab\" in ${WEFT_LAB_ROOT:-/run/weft/labs}" >&2; exit 1; }
read -r netns url < <(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const n = r.nodes.find((x) => x.name === process.argv[2]);
  if (!r.api) { console.error("the lab has no Kubernetes API (weft lab up --api kube)"); process.exit(1); }
  if (!n) { console.error(`no node ${process.argv[2]} in the lab`); process.exit(1); }
  console.log(n.ns, r.api.nodeUrl);' "$dir/lab.json" "$node")
hostport="${url#https://}"
hostport="${hostport%%/*}"
admin="$dir/kube/admin.kubeconfig"

work="$(mktemp -d /tmp/weft-try-knp.XXXXXX)"
mkdir "$work/sa"
"$kubectl" --kubeconfig "$admin" apply -f deploy/peers/kube-network-policies.yaml >/dev/null
"$kubectl" --kubeconfig "$admin" create token kube-network-policies -n kube-system >"$work/sa/token"
"$kubectl" --kubeconfig "$admin" config view --raw --flatten -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
  base64 -d >"$work/sa/ca.crt"
echo kube-system >"$work/sa/namespace"

echo "try-kube-network-policies: $version on $node ($netns), API $hostport, for $seconds s; log: $work/log"
timeout -s INT -k 15 "$seconds" ip netns exec "$netns" unshare -m --propagation private sh -c '
  mount -t tmpfs tmpfs /run &&
  mkdir -p /run/secrets/kubernetes.io/serviceaccount &&
  cp "$1"/sa/* /run/secrets/kubernetes.io/serviceaccount/ &&
  exec env KUBERNETES_SERVICE_HOST="${2%:*}" KUBERNETES_SERVICE_PORT="${2##*:}" "$3" \
    --hostname-override="$4" --disable-nri --metrics-bind-address=127.0.0.1:9080 --v=2' \
  sh "$work" "$hostport" "$bin" "$node" >"$work/log" 2>&1 &
pid=$!
sleep $((seconds > 8 ? 8 : seconds / 2))
echo "try-kube-network-policies: the node's nftables tables while it runs (its own, kube-network-policies, is missing):"
ip netns exec "$netns" nft list tables | sed 's/^/  /'
status=0
wait "$pid" || status=$?
echo "try-kube-network-policies: exit $status (124: stopped after $seconds s); what it logged about nftables:"
sed -n '/Syncing nftables rules/,$p' "$work/log" | head -20
