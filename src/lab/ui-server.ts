/**
 * The server of `weft ui`, the lab's live dashboard: the page's static files (its own and the
 * vendored preact, htm and cytoscape that the build copies into dist/ui, so nothing is fetched
 * from the internet), a JSON API over the LabClient, and a server-sent-events stream that pushes
 * a new snapshot whenever the lab changes. Built on hono (routing, SSE) and @hono/node-server.
 *
 * Liveness: the store's revision moves with every object and pod status change, but node health
 * (heartbeats, readiness) does not move it, so a poller reads the revision and the nodes every
 * `pollMs` and rebuilds the snapshot only when either changed; every open stream gets it.
 */

import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { createAdaptorServer } from '@hono/node-server';
import {
  dashboardMatrix,
  dashboardSnapshot,
  explainPair,
  type DashboardSnapshot,
  type NodeHealth,
} from '../core/lab/dashboard.js';
import { readNodeStatus } from '../agent/node-status.js';
import { isAgent, isRunner } from './lab.js';
import type { MatrixProtocol } from '../core/lab/probe-table.js';
import { hopsOf, renderHops } from '../core/trace/hops.js';
import { predictFor } from '../core/trace/predict.js';
import type { TraceProtocol } from '../core/trace/trace-table.js';
import { labNetConf, segmentCidr } from '../core/lab/lab-spec.js';
import { parseNetConf } from '../core/flannel/net-conf.js';
import type { LabClient } from './client.js';

/** The page's files (built into dist/ui by scripts/copy-ui.mjs), by URL path. */
const UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/vendor/preact.mjs': { file: 'vendor/preact.mjs', type: 'text/javascript; charset=utf-8' },
  '/vendor/hooks.mjs': { file: 'vendor/hooks.mjs', type: 'text/javascript; charset=utf-8' },
  '/vendor/htm.mjs': { file: 'vendor/htm.mjs', type: 'text/javascript; charset=utf-8' },
  '/vendor/cytoscape.mjs': { file: 'vendor/cytoscape.mjs', type: 'text/javascript; charset=utf-8' },
};

const MATRIX_PROTOCOLS: readonly MatrixProtocol[] = ['TCP', 'UDP', 'SCTP'];
const TRACE_PROTOCOLS: Record<string, TraceProtocol> = { TCP: 'tcp', UDP: 'udp', ICMP: 'icmp' };

/** A request the API refuses: the status and a message naming the parameter. */
class BadRequest extends Error {}

function portParam(text: string | undefined, name: string): number {
  if (text === undefined) throw new BadRequest(`${name}: required`);
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535)
    throw new BadRequest(`${name}: "${text}" must be a port number from 1 to 65535`);
  return port;
}

function protocolParam(text: string | undefined): MatrixProtocol {
  const p = (text ?? 'TCP').toUpperCase() as MatrixProtocol;
  if (!MATRIX_PROTOCOLS.includes(p)) throw new BadRequest(`protocol: "${text}" is not TCP, UDP or SCTP`);
  return p;
}

export interface UiServerOptions {
  lab: LabClient;
  port: number;
  address: string;
  /** How often the poller looks for changes (default 300 ms). */
  pollMs?: number;
  log: (line: string) => void;
}

export class UiServer {
  private readonly listeners = new Set<(s: DashboardSnapshot) => void>();
  private latest: DashboardSnapshot | undefined;
  private lastKey = '';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Traces run one at a time: each turns on nftables tracing in every namespace of the lab. */
  private traceChain: Promise<unknown> = Promise.resolve();

  private readonly server: Server;

  private constructor(private readonly o: UiServerOptions) {
    const app = new Hono();
    app.onError((err, c) => {
      if (err instanceof BadRequest) return c.json({ error: err.message }, 400);
      o.log(`weft ui: ${c.req.method} ${c.req.path}: ${err.message}`);
      return c.json({ error: err.message }, 500);
    });
    app.get('/api/snapshot', (c) => c.json(this.snapshot()));
    app.get('/api/events', (c) => this.events(c));
    app.get('/api/reach', async (c) => this.reach(c));
    app.get('/api/explain', async (c) => this.explain(c));
    app.post('/api/trace', async (c) => this.trace(c));
    for (const [path, f] of Object.entries(FILES))
      app.get(path, async (c) => c.body(await readFile(`${UI_DIR}${f.file}`), 200, { 'content-type': f.type }));
    this.server = createAdaptorServer({ fetch: app.fetch }) as Server;
  }

