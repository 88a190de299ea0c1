/**
 * A small typed client for the Kubernetes API: config from a kubeconfig file or in-cluster, the
 * calls weft makes (get, list, create, update, patch, delete, the status subresource, watch) and
 * the mapping of weft's kinds (src/core/k8s/kinds.ts) and Node to API paths.
 *
 * Why not @kubernetes/client-node: it loads its generated models for the whole API, its own
 * fetch stack and several dependencies on import (tens of MB resident, hundreds of ms at start),
 * while the lab starts one pod runner per node and the agent is long-lived (the same reason as
 * http-get.ts's note on fetch/undici). What weft needs is a handful of REST verbs on JSON and one
 * streaming reader for watches, which node:https does with one keep-alive Agent per client.
 *
 * Errors: a non-2xx answer becomes KubeApiError carrying the API server's Status (code, reason,
 * message) verbatim with the verb and path; a watch that the server ends with 410 Gone (HTTP
 * status or an ERROR event with code 410, "too old resource version") becomes RevisionTooOldError
 * (src/core/k8s/object-key.ts), so consumers list again exactly as after a compacted store log.
 * Connection failures keep Node's error as `cause` and name the server.
 */

import { readFileSync, statSync } from 'node:fs';
import { Agent, request, type RequestOptions } from 'node:https';
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { dirname, isAbsolute, join } from 'node:path';
import { RevisionTooOldError } from '../core/k8s/object-key.js';
import { KIND_INFO, type K8sKind } from '../core/k8s/kinds.js';

/** Where the API server is and who we are to it. */
export interface KubeConfig {
  /** https://host:port (an http:// URL is allowed for tests behind a proxy). */
  server: string;
  /** The CA that signed the server's certificate (PEM); undefined: the system's CAs. */
  ca?: Buffer;
  insecureSkipTlsVerify?: boolean;
  /** A client certificate and key (PEM). */
  cert?: Buffer;
  key?: Buffer;
  /** A bearer token, fixed. */
  token?: string;
  /** A file holding the bearer token, read again when it changes (a projected ServiceAccount token rotates). */
  tokenFile?: string;
  /** Where this config came from, for messages ("kubeconfig /x/admin.kubeconfig", "in-cluster"). */
  source: string;
}

/** A config that cannot be used: names the file (or environment) and the field. */
export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

/** The API server's Status object, as it sends it with every error. */
export interface KubeStatus {
  kind?: 'Status';
  apiVersion?: string;
  status?: string;
  code: number;
  reason?: string;
  message?: string;
  details?: unknown;
}

/** A non-2xx answer: the verb, the path and the server's Status, verbatim. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly verb: string,
    readonly path: string,
    readonly status: KubeStatus,
  ) {
    super(
      `${verb} ${path}: ${status.code}${status.reason ? ` ${status.reason}` : ''}: ${status.message ?? '(no message)'}`,
    );
  }
  get code(): number {
    return this.status.code;
  }
}

/** The server could not be reached or the connection broke (no answer to act on): worth retrying. */
export class KubeConnectionError extends Error {
  override readonly name = 'KubeConnectionError';
}

// ---------------------------------------------------------------------------------------------
// Config

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses kubeconfig text: JSON, else YAML (the yaml module is loaded only then). */
async function parseConfigText(text: string): Promise<unknown> {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const { parse } = await import('yaml');
    return parse(text) as unknown;
  }
}

/**
 * Reads a kubeconfig as kubectl does for its current context: the cluster's server and CA
 * (certificate-authority or -data, insecure-skip-tls-verify), the user's client certificate and
 * key (file or -data) or token (token or tokenFile). Relative file names are relative to the
 * kubeconfig's directory. Anything else a user could hold (exec plugins, auth-provider, basic
 * auth) is refused with its path: weft would otherwise talk to the server as nobody.
 */
