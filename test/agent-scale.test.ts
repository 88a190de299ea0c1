/**
 * Many agents at once: 20 `weft agent` processes, one per node namespace, started together
 * against one embedded store and against one etcd. Each must end up with its own subnet, all
 * inside Network and [SubnetMin, SubnetMax] (the window holds exactly 20, so the last agents
 * must find the last free ones); a 21st agent then fails with a clear "no free subnet" error.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, CLI, waitFor } from './support/cluster.js';
import { EtcdServer } from './support/etcd.js';
import { inNs, requireRoot } from './support/netns.js';
import { cidrContains, parseCidr, parseIp } from '../src/core/net/ip.js';

requireRoot();
const NODES = 20;
const conf = JSON.stringify({
  Network: '10.244.0.0/16',
  SubnetMin: '10.244.10.0',
  SubnetMax: '10.244.29.0',
  Backend: { Type: 'host-gw' },
});

async function scenario(
  prefix: string,
  storeArgs: (segmentNs: string) => Promise<string[]>,
  cleanup: () => Promise<void>,
): Promise<void> {
  const work = `/tmp/weft-${prefix}test-${process.pid}`;
  const cluster = new Cluster(prefix, work);
  try {
    cluster.segment = await cluster.underlay.addSegment('ul', '10.99.0');
    for (let i = 1; i <= NODES + 1; i++) await cluster.addNode(`n${i}`, cluster.segment, i);
    const args = await storeArgs(cluster.segment.ns);
    const file = join(work, 'net-conf.json');
    writeFileSync(file, conf);
    const put = inNs(cluster.segment.ns, [process.execPath, CLI, 'net-conf', 'put', ...args, '-f', file]);
    assert.equal(put.status, 0, put.stderr);
    const nodes = cluster.nodes.slice(0, NODES);
    for (const n of nodes) cluster.startAgent(n, args, ['--lease-ttl', '60s', '--resync', '10s']);
    const subnets = [];
    for (const n of nodes) {
      const env = await waitFor(`subnet.env on ${n.name}`, () => cluster.subnetEnv(n), 60_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${n.agent?.log.slice(-5).join('\n')}`);
      });
      subnets.push(/FLANNEL_SUBNET=(\S+)/.exec(env)![1]!.replace(/\.1\/24$/, '.0/24'));
    }
    assert.equal(new Set(subnets).size, NODES, `20 distinct subnets: ${subnets.sort().join(' ')}`);
    for (const s of subnets) {
      const net = parseCidr(s);
      assert.equal(net.prefix, 24);
      assert.ok(cidrContains(parseCidr('10.244.0.0/16'), net.address));
      const v = net.address.value;
      assert.ok(
        v >= parseIp('10.244.10.0').value && v <= parseIp('10.244.29.0').value,
        `${s} inside [SubnetMin, SubnetMax]`,
      );
    }
    // The window is full: one more node gets a clear error and exits non-zero.
    const last = cluster.nodes[NODES]!;
    const r = inNs(
      last.ns,
      [
        process.execPath,
        CLI,
        'agent',
        ...args,
        '--iface',
        'eth0',
        '--run-dir',
        last.runDir,
        '--cni-conf-dir',
        last.cniConfDir,
        '--metrics-addr',
        '127.0.0.1:9778',
      ],
      { timeoutMs: 60_000 },
    );
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /no free subnet: all 20 subnets of length \/24 in 10\.244\.0\.0\/16 between 10\.244\.10\.0\/24 and 10\.244\.29\.0\/24 are leased/,
    );
  } finally {
    for (const n of cluster.nodes) await cluster.stopAgent(n, 'SIGKILL');
    await cleanup();
    await cluster.destroy();
  }
}

describe('20 agents started at once', () => {
  const storeFile = `/tmp/weft-ags-store-${process.pid}.db`;
  after(() => {
    for (const s of ['', '-wal', '-shm']) rmSync(`${storeFile}${s}`, { force: true });
  });

  test('on one embedded store: 20 distinct subnets in range; the 21st node gets a clear error', async () => {
    await scenario(
      'weft-ags-',
      async () => ['--store', 'embedded', '--store-file', storeFile],
      async () => undefined,
    );
  });

  test('on one etcd: 20 distinct subnets in range; the 21st node gets a clear error', async () => {
    const etcd = new EtcdServer({ host: '10.99.0.254' });
    await scenario(
      'weft-agx-',
      async (segmentNs) => {
        etcd.bindTo(segmentNs);
        await etcd.start();
        return ['--store', 'etcd', '--etcd-endpoints', etcd.clientUrl];
      },
      () => etcd.destroy(),
    );
  });
});
