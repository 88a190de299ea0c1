/**
 * `weft explain FROM service/NS/NAME --port P`: the journey of one new connection from a pod to a
 * Service, in words, computed from the objects alone (no packet is sent):
 *   the VIP and port → the map and rule of the client node's `ip weft-services` table → the
 *   candidate endpoints and how one is chosen → per candidate: its pod and node, the route or
 *   tunnel to it, and the NetworkPolicy verdict for the client's address (policy sees post-DNAT
 *   addresses: the endpoint's address and target port).
 *
 * The table path is not predicted by a second copy of the table's logic: the planned table
 * (servicesTable) is run through the nft tracer, once per value `numgen` can take, and the
 * chains, maps and DNAT targets it reports are the journey. The candidates the Service's rules
 * say should serve (usableEndpoints, narrowed by internalTrafficPolicy Local) are computed too,
 * and any disagreement with the tracer is reported rather than hidden.
 */

import type { EndpointSlice, Protocol, Service, ServicePort } from '../k8s/objects.js';
import type { PolicyCluster } from '../policy/evaluate.js';
import { explainVerdict } from '../policy/explain.js';
import { reachVerdict, type ReachPod } from '../policy/reach.js';
import {
  DEFAULT_BRIDGE,
  MASQUERADE_MARK,
  SERVICES_BALANCE,
  SERVICES_OBJECTS as O,
  SERVICES_TABLE,
  UDP_TUN_DEVICE,
  vxlanDeviceName,
} from '../names.js';
import type { ChainDef, Hook, TableDef } from '../nft/model.js';
import { tracePacket, type TracePacket, type TraceResult } from '../nft/trace.js';
import { formatIp, networkOf, tryParseCidr } from '../net/ip.js';
import {
  endpointsOf,
  serviceChainNames,
  servicesTable,
  usableEndpoints,
  type ServiceEndpoint,
} from './service-table.js';

export interface JourneyNode {
  name: string;
  /** The node's underlay address. */
  internalIP: string;
  /** Its pod subnet (its lease), when it has one. */
  podCIDR?: string;
}

export interface JourneyBackend {
  type: 'vxlan' | 'host-gw' | 'udp' | 'bgp';
  vni: number;
  /** VXLAN's UDP port. */
  port: number;
  directRouting: boolean;
  /** The nodes' underlay interface (host-gw routes and direct routes go out of it). */
  underlayDevice: string;
}

export interface JourneyInput {
  /** The client pod: Running (an address and a node). */
  client: ReachPod;
  service: Service & { spec: { clusterIP: string } };
  port: ServicePort;
  services: readonly Service[];
  slices: readonly EndpointSlice[];
  /** The cluster's pod network (the table masquerades sources outside it). */
  clusterCidr: string;
  nodes: readonly JourneyNode[];
  backend: JourneyBackend;
  /** Every pod (to name the pod behind an endpoint address). */
  pods: readonly ReachPod[];
  policy: PolicyCluster;
}

export type JourneyPath =
  | { kind: 'same-node'; node: string; text: string }
  | { kind: 'vxlan' | 'host-gw' | 'direct' | 'udp' | 'bgp'; node: string; route: string; text: string }
  | { kind: 'unknown'; text: string };

export interface JourneyPolicy {
  /** Undefined when the endpoint is not a pod of the lab (no policy of the lab is evaluated). */
  allowed?: boolean;
  /** The verdict in words, as `weft explain FROM TO` prints it. */
  text: string;
}

export interface JourneyCandidate {
  address: string;
  port: number;
  /** "ns/name" of the pod with this address, when the lab runs one. */
  pod?: string;
  node?: string;
  /** ready, or terminating (serving) when no endpoint is ready. */
  state: 'ready' | 'terminating';
  /** The endpoint's chain in the table and what it does. */
  chain: string;
  /** The values of `numgen random mod N` that lead to this endpoint. */
  numgen: number[];
  nat: string;
  /** The client is this endpoint: the table masquerades the connection so the reply returns. */
  hairpin: boolean;
  path: JourneyPath;
  policy: JourneyPolicy;
}

export interface TableStep {
  /** The netfilter hook the step runs at. */
  hook: Hook;
  chain: string;
  rule: number;
  /** The map the rule looked the packet up in, when it did. */
  map?: string;
  action: string;
}

