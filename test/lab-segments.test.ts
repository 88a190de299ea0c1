/**
 * Issue 14, labs with routed segments: `weft lab up --segments 2` spreads the nodes over two L2
 * segments joined by a router (n1 and n3 on 10.99.0.0/24, n2 (and n4) on 10.99.1.0/24), so most
 * node pairs cross the router. One lab per backend setting, each driven through the
 * CLI with real traffic:
 *
 * - vxlan (four nodes, two behind the router): every pod reaches every pod (80/TCP, 81/UDP),
 *   far peers through the VXLAN device; a LoadBalancer address whose only endpoint is behind the
 *   router is routed gateway → router → node and answers a client outside the cluster, and one
 *   of every node is spread by the gateway over its own nodes and the router (weighted by two).
 * - vxlan with DirectRouting: a peer on the segment gets a plain route via its eth0 address, the
 *   far one the VXLAN device; every pod reaches every pod.
 * - host-gw: far peers are refused with a message naming the peer and suggesting vxlan,
 *   DirectRouting or bgp (in `weft get nodes` and the agent log), the node stays Ready, pods on
 *   one segment connect and pairs across the router do not; `lab down` removes the router too.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipJson, listNetns, requireRoot } from './support/netns.js';
import { TestLab, type PodDoc } from './support/lab.js';
import { waitFor } from './support/cluster.js';
import { assertAllConnected, policySmoke, probeBoth, SMOKE_SCENARIOS, surprises } from './support/lab-matrix.js';

/** Where each node is with --segments 2 (node i on segment (i-1) mod 2, at 10.99.<segment>.i). */
const PLACES = [
  { node: 'n1', ip: '10.99.0.1', segment: '10.99.0.0/24' },
  { node: 'n2', ip: '10.99.1.2', segment: '10.99.1.0/24' },
  { node: 'n3', ip: '10.99.0.3', segment: '10.99.0.0/24' },
  { node: 'n4', ip: '10.99.1.4', segment: '10.99.1.0/24' },
];
const segmentOf = (node: string) => PLACES.find((p) => p.node === node)?.segment;

interface RouteJson {
  dst: string;
  gateway?: string;
  dev: string;
  flags?: string[];
}

/** The lab's up with the nine-pod example (3 nodes unless `args` say); the pods' nodes by "ns/name". */
function upTwoSegments(lab: TestLab, args: string[]): Map<string, string> {
  lab.upWithExample(['--segments', '2', ...(args.includes('--nodes') ? [] : ['--nodes', '3']), ...args]);
  return podNodes(lab.pods());
}

function podNodes(pods: PodDoc[]): Map<string, string> {
  return new Map(pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.spec.nodeName ?? '']));
}

/** The routes of node `node` to the other nodes' pod subnets, by the subnet's node. */
function podRoutes(lab: TestLab, node: string): Map<string, RouteJson> {
  const subnets = new Map(lab.nodes().map((n) => [n.spec.podCIDR ?? '', n.metadata.name]));
  const out = new Map<string, RouteJson>();
  for (const r of ipJson<RouteJson[]>(`${lab.prefix}${node}`, ['route', 'show'])) {
    const owner = subnets.get(r.dst);
    if (owner && owner !== node) out.set(owner, r);
  }
  return out;
}

/** Checks that pods actually sit on both segments, so the matrices cross the router. */
function assertSpread(nodes: Map<string, string>): void {
  const segments = new Set([...nodes.values()].map(segmentOf));
  assert.deepEqual([...segments].sort(), ['10.99.0.0/24', '10.99.1.0/24'], JSON.stringify([...nodes]));
}

