/**
 * What the API server's allocators do for a Service the lab stores: a ClusterIP from the service
 * range, NodePorts from the node-port range, and the immutability of both once allocated.
 *
 * - clusterIP given: it must be in the range (not its network or broadcast address) and free;
 *   absent: the lowest free address at or above the dynamic band's start. The first 16 addresses
 *   are left for addresses users pick (the API server's static band; kube-dns takes the tenth);
 *   "None" makes the Service headless; ExternalName Services get none.
 * - Once stored, a Service keeps its clusterIP: a re-apply may leave it out (it is kept) but may
 *   not change it.
 * - nodePort given (NodePort and LoadBalancer Services): in the range and not used by another
 *   Service for the same protocol; absent: the one the stored Service had for the same port and
 *   protocol, else the lowest free one.
 *
 * The messages are the API server's ("failed to allocate IP ...: provided IP is already allocated").
 */

import type { Service, ServicePort } from '../k8s/objects.js';
import {
  addToIp,
  cidrContains,
  cidrSize,
  formatCidr,
  formatIp,
  networkOf,
  parseCidr,
  tryParseIp,
  type IpNet,
} from '../net/ip.js';

export interface ServiceRanges {
  /** The service range (`weft lab up --service-cidr`), e.g. 10.96.0.0/12. */
  serviceCidr: string;
  /** Inclusive, default 30000-32767 (kube-apiserver's --service-node-port-range). */
  nodePortMin: number;
  nodePortMax: number;
  /** Ranges inside the service range that are in use for something else (the lab's underlay): never allocated. */
  reserved?: readonly string[];
}

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
export const DEFAULT_NODE_PORTS = { nodePortMin: 30000, nodePortMax: 32767 } as const;
/** Addresses at the start of the range that dynamic allocation leaves for users (kube-dns: the tenth). */
const STATIC_BAND = 16n;

const serviceKey = (s: Service) => `${s.metadata.namespace}/${s.metadata.name}`;

/** Allocations of the Services already stored (each keeps its own when re-applied); updated as incoming ones are planned. */
export class ServiceAllocator {
  private readonly range: IpNet;
  private readonly reserved: IpNet[];
  private readonly ips = new Map<string, string>();
  private readonly nodePorts = new Map<string, string>();
  /** Where the next dynamic search starts: allocations only grow while one manifest is planned. */
  private ipCursor = -1n;
  private portCursor = new Map<string, number>();

  constructor(
    private readonly ranges: ServiceRanges,
    stored: readonly Service[],
  ) {
    this.range = networkOf(parseCidr(ranges.serviceCidr));
    this.reserved = (ranges.reserved ?? []).map((r) => parseCidr(r));
    for (const s of stored) this.take(s);
  }

  private take(s: Service): void {
    const owner = serviceKey(s);
    if (s.spec.clusterIP && s.spec.clusterIP !== 'None') this.ips.set(s.spec.clusterIP, owner);
    for (const p of s.spec.ports)
      if (p.nodePort !== undefined) this.nodePorts.set(`${p.nodePort}/${p.protocol}`, owner);
  }