export interface ServiceJourney {
  from: string;
  fromIP: string;
  node: string;
  service: string;
  clusterIP: string;
  port: number;
  protocol: Protocol;
  portName?: string;
  table: string;
  /** The netfilter hook the client's packet meets the table at (prerouting for pods). */
  hook: Hook;
  /** The lookup key, as nft writes it: "VIP . proto . port". */
  key: string;
  outcome: 'balanced' | 'rejected' | 'dropped';
  /** Why, in words (rejected, dropped). */
  reason?: string;
  /** The table's steps up to the choice of an endpoint (or up to the verdict). */
  steps: TableStep[];
  /** The chain that picks an endpoint (svc/... or local/...). */
  serviceChain?: string;
  /** The client is outside the pod network (the node itself): the table marks it for masquerade. */
  masqueraded?: boolean;
  choice?: {
    /** numgen random mod N over N endpoints, equal weight. */
    endpoints: number;
    affinity?: { timeoutSeconds: number };
    /** internalTrafficPolicy Local: only the client node's endpoints. */
    local: boolean;
  };
  candidates: JourneyCandidate[];
  /** Set when the tracer and the Service's rules disagree about the candidates (a bug to report). */
  disagreement?: string;
}

const PROTO: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

function chainOf(t: TableDef, name: string): ChainDef | undefined {
  return t.chains.find((c) => c.name === name);
}

/** The map a rule looks the packet up in (vmap @map), if any. */
function mapOf(t: TableDef, chain: string, rule: number): string | undefined {
  const r = chainOf(t, chain)?.rules[rule];
  for (const e of r?.exprs ?? []) if (e.kind === 'vmap' && 'set' in e.map) return e.map.set;
  return undefined;
}

function hasNumgen(t: TableDef, chain: string, rule: number): boolean {
  return (chainOf(t, chain)?.rules[rule]?.exprs ?? []).some((e) => e.kind === 'numgen');
}

function numgenMod(t: TableDef, chain: string): number | undefined {
  for (const r of chainOf(t, chain)?.rules ?? []) for (const e of r.exprs) if (e.kind === 'numgen') return e.mod;
  return undefined;
}

/** The rules the packet took (a chain's policy accept, which changes nothing, left out). */
function stepsOf(t: TableDef, hook: Hook, r: TraceResult): TableStep[] {
  return r.steps
    .filter((s) => s.table === SERVICES_TABLE && s.action !== undefined && s.action !== 'policy accept')
    .map((s) => {
      const map = s.rule >= 0 ? mapOf(t, s.chain, s.rule) : undefined;
      return { hook, chain: s.chain, rule: s.rule, ...(map ? { map } : {}), action: s.action! };
    });
}

function pathTo(input: JourneyInput, node: string | undefined): JourneyPath {
  return routeBetween(input, input.client.node!, node);
}

/**
 * How a packet from a pod on node `from` gets to a pod on `node`: the bridge, or the backend's
 * route or tunnel (also the Ingress journey's, src/core/ingress/journey.ts).
 */
