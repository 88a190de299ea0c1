/**
 * The Services table of one node (kube-proxy's nftables mode, for weft): from the cluster's
 * Services and EndpointSlices, the whole `ip weft-services` table as one TableDef, synced by the
 * agent through the nftables layer. No packet ever passes through a weft process.
 *
 *   nat-prerouting / nat-output (dstnat)   jump services
 *   services
 *     ip daddr . meta l4proto . th dport vmap @service-ips          VIP or LB address → its chain
 *     fib daddr type local ip daddr != 127.0.0.0/8
 *       meta l4proto . th dport vmap @service-nodeports             a node port on any node address
 *
 * Most Services (no session affinity, externalTrafficPolicy Cluster) own no chain: their keys go
 * to chains shared by every Service with the same number of endpoints, and their endpoints are
 * elements of maps indexed by position, so an endpoint change is element edits only:
 *   cluster-N                   ClusterIP traffic over N endpoints
 *     ip saddr != CLUSTER jump mark-for-masquerade                 the node itself, outside clients
 *     numgen random mod N vmap { 0 : goto pick-0, ... }             one endpoint, equal weight
 *   local-N                     the same over this node's N endpoints (internalTrafficPolicy Local)
 *   external-N / nodeport-N     LB and external-IP / node-port traffic: jump mark-for-masquerade,
 *                               then numgen over pick-i / nodeport-pick-i
 *   pick-I
 *     ip saddr . ip daddr . meta l4proto . th dport @hairpin-I jump mark-for-masquerade
 *                               hairpin: endpoint I of this ClusterIP key is the client itself
 *     dnat ip to ip daddr . meta l4proto . th dport map @endpoints-I
 *   nodeport-pick-I             dnat ip to meta l4proto . th dport map @nodeport-endpoints-I
 * (Why: nft 1.0.6 lists every chain of the netns before any transaction that adds an element or
 * a rule, about 3.5 ms per 1,000 chains; kube-proxy's layout, a chain per endpoint, made one
 * endpoint change at 10,000 Services x 10 endpoints cost about 450 ms in nft alone. One lookup
 * still picks the chain and one the endpoint, as kube-proxy's per-Service vmap does.)
 *
 * Services with session affinity or externalTrafficPolicy Local keep chains of their own, as
 * kube-proxy's nftables mode has them (an affinity set per endpoint needs a chain per endpoint):
 *   svc/NS/NAME/PROTO/PORT      the Service port over its endpoints (Cluster traffic policy)
 *     ip daddr VIP ip saddr != CLUSTER jump mark-for-masquerade    the node itself, outside clients
 *     ip saddr @aff/... goto ep/...                                  sessionAffinity ClientIP
 *     numgen random mod N vmap { 0 : goto ep/..., ... }             one endpoint, equal weight
 *   local/NS/NAME/PROTO/PORT    the same over this node's endpoints (a Local traffic policy)
 *   ext/NS/NAME/PROTO/PORT      node port, LB and external-IP traffic: Cluster marks for masquerade
 *                               then goes to svc/; Local keeps the client's address and goes to local/
 *   ep/NS/NAME/PROTO/PORT/IP/TPORT
 *     ip saddr IP jump mark-for-masquerade                          hairpin: a pod to itself
 *     update @aff/... { ip saddr }                                   (with affinity)
 *     meta l4proto P dnat to IP:TPORT
 *   filter-prerouting-pre-dnat / filter-output-pre-dnat (dstnat - 10)
 *     ct state new jump firewall-check
 *   firewall-check
 *     ip daddr . meta l4proto . th dport vmap @firewall-ips         LB address with source ranges
 *   fw/NS/NAME
 *     ip saddr != { RANGES } drop                                    loadBalancerSourceRanges
 *   filter-input / filter-forward / filter-output (filter - 10)
 *     ct state new jump endpoints-check                              no endpoint: reject at once
 *     ct state new ip daddr @cluster-ips reject                      a port the Service lacks (not input)
 *   nat-postrouting (srcnat)    jump masquerading: masquerade what carries the mark, once
 *
 * External IPs (spec.externalIPs) are in @service-ips beside LB addresses and go the same way;
 * kube-proxy does not check that they are this node's: whoever routes them here decides. The
 * firewall is checked before DNAT because DNAT replaces the LB address it keys on; it guards LB
 * addresses only, not node ports or external IPs, as kube-proxy's does.
 *
 * Endpoints: a Service port's endpoints are those of its slices (label kubernetes.io/service-name)
 * whose port has the same name and protocol; ready ones serve, and when none is ready the
 * serving-but-terminating ones do (kube-proxy's rule). A Local policy with endpoints elsewhere
 * but none here drops (as kube-proxy does); no endpoint at all is refused.
 *
 * IPv4 only, as the lab is. Names of chains and sets are readable on purpose (`nft list table ip
 * weft-services` explains itself); they are unique because namespaces and names cannot hold "/".
 */

