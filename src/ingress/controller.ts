/**
 * `weft ingress`: the ingress controller of one pod (the ingress-nginx model). It follows the
 * Ingresses, IngressClasses, Services, EndpointSlices and Secrets in the cluster cache, renders
 * nginx.conf (core/ingress/nginx-conf.ts) after every batch of changes, and when the text changed:
 * writes it beside the running one, has `nginx -t` check it, and only then moves it into place and
 * reloads nginx (SIGHUP to its master, what `nginx -s reload` sends, without the second full parse
 * of the configuration that command makes: with many hosts that parse is seconds). nginx itself runs as
 * this process's child in the pod's network namespace, with its prefix, pid file, temp
 * directories and certificates under --work-dir.
 *
 * Endpoints are not in nginx.conf: when only they changed (a pod came, went, turned ready or not)
 * the controller posts the new lists to nginx's Lua balancer (ports/nginx-balancer.ts) and does
 * not reload, so no keep-alive connection is cut. On a reload the lists of both configurations
 * are posted first (the new workers find theirs at once, the old ones keep theirs while they
 * drain), then the new configuration's alone. The lists last posted are also written to
 * --work-dir/endpoints, for people and tests to read.
 *
 * A render nginx refuses never replaces a working one. When nginx's error points at one Ingress
 * (the line it names, or the certificate file), that Ingress is rendered as nginx last accepted it
 * (or left out when nginx never accepted it) and the rest is tried again, so one bad Ingress
 * neither blocks everyone else's changes nor loses its own working routes; the refusal is written
 * on its status (Configured False, NginxRejected, nginx's message). An error nginx does not tie to
 * an Ingress keeps the whole running configuration and is logged.
 *
 * Bursts of changes are merged: one sync runs at a time and a change during it runs one more.
 */

import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterCache } from '../agent/cluster-cache.js';
import type { Ingress, K8sKind } from '../core/k8s/objects.js';
import { RevisionConflictError } from '../core/k8s/object-key.js';
import { canonicalJsonText } from '../core/canonical-json.js';
import { ingressRef } from '../core/ingress/routes.js';
import { ownerOfNginxError, renderNginxConf, type Rendered } from '../core/ingress/nginx-conf.js';
import { desiredIngressStatus, servedIngresses, type IngressVerdict } from '../core/ingress/status.js';
import { endpointsBody, mergeEndpointLists, type EndpointLists } from '../core/ingress/nginx-lua.js';
import type { Child, Exec, SpawnChild } from '../ports/exec.js';
import type { NginxBalancer } from '../ports/nginx-balancer.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';

export const INGRESS_KINDS: readonly K8sKind[] = ['Ingress', 'IngressClass', 'Service', 'EndpointSlice', 'Secret'];

/**
 * Writes (or, with undefined, removes) an Ingress's status where the cluster keeps it; false when
 * the Ingress changed since `ing` was read (a user's change in between: the change wakes the
 * controller, whose next sync writes the status again).
 */
export type IngressStatusWriter = (ing: Ingress, status: Ingress['status'] | undefined) => Promise<boolean>;

/** An IngressStatusWriter over an object store (the lab's): a commit at the revision the Ingress was read at. */
export function storeStatusWriter(store: ObjectStore): IngressStatusWriter {
  return async (ing, status) => {
    try {
      const rev = await store.revision();
      const stored = await store.get({ kind: 'Ingress', namespace: ing.metadata.namespace, name: ing.metadata.name });
      if (stored?.object.kind !== 'Ingress') return true; // deleted meanwhile: nothing to write
      const { status: _old, ...rest } = stored.object;
      await store.commit({ put: [status === undefined ? rest : { ...rest, status }], delete: [] }, rev);
      return true;
    } catch (err) {
      if (err instanceof RevisionConflictError) return false;
      throw err;
    }
  };
}

export interface IngressControllerOptions {
  cache: ClusterCache;
  /** Where status is written; undefined: this replica writes none. */
  status?: IngressStatusWriter;
  /** spec.controller of the IngressClasses served. */
  controller: string;
  /** The LoadBalancer Service in front of the controller ("ns/name"), whose addresses go in status. */
  publishService?: string;
  workDir: string;
  /** The directory of nginx's dynamic modules (the Lua module and its NDK). */
  modulesDir: string;
  /** balancer: the port on the pod's 127.0.0.1 where nginx takes the endpoint lists. */
  ports: { http: number; https: number; health: number; balancer: number };
  /** How the endpoint lists reach nginx. */
  balancer: NginxBalancer;
  workers?: number;
  exec: Exec;
  spawn: SpawnChild;
  clock: Clock;
  log: Logger;
  /** Called when nginx exits on its own: the controller cannot serve without it. */
  onNginxExit(err: Error): void;
}

