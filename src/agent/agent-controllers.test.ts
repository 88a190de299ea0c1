import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/clock-fake.js';
import { MemoryLeaseStore } from '../testkit/lease-store-fake.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { PromMetrics } from '../adapters/metrics-prom.js';
import type { Exec, ExecRequest, ExecResult } from '../ports/exec.js';
import { AgentConfigError, SubnetController, type SubnetControllerOptions } from './agent.js';
import { SubnetLease } from './subnet-lease.js';

const NET_CONF = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';

/** `ip -j -4 addr show` of a node with eth0 10.99.0.1/24: all detectNodeAddress asks. */
const exec: Exec = {
  run: async (req: ExecRequest): Promise<ExecResult> => {
    assert.deepEqual(req.argv, ['ip', '-j', '-4', 'addr', 'show']);
    return {
      stdout: JSON.stringify([
        {
          ifname: 'eth0',
          mtu: 1500,
          addr_info: [{ family: 'inet', local: '10.99.0.1', prefixlen: 24, scope: 'global' }],
        },
      ]),
      stderr: '',
      exitCode: 0,
    };
  },
  tryRun: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
};

function setup(extra: Partial<SubnetControllerOptions> = {}) {
  const clock = new FakeClock();
  const store = new MemoryLeaseStore(clock);
  const warnings: number[] = [];
  const log = new JsonLogger((l) => {
    if (l.includes('"level":"warn"')) warnings.push(clock.now());
  });
  const c = new SubnetController({
    nodeName: 'n1',
    iface: 'eth0',
    netConfText: NET_CONF,
    exec,
    store,
    clock,
    log,
    metrics: new PromMetrics(),
    onPeersChanged: () => undefined,
    makeLeaser: (conf, attrs) =>
      new SubnetLease({
        store,
        conf,
        attrs,
        ttlMs: 60_000,
        renewMarginMs: 30_000,
        relistMs: 10_000,
        clock,
        random: () => 0,
        log,
        onPeersChanged: () => undefined,
        onLost: () => undefined,
      }),
    ...extra,
  });
  return { clock, store, c, warnings };
}

describe('SubnetController', () => {
  test('a store that is down for 10 minutes: retried for ever with capped backoff, NotReady meanwhile, then ready', async () => {
    const { clock, store, c, warnings } = setup();
    store.failing = true;
    let started = false;
    void c.start().then(() => (started = true));
    await clock.advance(10 * 60_000);
    assert.equal(started, false);
    const st = c.status();
    assert.equal(st.state, 'starting');
    assert.equal(st.ready, false);
    assert.match(st.lastError ?? '', /^cannot read the network config from the store: memory lease store: unreachable/);
    assert.ok(warnings.length > 100, `retried ${warnings.length} times, well past the old limit of 20`);
    const gaps = warnings.slice(1).map((t, i) => t - warnings[i]!);
    assert.ok(Math.max(...gaps) <= 5_000, 'backoff capped at 5 s');
    assert.deepEqual(gaps.slice(0, 3), [200, 400, 800], 'and it grows from 200 ms');
    store.failing = false;
    await clock.advance(5_000);
    assert.equal(started, true);
    const ready = c.status();
    assert.equal(ready.state, 'ready');
    assert.equal(ready.revision, '10.244.1.0/24', 'the first subnet (SubnetMin defaults to the second /24)');
    assert.equal(c.network().node.publicIp, '10.99.0.1');
    await c.stop();
  });

  const fatal: Array<{ name: string; extra: Partial<SubnetControllerOptions>; error: RegExp }> = [
    {
      name: 'a --net-conf that does not parse',
      extra: { netConfText: '{"Network":"10.244.0.0/33"}' },
      error: /^--net-conf: net-conf: Network/,
    },
    {
      name: 'no --net-conf and none stored',
      extra: { netConfText: undefined },
      error: /^no network config: pass --net-conf FILE/,
    },
    { name: 'an --iface the node does not have', extra: { iface: 'eth9' }, error: /^--iface eth9: no such interface$/ },
  ];
  for (const f of fatal) {
    test(`a bad config exits at once: ${f.name}`, async () => {
      const { c } = setup(f.extra);
      await assert.rejects(c.start(), (err: unknown) => {
        assert.ok(err instanceof AgentConfigError, String(err));
        assert.match(err.message, f.error);
        return true;
      });
    });
  }

  test('stop while retrying ends start without a lease', async () => {
    const { clock, store, c } = setup();
    store.failing = true;
    const started = c.start();
    await clock.advance(3_000);
    await c.stop();
    await started;
    assert.equal(c.status().state, 'stopped');
    assert.throws(() => c.network(), /not started/);
  });
});