export async function loadKubeconfig(path: string, context?: string): Promise<KubeConfig> {
  const where = `kubeconfig ${path}`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeConfigError(`${where}: cannot read it: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = await parseConfigText(text);
  } catch (err) {
    throw new KubeConfigError(`${where}: not YAML or JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObj(doc)) throw new KubeConfigError(`${where}: must be a mapping (apiVersion: v1, kind: Config)`);
  const fail = (field: string, why: string) => new KubeConfigError(`${where}: ${field}: ${why}`);
  const named = (list: string, name: string): { entry: Json; at: string } => {
    const arr = doc[list];
    if (!Array.isArray(arr)) throw fail(list, 'missing (a list of named entries)');
    const i = arr.findIndex((e) => isObj(e) && e.name === name);
    if (i < 0) throw fail(list, `no entry named "${name}"`);
    return { entry: arr[i] as Json, at: `${list}[${i}]` };
  };
  const ctxName = context ?? doc['current-context'];
  if (typeof ctxName !== 'string' || ctxName === '') throw fail('current-context', 'not set (and no context given)');
  const ctx = named('contexts', ctxName);
  const ctxBody = ctx.entry.context;
  if (!isObj(ctxBody)) throw fail(`${ctx.at}.context`, 'missing');
  if (typeof ctxBody.cluster !== 'string') throw fail(`${ctx.at}.context.cluster`, 'missing');
  const cl = named('clusters', ctxBody.cluster);
  const cluster = cl.entry.cluster;
  if (!isObj(cluster)) throw fail(`${cl.at}.cluster`, 'missing');
  const base = dirname(path);
  const file = (field: string, value: unknown): Buffer => {
    if (typeof value !== 'string' || value === '') throw fail(field, 'must be a file name');
    const p = isAbsolute(value) ? value : join(base, value);
    try {
      return readFileSync(p);
    } catch (err) {
      throw fail(field, `cannot read ${p}: ${(err as Error).message}`);
    }
  };
  const data = (field: string, value: unknown): Buffer => {
    if (typeof value !== 'string' || value === '') throw fail(field, 'must be base64 data');
    return Buffer.from(value, 'base64');
  };
  const server = cluster.server;
  if (typeof server !== 'string' || !/^https?:\/\/[^/]+/.test(server))
    throw fail(`${cl.at}.cluster.server`, `must be an https:// URL (got ${JSON.stringify(server)})`);
  const out: KubeConfig = { server: server.replace(/\/+$/, ''), source: where };
  if (cluster['certificate-authority-data'] !== undefined)
    out.ca = data(`${cl.at}.cluster.certificate-authority-data`, cluster['certificate-authority-data']);
  else if (cluster['certificate-authority'] !== undefined)
    out.ca = file(`${cl.at}.cluster.certificate-authority`, cluster['certificate-authority']);
  if (cluster['insecure-skip-tls-verify'] === true) out.insecureSkipTlsVerify = true;

  if (typeof ctxBody.user === 'string' && ctxBody.user !== '') {
    const us = named('users', ctxBody.user);
    const user = us.entry.user ?? {};
    if (!isObj(user)) throw fail(`${us.at}.user`, 'must be a mapping');
    for (const unsupported of ['exec', 'auth-provider', 'username', 'password', 'as', 'as-groups'])
      if (user[unsupported] !== undefined)
        throw fail(
          `${us.at}.user.${unsupported}`,
          'not supported by weft (give a client certificate and key, or a token)',
        );
    if (user['client-certificate-data'] !== undefined)
      out.cert = data(`${us.at}.user.client-certificate-data`, user['client-certificate-data']);
    else if (user['client-certificate'] !== undefined)
      out.cert = file(`${us.at}.user.client-certificate`, user['client-certificate']);
    if (user['client-key-data'] !== undefined) out.key = data(`${us.at}.user.client-key-data`, user['client-key-data']);
    else if (user['client-key'] !== undefined) out.key = file(`${us.at}.user.client-key`, user['client-key']);
    if ((out.cert === undefined) !== (out.key === undefined))
      throw fail(`${us.at}.user`, 'a client certificate needs its key and a key its certificate');
    if (typeof user.token === 'string' && user.token !== '') out.token = user.token;
    else if (typeof user.tokenFile === 'string' && user.tokenFile !== '') {
      out.tokenFile = isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile);
      file(`${us.at}.user.tokenFile`, user.tokenFile);
    }
  }
  return out;
}

