/**
 * The path `weft trace` predicts from the model, beside the one the kernel reported (hops.ts):
 * which namespaces the probe should pass, where a NetworkPolicy should drop it (the same verdict
 * `weft reach` computes, evaluate.ts), and, through a Service, that the endpoint the kernel chose
 * is one the table may choose (`weft explain`'s candidates). A difference is printed, never
 * hidden: either the model or the kernel state is wrong, and both are weft's.
 *
 * The namespaces: the sender's (a pod's own, or its node's for a hostNetwork pod), the sender's
 * node, the receiver's node when it is another, the receiver's pod. A drop by an egress policy is
 * on the sender's node, by an ingress policy on the receiver's node (weft enforces both in the
 * node's forward path, src/core/policy/policy-table.ts).
 */

import { podRef, type PolicyCluster } from '../policy/evaluate.js';
import { reachVerdict, type ReachPod } from '../policy/reach.js';
import type { Hop, TraceEnd } from './hops.js';

export interface PredictInput {
  from: ReachPod;
  /** The pod the probe is for after any DNAT (the kernel's choice, for a Service); undefined: no pod of the lab. */
  to: ReachPod | undefined;
  port: number | undefined;
  protocol: 'TCP' | 'UDP' | 'ICMP';
  policy: PolicyCluster;
  /** Through a Service: the endpoints (address:port) the model allows, and the one the kernel chose. */
  service?: { name: string; candidates: readonly string[]; chosen: string | undefined };
}

export interface Prediction {
  hops: string[];
  end: TraceEnd;
  /** The policies expected to drop it, when one should ("ns/name"). */
  droppedBy: string[];
}

const podLabel = (p: ReachPod) => (p.hostNetwork ? `node ${p.node}` : `pod ${podRef(p)}`);

export function predictPath(i: PredictInput): Prediction {
  const hops: string[] = [];
  const add = (label: string) => {
    if (hops.at(-1) !== label) hops.push(label);
  };
  add(podLabel(i.from));
  if (i.from.node) add(`node ${i.from.node}`);
  if (!i.to) return { hops, end: { kind: 'lost', after: hops.at(-1) }, droppedBy: [] };
  const v = reachVerdict(i.policy, i.from, i.to, i.port ?? 0, i.protocol);
  if (v.kind === 'policy' && !v.verdict.egress.allowed)
    return {
      hops,
      end: { kind: 'dropped', at: hops.at(-1)!, rule: undefined },
      droppedBy: v.verdict.egress.isolatedBy,
    };
  if (i.to.node) add(`node ${i.to.node}`);
  if (v.kind === 'policy' && !v.verdict.allowed)
    return {
      hops,
      end: { kind: 'dropped', at: hops.at(-1)!, rule: undefined },
      droppedBy: v.verdict.ingress.isolatedBy,
    };
  if (v.kind === 'fixed' && !v.allowed) return { hops, end: { kind: 'lost', after: hops.at(-1) }, droppedBy: [] };
  add(podLabel(i.to));
  return { hops, end: { kind: 'delivered', at: hops.at(-1)! }, droppedBy: [] };
}

/** Where the kernel's path and the model's differ, in words; empty when they agree. */
export function comparePaths(
  real: { hops: readonly Hop[]; end: TraceEnd },
  predicted: Prediction,
  service?: PredictInput['service'],
): string[] {
  const out: string[] = [];
  const seen = real.hops.map((h) => h.label);
  if (seen.join(' → ') !== predicted.hops.join(' → '))
    out.push(`path: the kernel's ${seen.join(' → ') || '(nothing)'}, the model's ${predicted.hops.join(' → ')}`);
  const endText = (e: TraceEnd) =>
    e.kind === 'delivered'
      ? `delivered to ${e.at}`
      : e.kind === 'dropped'
        ? `dropped in ${e.at}`
        : `lost after ${e.after ?? 'the sender'}`;
  if (endText(real.end) !== endText(predicted.end))
    out.push(`end: the kernel's ${endText(real.end)}, the model's ${endText(predicted.end)}`);
  if (real.end.kind === 'dropped' && predicted.end.kind === 'dropped') {
    const comment = real.end.rule?.comment ?? '';
    if (predicted.droppedBy.length > 0 && !predicted.droppedBy.some((p) => comment.includes(p)))
      out.push(
        `policy: the kernel's drop rule says "${comment}", the model expects one of ${predicted.droppedBy.join(', ')}`,
      );
  }
  if (service && service.chosen !== undefined && !service.candidates.includes(service.chosen))
    out.push(
      `service ${service.name}: the kernel chose ${service.chosen}, not one of the model's endpoints (${service.candidates.join(', ') || 'none'})`,
    );
  return out;
}

/** What the lab knows beside the real trace (LabClient.trace's `model`). */
export interface TraceModel {
  from: ReachPod;
  pods: readonly ReachPod[];
  policy: PolicyCluster;
  service?: { name: string; candidates: readonly string[] };
}

/**
 * The prediction for a real trace: the receiving pod is the one whose address the packet was
 * last addressed to (the kernel's DNAT choice through a Service), and the comparison of the two.
 */
export function predictFor(
  real: { hops: readonly Hop[]; end: TraceEnd },
  model: TraceModel,
  probe: { daddr: string; port?: number; protocol: 'tcp' | 'udp' | 'icmp' },
): { predicted: Prediction; differences: string[] } {
  const dst = real.hops.at(-1)?.dst ?? `${probe.daddr}${probe.port !== undefined ? `:${probe.port}` : ''}`;
  const address = dst.split(':')[0]!;
  const port = dst.includes(':') ? Number(dst.split(':')[1]) : probe.port;
  const owners = model.pods.filter((p) => p.ip === address);
  const to = owners.find((p) => !p.hostNetwork) ?? owners[0];
  const service = model.service ? { ...model.service, chosen: dst } : undefined;
  const predicted = predictPath({
    from: model.from,
    to,
    port,
    protocol: probe.protocol === 'icmp' ? 'ICMP' : probe.protocol === 'udp' ? 'UDP' : 'TCP',
    policy: model.policy,
    ...(service ? { service } : {}),
  });
  return { predicted, differences: comparePaths(real, predicted, service) };
}