export function routeBetween(
  input: Pick<JourneyInput, 'nodes' | 'backend' | 'clusterCidr'>,
  from: string,
  node: string | undefined,
): JourneyPath {
  if (node === undefined) return { kind: 'unknown', text: 'the endpoint names no node: the route is not known' };
  if (node === from)
    return { kind: 'same-node', node, text: `same node (${node}): pod to pod over the bridge ${DEFAULT_BRIDGE}` };
  const peer = input.nodes.find((n) => n.name === node);
  if (!peer) return { kind: 'unknown', text: `node ${node} is not a node of the lab` };
  const subnet = peer.podCIDR !== undefined ? tryParseCidr(peer.podCIDR) : undefined;
  if (!subnet || peer.podCIDR === undefined)
    return { kind: 'unknown', text: `node ${node} has no lease (no pod subnet): ${from} has no route to it` };
  const b = input.backend;
  if (b.type === 'bgp') {
    const route = `${peer.podCIDR} proto bird`;
    return {
      kind: 'bgp',
      node,
      route,
      text: `to ${node}: route ${peer.podCIDR} learnt over BGP (BIRD's, proto bird): plain IP over the underlay to ${peer.internalIP}, through the lab's router when ${node} is on another segment`,
    };
  }
  if (b.type === 'udp') {
    const route = `${input.clusterCidr} dev ${UDP_TUN_DEVICE}`;
    return {
      kind: 'udp',
      node,
      route,
      text: `to ${node}: route ${route} into the TUN device; the agent's forwarder sends the packet in a UDP datagram (port ${b.port}) to ${peer.internalIP}, whose forwarder writes it to its own ${UDP_TUN_DEVICE}`,
    };
  }
  if (b.type === 'host-gw' || b.directRouting) {
    const route = `${peer.podCIDR} via ${peer.internalIP} dev ${b.underlayDevice}`;
    return {
      kind: b.type === 'host-gw' ? 'host-gw' : 'direct',
      node,
      route,
      text: `to ${node}: ${b.type === 'host-gw' ? 'host-gw' : 'vxlan direct routing'} route ${route} (plain IP over the underlay to ${node}'s address)`,
    };
  }
  const vtep = formatIp(networkOf(subnet).address);
  const dev = vxlanDeviceName(b.vni);
  const route = `${peer.podCIDR} via ${vtep} dev ${dev} onlink`;
  return {
    kind: 'vxlan',
    node,
    route,
    text: `to ${node}: route ${route}, encapsulated in VXLAN (VNI ${b.vni}, UDP ${b.port}) to ${peer.internalIP}`,
  };
}

function policyFor(input: JourneyInput, pod: ReachPod | undefined, port: number): JourneyPolicy {
  return policyBetween(input.policy, input.client, pod, port, input.port.protocol);
}

/** The NetworkPolicy verdict for `client` connecting to `pod` on `port`, in words. */
export function policyBetween(
  policy: PolicyCluster,
  client: ReachPod,
  pod: ReachPod | undefined,
  port: number,
  protocol: Protocol,
): JourneyPolicy {
  if (!pod) return { text: 'the endpoint is not a pod of the lab: no NetworkPolicy of the lab is evaluated for it' };
  const from = `${client.namespace}/${client.name}`;
  const to = `${pod.namespace}/${pod.name}`;
  const v = reachVerdict(policy, client, pod, port, protocol);
  if (v.kind === 'fixed')
    return {
      allowed: v.allowed,
      text: `${from} -> ${to} on ${port}/${protocol}: ${v.allowed ? 'ALLOWED' : 'DENIED'}\n  ${v.reason}\n`,
    };
  return { allowed: v.verdict.allowed, text: explainVerdict(from, to, port, protocol, v.verdict) };
}

