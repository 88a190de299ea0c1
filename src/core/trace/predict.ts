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
 *
 * From outside to a load-balancer address the packet first crosses the segment's gateway, which
 * routes the address to one of the nodes that announce it (src/core/lab/lb-routes.ts; ECMP by the
 * flow's hash when several do): the model knows the set, the kernel picks one, so the entry is
 * the node the kernel sent it to when that node is in the set, and a difference when it is not.
 */

import { podRef, type PolicyCluster } from '../policy/evaluate.js';
import { reachVerdict, type ReachPod } from '../policy/reach.js';
import type { Hop, TraceEnd } from './hops.js';

export interface PredictInput {
  /** The sender; `label` names one that is no pod ("outside"). */
  from: ReachPod & { label?: string };
  /** Where the packet enters the cluster when it is sent to a node's address (a NodePort) or a load-balancer address. */
  entry?: string;
  /** Namespaces the packet crosses between the sender and the entry node (the gateway). */
  via?: readonly string[];
  /** The sender as the receiver's policy sees it, when a node masqueraded it (default: from). */
  seenFrom?: ReachPod;
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
  add(i.from.label ?? podLabel(i.from));
  if (i.from.node) add(`node ${i.from.node}`);
  for (const v of i.via ?? []) add(v);
  if (i.entry) add(`node ${i.entry}`);
  if (!i.to) return { hops, end: { kind: 'lost', after: hops.at(-1) }, droppedBy: [] };
  const v = reachVerdict(i.policy, i.seenFrom ?? i.from, i.to, i.port ?? 0, i.protocol);
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
  from: ReachPod & { label?: string };
  /** Traced to a node's address: that node (see PredictInput.entry). */
  entry?: string;
  /** The nodes' addresses (a masqueraded packet's source is one of them). */
  nodeAddresses?: Readonly<Record<string, string>>;
  pods: readonly ReachPod[];
  policy: PolicyCluster;
  service?: { name: string; candidates: readonly string[] };
  /**
   * Sent to a load-balancer address from outside: the namespace label of the gateway that routes
   * it, the address, and the nodes it routes it to (any one of them may be the entry).
   */
  loadBalancer?: { gateway: string; address: string; nodes: readonly string[] };
}

/** The entry node of a load-balancer trace: the node after the gateway in the kernel's path, when the model allows it. */
function loadBalancerEntry(real: readonly Hop[], lb: NonNullable<TraceModel['loadBalancer']>): string | undefined {
  const at = real.findIndex((h) => h.label === lb.gateway);
  const next = at >= 0 ? real[at + 1]?.label : undefined;
  const node = next?.startsWith('node ') ? next.slice('node '.length) : undefined;
  return node !== undefined && lb.nodes.includes(node) ? node : lb.nodes[0];
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
  // A packet that entered through a node (a NodePort) reaches the endpoint's policy with the
  // source it has there: the node's own address when it was masqueraded, else the client's.
  const seenSrc = real.hops.at(-1)?.src;
  const entry = model.loadBalancer ? loadBalancerEntry(real.hops, model.loadBalancer) : model.entry;
  const seenFrom =
    entry !== undefined && seenSrc !== undefined && seenSrc !== model.from.ip
      ? {
          ...model.from,
          ip: seenSrc,
          hostNetwork: true,
          ...(model.nodeAddresses?.[seenSrc] ? { node: model.nodeAddresses[seenSrc] } : {}),
        }
      : undefined;
  const predicted = predictPath({
    from: model.from,
    ...(seenFrom ? { seenFrom } : {}),
    ...(entry !== undefined ? { entry } : {}),
    ...(model.loadBalancer ? { via: [model.loadBalancer.gateway] } : {}),
    to,
    port,
    protocol: probe.protocol === 'icmp' ? 'ICMP' : probe.protocol === 'udp' ? 'UDP' : 'TCP',
    policy: model.policy,
    ...(service ? { service } : {}),
  });
  const differences = comparePaths(real, predicted, service);
  if (model.loadBalancer) differences.push(...compareGatewayRoute(real.hops, model.loadBalancer, model.nodeAddresses));
  return { predicted, differences };
}

/**
 * The gateway's route to the load-balancer address, as its kernel answered, against the nodes
 * the model says announce it (node order does not matter: ECMP has none).
 */
function compareGatewayRoute(
  real: readonly Hop[],
  lb: NonNullable<TraceModel['loadBalancer']>,
  nodeAddresses: TraceModel['nodeAddresses'],
): string[] {
  if (lb.nodes.length === 0) return [`load balancer ${lb.address}: the model has no node announcing it`];
  const route = real.find((h) => h.label === lb.gateway)?.route;
  if (!route || nodeAddresses === undefined) return [];
  const hops = route.nexthops ?? (route.gateway !== undefined ? [route.gateway] : []);
  const kernel = hops.map((ip) => nodeAddresses[ip] ?? ip).sort();
  const model = [...lb.nodes].sort();
  return kernel.join(',') === model.join(',')
    ? []
    : [
        `gateway route to ${lb.address}: the kernel's next hops are ${kernel.join(', ') || 'none'}, the model's ${model.join(', ')}`,
      ];
}