/** The files a pod's ServiceAccount is mounted at. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The in-cluster config (client-go's rest.InClusterConfig): KUBERNETES_SERVICE_HOST and _PORT, the
 * pod's ServiceAccount token (re-read when it rotates) and the cluster CA beside it.
 */
export function inClusterConfig(env: NodeJS.ProcessEnv, dir = SERVICE_ACCOUNT_DIR): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new KubeConfigError(
      'in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not running in a pod? give --kubeconfig)',
    );
  const tokenFile = join(dir, 'token');
  let ca: Buffer;
  try {
    readFileSync(tokenFile);
    ca = readFileSync(join(dir, 'ca.crt'));
  } catch (err) {
    throw new KubeConfigError(`in-cluster config: ${(err as Error).message}`, { cause: err });
  }
  const h = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, ca, tokenFile, source: 'in-cluster config' };
}

// ---------------------------------------------------------------------------------------------
// Resources

/** A resource's place in the API. */
export interface KubeResource {
  /** "v1" or "group/version". */
  apiVersion: string;
  kind: string;
  /** The URL segment: pods, networkpolicies. */
  plural: string;
  namespaced: boolean;
}

/** weft's kinds (kinds.ts) as API resources. */
export function resourceOf(kind: K8sKind): KubeResource {
  const i = KIND_INFO[kind];
  return { apiVersion: i.apiVersion, kind, plural: i.plural, namespaced: i.scope === 'Namespaced' };
}

/** Node, which weft does not store as an object but the kube subnet manager reads and annotates. */
export const NODE_RESOURCE: KubeResource = { apiVersion: 'v1', kind: 'Node', plural: 'nodes', namespaced: false };

/** The API path of a resource's collection (namespace undefined: all namespaces) or of one object. */
export function resourcePath(
  r: KubeResource,
  o: { namespace?: string | undefined; name?: string | undefined; subresource?: string | undefined } = {},
): string {
  const prefix = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  if (!r.namespaced && o.namespace !== undefined)
    throw new Error(`${r.kind} is cluster-scoped: no namespace (got "${o.namespace}")`);
  if (o.subresource !== undefined && o.name === undefined) throw new Error(`${r.kind}: a subresource needs a name`);
  let p = prefix;
  if (r.namespaced && o.namespace !== undefined) p += `/namespaces/${encodeURIComponent(o.namespace)}`;
  p += `/${r.plural}`;
  if (o.name !== undefined) p += `/${encodeURIComponent(o.name)}`;
  if (o.subresource !== undefined) p += `/${o.subresource}`;
  return p;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return q.length > 0 ? `?${q.join('&')}` : '';
}

// ---------------------------------------------------------------------------------------------
// The client

/** An object as the API returns it: at least metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface KubeList<T = KubeObject> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; list() follows `continue` to the end (one consistent snapshot). Default 500. */
  limit?: number;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  /** Delete only while the object is this one (uid) or at this version. */
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
}

export type PatchType = 'merge' | 'strategic' | 'json';
const PATCH_CONTENT: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export type KubeWatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface KubeWatchEvent<T = KubeObject> {
  type: KubeWatchEventType;
  object: T;
}

export interface KubeWatchOptions {
  namespace?: string;
  /** Watch changes after this version ("" or undefined: from now, after a synthetic ADDED of every object). */
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  labelSelector?: string;
  fieldSelector?: string;
  /** The server ends the watch after this long (it does anyway after a few minutes). */
  timeoutSeconds?: number;
}

export interface KubeWatchHandler<T = KubeObject> {
  /** Each event, in order; the next waits for the returned promise (the stream is paused meanwhile). */
  onEvent(e: KubeWatchEvent<T>): void | Promise<void>;
  /**
   * The watch ended: undefined when the server closed it normally (watch again from the last
   * version seen), RevisionTooOldError on 410, KubeApiError on another Status, KubeConnectionError
   * when the connection failed. Not called after stop().
   */
  onEnd(err: Error | undefined): void;
}

export interface KubeWatch {
  /** Ends the watch; no event is delivered after the returned promise resolves. */
  stop(): Promise<void>;
}

