/**
 * Which backend an Ingress controller sends an HTTP request to: the routing table of the Ingresses
 * one controller serves, and the match of a request (host, path) against it. Pure, so that the
 * nginx renderer (./nginx-conf.ts), the lab's real-request tests and `weft explain` all share one
 * answer.
 *
 * The Ingress specification (https://kubernetes.io/docs/concepts/services-networking/ingress/,
 * "Path types" and "Multiple matches"; the ingress-controller-conformance features):
 * - Host: a rule's host matches the request's Host (case-insensitive, port dropped) exactly;
 *   `*.example.com` matches exactly one more label (`a.example.com`, not `example.com` nor
 *   `a.b.example.com`); an exact host beats a wildcard. Rules without a host match every host
 *   that no host rule names (ingress-nginx's catch-all server: a host's own rules are not merged
 *   with host-less ones).
 * - Exact matches the path exactly (case-sensitive). Prefix matches by path element: `/foo`
 *   matches `/foo`, `/foo/` and `/foo/bar`, never `/foobar`; a trailing slash in the rule is
 *   ignored; `/` matches everything.
 * - The longest matching path wins; at equal length Exact beats Prefix.
 * - ImplementationSpecific is, in weft, nginx's own plain prefix (`/foo` matches `/foobar`), what
 *   ingress-nginx does without regular expressions.
 * - A request no path matches goes to the default backend (the first served Ingress with
 *   spec.defaultBackend, in namespace/name order), else it gets 404.
 *
 * The table is expressed as nginx location keys (`= /foo` exact, `/foo/` prefix) from the start,
 * with one owner per key: for Exact and Prefix paths this is the specification exactly (Prefix
 * `/foo` is `= /foo` plus `/foo/`, and nginx's longest-prefix choice over keys is the
 * specification's longest path, see routes.test.ts's property against `specMatch`), and it fixes
 * where ImplementationSpecific paths fall among them. Two paths with the same key: the better
 * type wins (Exact, Prefix, ImplementationSpecific), then the Ingress first in namespace/name
 * order; the loser is reported as a conflict.
 */

import type { Ingress, IngressBackend, PathType } from '../k8s/objects.js';

/** A Service port an Ingress routes to. */
export interface BackendRef {
  namespace: string;
  service: string;
  port: { number: number } | { name: string };
}

/** One path of one rule, with the Ingress it came from ("ns/name"). */
export interface PathRoute {
  path: string;
  pathType: PathType;
  backend: BackendRef;
  ingress: string;
}

/** An nginx location: `= /foo` (exact) or a prefix. */
export interface LocationKey {
  exact: boolean;
  path: string;
}

export interface Location {
  key: LocationKey;
  route: PathRoute;
}

/** The routes of one host ("" for the catch-all, `*.x` for a wildcard), locations sorted by key. */
export interface VirtualHost {
  host: string;
  locations: Location[];
  /** The Ingresses whose rules name this host, in order. */
  ingresses: string[];
}

export interface RouteTable {
  /** Sorted by host; the catch-all ("") first when present. */
  hosts: VirtualHost[];
  defaultBackend?: { backend: BackendRef; ingress: string };
  /** Paths that lost their key to another, with the reason, per Ingress. */
  conflicts: Array<{ ingress: string; message: string }>;
}

const TYPE_RANK: Record<PathType, number> = { Exact: 0, Prefix: 1, ImplementationSpecific: 2 };

export function ingressRef(i: Ingress): string {
  return `${i.metadata.namespace}/${i.metadata.name}`;
}

export function backendRefOf(namespace: string, b: IngressBackend): BackendRef {
  return { namespace, service: b.service.name, port: b.service.port };
}

/** A Prefix path without its trailing slashes ("" for "/"). */
function trimSlashes(path: string): string {
  return path.replace(/\/+$/, '');
}

/** The nginx locations one path takes. */
export function locationKeys(path: string, pathType: PathType): LocationKey[] {
  if (pathType === 'Exact') return [{ exact: true, path }];
  if (pathType === 'ImplementationSpecific') return [{ exact: false, path }];
  const base = trimSlashes(path);
  if (base === '') return [{ exact: false, path: '/' }];
  return [
    { exact: true, path: base },
    { exact: false, path: `${base}/` },
  ];
}

