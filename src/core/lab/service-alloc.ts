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
 * - healthCheckNodePort (LoadBalancer with externalTrafficPolicy Local): from the same node-port
 *   range (TCP, the health checks' protocol), given or allocated, kept on re-apply and not
 *   changeable while the Service needs one, as the API server's registry does.
 * - A LoadBalancer Service gets the lowest free address of the lab's load-balancer pool
 *   (`weft lab up --lb-cidr`) in status.loadBalancer.ingress[0].ip, and keeps it on re-apply; the
 *   address is free again when the Service is deleted or stops being a LoadBalancer. With the pool
 *   exhausted the Service is still stored, without ingress (`<pending>`), which is what a real
 *   cluster does while its load-balancer controller has no address: the Service, its ClusterIP and
 *   node ports work meanwhile. The lab has no background controller, so such a Service gets an
 *   address when it is applied again after one is freed.
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
  /** The load-balancer pool (`weft lab up --lb-cidr`); absent: LoadBalancer Services stay pending. */
  lbCidr?: string;
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
  private readonly lbIps = new Map<string, string>();
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
    if (s.spec.healthCheckNodePort !== undefined) this.nodePorts.set(`${s.spec.healthCheckNodePort}/TCP`, owner);
    for (const i of s.status?.loadBalancer.ingress ?? []) this.lbIps.set(i.ip, owner);
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
    // A health check node port the user gave is not handed out to this Service's own ports.
    const wantsHealthCheck = spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
    const heldForHealthCheck =
      wantsHealthCheck && spec.healthCheckNodePort !== undefined ? `${spec.healthCheckNodePort}/TCP` : undefined;
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
          before !== undefined && !mine.has(`${before}/${p.protocol}`)
            ? before
            : this.freeNodePort(p.protocol, heldForHealthCheck ? new Set([...mine, heldForHealthCheck]) : mine);
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
    const hcnp = this.planHealthCheckNodePort(incoming, spec, existing, mine, problems);
    if (hcnp !== undefined) spec.healthCheckNodePort = hcnp;
    if (problems.length > 0) return { problems };
    const service: Service = { ...incoming, spec: { ...spec, ports } };
    const ingress = spec.type === 'LoadBalancer' ? this.planIngress(existing) : undefined;
    if (ingress !== undefined) service.status = { loadBalancer: { ingress: [{ ip: ingress }] } };
    this.take(service);
    return { service };
  }

  /** The health check node port of a LoadBalancer Service with externalTrafficPolicy Local (undefined: none). */
  private planHealthCheckNodePort(
    incoming: Service,
    spec: Service['spec'],
    existing: Service | undefined,
    mine: ReadonlySet<string>,
    problems: string[],
  ): number | undefined {
    if (spec.type !== 'LoadBalancer' || spec.externalTrafficPolicy !== 'Local') {
      delete spec.healthCheckNodePort;
      return undefined;
    }
    const before =
      existing?.spec.type === 'LoadBalancer' && existing.spec.externalTrafficPolicy === 'Local'
        ? existing.spec.healthCheckNodePort
        : undefined;
    const given = spec.healthCheckNodePort;
    if (given === undefined) {
      if (before !== undefined) return before;
      const port = this.freeNodePort('TCP', mine);
      if (port === undefined)
        problems.push(
          `spec.healthCheckNodePort: Internal error: no free node port in ${this.ranges.nodePortMin}-${this.ranges.nodePortMax}`,
        );
      return port;
    }
    if (before !== undefined && given !== before) {
      problems.push(
        `spec.healthCheckNodePort: Invalid value: ${given}: cannot change healthCheckNodePort on loadBalancer service with externalTraffic=Local during update`,
      );
      return undefined;
    }
    const owner = this.nodePorts.get(`${given}/TCP`);
    const why =
      given < this.ranges.nodePortMin || given > this.ranges.nodePortMax
        ? `provided port is not in the valid range. The range of valid ports is ${this.ranges.nodePortMin}-${this.ranges.nodePortMax}`
        : (owner !== undefined && owner !== serviceKey(incoming)) || mine.has(`${given}/TCP`)
          ? `provided port is already allocated${owner !== undefined && owner !== serviceKey(incoming) ? ` (to service ${owner})` : ''}`
          : undefined;
    if (why !== undefined) {
      problems.push(
        `spec.healthCheckNodePort: Invalid value: ${given}: failed to allocate requested HealthCheck NodePort ${given}: ${why}`,
      );
      return undefined;
    }
    return given;
  }

  /** The load-balancer address of a LoadBalancer Service: the one it has, else the lowest free one of the pool. */
  private planIngress(existing: Service | undefined): string | undefined {
    const had = existing?.spec.type === 'LoadBalancer' ? existing.status?.loadBalancer.ingress?.[0]?.ip : undefined;
    if (had !== undefined) return had;
    if (this.ranges.lbCidr === undefined) return undefined;
    const pool = parseCidr(this.ranges.lbCidr);
    const size = cidrSize(pool);
    for (let off = 0n; off < size; off++) {
      const ip = addToIp(networkOf(pool).address, off);
      if (!ip) return undefined;
      const text = formatIp(ip);
      if (!this.lbIps.has(text)) return text;
    }
    return undefined;
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
