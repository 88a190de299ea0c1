/**
 * The lab's "physical" network, made of namespaces this module owns: an underlay namespace
 * holding a Linux bridge (the L2 segment every node's eth0 plugs into, with the segment's
 * .254 address standing in for the outside world), and node namespaces, each with an eth0 on
 * the segment and a default route via .254, exactly like a host on a LAN.
 *
 * Optionally more segments joined by one router namespace, so a lab can have nodes that are not
 * on one L2 segment (host-gw refuses them; DirectRouting uses VXLAN for them).
 *
 * Every name is derived from the lab's namespace prefix, so two labs never collide, and
 * `removeUnderlay` finds everything by that prefix even after a crash.
 */

import type { Exec } from '../ports/exec.js';
import { NamedNetns } from '../adapters/netns.js';

export interface Segment {
  /** e.g. "10.99.0" (a /24); .254 is the segment's gateway, nodes get .1, .2, ... */
  prefix24: string;
  /** The namespace the segment's bridge lives in. */
  ns: string;
}

export interface UnderlayNode {
  name: string;
  ns: string;
  iface: 'eth0';
  ip: string;
  segment: Segment;
}

const BRIDGE = 'ul0';

export class Underlay {
  private readonly netns: NamedNetns;

  constructor(
    private readonly exec: Exec,
    /** Namespace name prefix of the lab, e.g. "weft-lab1-". */
    readonly prefix: string,
  ) {
    this.netns = new NamedNetns(exec);
  }

  private ip(ns: string, commands: string[], context: string): Promise<unknown> {
    return this.exec.run({ argv: ['ip', '-n', ns, '-batch', '-'], input: commands.join('\n') + '\n', context });
  }

