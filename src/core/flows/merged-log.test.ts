import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MergedFlowLog } from './merged-log.js';
import { mergeFlows, type Flow } from './flow.js';

const flow = (time: number, node: string, sport = 40000): Flow => ({
  time,
  node,
  protocol: 'TCP',
  src: { ip: '10.244.1.3', port: sport, pod: 'x/a' },
  dst: { ip: '10.244.2.2', port: 80, pod: 'y/b' },
  verdict: 'denied',
  direction: 'Ingress',
  policies: ['y/deny'],
});

test('the merged log: time order across nodes, each flow once, the newest kept', () => {
  const log = new MergedFlowLog(3);
  const cases: Array<[string, Flow, boolean]> = [
    ['a first flow', flow(10, 'n2'), true],
    ['the same flow again (the ring read after the live stream)', flow(10, 'n2'), false],
    ['an older flow of another node goes before it', flow(5, 'n1'), true],
    ['a tie in time: ordered by node', flow(10, 'n1'), true],
    ['a newer flow pushes the oldest out', flow(20, 'n3'), true],
    ['older than every kept flow of a full log: not kept', flow(1, 'n1'), false],
  ];
  for (const [name, f, want] of cases) assert.equal(log.add(f), want, name);
  assert.deepEqual(
    log.list().map((f) => `${f.time}${f.node}`),
    ['10n1', '10n2', '20n3'],
  );
  assert.deepEqual(
    log.list((f) => f.node !== 'n2', 1).map((f) => `${f.time}${f.node}`),
    ['20n3'],
    'a filter and a limit: the newest matching',
  );
  assert.throws(() => new MergedFlowLog(0), /capacity 0: must be at least 1/);
});

test('the merged log holds the newest `capacity` distinct flows in mergeFlows order, whatever the arrival order', () => {
  const arb = fc.record({
    capacity: fc.integer({ min: 1, max: 8 }),
    flows: fc.array(
      fc.record({ time: fc.integer({ min: 0, max: 20 }), node: fc.constantFrom('n1', 'n2', 'n3'), sport: fc.nat(3) }),
      { maxLength: 40 },
    ),
  });
  fc.assert(
    fc.property(arb, ({ capacity, flows }) => {
      const log = new MergedFlowLog(capacity);
      const all = flows.map((f) => flow(f.time, f.node, 40000 + f.sport));
      for (const f of all) log.add(f);
      assert.ok(log.size <= capacity);
      const kept = log.list();
      const keys = kept.map((f) => JSON.stringify(f));
      assert.equal(new Set(keys).size, keys.length, 'each flow once');
      assert.deepEqual(kept, mergeFlows([kept]), 'in time order');
      // Whatever was added and is newer than the oldest kept flow is kept.
      const distinct = [...new Map(all.map((f) => [JSON.stringify(f), f])).values()];
      const oldest = kept[0];
      if (oldest) {
        const newer = distinct.filter((f) => f.time > oldest.time);
        for (const f of newer) assert.ok(keys.includes(JSON.stringify(f)), `kept ${JSON.stringify(f)}`);
      } else assert.equal(all.length, 0);
    }),
  );
});
