/**
 * The nginx configuration an ingress controller pod runs, rendered from the Ingresses it serves
 * and the Services and TLS Secrets they name, and beside it the endpoint lists of its upstreams
 * (the ingress-nginx model): the configuration holds no endpoint, so a pod coming or going changes
 * only the lists, which the controller posts to the running nginx (./nginx-lua.ts), and nginx is
 * reloaded only when the configuration itself changes. Pure and deterministic (everything
 * sorted), so "did anything change" is a string compare and the same cluster always gives the
 * same text.
 *
 * - Routing is ./routes.ts's table, one nginx `server` per host: exact hosts by server_name, a
 *   wildcard `*.x` by a regular expression of exactly one label (nginx's own `*.x` would match
 *   any depth, the specification says one label), the catch-all as the default server. Paths are
 *   the table's location keys, `location = "/foo"` and `location "/foo/"`; no regular-expression
 *   locations exist, so nginx's choice is "exact, else longest prefix", which is the table's.
 * - Upstreams are the Service's ready endpoints themselves (no ClusterIP hop), named
 *   `<namespace>.<service>.<port>` (neither name has a dot, so no two collide), with keepalive.
 *   One upstream per backend whose Service and port exist, whether or not it has endpoints: its
 *   peer is picked by the Lua balancer from `endpoints[name]`, and `proxy_next_upstream error
 *   timeout` retries the next endpoint when one refuses or times out. A backend with no ready
 *   endpoint answers 503 (from Lua, so that the count going to zero is no reload either); one
 *   whose Service or port is missing answers 503 from the configuration.
 * - The endpoint-list server listens on 127.0.0.1 only (the pod's own loopback).
 * - TLS: a host listed in an Ingress's tls with a Secret of type kubernetes.io/tls gets a 443
 *   server with that certificate (nginx picks it by SNI), and its port-80 server redirects to
 *   HTTPS (308, as ingress-nginx). A tls entry without hosts gives the catch-all its certificate;
 *   otherwise the catch-all's 443 rejects the handshake. Certificate files are named by a hash of
 *   their content, so a new render never rewrites a file the running configuration reads.
 * - X-Real-IP is the client's address, X-Forwarded-For appends it, X-Forwarded-Proto the scheme.
 *
 * Each line is tagged with the Ingress it came from, so that an `nginx -t` error at line N is
 * reported on the Ingress that made that line (see lineOwners).
 */

import type { EndpointSlice, Ingress, Secret, Service, ServicePort } from '../k8s/objects.js';
import { TLS_SECRET_TYPE } from '../k8s/objects.js';
import { shortHash } from '../names.js';
import { endpointsOf } from '../services/service-table.js';
import { ENDPOINTS_DICT, ENDPOINTS_PATH, LUA_INIT, type EndpointLists } from './nginx-lua.js';
import { buildRouteTable, ingressRef, type BackendRef, type RouteTable, type VirtualHost } from './routes.js';

export interface RenderInput {
  /** The Ingresses this controller serves (class already decided). */
  ingresses: readonly Ingress[];
  services: readonly Service[];
  slices: readonly EndpointSlice[];
  secrets: readonly Secret[];
  /**
   * Absolute paths the configuration names: the nginx prefix (temp dirs), the pid file, the
   * certificate directory, and the directory of nginx's dynamic modules (Debian: /usr/lib/nginx/modules).
   */
  paths: { prefix: string; pid: string; certDir: string; modulesDir: string };
  /** balancer: the port on 127.0.0.1 where the controller posts the endpoint lists. */
  ports: { http: number; https: number; health: number; balancer: number };
  /** worker_processes (default 1). */
  workers?: number;
}

export interface RenderedFile {
  /** A name inside paths.certDir. */
  name: string;
  content: string;
}

export interface Rendered {
  config: string;
  /** The ready endpoints of each upstream the configuration names, for the Lua balancer. */
  endpoints: EndpointLists;
  /** Certificate files (certificate then key, PEM) the configuration names. */
  files: RenderedFile[];
  /** The Ingress ("ns/name") each line of config came from ("" for shared lines); index 0 is line 1. */
  lineOwners: string[];
  /** The Ingress ("ns/name") whose tls entry first named each certificate file. */
  fileOwners: Record<string, string>;
  /** What the render could not honour, per Ingress (a missing Secret or Service, a shadowed path). */
  problems: Array<{ ingress: string; message: string }>;
  table: RouteTable;
}