export interface KubeClientOptions {
  /** Per request (not watches), ms; default 30 s. */
  timeoutMs?: number;
  /** Sent as User-Agent (the API server's audit log and `kubectl get --raw /metrics` show it). */
  userAgent?: string;
}

/** The number in a 410 message "too old resource version: 5 (2000)": the oldest version the server keeps. */
function oldestFrom(message: string | undefined): number | undefined {
  const m = /\((\d+)\)/.exec(message ?? '');
  return m ? Number(m[1]) : undefined;
}

/** A Status (or something that should be one) from a body; keeps whatever the server said. */
function statusOf(code: number, body: string): KubeStatus {
  try {
    const s = JSON.parse(body) as Partial<KubeStatus>;
    if (isObj(s) && s.kind === 'Status') return { ...s, code: typeof s.code === 'number' ? s.code : code };
  } catch {
    // not JSON: said below as it is
  }
  return { code, message: body.trim().slice(0, 500) || '(empty body)' };
}

function tooOld(requested: string | undefined, s: KubeStatus): RevisionTooOldError {
  const req = Number(requested ?? 0);
  const err = new RevisionTooOldError(Number.isFinite(req) ? req : 0, oldestFrom(s.message) ?? 0);
  err.message = `${err.message} (API server: ${s.message ?? s.reason ?? '410 Gone'})`;
  return err;
}

export class KubeClient {
  private readonly agent: Agent | HttpAgent;
  private readonly url: URL;
  private token: { value: string; mtimeMs: number } | undefined;

  constructor(
    readonly config: KubeConfig,
    private readonly o: KubeClientOptions = {},
  ) {
    this.url = new URL(config.server);
    this.agent =
      this.url.protocol === 'http:'
        ? new HttpAgent({ keepAlive: true })
        : new Agent({
            keepAlive: true,
            ...(config.ca ? { ca: config.ca } : {}),
            ...(config.cert ? { cert: config.cert, key: config.key } : {}),
            rejectUnauthorized: config.insecureSkipTlsVerify !== true,
          });
  }

  /** Closes idle keep-alive connections (open watches end only by their stop()). */
  close(): void {
    this.agent.destroy();
  }

  private bearer(): string | undefined {
    if (this.config.token) return this.config.token;
    const f = this.config.tokenFile;
    if (!f) return undefined;
    // A projected token is rotated by the kubelet (about hourly): read it again when the file changed.
    const mtimeMs = statSync(f).mtimeMs;
    if (!this.token || this.token.mtimeMs !== mtimeMs) this.token = { value: readFileSync(f, 'utf8').trim(), mtimeMs };
    return this.token.value;
  }

