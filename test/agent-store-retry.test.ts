/**
 * An agent started while its store is unreachable waits for it for ever (issue 16 item 7): it
 * serves /healthz as NotReady and says why in its node status document meanwhile, writes no CNI
 * config (so no pod starts on the node), and once etcd comes up it takes a lease, programs the
 * node and turns Ready, without being restarted. A bad config still exits at once, naming it.
 */

import { agentHealth, agentNodeStatus } from './support/agent-status.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, waitFor } from './support/cluster.js';
import { EtcdServer } from './support/etcd.js';
import { inNs, requireRoot } from './support/netns.js';

requireRoot();
const work = `/tmp/weft-asr-test-${process.pid}`;
const cluster = new Cluster('weft-asr-', work);
const etcd = new EtcdServer({ host: '10.99.0.254' });
// Where EtcdServer will listen once started in the segment namespace (its fixed port there).
const storeArgs = ['--store', 'etcd', '--etcd-endpoints', 'http://10.99.0.254:2379'];
let netConf = '';

before(async () => {
  await cluster.build(1);
  etcd.bindTo(cluster.segment!.ns);
  netConf = join(work, 'net-conf.json');
  writeFileSync(netConf, JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } }));
});
after(async () => {
  await etcd.destroy();
  await cluster.destroy();
});

test(
  'a bad --net-conf exits at once with the field named, even while the store is unreachable',
  { timeout: 30_000 },
  async () => {
    const bad = join(work, 'bad-net-conf.json');
    writeFileSync(bad, JSON.stringify({ Network: '10.244.0.0/33' }));
    const n = cluster.nodes[0]!;
    const a = cluster.startAgent(n, storeArgs, ['--net-conf', bad]);
    const code = await a.exited;
    assert.notEqual(code, 0);
    assert.match(a.log.join('\n'), /--net-conf: net-conf: Network/);
    assertNoCniConfig(n.cniConfDir);
    cluster.nodes[0]!.agent = undefined;
  },
);

function assertNoCniConfig(dir: string): void {
  assert.throws(() => readFileSync(join(dir, '10-weft.conflist')), /ENOENT/, 'no CNI config was written');
}

test(
  'etcd not up yet: the agent is NotReady and retries; etcd starts 20 s later: the agent becomes Ready',
  { timeout: 120_000 },
  async () => {
    const n = cluster.nodes[0]!;
    cluster.startAgent(n, storeArgs, ['--net-conf', netConf, '--resync', '2s']);
    const notReady = await waitFor(
      '/healthz answers NotReady, naming the store',
      () => {
        // Before its first attempt fails the subnet controller says only "starting".
        const h = agentHealth(n.ns);
        return h && h.status === 503 && !h.body.startsWith('not ready: subnet starting: starting') ? h : undefined;
      },
      20_000,
    );
    assert.match(notReady.body, /^not ready: subnet starting: cannot read the network config from the store/);
    assert.match(notReady.body, /\n\[-\]backend pending\n/);
    const doc = await waitFor(
      'the node status document says why',
      () => {
        const d = agentNodeStatus(n.runDir);
        return d?.controllers.find((c) => c.name === 'subnet')?.lastError ? d : undefined;
      },
      20_000,
    );
    assert.equal(doc.ready, false);
    assert.deepEqual(
      doc.controllers.map((c) => `${c.name} ${c.state}`),
      [
        'subnet starting',
        'backend pending',
        'ip-masq pending',
        'node-guard pending',
        'cni-socket pending',
        'cni-files pending',
      ],
    );
    // Well past a few retries (the backoff is capped at 5 s): still running, still waiting.
    await new Promise((r) => setTimeout(r, 20_000));
    assert.equal(n.agent!.child.exitCode, null, 'the agent is still running');
    assertNoCniConfig(n.cniConfDir);
    const retries = n.agent!.log.filter((l) =>
      l.includes('cannot read the network config from the store yet; retrying'),
    ).length;
    assert.ok(retries >= 5, `retried ${retries} times`);

    await etcd.start();
    const ready = await waitFor(
      '/healthz answers 200',
      () => {
        const h = agentHealth(n.ns);
        return h && h.status === 200 ? h : undefined;
      },
      30_000,
    );
    assert.match(ready.body, /^ok\n\[\+\]subnet ok \(10\.244\.\d+\.0\/24\)\n\[\+\]backend ok/);
    assert.match(cluster.subnetEnv(n) ?? '', /FLANNEL_SUBNET=10\.244\.\d+\.1\/24/);
    const after = await waitFor(
      'the node status document says ready',
      () => {
        const d = agentNodeStatus(n.runDir);
        return d?.ready ? d : undefined;
      },
      10_000,
    );
    assert.ok(
      after.controllers.every((c) => c.ready && c.state === 'ready'),
      JSON.stringify(after.controllers),
    );
    const metrics = inNs(n.ns, [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:9777/metrics').then(r => r.text()).then(t => process.stdout.write(t))",
    ]).stdout;
    assert.match(metrics, /weft_controller_ready\{controller="subnet"\} 1/);
    assert.match(metrics, /weft_controller_sync_errors_total\{controller="subnet"\} ([5-9]|\d\d+)/);
  },
);
