/**
 * A pod's /etc/resolv.conf, made by the lab's kubelet the way kubelet makes it
 * (pkg/kubelet/network/dns): the pod's dnsPolicy picks a base, either the cluster's (the kube-dns
 * Service's address, the namespace's search path, ndots:5) or the node's own resolv.conf, or
 * nothing (None); the pod's dnsConfig is then merged in (nameservers and searches appended
 * without duplicates, options overriding by name); the result is cut to resolv.conf's limits
 * (3 nameservers, 32 search domains, 2048 characters of search list), each cut reported.
 *
 * ClusterFirst on a hostNetwork pod falls back to the node's resolv.conf, as in Kubernetes; only
 * ClusterFirstWithHostNet gives a hostNetwork pod the cluster's DNS.
 */

import type { Pod } from '../k8s/objects.js';

/** The cluster's DNS as kubelet is told it (--cluster-dns, --cluster-domain). */
export interface ClusterDns {
  /** The kube-dns Service's address(es); empty when the cluster has no DNS. */
  nameservers: string[];
  /** The cluster domain, without a trailing dot ("cluster.local"). */
  domain: string;
}

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  /** "ndots:5", "edns0", "timeout:2"… */
  options: string[];
}

export interface PodResolvConf {
  /** Which base the policy chose: the cluster's DNS, the node's resolv.conf, or none (dnsPolicy None). */
  base: 'cluster' | 'node' | 'none';
  conf: ResolvConf;
  /** What was cut to fit resolv.conf's limits (kubelet reports these as events). */
  warnings: string[];
}

const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;
const MAX_SEARCH_CHARS = 2048;

/** Reads nameserver, search/domain and options lines of a resolv.conf (the last search or domain line wins, as glibc has it). */
export function parseResolvConfText(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...fields] = line.split(/\s+/);
    if (key === 'nameserver' && fields[0]) out.nameservers.push(fields[0]);
    else if (key === 'search' || key === 'domain') out.searches = fields.filter((f) => f !== '');
    else if (key === 'options') out.options.push(...fields.filter((f) => f !== ''));
  }
  return out;
}

export function renderResolvConf(c: ResolvConf): string {
  return [
    ...(c.searches.length > 0 ? [`search ${c.searches.join(' ')}`] : []),
    ...c.nameservers.map((n) => `nameserver ${n}`),
    ...(c.options.length > 0 ? [`options ${c.options.join(' ')}`] : []),
  ]
    .map((l) => `${l}\n`)
    .join('');
}

/** The base kubelet picks for a pod (its getPodDNSType). */
function baseOf(pod: Pod, cluster: ClusterDns): PodResolvConf['base'] {
  const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'None') return 'none';
  if (policy === 'Default') return 'node';
  if (policy === 'ClusterFirst' && pod.spec.hostNetwork) return 'node';
  // ClusterFirst (not hostNetwork) and ClusterFirstWithHostNet; without cluster DNS, the node's.
  return cluster.nameservers.length > 0 ? 'cluster' : 'node';
}

/**
 * Whether a hostNetwork pod needs a resolv.conf other than its node's (and so, in the lab, a mount
 * namespace of its own): ClusterFirstWithHostNet, None, or a dnsConfig to merge.
 */
export function ownsResolvConf(pod: Pod): boolean {
  const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  return policy === 'ClusterFirstWithHostNet' || policy === 'None' || pod.spec.dnsConfig !== undefined;
}

const unique = (xs: readonly string[]) => [...new Set(xs)];
const optionName = (o: string) => o.split(':')[0]!;

export function podResolvConf(pod: Pod, cluster: ClusterDns, node: ResolvConf): PodResolvConf {
  const base = baseOf(pod, cluster);
  const warnings: string[] = [];
  let conf: ResolvConf;
  if (base === 'cluster') {
    const ns = pod.metadata.namespace;
    const d = cluster.domain;
    conf = {
      nameservers: [...cluster.nameservers],
      // The namespace's search path first, then the node's own domains (as kubelet appends them).
      searches: unique([`${ns}.svc.${d}`, `svc.${d}`, d, ...node.searches]),
      options: ['ndots:5'],
    };
  } else if (base === 'node')
    conf = { nameservers: [...node.nameservers], searches: [...node.searches], options: [...node.options] };
  else conf = { nameservers: [], searches: [], options: [] };

  const extra = pod.spec.dnsConfig;
  if (extra) {
    conf.nameservers = unique([...conf.nameservers, ...(extra.nameservers ?? [])]);
    conf.searches = unique([...conf.searches, ...(extra.searches ?? [])]);
    // dnsConfig's options replace the base's of the same name, in the base's order, then the new ones.
    const given = (extra.options ?? []).map((o) => (o.value === undefined ? o.name : `${o.name}:${o.value}`));
    const givenNames = new Set(given.map(optionName));
    conf.options = unique([...conf.options.filter((o) => !givenNames.has(optionName(o))), ...given]);
  }

  if (conf.nameservers.length > MAX_NAMESERVERS) {
    warnings.push(
      `nameserver limits were exceeded: ${conf.nameservers.length} given, the first ${MAX_NAMESERVERS} kept (${conf.nameservers.slice(0, MAX_NAMESERVERS).join(' ')})`,
    );
    conf.nameservers = conf.nameservers.slice(0, MAX_NAMESERVERS);
  }
  if (conf.searches.length > MAX_SEARCHES) {
    warnings.push(`search line limits were exceeded: ${conf.searches.length} domains, the first ${MAX_SEARCHES} kept`);
    conf.searches = conf.searches.slice(0, MAX_SEARCHES);
  }
  while (conf.searches.join(' ').length > MAX_SEARCH_CHARS) {
    const dropped = conf.searches.pop()!;
    warnings.push(`search line limits were exceeded: over ${MAX_SEARCH_CHARS} characters, ${dropped} left out`);
  }
  return { base, conf, warnings };
}