import type { EndpointSlice, Protocol, Service, ServicePort } from '../k8s/objects.js';
import { SERVICE_NAME_LABEL } from '../k8s/objects.js';
import { MASQUERADE_MARK, SERVICES_BALANCE as B, SERVICES_OBJECTS as O, SERVICES_TABLE } from '../names.js';
import { baseChainOf } from '../nft/layout.js';
import {
  goto,
  inSet,
  jump,
  match,
  prefix,
  ret,
  rule,
  vmap,
  type ChainDef,
  type Element,
  type Part,
  type RuleBody,
  type SetDef,
  type TableDef,
} from '../nft/model.js';
import { cidrContains, parseCidr, formatIp, networkOf } from '../net/ip.js';
import { countUses, sharedBalancing, type Balanced, type SharedUses } from './shared-balancing.js';

export interface ServicesInput {
  /** This node's name (endpoints' nodeName), for Local traffic policies. */
  node: string;
  /** The cluster's pod network: sources outside it reaching a ClusterIP are masqueraded. */
  clusterCidr: string;
  services: readonly Service[];
  slices: readonly EndpointSlice[];
}

/** One endpoint of a Service port, as the data plane uses it. */
export interface ServiceEndpoint {
  ip: string;
  port: number;
  nodeName?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

const PROTO: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** Does a Service get data-plane rules (a VIP to balance)? Headless and ExternalName ones do not. */
export function hasVip(s: Service): s is Service & { spec: { clusterIP: string } } {
  return s.spec.type !== 'ExternalName' && s.spec.clusterIP !== undefined && s.spec.clusterIP !== 'None';
}

/** The endpoints of one Service port from its slices, deduplicated, in address order. */
export function endpointsOf(service: Service, port: ServicePort, slices: readonly EndpointSlice[]): ServiceEndpoint[] {
  const out = new Map<string, ServiceEndpoint>();
  const name = port.name ?? '';
  for (const slice of slices) {
    if (slice.metadata.namespace !== service.metadata.namespace) continue;
    if (slice.metadata.labels[SERVICE_NAME_LABEL] !== service.metadata.name) continue;
    if (slice.addressType !== 'IPv4') continue;
    const sp = slice.ports.find((p) => (p.name ?? '') === name && p.protocol === port.protocol);
    if (!sp || sp.port === undefined) continue;
    for (const e of slice.endpoints) {
      const ready = e.conditions?.ready !== false;
      const serving = e.conditions?.serving ?? ready;
      const terminating = e.conditions?.terminating === true;
      for (const ip of e.addresses) {
        const key = `${ip}:${sp.port}`;
        const prior = out.get(key);
        const nodeName = e.nodeName ?? prior?.nodeName;
        // An address in two slices (while a pod moves between them): the better conditions win.
        out.set(key, {
          ip,
          port: sp.port,
          ...(nodeName !== undefined ? { nodeName } : {}),
          ready: ready || (prior?.ready ?? false),
          serving: serving || (prior?.serving ?? false),
          terminating: terminating && (prior?.terminating ?? true),
        });
      }
    }
  }
  return [...out.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : compareIpText(a.ip, b.ip)));
}

function compareIpText(a: string, b: string): number {
  const n = (t: string) => t.split('.').reduce((acc, x) => acc * 256 + Number(x), 0);
  return n(a) - n(b);
}

/** The endpoints that serve: the ready ones, or when none is, the serving terminating ones. */
export function usableEndpoints(eps: readonly ServiceEndpoint[]): ServiceEndpoint[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length > 0 ? ready : eps.filter((e) => e.serving && e.terminating);
}

const chainId = (s: Service, p: ServicePort) =>
  `${s.metadata.namespace}/${s.metadata.name}/${PROTO[p.protocol]}/${p.port}`;

/** The chain and set names of one Service port (for the tracer, `weft explain` and tests). */
export function serviceChainNames(s: Service, p: ServicePort) {
  const id = chainId(s, p);
  return {
    cluster: `svc/${id}`,
    local: `local/${id}`,
    external: `ext/${id}`,
    endpoint: (e: { ip: string; port: number }) => `ep/${id}/${e.ip}/${e.port}`,
    affinity: (e: { ip: string; port: number }) => `aff/${id}/${e.ip}/${e.port}`,
    firewall: `fw/${s.metadata.namespace}/${s.metadata.name}`,
  };
}

const reject: Element['value'] = { verdict: 'goto', chain: O.rejectChain };
const dropVerdict: Element['value'] = { verdict: 'drop' };

/** What one Service adds to the table: its chains, sets and map elements. */
interface ServicePart {
  /** Chains of this Service alone (affinity, externalTrafficPolicy Local, firewall). */
  chains: ChainDef[];
  epChains: ChainDef[];
  sets: SetDef[];
  serviceIps: Element[];
  nodePorts: Element[];
  noEndpointIps: Element[];
  noEndpointNodePorts: Element[];
  firewallIps: Element[];
  clusterIp: Element;
  /** Keys balanced by the shared chains, with their endpoints in index order. */
  balanced: Balanced[];
  /** It has keys besides its ClusterIP's (LB addresses, external IPs), which other Services may claim too. */
  external: boolean;
  /** `VIP PORT ENDPOINT` of each usable endpoint of its UDP ports (the agent flushes conntrack when one goes). */
  udp: string[];
}