describe('lab with two segments, vxlan', { timeout: 300_000 }, () => {
  requireRoot();
  const lab = new TestLab('sgv');
  let nodes = new Map<string, string>();

  before(() => {
    // Four nodes: two behind the router, so the gateway weighs it for two (see the LB scenario).
    nodes = upTwoSegments(lab, ['--nodes', '4']);
  });
  after(() => {
    lab.down();
  });

  test('get nodes shows each node on its segment; lab status shows the segments and the router', () => {
    const table = lab.must(['get', 'nodes']).trim().split('\n');
    assert.match(table[0]!, /^NAME\s+STATUS\s+SUBNET\s+PUBLIC-IP\s+SEGMENT\s+BACKEND$/);
    assert.equal(table.length, 5);
    for (const p of PLACES) {
      const row = table.find((l) => l.startsWith(`${p.node} `));
      assert.match(row ?? '', new RegExp(`^${p.node}\\s+Ready\\s+\\S+\\s+${p.ip}\\s+${p.segment}\\s+vxlan$`), row);
    }
    const status = JSON.parse(lab.must(['lab', 'status', '-o', 'json'])) as {
      segments: Array<{ cidr: string; gateway: string; router?: string; ns: string }>;
      routerNs?: string;
      nodes: Array<{ name: string; ip: string; segment: number }>;
    };
    assert.deepEqual(
      status.segments.map((s) => [s.cidr, s.gateway, s.router, s.ns]),
      [
        ['10.99.0.0/24', '10.99.0.254', '10.99.0.253', `${lab.prefix}ul`],
        ['10.99.1.0/24', '10.99.1.254', '10.99.1.253', `${lab.prefix}ul1`],
      ],
    );
    assert.equal(status.routerNs, `${lab.prefix}rt`);
    assert.deepEqual(
      status.nodes.map((n) => [n.name, n.ip, n.segment]),
      [
        ['n1', '10.99.0.1', 0],
        ['n2', '10.99.1.2', 1],
        ['n3', '10.99.0.3', 0],
        ['n4', '10.99.1.4', 1],
      ],
    );
    // The router has a leg on each segment, and each segment routes the other one through it.
    const legs = ipJson<Array<{ ifname: string; addr_info: Array<{ local: string }> }>>(`${lab.prefix}rt`, [
      'addr',
      'show',
    ]).flatMap((l) => l.addr_info.map((a) => a.local));
    assert.ok(legs.includes('10.99.0.253') && legs.includes('10.99.1.253'), legs.join(','));
    const text = lab.must(['lab', 'status']);
    assert.match(text, /2 segments: 10\.99\.0\.0\/24 .*10\.99\.1\.0\/24 .*router namespace/);
    assert.match(text, /n2 {2}10\.99\.1\.2 {2}segment 10\.99\.1\.0\/24/);
  });

  test('every pod reaches every pod on 80/TCP and 81/UDP; far peers through the VXLAN device', () => {
    assertSpread(nodes);
    assertAllConnected(lab);
    // Without DirectRouting every peer, near (n4) or behind the router (n1, n3), is onlink over the VXLAN device.
    const routes = podRoutes(lab, 'n2');
    assert.deepEqual([...routes.keys()].sort(), ['n1', 'n3', 'n4']);
    for (const r of routes.values()) {
      assert.match(r.dev, /^weft\./, JSON.stringify(r));
      assert.ok(r.flags?.includes('onlink'), JSON.stringify(r));
    }
  });

  for (const name of SMOKE_SCENARIOS)
    test(`NetworkPolicy smoke scenario across the segments: ${name}`, () => policySmoke(lab, name));

  test('a LoadBalancer address served only behind the router: gateway → router → node, answered outside', async () => {
    lab.must(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Namespace
metadata: { name: far }
---
apiVersion: v1
kind: Pod
metadata: { name: web, namespace: far, labels: { app: web } }
spec:
  nodeName: n2
  containers:
    - name: serve
      ports: [{ containerPort: 80 }]
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: far }
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: { app: web }
  ports: [{ port: 80, targetPort: 80 }]
`,
    });
    const svc = JSON.parse(lab.must(['get', 'svc', '-n', 'far', 'web', '-o', 'json'])) as {
      status?: { loadBalancer?: { ingress?: Array<{ ip: string }> } };
    };
    const ip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
    assert.ok(ip, JSON.stringify(svc));
    // Only n2 announces it (Local, its one endpoint), and n2 is not on-link for the gateway.
    const hop = (ns: string) => ipJson<RouteJson[]>(ns, ['route', 'show', `${ip}/32`])[0]?.gateway;
    await waitFor(`the gateway's route of ${ip} via the router`, () =>
      hop(`${lab.prefix}ul`) === '10.99.0.253' ? true : undefined,
    );
    assert.equal(hop(`${lab.prefix}rt`), '10.99.1.2');
    const out = await waitFor(`an answer from ${ip}:80 outside the cluster`, () => {
      const r = lab.weft(['lab', 'outside', '--', 'socat', '-T2', '-', `TCP:${ip}:80`], {
        input: '',
        timeoutMs: 10_000,
      });
      return r.stdout.includes('weft far/web 80') ? r.stdout : undefined;
    });
    assert.match(out, /^weft far\/web 80 from /);
  });

  test('a LoadBalancer address of every node: the gateway weighs the router for the two nodes behind it', async () => {
    lab.must(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Service
metadata: { name: all, namespace: x }
spec:
  type: LoadBalancer
  selector: { pod: a }
  ports: [{ port: 80, targetPort: 80 }]
`,
    });
    const svc = JSON.parse(lab.must(['get', 'svc', '-n', 'x', 'all', '-o', 'json'])) as {
      status?: { loadBalancer?: { ingress?: Array<{ ip: string }> } };
    };
    const ip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
    assert.ok(ip, JSON.stringify(svc));
    interface Multipath {
      nexthops?: Array<{ gateway: string; weight: number }>;
    }
    const hops = (ns: string) =>
      (ipJson<Multipath[]>(ns, ['route', 'show', `${ip}/32`])[0]?.nexthops ?? [])
        .map((h) => `${h.gateway}*${h.weight}`)
        .sort();
    const gateway = await waitFor(`the gateway's ECMP route of ${ip}`, () => {
      const h = hops(`${lab.prefix}ul`);
      return h.length > 0 ? h : undefined;
    });
    assert.deepEqual(gateway, ['10.99.0.1*1', '10.99.0.253*2', '10.99.0.3*1']);
    assert.deepEqual(hops(`${lab.prefix}rt`), ['10.99.1.2*1', '10.99.1.4*1']);
    const r = lab.weft(['lab', 'outside', '--', 'socat', '-T2', '-', `TCP:${ip}:80`], { input: '', timeoutMs: 10_000 });
    assert.match(r.stdout, /^weft [xyz]\/a 80 from /, r.stderr);
  });
});

