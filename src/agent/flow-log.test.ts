// The node's flow log service (flow-log.ts) without a kernel: a fake logger process stands in
// for ulogd2 and the test writes ulogd2's JSON lines into the service's real unix socket, as
// ulogd2 does. Checked: records become flows with pods and policy names, unreadable ones are
// counted and dropped, a flood keeps the ring at its capacity while every flow is counted on the
// metrics, followers get new flows, and the logger is restarted with a back-off when it ends
// and stopped when the service closes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PromMetrics } from '../adapters/metrics-prom.js';
import { JsonLogger } from '../adapters/json-logger.js';
import type { ProgramEnd, StartedProgram } from '../adapters/exec.js';
import { parseManifest } from '../core/k8s/parse.js';
import type { NetworkPolicy } from '../core/k8s/objects.js';
import { planPolicyTable } from '../core/policy/policy-sets.js';
import { allowPrefix, dropPrefix, FlowPolicyIndex } from '../core/policy/flow-log.js';
import type { Flow } from '../core/flows/flow.js';
import { FakeClock } from '../testkit/clock-fake.js';
import { NAMESPACES, policy } from '../testkit/policy-arbitraries.js';
import { flowSocketPath, FlowLogService } from './flow-log.js';

const PODS = new Map([
  ['10.244.1.2', 'x/web'],
  ['10.244.2.3', 'y/client'],
]);

function setup(capacity: number) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-flowlog-'));
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
  const started: Array<{ p: StartedProgram; end: (e: ProgramEnd) => void; stopped: boolean }> = [];
  const service = new FlowLogService({
    node: 'n1',
    runDir: dir,
    group: 27,
    capacity,
    podAt: (ip) => PODS.get(ip),
    index,
    metrics,
    log: new JsonLogger((l) => logs.push(l)),
    clock,
    startLogger: () => {
      let end!: (e: ProgramEnd) => void;
      const ended = new Promise<ProgramEnd>((r) => (end = r));
      const entry = { p: { pid: 1000 + started.length, ended }, end, stopped: false };
      started.push(entry);
      return entry.p;
    },
    stopLogger: (p) => {
      const e = started.find((x) => x.p === p)!;
      e.stopped = true;
      e.end({ exitCode: null, signal: 15 });
    },
  });
  return { dir, chain, clock, metrics, logs, started, service };
}

const record = (prefix: string, sport: number, saddr = '10.244.2.3') =>
  JSON.stringify({
    'oob.prefix': prefix,
    'oob.time.sec': 1_800_000_000,
    'oob.time.usec': sport,
    'ip.protocol': 6,
    src_ip: saddr,
    dest_ip: '10.244.1.2',
    src_port: sport,
    dest_port: 80,
  });

/** Writes lines to the socket as ulogd2 does, and waits until the service has read `expect` more records. */
async function send(path: string, lines: string[], metrics: PromMetrics): Promise<void> {
  const count = async () =>
    (await metrics.render()).text
      .split('\n')
      .filter((l) => l.startsWith('weft_flow_log_records_total{'))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  const before = await count();
  const sock = connect(path);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  // Split mid-line, as a stream may deliver it.
  const text = lines.join('\n') + '\n';
  sock.write(text.slice(0, 7));
  sock.write(text.slice(7));
  for (let i = 0; i < 500 && (await count()) < before + lines.length; i++) await new Promise((r) => setTimeout(r, 5));
  sock.destroy();
  assert.equal(await count(), before + lines.length, 'every record read');
}

