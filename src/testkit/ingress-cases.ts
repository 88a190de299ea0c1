/**
 * The Ingress path and host table: one set of Ingresses and the backend the specification says
 * each (host, path) request reaches. The unit tests (src/core/ingress/routes.test.ts) check the
 * pure matcher against it; the lab test (test/ingress.test.ts) sends each request for real
 * through nginx, so the table proves that the rendered locations implement the specification and
 * not nginx's own location rules.
 *
 * Backends are the Services a, b, c, d and def (the default backend) in namespace `routes`;
 * 404 means no rule and no default backend would match (never here: `def` catches the rest).
 */

export const ROUTES_NAMESPACE = 'routes';
export const ROUTE_SERVICES = ['a', 'b', 'c', 'd', 'def'] as const;
export type RouteService = (typeof ROUTE_SERVICES)[number];

const svc = (name: string, port: string) =>
  port === 'http' ? `{service: {name: ${name}, port: {name: http}}}` : `{service: {name: ${name}, port: {number: 80}}}`;

/** The Ingresses of the table (class left to the default IngressClass). */
export const ROUTE_INGRESSES = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: routes, namespace: ${ROUTES_NAMESPACE}}
spec:
  rules:
  - host: exact.example.com
    http:
      paths:
      - {path: /foo, pathType: Exact, backend: ${svc('a', '80')}}
      - {path: /foo, pathType: Prefix, backend: ${svc('b', 'http')}}
      - {path: /foo/bar, pathType: Prefix, backend: ${svc('c', '80')}}
      - {path: /aaa/bbb/, pathType: Prefix, backend: ${svc('a', 'http')}}
      - {path: /imp, pathType: ImplementationSpecific, backend: ${svc('d', '80')}}
      - {path: /, pathType: Exact, backend: ${svc('c', '80')}}
  - host: "*.wild.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: ${svc('a', '80')}}
      - {path: /api, pathType: Prefix, backend: ${svc('b', '80')}}
  - host: x.wild.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: ${svc('c', '80')}}
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: ${svc('d', '80')}}
      - {path: /exact, pathType: Exact, backend: ${svc('a', '80')}}
  - host: prefix-only.example.com
    http:
      paths:
      - {path: /app, pathType: Prefix, backend: ${svc('a', '80')}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: fallback, namespace: ${ROUTES_NAMESPACE}}
spec:
  defaultBackend: ${svc('def', '80')}
---
# Loses every path to "routes" (first in namespace/name order; Exact and Prefix before ImplementationSpecific).
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: zz-shadow, namespace: ${ROUTES_NAMESPACE}}
spec:
  rules:
  - host: exact.example.com
    http:
      paths:
      - {path: /foo, pathType: Exact, backend: ${svc('d', '80')}}
      - {path: /foo/, pathType: ImplementationSpecific, backend: ${svc('d', '80')}}