/** What one sync did, for logs and tests. */
export interface SyncResult {
  reloaded: boolean;
  /** Whether new endpoint lists were posted to nginx (without a reload unless `reloaded`). */
  posted: boolean;
  /** Ingresses whose latest version nginx refused. */
  rejected: string[];
  /** Time spent rendering, in `nginx -t`, and reloading (every attempt of this sync), and in all. */
  renderMs: number;
  checkMs: number;
  reloadMs: number;
  /** Time spent posting endpoint lists. */
  postMs: number;
  totalMs: number;
}

export class IngressController {
  private readonly confPath: string;
  private readonly nextPath: string;
  private readonly certDir: string;
  private readonly pidPath: string;
  private readonly endpointsPath: string;
  /** The endpoint lists nginx holds (as last posted), and their text. */
  private posted: EndpointLists = {};
  private postedBody: string | undefined;
  private postMs = 0;
  private nginx: Child | undefined;
  private current: Rendered | undefined;
  /** The version of each Ingress in the running configuration. */
  private accepted = new Map<string, Ingress>();
  /** Ingresses whose latest version nginx refused, with nginx's message. */
  private rejected = new Map<string, string>();
  private running = false;
  private dirty = false;
  private timer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  /** Syncs that reloaded nginx, posts of endpoint lists, and syncs that failed (for logs and the bench). */
  reloads = 0;
  posts = 0;
  failures = 0;

  constructor(private readonly o: IngressControllerOptions) {
    this.confPath = join(o.workDir, 'nginx.conf');
    this.nextPath = join(o.workDir, 'nginx.conf.next');
    this.certDir = join(o.workDir, 'certs');
    this.pidPath = join(o.workDir, 'nginx.pid');
    this.endpointsPath = join(o.workDir, 'endpoints');
  }

  /** Renders, starts nginx with the first configuration it accepts, and follows the cache (which must be started). */
  async start(): Promise<void> {
    mkdirSync(this.certDir, { recursive: true, mode: 0o700 });
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
      mkdirSync(join(this.o.workDir, `${t}_temp`), { recursive: true });
    await this.sync();
    this.unsubscribe = this.o.cache.subscribe(INGRESS_KINDS, () => this.schedule());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.timer?.cancel();
    const n = this.nginx;
    this.nginx = undefined;
    if (n?.running) {
      n.kill('SIGTERM');
      await n.exited;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.timer?.cancel();
    // A short pause merges the rest of a burst (a Service and its slices, an apply of many Ingresses).
    this.timer = this.o.clock.setTimeout(() => void this.runSync(), 20);
  }

  private async runSync(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      await this.sync();
    } catch (err) {
      this.failures += 1;
      this.o.log.error('ingress sync failed; retrying in 1 s', { error: (err as Error).message });
      this.dirty = true;
    } finally {
      this.running = false;
    }
    if (this.dirty && !this.stopped) {
      this.dirty = false;
      this.timer = this.o.clock.setTimeout(() => void this.runSync(), this.failures > 0 ? 1000 : 0);
    }
  }

