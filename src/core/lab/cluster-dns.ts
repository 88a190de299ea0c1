/**
 * The lab's cluster DNS, as kubeadm deploys CoreDNS: the namespace kube-system, the Service
 * kube-system/kube-dns at the tenth address of the service range (53/UDP "dns", 53/TCP "dns-tcp",
 * 9153/TCP "metrics"), and `replicas` pods labelled k8s-app=kube-dns that run `weft dns` over the
 * lab's object store (or, with `--api kube`, the API server), spread over the nodes (replica i on node i mod N), with dnsPolicy Default
 * and a readiness probe on the server's /healthz. Names outside the cluster domain go to the lab's
 * --dns-upstream resolvers; without any they are refused at once (the lab's network never reaches
 * the host's resolvers, so forwarding there, as CoreDNS's `forward . /etc/resolv.conf` does, would
 * only make every such query wait for a timeout). The manifest is YAML text, so `weft lab up` stores it through the same
 * parser and apply plan as `weft apply` (every check and allocation of a user's manifest).
 */

import { clusterDnsIp, type LabDns, type LabSpec } from './lab-spec.js';
import { COREDNS_READY_PORT } from './corefile.js';

export const DNS_NAMESPACE = 'kube-system';
export const DNS_SERVICE = 'kube-dns';
export const DNS_APP_LABEL = { 'k8s-app': 'kube-dns' } as const;
export const DNS_METRICS_PORT = 9153;

/** The DNS pods' names, in replica order: weft-dns-N, or coredns-N when they run CoreDNS. */
export function dnsPodNames(dns: Pick<LabDns, 'replicas' | 'server'>): string[] {
  const prefix = dns.server === 'coredns' ? 'coredns' : 'weft-dns';
  return Array.from({ length: dns.replicas }, (_, i) => `${prefix}-${i + 1}`);
}

export function clusterDnsManifest(o: {
  spec: LabSpec;
  nodes: readonly string[];
  /** The argv that starts weft's CLI (node and the CLI's path). */
  weft: readonly string[];
  /**
   * Where the pods read the cluster: the lab's object store (`weft dns --objects-file`), or with
   * `--api kube` the API server (`weft dns --cluster kube --kubeconfig`, the token of
   * deploy/weft-dns.yaml's ServiceAccount).
   */
  cluster: { objectsFile: string } | { kubeconfig: string };
  /** With `--dns coredns`: the CoreDNS binary and the Corefile the lab wrote (./corefile.ts). */
  coredns?: { binary: string; corefile: string };
}): string {
  const dns = o.spec.dns;
  if (!dns || dns.replicas === 0 || o.nodes.length === 0) return '';
  const docs: object[] = [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: DNS_NAMESPACE },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: DNS_SERVICE,
        namespace: DNS_NAMESPACE,
        labels: { ...DNS_APP_LABEL, 'kubernetes.io/name': 'weft-dns' },
      },
      spec: {
        selector: DNS_APP_LABEL,
        clusterIP: clusterDnsIp(o.spec),
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 'dns-tcp' },
          { name: 'metrics', port: DNS_METRICS_PORT, protocol: 'TCP', targetPort: 'metrics' },
        ],
      },
    },
    ...dnsPodNames(dns).map((name, i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: DNS_NAMESPACE, labels: { ...DNS_APP_LABEL } },
      spec: {
        nodeName: o.nodes[i % o.nodes.length],
        dnsPolicy: 'Default',
        terminationGracePeriodSeconds: 1,
        containers: [o.coredns ? corednsContainer(o.coredns) : weftDnsContainer(o, dns)],
      },
    })),
  ];
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}

const DNS_PORTS = [
  { name: 'dns', containerPort: 53, protocol: 'UDP' },
  { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
  { name: 'metrics', containerPort: DNS_METRICS_PORT, protocol: 'TCP' },
];

/** `weft dns` over the lab store or the API server, ready once its cache has synced (/healthz). */
function weftDnsContainer(
  o: { weft: readonly string[]; cluster: { objectsFile: string } | { kubeconfig: string } },
  dns: LabDns,
): object {
  return {
    name: 'dns',
    // What a cluster runs (deploy/weft-dns.yaml); the lab's kubelet runs the command with the
    // host's weft, and the API server requires an image.
    image: 'localhost/weft:0.1.0',
    command: [
      ...o.weft,
      'dns',
      ...('kubeconfig' in o.cluster
        ? ['--cluster', 'kube', '--kubeconfig', o.cluster.kubeconfig]
        : ['--objects-file', o.cluster.objectsFile]),
      '--listen',
      '0.0.0.0:53',
      '--metrics-addr',
      `0.0.0.0:${DNS_METRICS_PORT}`,
      '--zone',
      dns.domain,
      // The lab is never connected to the host's network, so the host's resolvers cannot be
      // reached from it: without --dns-upstream other names are refused at once.
      ...(dns.upstreams.length > 0 ? dns.upstreams.flatMap((u) => ['--upstream', u]) : ['--no-forward']),
    ],
    ports: DNS_PORTS,
    readinessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 1 },
  };
}

/** The real CoreDNS with the lab's Corefile, ready when its `ready` plugin says so, as kubeadm probes it. */
function corednsContainer(c: { binary: string; corefile: string }): object {
  return {
    name: 'coredns',
    // The image a cluster would run; the lab's kubelet runs the command (the build-peers binary).
    image: 'registry.k8s.io/coredns/coredns:v1.14.7',
    command: [c.binary, '-conf', c.corefile],
    ports: [...DNS_PORTS, { name: 'ready', containerPort: COREDNS_READY_PORT, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/ready', port: 'ready' }, periodSeconds: 1 },
  };
}
