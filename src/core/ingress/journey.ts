/**
 * `weft explain outside https://HOST/PATH` (or from a pod): the end-to-end journey of one HTTP
 * request into the cluster, in words, computed from the objects (no request is sent):
 *   the entry (from outside: the ingress controller's load-balancer address and the nodes that
 *   answer it; from a pod: its ClusterIP) → the ingress pods that can take the connection → TLS
 *   (the certificate chosen by SNI) or the redirect to HTTPS → the rule that matched (host, path,
 *   pathType, the Ingress) or the default backend or 404 → the Service and its ready endpoints,
 *   which are nginx's upstreams (no second hop through the ClusterIP) → per upstream, from each
 *   ingress pod: the route or tunnel to the endpoint's node and the NetworkPolicy verdict for the
 *   ingress pod's address on the endpoint's port.
 *
 * The rule is chosen by the same route table the controller renders nginx's locations from
 * (./routes.ts, checked against the specification and against nginx itself by the Ingress tests),
 * and the certificate and redirect by the same rules as ./nginx-conf.ts.
 */

import type { EndpointSlice, Ingress, IngressClass, Secret, Service } from '../k8s/objects.js';
import { TLS_SECRET_TYPE } from '../k8s/objects.js';
import type { PolicyCluster } from '../policy/evaluate.js';
import type { ReachPod } from '../policy/reach.js';
import { endpointsOf } from '../services/service-table.js';
import {
  policyBetween,
  routeBetween,
  type JourneyInput,
  type JourneyPath,
  type JourneyPolicy,
} from '../services/explain.js';
import { findServicePort } from './nginx-conf.js';
import { buildRouteTable, ingressRef, matchRequest, requestPath, type BackendRef } from './routes.js';
import { servedIngresses } from './status.js';

export interface IngressJourneyInput {
  url: string;
  /** Where the request comes from: a client on the segment, or a pod of the lab (Running). */
  from: { kind: 'outside'; address: string } | { kind: 'pod'; pod: ReachPod };
  /** The ingress controller's Service (its LoadBalancer); undefined: the lab runs no controller. */
  controllerService: Service | undefined;
  /** spec.controller of the IngressClasses the controller serves. */
  controller: string;
  ingresses: readonly Ingress[];
  classes: readonly IngressClass[];
  services: readonly Service[];
  slices: readonly EndpointSlice[];
  secrets: readonly Secret[];
  pods: readonly ReachPod[];
  policy: PolicyCluster;
  network: Pick<JourneyInput, 'nodes' | 'backend' | 'clusterCidr'>;
}

export interface IngressHop {
  /** "ns/name" of the ingress pod the hop starts from. */
  from: string;
  path: JourneyPath;
  policy: JourneyPolicy;
}

export interface IngressUpstream {
  address: string;
  port: number;
  pod?: string;
  node?: string;
  hops: IngressHop[];
}

export interface IngressJourney {
  url: string;
  scheme: 'http' | 'https';
  host: string;
  path: string;
  from: string;
  entry: {
    /** The address and port the client connects to. */
    address?: string;
    port: number;
    text: string;
    /** The ingress pods that can take the connection ("ns/name" on node). */
    ingressPods: Array<{ pod: string; node?: string }>;
  };
  tls?: { secret?: string; ingress?: string; text: string };
  /** The route: a rule, the default backend, or nothing (404). */
  route: {
    kind: 'rule' | 'default' | 'none';
    ingress?: string;
    host?: string;
    location?: string;
    pathType?: string;
    text: string;
  };
  backend?: { service: string; port: string; text: string };
  upstreams: IngressUpstream[];
  outcome: 'proxied' | 'redirected' | 'not-found' | 'no-endpoints' | 'no-controller';
  text: string;
}