type VipService = Service & { spec: { clusterIP: string } };

/** The table's part for one Service with a VIP, from its slices (those of other Services are ignored). */
function planService(s: VipService, slices: readonly EndpointSlice[], node: string, clusterPart: Part): ServicePart {
  const chains: ChainDef[] = [];
  const sets: SetDef[] = [];
  const serviceIps: Element[] = [];
  const nodePorts: Element[] = [];
  const noEndpointIps: Element[] = [];
  const noEndpointNodePorts: Element[] = [];
  const firewallIps: Element[] = [];
  const epChains = new Map<string, ChainDef>();
  const vip = s.spec.clusterIP;
  const affinity =
    s.spec.sessionAffinity === 'ClientIP' ? s.spec.sessionAffinityConfig?.clientIP.timeoutSeconds : undefined;
  const ingress = s.spec.type === 'LoadBalancer' ? (s.status?.loadBalancer.ingress ?? []).map((i) => i.ip) : [];
  const externalIps = [...new Set(s.spec.externalIPs ?? [])].filter((ip) => !ingress.includes(ip));
  // loadBalancerSourceRanges guard the load-balancer addresses only (not node ports or external IPs), as kube-proxy does.
  const sourceRanges = s.spec.type === 'LoadBalancer' ? sourceRangesOf(s) : [];
  const firewalled = sourceRanges.length > 0 ? ingress : [];
  // Session affinity and externalTrafficPolicy Local need rules of their own (kube-proxy's
  // per-endpoint chains); every other Service is balanced by the shared chains, so that its
  // endpoints are map elements only.
  const shared = affinity === undefined && s.spec.externalTrafficPolicy !== 'Local';
  const balanced: Balanced[] = [];
  const udp: string[] = [];
  const balanceShared = (
    key: readonly Part[],
    kind: Balanced['kind'],
    eps: readonly ServiceEndpoint[],
  ): Element['value'] => {
    balanced.push({
      key,
      kind,
      elements: eps.map((e) => ({ key, value: [e.ip, e.port] })),
      // External and node-port traffic is masqueraded anyway.
      hairpin: kind === 'cluster' || kind === 'local' ? eps.map((e) => ({ key: [e.ip, ...key] })) : [],
    });
    return goto(B[kind](eps.length)).verdict;
  };
  for (const p of s.spec.ports) {
    const names = serviceChainNames(s, p);
    const proto = PROTO[p.protocol];
    const all = endpointsOf(s, p, slices);
    const usable = usableEndpoints(all);
    const local = usableEndpoints(all.filter((e) => e.nodeName === node));
    const comment = `${s.metadata.namespace}/${s.metadata.name}:${p.name ?? p.port}`;
    if (p.protocol === 'UDP') for (const e of usable) udp.push(`${vip} ${p.port} ${e.ip}`);

    const epChain = (e: ServiceEndpoint): string => {
      const name = names.endpoint(e);
      if (!epChains.has(name)) {
        const rules: RuleBody[] = [
          rule([match('ip saddr', e.ip), jump(O.markChain)], 'hairpin: the endpoint reaching itself'),
        ];
        if (affinity !== undefined) {
          sets.push({
            name: names.affinity(e),
            key: ['ipv4_addr'],
            flags: ['dynamic', 'timeout'],
            timeout: affinity,
            comment: `clients of ${e.ip}:${e.port} for ${comment}`,
            elements: [],
          });
          rules.push(rule([{ kind: 'update', set: names.affinity(e), key: ['ip saddr'] }]));
        }
        rules.push(rule([match('meta l4proto', proto), { kind: 'dnat', to: { addr: e.ip, port: e.port } }]));
        epChains.set(name, { name, comment: `${comment} → ${e.ip}:${e.port}`, rules });
      }
      return name;
    };
    const balance = (eps: readonly ServiceEndpoint[]): RuleBody[] => {
      const rules: RuleBody[] = [];
      if (affinity !== undefined)
        for (const e of eps) rules.push(rule([inSet('ip saddr', names.affinity(e)), goto(epChain(e))]));
      rules.push(
        rule(
          [
            {
              kind: 'numgen',
              mod: eps.length,
              map: eps.map((e, i) => ({ key: [i], value: { verdict: 'goto', chain: epChain(e) } })),
            },
          ],
          `${eps.length} endpoints`,
        ),
      );
      return rules;
    };

    if (usable.length > 0 && !shared) {
      chains.push({
        name: names.cluster,
        comment,
        rules: [
          rule(
            [match('ip daddr', vip), match('ip saddr', clusterPart, '!='), jump(O.markChain)],
            'from outside the pod network: masquerade',
          ),
          ...balance(usable),
        ],
      });
    }
    if (local.length > 0 && !shared)
      chains.push({ name: names.local, comment: `${comment} (this node's endpoints)`, rules: balance(local) });

    // ClusterIP traffic.
    const internalLocal = s.spec.internalTrafficPolicy === 'Local';
    const vipKey = [vip, proto, p.port];
    if (usable.length === 0) noEndpointIps.push({ key: vipKey, value: reject, comment });
    else if (internalLocal && local.length === 0)
      noEndpointIps.push({ key: vipKey, value: dropVerdict, comment: `${comment}: no local endpoint` });
    else if (shared)
      serviceIps.push({
        key: vipKey,
        value: internalLocal ? balanceShared(vipKey, 'local', local) : balanceShared(vipKey, 'cluster', usable),
        comment,
      });
    else serviceIps.push({ key: vipKey, value: goto(internalLocal ? names.local : names.cluster).verdict, comment });

    // Node port, load-balancer and external-IP traffic.
    const external = s.spec.type === 'NodePort' || s.spec.type === 'LoadBalancer';
    const externalKeys: Array<{ map: Element[]; missing: Element[]; key: Element['key']; kind: Balanced['kind'] }> = [];
    if (external && p.nodePort !== undefined)
      externalKeys.push({ map: nodePorts, missing: noEndpointNodePorts, key: [proto, p.nodePort], kind: 'nodePort' });
    // An address . port another Service also claims is settled when the parts are put together (assemble).
    for (const ip of [...ingress, ...externalIps])
      externalKeys.push({ map: serviceIps, missing: noEndpointIps, key: [ip, proto, p.port], kind: 'external' });
    for (const ip of firewalled)
      firewallIps.push({ key: [ip, proto, p.port], value: goto(names.firewall).verdict, comment });
    if (externalKeys.length === 0) continue;
    if (usable.length === 0) {
      for (const k of externalKeys) k.missing.push({ key: k.key, value: reject, comment });
      continue;
    }
    if (shared) {
      for (const k of externalKeys) k.map.push({ key: k.key, value: balanceShared(k.key, k.kind, usable), comment });
      continue;
    }
    const externalLocal = s.spec.externalTrafficPolicy === 'Local';
    const extRules: RuleBody[] = externalLocal
      ? [
          rule([match('ip saddr', clusterPart), goto(names.cluster)], 'pods get the cluster-wide endpoints'),
          rule([match('fib saddr type', 'local'), jump(O.markChain)], 'the node itself: masquerade'),
          rule([match('fib saddr type', 'local'), goto(names.cluster)]),
          rule(
            [local.length > 0 ? goto(names.local) : { kind: 'verdict', verdict: { verdict: 'drop' } }],
            local.length > 0 ? 'outside clients keep their address' : 'no endpoint on this node: drop',
          ),
        ]
      : [rule([jump(O.markChain)], 'outside clients: masquerade'), rule([goto(names.cluster)])];
    chains.push({
      name: names.external,
      comment: `${comment} (node port, load balancer, external IPs)`,
      rules: extRules,
    });
    for (const k of externalKeys) k.map.push({ key: k.key, value: goto(names.external).verdict, comment });
  }
  if (firewalled.length > 0) chains.push(firewallChain(s, sourceRanges));
  return {
    chains,
    epChains: [...epChains.values()],
    sets,
    serviceIps,
    nodePorts,
    noEndpointIps,
    noEndpointNodePorts,
    firewallIps,
    clusterIp: { key: [s.spec.clusterIP] },
    balanced,
    external: [...serviceIps, ...noEndpointIps].some((e) => e.key[0] !== vip),
    udp,
  };
}