`;

export interface RouteCase {
  host: string;
  /** Path and query, as sent. */
  path: string;
  want: RouteService | 404;
  why: string;
}

export const ROUTE_CASES: readonly RouteCase[] = [
  { host: 'exact.example.com', path: '/foo', want: 'a', why: 'Exact beats Prefix at equal length' },
  { host: 'exact.example.com', path: '/foo/', want: 'b', why: 'Prefix /foo matches /foo/' },
  { host: 'exact.example.com', path: '/foo/baz', want: 'b', why: 'Prefix matches by element' },
  { host: 'exact.example.com', path: '/foobar', want: 'def', why: 'Prefix /foo does not match /foobar' },
  { host: 'exact.example.com', path: '/foo/bar', want: 'c', why: 'longest Prefix wins' },
  { host: 'exact.example.com', path: '/foo/bar/', want: 'c', why: 'longest Prefix, trailing slash' },
  { host: 'exact.example.com', path: '/foo/bar/baz', want: 'c', why: 'longest Prefix, deeper' },
  { host: 'exact.example.com', path: '/foo/barbaz', want: 'b', why: '/foo/bar does not match /foo/barbaz' },
  { host: 'exact.example.com', path: '/foo/ba', want: 'b', why: 'a partial element is no match' },
  { host: 'exact.example.com', path: '/aaa/bbb', want: 'a', why: "a rule's trailing slash is ignored" },
  { host: 'exact.example.com', path: '/aaa/bbb/', want: 'a', why: 'trailing slash on both' },
  { host: 'exact.example.com', path: '/aaa/bbb/ccc', want: 'a', why: 'below a trailing-slash Prefix' },
  { host: 'exact.example.com', path: '/aaa/bbbxyz', want: 'def', why: 'no element match' },
  { host: 'exact.example.com', path: '/aaa', want: 'def', why: 'a shorter path is no match' },
  { host: 'exact.example.com', path: '/imp', want: 'd', why: 'ImplementationSpecific, itself' },
  { host: 'exact.example.com', path: '/impx', want: 'd', why: "ImplementationSpecific is nginx's plain prefix" },
  { host: 'exact.example.com', path: '/imp/y', want: 'd', why: 'ImplementationSpecific, below' },
  { host: 'exact.example.com', path: '/', want: 'c', why: 'Exact /' },
  { host: 'exact.example.com', path: '/?q=1', want: 'c', why: 'the query is not part of the path' },
  { host: 'exact.example.com', path: '/foo?x=/bar', want: 'a', why: 'a query holding a path' },
  { host: 'exact.example.com', path: '/FOO', want: 'def', why: 'paths are case-sensitive' },
  { host: 'EXACT.example.com', path: '/foo', want: 'a', why: 'hosts are case-insensitive' },
  { host: 'exact.example.com:80', path: '/foo', want: 'a', why: "the Host header's port is ignored" },
  { host: 'y.wild.example.com', path: '/', want: 'a', why: 'a wildcard host' },
  { host: 'y.wild.example.com', path: '/api', want: 'b', why: 'wildcard host, Prefix' },
  { host: 'y.wild.example.com', path: '/api/v1', want: 'b', why: 'wildcard host, deeper' },
  { host: 'y.wild.example.com', path: '/apix', want: 'a', why: 'wildcard host, no element match' },
  { host: 'y.wild.example.com', path: '/API', want: 'a', why: 'wildcard host, case-sensitive path' },
  {
    host: 'x.wild.example.com',
    path: '/api',
    want: 'c',
    why: "an exact host beats the wildcard (no merge of the wildcard's paths)",
  },
  { host: 'x.wild.example.com', path: '/', want: 'c', why: 'exact host beats the wildcard' },
  { host: 'a.b.wild.example.com', path: '/', want: 'd', why: 'a wildcard matches exactly one label' },
  { host: 'wild.example.com', path: '/', want: 'd', why: 'a wildcard needs its label' },
  { host: 'other.example.com', path: '/', want: 'd', why: 'rules without a host match any other host' },
  { host: 'other.example.com', path: '/exact', want: 'a', why: 'host-less Exact' },
  { host: 'other.example.com', path: '/exact/', want: 'd', why: 'Exact does not match a trailing slash' },
  { host: 'other.example.com', path: '/exactly', want: 'd', why: 'Exact is not a prefix' },
  { host: '10.1.2.3', path: '/anything', want: 'd', why: 'an address as Host goes to the host-less rules' },
  { host: 'prefix-only.example.com', path: '/app', want: 'a', why: 'Prefix, itself' },
  { host: 'prefix-only.example.com', path: '/app/', want: 'a', why: 'Prefix, trailing slash' },
  { host: 'prefix-only.example.com', path: '/app/x', want: 'a', why: 'Prefix, below' },
  { host: 'prefix-only.example.com', path: '/application', want: 'def', why: 'not the element' },
  {
    host: 'prefix-only.example.com',
    path: '/',
    want: 'def',
    why: "unmatched in a host's own rules: the default backend",
  },
  { host: 'prefix-only.example.com', path: '/other', want: 'def', why: 'the default backend, not the host-less rules' },
];

/**
 * The namespace, the backend pods (`weft echo-http` on 8080, one per Service, named like it) and
 * their Services (port 80 "http" → 8080), for a lab: `weft` is the argv that starts weft's CLI.
 */
export function routeBackendsManifest(
  weft: readonly string[],
  namespace = ROUTES_NAMESPACE,
  names: readonly string[] = ROUTE_SERVICES,
): string {
  const docs: object[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }];
  for (const name of names) {
    docs.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
    docs.push(echoPod(weft, namespace, name, { app: name }));
  }
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}

/** A pod running `weft echo-http` on 8080 (port "http"), Ready once it answers. */
export function echoPod(
  weft: readonly string[],
  namespace: string,
  name: string,
  labels: Record<string, string>,
  extra: Record<string, unknown> = {},
): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: {
      ...extra,
      containers: [
        {
          name: 'http',
          // What a cluster would pull; the lab's kubelet runs the command (the API server requires an image).
          image: 'localhost/weft:0.1.0',
          command: [...weft, 'echo-http', '--listen', '0.0.0.0:8080'],
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
        },
      ],
    },
  };
}
