/**
 * The lab's load-balancer announcements: keeps the routes of LoadBalancer addresses in the
 * underlay segment's gateway namespace in step with the Services and EndpointSlices (which nodes
 * announce which address is src/core/lab/lb-routes.ts's decision). It stands in for the BGP
 * sessions between a real cluster's nodes and its router, and runs in the lab's supervisor
 * (`weft lab supervise`) beside the EndpointSlice controller.
 *
 * Each sync reads the gateway's /32 routes inside the pool and changes only what differs, in one
 * `ip -batch`; it also runs every 10 s, so a route removed by hand comes back. A failed sync is
 * logged and retried on the next change or resync.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Exec } from '../ports/exec.js';
import type { Logger } from '../ports/logger.js';
import { ClusterCache } from '../agent/cluster-cache.js';
import { SqliteClusterSource } from '../adapters/cluster-source-sqlite.js';
import type { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import {
  announcedRoutes,
  loadBalancerRouteCommands,
  loadBalancerRoutes,
  type LabNodeAddress,
  type RouteJson,
} from '../core/lab/lb-routes.js';

export interface LbRouteControllerOptions {
  store: SqliteObjectStore;
  path: string;
  exec: Exec;
  /** The segment's gateway namespace. */
  segmentNs: string;
  nodes: readonly LabNodeAddress[];
  lbCidr: string;
  clock: Clock;
  log: Logger;
  resyncMs?: number;
}

export class LbRouteController {
  private readonly cache: ClusterCache;
  private running = false;
  private again = false;
  private stopped = false;
  private timer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly o: LbRouteControllerOptions) {
    this.cache = new ClusterCache({
      source: new SqliteClusterSource({ store: o.store, path: o.path, clock: o.clock }),
      kinds: ['Service', 'EndpointSlice'],
      clock: o.clock,
      log: o.log.with({ component: 'cluster' }),
    });
  }

  async start(): Promise<void> {
    await this.cache.start();
    this.unsubscribe = this.cache.subscribe(['Service', 'EndpointSlice'], () => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.timer?.cancel();
    await this.cache.stop();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.sync().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** The gateway's /32 routes inside the pool: address → nexthops. */
  private async actual(): Promise<Map<string, string[]>> {
    const r = await this.o.exec.run({
      argv: ['ip', '-j', '-n', this.o.segmentNs, 'route', 'show'],
      context: `list the routes of ${this.o.segmentNs}`,
    });
    return announcedRoutes(JSON.parse(r.stdout || '[]') as RouteJson[], this.o.lbCidr);
  }

  private async sync(): Promise<void> {
    this.timer?.cancel();
    try {
      const wanted = loadBalancerRoutes({
        services: this.cache.list('Service').map((s) => s.object),
        slices: this.cache.list('EndpointSlice').map((s) => s.object),
        nodes: this.o.nodes,
      });
      const commands = loadBalancerRouteCommands(await this.actual(), wanted);
      if (commands.length > 0) {
        await this.o.exec.run({
          argv: ['ip', '-n', this.o.segmentNs, '-batch', '-'],
          input: commands.join('\n') + '\n',
          context: `announce load-balancer addresses in ${this.o.segmentNs}`,
        });
        this.o.log.info('load-balancer routes changed', { commands });
      }
    } catch (err) {
      this.o.log.error('cannot change load-balancer routes', { error: (err as Error).message });
    } finally {
      if (!this.stopped) this.timer = this.o.clock.setTimeout(() => this.kick(), this.o.resyncMs ?? 10_000);
    }
  }
}