describe('lab with two segments, vxlan with DirectRouting', { timeout: 300_000 }, () => {
  requireRoot();
  const lab = new TestLab('sgd');
  let nodes = new Map<string, string>();

  before(() => {
    nodes = upTwoSegments(lab, ['--direct-routing']);
  });
  after(() => {
    lab.down();
  });

  test('net-conf has DirectRouting; a peer on the segment via its eth0 address, a far one via the VXLAN device', () => {
    const conf = JSON.parse(readFileSync(join(lab.dir, 'net-conf.json'), 'utf8')) as { Backend: unknown };
    assert.deepEqual(conf.Backend, { Type: 'vxlan', DirectRouting: true });
    const n1 = podRoutes(lab, 'n1');
    assert.deepEqual(
      { gateway: n1.get('n3')?.gateway, dev: n1.get('n3')?.dev },
      { gateway: '10.99.0.3', dev: 'eth0' },
      'n3 shares n1 segment',
    );
    assert.match(n1.get('n2')?.dev ?? '', /^weft\./, 'n2 is behind the router');
    const n2 = podRoutes(lab, 'n2');
    for (const peer of ['n1', 'n3']) assert.match(n2.get(peer)?.dev ?? '', /^weft\./, `n2 → ${peer}`);
  });

  test('every pod reaches every pod on 80/TCP and 81/UDP', () => {
    assertSpread(nodes);
    assertAllConnected(lab);
  });

  for (const name of SMOKE_SCENARIOS)
    test(`NetworkPolicy smoke scenario across the segments: ${name}`, () => policySmoke(lab, name));
});