/** A string as an nginx quoted token. */
export function nginxQuote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The server_name of a host: itself, a one-label regular expression for `*.x`, `_` for the catch-all. */
export function serverName(host: string): string {
  if (host === '') return '_';
  if (!host.startsWith('*.')) return host;
  return `"~^[^.]+${host.slice(1).replace(/\./g, '\\.')}$"`;
}

/** The upstream block name of a backend. */
export function upstreamName(b: BackendRef): string {
  const port = 'number' in b.port ? String(b.port.number) : b.port.name;
  return `${b.namespace}.${b.service}.${port}`;
}

/** The Service port a backend names (by number or by name). */
export function findServicePort(s: Service, b: BackendRef): ServicePort | undefined {
  return s.spec.ports.find((p) => ('number' in b.port ? p.port === b.port.number : p.name === b.port.name));
}

function base64Text(b64: string): string {
  return atob(b64);
}

/**
 * A location's body: proxy_pass to an upstream, naming it in $weft_upstream for the one
 * http-level access check (503 without endpoints); or 503 when there is no upstream. One Lua
 * block for every location, not one each: nginx compiles each distinct block at every `nginx -t`
 * and reload, which with 1,000 Ingresses took longer than the rest of the configuration.
 */
function proxyTo(upstream: string | undefined): string {
  if (upstream === undefined) return 'return 503;';
  return `set $weft_upstream ${luaQuote(upstream)}; proxy_pass http://${upstream};`;
}

/** An upstream name as a quoted token for nginx and Lua (names are DNS labels and dots: nothing to escape, checked). */
function luaQuote(name: string): string {
  if (!/^[a-z0-9.-]+$/.test(name)) throw new Error(`upstream name ${JSON.stringify(name)}: not a DNS name`);
  return `"${name}"`;
}

class Lines {
  readonly text: string[] = [];
  readonly owners: string[] = [];
  add(line: string, owner = ''): void {
    this.text.push(line);
    this.owners.push(owner);
  }
}