function keyText(k: LocationKey): string {
  return `${k.exact ? '=' : '~'}${k.path}`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The routing table of the Ingresses a controller serves (any order: they are sorted by
 * namespace/name here, which decides conflicts).
 */
export function buildRouteTable(ingresses: readonly Ingress[]): RouteTable {
  const sorted = [...ingresses].sort((a, b) => compareText(ingressRef(a), ingressRef(b)));
  const hosts = new Map<string, { keys: Map<string, Location>; ingresses: string[] }>();
  const conflicts: RouteTable['conflicts'] = [];
  let defaultBackend: RouteTable['defaultBackend'];
  const all: Array<{ route: PathRoute; keys: Array<{ host: string; key: string }>; where: string }> = [];
  for (const ing of sorted) {
    const ref = ingressRef(ing);
    if (ing.spec.defaultBackend) {
      if (!defaultBackend)
        defaultBackend = { backend: backendRefOf(ing.metadata.namespace, ing.spec.defaultBackend), ingress: ref };
      else if (defaultBackend.ingress !== ref)
        conflicts.push({
          ingress: ref,
          message: `spec.defaultBackend: not used: the default backend of ${defaultBackend.ingress} (first in namespace/name order) is`,
        });
    }
    for (const [ri, rule] of ing.spec.rules.entries()) {
      if (!rule.http) continue;
      const host = (rule.host ?? '').toLowerCase();
      let vh = hosts.get(host);
      if (!vh) hosts.set(host, (vh = { keys: new Map(), ingresses: [] }));
      if (!vh.ingresses.includes(ref)) vh.ingresses.push(ref);
      for (const [pi, p] of rule.http.paths.entries()) {
        const route: PathRoute = {
          path: p.path,
          pathType: p.pathType,
          backend: backendRefOf(ing.metadata.namespace, p.backend),
          ingress: ref,
        };
        const keys = locationKeys(p.path, p.pathType);
        all.push({
          route,
          keys: keys.map((key) => ({ host, key: keyText(key) })),
          where: `spec.rules[${ri}].http.paths[${pi}]`,
        });
        for (const key of keys) {
          const held = vh.keys.get(keyText(key));
          // The better type keeps the key; among equals, the first (Ingress order, then path order).
          if (held && TYPE_RANK[held.route.pathType] <= TYPE_RANK[p.pathType]) continue;
          vh.keys.set(keyText(key), { key, route });
        }
      }
    }
  }
  // A path that kept none of its keys is never used: reported on its Ingress.
  for (const { route, keys, where } of all) {
    const owners = keys.map((k) => hosts.get(k.host)!.keys.get(k.key)!.route);
    if (owners.some((o) => o === route)) continue;
    const by = owners[0]!;
    conflicts.push({
      ingress: route.ingress,
      message: `${where}: ${route.pathType} ${route.path} on host ${keys[0]!.host || '*'} is shadowed by ${by.pathType} ${by.path} of ${by.ingress}`,
    });
  }
  const out: VirtualHost[] = [...hosts.entries()]
    .sort(([a], [b]) => compareText(a, b))
    .map(([host, vh]) => ({
      host,
      ingresses: vh.ingresses,
      locations: [...vh.keys.entries()].sort(([a], [b]) => compareText(a, b)).map(([, l]) => l),
    }));
  return { hosts: out, ...(defaultBackend ? { defaultBackend } : {}), conflicts };
}

/** The request's Host as matched: lower case, without a port (an IPv6 literal keeps its brackets). */
export function normalizeHost(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d*$/, '').replace(/\.$/, '');
}

/** Does a rule host (exact or `*.suffix`) match a normalized request host? */
export function hostMatches(ruleHost: string, host: string): boolean {
  if (!ruleHost.startsWith('*.')) return ruleHost === host;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot) === ruleHost.slice(1);
}

/** The virtual host a request's Host selects: exact, then the one-label wildcard, then the catch-all. */
export function selectHost(table: RouteTable, host: string): VirtualHost | undefined {
  const h = normalizeHost(host);
  const exact = table.hosts.find((v) => v.host === h);
  if (exact) return exact;
  const wildcard = table.hosts.find((v) => v.host.startsWith('*.') && hostMatches(v.host, h));
  return wildcard ?? table.hosts.find((v) => v.host === '');
}

/** What a request matched. */
export type RouteMatch =
  | { kind: 'rule'; host: string; location: Location; backend: BackendRef; ingress: string }
  | { kind: 'default'; host: string | undefined; backend: BackendRef; ingress: string }
  | { kind: 'none'; host: string | undefined };

/** The request path as matched: without query or fragment. */
export function requestPath(target: string): string {
  const end = target.search(/[?#]/);
  const p = end < 0 ? target : target.slice(0, end);
  return p === '' ? '/' : p;
}

/** The location nginx picks among a host's: an exact key equal to the path, else the longest prefix key. */
export function selectLocation(vh: VirtualHost, path: string): Location | undefined {
  const exact = vh.locations.find((l) => l.key.exact && l.key.path === path);
  if (exact) return exact;
  let best: Location | undefined;
  for (const l of vh.locations)
    if (!l.key.exact && path.startsWith(l.key.path) && (!best || l.key.path.length > best.key.path.length)) best = l;
  return best;
}

/** Where a request for `host` and `target` (path, optionally with a query) goes. */
export function matchRequest(table: RouteTable, host: string, target: string): RouteMatch {
  const vh = selectHost(table, host);
  const location = vh ? selectLocation(vh, requestPath(target)) : undefined;
  if (vh && location)
    return { kind: 'rule', host: vh.host, location, backend: location.route.backend, ingress: location.route.ingress };
  if (table.defaultBackend)
    return {
      kind: 'default',
      host: vh?.host,
      backend: table.defaultBackend.backend,
      ingress: table.defaultBackend.ingress,
    };
  return { kind: 'none', host: vh?.host };
}

/**
 * The specification's own match of a path against Exact and Prefix paths, written from its text
 * and independent of the location keys: Exact matches the path itself; Prefix matches when its
 * elements are the first elements of the path's (a trailing slash ignored); the longest path wins
 * (a Prefix path measured without its trailing slash), Exact first at equal length, the earlier
 * path first among equals. routes.test.ts checks `selectLocation` against it. Returns the index of
 * the winner, or -1.
 */
export function specMatch(paths: ReadonlyArray<{ path: string; pathType: 'Exact' | 'Prefix' }>, path: string): number {
  const elements = (p: string) => p.split('/').filter((e) => e !== '');
  const req = elements(path);
  let best = -1;
  let bestLen = -1;
  paths.forEach((p, i) => {
    let len: number;
    if (p.pathType === 'Exact') {
      if (p.path !== path) return;
      len = p.path.length;
    } else {
      const el = elements(p.path);
      if (el.length > req.length || el.some((e, j) => e !== req[j])) return;
      len = trimSlashes(p.path).length;
    }
    if (len > bestLen || (len === bestLen && p.pathType === 'Exact' && paths[best]!.pathType !== 'Exact')) {
      best = i;
      bestLen = len;
    }
  });
  return best;
}
