/**
 * Issue 12's cluster DNS in a real lab, through the `weft` CLI, on one 3-node lab shared by every
 * scenario: `weft lab up` deploys two `weft dns` pods in kube-system behind kube-dns (10.96.0.10),
 * every pod gets kubelet's resolv.conf, and pods ask with the host's real resolver tools (glibc's
 * getent, BIND's dig) inside their own network namespaces. Names outside the zone are forwarded
 * to a real upstream, Debian's dnsmasq, run as a client outside the cluster (`weft lab outside`
 * at 10.99.0.249, given to the lab as --dns-upstream); its query log shows what weft asked it.
 *   (a) the DNS pods and the kube-dns Service as kubeadm has them; a pod's resolv.conf;
 *   (b) the search path (getent hosts web / web.y / the FQDN from namespace x);
 *   (c) exact dig answers: A, SRV, PTR (ClusterIP and headless endpoint), headless (ready only;
 *       publishNotReadyAddresses), hostname.subdomain, ExternalName CNAME, the pod-IP form,
 *       NXDOMAIN and NODATA with the zone's SOA;
 *   (d) a Service created resolves, deleted stops resolving; an endpoint that turns not ready
 *       leaves the headless answer;
 *   (e) forwarding: a name only the upstream has resolves; asked again on the same flow (so the
 *       same replica), it comes from weft's cache (the upstream logged one query); a large answer
 *       comes back over TCP after TC;
 *   (f) dnsPolicy Default and None with dnsConfig; hostNetwork pods: ClusterFirst keeps the node's
 *       resolv.conf, ClusterFirstWithHostNet gets the cluster's (a mount namespace of the pod's own);
 *   (g) one DNS pod deleted: names keep resolving through the other replica (run last).
 * Every wait is a wait for a condition; how fast a change is answered is measured by bench/dns.ts.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireRoot } from './support/netns.js';
import { waitFor } from './support/cluster.js';
import { TestLab } from './support/lab.js';
import { startLabUpstream } from './support/dnsmasq.js';

const UPSTREAM = '10.99.0.249';
/** Eight 250-byte strings: about 2 KB, more than a UDP answer without EDNS may carry (512 bytes). */
const BIG_TXT = Array.from({ length: 8 }, (_, i) => String.fromCharCode(97 + i).repeat(250));

