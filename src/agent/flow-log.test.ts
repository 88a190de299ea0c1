// The node's flow log service (flow-log.ts) without a kernel: a fake NFLOG reader hands it
// logged packets as the real one (src/adapters/nflog.ts) does. Checked: packets become flows with
// pods and policy names, unreadable ones are counted and dropped, a flood keeps the ring at its
// capacity while every flow is counted on the metrics, gaps in the kernel's sequence numbers are
// counted as lost, followers get new flows, and a reader that cannot open or fails is reopened
// with a back-off and closed with the service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PromMetrics } from '../adapters/metrics-prom.js';
import { JsonLogger } from '../adapters/json-logger.js';
import type { NflogReaderSink } from '../adapters/nflog.js';
import { parseManifest } from '../core/k8s/parse.js';
import type { NetworkPolicy } from '../core/k8s/objects.js';
import { planPolicyTable } from '../core/policy/policy-sets.js';
import { allowPrefix, dropPrefix, FlowPolicyIndex } from '../core/policy/flow-log.js';
import type { Flow } from '../core/flows/flow.js';
import type { NflogPacket } from '../core/flows/nflog.js';
import { FakeClock } from '../testkit/clock-fake.js';
import { NAMESPACES, policy } from '../testkit/policy-arbitraries.js';
import { FlowLogService } from './flow-log.js';

const PODS = new Map([
  ['10.244.1.2', 'x/web'],
  ['10.244.2.3', 'y/client'],
]);

function setup(capacity: number, failOpens = 0) {
  const state = planPolicyTable(
    {
      namespaces: NAMESPACES,
      policies: parseManifest(
        policy('x', 'deny', 'podSelector: {}\npolicyTypes: [Ingress]') +
          policy('x', 'web', 'podSelector: {}\ningress: [{ ports: [{ port: 80 }] }]'),
      ) as NetworkPolicy[],
    },
    [{ namespace: 'x', name: 'web', labels: {}, ip: '10.244.1.2', ports: [], local: true }],
  );
  const index = new FlowPolicyIndex();
  index.update(state.chains);
  const chain = state.chains[0]!.name;
  const clock = new FakeClock();
  const metrics = new PromMetrics();
  const logs: string[] = [];
  /** Every reader the service opened (or tried to: the first `failOpens` throw, as a busy group does). */
  const readers: Array<{ group: number; sink: NflogReaderSink; closed: boolean }> = [];
  let attempts = 0;
  const service = new FlowLogService({
    node: 'n1',
    group: 27,
    capacity,
    podAt: (ip) => PODS.get(ip),
    index,
    metrics,
    log: new JsonLogger((l) => logs.push(l)),
    clock,
    openReader: (group, sink) => {
      if (attempts++ < failOpens)
        throw new Error(`bind and configure NFLOG group ${group}: EPERM (Operation not permitted)`);
      const r = { group, sink, closed: false };
      readers.push(r);
      return { close: () => void (r.closed = true) };
    },
  });
  const last = () => readers[readers.length - 1]!;
  return { chain, clock, metrics, logs, readers, last, service, attempts: () => attempts };
}

const packet = (prefix: string, sport: number, saddr = '10.244.2.3', seq?: number): NflogPacket => ({
  time: 1_800_000_000_000 + sport,
  prefix,
  protocol: 'TCP',
  saddr,
  daddr: '10.244.1.2',
  sport,
  dport: 80,
  ...(seq !== undefined ? { seq } : {}),
});

/** Whether the metrics hold `line`, read as a scrape would: in a later task than the packets. */
async function metric(metrics: PromMetrics, line: string): Promise<boolean> {
  await new Promise((r) => setImmediate(r));
  return (await metrics.render()).text.split('\n').includes(line);
}

test('packets become flows with pods and policies; unreadable ones are counted and dropped', async () => {
  const t = setup(100);
  const closer = await t.service.open();
  try {
    assert.equal(t.readers.length, 1);
    assert.equal(t.last().group, 27, 'the group asked for');
    const followed: Flow[] = [];
    const unfollow = t.service.follow((f) => followed.push(f));
    const sink = t.last().sink;
    sink.packet(packet(allowPrefix(t.chain, 0), 40001));
    sink.packet(packet(dropPrefix(t.chain), 40002, '10.9.9.9'));
    sink.unreadable('NFLOG packet "weft d x": IP version 6, not IPv4');
    sink.packet(packet('weft d in-gone', 1));
    unfollow();
    sink.packet(packet(allowPrefix(t.chain, 0), 40003));
    const flows = t.service.list();
    assert.deepEqual(flows.slice(0, 2), [
      {
        time: 1_800_000_040_001,
        node: 'n1',
        protocol: 'TCP',
        src: { ip: '10.244.2.3', port: 40001, pod: 'y/client' },
        dst: { ip: '10.244.1.2', port: 80, pod: 'x/web' },
        verdict: 'allowed',
        direction: 'Ingress',
        policies: ['x/web'],
        rule: 0,
      },
      {
        time: 1_800_000_040_002,
        node: 'n1',
        protocol: 'TCP',
        src: { ip: '10.9.9.9', port: 40002 },
        dst: { ip: '10.244.1.2', port: 80, pod: 'x/web' },
        verdict: 'denied',
        direction: 'Ingress',
        policies: ['x/deny', 'x/web'],
      },
    ]);
    assert.equal(flows.length, 3);
    assert.deepEqual(followed, flows.slice(0, 2), 'followers until they unfollow');
    for (const line of [
      'weft_flows_total{verdict="allowed",namespace="x",policy="x/web"} 2',
      'weft_flows_total{verdict="denied",namespace="x",policy="x/deny"} 1',
      'weft_flows_total{verdict="denied",namespace="x",policy="x/web"} 1',
      'weft_flow_log_records_total{result="flow"} 3',
      'weft_flow_log_records_total{result="unreadable"} 2',
    ])
      assert.ok(await metric(t.metrics, line), line);
    // Both counted, one logged: at most one warning every 10 s.
    const warnings = () => t.logs.filter((l) => l.includes('unreadable flow log record'));
    assert.equal(warnings().length, 1);
    assert.match(warnings()[0]!, /IP version 6, not IPv4/);
    await t.clock.advance(10_000);
    sink.unreadable('NFLOG packet without a prefix');
    assert.equal(warnings().length, 2);
    assert.match(warnings()[1]!, /"alsoUnreadableSinceLastWarning":1/);
  } finally {
    await closer.close();
  }
  assert.equal(t.last().closed, true, 'the reader closed with the service');
});

