/**
 * The Corefile of the lab's CoreDNS pods (`weft lab up --api kube --dns coredns`, issue 18): the
 * real CoreDNS in weft dns's place, configured as kubeadm configures it, so that weft's DNS
 * behaviour can be compared with the reference server on the same lab:
 * - `kubernetes` for the cluster domain and the reverse zones (pods insecure, as kubeadm), reading
 *   the API with the lab's DNS kubeconfig (a token of deploy/weft-dns.yaml's ServiceAccount), and
 *   the same TTL as weft dns's default (5 s), so answers can be compared field by field;
 * - `forward` to the lab's --dns-upstream resolvers; without any there is no forward line, and
 *   CoreDNS answers SERVFAIL for names outside the zones it serves, where `weft dns --no-forward`
 *   answers REFUSED (one of the differences test/dns-coredns.test.ts checks and README lists);
 * - `cache 30`, `loop`, `reload`, `loadbalance`, `errors` as kubeadm's; `health` on :8080,
 *   `ready` on :8181 (the pods' readiness probe) and `prometheus` on :9153 (the kube-dns Service's
 *   metrics port).
 * CoreDNS's Corefile format: https://coredns.io/manual/configuration/ (one server block per zone
 * set, one plugin per line, arguments separated by spaces, blocks in braces).
 */

export interface CorefileOptions {
  /** The cluster domain (kubelet's --cluster-domain). */
  domain: string;
  /** The kubeconfig the kubernetes plugin reads the API with. */
  kubeconfig: string;
  /** Where other names go (IP or IP:PORT as the lab's --dns-upstream takes them); none: refused. */
  upstreams: readonly string[];
  /** TTL of cluster answers, seconds. */
  ttl: number;
}

export const COREDNS_READY_PORT = 8181;
export const COREDNS_HEALTH_PORT = 8080;

/** The Corefile text; every value comes from the lab's own checked spec. */
export function renderCorefile(o: CorefileOptions): string {
  const lines = [
    '.:53 {',
    '    errors',
    `    health :${COREDNS_HEALTH_PORT}`,
    `    ready :${COREDNS_READY_PORT}`,
    `    kubernetes ${o.domain} in-addr.arpa ip6.arpa {`,
    `        kubeconfig ${o.kubeconfig}`,
    '        pods insecure',
    '        fallthrough in-addr.arpa ip6.arpa',
    `        ttl ${o.ttl}`,
    '    }',
    '    prometheus :9153',
    ...(o.upstreams.length > 0 ? [`    forward . ${o.upstreams.join(' ')}`] : []),
    '    cache 30',
    '    loop',
    '    reload',
    '    loadbalance',
    '}',
  ];
  return lines.join('\n') + '\n';
}
