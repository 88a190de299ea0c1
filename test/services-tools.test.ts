/**
 * The tools for people of issue 11 on one 2-node lab (vxlan), with real traffic: `weft get
 * services|endpointslices`, `weft probe --to service/NS/NAME` (which endpoints answer new
 * connections, TCP and UDP) and `weft explain FROM service/NS/NAME` (the journey, checked against
 * the node's real `ip weft-services` table). The Service spans two pods on two nodes whose named
 * targetPorts have different numbers; the scenarios run in order on the same lab: both answer,
 * a backend labelled out of the selector stops answering, a NetworkPolicy denying the client
 * shows in explain's verdicts and as probe failures.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, sh } from './support/netns.js';
import { TestLab } from './support/lab.js';
import { waitFor } from './support/cluster.js';

const MANIFEST = `apiVersion: v1
kind: Namespace
metadata: { name: web }
---
apiVersion: v1
kind: Namespace
metadata: { name: cl }
---
apiVersion: v1
kind: Pod
metadata: { name: w1, namespace: web, labels: { app: web } }
spec:
  nodeName: n1
  containers:
    - name: s
      ports: [{ name: http, containerPort: 8080 }, { name: echo, containerPort: 5353, protocol: UDP }]
---
apiVersion: v1
kind: Pod
metadata: { name: w2, namespace: web, labels: { app: web } }
spec:
  nodeName: n2
  containers:
    - name: s
      ports: [{ name: http, containerPort: 9090 }, { name: echo, containerPort: 6363, protocol: UDP }]
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: cl, labels: { app: client } }
spec:
  nodeName: n1
  containers: [{ name: s }]
---
apiVersion: v1
kind: Service
metadata: { name: svc, namespace: web }
spec:
  selector: { app: web }
  ports:
    - { name: http, port: 80, targetPort: http }
    - { name: echo, port: 53, protocol: UDP, targetPort: echo }
---
apiVersion: v1
kind: Service
metadata: { name: empty, namespace: web }
spec:
  selector: { app: nobody }
  ports: [{ port: 80 }]
---
apiVersion: v1
kind: Service
metadata: { name: headless, namespace: web }
spec:
  clusterIP: None
  selector: { app: web }
  ports: [{ port: 80 }]
---
apiVersion: v1
kind: Service
metadata: { name: alias, namespace: web }
spec:
  type: ExternalName
  externalName: db.example.com
`;

const DENY_INGRESS = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny-ingress, namespace: web }
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

interface ServiceProbe {
  service: string;
  clusterIP: string;
  port: number;
  protocol: string;
  results: Array<{ from: string; answers: Record<string, number>; failed: number; failures: Record<string, number> }>;
}

interface Journey {
  node: string;
  clusterIP: string;
  outcome: string;
  serviceChain?: string;
  steps: Array<{ chain: string; map?: string; action: string }>;
  candidates: Array<{
    address: string;
    port: number;
    pod?: string;
    node?: string;
    chain: string;
    path: { kind: string };
    policy: { allowed?: boolean; text: string };
  }>;
  disagreement?: string;
}

describe('tools for Services: get, probe --to, explain (2 nodes, vxlan)', { timeout: 600_000 }, () => {
  requireRoot();
  const lab = new TestLab('hst');
  const probe = (args: string[]) =>
    JSON.parse(lab.must(['probe', '-n', 'cl', '--to', 'service/web/svc', '-o', 'json', ...args])) as ServiceProbe;
  const explain = (args: string[] = []) =>
    JSON.parse(lab.must(['explain', 'cl/client', 'service/web/svc', '-o', 'json', ...args])) as Journey;
  /** The client's only row. */
  const row = (p: ServiceProbe) => {
    assert.deepEqual(
      p.results.map((r) => r.from),
      ['cl/client'],
    );
    return p.results[0]!;
  };
  const podIp = (ref: string) =>
    lab.pods().find((p) => `${p.metadata.namespace}/${p.metadata.name}` === ref)!.status.podIP!;

  before(async () => {
    lab.up(['--nodes', '2']);
    lab.must(['apply', '-f', lab.file('svc.yaml', MANIFEST)]);
    // The Service is in effect on the client's node once one connection through it is answered.
    await waitFor(
      'the Service to answer on TCP and UDP',
      () =>
        row(probe(['--connections', '1'])).failed === 0 &&
        row(probe(['--connections', '1', '--port', 'echo'])).failed === 0
          ? true
          : undefined,
      30_000,
    );
  });
  after(() => {
    lab.down();
  });

  test("get services and endpointslices print kubectl's columns", () => {
    const svc = JSON.parse(lab.must(['get', 'service', 'svc', '-n', 'web', '-o', 'json'])) as {
      spec: { clusterIP: string };
    };
    const lines = lab.must(['get', 'services', '-n', 'web']).trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE$/);
    const cells = (name: string, text = lines) =>
      text
        .find((l) => l.startsWith(`${name} `))!
        .split(/ {2,}/)
        .slice(0, 5);
    assert.deepEqual(cells('svc'), ['svc', 'ClusterIP', svc.spec.clusterIP, '<none>', '80/TCP,53/UDP']);
    assert.deepEqual(cells('headless'), ['headless', 'ClusterIP', 'None', '<none>', '80/TCP']);
    assert.deepEqual(cells('alias'), ['alias', 'ExternalName', '<none>', 'db.example.com', '<none>']);
    const wide = lab.must(['get', 'services', '-n', 'web', '-o', 'wide']).trimEnd().split('\n');
    assert.match(wide[0]!, /^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE +SELECTOR$/);
    assert.match(wide.find((l) => l.startsWith('svc '))!, / app=web$/);

    const slices = lab.must(['get', 'endpointslices', '-n', 'web']).trimEnd().split('\n');
    assert.match(slices[0]!, /^NAME +ADDRESSTYPE +PORTS +ENDPOINTS +AGE$/);
    const rows = slices
      .slice(1)
      .filter((l) => l.startsWith('svc-'))
      .map((l) => l.split(/ {2,}/).slice(1, 4).join(' '))
      .sort();
    // Pods whose named ports differ get a slice each: ports in the Service's port order.
    assert.deepEqual(rows, [`IPv4 8080,5353 ${podIp('web/w1')}`, `IPv4 9090,6363 ${podIp('web/w2')}`].sort());
  });

  test('probe --to: 40 new TCP connections reach both endpoints, none fails', () => {
    const p = probe(['--connections', '40']);
    assert.equal(p.service, 'web/svc');
    assert.equal(p.port, 80);
    assert.equal(p.protocol, 'TCP');
    const r = row(p);
    assert.deepEqual(Object.keys(r.answers), ['web/w1', 'web/w2']);
    assert.equal(r.answers['web/w1']! + r.answers['web/w2']!, 40);
    assert.equal(r.failed, 0);
    const table = lab.must(['probe', '-n', 'cl', '--to', 'service/web/svc', '--connections', '40']);
    assert.match(table, /^40 new TCP connections from each source to service web\/svc/);
    assert.match(table.split('\n')[1]!, /^FROM +web\/w1 +web\/w2 +FAILED$/);
  });

  test('probe --to: 40 new UDP flows (the port by name) reach both endpoints, none fails', () => {
    const p = probe(['--connections', '40', '--port', 'echo']);
    assert.equal(p.port, 53);
    assert.equal(p.protocol, 'UDP');
    const r = row(p);
    assert.deepEqual(Object.keys(r.answers), ['web/w1', 'web/w2']);
    assert.equal(r.failed, 0);
  });

  test('probe --to refuses what it cannot probe, naming the argument', () => {
    const fails = (args: string[], re: RegExp) => {
      const r = lab.weft(['probe', '-n', 'cl', ...args]);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, re);
    };
    fails(['--to', 'service/web/nope'], /--to: service "web\/nope" not found/);
    fails(['--to', 'service/web/headless'], /--to: service "web\/headless" is headless/);
    fails(['--to', 'service/web/alias'], /--to: service "web\/alias" is of type ExternalName/);
    fails(['--to', 'service/web/svc', '--port', '81'], /--port: service "web\/svc" has no port 81/);
    fails(['--to', 'web/svc'], /--to: "web\/svc" is not service\/NAMESPACE\/NAME/);
    fails(['--to', 'service/web/svc', '--connections', '0'], /--connections: "0" must be from 1 to 1000/);
  });

  test('explain names the chain, both candidates on their nodes, and the policy verdict; the kernel has those chains', () => {
    const j = explain(['--port', 'http']);
    assert.equal(j.outcome, 'balanced');
    assert.equal(j.node, 'n1');
    assert.equal(j.disagreement, undefined);
    // The Service has no affinity and a Cluster policy: the shared chain for two endpoints.
    assert.equal(j.serviceChain, 'cluster-2');
    assert.ok(j.steps.some((s) => s.chain === 'services' && s.map === 'service-ips'));
    assert.deepEqual(
      j.candidates.map((c) => `${c.pod} ${c.node} ${c.port} ${c.path.kind} ${c.policy.allowed}`).sort(),
      ['web/w1 n1 8080 same-node true', 'web/w2 n2 9090 vxlan true'],
    );
    // The chains explain names are the ones the agent put in n1's kernel.
    const listing = sh(['ip', 'netns', 'exec', `${lab.prefix}n1`, 'nft', 'list', 'table', 'ip', 'weft-services']);
    assert.equal(listing.status, 0, listing.stderr);
    for (const chain of [j.serviceChain!, ...j.candidates.map((c) => c.chain)])
      assert.ok(listing.stdout.includes(`chain ${chain} {`), `chain ${chain} in n1's table`);
    const text = lab.must(['explain', 'cl/client', 'service/web/svc', '--port', '80']);
    assert.match(text, /chain services rule 0: map @service-ips \[[\d.]+ \. tcp \. 80\] -> goto cluster-2/);
    assert.match(text, /numgen random mod 2 picks one of 2 ready endpoints/);
    assert.match(
      text,
      /pod web\/w2 on node n2 \(ready\)[\s\S]*path: to n2: route [\d./]+ via [\d.]+ dev weft\.1 onlink/,
    );
    assert.match(text, /pod web\/w1 on node n1 \(ready\)[\s\S]*path: same node \(n1\)/);
  });

  test('a Service without endpoints: explain says refused at once, probe --to sees every connection refused', () => {
    const j = JSON.parse(lab.must(['explain', 'cl/client', 'service/web/empty', '-o', 'json'])) as Journey;
    assert.equal(j.outcome, 'rejected');
    assert.deepEqual(j.candidates, []);
    assert.match(lab.must(['explain', 'cl/client', 'service/web/empty']), /refused at once/);
    const p = JSON.parse(
      lab.must(['probe', '-n', 'cl', '--to', 'service/web/empty', '--connections', '5', '-o', 'json']),
    ) as ServiceProbe;
    assert.deepEqual(row(p), { from: 'cl/client', answers: {}, failed: 5, failures: { refused: 5 } });
  });

  test('a backend labelled out of the selector stops answering; explain shows one candidate', async () => {
    lab.must(['label', 'pod', 'w2', '-n', 'web', 'app=other', '--overwrite']);
    try {
      for (const args of [[], ['--port', 'echo']]) {
        const r = await waitFor(`only web/w1 to answer ${args.join(' ')}`, () => {
          const x = row(probe(['--connections', '40', ...args]));
          return Object.keys(x.answers).join() === 'web/w1' ? x : undefined;
        });
        assert.equal(r.answers['web/w1'], 40);
        assert.equal(r.failed, 0);
      }
      const j = explain();
      assert.deepEqual(
        j.candidates.map((c) => c.pod),
        ['web/w1'],
      );
    } finally {
      lab.must(['label', 'pod', 'w2', '-n', 'web', 'app=web', '--overwrite']);
    }
    await waitFor('web/w2 to answer again', () =>
      'web/w2' in row(probe(['--connections', '20'])).answers ? true : undefined,
    );
  });

  test('a NetworkPolicy denying the client: explain says denied for every candidate, probe --to fails', async () => {
    lab.must(['apply', '-f', lab.file('deny.yaml', DENY_INGRESS)]);
    const j = explain();
    assert.equal(j.candidates.length, 2);
    for (const c of j.candidates) {
      assert.equal(c.policy.allowed, false, c.pod);
      assert.match(
        c.policy.text,
        /ingress to web\/w[12]: DENIED; web\/w[12] is isolated for Ingress by web\/deny-ingress/,
      );
    }
    assert.match(lab.must(['explain', 'cl/client', 'service/web/svc']), /policy: DENIED/);
    const r = await waitFor('every connection to fail', () => {
      const x = row(probe(['--connections', '20', '--timeout-ms', '500']));
      return x.failed === 20 ? x : undefined;
    });
    assert.deepEqual(r.answers, {});
  });
});