  private send(
    verb: string,
    path: string,
    body: string | undefined,
    contentType: string | undefined,
    timeoutMs: number | undefined,
    onResponse: (res: IncomingMessage) => void,
    onError: (err: Error) => void,
  ): { abort: () => void } {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.o.userAgent) headers['User-Agent'] = this.o.userAgent;
    let auth: string | undefined;
    try {
      auth = this.bearer();
    } catch (err) {
      onError(new KubeConfigError(`${this.config.source}: token file: ${(err as Error).message}`, { cause: err }));
      return { abort: () => undefined };
    }
    if (auth) headers.Authorization = `Bearer ${auth}`;
    if (body !== undefined) {
      headers['Content-Type'] = contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const opts: RequestOptions = {
      method: verb,
      host: this.url.hostname.replace(/^\[|\]$/g, ''),
      port: this.url.port || (this.url.protocol === 'http:' ? 80 : 443),
      path: `${this.url.pathname.replace(/\/+$/, '')}${path}`,
      headers,
      agent: this.agent,
      ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}),
    };
    const req = (this.url.protocol === 'http:' ? httpRequest : request)(opts, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) =>
      onError(
        new KubeConnectionError(`${verb} ${path}: cannot reach the API server ${this.config.server}: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    if (body !== undefined) req.write(body);
    req.end();
    return { abort: () => req.destroy() };
  }

  /** One call: resolves with the parsed JSON body of a 2xx answer; rejects with KubeApiError otherwise. */
  request<T>(verb: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.send(
        verb,
        path,
        body === undefined ? undefined : JSON.stringify(body),
        contentType,
        this.o.timeoutMs ?? 30_000,
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) =>
            reject(new KubeConnectionError(`${verb} ${path}: the answer broke off: ${err.message}`, { cause: err })),
          );
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            if (code < 200 || code > 299) {
              reject(new KubeApiError(verb, path, statusOf(code, text)));
              return;
            }
            try {
              resolve(JSON.parse(text) as T);
            } catch (err) {
              reject(new Error(`${verb} ${path}: the answer is not JSON: ${text.slice(0, 200)}`, { cause: err }));
            }
          });
        },
        reject,
      );
    });
  }

  get<T = KubeObject>(r: KubeResource, name: string, namespace?: string): Promise<T> {
    return this.request('GET', resourcePath(r, { namespace, name }));
  }

  /** The object, or undefined on 404. */
  async find<T = KubeObject>(r: KubeResource, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.get<T>(r, name, namespace);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  /**
   * Every object of a resource (in a namespace, or all), following `continue` pages: one
   * snapshot, whose resourceVersion is the list's (watch from it). A continue token that expired
   * (410) surfaces as RevisionTooOldError: list again.
   */
  async list<T = KubeObject>(r: KubeResource, o: ListOptions = {}): Promise<KubeList<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const path =
        resourcePath(r, { namespace: o.namespace }) +
        query({
          labelSelector: o.labelSelector,
          fieldSelector: o.fieldSelector,
          limit: o.limit ?? 500,
          continue: cont,
        });
      let page: KubeList<T>;
      try {
        page = await this.request<KubeList<T>>('GET', path);
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 410 && cont !== undefined) throw tooOld(undefined, err.status);
        throw err;
      }
      items.push(...page.items);
      if (cont === undefined) rv = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont !== undefined);
    return { metadata: { resourceVersion: rv }, items };
  }

  create<T = KubeObject>(r: KubeResource, obj: unknown, namespace?: string): Promise<T> {
    return this.request('POST', resourcePath(r, { namespace }), obj);
  }

  /** PUT: replaces the object; metadata.resourceVersion in `obj` makes it conditional (409 Conflict when stale). */
  update<T = KubeObject>(r: KubeResource, obj: KubeObject): Promise<T> {
    return this.request('PUT', resourcePath(r, { namespace: obj.metadata.namespace, name: obj.metadata.name }), obj);
  }

  /** PUT to the status subresource: only status is written (and spec changes in `obj` are ignored). */
  updateStatus<T = KubeObject>(r: KubeResource, obj: KubeObject): Promise<T> {
    const path = resourcePath(r, { namespace: obj.metadata.namespace, name: obj.metadata.name, subresource: 'status' });
    return this.request('PUT', path, obj);
  }

  patch<T = KubeObject>(
    r: KubeResource,
    name: string,
    patch: unknown,
    o: { namespace?: string; type?: PatchType; subresource?: string } = {},
  ): Promise<T> {
    const path = resourcePath(r, { namespace: o.namespace, name, subresource: o.subresource });
    return this.request('PATCH', path, patch, PATCH_CONTENT[o.type ?? 'merge']);
  }

  /** Deletes; resolves with what the server answers (the object, or a Status). 404 rejects. */
  delete(r: KubeResource, name: string, namespace?: string, o: DeleteOptions = {}): Promise<unknown> {
    const body: Json = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (o.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = o.gracePeriodSeconds;
    if (o.preconditions) body.preconditions = o.preconditions;
    if (o.propagationPolicy) body.propagationPolicy = o.propagationPolicy;
    return this.request('DELETE', resourcePath(r, { namespace, name }), body);
  }

  /**
   * A watch: GET ?watch=1, read as JSON lines. Each line is one event; BOOKMARK events carry only
   * metadata.resourceVersion. The stream is paused while a handler's promise is pending, so a
   * slow consumer gets backpressure rather than an unbounded buffer.
   */
  watch<T = KubeObject>(r: KubeResource, o: KubeWatchOptions, handler: KubeWatchHandler<T>): KubeWatch {
    const path =
      resourcePath(r, { namespace: o.namespace }) +
      query({
        watch: 1,
        resourceVersion: o.resourceVersion,
        allowWatchBookmarks: o.allowWatchBookmarks ? 'true' : undefined,
        labelSelector: o.labelSelector,
        fieldSelector: o.fieldSelector,
        timeoutSeconds: o.timeoutSeconds,
      });
    let stopped = false;
    let ended = false;
    let res: IncomingMessage | undefined;
    let chain: Promise<void> = Promise.resolve();
    const end = (err: Error | undefined) => {
      if (ended) return;
      ended = true;
      res?.destroy();
      if (!stopped) handler.onEnd(err);
    };
    const call = this.send(
      'GET',
      path,
      undefined,
      undefined,
      undefined,
      (r2) => {
        res = r2;
        const code = r2.statusCode ?? 0;
        if (code !== 200) {
          const chunks: Buffer[] = [];
          r2.on('data', (c: Buffer) => chunks.push(c));
          r2.on('end', () => {
            const s = statusOf(code, Buffer.concat(chunks).toString('utf8'));
            end(code === 410 ? tooOld(o.resourceVersion, s) : new KubeApiError('WATCH', path, s));
          });
          r2.on('error', (err) => end(new KubeConnectionError(`WATCH ${path}: ${err.message}`, { cause: err })));
          return;
        }
        let buf = '';
        r2.setEncoding('utf8');
        const line = (text: string): void => {
          if (text.trim() === '') return;
          let ev: KubeWatchEvent<T> | { type: 'ERROR'; object: KubeStatus };
          try {
            ev = JSON.parse(text) as KubeWatchEvent<T> | { type: 'ERROR'; object: KubeStatus };
          } catch (err) {
            end(new Error(`WATCH ${path}: a line is not JSON: ${text.slice(0, 200)}`, { cause: err }));
            return;
          }
          if (ev.type === 'ERROR') {
            const s = statusOf(ev.object.code ?? 500, JSON.stringify(ev.object));
            end(s.code === 410 ? tooOld(o.resourceVersion, s) : new KubeApiError('WATCH', path, s));
            return;
          }
          const e = ev;
          chain = chain.then(async () => {
            if (stopped || ended) return;
            r2.pause();
            try {
              await handler.onEvent(e);
            } catch (err) {
              end(new Error(`WATCH ${path}: the handler failed: ${(err as Error).message}`, { cause: err }));
              return;
            }
            if (!ended && !stopped) r2.resume();
          });
        };
        r2.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const text = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            line(text);
          }
        });
        r2.on('end', () => {
          if (buf.trim() !== '') line(buf);
          void chain.then(() => end(undefined));
        });
        r2.on(
          'error',
          (err) =>
            void chain.then(() =>
              end(new KubeConnectionError(`WATCH ${path}: the stream broke off: ${err.message}`, { cause: err })),
            ),
        );
        r2.on(
          'aborted',
          () => void chain.then(() => end(new KubeConnectionError(`WATCH ${path}: the stream was aborted`))),
        );
      },
      (err) => end(err),
    );
    return {
      stop: async () => {
        stopped = true;
        call.abort();
        res?.destroy();
        await chain;
      },
    };
  }
}

/**
 * A client made on first use and kept once it works: a kubeconfig that cannot be read rejects that
 * call, and the next call tries again (the caller's retry loop reports it), as the agent and weft
 * dns both need.
 */
export function lazyKubeClient(
  kubeconfig: string | undefined,
  env: NodeJS.ProcessEnv,
  o: KubeClientOptions = {},
): () => Promise<KubeClient> {
  let client: Promise<KubeClient> | undefined;
  return () =>
    (client ??= openKubeClient(kubeconfig, env, o).catch((err: unknown) => {
      client = undefined;
      throw err;
    }));
}

/** Opens a client from --kubeconfig PATH, or in-cluster without one. */
export async function openKubeClient(
  kubeconfig: string | undefined,
  env: NodeJS.ProcessEnv,
  o: KubeClientOptions = {},
): Promise<KubeClient> {
  const config = kubeconfig ? await loadKubeconfig(kubeconfig) : inClusterConfig(env);
  return new KubeClient(config, o);
}
