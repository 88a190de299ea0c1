/**
 * `Backend.Type: udp`, Flannel's first backend: a TUN device `weft0`, one route sending the
 * cluster network into it, and a forwarder thread (src/adapters/udp-forwarder.ts) carrying each
 * packet in one UDP datagram to the node owning its destination (port 8285 by default), which
 * writes it to its own TUN. Simple, and slow: every packet crosses into userspace and back twice,
 * which is why Flannel replaced it with VXLAN (see bench/backends.ts for how slow).
 *
 * A sync: plan (src/core/backend/udp-plan.ts) → make sure the forwarder runs, bound on the node's
 * public IP and Backend.Port (a port in use fails here, before anything is changed, with an error
 * naming Backend.Port) → hand it the peers' table → give the device its MTU, address and up
 * state and the route (weft's protocol number, so the shared diff owns it; a vxlan device or
 * routes left from another backend are removed by the same diff) → read the forwarder's counters
 * into the metrics (also every 5 s between syncs).
 *
 * The device exists while the forwarder holds its descriptor: if the forwarder's thread dies, the
 * device and its route go with it, problem() says so, and the next sync starts a new one. So,
 * unlike the kernel backends, stop() (the agent stopping) takes forwarding with it: the forwarder
 * is the data path, as flanneld's proxy was.
 */

import { diffBackend, describeChange } from '../../core/backend/diff.js';
import { parseTunDevice } from '../../core/backend/iproute2-codec.js';
import { diffTunDevice, planUdp } from '../../core/backend/udp-plan.js';
import type { UdpRouteEntry } from '../../core/backend/udp-forwarding.js';
import { UDP_FORWARDED, UDP_DROPPED } from '../../core/metrics.js';
import { UDP_TUN_DEVICE } from '../../core/names.js';
import type { Exec } from '../../ports/exec.js';
import type { Metrics } from '../../ports/metrics.js';
import type { Netlink } from '../../ports/netlink.js';
import { UdpForwarder, type ForwarderStats, type UdpForwarderOptions } from '../../adapters/udp-forwarder.js';
import type { Logger } from '../../ports/logger.js';
import type { Clock, TimerHandle } from '../../ports/clock.js';
import type { Backend, BackendKind, BackendSyncInput, BackendSyncResult } from './backend.js';

/** How often the forwarder's counters are read into the metrics between syncs. */
const COUNT_EVERY_MS = 5000;

/** What the backend needs of a running forwarder (UdpForwarder; a fake in unit tests). */
export interface ForwarderHandle {
  readonly options: UdpForwarderOptions;
  /** What the start could not tune (socket buffer sizes), for the log. */
  readonly notes: readonly string[];
  problem(): string | undefined;
  setRoutes(own: string, entries: readonly UdpRouteEntry[]): Promise<void>;
  stats(): Promise<ForwarderStats>;
  stop(): Promise<void>;
}

/** A failed forwarder start: `code` is the errno name (EADDRINUSE: the port is taken). */
export interface ForwarderStartFailure extends Error {
  code: string;
}

export interface UdpBackendOptions {
  exec: Exec;
  netlink: Netlink;
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  /** Starts a forwarder; rejects with an Error carrying `code` (ForwarderStartError). */
  startForwarder: (o: UdpForwarderOptions) => Promise<ForwarderHandle>;
  /** The network namespace to work in (path); the process's own when omitted (the agent's case). */
  netns?: string;
}

/** A config error: the operator's to fix (the sync fails with it, and is retried). */
export class UdpBackendConfigError extends Error {
  override readonly name = 'UdpBackendConfigError';
}

export class UdpBackend implements Backend {
  readonly type = 'udp' as const;
  private forwarder: ForwarderHandle | undefined;
  /** The counters last read, to turn the forwarder's totals into metric increments. */
  private last: ForwarderStats | undefined;
  /** The next read of the counters (every COUNT_EVERY_MS while a forwarder runs). */
  private countTimer: TimerHandle | undefined;

  constructor(private readonly o: UdpBackendOptions) {}