function parseUrl(url: string): { scheme: 'http' | 'https'; host: string; port?: number; target: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`TO: "${url}" is not a URL (http://HOST/PATH or https://HOST/PATH)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new Error(`TO: "${url}": only http and https are routed by an Ingress (got ${u.protocol.replace(':', '')})`);
  return {
    scheme: u.protocol === 'https:' ? 'https' : 'http',
    host: u.hostname.toLowerCase(),
    ...(u.port ? { port: Number(u.port) } : {}),
    target: `${u.pathname}${u.search}`,
  };
}

const podName = (p: ReachPod) => `${p.namespace}/${p.name}`;

function backendText(b: BackendRef): string {
  return `service ${b.namespace}/${b.service} port ${'number' in b.port ? b.port.number : b.port.name}`;
}

export function explainIngressJourney(input: IngressJourneyInput): IngressJourney {
  const { scheme, host, port: urlPort, target } = parseUrl(input.url);
  const path = requestPath(target);
  const from = input.from.kind === 'outside' ? `outside (${input.from.address})` : podName(input.from.pod);
  const port = urlPort ?? (scheme === 'https' ? 443 : 80);
  const head = { url: input.url, scheme, host, path, from };
  const svc = input.controllerService;
  if (!svc)
    return {
      ...head,
      entry: { port, text: 'the lab runs no ingress controller (weft lab up --ingress-replicas N)', ingressPods: [] },
      route: { kind: 'none', text: 'no controller: nothing routes HTTP into the cluster' },
      upstreams: [],
      outcome: 'no-controller',
      text: 'no ingress controller in the lab',
    };

  // The entry: the controller Service's port for the scheme, and its ready pods.
  const svcPort = svc.spec.ports.find((p) => p.port === port);
  const ingressEndpoints = svcPort ? endpointsOf(svc, svcPort, input.slices).filter((e) => e.ready) : [];
  const ingressPods = ingressEndpoints.flatMap((e) => {
    const pod = input.pods.find((p) => p.ip === e.ip && !p.hostNetwork);
    return pod ? [pod] : [];
  });
  const svcName = `${svc.metadata.namespace}/${svc.metadata.name}`;
  let entry: IngressJourney['entry'];
  if (input.from.kind === 'outside') {
    const lb = svc.status?.loadBalancer?.ingress?.[0]?.ip;
    const local = svc.spec.externalTrafficPolicy === 'Local';
    const nodes = [...new Set(ingressPods.map((p) => p.node).filter((n): n is string => !!n))].sort();
    entry = {
      ...(lb ? { address: lb } : {}),
      port,
      text: lb
        ? `${input.from.address} connects to ${lb}:${port}, the load-balancer address of ${svcName}; the lab's gateway routes it to ${
            local
              ? `the nodes with a ready ingress pod (externalTrafficPolicy Local, so the pod sees the client's address): ${nodes.join(', ') || 'none'}`
              : 'every node'
          }, whose services table DNATs it to an ingress pod`
        : `${svcName} has no load-balancer address yet: nothing answers from outside`,
      ingressPods: ingressPods.map((p) => ({ pod: podName(p), ...(p.node ? { node: p.node } : {}) })),
    };
  } else {
    entry = {
      address: svc.spec.clusterIP,
      port,
      text: `${from} connects to ${svcName}'s ClusterIP ${svc.spec.clusterIP}:${port} (as in-cluster clients reach the controller); the node's services table balances it over the ingress pods`,
      ingressPods: ingressPods.map((p) => ({ pod: podName(p), ...(p.node ? { node: p.node } : {}) })),
    };
  }
  if (!svcPort || ingressPods.length === 0) {
    const why = !svcPort ? `${svcName} has no port ${port}` : `${svcName} has no ready ingress pod`;
    return {
      ...head,
      entry,
      route: { kind: 'none', text: `${why}: the connection is refused` },
      upstreams: [],
      outcome: 'no-controller',
      text: why,
    };
  }

  // The route, as nginx's locations have it.
  const served = servedIngresses(input.ingresses, input.classes, input.controller).sort((a, b) =>
    ingressRef(a) < ingressRef(b) ? -1 : 1,
  );
  const table = buildRouteTable(served);
  const m = matchRequest(table, host, target);
  const vhost = m.host;

  // TLS and the HTTP → HTTPS redirect, by the certificate of the matched host (./nginx-conf.ts).
  const secrets = new Map(input.secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  let cert: { secret: string; ingress: string } | undefined;
  for (const ing of served)
    for (const t of ing.spec.tls) {
      if (cert || t.secretName === undefined) continue;
      const s = secrets.get(`${ing.metadata.namespace}/${t.secretName}`);
      const valid =
        s && s.type === TLS_SECRET_TYPE && s.data['tls.crt'] !== undefined && s.data['tls.key'] !== undefined;
      if (valid && vhost !== undefined && t.hosts.includes(vhost))
        cert = { secret: `${ing.metadata.namespace}/${t.secretName}`, ingress: ingressRef(ing) };
    }
  if (scheme === 'http' && cert) {
    const location = `https://${host}${target}`;
    return {
      ...head,
      entry,
      tls: { ...cert, text: `${vhost} has a certificate (${cert.secret}, from ${cert.ingress})` },
      route: {
        kind: 'none',
        text: `HTTP to a host served over TLS: nginx answers 308 Permanent Redirect to ${location}`,
      },
      upstreams: [],
      outcome: 'redirected',
      text: `redirected to ${location}`,
    };
  }
  const tls =
    scheme === 'https'
      ? cert
        ? { ...cert, text: `TLS: SNI ${host} selects the certificate of ${cert.secret} (from Ingress ${cert.ingress})` }
        : {
            text: `TLS: no Ingress gives ${host} a certificate: nginx answers with its default certificate, which a client checking the name refuses`,
          }
      : undefined;

  let route: IngressJourney['route'];
  if (m.kind === 'rule') {
    const k = m.location.key;
    route = {
      kind: 'rule',
      ingress: m.ingress,
      host: m.host === '' ? '*' : m.host,
      location: `${k.exact ? '= ' : ''}${k.path}`,
      pathType: m.location.route.pathType,
      text: `Ingress ${m.ingress}: host ${m.host === '' ? '(any: a rule without host)' : m.host}, path ${m.location.route.path} (${m.location.route.pathType}) matches ${path}: nginx location ${k.exact ? '= ' : ''}${k.path}`,
    };
  } else if (m.kind === 'default')
    route = {
      kind: 'default',
      ingress: m.ingress,
      text: `no rule of ${vhost === undefined ? 'any host' : `host ${vhost || '(any)'}`} matches ${path}: the default backend of Ingress ${m.ingress}`,
    };
  else {
    route = {
      kind: 'none',
      text: `no rule matches ${host}${path} and no Ingress has a default backend: nginx answers 404`,
    };
    return {
      ...head,
      entry,
      ...(tls ? { tls } : {}),
      route,
      upstreams: [],
      outcome: 'not-found',
      text: '404 Not Found',
    };
  }

  // The backend's ready endpoints are nginx's upstreams.
  const b = m.backend;
  const service = input.services.find((s) => s.metadata.namespace === b.namespace && s.metadata.name === b.service);
  const sp = service ? findServicePort(service, b) : undefined;
  const backend = {
    service: `${b.namespace}/${b.service}`,
    port: 'number' in b.port ? String(b.port.number) : b.port.name,
    text: !service
      ? `${backendText(b)}: no such Service: nginx answers 503`
      : !sp
        ? `${backendText(b)}: the Service has no such port: nginx answers 503`
        : `${backendText(b)} (target port ${sp.targetPort ?? sp.port}): nginx proxies to its ready endpoints directly, round robin, the next one on a connection error`,
  };
  const endpoints = service && sp ? endpointsOf(service, sp, input.slices).filter((e) => e.ready) : [];
  if (endpoints.length === 0)
    return {
      ...head,
      entry,
      ...(tls ? { tls } : {}),
      route,
      backend: {
        ...backend,
        text: service && sp ? `${backendText(b)} has no ready endpoint: nginx answers 503` : backend.text,
      },
      upstreams: [],
      outcome: 'no-endpoints',
      text: '503 Service Unavailable',
    };
  const upstreams: IngressUpstream[] = endpoints.map((e) => {
    const pod = input.pods.find((p) => p.ip === e.ip && !p.hostNetwork);
    const node = e.nodeName ?? pod?.node;
    return {
      address: e.ip,
      port: e.port,
      ...(pod ? { pod: podName(pod) } : {}),
      ...(node ? { node } : {}),
      hops: ingressPods.map((ip) => ({
        from: podName(ip),
        path: routeBetween(input.network, ip.node!, node),
        policy: policyBetween(input.policy, ip, pod, e.port, 'TCP'),
      })),
    };
  });
  const allowed = upstreams.flatMap((u) => u.hops).filter((h) => h.policy.allowed !== false).length;
  return {
    ...head,
    entry,
    ...(tls ? { tls } : {}),
    route,
    backend,
    upstreams,
    outcome: 'proxied',
    text:
      allowed === 0
        ? 'proxied, but NetworkPolicy denies every ingress pod on every endpoint: nginx answers 502/504'
        : `proxied to one of ${upstreams.length} endpoint(s)`,
  };
}

