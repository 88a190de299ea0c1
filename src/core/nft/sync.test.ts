/**
 * The sync planner against the fake with kernel semantics: applying the planned diff to the old
 * table gives exactly the new table (fast-check, over random tables of sets, maps, verdict maps,
 * interval sets and chains that jump and look up); element-only changes send element operations
 * only; the syncer rebuilds after a failure and on its periodic resync.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NftTableSync } from '../../adapters/nft-sync.js';
import { normalizeTable } from '../../testkit/nft-contract.js';
import { NftFake } from '../../testkit/nft-fake.js';
import { baseChainOf } from './layout.js';
import {
  accept,
  counter,
  drop,
  inSet,
  jump,
  match,
  prefix,
  ret,
  rule,
  vmap,
  type ChainDef,
  type Element,
  type RuleBody,
  type SetDef,
  type TableDef,
} from './model.js';
import { changedElements, planFullRebuild, planSync } from './sync.js';

const FWD = baseChainOf('policyForward');
const REGULAR = ['a', 'b', 'c'] as const;

const podsArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 15 }), { maxLength: 8 })
  .chain((ids) =>
    fc.tuple(
      ...ids.map((i) =>
        fc
          .option(fc.constantFrom('pod x', 'pod y'), { nil: undefined })
          .map((comment): Element => ({ key: [`10.0.0.${i}`], ...(comment ? { comment } : {}) })),
      ),
    ),
  );

const netsArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 9 }), { maxLength: 6 })
  .chain((ids) =>
    fc.tuple(
      ...ids.map((i) =>
        fc
          .constantFrom(24, 28, 32)
          .map((len): Element => ({ key: [len === 32 ? `10.1.${i}.0` : prefix(`10.1.${i}.0`, len)] })),
      ),
    ),
  );

const portsArb = fc
  .uniqueArray(fc.tuple(fc.constantFrom('tcp', 'udp'), fc.integer({ min: 80, max: 85 })), {
    maxLength: 6,
    selector: ([p, n]) => `${p}${n}`,
  })
  .chain((keys) =>
    fc.tuple(
      ...keys.map(([p, n]) =>
        fc.integer({ min: 1, max: 3 }).map((pod): Element => ({ key: [p, n], value: [`10.0.0.${pod}`, 8080] })),
      ),
    ),
  );

/** A random table: optional sets and regular chains, rules referring only to what exists. */
const tableArb: fc.Arbitrary<TableDef> = fc
  .record({
    pods: fc.option(podsArb, { nil: undefined }),
    nets: fc.option(netsArb, { nil: undefined }),
    ports: fc.option(portsArb, { nil: undefined }),
    chains: fc.subarray([...REGULAR]),
    vm: fc.boolean(),
    policy: fc.constantFrom('accept' as const, 'accept' as const, 'drop' as const),
    picks: fc.array(fc.nat(100), { minLength: 12, maxLength: 12 }),
    vmPicks: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 4 }),
  })
  .map((r) => {
    const sets: SetDef[] = [];
    if (r.pods) sets.push({ name: 'pods', key: ['ipv4_addr'], elements: r.pods });
    if (r.nets) sets.push({ name: 'nets', key: ['ipv4_addr'], flags: ['interval'], elements: r.nets });
    if (r.ports)
      sets.push({
        name: 'ports',
        key: ['inet_proto', 'inet_service'],
        value: ['ipv4_addr', 'inet_service'],
        elements: r.ports,
      });
    const chains = r.chains;
    const pick = (i: number) => r.picks[i]!;
    if (r.vm) {
      sets.push({
        name: 'vm',
        key: ['ipv4_addr'],
        value: 'verdict',
        elements: r.vmPicks.map((i) => ({
          key: [`10.2.0.${i}`],
          value:
            chains.length > 0 && i % 2 === 0
              ? { verdict: 'jump', chain: chains[i % chains.length]! }
              : { verdict: 'drop' },
        })),
      });
    }
    const pool = (from: number): RuleBody[] => {
      const out: RuleBody[] = [rule([counter, accept], 'count'), rule([match('ip saddr', `10.9.0.${from}`), drop])];
      if (r.pods) out.push(rule([inSet('ip saddr', 'pods'), ret], 'pods return'));
      if (r.nets) out.push(rule([inSet('ip daddr', 'nets'), accept]));
      for (const c of chains.slice(from)) out.push(rule([match('ip daddr', prefix('10.3.0.0', 16)), jump(c)]));
      return out;
    };
    const rulesFor = (at: number, from: number): RuleBody[] => {
      const p = pool(from);
      const n = pick(at) % 4;
      return Array.from({ length: n }, (_, k) => p[pick(at + k + 1) % p.length]!);
    };
    const base: ChainDef = {
      name: 'forward',
      base: { ...FWD, policy: r.policy },
      rules: [...rulesFor(0, 0), ...(r.vm ? [rule([vmap('ip daddr', 'vm')])] : [])],
    };
    const regular: ChainDef[] = chains.map((name, i) => ({ name, rules: rulesFor(4 + i, i + 1) }));
    return { family: 'inet' as const, name: 'synct', chains: [base, ...regular], sets };
  });