export function explainServiceJourney(input: JourneyInput): ServiceJourney {
  const { client, service, port } = input;
  if (client.ip === undefined || client.node === undefined)
    throw new Error(`FROM: pod ${client.namespace}/${client.name} is not running (no address or node)`);
  const proto = PROTO[port.protocol];
  const node = input.nodes.find((n) => n.name === client.node);
  const vip = service.spec.clusterIP;
  const table = servicesTable({
    node: client.node,
    clusterCidr: input.clusterCidr,
    services: input.services,
    slices: input.slices,
  });
  // A pod's packet meets the node's tables in prerouting (it arrives over the bridge); a
  // hostNetwork pod's packet is the node's own: output.
  const natHook: Hook = client.hostNetwork ? 'output' : 'prerouting';
  const filterHook: Hook = client.hostNetwork ? 'output' : 'forward';
  const packet = (numgen: number): TracePacket => ({
    family: 4,
    saddr: client.ip!,
    daddr: vip,
    protocol: proto,
    sport: 40000,
    dport: port.port,
    localAddresses: node ? [node.internalIP] : [],
    numgen,
  });
  const names = serviceChainNames(service, port);
  const head = {
    from: `${client.namespace}/${client.name}`,
    fromIP: client.ip,
    node: client.node,
    service: `${service.metadata.namespace}/${service.metadata.name}`,
    clusterIP: vip,
    port: port.port,
    protocol: port.protocol,
    ...(port.name ? { portName: port.name } : {}),
    table: `ip ${SERVICES_TABLE}`,
    hook: natHook,
    key: `${vip} . ${proto} . ${port.port}`,
  };

  const all = endpointsOf(service, port, input.slices);
  const usable = usableEndpoints(all);
  const local = service.spec.internalTrafficPolicy === 'Local';
  const expected = local ? usableEndpoints(all.filter((e) => e.nodeName === client.node)) : usable;

  const first = tracePacket([table], natHook, packet(0));
  if (first.nat.length === 0) {
    // No DNAT: the filter hook's endpoints check decides (reject, drop) or nothing does.
    const filtered = tracePacket([table], filterHook, packet(0));
    // The services chain's lookup missed (the tracer reports only what matched): say so.
    const missed: TableStep = {
      hook: natHook,
      chain: O.servicesChain,
      rule: 0,
      map: O.serviceIps,
      action: 'no element: nothing to balance to, the packet goes on unchanged',
    };
    const natSteps = stepsOf(table, natHook, first);
    const lookedUp = natSteps.some((x) => x.chain === O.servicesChain);
    const steps = [...natSteps, ...(lookedUp ? [] : [missed]), ...stepsOf(table, filterHook, filtered)];
    const outcome = filtered.verdict === 'reject' ? 'rejected' : 'dropped';
    const reason =
      filtered.verdict === 'reject'
        ? usable.length === 0
          ? `no endpoint serves ${head.service} port ${port.name ?? port.port}: the connection is refused at once (reject: TCP reset / ICMP port unreachable)`
          : 'the table refuses the connection (reject)'
        : filtered.verdict === 'drop'
          ? local
            ? `internalTrafficPolicy Local and no endpoint on ${client.node}: the packet is dropped (as kube-proxy does)`
            : 'the table drops the packet'
          : 'the table neither balances nor refuses this connection (no rule matched)';
    const disagreement =
      expected.length > 0
        ? `the Service has ${expected.length} usable endpoint(s) but the traced table did not DNAT the connection`
        : undefined;
    return { ...head, outcome, reason, steps, candidates: [], ...(disagreement ? { disagreement } : {}) };
  }

  const toService = stepsOf(table, natHook, first).find((s) => s.chain === O.servicesChain);
  const serviceChain = toService?.action.replace(/^(goto|jump) /, '');
  const mod = serviceChain !== undefined ? (numgenMod(table, serviceChain) ?? 1) : 1;
  const traces = Array.from({ length: mod }, (_, i) => (i === 0 ? first : tracePacket([table], natHook, packet(i))));
  const byChain = new Map<string, { chain: string; nat: string; numgen: number[] }>();
  traces.forEach((t, i) => {
    const dnat = t.steps.find((s) => s.action?.startsWith('dnat to '));
    if (!dnat) return;
    const seen = byChain.get(dnat.chain);
    if (seen) seen.numgen.push(i);
    else byChain.set(dnat.chain, { chain: dnat.chain, nat: dnat.action!, numgen: [i] });
  });
  // Up to the service chain; the choice among endpoints is the candidates' part.
  // (The DNAT happens in the endpoint's chain, or in a shared pick chain: see service-table.ts.)
  const steps = stepsOf(table, natHook, first).filter(
    (s) =>
      !s.chain.startsWith('ep/') &&
      !byChain.has(s.chain) &&
      !(s.chain === serviceChain && hasNumgen(table, s.chain, s.rule)),
  );
  const byEndpoint = new Map(all.map((e) => [`${e.ip}:${e.port}`, e]));
  const candidates: JourneyCandidate[] = [...byChain.values()].map(({ chain, nat, numgen }) => {
    const m = /^dnat to (\S+):(\d+)$/.exec(nat);
    const e: ServiceEndpoint | undefined = m ? byEndpoint.get(`${m[1]}:${m[2]}`) : undefined;
    const address = e?.ip ?? m?.[1] ?? '?';
    const epPort = e?.port ?? Number(m?.[2]);
    const pod = input.pods.find((p) => p.ip === address && !p.hostNetwork);
    const nodeName = e?.nodeName ?? pod?.node;
    return {
      address,
      port: epPort,
      ...(pod ? { pod: `${pod.namespace}/${pod.name}` } : {}),
      ...(nodeName ? { node: nodeName } : {}),
      state: e?.ready === false ? 'terminating' : 'ready',
      chain,
      numgen,
      nat,
      hairpin: address === client.ip,
      path: pathTo(input, nodeName),
      policy: policyFor(input, pod, epPort),
    };
  });
  const traced = candidates.map((c) => `${c.address}:${c.port}`).sort();
  const want = expected.map((e) => `${e.ip}:${e.port}`).sort();
  const disagreement =
    traced.join(',') !== want.join(',')
      ? `the traced table picks ${traced.join(', ') || 'nothing'}, the Service's endpoints say ${want.join(', ') || 'none'}`
      : undefined;
  const affinity =
    service.spec.sessionAffinity === 'ClientIP'
      ? { timeoutSeconds: service.spec.sessionAffinityConfig?.clientIP.timeoutSeconds ?? 10800 }
      : undefined;
  const masqueraded = ((first.packet.mark ?? 0) & MASQUERADE_MARK) !== 0;
  return {
    ...head,
    outcome: 'balanced',
    steps,
    ...(serviceChain ? { serviceChain } : {}),
    ...(masqueraded ? { masqueraded } : {}),
    choice: {
      endpoints: mod,
      ...(affinity ? { affinity } : {}),
      local: serviceChain === names.local || serviceChain === SERVICES_BALANCE.local(mod),
    },
    candidates,
    ...(disagreement ? { disagreement } : {}),
  };
}