/** The journey in words, one step a paragraph. */
export function renderIngressJourney(j: IngressJourney): string {
  const lines = [`${j.from} -> ${j.url}`, `  1. entry: ${j.entry.text}`];
  if (j.entry.ingressPods.length > 0)
    lines.push(
      `     ingress pods: ${j.entry.ingressPods.map((p) => `${p.pod}${p.node ? ` on ${p.node}` : ''}`).join(', ')}`,
    );
  let n = 2;
  if (j.tls) lines.push(`  ${n++}. ${j.tls.text}`);
  lines.push(`  ${n++}. route: ${j.route.text}`);
  if (j.backend) lines.push(`  ${n++}. backend: ${j.backend.text}`);
  for (const u of j.upstreams) {
    lines.push(
      `  ${n++}. upstream ${u.address}:${u.port}${u.pod ? ` (pod ${u.pod}${u.node ? ` on ${u.node}` : ''})` : ''}`,
    );
    for (const h of u.hops) {
      lines.push(`     from ${h.from}: ${h.path.text}`);
      const verdict = h.policy.text.trimEnd().split('\n');
      lines.push(`       policy: ${verdict[0]}`);
      for (const line of verdict.slice(1)) lines.push(`       ${line}`);
    }
  }
  lines.push(`  => ${j.text}`);
  return `${lines.join('\n')}\n`;
}