/** The whole table for one node. */
export function servicesTable(input: ServicesInput): TableDef {
  return new ServicesPlanner().plan(input);
}

/**
 * servicesTable with memory, and the incremental planner the agent's Services controller uses.
 *
 * - plan / planAll: every Service. A Service whose object and slices are the same objects as at
 *   the last plan (the agent's cluster cache hands out its own, unchanged objects) keeps the part
 *   planned then, chains and elements included, so the element-diff sync (../nft/sync.ts) sees
 *   them unchanged by identity. Still a pass over every Service, and the whole table's element
 *   lists are put together again (about 220,000 at 10,000 Services x 10 endpoints).
 * - planChanged: only the Services named as changed. The result is two small tables, before and
 *   after: the changed Services' old and new chains, sets and elements, and the shared objects
 *   (fixed chains and maps, `kind-N` chains, pick chains, endpoint maps) as the whole table has
 *   them on each side. planSync(after, before) is then exactly the move of the whole table, in
 *   time proportional to the change. A change that touches a key other Services may claim (LB
 *   addresses, external IPs) or a ClusterIP two Services share falls back to the whole table on
 *   both sides (the claims are settled over every Service), which planSync diffs as before.
 *   A fast-check property (service-table.test.ts) holds the two ways to the same kernel table.
 */