interface PodJson {
  metadata: { name: string; namespace: string };
  spec: { nodeName?: string };
  status: { phase: string; podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

interface Dig {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  raw: string;
}

const CLUSTER = `apiVersion: v1
kind: Namespace
metadata: { name: x }
---
apiVersion: v1
kind: Namespace
metadata: { name: y }
---
apiVersion: v1
kind: Pod
metadata: { name: cx, namespace: x }
spec: { nodeName: n1, containers: [{ name: c }] }
---
apiVersion: v1
kind: Pod
metadata: { name: w1, namespace: y, labels: { app: web } }
spec: { nodeName: n2, containers: [{ name: c, ports: [{ name: http, containerPort: 8080 }] }] }
---
apiVersion: v1
kind: Pod
metadata: { name: wx, namespace: x, labels: { app: web } }
spec: { nodeName: n3, containers: [{ name: c, ports: [{ name: http, containerPort: 8080 }] }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: x }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: http }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: y }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: http }] }
---
apiVersion: v1
kind: Service
metadata: { name: hl, namespace: y }
spec: { clusterIP: None, selector: { app: hl }, ports: [{ name: http, port: 80, targetPort: http }] }
---
apiVersion: v1
kind: Service
metadata: { name: hlall, namespace: y }
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: { app: hl }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata: { name: ext, namespace: y }
spec: { type: ExternalName, externalName: up.example }
`;

/** A pod of the headless Service hl with a hostname; not ready while READY_FILE is missing. */
const hlPod = (name: string, node: string, readyFile: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: y, labels: { app: hl } }
spec:
  nodeName: ${node}
  hostname: ${name}
  subdomain: hl
  containers:
  - name: c
    ports: [{ name: http, containerPort: 8080 }]
    readinessProbe: { exec: { command: [test, -e, ${readyFile}] }, periodSeconds: 1, failureThreshold: 1 }
`;

describe(
  'cluster DNS in a 3-node lab (weft dns pods behind kube-dns)',
  { concurrency: false, timeout: 600_000 },
  () => {
    requireRoot();
    const lab = new TestLab('hdns');
    const ready = (pod: string) => join(lab.root, `${pod}-ready`);
    let upstream: ChildProcess | undefined;
    const upstreamLog = join(lab.root, 'dnsmasq.log');

    const pods = (ns: string): PodJson[] =>
      (JSON.parse(lab.must(['get', 'pods', '-n', ns, '-o', 'json'])) as { items: PodJson[] }).items;
    const podIp = (ns: string, name: string): string => {
      const ip = pods(ns).find((p) => p.metadata.name === name)?.status.podIP;
      if (!ip) throw new Error(`pod ${ns}/${name} has no IP`);
      return ip;
    };
    const clusterIp = (ns: string, name: string): string =>
      (
        JSON.parse(lab.must(['get', 'services', '-n', ns, '-o', 'json'])) as {
          items: Array<{ metadata: { name: string }; spec: { clusterIP: string } }>;
        }
      ).items.find((s) => s.metadata.name === name)!.spec.clusterIP;
    const inPod = (ns: string, pod: string, argv: string[]) => lab.weft(['exec', '-n', ns, pod, '--', ...argv]);

    /** dig from pod x/cx (through its resolv.conf, so through kube-dns), parsed. */
    function dig(args: string[], pod: [string, string] = ['x', 'cx']): Dig {
      const r = inPod(pod[0], pod[1], ['dig', '+tries=2', '+timeout=2', ...args]);
      const out = r.stdout;
      const status = /status: ([A-Z]+)/.exec(out)?.[1] ?? `no answer (exit ${r.status}): ${out}${r.stderr}`;
      const flags = (/;; flags: ([a-z ]+);/.exec(out)?.[1] ?? '').split(' ').filter((f) => f !== '');
      const section = (name: string) => {
        const m = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(out);
        return (m?.[1] ?? '')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => l.split(/\s+/).join(' '));
      };
      return { status, flags, answer: section('ANSWER'), authority: section('AUTHORITY'), raw: out };
    }
    const data = (d: Dig) => d.answer.map((l) => l.split(' ').slice(4).join(' ')).sort();

    before(async () => {
      lab.up(['--nodes', '3', '--dns-replicas', '2', '--dns-upstream', UPSTREAM]);
      writeFileSync(ready('h1'), '');
      writeFileSync(ready('h2'), '');
      lab.must([
        'apply',
        '-f',
        lab.file(
          'cluster.yaml',
          `${CLUSTER}---\n${hlPod('h1', 'n2', ready('h1'))}---\n${hlPod('h2', 'n3', ready('h2'))}`,
        ),
      ]);
      // The upstream resolver: dnsmasq outside the cluster, on the underlay segment.
      upstream = startLabUpstream(
        lab,
        UPSTREAM,
        upstreamLog,
        '--address=/up.example/192.0.2.10',
        '--address=/cached.example/192.0.2.11',
        `--txt-record=big.example,${BIG_TXT.join(',')}`,
      );
      await waitFor(
        'pods Ready, and the upstream answering through cluster DNS',
        () =>
          dig(['up.example']).status === 'NOERROR' && pods('y').every((p) => p.status.phase === 'Running')
            ? true
            : undefined,
        30_000,
        300,
      );
    });

    after(() => {
      if (upstream?.pid !== undefined) {
        try {
          process.kill(-upstream.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      lab.down();
      rmSync(upstreamLog, { force: true });
    });

    test("(a) two DNS pods on different nodes behind kube-system/kube-dns 10.96.0.10; a pod gets kubelet's resolv.conf", () => {
      const dnsPods = pods('kube-system');
      assert.deepEqual(
        dnsPods.map((p) => [p.metadata.name, p.status.phase]),
        [
          ['weft-dns-1', 'Running'],
          ['weft-dns-2', 'Running'],
        ],
      );
      assert.equal(new Set(dnsPods.map((p) => p.spec.nodeName)).size, 2, 'the replicas are on different nodes');
      const svc = lab.must(['get', 'services', '-n', 'kube-system']);
      assert.match(svc, /\nkube-dns\s+ClusterIP\s+10\.96\.0\.10\s+<none>\s+53\/UDP,53\/TCP,9153\/TCP\s/);
      const conf = inPod('x', 'cx', ['cat', '/etc/resolv.conf']).stdout;
      assert.match(conf, /^search x\.svc\.cluster\.local svc\.cluster\.local cluster\.local( |$)/m);
      assert.match(conf, /^nameserver 10\.96\.0\.10$/m);
      assert.equal(conf.match(/^nameserver /gm)?.length, 1, conf);
      assert.match(conf, /^options ndots:5$/m);
    });

    test('(b) the search path: from namespace x, web is x/web; web.y and the full name are y/web', () => {
      const [webX, webY] = [clusterIp('x', 'web'), clusterIp('y', 'web')];
      assert.notEqual(webX, webY);
      const getent = (name: string) => inPod('x', 'cx', ['getent', 'hosts', name]).stdout.trim().split(/\s+/);
      assert.deepEqual(getent('web'), [webX, 'web.x.svc.cluster.local']);
      assert.deepEqual(getent('web.y'), [webY, 'web.y.svc.cluster.local']);
      assert.deepEqual(getent('web.y.svc.cluster.local'), [webY, 'web.y.svc.cluster.local']);
      const miss = inPod('x', 'cx', ['getent', 'hosts', 'nothing-here']);
      assert.equal(miss.status, 2, `a name that exists nowhere is not found: ${miss.stdout}`);
    });

    test('(c) exact answers: A, SRV, PTR, headless, hostname.subdomain, ExternalName, pod IP form, NXDOMAIN and NODATA with the SOA', () => {
      const webY = clusterIp('y', 'web');
      const [h1, h2, w1] = [podIp('y', 'h1'), podIp('y', 'h2'), podIp('y', 'w1')];
      const a = dig(['web.y.svc.cluster.local', 'A']);
      assert.equal(a.status, 'NOERROR');
      assert.ok(a.flags.includes('aa'), `authoritative: ${a.flags.join(' ')}`);
      assert.deepEqual(a.answer, [`web.y.svc.cluster.local. 5 IN A ${webY}`]);

      const srv = dig(['_http._tcp.web.y.svc.cluster.local', 'SRV']);
      assert.deepEqual(srv.answer, ['_http._tcp.web.y.svc.cluster.local. 5 IN SRV 0 100 80 web.y.svc.cluster.local.']);

      assert.deepEqual(data(dig(['-x', webY])), ['web.y.svc.cluster.local.']);
      // h1 is an endpoint of two headless Services: named by its hostname in hl (its subdomain), by its dashed address in hlall.
      assert.deepEqual(data(dig(['-x', h1])), [
        `${h1.replaceAll('.', '-')}.hlall.y.svc.cluster.local.`,
        'h1.hl.y.svc.cluster.local.',
      ]);

      assert.deepEqual(data(dig(['hl.y.svc.cluster.local', 'A'])), [h1, h2].sort());
      assert.deepEqual(data(dig(['h1.hl.y.svc.cluster.local', 'A'])), [h1]);
      // Headless: an SRV per endpoint with the endpoint's own port (the pods' 8080), as CoreDNS answers.
      assert.deepEqual(data(dig(['_http._tcp.hl.y.svc.cluster.local', 'SRV'])), [
        '0 50 8080 h1.hl.y.svc.cluster.local.',
        '0 50 8080 h2.hl.y.svc.cluster.local.',
      ]);

      const cname = dig(['ext.y.svc.cluster.local', 'A']);
      assert.equal(cname.answer[0], 'ext.y.svc.cluster.local. 5 IN CNAME up.example.');

      const dashed = `${w1.replaceAll('.', '-')}.y.pod.cluster.local`;
      assert.deepEqual(dig([dashed, 'A']).answer, [`${dashed}. 5 IN A ${w1}`]);

      const soa = /^cluster\.local\. 5 IN SOA /;
      const nx = dig(['nope.y.svc.cluster.local', 'A']);
      assert.equal(nx.status, 'NXDOMAIN');
      assert.deepEqual(nx.answer, []);
      assert.equal(nx.authority.length, 1, nx.raw);
      assert.match(nx.authority[0]!, soa);
      const nodata = dig(['web.y.svc.cluster.local', 'AAAA']);
      assert.equal(nodata.status, 'NOERROR');
      assert.deepEqual(nodata.answer, []);
      assert.match(nodata.authority[0] ?? '', soa, nodata.raw);
    });

    test('(d) a Service created resolves, deleted stops resolving; an endpoint turning not ready leaves the headless answer', async () => {
      const doc = `apiVersion: v1\nkind: Service\nmetadata: { name: late, namespace: y }\nspec: { selector: { app: web }, ports: [{ port: 81 }] }\n`;
      const file = lab.file('late.yaml', doc);
      assert.equal(dig(['late.y.svc.cluster.local']).status, 'NXDOMAIN');
      lab.must(['apply', '-f', file]);
      const ip = clusterIp('y', 'late');
      await waitFor('late.y to resolve', () => (data(dig(['late.y.svc.cluster.local']))[0] === ip ? true : undefined));
      lab.must(['delete', '-f', file]);
      await waitFor('late.y to stop resolving', () =>
        dig(['late.y.svc.cluster.local']).status === 'NXDOMAIN' ? true : undefined,
      );

      const [h1, h2] = [podIp('y', 'h1'), podIp('y', 'h2')];
      rmSync(ready('h2'));
      try {
        await waitFor('h2 to leave hl', () =>
          JSON.stringify(data(dig(['hl.y.svc.cluster.local']))) === JSON.stringify([h1]) ? true : undefined,
        );
        // publishNotReadyAddresses: the not-ready endpoint stays in hlall.
        assert.deepEqual(data(dig(['hlall.y.svc.cluster.local'])), [h1, h2].sort());
        assert.equal(dig(['h2.hl.y.svc.cluster.local']).status, 'NXDOMAIN');
      } finally {
        writeFileSync(ready('h2'), '');
      }
      await waitFor('h2 back in hl', () => (data(dig(['hl.y.svc.cluster.local'])).length === 2 ? true : undefined));
    });

    test("(e) forwarding: the upstream's names resolve, a repeat comes from weft's cache, a large answer over TCP after TC", () => {
      const asked = (name: string) =>
        readFileSync(upstreamLog, 'utf8')
          .split('\n')
          .filter((l) => l.includes(`query[A] ${name} from`)).length;
      assert.equal(asked('cached.example'), 0);
      // The same source port twice: one UDP flow, so the Service sends both to the same replica.
      const first = dig(['-b', `${podIp('x', 'cx')}#45053`, 'cached.example']);
      assert.deepEqual(data(first), ['192.0.2.11'], first.raw);
      const second = dig(['-b', `${podIp('x', 'cx')}#45053`, 'cached.example']);
      assert.deepEqual(data(second), ['192.0.2.11'], second.raw);
      assert.equal(asked('cached.example'), 1, 'the second answer came from the cache: the upstream was asked once');
      assert.ok(Number(second.answer[0]!.split(' ')[1]) <= 300, 'the cached answer counts its TTL down');

      // Without EDNS a UDP answer is at most 512 bytes: weft sets TC, dig asks again over TCP.
      const big = dig(['+noedns', '+ignore', 'big.example', 'TXT']);
      assert.ok(big.flags.includes('tc'), `TC over UDP: ${big.flags.join(' ')}`);
      const whole = dig(['+noedns', 'big.example', 'TXT']);
      assert.match(whole.raw, /Truncated, retrying in TCP mode/);
      assert.equal(whole.status, 'NOERROR');
      const strings = whole.answer.join(' ').match(/"[a-h]+"/g) ?? [];
      assert.deepEqual(
        strings.map((s) => s.length - 2),
        BIG_TXT.map((s) => s.length),
      );
    });

    test('(f) dnsPolicy Default gets the node resolv.conf; None takes dnsConfig alone; refused without it', () => {
      const docs = `apiVersion: v1
kind: Pod
metadata: { name: pdef, namespace: x }
spec: { nodeName: n2, dnsPolicy: Default, containers: [{ name: c }] }
---
apiVersion: v1
kind: Pod
metadata: { name: pnone, namespace: x }
spec:
  nodeName: n3
  dnsPolicy: None
  dnsConfig: { nameservers: [10.96.0.10], searches: [y.svc.cluster.local], options: [{ name: ndots, value: "1" }] }
  containers: [{ name: c }]
`;
      lab.must(['apply', '-f', lab.file('policies.yaml', docs)]);
      const host = readFileSync('/etc/resolv.conf', 'utf8');
      const hostServers = host.match(/^nameserver\s+\S+/gm) ?? [];
      const def = inPod('x', 'pdef', ['cat', '/etc/resolv.conf']).stdout;
      assert.deepEqual(def.match(/^nameserver\s+\S+/gm) ?? [], hostServers.slice(0, 3));
      const none = inPod('x', 'pnone', ['cat', '/etc/resolv.conf']).stdout;
      assert.equal(none, 'search y.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:1\n');
      assert.deepEqual(
        inPod('x', 'pnone', ['getent', 'hosts', 'web']).stdout.trim().split(/\s+/),
        [clusterIp('y', 'web'), 'web.y.svc.cluster.local'],
        'its own search path: web is y/web',
      );
      const bad = lab.weft([
        'apply',
        '-f',
        lab.file(
          'bad.yaml',
          'apiVersion: v1\nkind: Pod\nmetadata: { name: pbad, namespace: x }\nspec: { dnsPolicy: None, containers: [{ name: c }] }\n',
        ),
      ]);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /spec\.dnsConfig: must provide `dnsConfig` when `dnsPolicy` is None/);
      assert.ok(!pods('x').some((p) => p.metadata.name === 'pbad'), 'nothing was stored');
    });

    test("(f2) hostNetwork pods: ClusterFirst keeps the node's resolv.conf; ClusterFirstWithHostNet gets the cluster's, for weft exec and for the pod's program", async () => {
      const docs = `apiVersion: v1
kind: Pod
metadata: { name: hdef, namespace: x }
spec: { nodeName: n2, hostNetwork: true, containers: [{ name: c }] }
---
apiVersion: v1
kind: Pod
metadata: { name: hnet, namespace: x }
spec:
  nodeName: n2
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  containers: [{ name: c, command: [sh, -c, 'getent hosts web.y; exec sleep 100000'] }]
`;
      lab.must(['apply', '-f', lab.file('hostnet.yaml', docs)]);
      const hostServers = readFileSync('/etc/resolv.conf', 'utf8').match(/^nameserver\s+\S+/gm) ?? [];
      const def = inPod('x', 'hdef', ['cat', '/etc/resolv.conf']).stdout;
      assert.deepEqual(def.match(/^nameserver\s+\S+/gm) ?? [], hostServers, def);
      const own = inPod('x', 'hnet', ['cat', '/etc/resolv.conf']).stdout;
      assert.match(own, /^search x\.svc\.cluster\.local svc\.cluster\.local cluster\.local( |$)/m);
      assert.match(own, /^nameserver 10\.96\.0\.10$/m);
      const webY = clusterIp('y', 'web');
      await waitFor('the program of hnet to have resolved web.y', () => {
        const out = lab.must(['logs', '-n', 'x', 'hnet']);
        return out.includes('web.y.svc.cluster.local') ? out : undefined;
      });
      assert.match(
        lab.must(['logs', '-n', 'x', 'hnet']),
        new RegExp(`^${webY.replaceAll('.', '\\.')}\\s+web\\.y\\.svc\\.cluster\\.local$`, 'm'),
      );
      // The node's own processes keep the host's file: the pod's binding stays in its namespace.
      assert.equal(readFileSync('/etc/resolv.conf', 'utf8').includes('10.96.0.10'), false);
    });

    test('(g) one DNS pod deleted: the Service drops it and names keep resolving through the other', async () => {
      assert.ok(
        pods('kube-system').some((p) => p.metadata.name === 'weft-dns-1'),
        'weft-dns-1 runs before',
      );
      const doc =
        'apiVersion: v1\nkind: Pod\nmetadata: { name: weft-dns-1, namespace: kube-system }\nspec: { containers: [{ name: dns }] }\n';
      lab.must(['delete', '-f', lab.file('dns-1.yaml', doc)]);
      await waitFor('weft-dns-1 to be gone', () =>
        pods('kube-system').some((p) => p.metadata.name === 'weft-dns-1') ? undefined : true,
      );
      const webY = clusterIp('y', 'web');
      // Twenty queries, each a new flow (a new source port): every one answered, by the survivor.
      for (let i = 0; i < 20; i++) {
        const d = dig(['+tries=1', 'web.y.svc.cluster.local']);
        assert.deepEqual(data(d), [webY], `query ${i}: ${d.raw}`);
      }
      const metrics = inPod('x', 'cx', ['curl', '-s', '--max-time', '5', 'http://10.96.0.10:9153/metrics']).stdout;
      assert.match(metrics, /^weft_dns_queries_total\{.*type="A".*\} [1-9]/m, 'the survivor counts its queries');
    });
  },
);
