/**
 * Issue 14, `Backend.Type: bgp` (Calico's model with Debian's BIRD 2), on real labs driven through
 * the CLI with real traffic. One lab per configuration, shared by its scenarios:
 *
 * - mesh, one segment (3 nodes, examples/xyz): every pod reaches every pod (80/TCP, 81/UDP); each
 *   node's kernel routes the peers' subnets with BIRD's protocol and weft's metric, over eth0 with
 *   no VXLAN device; `weft get bgp` shows the sessions Established and the routes learnt; a pod
 *   cannot open 179/tcp on its own node or another (a peer node can: the node guard); a node
 *   added with `lab add-node` is routed by every node and routes to every node, and after `lab
 *   remove-node` (kill -9 of its agent and BIRD, then its lease revoked) its routes are withdrawn
 *   everywhere (the times are printed, not asserted); killing a node's BIRD with kill -9 leaves
 *   every route in place (sampled until the new BIRD's sessions are back) and pods connected, and
 *   the agent restarts BIRD; a net-conf with a reserved AS number is refused naming Backend.ASNumber
 *   by `weft net-conf put` (the stored one stays) and by an agent restarted with it as its file
 *   (routes and BIRD config unchanged, pods still connected); NetworkPolicy smoke scenarios.
 * - router peering, two segments (`--segments 2 --bgp-peer router`, 3 nodes): every pod reaches
 *   every pod; each node peers only with the router's leg on its segment and routes every other
 *   node's subnet via that leg, and the router routes each subnet to its node; a node added on the
 *   second segment is routed by all, and withdrawn everywhere once removed (the lab's supervisor
 *   renders the router's sessions from the leases); a stored net-conf whose RouterAddress is on no segment of a
 *   node is refused by that node's agent naming Backend.RouterAddress, and the node keeps routing
 *   with its last good config; killing a node's BIRD leaves every route in place, the router's too.
 */

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ipJson, requireRoot } from './support/netns.js';
import { TestLab } from './support/lab.js';
import { waitFor } from './support/cluster.js';
import { assertAllConnected, policySmoke, SMOKE_SCENARIOS, surprises } from './support/lab-matrix.js';

interface RouteJson {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string;
  metric?: number;
}

interface BgpStatusJson {
  speaker: string;
  sessions: Array<{ name: string; bgpState: string; neighborAddress?: string; neighborAs?: number }>;
  learnt: Array<{ prefix: string; via?: string; protocol: string }>;
  error?: string;
}

/** The node's routes installed by BIRD (protocol "bird", weft's metric 119), by destination. */
function birdRoutes(lab: TestLab, node: string): Map<string, RouteJson> {
  const routes = ipJson<RouteJson[]>(`${lab.prefix}${node}`, ['route', 'show', 'proto', 'bird']);
  return new Map(routes.filter((r) => r.metric === 119).map((r) => [r.dst, r]));
}

function subnets(lab: TestLab): Map<string, string> {
  return new Map(lab.nodes().map((n) => [n.metadata.name, n.spec.podCIDR ?? '']));
}

/** Nodes (other than `except`) whose kernel lacks or has (per `want`) a route to `subnet`. */
function routeMismatch(lab: TestLab, nodes: string[], subnet: string, want: boolean): string[] {
  return nodes.filter((n) => birdRoutes(lab, n).has(subnet) !== want);
}

function birdPid(lab: TestLab, node: string): number {
  return Number(readFileSync(join(lab.dir, 'nodes', node, 'run', 'bird', 'bird.pid'), 'utf8').trim());
}

function bgpStatus(lab: TestLab): BgpStatusJson[] {
  return JSON.parse(lab.must(['get', 'bgp', '-o', 'json'])) as BgpStatusJson[];
}

/** Speakers with a session that is not Established (dynamic templates of the router are "Passive"). */
function notEstablished(lab: TestLab): string[] {
  return bgpStatus(lab).flatMap((s) =>
    s.error
      ? [`${s.speaker}: ${s.error}`]
      : s.sessions
          .filter((x) => x.bgpState !== 'Established' && x.bgpState !== 'Passive')
          .map((x) => `${s.speaker} ${x.name} ${x.bgpState}`),
  );
}

