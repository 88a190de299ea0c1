/**
 * etcd goes away for 30 s while pods talk across nodes: the kernel keeps forwarding (no ping lost
 * to weft), the agents keep their state, and once etcd is back every node still holds its subnet.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, CLI, waitFor } from './support/cluster.js';
import { EtcdServer } from './support/etcd.js';
import { inNs, requireRoot } from './support/netns.js';
import type { Lease } from '../src/ports/lease-store.js';

requireRoot();
const work = `/tmp/weft-ago-test-${process.pid}`;
const cluster = new Cluster('weft-ago-', work);
const etcd = new EtcdServer({ host: '10.99.0.254' });
let storeArgs: string[] = [];

function leases(): Lease[] {
  const r = inNs(cluster.segment!.ns, [process.execPath, CLI, 'leases', ...storeArgs, '-o', 'json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Lease[];
}

before(async () => {
  await cluster.build(3);
  etcd.bindTo(cluster.segment!.ns);
  await etcd.start();
  storeArgs = ['--store', 'etcd', '--etcd-endpoints', etcd.clientUrl];
  const file = join(work, 'net-conf.json');
  writeFileSync(file, JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } }));
  assert.equal(
    inNs(cluster.segment!.ns, [process.execPath, CLI, 'net-conf', 'put', ...storeArgs, '-f', file]).status,
    0,
  );
});
after(async () => {
  await etcd.destroy();
  await cluster.destroy();
});

test('etcd down for 30 s: no packet lost across nodes, every node keeps its subnet', { timeout: 120_000 }, async () => {
  for (const n of cluster.nodes)
    cluster.startAgent(n, storeArgs, ['--lease-ttl', '5s', '--renew-margin', '3s', '--resync', '2s']);
  for (const n of cluster.nodes) await waitFor(`subnet.env on ${n.name}`, () => cluster.subnetEnv(n), 20_000);
  for (const n of cluster.nodes)
    await waitFor(
      `routes on ${n.name}`,
      () =>
        inNs(n.ns, ['ip', '-j', 'route', 'show', 'proto', '119']).stdout.split('"dst"').length - 1 === 2
          ? true
          : undefined,
      20_000,
    );
  const before = leases()
    .map((l) => `${l.subnet} ${l.publicIp}`)
    .sort();
  assert.equal(before.length, 3);
  const envBefore = cluster.nodes.map((n) => cluster.subnetEnv(n));
  const pods = [
    await cluster.addPod(cluster.nodes[0]!, 'pa'),
    await cluster.addPod(cluster.nodes[1]!, 'pb'),
    await cluster.addPod(cluster.nodes[2]!, 'pc'),
  ];
  // Two streams of pings across nodes for the whole outage (0.1 s apart, 40 s).
  const streams = [
    [pods[0]!, pods[1]!],
    [pods[2]!, pods[0]!],
  ].map(
    ([a, b]) =>
      new Promise<string>((resolve) => {
        const c = spawn('ip', ['netns', 'exec', a!.ns, 'ping', '-i', '0.1', '-c', '400', '-W', '1', b!.ip], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
        c.on('exit', () => resolve(out));
      }),
  );
  await new Promise((r) => setTimeout(r, 3000));
  const logMark = cluster.nodes.map((n) => n.agent!.log.length);
  await etcd.stop();
  const downAt = Date.now();
  await new Promise((r) => setTimeout(r, 30_000));
  // The agents noticed: they log that they cannot renew, and keep going.
  for (const n of cluster.nodes) {
    assert.ok(n.agent && n.agent.child.exitCode === null, `${n.name}'s agent is still running`);
    assert.ok(
      n.agent.log.some((l) => l.includes('cannot renew the lease')),
      `${n.name} logged the outage`,
    );
  }
  await etcd.start();
  const outageMs = Date.now() - downAt;
  const results = await Promise.all(streams);
  // weft can only lose packets by changing the kernel: during the outage and the return of etcd
  // no agent may have changed a route, neighbour or FDB entry.
  for (const [i, n] of cluster.nodes.entries()) {
    const changes = n.agent!.log.slice(logMark[i]).filter((l) => l.includes('backend changes applied'));
    assert.deepEqual(changes, [], `${n.name} changed the kernel during the outage`);
  }
  for (const out of results) {
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    assert.ok(m, out);
    assert.equal(m[1], '400');
    // Every ping should come back; on this shared 2-core VM a single ping has been seen lost with
    // no change by weft (asserted above), so one is tolerated and reported, no more.
    assert.ok(
      Number(m[2]) >= 399,
      `pings lost during a ${Math.round(outageMs / 1000)} s etcd outage: ${out.split('\n').slice(-3).join(' ')}`,
    );
  }
  // Once etcd is back the nodes renew and still hold the same subnets.
  await waitFor(
    'leases renewed after the outage',
    () => {
      const now = leases();
      return now.length === 3 && now.every((l) => l.expiresAt > Date.now() + 1000) ? true : undefined;
    },
    20_000,
  );
  assert.deepEqual(
    leases()
      .map((l) => `${l.subnet} ${l.publicIp}`)
      .sort(),
    before,
  );
  assert.deepEqual(
    cluster.nodes.map((n) => cluster.subnetEnv(n)),
    envBefore,
  );
});