export class ServicesPlanner {
  private byId = new Map<string, Planned>();
  /** The planned Services' ids in name order, kept while none is added or removed. */
  private order: string[] | undefined;
  private context = '';
  private clusterPart: Part | undefined;
  /** Shared chains in use (service-table's SharedUses), ClusterIPs, claimable keys and UDP endpoints, counted. */
  private uses = new Map<string, { kind: Balanced['kind']; n: number; count: number }>();
  private clusterIpUse = new Map<string, number>();
  private claimKeys = new Map<string, number>();
  private udpUse = new Map<string, number>();
  /** Slice (namespace/name) → the Service id it was planned with. */
  private sliceOwner = new Map<string, string>();
  private gone: string[] = [];

  /** The whole table for every Service of the input (see the class comment). */
  plan(input: ServicesInput): TableDef {
    return this.planAll(input).desired;
  }

  /**
   * Plans every Service again (the first sync, a fresh list): the whole table, and the whole
   * table of the previous plan (undefined when there was none, or it was for another node or
   * network).
   */
  planAll(input: ServicesInput): ServicesPlan {
    const context = `${input.node} ${input.clusterCidr}`;
    const fresh = context !== this.context;
    const before = fresh || this.byId.size === 0 ? undefined : this.table();
    const prior = fresh ? new Map<string, Planned>() : this.byId;
    const udpBefore = fresh ? new Map<string, number>() : this.udpUse;
    this.reset(input);
    const clusterPart = this.clusterPart as Part;
    const bySvc = slicesByNamespace(input.slices);
    for (const s of input.services) {
      if (!hasVip(s)) continue;
      const id = chainIdOf(s);
      const slices = bySvc.get(s.metadata.namespace)?.get(s.metadata.name) ?? [];
      const p = planOrKeep(prior.get(id), s, slices, input.node, clusterPart);
      if (this.byId.has(id)) continue;
      this.byId.set(id, p);
      this.account(p, 1);
    }
    this.gone = [...udpBefore.keys()].filter((u) => !this.udpUse.has(u));
    return { desired: this.table(), before, partial: false };
  }

  /**
   * Plans only the Services in `changed` (by id `namespace/name`: the Service object now, or
   * undefined when it is gone, and its slices now). planAll must have run for this node and
   * network; otherwise this is an error (the caller plans everything instead).
   */
  planChanged(
    input: Pick<ServicesInput, 'node' | 'clusterCidr'>,
    changed: ReadonlyMap<string, { service: Service | undefined; slices: readonly EndpointSlice[] }>,
  ): ServicesPlan {
    if (`${input.node} ${input.clusterCidr}` !== this.context || this.clusterPart === undefined)
      throw new Error(
        `services plan: nothing planned for ${input.node} ${input.clusterCidr} yet: plan everything first`,
      );
    const clusterPart = this.clusterPart;
    const olds: Planned[] = [];
    const news: Planned[] = [];
    const next = new Map<string, Planned | undefined>();
    for (const [id, c] of changed) {
      const old = this.byId.get(id);
      const now =
        c.service !== undefined && hasVip(c.service) && chainIdOf(c.service) === id
          ? planOrKeep(old, c.service, c.slices, input.node, clusterPart)
          : undefined;
      if (old === now) continue;
      if (old) olds.push(old);
      if (now) news.push(now);
      next.set(id, now);
    }
    if (next.size === 0) {
      this.gone = [];
      return { desired: emptySide(), before: emptySide(), partial: true };
    }
    const whole = this.needsWhole(olds, news);
    const before = whole ? this.table() : undefined;
    const usesBefore = whole ? undefined : copyUses(this.uses);
    const udpCandidates: string[] = [];
    for (const p of olds) {
      this.account(p, -1);
      udpCandidates.push(...p.part.udp);
    }
    for (const p of news) this.account(p, 1);
    for (const [id, p] of next) {
      const old = this.byId.get(id);
      if (p) {
        if (!old) this.order = undefined;
        this.byId.set(id, p);
      } else if (old) {
        this.byId.delete(id);
        this.order = undefined;
      }
    }
    this.gone = [...new Set(udpCandidates)].filter((u) => !this.udpUse.has(u));
    if (before) return { desired: this.table(), before, partial: false };
    return {
      desired: assemble(
        sortById(news).map((p) => p.part),
        clusterPart,
        this.uses,
      ),
      before: assemble(
        sortById(olds).map((p) => p.part),
        clusterPart,
        usesBefore,
      ),
      partial: true,
    };
  }

  /** The whole table of the last plan. */
  table(): TableDef {
    if (!this.clusterPart) throw new Error('services plan: nothing planned yet');
    this.order ??= sortById([...this.byId.values()]).map((p) => p.id);
    return assemble(
      this.order.map((id) => (this.byId.get(id) as Planned).part),
      this.clusterPart,
    );
  }

