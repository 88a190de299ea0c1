/**
 * The flags of a one-member etcd (Debian's etcd-server) as weft runs it: the lab's store, the
 * Kubernetes control plane's etcd and the tests' etcd. Elections tuned for loopback
 * (--heartbeat-interval 10 --election-timeout 100: it is ready in well under a second), warnings
 * only in its log. TLS and metrics flags are the caller's to add.
 */
export function singleEtcdArgs(o: {
  name: string;
  dataDir: string;
  /** Where clients connect (comma-separated URLs for several). */
  listenClientUrls: string;
  advertiseClientUrl: string;
  peerUrl: string;
}): string[] {
  return [
    '--name',
    o.name,
    '--data-dir',
    o.dataDir,
    '--listen-client-urls',
    o.listenClientUrls,
    '--advertise-client-urls',
    o.advertiseClientUrl,
    '--listen-peer-urls',
    o.peerUrl,
    '--initial-advertise-peer-urls',
    o.peerUrl,
    '--initial-cluster',
    `${o.name}=${o.peerUrl}`,
    '--heartbeat-interval',
    '10',
    '--election-timeout',
    '100',
    '--log-level',
    'warn',
  ];
}