/**
 * Waits until every BGP session is up, checks every pod reaches every pod, no node has a VXLAN
 * device, and each node's kernel holds a BIRD route to each other node's subnet; returns the
 * subnets and addresses by node and each node's BIRD routes for the checks of the topology.
 */
async function converged(
  lab: TestLab,
  nodes: readonly string[],
): Promise<{ all: Map<string, string>; ipOf: Map<string, string>; routesOf: Map<string, Map<string, RouteJson>> }> {
  await waitFor('every session Established', () => (notEstablished(lab).length === 0 ? true : undefined));
  assertAllConnected(lab);
  const all = subnets(lab);
  const ipOf = new Map(lab.nodes().map((n) => [n.metadata.name, n.status.addresses?.[0]?.address ?? '']));
  const routesOf = new Map<string, Map<string, RouteJson>>();
  for (const n of nodes) {
    noVxlan(lab, n);
    const routes = birdRoutes(lab, n);
    const peers = nodes.filter((p) => p !== n);
    assert.deepEqual([...routes.keys()].sort(), peers.map((p) => all.get(p)).sort(), n);
    routesOf.set(n, routes);
  }
  return { all, ipOf, routesOf };
}

function noVxlan(lab: TestLab, node: string): void {
  assert.deepEqual(ipJson(`${lab.prefix}${node}`, ['-d', 'link', 'show', 'type', 'vxlan']), [], node);
}

/**
 * Adds a node and waits until every node routes to it and it routes to every node; prints how
 * long that took after `lab add-node` returned (the node Ready, with its lease).
 */
async function joinNode(t: TestContext, lab: TestLab): Promise<string> {
  const before = lab.nodes().map((n) => n.metadata.name);
  const out = lab.must(['lab', 'add-node']);
  const added = /node (n\d+) added/.exec(out)?.[1];
  assert.ok(added, out);
  const ready = Date.now();
  const all = subnets(lab);
  const subnet = all.get(added) ?? '';
  assert.match(subnet, /^10\.244\.\d+\.0\/24$/);
  await waitFor(`every node to route ${added}'s ${subnet} and ${added} to route theirs`, () => {
    const missing = routeMismatch(lab, before, subnet, true);
    const own = birdRoutes(lab, added);
    const theirs = before.filter((n) => !own.has(all.get(n) ?? ''));
    return missing.length === 0 && theirs.length === 0 ? true : undefined;
  });
  t.diagnostic(`${added} routed everywhere ${Date.now() - ready} ms after lab add-node returned`);
  return added;
}

/**
 * Kills `victim`'s BIRD with SIGKILL and samples every node's BIRD routes (and the router's, given
 * its namespace) until the agent's new BIRD has every session back: no route may go missing
 * meanwhile (kernel `persist` on the victim, graceful restart at its peers). Then every pod still
 * reaches every pod, and the agent's log tells the death and the restart.
 */
async function killBirdKeepsRoutes(lab: TestLab, nodes: string[], victim: string, routerNs?: string): Promise<void> {
  const routerRoutes = () =>
    routerNs
      ? ipJson<RouteJson[]>(routerNs, ['route', 'show', 'proto', 'bird'])
          .map((r) => r.dst)
          .sort()
          .join()
      : '';
  const want = new Map(nodes.map((n) => [n, [...birdRoutes(lab, n).keys()].sort().join()]));
  const wantRouter = routerRoutes();
  const old = birdPid(lab, victim);
  process.kill(old, 'SIGKILL');
  const gaps: string[] = [];
  await waitFor(`a new BIRD on ${victim} with every session Established`, () => {
    for (const n of nodes) {
      const got = [...birdRoutes(lab, n).keys()].sort().join();
      if (got !== want.get(n)) gaps.push(`${n}: ${got}`);
    }
    const router = routerRoutes();
    if (router !== wantRouter) gaps.push(`router: ${router}`);
    let pid = old;
    try {
      pid = birdPid(lab, victim);
    } catch {
      return undefined; // Between the old BIRD's end and the new one's PID file.
    }
    return pid !== old && notEstablished(lab).length === 0 ? true : undefined;
  });
  assert.deepEqual(gaps, [], 'routes missing while BIRD was down');
  assertAllConnected(lab);
  const log = readFileSync(join(lab.dir, 'log', `agent-${victim}.log`), 'utf8');
  assert.match(log, /"msg":"BIRD exited"/);
  assert.match(log, /"msg":"BIRD running"/);
}