test('records become flows with pods and policies; unreadable ones are counted and dropped', async () => {
  const t = setup(100);
  const closer = await t.service.open();
  try {
    assert.match(readFileSync(join(t.dir, 'ulogd.conf'), 'utf8'), /^group=27$/m);
    const followed: Flow[] = [];
    const unfollow = t.service.follow((f) => followed.push(f));
    await send(
      flowSocketPath(t.dir),
      [
        record(allowPrefix(t.chain, 0), 40001),
        record(dropPrefix(t.chain), 40002, '10.9.9.9'),
        'not json',
        record('weft d in-gone', 1),
      ],
      t.metrics,
    );
    unfollow();
    const flows = t.service.list();
    assert.deepEqual(flows, [
      {
        time: 1_800_000_000_040,
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
        time: 1_800_000_000_040,
        node: 'n1',
        protocol: 'TCP',
        src: { ip: '10.9.9.9', port: 40002 },
        dst: { ip: '10.244.1.2', port: 80, pod: 'x/web' },
        verdict: 'denied',
        direction: 'Ingress',
        policies: ['x/deny', 'x/web'],
      },
    ]);
    assert.deepEqual(followed, flows);
    const text = (await t.metrics.render()).text;
    for (const line of [
      'weft_flows_total{verdict="allowed",namespace="x",policy="x/web"} 1',
      'weft_flows_total{verdict="denied",namespace="x",policy="x/deny"} 1',
      'weft_flows_total{verdict="denied",namespace="x",policy="x/web"} 1',
      'weft_flow_log_records_total{result="flow"} 2',
      'weft_flow_log_records_total{result="unreadable"} 2',
    ])
      assert.ok(text.split('\n').includes(line), line);
    // Both counted, one logged: at most one warning every 10 s.
    assert.equal(t.logs.filter((l) => l.includes('unreadable flow log record')).length, 1);
    await t.clock.advance(10_000);
    t.service.read('still not json');
    const warnings = t.logs.filter((l) => l.includes('unreadable flow log record'));
    assert.equal(warnings.length, 2);
    assert.match(warnings[1]!, /"alsoUnreadableSinceLastWarning":1/);
  } finally {
    await closer.close();
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test('a flood keeps the ring at its capacity; every flow is counted', async () => {
  const t = setup(10);
  const closer = await t.service.open();
  try {
    const lines = Array.from({ length: 250 }, (_, i) => record(dropPrefix(t.chain), 1000 + i));
    await send(flowSocketPath(t.dir), lines, t.metrics);
    const flows = t.service.list();
    assert.equal(flows.length, 10);
    assert.deepEqual(
      flows.map((f) => f.src.port),
      Array.from({ length: 10 }, (_, i) => 1240 + i),
      'the newest, oldest first',
    );
    assert.ok(
      (await t.metrics.render()).text.includes('weft_flows_total{verdict="denied",namespace="x",policy="x/deny"} 250'),
    );
  } finally {
    await closer.close();
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test('the logger is restarted with a back-off when it ends, and stopped when the service closes', async () => {
  const t = setup(10);
  const closer = await t.service.open();
  try {
    assert.equal(t.started.length, 1);
    assert.equal(t.service.loggerPid(), 1000);
    assert.equal(t.service.problem(), undefined);
    t.started[0]!.end({ exitCode: 1, signal: null });
    await t.clock.advance(0);
    assert.equal(t.service.loggerPid(), undefined, 'not running during the back-off');
    assert.match(t.service.problem() ?? '', /^ulogd2 ended \(exit 1, see .*ulogd\.out\); restarting$/);
    await t.clock.advance(499);
    assert.equal(t.started.length, 1, 'not before the back-off');
    await t.clock.advance(1);
    assert.equal(t.started.length, 2);
    t.started[1]!.end({ exitCode: null, signal: 9 });
    await t.clock.advance(999);
    assert.equal(t.started.length, 2, 'the back-off doubled');
    await t.clock.advance(1);
    assert.equal(t.started.length, 3);
    assert.ok((await t.metrics.render()).text.includes('weft_flow_log_restarts_total 2'));
    assert.match(t.service.problem() ?? '', /signal 9/, 'still said while the new one is young');
    await t.clock.advance(10_000);
    assert.equal(t.service.problem(), undefined, 'cleared once the new one has run 10 s');
    assert.equal(t.logs.filter((l) => l.includes('flow logger ended; restarting')).length, 2);
  } finally {
    await closer.close();
    rmSync(t.dir, { recursive: true, force: true });
  }
  assert.equal(t.started[2]!.stopped, true, 'stopped by the close');
  await t.clock.advance(60_000);
  assert.equal(t.started.length, 3, 'no restart after the close');
});