  /** One pass: render, check, reload if changed, write status. */
  async sync(): Promise<SyncResult> {
    const started = this.o.clock.now();
    const cache = this.o.cache;
    const served = servedIngresses(
      cache.list('Ingress').map((s) => s.object),
      cache.list('IngressClass').map((s) => s.object),
      this.o.controller,
    );
    const render = (ingresses: readonly Ingress[]) =>
      renderNginxConf({
        ingresses,
        services: cache.list('Service').map((s) => s.object),
        slices: cache.list('EndpointSlice').map((s) => s.object),
        secrets: cache.list('Secret').map((s) => s.object),
        paths: { prefix: this.o.workDir, pid: this.pidPath, certDir: this.certDir, modulesDir: this.o.modulesDir },
        ports: this.o.ports,
        ...(this.o.workers === undefined ? {} : { workers: this.o.workers }),
      });

    // Each Ingress as it will be tried: its latest version, or (after nginx refused that) the
    // version nginx last accepted, or nothing.
    const tried = new Map<string, Ingress | null>(served.map((i) => [ingressRef(i), i]));
    const rejected = new Map<string, string>();
    let reloaded = false;
    let renderMs = 0;
    let checkMs = 0;
    let reloadMs = 0;
    this.postMs = 0;
    // The render that is the running configuration, with the current endpoints; undefined when
    // nginx refused the candidate and the running one was kept (then it is rendered again below).
    let live: Rendered | undefined;
    for (let attempt = 0; attempt <= served.length + 1; attempt++) {
      let t = this.o.clock.now();
      const candidate = render([...tried.values()].filter((i): i is Ingress => i !== null));
      renderMs += this.o.clock.now() - t;
      if (this.current && candidate.config === this.current.config) {
        this.current = candidate;
        live = candidate;
        break;
      }
      t = this.o.clock.now();
      const verdict = await this.check(candidate);
      checkMs += this.o.clock.now() - t;
      if (verdict === 'ok') {
        t = this.o.clock.now();
        await this.activate(candidate);
        reloadMs += this.o.clock.now() - t;
        reloaded = true;
        live = candidate;
        this.accepted = new Map([...tried.entries()].flatMap(([k, v]) => (v === null ? [] : [[k, v] as const])));
        break;
      }
      const owner = ownerOfNginxError(candidate, verdict);
      const now = owner === undefined ? undefined : tried.get(owner);
      if (owner === undefined || now === undefined || now === null) {
        this.failures += 1;
        this.o.log.error('nginx refused the configuration; the running one is kept', { error: verdict });
        break;
      }
      rejected.set(owner, firstLine(verdict));
      const last = this.accepted.get(owner);
      const fallback = last !== undefined && canonicalJsonText(last) !== canonicalJsonText(now) ? last : null;
      this.o.log.warn('nginx refused an Ingress; trying without its latest version', {
        ingress: owner,
        fallback: fallback === null ? 'left out' : 'last accepted version',
        error: firstLine(verdict),
      });
      tried.set(owner, fallback);
    }
    this.rejected = rejected;
    if (this.nginx === undefined && this.current === undefined) {
      // Nothing nginx accepts yet (every attempt failed): serve an empty configuration, so that
      // the pod is Ready and the Ingresses' statuses say why.
      const empty = render([]);
      if ((await this.check(empty)) === 'ok') await this.activate(empty);
      live = empty;
    }
    let posted = false;
    if (this.current !== undefined) {
      const lists = (live ?? render([...this.accepted.values()])).endpoints;
      posted = await this.postEndpoints(lists);
    }
    const result = {
      reloaded,
      posted,
      rejected: [...rejected.keys()],
      renderMs,
      checkMs,
      reloadMs,
      postMs: this.postMs,
      totalMs: this.o.clock.now() - started,
    };
    if (reloaded) this.o.log.info('nginx configuration applied', { ...result, rejected: result.rejected });
    else if (posted)
      this.o.log.info('nginx endpoints updated without a reload', { ...result, rejected: result.rejected });
    await this.writeStatuses(served);
    return result;
  }

  /** 'ok', or nginx's error text. */
  private async check(r: Rendered): Promise<'ok' | string> {
    for (const f of r.files) {
      const path = join(this.certDir, f.name);
      if (!existsSync(path)) writeFileSync(path, f.content, { mode: 0o600 });
    }
    writeFileSync(this.nextPath, r.config);
    const res = await this.o.exec.tryRun({
      argv: ['nginx', '-t', '-q', '-e', 'stderr', '-p', this.o.workDir, '-c', this.nextPath],
      context: 'check the rendered nginx configuration',
    });
    return res.exitCode === 0 ? 'ok' : res.stderr.trim() || res.stdout.trim() || `nginx -t exit code ${res.exitCode}`;
  }

