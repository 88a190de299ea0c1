#!/usr/bin/env bash
# Installs what weft needs on a fresh Debian 12 machine (run as root): the kernel tools weft
# drives (iproute2, nftables, conntrack), the reference CNI plugins it interoperates with, the tools the
# tests and benchmarks use (dnsperf: bench/dns.ts; dig from bind9-dnsutils: test/dns-lab.test.ts; chromium: test/ui.test.ts drives it), BIRD 2 (the bgp backend), nginx with its Lua module (the lab's ingress controller runs it in its pods; endpoint changes go to a Lua balancer instead of a reload) and wrk (bench/ingress.ts), and the npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (weft builds network namespaces)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
packages=(iproute2 nftables iptables conntrack socat dnsmasq-base iputils-ping iputils-arping hping3 curl containernetworking-plugins etcd-server iperf3 dnsperf bind9-dnsutils bird2 util-linux procps kmod python3 chromium nginx libnginx-mod-http-lua wrk)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's nginx package starts a server on the host's port 80; weft runs nginx only inside lab
# pods (`weft ingress`), so the host's service is stopped and disabled, and nothing depends on it.
if [ -d /run/systemd/system ]; then
  systemctl disable --now nginx 2>/dev/null || true
elif [ -f /run/nginx.pid ]; then
  nginx -s quit 2>/dev/null || true
fi

# playwright-core (test/ui.test.ts) drives Debian's chromium: never let it download a browser.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
# The two native modules are built by their install scripts; should npm ever skip those (npm 11
# warns that it may), build them explicitly.
if ! node -e "require('fs-ext'); require('better-sqlite3')" 2>/dev/null; then
  npm rebuild fs-ext better-sqlite3
fi
# weft's own native module (setns for the lab's pod sockets; see native/netns/netns.c).
npm --prefix native/netns run build --silent
npm run build --silent