  /** The Service (id `namespace/name`) a slice was planned with, if any. */
  ownerOfSlice(namespace: string, name: string): string | undefined {
    return this.sliceOwner.get(`${namespace}/${name}`);
  }

  /** `VIP PORT ENDPOINT` of every usable UDP endpoint in the last plan. */
  udpEndpoints(): Set<string> {
    return new Set(this.udpUse.keys());
  }

  /** `VIP PORT ENDPOINT` of the UDP endpoints the last plan no longer has (their conntrack entries go). */
  udpEndpointsGone(): readonly string[] {
    return this.gone;
  }

  private reset(input: ServicesInput): void {
    const cluster = networkOf(parseCidr(input.clusterCidr));
    this.clusterPart = prefix(formatIp(cluster.address), cluster.prefix);
    this.context = `${input.node} ${input.clusterCidr}`;
    this.byId = new Map();
    this.order = undefined;
    this.uses = new Map();
    this.clusterIpUse = new Map();
    this.claimKeys = new Map();
    this.udpUse = new Map();
    this.sliceOwner = new Map();
  }

  /** Counts (sign 1) or uncounts (-1) what a planned Service uses of the shared state. */
  private account(p: Planned, sign: 1 | -1): void {
    const part = p.part;
    countUses(this.uses, part.balanced, sign);
    bump(this.clusterIpUse, String(part.clusterIp.key[0]), sign);
    for (const u of part.udp) bump(this.udpUse, u, sign);
    if (part.external)
      for (const list of [part.serviceIps, part.noEndpointIps])
        for (const e of list) if (e.key[0] !== part.clusterIp.key[0]) bump(this.claimKeys, e.key.join(' '), sign);
    for (const sl of p.slices) {
      const k = sliceKeyOf(sl);
      if (sign === 1) this.sliceOwner.set(k, p.id);
      else if (this.sliceOwner.get(k) === p.id) this.sliceOwner.delete(k);
    }
  }

  /** Whether the change must be planned over the whole table (claims, a shared ClusterIP). */
  private needsWhole(olds: readonly Planned[], news: readonly Planned[]): boolean {
    const delta = new Map<string, number>();
    for (const p of olds) bump(delta, String(p.part.clusterIp.key[0]), -1);
    for (const p of news) bump(delta, String(p.part.clusterIp.key[0]), 1);
    for (const p of [...olds, ...news]) {
      if (p.part.external) return true;
      const ip = String(p.part.clusterIp.key[0]);
      const was = this.clusterIpUse.get(ip) ?? 0;
      if (was > 1 || was + (delta.get(ip) ?? 0) > 1) return true;
      if (this.claimKeys.size > 0)
        for (const list of [p.part.serviceIps, p.part.noEndpointIps])
          for (const e of list) if (this.claimKeys.has(e.key.join(' '))) return true;
    }
    return false;
  }
}

/**
 * One plan: planSync(desired, before) moves the kernel's table from the last plan to this one.
 * `partial`: both are the small tables of an incremental change (only the changed objects).
 */
export interface ServicesPlan {
  desired: TableDef;
  before: TableDef | undefined;
  partial: boolean;
}

interface Planned {
  id: string;
  service: Service;
  slices: readonly EndpointSlice[];
  part: ServicePart;
}

function planOrKeep(
  prior: Planned | undefined,
  s: VipService,
  slices: readonly EndpointSlice[],
  node: string,
  clusterPart: Part,
): Planned {
  const same =
    prior !== undefined &&
    prior.service === s &&
    prior.slices.length === slices.length &&
    prior.slices.every((x, i) => x === slices[i]);
  return same ? prior : { id: chainIdOf(s), service: s, slices, part: planService(s, slices, node, clusterPart) };
}

function sortById(list: Planned[]): Planned[] {
  const byId = (a: Planned, b: Planned) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  if (list.some((p, i) => i > 0 && byId(list[i - 1]!, p) > 0)) list.sort(byId);
  return list;
}

function sliceKeyOf(s: EndpointSlice): string {
  return `${s.metadata.namespace}/${s.metadata.name}`;
}

function bump(m: Map<string, number>, k: string, sign: 1 | -1): void {
  const n = (m.get(k) ?? 0) + sign;
  if (n === 0) m.delete(k);
  else m.set(k, n);
}

function copyUses(
  uses: ReadonlyMap<string, { kind: Balanced['kind']; n: number; count: number }>,
): Map<string, { kind: Balanced['kind']; n: number; count: number }> {
  return new Map([...uses].map(([k, u]) => [k, { ...u }]));
}

/** A side of a change that changed nothing. */
function emptySide(): TableDef {
  return { family: 'ip', name: SERVICES_TABLE, chains: [], sets: [] };
}