  /** Starts serving; resolves once listening (port 0 picks a free port: see `url`). */
  static async start(o: UiServerOptions): Promise<UiServer> {
    const self = new UiServer(o);
    await new Promise<void>((resolve, reject) => {
      self.server.once('error', (err) =>
        reject(new Error(`listen on ${o.address}:${o.port}: ${(err as Error).message}`)),
      );
      self.server.listen(o.port, o.address, () => resolve());
    });
    await self.poll();
    return self;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/`;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The latest snapshot; until the poller could read the lab once, an error (its cause is in the log). */
  private snapshot(): DashboardSnapshot {
    if (!this.latest) throw new Error("the lab could not be read yet (see weft ui's log)");
    return this.latest;
  }

  /** Rebuilds the snapshot when the store revision or the nodes changed; tells every stream. */
  private async poll(): Promise<void> {
    try {
      const lab = this.o.lab;
      const revision = await lab.store.revision();
      const nodes = await lab.nodes();
      const health = this.health();
      const key = JSON.stringify([
        revision,
        nodes.map((n) => [n.name, n.podCIDR, n.backend, n.ready, n.message]),
        [...health],
      ]);
      if (key !== this.lastKey) {
        const conf = parseNetConf(labNetConf(lab.record.spec));
        const segments = lab.record.segments?.map((s) => s.cidr) ?? [segmentCidr(0)];
        this.latest = dashboardSnapshot({
          lab: { name: lab.paths.name, backend: conf.backend.type, network: conf.network, segments },
          revision,
          nodes,
          pods: (await lab.store.list('Pod')).map((p) => p.object),
          services: (await lab.store.list('Service')).map((s) => s.object),
          slices: (await lab.store.list('EndpointSlice')).map((s) => s.object),
          cluster: await lab.policyCluster(),
          health,
        });
        this.lastKey = key;
        for (const l of this.listeners) l(this.latest);
      }
    } catch (err) {
      this.o.log(`weft ui: read the lab: ${(err as Error).message}`);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), this.o.pollMs ?? 300);
  }

  /** Each node's processes and controllers, as `weft lab status` reads them. */
  private health(): Map<string, NodeHealth> {
    const { paths, record } = this.o.lab;
    return new Map(
      record.nodes.map((n) => {
        const doc = readNodeStatus(paths.runDir(n.name));
        const controllers = doc?.controllers.map((c) => ({
          name: c.name,
          ready: c.ready,
          state: c.state,
          ...(c.lastError ? { lastError: c.lastError } : {}),
        }));
        return [
          n.name,
          {
            agent: isAgent(paths, n.agentPid),
            runner: isRunner(paths, n.runnerPid),
            ...(controllers ? { controllers } : {}),
          },
        ];
      }),
    );
  }

  private events(c: Context): Response {
    return streamSSE(c, async (stream) => {
      let id = 0;
      const queue: DashboardSnapshot[] = [];
      let wake: (() => void) | undefined;
      const listener = (s: DashboardSnapshot) => {
        queue.splice(0, queue.length, s);
        wake?.();
      };
      this.listeners.add(listener);
      stream.onAbort(() => {
        this.listeners.delete(listener);
        wake?.();
      });
      if (this.latest) queue.push(this.latest);
      while (!stream.aborted && !stream.closed && !this.stopped) {
        const next = queue.shift();
        if (next) await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(next), id: String(id++) });
        else await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      this.listeners.delete(listener);
    });
  }

  private async reach(c: Context): Promise<Response> {
    const port = portParam(c.req.query('port') ?? '80', 'port');
    const protocol = protocolParam(c.req.query('protocol'));
    const lab = this.o.lab;
    const pods = (await lab.store.list('Pod')).map((p) => p.object);
    return c.json(dashboardMatrix(await lab.policyCluster(), pods, port, protocol));
  }

  private async explain(c: Context): Promise<Response> {
    const from = c.req.query('from');
    const to = c.req.query('to');
    if (!from) throw new BadRequest('from: required (namespace/name)');
    if (!to) throw new BadRequest('to: required (namespace/name)');
    const port = portParam(c.req.query('port'), 'port');
    const protocol = protocolParam(c.req.query('protocol'));
    const lab = this.o.lab;
    const pods = (await lab.store.list('Pod')).map((p) => p.object);
    try {
      return c.json(explainPair(await lab.policyCluster(), pods, from, to, port, protocol));
    } catch (err) {
      throw new BadRequest((err as Error).message);
    }
  }

  private async trace(c: Context): Promise<Response> {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch (err) {
      throw new BadRequest(`body: not JSON (${(err as Error).message})`);
    }
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const known = new Set(['from', 'to', 'port', 'protocol']);
    const unknown = Object.keys(b).filter((k) => !known.has(k));
    if (unknown.length > 0) throw new BadRequest(`body.${unknown[0]}: unknown field (use from, to, port, protocol)`);
    if (typeof b.from !== 'string') throw new BadRequest('body.from: required, a pod namespace/name');
    if (typeof b.to !== 'string') throw new BadRequest('body.to: required, a pod, service/NS/NAME or an IPv4 address');
    const protocolText = b.protocol === undefined ? 'TCP' : b.protocol;
    const protocol = typeof protocolText === 'string' ? TRACE_PROTOCOLS[protocolText.toUpperCase()] : undefined;
    if (!protocol) throw new BadRequest(`body.protocol: ${JSON.stringify(b.protocol)} must be TCP, UDP or ICMP`);
    let port: number | undefined;
    if (b.port !== undefined) {
      if (typeof b.port !== 'number' || !Number.isInteger(b.port) || b.port < 1 || b.port > 65535)
        throw new BadRequest(`body.port: ${JSON.stringify(b.port)} must be a port number 1-65535`);
      if (protocol === 'icmp') throw new BadRequest('body.port: an ICMP echo has no port');
      port = b.port;
    }
    const from = b.from;
    const to = b.to;
    const run = this.traceChain.then(async () => {
      const { real, model } = await this.o.lab.trace(from, to, port, protocol);
      const { hops, end } = hopsOf(real.seen, real.probe.from.label);
      const { predicted, differences } = predictFor({ hops, end }, model, real.probe);
      return { from, to, probe: real.probe, hops, end, predicted, differences, text: renderHops(hops, end) };
    });
    this.traceChain = run.catch(() => undefined);
    try {
      return c.json(await run);
    } catch (err) {
      // The lab's own refusals (no such pod, not running, no port) are the request's fault.
      if (/^(FROM|TO|--port):/.test((err as Error).message)) throw new BadRequest((err as Error).message);
      throw err;
    }
  }
}