const indent = (text: string, by: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');

/** The journey in words. */
export function renderServiceJourney(j: ServiceJourney): string {
  const lines: string[] = [];
  const portLabel = `${j.port}/${j.protocol}${j.portName ? ` (port "${j.portName}")` : ''}`;
  lines.push(`${j.from} -> service ${j.service} ${j.clusterIP}:${portLabel}: ${j.outcome.toUpperCase()}`);
  lines.push(
    `  1. ${j.from} (${j.fromIP}) on node ${j.node} opens a connection to the ClusterIP ${j.clusterIP}:${j.port}/${j.protocol}`,
  );
  lines.push(`  2. on ${j.node}, table ${j.table}:`);
  for (const s of j.steps)
    lines.push(
      `       ${s.hook}: chain ${s.chain}${s.rule >= 0 ? ` rule ${s.rule}` : ''}${s.map ? `: map @${s.map} [${j.key}]` : ''} -> ${s.action}`,
    );
  if (j.outcome !== 'balanced') {
    lines.push(`  3. ${j.reason ?? j.outcome}`);
  } else {
    const c = j.choice!;
    const kind = j.candidates.some((x) => x.state === 'terminating')
      ? 'terminating but serving endpoints (none is ready)'
      : 'ready endpoints';
    lines.push(
      `  3. chain ${j.serviceChain}: numgen random mod ${c.endpoints} picks one of ${c.endpoints} ${kind}${c.local ? ` on ${j.node} (internalTrafficPolicy Local)` : ''}, equal weight (1/${c.endpoints} each)`,
    );
    if (j.masqueraded)
      lines.push(
        `     ${j.fromIP} is outside the pod network (the node itself): the connection is marked and masqueraded to ${j.node}'s address on the way out`,
      );
    if (c.affinity)
      lines.push(
        `     sessionAffinity ClientIP: a client that used an endpoint within the last ${c.affinity.timeoutSeconds} s goes back to it (its address is in that endpoint's set aff/...); a new client is chosen at random`,
      );
    lines.push(`  4. candidates (${j.candidates.length}):`);
    for (const x of j.candidates) {
      lines.push(
        `     - numgen ${x.numgen.join(', ')}: ${x.address}:${x.port}${x.pod ? ` pod ${x.pod}` : ''}${x.node ? ` on node ${x.node}` : ''} (${x.state})`,
      );
      lines.push(
        `       chain ${x.chain}: ${x.nat}${x.hairpin ? ' (hairpin: masqueraded so the reply comes back)' : ''}`,
      );
      lines.push(`       path: ${x.path.text}`);
      lines.push(
        `       policy: ${x.policy.allowed === undefined ? 'not evaluated' : x.policy.allowed ? 'ALLOWED' : 'DENIED'}`,
      );
      lines.push(indent(x.policy.text, '         '));
    }
  }
  if (j.disagreement) lines.push(`  WARNING: ${j.disagreement}`);
  return lines.join('\n') + '\n';
}