/** Slices by namespace, then by Service name (label kubernetes.io/service-name): no key text to build. */
function slicesByNamespace(slices: readonly EndpointSlice[]): Map<string, Map<string, EndpointSlice[]>> {
  const out = new Map<string, Map<string, EndpointSlice[]>>();
  for (const slice of slices) {
    const name = slice.metadata.labels[SERVICE_NAME_LABEL];
    if (name === undefined) continue;
    let ns = out.get(slice.metadata.namespace);
    if (!ns) out.set(slice.metadata.namespace, (ns = new Map()));
    const list = ns.get(name);
    if (list) list.push(slice);
    else ns.set(name, [slice]);
  }
  return out;
}

/**
 * The fixed skeleton and every Service's part, as one table. With `uses` (the whole table's
 * shared chains in use), one side of an incremental change: `parts` are the changed Services only.
 */
function assemble(parts: readonly ServicePart[], clusterPart: Part, uses?: SharedUses): TableDef {
  const all = <T>(pick: (p: ServicePart) => readonly T[]): T[] => {
    const out: T[] = [];
    for (const p of parts) for (const x of pick(p)) out.push(x);
    return out;
  };
  // A map may not hold a key twice. ClusterIPs are unique (allocated), so an LB or external
  // address . port that collides with a ClusterIP's loses to it, and of two Services claiming the
  // same external address . port, the first in name order has it.
  const keyOf = (e: Element) => e.key.join(' ');
  const claimed = new Set<string>();
  if (parts.some((p) => p.external))
    for (const p of parts)
      for (const list of [p.serviceIps, p.noEndpointIps])
        for (const e of list) if (e.key[0] === p.clusterIp.key[0]) claimed.add(keyOf(e));
  const firstClaim = (p: ServicePart, e: Element): boolean => {
    if (e.key[0] === p.clusterIp.key[0]) return true;
    if (claimed.has(keyOf(e))) return false;
    claimed.add(keyOf(e));
    return true;
  };
  const serviceIps: Element[] = [];
  const noEndpointIps: Element[] = [];
  const balanced: Balanced[] = [];
  for (const p of parts) {
    if (!p.external) {
      // Only its ClusterIP's keys, which no other Service has: nothing to settle.
      for (const e of p.serviceIps) serviceIps.push(e);
      for (const e of p.noEndpointIps) noEndpointIps.push(e);
      for (const b of p.balanced) balanced.push(b);
      continue;
    }
    const kept = new Set<string>();
    for (const e of p.serviceIps)
      if (firstClaim(p, e)) {
        serviceIps.push(e);
        kept.add(keyOf(e));
      }
    for (const e of p.noEndpointIps) if (firstClaim(p, e)) noEndpointIps.push(e);
    // A key another Service has is not balanced for this one either.
    for (const b of p.balanced) if (b.kind === 'nodePort' || kept.has(b.key.join(' '))) balanced.push(b);
  }
  const shared = sharedBalancing(balanced, clusterPart, uses);
  const nodePorts = all((p) => p.nodePorts);
  const firewallIps = all((p) => p.firewallIps);
  const noEndpointNodePorts = all((p) => p.noEndpointNodePorts);
  const clusterIps = parts.map((p) => p.clusterIp);
  const chains = all((p) => p.chains);
  const epChains = all((p) => p.epChains);
  const sets = all((p) => p.sets);

  const fixedChains: ChainDef[] = [
    {
      name: O.firewallPrerouting,
      base: baseChainOf('servicesFirewallPrerouting'),
      rules: [rule([match('ct state', { flags: ['new'] }), jump(O.firewallCheck)])],
    },
    {
      name: O.firewallOutput,
      base: baseChainOf('servicesFirewallOutput'),
      rules: [rule([match('ct state', { flags: ['new'] }), jump(O.firewallCheck)])],
    },
    { name: O.firewallCheck, rules: [rule([vmap(['ip daddr', 'meta l4proto', 'th dport'], O.firewallIps)])] },
    { name: O.natPrerouting, base: baseChainOf('servicesPrerouting'), rules: [rule([jump(O.servicesChain)])] },
    { name: O.natOutput, base: baseChainOf('servicesOutput'), rules: [rule([jump(O.servicesChain)])] },
    { name: O.natPostrouting, base: baseChainOf('servicesPostrouting'), rules: [rule([jump(O.masqueradingChain)])] },
    {
      name: O.filterInput,
      base: baseChainOf('servicesFilterInput'),
      rules: [rule([match('ct state', { flags: ['new'] }), jump(O.endpointsCheck)])],
    },
    {
      name: O.filterForward,
      base: baseChainOf('servicesFilterForward'),
      rules: [
        rule([match('ct state', { flags: ['new'] }), jump(O.endpointsCheck)]),
        rule(
          [match('ct state', { flags: ['new'] }), inSet('ip daddr', O.clusterIps), { kind: 'reject' }],
          'a port the Service does not have',
        ),
      ],
    },
    {
      name: O.filterOutput,
      base: baseChainOf('servicesFilterOutput'),
      rules: [
        rule([match('ct state', { flags: ['new'] }), jump(O.endpointsCheck)]),
        rule(
          [match('ct state', { flags: ['new'] }), inSet('ip daddr', O.clusterIps), { kind: 'reject' }],
          'a port the Service does not have',
        ),
      ],
    },
    {
      name: O.servicesChain,
      rules: [
        rule([vmap(['ip daddr', 'meta l4proto', 'th dport'], O.serviceIps)]),
        rule([
          match('fib daddr type', 'local'),
          match('ip daddr', prefix('127.0.0.0', 8), '!='),
          vmap(['meta l4proto', 'th dport'], O.serviceNodePorts),
        ]),
      ],
    },
    {
      name: O.endpointsCheck,
      rules: [
        rule([vmap(['ip daddr', 'meta l4proto', 'th dport'], O.noEndpointServices)]),
        rule([
          match('fib daddr type', 'local'),
          match('ip daddr', prefix('127.0.0.0', 8), '!='),
          vmap(['meta l4proto', 'th dport'], O.noEndpointNodePorts),
        ]),
      ],
    },
    { name: O.markChain, rules: [rule([{ kind: 'mark', value: MASQUERADE_MARK, or: true }])] },
    {
      name: O.masqueradingChain,
      rules: [
        rule([{ kind: 'match', left: ['meta mark'], op: '==', right: 0, mask: MASQUERADE_MARK }, ret]),
        rule([{ kind: 'mark', value: MASQUERADE_MARK, xor: true }]),
        rule([{ kind: 'masquerade', fullyRandom: true }]),
      ],
    },
    { name: O.rejectChain, rules: [rule([{ kind: 'reject' }], 'no endpoint')] },
  ];
  const concat = ['ipv4_addr', 'inet_proto', 'inet_service'] as const;
  const fixedSets: SetDef[] = [
    {
      name: O.serviceIps,
      key: concat,
      value: 'verdict',
      comment: 'VIP and LB addresses of Service ports',
      elements: serviceIps,
    },
    {
      name: O.serviceNodePorts,
      key: ['inet_proto', 'inet_service'],
      value: 'verdict',
      comment: 'node ports',
      elements: nodePorts,
    },
    {
      name: O.noEndpointServices,
      key: concat,
      value: 'verdict',
      comment: 'Service ports with no endpoint',
      elements: noEndpointIps,
    },
    {
      name: O.noEndpointNodePorts,
      key: ['inet_proto', 'inet_service'],
      value: 'verdict',
      comment: 'node ports with no endpoint',
      elements: noEndpointNodePorts,
    },
    { name: O.clusterIps, key: ['ipv4_addr'], comment: 'every ClusterIP', elements: dedupe(clusterIps) },
    {
      name: O.firewallIps,
      key: concat,
      value: 'verdict',
      comment: 'load-balancer addresses with loadBalancerSourceRanges',
      elements: firewallIps,
    },
  ];
  return {
    family: 'ip',
    name: SERVICES_TABLE,
    comment: 'weft: Services (kube-proxy nftables mode)',
    chains: [...fixedChains, ...shared.chains, ...chains, ...epChains],
    sets: [...fixedSets, ...shared.sets, ...sets],
  };
}

