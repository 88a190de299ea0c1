import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/clock-fake.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { PromMetrics } from '../adapters/metrics-prom.js';
import { ControllerRuntime, healthOf } from './controller-runtime.js';
import { SyncController, type Controller, type ControllerStatus } from './controller.js';

const quiet = new JsonLogger(() => undefined);

/** A controller that records its lifecycle; its start waits until `release()` when `gated`. */
function recorder(name: string, events: string[], o: { gated?: boolean; fail?: string } = {}) {
  let release: () => void = () => undefined;
  let state: ControllerStatus['state'] = 'pending';
  const gate = new Promise<void>((r) => (release = r));
  const c: Controller = {
    name,
    start: async () => {
      events.push(`start ${name}`);
      state = 'starting';
      if (o.fail) throw new Error(o.fail);
      if (o.gated) await gate;
      state = 'ready';
    },
    stop: async () => {
      events.push(`stop ${name}`);
      state = 'stopped';
      release();
    },
    status: () => ({ name, state, ready: state === 'ready', syncs: 0, failures: 0 }),
  };
  return { c, release: () => release() };
}

describe('ControllerRuntime', () => {
  test('starts in order and stops in reverse', async () => {
    const events: string[] = [];
    const rt = new ControllerRuntime(
      ['a', 'b', 'c'].map((n) => recorder(n, events).c),
      quiet,
    );
    await rt.start();
    assert.equal(rt.health().ok, true);
    await rt.stop();
    assert.deepEqual(events, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  test('a controller still starting holds back the rest, which report pending; stop ends its start', async () => {
    const events: string[] = [];
    const a = recorder('a', events);
    const b = recorder('b', events, { gated: true });
    const c = recorder('c', events);
    const rt = new ControllerRuntime([a.c, b.c, c.c], quiet);
    const started = rt.start();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      rt.statuses().map((s) => `${s.name} ${s.state}`),
      ['a ready', 'b starting', 'c pending'],
    );
    const h = rt.health();
    assert.equal(h.ok, false);
    assert.match(h.text, /^not ready: b starting\n\[\+\]a ok\n\[-\]b starting\n\[-\]c pending\n$/);
    await rt.stop();
    await started;
    assert.deepEqual(
      events,
      ['start a', 'start b', 'stop b', 'stop a'],
      'c never started; b was stopped while starting',
    );
  });

  test('a fatal start error rejects start with the controller named', async () => {
    const events: string[] = [];
    const rt = new ControllerRuntime([recorder('a', events).c, recorder('b', events, { fail: 'bad config' }).c], quiet);
    await assert.rejects(rt.start(), /^Error: start controller b: bad config$/);
    await rt.stop();
    assert.deepEqual(events, ['start a', 'start b', 'stop a']);
  });

  test('two controllers with one name are refused', () => {
    const events: string[] = [];
    assert.throws(
      () => new ControllerRuntime([recorder('a', events).c, recorder('a', events).c], quiet),
      /two controllers are named "a"/,
    );
  });
});

describe('healthOf', () => {
  const s = (name: string, ready: boolean, extra: Partial<ControllerStatus> = {}): ControllerStatus => ({
    name,
    state: ready ? 'ready' : 'failing',
    ready,
    syncs: 1,
    failures: 0,
    ...extra,
  });
  const cases: Array<{ name: string; statuses: ControllerStatus[]; ok: boolean; summary: string }> = [
    {
      name: 'all ready',
      statuses: [s('subnet', true, { revision: '10.244.1.0/24' }), s('backend', true)],
      ok: true,
      summary: 'ok',
    },
    {
      name: 'one failing, with its error',
      statuses: [s('subnet', true), s('backend', false, { lastError: 'RTNETLINK answers: File exists' })],
      ok: false,
      summary: 'not ready: backend failing: RTNETLINK answers: File exists',
    },
    { name: 'no controllers is not healthy', statuses: [], ok: false, summary: 'not ready: no controllers' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const h = healthOf(c.statuses);
      assert.equal(h.ok, c.ok);
      assert.equal(h.text.split('\n')[0], c.summary);
      assert.equal(h.text.split('\n').length, c.statuses.length + 2, 'summary, one line per controller, final newline');
    });
  }
});

describe('SyncController', () => {
  function setup(failFirst: number) {
    const clock = new FakeClock();
    const metrics = new PromMetrics();
    let fails = failFirst;
    let n = 0;
    const c = new SyncController({
      name: 'masq',
      clock,
      log: quiet,
      metrics,
      timing: { minIntervalMs: 10, resyncMs: 60_000, backoffInitialMs: 100, backoffMaxMs: 1_000 },
      sync: async () => {
        if (fails-- > 0) throw new Error('nft: no such table');
        return `rev${++n}`;
      },
    });
    return { clock, metrics, c };
  }

  test('start resolves after the first success; failures before it are counted, reported and retried', async () => {
    const { clock, metrics, c } = setup(3);
    assert.equal(c.status().state, 'pending');
    let started = false;
    void c.start().then(() => (started = true));
    await clock.advance(0);
    assert.equal(started, false);
    assert.deepEqual(
      { state: c.status().state, error: c.status().lastError, failures: c.status().failures },
      { state: 'failing', error: 'nft: no such table', failures: 1 },
    );
    await clock.advance(1_000);
    assert.equal(started, true);
    const st = c.status();
    assert.deepEqual(
      {
        state: st.state,
        ready: st.ready,
        syncs: st.syncs,
        failures: st.failures,
        revision: st.revision,
        lastError: st.lastError,
      },
      { state: 'ready', ready: true, syncs: 1, failures: 3, revision: 'rev1', lastError: undefined },
    );
    const text = (await metrics.render()).text;
    assert.match(text, /weft_controller_syncs_total\{controller="masq",result="error"\} 3/);
    assert.match(text, /weft_controller_syncs_total\{controller="masq",result="ok"\} 1/);
    assert.match(text, /weft_controller_sync_errors_total\{controller="masq"\} 3/);
    assert.match(text, /weft_controller_sync_duration_seconds_count\{controller="masq"\} 4/);
    assert.match(text, /weft_controller_ready\{controller="masq"\} 1/);
    await c.stop();
    assert.equal(c.status().state, 'stopped');
    assert.match((await metrics.render()).text, /weft_controller_ready\{controller="masq"\} 0/);
  });

  test('trigger before start does nothing (a dependent is not synced before its turn)', async () => {
    const { clock, c } = setup(0);
    c.trigger();
    await clock.advance(1_000);
    assert.equal(c.status().syncs, 0);
  });

  test('a warning leaves the controller ready and is reported; a problem makes it degraded instead', async () => {
    const clock = new FakeClock();
    let warning: string | undefined = 'host-gw: peer 10.99.1.2 … not routed';
    let problem: string | undefined;
    const c = new SyncController({
      name: 'backend',
      clock,
      log: quiet,
      metrics: new PromMetrics(),
      timing: { minIntervalMs: 10, resyncMs: 60_000, backoffInitialMs: 100, backoffMaxMs: 1_000 },
      sync: async () => 'rev',
      warning: () => warning,
      problem: () => problem,
    });
    const started = c.start();
    await clock.advance(100);
    await started;
    assert.deepEqual(
      { state: c.status().state, ready: c.status().ready, warning: c.status().warning },
      { state: 'ready', ready: true, warning: 'host-gw: peer 10.99.1.2 … not routed' },
    );
    problem = 'conflicting leases';
    assert.deepEqual(
      { state: c.status().state, ready: c.status().ready, lastError: c.status().lastError },
      { state: 'degraded', ready: false, lastError: 'conflicting leases' },
    );
    problem = undefined;
    warning = undefined;
    assert.equal(c.status().warning, undefined);
    await c.stop();
  });
});