export function renderNginxConf(input: RenderInput): Rendered {
  const ingresses = [...input.ingresses].sort((a, b) => (ingressRef(a) < ingressRef(b) ? -1 : 1));
  const table = buildRouteTable(ingresses);
  const problems: Rendered['problems'] = [...table.conflicts];
  const services = new Map(input.services.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const secrets = new Map(input.secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));

  // Upstreams: one per backend in use whose Service and port exist, with its ready endpoints.
  const upstreams = new Map<string, string[] | undefined>();
  const reported = new Set<string>();
  const upstreamOf = (b: BackendRef, ingress: string): string | undefined => {
    const name = upstreamName(b);
    if (upstreams.has(name)) return upstreams.get(name) ? name : undefined;
    const report = (message: string) => {
      if (!reported.has(`${ingress} ${name}`)) problems.push({ ingress, message });
      reported.add(`${ingress} ${name}`);
    };
    const svc = services.get(`${b.namespace}/${b.service}`);
    const port = svc ? findServicePort(svc, b) : undefined;
    if (!svc) report(`service ${b.namespace}/${b.service} not found: its paths answer 503`);
    else if (!port)
      report(
        `service ${b.namespace}/${b.service} has no port ${'number' in b.port ? b.port.number : JSON.stringify(b.port.name)}: its paths answer 503`,
      );
    const servers =
      svc && port
        ? [
            ...new Set(
              endpointsOf(svc, port, input.slices)
                .filter((e) => e.ready)
                .map((e) => `${e.ip}:${e.port}`),
            ),
          ].sort()
        : undefined;
    upstreams.set(name, servers);
    return servers ? name : undefined;
  };

  // Certificates: host → file, from the served Ingresses' tls entries in order (first wins).
  const files = new Map<string, string>();
  const fileOwners: Record<string, string> = {};
  const certOfHost = new Map<string, string>();
  let defaultCert: string | undefined;
  for (const ing of ingresses) {
    const ref = ingressRef(ing);
    ing.spec.tls.forEach((t, i) => {
      if (t.secretName === undefined) return;
      const secret = secrets.get(`${ing.metadata.namespace}/${t.secretName}`);
      if (!secret)
        return problems.push({
          ingress: ref,
          message: `spec.tls[${i}].secretName: secret ${ing.metadata.namespace}/${t.secretName} not found: its hosts are served over HTTP only`,
        });
      const crt = secret.data['tls.crt'];
      const key = secret.data['tls.key'];
      if (secret.type !== TLS_SECRET_TYPE || crt === undefined || key === undefined)
        return problems.push({
          ingress: ref,
          message: `spec.tls[${i}].secretName: secret ${ing.metadata.namespace}/${t.secretName} is not of type ${TLS_SECRET_TYPE}: its hosts are served over HTTP only`,
        });
      const pem = `${base64Text(crt).trimEnd()}\n${base64Text(key).trimEnd()}\n`;
      const name = `${shortHash(pem)}-${pem.length}.pem`;
      files.set(name, pem);
      fileOwners[name] ??= ref;
      if (t.hosts.length === 0) defaultCert ??= name;
      for (const h of t.hosts) if (!certOfHost.has(h)) certOfHost.set(h, name);
    });
  }
  const certPath = (name: string) => `${input.paths.certDir}/${name}`;

  const out = new Lines();
  const add = (line: string, owner = '') => out.add(line, owner);
  add(`# Rendered by weft ingress from ${ingresses.length} Ingresses; endpoints are posted to the Lua balancer.`);
  add(`load_module ${nginxQuote(`${input.paths.modulesDir}/ndk_http_module.so`)};`);
  add(`load_module ${nginxQuote(`${input.paths.modulesDir}/ngx_http_lua_module.so`)};`);
  add(`worker_processes ${input.workers ?? 1};`);
  add(`pid ${nginxQuote(input.paths.pid)};`);
  add('error_log stderr warn;');
  // Workers run as root: the pod's files are root's, and the lab has no other users to protect.
  add('user root;');
  add('events {');
  add('  worker_connections 4096;');
  add('}');
  add('http {');
  add('  access_log off;');
  add('  server_tokens off;');
  add('  server_names_hash_bucket_size 128;');
  // Room for every host (nginx refuses to start when its server-name hash cannot be built).
  add(`  server_names_hash_max_size ${Math.max(512, 2 ** Math.ceil(Math.log2(2 * table.hosts.length + 1)))};`);
  add('  default_type text/plain;');
  for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    add(`  ${t}_temp_path ${nginxQuote(`${input.paths.prefix}/${t}_temp`)};`);
  add('  proxy_http_version 1.1;');
  add('  proxy_set_header Connection "";');
  add('  proxy_set_header Host $host;');
  add('  proxy_set_header X-Real-IP $remote_addr;');
  add('  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;');
  add('  proxy_set_header X-Forwarded-Proto $scheme;');
  add('  proxy_set_header X-Forwarded-Host $host;');
  add('  proxy_connect_timeout 2s;');
  add('  proxy_send_timeout 30s;');
  add('  proxy_read_timeout 30s;');
  add('  proxy_next_upstream error timeout;');
  add('  proxy_next_upstream_tries 3;');
  add(`  lua_shared_dict ${ENDPOINTS_DICT} 32m;`);
  // Every location that proxies names its upstream in $weft_upstream; the others (return, Lua
  // content) never reach the access phase with it set.
  add('  access_by_lua_block { weft.require_endpoints(ngx.var.weft_upstream) }');
  add('  init_by_lua_block {');
  for (const line of LUA_INIT.trim().split('\n')) add(`    ${line.trim() === '' ? '' : line.replace(/^ {4}/, '')}`);
  add('  }');

  // Servers are rendered into a second buffer first: they decide which upstreams exist.
  const servers = new Lines();
  const locationLines = (vh: VirtualHost | undefined, indent: string) => {
    let hasRoot = false;
    for (const l of vh?.locations ?? []) {
      const owner = l.route.ingress;
      const up = upstreamOf(l.route.backend, owner);
      if (!l.key.exact && l.key.path === '/') hasRoot = true;
      servers.add(
        `${indent}location ${l.key.exact ? '= ' : ''}${nginxQuote(l.key.path)} { ${proxyTo(up)} } # ${l.route.pathType} ${l.route.path} of ${owner}`,
        owner,
      );
    }
    if (hasRoot) return;
    const d = table.defaultBackend;
    if (!d) return servers.add(`${indent}location / { return 404; }`);
    const up = upstreamOf(d.backend, d.ingress);
    servers.add(`${indent}location / { ${proxyTo(up)} } # default backend of ${d.ingress}`, d.ingress);
  };
  const catchAll = table.hosts.find((h) => h.host === '');
  servers.add('  server {');
  servers.add(`    listen ${input.ports.http} default_server;`);
  servers.add(`    listen ${input.ports.https} ssl default_server;`);
  servers.add('    server_name _;');
  if (defaultCert) {
    servers.add(`    ssl_certificate ${nginxQuote(certPath(defaultCert))};`);
    servers.add(`    ssl_certificate_key ${nginxQuote(certPath(defaultCert))};`);
  } else servers.add('    ssl_reject_handshake on;');
  locationLines(catchAll, '    ');
  servers.add('  }');
  for (const vh of table.hosts) {
    if (vh.host === '') continue;
    const owner = vh.ingresses[0] ?? '';
    const cert = certOfHost.get(vh.host);
    servers.add('  server {', owner);
    servers.add(`    listen ${input.ports.http};`, owner);
    servers.add(`    server_name ${serverName(vh.host)};`, owner);
    if (cert) servers.add('    location / { return 308 https://$host$request_uri; }', owner);
    else locationLines(vh, '    ');
    servers.add('  }', owner);
    if (!cert) continue;
    servers.add('  server {', owner);
    servers.add(`    listen ${input.ports.https} ssl;`, owner);
    servers.add(`    server_name ${serverName(vh.host)};`, owner);
    servers.add(`    ssl_certificate ${nginxQuote(certPath(cert))};`, owner);
    servers.add(`    ssl_certificate_key ${nginxQuote(certPath(cert))};`, owner);
    locationLines(vh, '    ');
    servers.add('  }', owner);
  }
  servers.add('  server {');
  servers.add(`    listen ${input.ports.health};`);
  // $weft_upstream set empty where nothing is proxied, or nginx warns of an uninitialized variable.
  servers.add('    location = /healthz { set $weft_upstream ""; content_by_lua_block { weft.healthz() } }');
  servers.add('  }');
  // Only the controller, inside the pod, posts here (the pod's loopback is its own).
  servers.add('  server {');
  servers.add(`    listen 127.0.0.1:${input.ports.balancer};`);
  servers.add(
    `    location = ${ENDPOINTS_PATH} { set $weft_upstream ""; client_max_body_size 16m; client_body_buffer_size 16m; content_by_lua_block { weft.post_endpoints() } }`,
  );
  servers.add('  }');

  const endpoints: Record<string, string[]> = {};
  for (const [name, addrs] of [...upstreams.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (addrs === undefined) continue;
    endpoints[name] = addrs;
    // The server is a placeholder nginx needs; the balancer sets the real peer of every try. The
    // keepalive directive must follow balancer_by_lua_block (it wraps the balancer's peer choice).
    add(`  upstream ${name} {`);
    add('    server 0.0.0.1;');
    add(`    balancer_by_lua_block { weft.balance(${luaQuote(name)}) }`);
    add('    keepalive 32;');
    add('  }');
  }
  servers.text.forEach((line, i) => add(line, servers.owners[i]));
  add('}');
  return {
    config: `${out.text.join('\n')}\n`,
    endpoints,
    files: [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, content]) => ({ name, content })),
    lineOwners: out.owners,
    fileOwners,
    problems,
    table,
  };
}

/**
 * The Ingress an `nginx -t` error is about: the one whose certificate file it names (nginx reports
 * a bad key or certificate by file, with no line), else the one that made the line it names
 * ("… in /path/nginx.conf:42"); undefined when neither is an Ingress's.
 */
export function ownerOfNginxError(rendered: Rendered, message: string): string | undefined {
  for (const [name, owner] of Object.entries(rendered.fileOwners)) if (message.includes(name)) return owner;
  const emerg = message.split('\n').find((l) => l.includes('[emerg]')) ?? message;
  const m = /:(\d+)\s*$/.exec(emerg.trim());
  if (!m) return undefined;
  const owner = rendered.lineOwners[Number(m[1]) - 1];
  return owner === '' || owner === undefined ? undefined : owner;
}
