/**
 * weft dns beside the real CoreDNS (issue 18), on one 2-node `--api kube` lab whose cluster DNS is
 * CoreDNS (`--dns coredns`: the build of scripts/build-peers.sh, kubeadm's Corefile, reading the
 * API as deploy/weft-dns.yaml's ServiceAccount). A `weft dns --cluster kube` pod runs in the same
 * cluster with the same identity and TTL, and a client pod asks both servers the same questions
 * with BIND's dig: the status and the answer section (names, TTLs, types and data, in any order)
 * must be equal, except where a row names a deliberate difference (README, "weft dns and
 * CoreDNS"). It also checks that kube-dns is CoreDNS here and that pods resolve through it.
 * Skipped (saying why) where Kubernetes or CoreDNS is not built; in CI (which builds both) that
 * is a failure.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { requireRoot, sh } from './support/netns.js';
import { waitFor } from './support/cluster.js';
import { CLI, TestLab } from './support/lab.js';
import { kubeMissing } from './support/kube.js';
import { findKubeBinaries } from '../src/lab/kube-control-plane.js';
import { corednsMissing } from '../src/lab/peer-coredns.js';

function missing(): string | undefined {
  const kube = kubeMissing();
  if (kube) return kube;
  const why = corednsMissing();
  if (why && process.env.CI) throw new Error(`${why}: .ci/run builds it, so in CI this is a failure`);
  if (why) process.stderr.write(`dns-coredns: skipped: ${why}\n`);
  return why;
}

const MANIFEST = (dnsKubeconfig: string) => `
apiVersion: v1
kind: Namespace
metadata: {name: y}
---
apiVersion: v1
kind: Pod
metadata: {name: web1, namespace: y, labels: {app: web}}
spec:
  hostname: web1
  subdomain: db
  containers: [{name: c, image: weft-lab-echo, ports: [{name: http, containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: y}
spec:
  containers: [{name: c, image: weft-lab-echo, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: y}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}, {name: dns, port: 53, protocol: UDP, targetPort: 53}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: y}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: y}
spec: {type: ExternalName, externalName: example.org}
---
apiVersion: v1
kind: Pod
metadata: {name: weft-dns-side, namespace: kube-system}
spec:
  dnsPolicy: Default
  containers:
    - name: dns
      image: localhost/weft:0.1.0
      command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(CLI)}, dns, --cluster, kube, --kubeconfig, ${JSON.stringify(dnsKubeconfig)}, --listen, '0.0.0.0:53', --metrics-addr, '0.0.0.0:9153', --zone, cluster.local, --no-forward]
      ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: metrics, containerPort: 9153}]
      readinessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 1}
`;

interface Answer {
  status: string;
  answer: string[];
}

describe('weft dns beside the real CoreDNS (--api kube --dns coredns)', { skip: missing(), timeout: 600_000 }, () => {
  requireRoot();
  const lab = new TestLab('kdns');
  const kubeconfig = join(lab.dir, 'kube', 'admin.kubeconfig');
  const kubectl = (args: string[]) => {
    const r = sh([findKubeBinaries()!.kubectl, '--kubeconfig', kubeconfig, ...args]);
    assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const podIP = (ns: string, name: string) =>
    kubectl(['get', 'pod', name, '-n', ns, '-o', 'jsonpath={.status.podIP}']).trim();
  /** dig from y/client to one server; the answer section's lines with their fields single-spaced, sorted. */
  const dig = (server: string, args: string[]): Answer => {
    const r = lab.weft(['exec', '-n', 'y', 'client', '--', 'dig', `@${server}`, '+tries=2', '+timeout=2', ...args]);
    const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? `no answer (exit ${r.status}): ${r.stdout}${r.stderr}`;
    const section = /;; ANSWER SECTION:\n([\s\S]*?)(?:\n\n|$)/.exec(r.stdout)?.[1] ?? '';
    const answer = section
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.split(/\s+/).join(' '))
      .sort();
    return { status, answer };
  };
  let coredns = '';
  let weft = '';

  before(async () => {
    lab.up(['--api', 'kube', '--nodes', '2', '--dns', 'coredns', '--dns-replicas', '1']);
    lab.must(['apply', '-f', lab.file('y.yaml', MANIFEST(join(lab.dir, 'kube', 'dns.kubeconfig')))]);
    await waitFor(
      'the pods Ready',
      () => {
        const pods = (
          JSON.parse(kubectl(['get', 'pods', '-A', '-o', 'json'])) as {
            items: Array<{
              metadata: { name: string };
              status: { conditions?: Array<{ type: string; status: string }> };
            }>;
          }
        ).items.filter((p) => ['web1', 'client', 'weft-dns-side', 'coredns-1'].includes(p.metadata.name));
        const ready = pods.filter((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
        return ready.length === 4 ? true : undefined;
      },
      60_000,
    );
    coredns = podIP('kube-system', 'coredns-1');
    weft = podIP('kube-system', 'weft-dns-side');
  });
  after(() => {
    lab.down();
  });

  test('kube-dns is CoreDNS here, and pods resolve Services through it', async () => {
    const pod = JSON.parse(kubectl(['get', 'pod', 'coredns-1', '-n', 'kube-system', '-o', 'json'])) as {
      spec: { containers: Array<{ command: string[] }> };
    };
    assert.match(pod.spec.containers[0]!.command.join(' '), /\/coredns-v1\.14\.7\/bin\/coredns -conf \S+\/Corefile$/);
    const clusterIP = kubectl(['get', 'service', 'web', '-n', 'y', '-o', 'jsonpath={.spec.clusterIP}']).trim();
    const got = await waitFor('y/client to resolve web through its resolv.conf', () => {
      const r = lab.weft(['exec', '-n', 'y', 'client', '--', 'getent', 'hosts', 'web']);
      return r.status === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
    });
    assert.equal(got, clusterIP);
    assert.equal(dig('10.96.0.10', ['web.y.svc.cluster.local', 'A']).answer.length, 1, 'kube-dns answers');
  });

  // Each row: a question and what kind of answer both must give (so equal failures cannot pass).
  const rows: Array<{ name: string; args: () => string[]; want: 'records' | 'NXDOMAIN' | 'NODATA' }> = [
    { name: 'A of a ClusterIP Service', want: 'records', args: () => ['web.y.svc.cluster.local', 'A'] },
    {
      name: 'A of a headless Service (its ready endpoints)',
      want: 'records',
      args: () => ['db.y.svc.cluster.local', 'A'],
    },
    {
      name: 'hostname.subdomain of a headless endpoint',
      want: 'records',
      args: () => ['web1.db.y.svc.cluster.local', 'A'],
    },
    { name: 'SRV of a named port', want: 'records', args: () => ['_http._tcp.web.y.svc.cluster.local', 'SRV'] },
    { name: 'SRV of a UDP port', want: 'records', args: () => ['_dns._udp.web.y.svc.cluster.local', 'SRV'] },
    { name: 'CNAME of an ExternalName Service', want: 'records', args: () => ['ext.y.svc.cluster.local', 'CNAME'] },
    {
      name: 'a Service that does not exist: NXDOMAIN',
      want: 'NXDOMAIN',
      args: () => ['nope.y.svc.cluster.local', 'A'],
    },
    { name: 'a namespace that does not exist', want: 'NXDOMAIN', args: () => ['web.nope.svc.cluster.local', 'A'] },
    {
      name: 'PTR of the ClusterIP',
      want: 'records',
      args: () => ['-x', kubectl(['get', 'service', 'web', '-n', 'y', '-o', 'jsonpath={.spec.clusterIP}']).trim()],
    },
    {
      name: 'the pod-IP form',
      want: 'records',
      args: () => [`${podIP('y', 'web1').replace(/\./g, '-')}.y.pod.cluster.local`, 'A'],
    },
    { name: 'AAAA of an IPv4 Service: NODATA', want: 'NODATA', args: () => ['web.y.svc.cluster.local', 'AAAA'] },
  ];
  for (const row of rows)
    test(`same answer from weft dns and CoreDNS: ${row.name}`, async () => {
      const args = row.args();
      // Both read the API by watch: the first answer may come before a server has synced the latest object.
      const both = await waitFor(
        `both servers to answer ${args.join(' ')} alike`,
        () => {
          const c = dig(coredns, args);
          const w = dig(weft, args);
          return c.status === w.status && JSON.stringify(c.answer) === JSON.stringify(w.answer) ? { c, w } : undefined;
        },
        10_000,
      ).catch((err: unknown) => {
        const c = dig(coredns, args);
        const w = dig(weft, args);
        assert.deepEqual(w, c, `weft dns and CoreDNS differ on ${args.join(' ')} (${(err as Error).message})`);
        throw err;
      });
      if (row.want === 'NXDOMAIN') assert.equal(both.c.status, 'NXDOMAIN');
      else {
        assert.equal(both.c.status, 'NOERROR');
        assert.equal(both.c.answer.length > 0, row.want === 'records', `answer: ${both.c.answer.join(' | ')}`);
      }
    });

  // The one difference, deliberate (README, "weft dns and CoreDNS"): with no upstream, weft dns
  // --no-forward refuses a name outside its zone (REFUSED: the client's resolver stops at once and
  // says so), where CoreDNS, whose "." block has no forward, fails it (SERVFAIL: a resolver may try
  // the next server, and glibc's reports a temporary failure).
  test('a name outside the cluster domain with no upstream: weft dns refuses it, CoreDNS fails it', () => {
    assert.equal(dig(weft, ['example.org', 'A']).status, 'REFUSED');
    assert.equal(dig(coredns, ['example.org', 'A']).status, 'SERVFAIL');
  });
});