test('a flood keeps the ring at its capacity; every flow is counted', async () => {
  const t = setup(10);
  const closer = await t.service.open();
  try {
    for (let i = 0; i < 250; i++) t.last().sink.packet(packet(dropPrefix(t.chain), 1000 + i));
    const flows = t.service.list();
    assert.equal(flows.length, 10);
    assert.deepEqual(
      flows.map((f) => f.src.port),
      Array.from({ length: 10 }, (_, i) => 1240 + i),
      'the newest, oldest first',
    );
    assert.ok(await metric(t.metrics, 'weft_flows_total{verdict="denied",namespace="x",policy="x/deny"} 250'));
  } finally {
    await closer.close();
  }
});

test('packets the kernel could not deliver are counted from the gaps in the sequence numbers', async () => {
  const t = setup(100, 0);
  const closer = await t.service.open();
  try {
    // A new reader's group numbers from 0: 2 and 3 missing, then 6; a reopened reader starts at
    // 0 again, and its first packet read is 2: 0 and 1 missing.
    for (const [i, seq] of [0, 1, 4, 5, 7].entries())
      t.last().sink.packet(packet(allowPrefix(t.chain, 0), 2000 + i, undefined, seq));
    t.last().sink.failed(new Error('read NFLOG group 27: EBADF'));
    await t.clock.advance(500);
    assert.equal(t.readers.length, 2);
    t.last().sink.packet(packet(allowPrefix(t.chain, 0), 3000, undefined, 2));
    assert.ok(await metric(t.metrics, 'weft_flow_log_records_total{result="lost"} 5'));
    assert.ok(await metric(t.metrics, 'weft_flow_log_records_total{result="flow"} 6'), 'every packet read is a flow');
  } finally {
    await closer.close();
  }
});

test('a reader that cannot open or stops is reopened with a back-off, and none after the close', async () => {
  const t = setup(10, 2);
  const closer = await t.service.open();
  try {
    assert.equal(t.readers.length, 0, 'the group is busy');
    assert.equal(t.service.reading(), false);
    assert.match(t.service.problem() ?? '', /^NFLOG group 27 not read \(bind and configure NFLOG group 27: EPERM/);
    await t.clock.advance(499);
    assert.equal(t.attempts(), 1, 'not before the back-off');
    await t.clock.advance(1);
    assert.equal(t.attempts(), 2, 'tried again, still busy');
    await t.clock.advance(999);
    assert.equal(t.attempts(), 2, 'the back-off doubled');
    await t.clock.advance(1);
    assert.equal(t.readers.length, 1, 'opened at the third attempt');
    assert.equal(t.service.reading(), true);
    assert.match(t.service.problem() ?? '', /EPERM/, 'still said while the new reader is young');
    // A read error closes the reader (the adapter does) and reports it: reopened after the back-off.
    t.last().sink.failed(new Error('read NFLOG group 27: EBADF'));
    assert.equal(t.service.reading(), false);
    assert.match(t.service.problem() ?? '', /EBADF/);
    await t.clock.advance(2000);
    assert.equal(t.readers.length, 2);
    t.last().sink.packet(packet(allowPrefix(t.chain, 0), 40001));
    assert.equal(t.service.list().length, 1, 'the new reader delivers');
    await t.clock.advance(10_000);
    assert.equal(t.service.problem(), undefined, 'cleared once the new one has run 10 s');
    assert.ok(await metric(t.metrics, 'weft_flow_log_restarts_total 3'));
    assert.equal(t.logs.filter((l) => l.includes('flow log reader failed; retrying')).length, 3);
    // A stale reader's late failure changes nothing.
    t.readers[0]!.sink.failed(new Error('late'));
    assert.equal(t.service.reading(), true);
    // The back-off is now 4 s; a reader that ran over a minute starts over at 500 ms.
    await t.clock.advance(60_000);
    t.last().sink.failed(new Error('read NFLOG group 27: EBADF'));
    await t.clock.advance(500);
    assert.equal(t.readers.length, 3, 'reopened after 500 ms');
  } finally {
    await closer.close();
  }
  assert.equal(t.last().closed, true, 'closed by the close');
  t.last().sink.failed(new Error('after the close'));
  await t.clock.advance(60_000);
  assert.equal(t.readers.length, 3, 'no reopen after the close');
});