  async sync({ node, conf, peers }: BackendSyncInput): Promise<BackendSyncResult> {
    const plan = planUdp({ node, conf, peers });
    const forwarder = await this.ensureForwarder(node.publicIp, plan.port);
    await forwarder.setRoutes(plan.ownSubnet, plan.entries);
    const where = this.o.netns ? ` in ${this.o.netns}` : '';
    const listing = await this.o.exec.tryRun({
      argv: ['ip', '-j', 'address', 'show', 'dev', plan.tun.name],
      netns: this.o.netns,
      context: `read the udp backend's device ${plan.tun.name}${where}`,
    });
    const have = listing.exitCode === 0 ? parseTunDevice(listing.stdout, plan.tun.name) : undefined;
    if (!have) {
      // Deleted under the forwarder (`ip link delete weft0`), or the forwarder is dying: a new
      // forwarder makes a new device.
      await this.stop();
      throw new Error(
        `udp backend: the TUN device ${plan.tun.name} is gone${where}; the next sync starts a new forwarder`,
      );
    }
    const changes = [...diffTunDevice(plan.tun, have), ...diffBackend(plan.desired, await this.o.netlink.read())];
    if (changes.length > 0) {
      try {
        await this.o.netlink.apply(changes);
      } catch (err) {
        throw new Error(
          `reconcile udp backend: applying ${changes.length} change(s) failed (${changes.map(describeChange).join('; ')}): ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    await this.countTraffic(forwarder);
    return {
      podMtu: plan.desired.podMtu,
      described: changes.map(describeChange),
      peerErrors: plan.desired.errors,
      guardPorts: [{ protocol: 'udp', port: plan.port }],
    };
  }

  /** The running forwarder for this address and port, started (again) when there is none. */
  private async ensureForwarder(publicIp: string, port: number): Promise<ForwarderHandle> {
    const f = this.forwarder;
    if (f && f.problem() === undefined && f.options.publicIp === publicIp && f.options.port === port) return f;
    if (f) {
      this.forwarder = undefined;
      await f.stop();
    }
    try {
      this.forwarder = await this.o.startForwarder({
        tun: UDP_TUN_DEVICE,
        publicIp,
        port,
        ...(this.o.netns ? { netns: this.o.netns } : {}),
      });
    } catch (err) {
      const e = err as ForwarderStartFailure;
      if (e.code === 'EADDRINUSE')
        throw new UdpBackendConfigError(
          `net-conf: Backend.Port: ${port}/udp is already in use on this node's address ${publicIp} (${e.message}); the udp backend changed nothing: free the port or choose another Backend.Port`,
          { cause: err },
        );
      throw new Error(`udp backend: start the forwarder on ${publicIp}:${port}: ${e.message}`, { cause: err });
    }
    this.last = undefined;
    this.scheduleCount(this.forwarder);
    this.o.log.info('udp forwarder started', { publicIp, port, tun: UDP_TUN_DEVICE, notes: [...this.forwarder.notes] });
    return this.forwarder;
  }

  /**
   * Reads the counters between syncs too (a quiet cluster syncs only on its resync period), until
   * that forwarder is replaced or stops; a failed read is left to problem() and the next sync.
   */
  private scheduleCount(f: ForwarderHandle): void {
    this.countTimer = this.o.clock.setTimeout(() => {
      if (this.forwarder !== f || f.problem() !== undefined) return;
      void this.countTraffic(f).then(
        () => this.scheduleCount(f),
        () => undefined,
      );
    }, COUNT_EVERY_MS);
  }

  /** The forwarder's totals since the last read, into the agent's counters. */
  private async countTraffic(f: ForwarderHandle): Promise<void> {
    const now = await f.stats();
    const before = this.last;
    this.last = now;
    const delta = (a: number, b: number | undefined) => a - (b ?? 0);
    const forwarded = this.o.metrics.counter(UDP_FORWARDED);
    forwarded.inc({ direction: 'sent' }, delta(now.sentPackets, before?.sentPackets));
    forwarded.inc({ direction: 'received' }, delta(now.receivedPackets, before?.receivedPackets));
    const dropped = this.o.metrics.counter(UDP_DROPPED);
    for (const [reason, n] of Object.entries(now.dropped))
      dropped.inc({ reason }, delta(n, before?.dropped[reason as keyof ForwarderStats['dropped']]));
  }

  problem(): string | undefined {
    const why = this.forwarder?.problem();
    return why === undefined ? undefined : `the udp forwarder stopped: ${why}; restarting it on the next sync`;
  }

  async stop(): Promise<void> {
    const f = this.forwarder;
    this.forwarder = undefined;
    this.countTimer?.cancel();
    this.countTimer = undefined;
    await f?.stop();
  }
}

/** Backend.Type udp (index.ts). */
export const UDP: BackendKind = {
  type: 'udp',
  // Flannel's udp backend publishes no BackendData: a peer needs only the PublicIP and the port,
  // which the whole cluster shares through net-conf.
  leaseData: () => ({}),
  create: (deps) =>
    new UdpBackend({
      exec: deps.exec,
      netlink: deps.netlink,
      metrics: deps.metrics,
      log: deps.log,
      clock: deps.clock,
      startForwarder: (o) => UdpForwarder.start(o),
    }),
  // Nothing to clean up beyond the kernel-routes teardown: the TUN device goes with the agent's
  // descriptor, and its route with the device.
};