describe('lab with two segments, host-gw', { timeout: 300_000 }, () => {
  requireRoot();
  const lab = new TestLab('sgh');
  let nodes = new Map<string, string>();

  before(() => {
    nodes = upTwoSegments(lab, ['--backend', 'host-gw']);
  });
  after(() => {
    lab.down();
  });

  test('far peers are refused with a message naming the peer and suggesting vxlan, DirectRouting or bgp', async () => {
    const suggestion = 'use vxlan, vxlan with DirectRouting, or bgp';
    // The runners' heartbeat carries the agents' warnings into the nodes' messages.
    // Each node reports once it has seen every lease: n1 and n3 one far peer, n2 two.
    const far = { n1: ['n2'], n2: ['n1', 'n3'], n3: ['n2'] } as Record<string, string[]>;
    const docs = await waitFor('every node to report every peer it cannot route', () => {
      const all = lab.nodes();
      const reported = all.every((n) => {
        const ready = n.status.conditions.find((c) => c.type === 'Ready') as { message?: string } | undefined;
        return (far[n.metadata.name] ?? []).every((peer) => ready?.message?.includes(` of node ${peer} `));
      });
      return reported ? all : undefined;
    });
    const message = (name: string) => {
      const ready = docs.find((n) => n.metadata.name === name)?.status.conditions.find((c) => c.type === 'Ready') as
        | { status: string; message?: string }
        | undefined;
      assert.equal(ready?.status, 'True', `${name} stays Ready: its near peers are served`);
      return ready?.message ?? '';
    };
    for (const near of ['n1', 'n3']) {
      const m = message(near);
      assert.ok(m.includes('host-gw: peer 10.99.1.2 (subnet ') && m.includes(' of node n2 '), `${near}: ${m}`);
      assert.ok(m.includes(suggestion), `${near}: ${m}`);
      assert.ok(!m.includes('peer 10.99.0.'), `${near} names only its far peer: ${m}`);
    }
    const n2 = message('n2');
    for (const peer of ['peer 10.99.0.1 (subnet ', 'peer 10.99.0.3 (subnet ']) assert.ok(n2.includes(peer), n2);
    assert.ok(n2.includes("is not on this node's segment 10.99.1.0/24"), n2);
    assert.match(lab.must(['get', 'nodes', '-o', 'wide']), /n2 .*backend: host-gw: peer 10\.99\.0\.[13] \(subnet /);
    // And the agent said it in its log, once per change.
    const log = readFileSync(join(lab.dir, 'log', 'agent-n2.log'), 'utf8');
    assert.match(
      log,
      /"msg":"peers the backend cannot serve".*of node n1 .*use vxlan, vxlan with DirectRouting, or bgp/,
    );
    // No route to a far subnet at all (not a route that cannot work).
    assert.deepEqual([...podRoutes(lab, 'n2').keys()], []);
    assert.deepEqual(
      [...podRoutes(lab, 'n1')].map(([peer, r]) => [peer, r.gateway, r.dev]),
      [['n3', '10.99.0.3', 'eth0']],
    );
  });

  test('pods on one segment connect; pairs across the router do not', () => {
    assertSpread(nodes);
    const sameSegment = (from: string, to: string) => segmentOf(nodes.get(from)!) === segmentOf(nodes.get(to)!);
    for (const m of probeBoth(lab, ['--timeout-ms', '500'])) {
      assert.deepEqual(surprises(m, sameSegment), [], `${m.port}/${m.protocol}`);
      assert.ok(
        m.results.some((r) => r.connected && nodes.get(r.from) !== nodes.get(r.to)),
        'some pairs connect between two nodes (n1 and n3)',
      );
    }
  });

  test('lab down removes every namespace: segments, router, nodes, pods', () => {
    const before = listNetns().filter((n) => n.startsWith(lab.prefix));
    assert.ok(before.includes(`${lab.prefix}rt`) && before.includes(`${lab.prefix}ul1`), before.join(','));
    const r = lab.weft(['lab', 'down', '--name', lab.name], { timeoutMs: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(lab.prefix)),
      [],
    );
  });
});