async function applied(...txs: Parameters<NftFake['apply']>[0][]): Promise<NftFake> {
  const fake = new NftFake();
  for (const tx of txs) await fake.apply(tx, 'test');
  return fake;
}

test('sync: a full rebuild gives exactly the table', async () => {
  await fc.assert(
    fc.asyncProperty(tableArb, async (t) => {
      const fake = await applied(planFullRebuild(t));
      assert.deepEqual(normalizeTable(fake.table('inet', 'synct')), normalizeTable(t));
    }),
    { numRuns: 150 },
  );
});

test('sync: the diff applied to the old table gives exactly the new table', async () => {
  await fc.assert(
    fc.asyncProperty(tableArb, tableArb, async (before, after) => {
      const fake = await applied(planFullRebuild(before));
      const plan = planSync(after, before);
      await fake.apply(plan.tx, 'diff');
      assert.deepEqual(normalizeTable(fake.table('inet', 'synct')), normalizeTable(after));
      if (plan.full === undefined)
        assert.ok(!plan.tx.ops.some((op) => op.object.kind === 'table'), 'an incremental plan leaves the table alone');
    }),
    { numRuns: 300 },
  );
});

/**
 * `after`, but with every chain and element that is equal to one of `before` replaced by that
 * very object, as a planner that keeps its unchanged parts (ServicesPlanner) hands them over.
 */
function sharing(after: TableDef, before: TableDef): TableDef {
  const text = (x: unknown) => JSON.stringify(x);
  const chains = new Map(before.chains.map((c) => [text(c), c]));
  const elements = new Map(before.sets.flatMap((s) => s.elements.map((e) => [`${s.name} ${text(e)}`, e] as const)));
  return {
    ...after,
    chains: after.chains.map((c) => chains.get(text(c)) ?? c),
    sets: after.sets.map((s) => ({ ...s, elements: s.elements.map((e) => elements.get(`${s.name} ${text(e)}`) ?? e) })),
  };
}

test('sync: objects shared with the old table count as unchanged, and the diff still gives exactly the new table', async () => {
  await fc.assert(
    fc.asyncProperty(tableArb, tableArb, async (before, after) => {
      const fake = await applied(planFullRebuild(before));
      const shared = sharing(after, before);
      const plan = planSync(shared, before);
      await fake.apply(plan.tx, 'diff');
      assert.deepEqual(normalizeTable(fake.table('inet', 'synct')), normalizeTable(after));
      // Sharing changes what is compared, never what is sent.
      assert.equal(plan.tx.render(), planSync(after, before).tx.render());
    }),
    { numRuns: 300 },
  );
});

