/**
 * The real CoreDNS as the lab's cluster DNS (`weft lab up --api kube --dns coredns`, issue 18):
 * where scripts/build-peers.sh puts it, and the Corefile the lab writes for it
 * (src/core/lab/corefile.ts). Its pods are the same kube-system pods behind kube-dns that
 * `weft dns` runs as (src/core/lab/cluster-dns.ts), with the same ServiceAccount token, so weft's
 * DNS checks run unchanged against either server.
 */

import { writeFileSync } from 'node:fs';
import { isExecutable } from '../adapters/proc.js';
import { join } from 'node:path';
import { renderCorefile } from '../core/lab/corefile.js';
import type { LabDns } from '../core/lab/lab-spec.js';
import { peersCache } from './peer-flannel.js';

/** The release scripts/build-peers.sh builds (keep the two in step). */
export const COREDNS_VERSION = 'v1.14.7';

/** Where scripts/build-peers.sh puts coredns. */
export function corednsPath(env: Record<string, string | undefined> = process.env): string {
  return join(peersCache(env), `coredns-${COREDNS_VERSION}`, 'bin', 'coredns');
}

/** Why CoreDNS cannot be run here (not built), or undefined when it can. */
export function corednsMissing(env: Record<string, string | undefined> = process.env): string | undefined {
  const path = corednsPath(env);
  return isExecutable(path)
    ? undefined
    : `coredns ${COREDNS_VERSION} is not built (no executable ${path}; run scripts/build-peers.sh coredns)`;
}

/** Writes the lab's Corefile into `dir` and returns its path. The TTL is weft dns's default, so answers compare. */
export function writeLabCorefile(dir: string, dns: LabDns, kubeconfig: string): string {
  const path = join(dir, 'Corefile');
  writeFileSync(path, renderCorefile({ domain: dns.domain, kubeconfig, upstreams: dns.upstreams, ttl: 5 }));
  return path;
}
