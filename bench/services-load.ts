/**
 * The Services benchmark's load: N selector-less Services of one TCP port, each with one
 * hand-written EndpointSlice of K endpoints, as manifest text (JSON documents, which the lab's
 * parser reads as YAML) so that the same objects can be applied to a lab or parsed into an
 * in-memory cluster. Addresses are made up and never dialled: the table's per-packet cost and
 * its sync cost are what is measured, not the backends.
 *
 * ClusterIPs are 10.100.0.0/16 (inside the lab's default service CIDR 10.96.0.0/12) and
 * endpoints 172.30.0.0-172.32.x (moved ones 172.65 and up), so neither collides with the lab's pods or its allocator.
 */

export interface ServiceLoad {
  namespace: string;
  services: number;
  endpointsPerService: number;
}

export const loadClusterIp = (i: number): string => `10.100.${i >> 8}.${i & 255}`;

/**
 * Endpoint j of service i. `variant` 1..150 moves it (an endpoint change) to 172.(64+variant).x.y,
 * where it can only meet the same endpoint of services 4,096 apart (harmless: chains are per Service).
 */
export function loadEndpointIp(i: number, j: number, variant = 0): string {
  const n = i * 16 + j;
  if (variant === 0) return `172.${30 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
  if (!(variant >= 1 && variant <= 150)) throw new Error(`endpoint variant ${variant} is not 1..150`);
  return `172.${64 + variant}.${(n >> 8) & 255}.${n & 255}`;
}

export function loadService(l: ServiceLoad, i: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `s${i}`, namespace: l.namespace },
    spec: { clusterIP: loadClusterIp(i), ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }] },
  });
}

/** Service i's slice; `moved` endpoints (by index) take their variant address. */
export function loadSlice(l: ServiceLoad, i: number, moved: ReadonlyMap<number, number> = new Map()): string {
  return JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `s${i}-1`, namespace: l.namespace, labels: { 'kubernetes.io/service-name': `s${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints: Array.from({ length: l.endpointsPerService }, (_, j) => ({
      addresses: [loadEndpointIp(i, j, moved.get(j) ?? 0)],
      conditions: { ready: true },
    })),
  });
}

/** The whole load (namespace first) in documents of at most `chunk` objects each. */
export function loadManifests(l: ServiceLoad, chunk: number): string[] {
  const docs = [JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: l.namespace } })];
  for (let i = 0; i < l.services; i++) docs.push(loadService(l, i), loadSlice(l, i));
  const out: string[] = [];
  for (let at = 0; at < docs.length; at += chunk) out.push(docs.slice(at, at + chunk).join('\n---\n'));
  return out;
}