test('sync: element-only changes send element operations only, and no change sends nothing', async () => {
  await fc.assert(
    fc.asyncProperty(tableArb, podsArb, async (t, pods) => {
      const changed = { ...t, sets: t.sets.map((s) => (s.name === 'pods' ? { ...s, elements: pods } : s)) };
      const plan = planSync(changed, t);
      assert.equal(plan.full, undefined);
      assert.ok(plan.tx.ops.every((op) => op.object.kind === 'element'));
      assert.equal(planSync(t, t).tx.empty, true);
      const fake = await applied(planFullRebuild(t), plan.tx);
      assert.deepEqual(normalizeTable(fake.table('inet', 'synct')), normalizeTable(changed));
    }),
    { numRuns: 100 },
  );
});

const T1: TableDef = {
  family: 'inet',
  name: 'synct',
  chains: [{ name: 'forward', base: FWD, rules: [rule([inSet('ip saddr', 'pods'), drop])] }],
  sets: [{ name: 'pods', key: ['ipv4_addr'], elements: [{ key: ['10.0.0.1'] }] }],
};
const withPods = (...ips: string[]): TableDef => ({
  ...T1,
  sets: [{ name: 'pods', key: ['ipv4_addr'], elements: ips.map((ip) => ({ key: [ip] })) }],
});

test("sync: changing a set's type or a base chain's hook rebuilds the table", () => {
  assert.match(
    planSync({ ...T1, sets: [{ name: 'pods', key: ['ipv4_addr'], flags: ['interval'], elements: [] }] }, T1).full ?? '',
    /set pods changed/,
  );
  assert.match(
    planSync({ ...T1, chains: [{ name: 'forward', base: { ...FWD, hook: 'input' }, rules: [] }] }, T1).full ?? '',
    /chain forward changed/,
  );
  assert.equal(planSync(withPods('10.0.0.2'), T1).full, undefined);
});

test('syncer: full first, then changes; a failure keeps the kernel state and forces a rebuild; periodic resync', async () => {
  const fake = new NftFake();
  let now = 0;
  const syncer = new NftTableSync(fake, { resyncEveryMs: 1000, now: () => now });
  assert.equal((await syncer.sync(T1, 'first')).full, 'no state applied yet');
  const step = await syncer.sync(withPods('10.0.0.1', '10.0.0.2'), 'add one');
  assert.deepEqual(step, { full: undefined, ops: 1 });
  assert.deepEqual(await syncer.sync(withPods('10.0.0.1', '10.0.0.2'), 'same'), { full: undefined, ops: 0 });
  fake.failNext = 'Could not process rule: No buffer space available';
  await assert.rejects(syncer.sync(withPods('10.0.0.3'), 'fails'), /fails: nft: Could not process rule/);
  assert.deepEqual(
    normalizeTable(fake.table('inet', 'synct')),
    normalizeTable(withPods('10.0.0.1', '10.0.0.2')),
    'the last good state stays',
  );
  assert.equal((await syncer.sync(withPods('10.0.0.3'), 'after the failure')).full, 'no state applied yet');
  assert.equal((await syncer.sync(withPods('10.0.0.4'), 'soon after')).full, undefined);
  now = 1000;
  assert.equal((await syncer.sync(withPods('10.0.0.4'), 'resync')).full, 'full resync asked');
  assert.deepEqual(normalizeTable(fake.table('inet', 'synct')), normalizeTable(withPods('10.0.0.4')));
});

test('property: changedElements finds what is not the same object on the other side, whatever the order', () => {
  const pool: Element[] = Array.from({ length: 12 }, (_, i) => ({ key: [i] }));
  const distinct = fc
    .uniqueArray(fc.integer({ min: 0, max: 11 }), { maxLength: 12 })
    .map((ix) => ix.map((i) => pool[i]!));
  fc.assert(
    fc.property(distinct, distinct, (before, now) => {
      const { fresh, stale } = changedElements(before, now);
      assert.deepEqual(
        fresh,
        now.filter((e) => !before.includes(e)),
      );
      assert.deepEqual(
        stale,
        before.filter((e) => !now.includes(e)),
      );
    }),
  );
});