function chainIdOf(s: Service): string {
  return `${s.metadata.namespace}/${s.metadata.name}`;
}

function dedupe(elements: Element[]): Element[] {
  const seen = new Set<string>();
  return elements.filter((e) => {
    const k = String(e.key[0]);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * A Service's loadBalancerSourceRanges as networks (trimmed: the API server allows space padding;
 * host bits dropped), without ranges inside another: nft refuses overlapping intervals in a set.
 */
export function sourceRangesOf(s: Service): Array<{ addr: string; len: number }> {
  const nets = (s.spec.loadBalancerSourceRanges ?? [])
    .map((text) => networkOf(parseCidr(text.trim())))
    .filter((n) => n.address.family === 4);
  const kept = nets.filter(
    (n, i) =>
      !nets.some(
        (m, j) =>
          m.prefix <= n.prefix &&
          cidrContains(m, n.address) &&
          // Of two equal ranges, the first stays.
          (m.prefix < n.prefix || j < i),
      ),
  );
  return kept
    .sort((a, b) => (a.address.value < b.address.value ? -1 : a.address.value > b.address.value ? 1 : 0))
    .map((n) => ({ addr: formatIp(n.address), len: n.prefix }));
}

/** `fw/NS/NAME`: drops sources outside the Service's loadBalancerSourceRanges. */
function firewallChain(s: Service, ranges: ReadonlyArray<{ addr: string; len: number }>): ChainDef {
  return {
    name: `fw/${chainIdOf(s)}`,
    comment: `${chainIdOf(s)}: loadBalancerSourceRanges`,
    rules: [
      rule(
        [
          {
            kind: 'match',
            left: ['ip saddr'],
            op: '!=',
            right: { anon: ranges.map((r) => [prefix(r.addr, r.len)]) },
          },
          { kind: 'verdict', verdict: { verdict: 'drop' } },
        ],
        'not from loadBalancerSourceRanges',
      ),
    ],
  };
}
