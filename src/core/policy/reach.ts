/**
 * `weft reach`: the verdict matrix computed from the stored objects alone, in the same shape as
 * `weft probe`, for pods as the lab runs them. What evaluate.ts leaves to its callers:
 * - hostNetwork pods are the node's own traffic: no policy isolates them, and as peers they
 *   match only an ipBlock holding their node's address (see PolicyPod.selectable);
 * - traffic from a pod's own node (a hostNetwork pod on the same node) is always allowed;
 * - a pod that is not Running (no address) reaches nothing and is reached by nothing.
 */

import type { ContainerPort, Labels, Protocol } from '../k8s/objects.js';
import { evaluate, type PolicyCluster, type PolicyPod, type PolicyProtocol, type Verdict } from './evaluate.js';

export interface ReachPod {
  namespace: string;
  name: string;
  labels: Labels;
  ip?: string;
  node?: string;
  hostNetwork: boolean;
  ports: ContainerPort[];
}

export interface ReachResult {
  from: string;
  to: string;
  allowed: boolean;
}

export type ReachVerdict = { kind: 'policy'; verdict: Verdict } | { kind: 'fixed'; allowed: boolean; reason: string };

const ref = (p: ReachPod) => `${p.namespace}/${p.name}`;

function asPolicyPod(p: ReachPod): PolicyPod {
  return {
    namespace: p.namespace,
    name: p.name,
    labels: p.labels,
    ports: p.ports,
    selectable: !p.hostNetwork,
    ...(p.ip ? { ip: p.ip } : {}),
  };
}

export function reachVerdict(
  cluster: PolicyCluster,
  from: ReachPod,
  to: ReachPod,
  port: number,
  protocol: PolicyProtocol,
): ReachVerdict {
  if (!from.ip || !to.ip)
    return {
      kind: 'fixed',
      allowed: false,
      reason: `${!from.ip ? ref(from) : ref(to)} has no address (it is not Running)`,
    };
  if (from.hostNetwork && from.node !== undefined && from.node === to.node && ref(from) !== ref(to)) {
    return {
      kind: 'fixed',
      allowed: true,
      reason: `traffic from ${to.node}, the destination's own node, is always allowed`,
    };
  }
  return { kind: 'policy', verdict: evaluate(cluster, asPolicyPod(from), asPolicyPod(to), port, protocol) };
}

export function reachAllowed(v: ReachVerdict): boolean {
  return v.kind === 'fixed' ? v.allowed : v.verdict.allowed;
}

export function reachMatrix(
  cluster: PolicyCluster,
  pods: readonly ReachPod[],
  port: number,
  protocol: Protocol,
): ReachResult[] {
  const out: ReachResult[] = [];
  for (const from of pods)
    for (const to of pods)
      out.push({
        from: ref(from),
        to: ref(to),
        allowed: reachAllowed(reachVerdict(cluster, from, to, port, protocol)),
      });
  return out;
}