describe('bgp, full mesh on one segment', { timeout: 300_000 }, () => {
  requireRoot();
  const lab = new TestLab('bgmesh');
  const nodes = ['n1', 'n2', 'n3'];

  before(() => {
    lab.upWithExample(['--backend', 'bgp', '--nodes', '3']);
  });
  after(() => {
    lab.down();
  });

  test('every pod reaches every pod; kernel routes are BIRD’s, over eth0, with no VXLAN device', async () => {
    const { all, ipOf, routesOf } = await converged(lab, nodes);
    for (const n of nodes) {
      const routes = routesOf.get(n)!;
      for (const p of nodes.filter((x) => x !== n)) {
        const r = routes.get(all.get(p) ?? '');
        assert.equal(r?.dev, 'eth0', `${n} → ${p}`);
        assert.equal(r?.gateway, ipOf.get(p), `${n} → ${p}`);
      }
    }
    // weft get bgp: each node has a session to each other node and learnt its subnet from it.
    for (const s of bgpStatus(lab)) {
      assert.deepEqual(
        s.sessions.map((x) => `${x.neighborAddress} ${x.bgpState}`).sort(),
        nodes
          .filter((p) => p !== s.speaker)
          .map((p) => `${ipOf.get(p)} Established`)
          .sort(),
        s.speaker,
      );
      assert.deepEqual(
        s.learnt.map((r) => r.prefix).sort(),
        nodes
          .filter((p) => p !== s.speaker)
          .map((p) => all.get(p))
          .sort(),
      );
    }
    assert.match(lab.must(['lab', 'status']), /n1: 2 sessions established; 2 routes learnt/);
  });

  test('pods cannot talk BGP to any node (the node guard keeps 179/tcp for the peers)', () => {
    const pod = lab.pods().find((p) => p.metadata.namespace === 'x' && p.metadata.name === 'a')!;
    const own = pod.spec.nodeName!;
    const ipOf = new Map(lab.nodes().map((n) => [n.metadata.name, n.status.addresses[0]!.address]));
    const other = nodes.find((n) => n !== own)!;
    // BIRD listens on every address: without the guard the TCP handshake would complete.
    const connect = (ip: string, port: number) =>
      lab.weft(['exec', '-n', 'x', 'a', '--', 'socat', '-T1', '/dev/null', `TCP:${ip}:${port},connect-timeout=2`], {
        timeoutMs: 20_000,
      }).status;
    for (const n of [own, other]) assert.notEqual(connect(ipOf.get(n)!, 179), 0, `x/a (on ${own}) to ${n}:179`);
    // A peer node does complete the handshake with the same BIRD: it is the guard that refuses the pod.
    const fromPeer = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        `${lab.prefix}${other}`,
        'socat',
        '-T1',
        '/dev/null',
        `TCP:${ipOf.get(own)}:179,connect-timeout=2`,
      ],
      { timeout: 20_000 },
    );
    assert.equal(fromPeer.status, 0, `${other} to ${own}:179: ${String(fromPeer.stderr)}`);
  });

  test('a node joining is routed by every node; removed (kill -9 of agent and BIRD), its routes are withdrawn', async (t) => {
    const added = await joinNode(t, lab);
    const subnet = subnets(lab).get(added) ?? '';
    lab.must(['lab', 'remove-node', '--node', added]);
    const removed = Date.now();
    await waitFor(`${subnet} withdrawn from every node`, () =>
      routeMismatch(lab, nodes, subnet, false).length === 0 ? true : undefined,
    );
    t.diagnostic(`${added}'s ${subnet} withdrawn everywhere ${Date.now() - removed} ms after lab remove-node returned`);
    assert.deepEqual(notEstablished(lab), [], 'the sessions to the removed node are gone, the others are up');
  });

  test('kill -9 of a node’s BIRD: every route stays, pods stay connected, the agent restarts BIRD', async () => {
    await killBirdKeepsRoutes(lab, nodes, 'n2');
  });

  test('ASNumber 65535 is refused naming Backend.ASNumber, by net-conf put and by a restarted agent; nothing changes', async () => {
    const netConf = join(lab.dir, 'net-conf.json');
    const good = readFileSync(netConf, 'utf8');
    const conf = join(lab.dir, 'nodes', 'n1', 'run', 'bird', 'bird.conf');
    const confBefore = readFileSync(conf, 'utf8');
    const routesBefore = nodes.map((n) => [...birdRoutes(lab, n).keys()].sort().join());
    const bad = JSON.parse(good) as { Backend: Record<string, unknown> };
    bad.Backend.ASNumber = 65535;
    // Into the store (where the agents read it): refused, naming the field; the stored one stays.
    const store = ['--store', 'embedded', '--store-file', join(lab.dir, 'leases.db')];
    const stored = lab.must(['net-conf', 'get', ...store]);
    const put = lab.weft(['net-conf', 'put', '-f', lab.file('bad-as.json', JSON.stringify(bad)), ...store]);
    assert.notEqual(put.status, 0);
    assert.match(put.stderr, /Backend\.ASNumber: 65535 is a reserved AS number/);
    assert.equal(lab.must(['net-conf', 'get', ...store]), stored);
    // As the agent's --net-conf file: the restarted agent refuses to start with it.
    writeFileSync(netConf, JSON.stringify(bad));
    try {
      lab.must(['lab', 'restart-agents', '--node', 'n1']);
      const agentLog = join(lab.dir, 'log', 'agent-n1.log');
      await waitFor('the agent of n1 to refuse the net-conf', () =>
        /Backend\.ASNumber: 65535 is a reserved AS number/.test(readFileSync(agentLog, 'utf8')) ? true : undefined,
      );
      assert.equal(readFileSync(conf, 'utf8'), confBefore, "n1's BIRD config");
      assert.deepEqual(
        nodes.map((n) => [...birdRoutes(lab, n).keys()].sort().join()),
        routesBefore,
        'kernel routes',
      );
      // n1's BIRD went with its agent, yet the kernel and the peers (graceful restart) keep forwarding.
      assert.deepEqual(surprises(lab.probe(['-A', '--port', '80'])), []);
    } finally {
      writeFileSync(netConf, good);
      lab.must(['net-conf', 'put', '-f', netConf, ...store]);
      lab.must(['lab', 'restart-agents', '--node', 'n1']);
    }
    await waitFor('n1 back with every session Established', () =>
      notEstablished(lab).length === 0 ? true : undefined,
    );
  });

  for (const name of SMOKE_SCENARIOS)
    test(`NetworkPolicy smoke scenario on bgp: ${name}`, () => policySmoke(lab, name));
});

