// The policy table's sync over the nft fake (kernel semantics: references, types, interval
// overlap, atomic transactions): after any sequence of cluster changes the incremental
// transactions leave exactly the table a full rebuild would, a label change sends only element
// operations, and a failed transaction keeps the last good table and is followed by a rebuild.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManifest } from '../core/k8s/parse.js';
import type { NetworkPolicy } from '../core/k8s/objects.js';
import type { TableDef } from '../core/nft/model.js';
import { planFullRebuild } from '../core/nft/sync.js';
import { POLICY_TABLE } from '../core/names.js';
import { PolicySetPlanner, type PolicySetPod } from '../core/policy/policy-sets.js';
import { PolicyTableRenderer } from '../core/policy/policy-table.js';
import { NftFake } from '../testkit/nft-fake.js';
import { asSetPod, labelsArb, NAMESPACES, podsArb, policiesArb } from '../testkit/policy-arbitraries.js';
import { PolicyTableSync } from './policy-sync.js';

/** The table as the fake holds it once `def` is rebuilt from nothing: the canonical form to compare with. */
async function canonical(def: TableDef): Promise<TableDef> {
  const fake = new NftFake();
  await fake.apply(planFullRebuild(def), 'rebuild');
  return fake.table('inet', POLICY_TABLE)!;
}

function normalize(t: TableDef): unknown {
  return {
    sets: t.sets
      .map((s) => ({ ...s, elements: s.elements.map((e) => JSON.stringify(e)).sort() }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
    chains: [...t.chains].sort((a, b) => (a.name < b.name ? -1 : 1)),
  };
}

const policies = (yaml: string) => (yaml === '' ? [] : (parseManifest(yaml) as NetworkPolicy[]));
const clock = { now: () => 0 };

test('property: incremental syncs of pod and policy changes leave what a full rebuild leaves (nft fake)', async () => {
  await fc.assert(
    fc.asyncProperty(
      podsArb,
      policiesArb,
      policiesArb,
      fc.array(fc.tuple(fc.nat(8), labelsArb, fc.boolean()), { maxLength: 5 }),
      async (gen, yaml, yaml2, changes) => {
        const fake = new NftFake();
        const sync = new PolicyTableSync({ nft: fake, context: 'test', clock });
        const planner = new PolicySetPlanner();
        const renderer = new PolicyTableRenderer();
        let pods: PolicySetPod[] = gen.map((p, i) => asSetPod(p, i, 'n1'));
        const step = async (what: string) => {
          const def = renderer.def(planner.state());
          await sync.apply(def);
          assert.deepEqual(normalize(fake.table('inet', POLICY_TABLE)!), normalize(await canonical(def)), what);
        };
        planner.setCluster({ namespaces: NAMESPACES, policies: policies(yaml) });
        planner.setPods(pods);
        await step('first sync');
        for (const [which, labels, remove] of changes) {
          const i = which % pods.length;
          if (remove && pods.length > 1) pods = pods.filter((_, j) => j !== i);
          else pods = pods.map((p, j) => (j === i ? { ...p, labels } : p));
          planner.setPods(pods);
          await step(`pod change ${which}`);
        }
        planner.setCluster({ namespaces: NAMESPACES, policies: policies(yaml2) });
        await step('policies replaced');
      },
    ),
    { numRuns: 150, seed: 4040 },
  );
});

const FROM_BLUE = `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: from-blue, namespace: x }\nspec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { team: blue } } }] }] }\n`;
const pod = (
  ns: string,
  name: string,
  ip: string,
  local: boolean,
  labels: Record<string, string> = {},
): PolicySetPod => ({ namespace: ns, name, labels, ip, ports: [], local });

test('a label change is element operations only; a failed transaction keeps the last good table and the next apply rebuilds', async () => {
  const fake = new NftFake();
  const sync = new PolicyTableSync({ nft: fake, context: 'test', clock });
  const planner = new PolicySetPlanner();
  const renderer = new PolicyTableRenderer();
  planner.setCluster({ namespaces: NAMESPACES, policies: policies(FROM_BLUE) });
  planner.setPods([pod('x', 'a', '10.244.1.2', true), pod('y', 'b', '10.244.2.2', false)]);
  const first = await sync.apply(renderer.def(planner.state()));
  assert.ok(first.rebuilt !== undefined && first.changed);
  assert.equal(sync.rebuildDue(), false);

  planner.upsertPod(pod('y', 'b', '10.244.2.2', false, { team: 'blue' }));
  const r = await sync.apply(renderer.def(planner.state()));
  assert.deepEqual([r.changed, r.rebuilt, r.ops], [true, undefined, 1]);
  assert.match(fake.applied.at(-1)!, /^add element inet weft-policy peer-[0-9a-f]{16} \{ 10\.244\.2\.2 \}\n$/);
  const good = fake.table('inet', POLICY_TABLE);

  fake.failNext = 'Could not process rule: injected';
  planner.upsertPod(pod('y', 'b', '10.244.2.2', false));
  await assert.rejects(sync.apply(renderer.def(planner.state())), /injected/);
  assert.deepEqual(fake.table('inet', POLICY_TABLE), good, 'the kernel keeps the last good table');
  assert.equal(sync.rebuildDue(), true);
  const again = await sync.apply(renderer.def(planner.state()));
  assert.ok(again.rebuilt !== undefined, 'the apply after a failure rebuilds');
  assert.doesNotMatch(JSON.stringify(fake.table('inet', POLICY_TABLE)), /10\.244\.2\.2/);
});