  /** Moves the checked configuration into place and reloads nginx (or starts it). */
  private async activate(r: Rendered): Promise<void> {
    renameSync(this.nextPath, this.confPath);
    if (this.nginx?.running) {
      // The old workers' lists stay until they have drained; the new workers' are there at once.
      await this.postEndpoints(mergeEndpointLists(this.posted, r.endpoints));
      // The master re-reads nginx.conf (checked above), starts new workers, and lets the old ones
      // finish; a configuration it cannot apply (a port it cannot bind) leaves the old one running.
      this.nginx.kill('SIGHUP');
      this.reloads += 1;
    } else this.startNginx();
    this.current = r;
    // Certificates no configuration names any more (the reloaded master has read the new ones).
    const keep = new Set(r.files.map((f) => f.name));
    for (const name of readdirSync(this.certDir))
      if (!keep.has(name)) rmSync(join(this.certDir, name), { force: true });
  }

  /**
   * Posts `lists` to nginx unless it holds them already; true when it posted. A just-started
   * nginx may not listen yet: refused posts are retried for 10 s before the error is thrown.
   */
  private async postEndpoints(lists: EndpointLists): Promise<boolean> {
    const body = endpointsBody(lists);
    if (body === this.postedBody) return false;
    const started = this.o.clock.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.o.balancer.setEndpoints(lists);
        break;
      } catch (err) {
        if (attempt >= 200 || this.stopped) throw err;
        await new Promise<void>((r) => this.o.clock.setTimeout(r, 50));
      }
    }
    this.posted = lists;
    this.postedBody = body;
    this.posts += 1;
    this.postMs += this.o.clock.now() - started;
    writeFileSync(`${this.endpointsPath}.next`, body);
    renameSync(`${this.endpointsPath}.next`, this.endpointsPath);
    return true;
  }

  private startNginx(): void {
    const child = this.o.spawn({
      // setpriv: nginx's master dies with this process, whatever kills it.
      argv: [
        'setpriv',
        '--pdeathsig',
        'KILL',
        '--',
        'nginx',
        '-e',
        'stderr',
        '-p',
        this.o.workDir,
        '-c',
        this.confPath,
        '-g',
        'daemon off;',
      ],
      context: 'nginx of the ingress controller',
    });
    child.onStderr((text) => {
      for (const line of text.split('\n')) if (line.trim() !== '') this.o.log.warn('nginx', { line });
    });
    this.nginx = child;
    void child.exited.then((err) => {
      if (this.stopped || this.nginx !== child) return;
      this.o.onNginxExit(err);
    });
  }

  private async writeStatuses(served: readonly Ingress[]): Promise<void> {
    const write = this.o.status;
    if (!write) return;
    const publish = this.o.publishService?.split('/');
    const svc = publish ? this.o.cache.service(publish[0]!, publish[1]!)?.object : undefined;
    const addresses = (svc?.status?.loadBalancer.ingress ?? []).map((i) => i.ip);
    const problems = new Map<string, string[]>();
    for (const p of this.current?.problems ?? [])
      problems.set(p.ingress, [...(problems.get(p.ingress) ?? []), p.message]);
    const now = new Date(this.o.clock.now()).toISOString();
    for (const ing of served) {
      const ref = ingressRef(ing);
      const refusal = this.rejected.get(ref);
      const verdict: IngressVerdict =
        refusal !== undefined
          ? {
              kind: 'rejected',
              message: `nginx refused this Ingress (${this.accepted.has(ref) ? 'its last accepted version stays in force' : 'it is not served'}): ${refusal}`,
            }
          : problems.has(ref)
            ? { kind: 'incomplete', messages: problems.get(ref)! }
            : { kind: 'configured' };
      const want = desiredIngressStatus(ing.status, addresses, verdict, now);
      if (canonicalJsonText(want) !== canonicalJsonText(ing.status ?? null)) await this.putStatus(write, ing, want);
    }
    // An Ingress this controller no longer serves (its class changed or went away) loses the
    // status it wrote (recognized by weft's Configured condition), as ingress-nginx removes its address.
    const servedRefs = new Set(served.map(ingressRef));
    for (const { object: ing } of this.o.cache.list('Ingress'))
      if (!servedRefs.has(ingressRef(ing)) && ing.status?.conditions?.some((c) => c.type === 'Configured'))
        await this.putStatus(write, ing, undefined);
  }

  private async putStatus(write: IngressStatusWriter, ing: Ingress, status: Ingress['status']): Promise<void> {
    if (!(await write(ing, status))) this.dirty = true;
  }
}

function firstLine(text: string): string {
  return (text.split('\n').find((l) => l.includes('[emerg]')) ?? text.split('\n')[0] ?? text).replace(/^nginx: /, '');
}