describe('bgp, nodes peering with the router of two segments', { timeout: 300_000 }, () => {
  requireRoot();
  const lab = new TestLab('bgrtr');
  const nodes = ['n1', 'n2', 'n3'];
  const legOf: Record<string, string> = { n1: '10.99.0.253', n2: '10.99.1.253', n3: '10.99.0.253', n4: '10.99.1.253' };
  const rt = () => `${lab.prefix}rt`;

  before(() => {
    lab.upWithExample(['--backend', 'bgp', '--segments', '2', '--bgp-peer', 'router', '--nodes', '3']);
  });
  after(() => {
    lab.down();
  });

  test('every pod reaches every pod across the router, with no encapsulation', async () => {
    const { all, ipOf, routesOf } = await converged(lab, nodes);
    for (const n of nodes) {
      // Every peer, on the segment or not, via the router's leg on this node's segment.
      for (const r of routesOf.get(n)!.values()) assert.equal(r.gateway, legOf[n], `${n}: ${JSON.stringify(r)}`);
    }
    // The router routes each subnet straight to its node.
    const router = new Map(
      ipJson<RouteJson[]>(rt(), ['route', 'show', 'proto', 'bird']).map((r) => [r.dst, r.gateway]),
    );
    for (const n of nodes) assert.equal(router.get(all.get(n) ?? ''), ipOf.get(n), n);
    // weft get bgp: each node has one session, to its leg; the router one per node.
    const status = bgpStatus(lab);
    for (const n of nodes) {
      const s = status.find((x) => x.speaker === n);
      assert.deepEqual(
        s?.sessions.map((x) => `${x.neighborAddress} ${x.bgpState}`),
        [`${legOf[n]} Established`],
        n,
      );
    }
    const r = status.find((x) => x.speaker === 'router');
    assert.deepEqual(
      r?.sessions
        .filter((x) => x.bgpState === 'Established')
        .map((x) => x.neighborAddress)
        .sort(),
      nodes.map((n) => ipOf.get(n)).sort(),
    );
  });

  test('a node joining on the second segment is routed by every node through the router; removed, it is withdrawn', async (t) => {
    const added = await joinNode(t, lab);
    assert.equal(added, 'n4');
    const subnet = subnets(lab).get('n4') ?? '';
    assert.equal(birdRoutes(lab, 'n1').get(subnet)?.gateway, '10.99.0.253');
    lab.must(['lab', 'remove-node', '--node', added]);
    const removed = Date.now();
    await waitFor(`${subnet} withdrawn from every node and the router`, () =>
      routeMismatch(lab, nodes, subnet, false).length === 0 &&
      !ipJson<RouteJson[]>(rt(), ['route', 'show', 'proto', 'bird']).some((r) => r.dst === subnet)
        ? true
        : undefined,
    );
    t.diagnostic(`${added}'s ${subnet} withdrawn everywhere ${Date.now() - removed} ms after lab remove-node returned`);
    await waitFor('the router without a session to the removed node', () =>
      notEstablished(lab).length === 0 ? true : undefined,
    );
  });

  test('kill -9 of a node’s BIRD: the router and the other nodes keep its routes, pods stay connected', async () => {
    await killBirdKeepsRoutes(lab, nodes, 'n2', rt());
  });

  test('a RouterAddress on no segment of the node is refused naming Backend.RouterAddress; the node keeps routing', async () => {
    // The agents read the cluster's net-conf from the store (the file only seeds it): put the new one there.
    const store = ['--store', 'embedded', '--store-file', join(lab.dir, 'leases.db')];
    const good = lab.must(['net-conf', 'get', ...store]);
    const netConf = lab.file('net-conf-router.json', good);
    const conf = join(lab.dir, 'nodes', 'n1', 'run', 'bird', 'bird.conf');
    const confBefore = readFileSync(conf, 'utf8');
    const routesBefore = [...birdRoutes(lab, 'n1').keys()].sort();
    const bad = JSON.parse(good) as { Backend: Record<string, unknown> };
    bad.Backend.RouterAddress = ['10.98.7.253'];
    writeFileSync(netConf, JSON.stringify(bad));
    lab.must(['net-conf', 'put', '-f', netConf, ...store]);
    try {
      lab.must(['lab', 'restart-agents', '--node', 'n1']);
      const status = await waitFor("n1's backend controller to report the error", () => {
        const doc = JSON.parse(lab.must(['lab', 'status', '-o', 'json'])) as {
          nodes: Array<{ name: string; controllers?: Array<{ name: string; lastError?: string }> }>;
        };
        const err = doc.nodes.find((n) => n.name === 'n1')?.controllers?.find((c) => c.name === 'backend')?.lastError;
        return err && /RouterAddress/.test(err) ? err : undefined;
      });
      assert.match(status, /Backend\.RouterAddress: none of 10\.98\.7\.253 is on this node's segment 10\.99\.0\.0\/24/);
      assert.equal(readFileSync(conf, 'utf8'), confBefore, "n1's BIRD config");
      // The last good config runs again: n1 keeps its session and its routes.
      await waitFor('n1 Established again on its last good config', () =>
        notEstablished(lab).length === 0 ? true : undefined,
      );
      assert.deepEqual([...birdRoutes(lab, 'n1').keys()].sort(), routesBefore);
    } finally {
      writeFileSync(netConf, good);
      lab.must(['net-conf', 'put', '-f', netConf, ...store]);
      lab.must(['lab', 'restart-agents', '--node', 'n1']);
    }
    await waitFor('n1 back with every session Established', () =>
      notEstablished(lab).length === 0 ? true : undefined,
    );
  });
});