  /** The Service with its allocations filled in, or the problems (paths under `spec.`). */
  plan(incoming: Service, existing: Service | undefined): { service: Service } | { problems: string[] } {
    const problems: string[] = [];
    const spec = { ...incoming.spec };
    const prior = existing?.spec.clusterIP;
    if (spec.type === 'ExternalName') {
      delete spec.clusterIP;
    } else if (spec.clusterIP !== undefined && prior !== undefined && spec.clusterIP !== prior) {
      problems.push(`spec.clusterIP: Invalid value: "${spec.clusterIP}": field is immutable (it is ${prior})`);
    } else if (spec.clusterIP === undefined && prior !== undefined) {
      spec.clusterIP = prior;
    } else if (spec.clusterIP === undefined) {
      const ip = this.freeIp();
      if (ip === undefined)
        problems.push(
          `spec.clusterIPs: Internal error: failed to allocate a service IP: range ${this.ranges.serviceCidr} is full`,
        );
      else spec.clusterIP = ip;
    } else if (spec.clusterIP !== 'None' && prior === undefined) {
      const why = this.checkIp(spec.clusterIP, serviceKey(incoming));
      if (why)
        problems.push(
          `spec.clusterIPs: Invalid value: ["${spec.clusterIP}"]: failed to allocate IP ${spec.clusterIP}: ${why}`,
        );
    }

    const external = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
    const ports: ServicePort[] = [];
    const mine = new Set<string>();
    spec.ports.forEach((p, i) => {
      if (!external) return ports.push(p);
      let nodePort = p.nodePort;
      if (nodePort !== undefined) {
        const key = `${nodePort}/${p.protocol}`;
        const owner = this.nodePorts.get(key);
        if (nodePort < this.ranges.nodePortMin || nodePort > this.ranges.nodePortMax)
          problems.push(
            `spec.ports[${i}].nodePort: Invalid value: ${nodePort}: provided port is not in the valid range. The range of valid ports is ${this.ranges.nodePortMin}-${this.ranges.nodePortMax}`,
          );
        else if ((owner !== undefined && owner !== serviceKey(incoming)) || mine.has(key))
          problems.push(
            `spec.ports[${i}].nodePort: Invalid value: ${nodePort}: provided port is already allocated${owner && owner !== serviceKey(incoming) ? ` (to service ${owner})` : ''}`,
          );
      } else {
        const before = existing?.spec.ports.find((q) => q.port === p.port && q.protocol === p.protocol)?.nodePort;
        nodePort =
          before !== undefined && !mine.has(`${before}/${p.protocol}`) ? before : this.freeNodePort(p.protocol, mine);
        if (nodePort === undefined) {
          problems.push(
            `spec.ports[${i}].nodePort: Internal error: no free node port in ${this.ranges.nodePortMin}-${this.ranges.nodePortMax}`,
          );
          return ports.push(p);
        }
      }
      mine.add(`${nodePort}/${p.protocol}`);
      ports.push({ ...p, nodePort });
    });
    if (problems.length > 0) return { problems };
    const service: Service = { ...incoming, spec: { ...spec, ports } };
    // A Service keeps the status the cluster wrote (its load balancer ingress) across re-applies.
    if (existing?.status && external) service.status = existing.status;
    this.take(service);
    return { service };
  }

  private checkIp(text: string, self: string): string | undefined {
    const ip = tryParseIp(text);
    const size = cidrSize(this.range);
    if (!ip || !cidrContains(this.range, ip))
      return `provided IP is not in the valid range. The range of valid IPs is ${this.ranges.serviceCidr}`;
    const offset = ip.value - this.range.address.value;
    if (offset === 0n || offset === size - 1n)
      return `provided IP is not in the valid range. The range of valid IPs is ${this.ranges.serviceCidr}`;
    const held = this.reserved.find((r) => cidrContains(r, ip));
    if (held) return `provided IP is in ${formatCidr(held)}, which this cluster uses for its nodes`;
    const owner = this.ips.get(text);
    if (owner !== undefined && owner !== self) return `provided IP is already allocated (to service ${owner})`;
    return undefined;
  }

  private freeIp(): string | undefined {
    const size = cidrSize(this.range);
    const start = size > STATIC_BAND * 4n ? STATIC_BAND : 1n;
    for (let off = this.ipCursor < start ? start : this.ipCursor; off < size - 1n; off++) {
      const ip = addToIp(this.range.address, off);
      if (!ip) return undefined;
      const text = formatIp(ip);
      if (!this.ips.has(text) && !this.reserved.some((r) => cidrContains(r, ip))) {
        this.ipCursor = off + 1n;
        return text;
      }
    }
    return undefined;
  }

  private freeNodePort(protocol: string, mine: ReadonlySet<string>): number | undefined {
    for (let p = this.portCursor.get(protocol) ?? this.ranges.nodePortMin; p <= this.ranges.nodePortMax; p++) {
      const key = `${p}/${protocol}`;
      if (!this.nodePorts.has(key) && !mine.has(key)) {
        this.portCursor.set(protocol, p + 1);
        return p;
      }
    }
    return undefined;
  }
}