  private sysctl(ns: string, key: string, value: string): Promise<unknown> {
    return this.exec.run({
      argv: ['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=${value}`],
      context: `sysctl ${key} in ${ns}`,
    });
  }

  /** Creates a segment: its namespace and bridge with the .254 gateway address. */
  async addSegment(label: string, prefix24: string): Promise<Segment> {
    const ns = `${this.prefix}${label}`;
    await this.netns.add(ns);
    await this.ip(
      ns,
      [`link add ${BRIDGE} type bridge`, `link set ${BRIDGE} up`, `addr add ${prefix24}.254/24 dev ${BRIDGE}`],
      `create segment ${label}`,
    );
    // The segment namespace also routes between segments (when there are several) and stands in
    // for "the outside" for ip-masq.
    await this.sysctl(ns, 'net.ipv4.ip_forward', '1');
    return { prefix24, ns };
  }

  /**
   * Joins segments through one router namespace (the top-of-rack / core router): the router has
   * a leg r<i> on each segment at .253 and forwards between them, and each segment's namespace
   * (the nodes' default gateway) routes every other segment via its .253. Returns the router's
   * namespace.
   */
  async addRouter(label: string, segments: readonly Segment[]): Promise<string> {
    if (segments.length < 2) throw new Error(`router ${label}: needs two segments or more, got ${segments.length}`);
    const ns = `${this.prefix}${label}`;
    await this.netns.add(ns);
    await this.sysctl(ns, 'net.ipv4.ip_forward', '1');
    for (const [i, seg] of segments.entries()) {
      const leg = `r${i}`;
      const peer = `${label}${i}`.slice(0, 15);
      await this.ip(
        seg.ns,
        [
          `link add ${peer} type veth peer name ${leg} netns ${this.netns.path(ns)}`,
          `link set ${peer} master ${BRIDGE} up`,
        ],
        `plug router ${label} into ${seg.ns}`,
      );
      await this.ip(
        ns,
        ['link set lo up', `addr add ${seg.prefix24}.253/24 dev ${leg}`, `link set ${leg} up`],
        `address router leg ${leg} on ${seg.prefix24}.0/24`,
      );
    }
    for (const seg of segments) {
      // The gateway forwards to the router back out of the bridge a packet came in on: no ICMP
      // redirects, so every node keeps going through its own gateway (as on a routed LAN).
      await this.sysctl(seg.ns, 'net.ipv4.conf.all.send_redirects', '0');
      await this.sysctl(seg.ns, `net.ipv4.conf.${BRIDGE}.send_redirects`, '0');
      const others = segments.filter((o) => o !== seg);
      await this.ip(
        seg.ns,
        others.map((o) => `route add ${o.prefix24}.0/24 via ${seg.prefix24}.253`),
        `route the other segments from ${seg.ns} via router ${label}`,
      );
    }
    return ns;
  }

  /** Creates a node namespace with eth0 on the segment at `<prefix24>.<host>`. */
  async addNode(name: string, segment: Segment, host: number): Promise<UnderlayNode> {
    const ns = `${this.prefix}${name}`;
    const ip = `${segment.prefix24}.${host}`;
    await this.netns.add(ns);
    const peer = name.slice(0, 15);
    await this.ip(
      segment.ns,
      [
        `link add ${peer} type veth peer name eth0 netns ${this.netns.path(ns)}`,
        `link set ${peer} master ${BRIDGE} up`,
      ],
      `plug ${name} into the segment`,
    );
    await this.ip(
      ns,
      [`addr add ${ip}/24 dev eth0`, 'link set eth0 up', `route add default via ${segment.prefix24}.254`],
      `address ${name}`,
    );
    await this.sysctl(ns, 'net.ipv4.ip_forward', '1');
    return { name, ns, iface: 'eth0', ip, segment };
  }

  /**
   * An outside client: a namespace with eth0 on the segment at `ip`, a default route via the
   * gateway, and `viaGateway` ranges (the load-balancer pool, which lies inside the segment's /24
   * but is not on-link: no one answers ARP for it) routed to the gateway too, as a client on a LAN
   * reaches addresses its router learned. `label` names the namespace after the lab's prefix; the
   * veth's segment end is `out<last octet>`.
   */
  async addOutsideClient(label: string, segment: Segment, ip: string, viaGateway: readonly string[]): Promise<string> {
    const ns = `${this.prefix}${label}`;
    await this.netns.add(ns);
    const peer = `out${ip.split('.').pop() ?? ''}`;
    await this.ip(
      segment.ns,
      [
        `link add ${peer} type veth peer name eth0 netns ${this.netns.path(ns)}`,
        `link set ${peer} master ${BRIDGE} up`,
      ],
      `plug outside client ${ip} into the segment`,
    );
    await this.ip(
      ns,
      [
        'link set lo up',
        `addr add ${ip}/24 dev eth0`,
        'link set eth0 up',
        `route add default via ${segment.prefix24}.254`,
        ...viaGateway.map((cidr) => `route add ${cidr} via ${segment.prefix24}.254`),
      ],
      `address outside client ${ip}`,
    );
    return ns;
  }

  /**
   * The gateway as a router of load-balancer addresses to the nodes (routes: src/lab/lb-routes.ts):
   * ECMP flows hashed on addresses and ports; no ICMP redirects (it forwards back onto the segment
   * the packet came from, and a redirect would send the client to one node for good).
   */
  async prepareGateway(segment: Segment): Promise<void> {
    await this.sysctl(segment.ns, 'net.ipv4.fib_multipath_hash_policy', '1');
    await this.sysctl(segment.ns, 'net.ipv4.conf.all.send_redirects', '0');
    await this.sysctl(segment.ns, `net.ipv4.conf.${BRIDGE}.send_redirects`, '0');
  }

  /** Every namespace of this lab (by prefix). */
  namespaces(): string[] {
    return this.netns.list().filter((n) => n.startsWith(this.prefix));
  }

  /** Removes every namespace with the lab's prefix; links inside go with them. */
  async removeAll(): Promise<void> {
    for (const ns of this.namespaces()) await this.netns.delete(ns);
  }
}
