// The policy table on the typed model: the skeleton's rules, a group chain as nft text, and the
// differences nftlayer's sync planner (src/core/nft/sync.ts) sends for the changes the agent meets (a pod label, a new pod, a
// new policy, a removed policy), each checked as the nft script it renders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../k8s/parse.js';
import type { NetworkPolicy } from '../k8s/objects.js';
import type { PolicyCluster } from './evaluate.js';
import { PolicySetPlanner, type PolicySetPod } from './policy-sets.js';
import { planFullRebuild, planRemoval, planSync } from '../nft/sync.js';
import { PolicyTableRenderer, policyTableDef, SKELETON } from './policy-table.js';

const pod = (
  ns: string,
  name: string,
  ip: string,
  local: boolean,
  labels: Record<string, string> = { pod: name },
): PolicySetPod => ({
  namespace: ns,
  name,
  labels,
  ip,
  ports: [{ containerPort: 80, protocol: 'TCP', name: 'http' }],
  local,
});
function cluster(...specs: Array<[string, string, string]>): PolicyCluster {
  const yaml = specs
    .map(
      ([ns, name, spec]) =>
        `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`,
    )
    .join('');
  return {
    namespaces: new Map([
      ['x', { ns: 'x' }],
      ['y', { ns: 'y' }],
    ]),
    policies: yaml === '' ? [] : (parseManifest(yaml) as NetworkPolicy[]),
  };
}
const FROM_BLUE: [string, string, string] = [
  'x',
  'from-blue',
  'podSelector: {}\ningress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { team: blue } } }], ports: [{ port: 80 }, { port: http }] }]',
];
const PODS = [pod('x', 'a', '10.244.1.2', true), pod('y', 'b', '10.244.2.2', false)];

test('the rebuilt table: skeleton rules from the layout registry, a group chain naming its policy rule, vmap entries after the chains', () => {
  const planner = new PolicySetPlanner();
  planner.setCluster(cluster(FROM_BLUE));
  planner.setPods(PODS);
  const text = planFullRebuild(policyTableDef(planner.state())).render();
  assert.match(
    text,
    /^add table inet weft-policy \{ comment "weft agent: NetworkPolicy for the pods of this node"; \}\ndelete table inet weft-policy\nadd table inet weft-policy/,
  );
  assert.match(text, /add chain inet weft-policy forward \{ type filter hook forward priority 0; policy accept;/);
  assert.match(text, /add rule inet weft-policy forward ct state established,related accept/);
  assert.match(text, /add rule inet weft-policy forward ip saddr \. ip daddr @self accept/);
  assert.match(text, /add rule inet weft-policy forward ip saddr vmap @egress-pods/);
  assert.match(
    text,
    /add rule inet weft-policy in-[0-9a-f]{16} ip saddr @peer-[0-9a-f]{16} meta l4proto \. th dport @ports-[0-9a-f]{16} return comment "x\/from-blue ingress\[0\]"/,
  );
  assert.match(
    text,
    /add rule inet weft-policy in-[0-9a-f]{16} ip saddr @peer-[0-9a-f]{16} ip daddr \. meta l4proto \. th dport @named-in-[0-9a-f]{16} return comment "x\/from-blue ingress\[0\]"/,
  );
  assert.match(text, /add rule inet weft-policy in-[0-9a-f]{16} counter drop/);
  assert.match(text, /add element inet weft-policy named-in-[0-9a-f]{16} \{ 10\.244\.1\.2 \. "tcp" \. 80 \}/);
  const vmapAt = text.indexOf('add element inet weft-policy ingress-pods');
  assert.ok(vmapAt > text.lastIndexOf('add chain '), 'vmap elements come after every chain they may jump to');
  assert.match(planRemoval(SKELETON).render(), /^add table inet weft-policy[^\n]*\ndelete table inet weft-policy\n$/);
});

interface DiffCase {
  name: string;
  before: { cluster: PolicyCluster; pods: PolicySetPod[] };
  after: { cluster: PolicyCluster; pods: PolicySetPod[] };
  /** Every line of the diff's script must match one of these. */
  lines: RegExp[];
  /** And each of these must match some line. */
  has: RegExp[];
}

const blue = pod('y', 'b', '10.244.2.2', false, { pod: 'b', team: 'blue' });
const cases: DiffCase[] = [
  {
    name: 'a remote pod takes the label: one element added to the peer set',
    before: { cluster: cluster(FROM_BLUE), pods: PODS },
    after: { cluster: cluster(FROM_BLUE), pods: [PODS[0]!, blue] },
    lines: [/^add element inet weft-policy peer-[0-9a-f]{16} \{ 10\.244\.2\.2 \}$/],
    has: [/peer-/],
  },
  {
    name: 'it loses it again: one element deleted',
    before: { cluster: cluster(FROM_BLUE), pods: [PODS[0]!, blue] },
    after: { cluster: cluster(FROM_BLUE), pods: PODS },
    lines: [/^delete element inet weft-policy peer-[0-9a-f]{16} \{ 10\.244\.2\.2 \}$/],
    has: [/delete element/],
  },
  {
    name: 'a new local pod of the group: its vmap entry, self pair and named port only',
    before: { cluster: cluster(FROM_BLUE), pods: PODS },
    after: { cluster: cluster(FROM_BLUE), pods: [...PODS, pod('x', 'c', '10.244.1.3', true)] },
    lines: [
      /^add element inet weft-policy (ingress-pods \{ 10\.244\.1\.3 : jump in-[0-9a-f]{16} \}|self \{ 10\.244\.1\.3 \. 10\.244\.1\.3 \}|named-in-[0-9a-f]{16} \{ 10\.244\.1\.3 \. "tcp" \. 80 \})$/,
    ],
    has: [/ingress-pods/, /self/, /named-in-/],
  },
  {
    name: 'a first policy: its sets and chain are created, then the pod is sent to it',
    before: { cluster: cluster(), pods: PODS },
    after: { cluster: cluster(FROM_BLUE), pods: PODS },
    lines: [/^add (chain|set|element|rule) inet weft-policy /],
    has: [
      /^add chain inet weft-policy in-/,
      /^add set inet weft-policy peer-/,
      /^add element inet weft-policy ingress-pods/,
    ],
  },
  {
    name: "the policy is deleted: the entry and the chain's rules go first, then its sets and the chain",
    before: { cluster: cluster(FROM_BLUE), pods: PODS },
    after: { cluster: cluster(), pods: PODS },
    lines: [/^(delete element|flush chain|delete chain|delete set|delete map) inet weft-policy /],
    has: [
      /^delete element inet weft-policy ingress-pods \{ 10\.244\.1\.2 \}$/,
      /^flush chain inet weft-policy in-/,
      /^delete chain inet weft-policy in-/,
      /^delete set inet weft-policy peer-/,
    ],
  },
];

for (const c of cases) {
  test(`diff: ${c.name}`, () => {
    const planner = new PolicySetPlanner();
    const renderer = new PolicyTableRenderer();
    planner.setCluster(c.before.cluster);
    planner.setPods(c.before.pods);
    const before = renderer.def(planner.state());
    planner.setCluster(c.after.cluster);
    planner.setPods(c.after.pods);
    const plan = planSync(renderer.def(planner.state()), before);
    assert.equal(plan.full, undefined, 'an incremental change');
    const tx = plan.tx;
    const lines = tx.render().trim().split('\n');
    for (const l of lines)
      assert.ok(
        c.lines.some((re) => re.test(l)),
        `unexpected line: ${l}`,
      );
    for (const re of c.has)
      assert.ok(
        lines.some((l) => re.test(l)),
        `no line matches ${re}:\n${lines.join('\n')}`,
      );
    if (c.name.startsWith('the policy is deleted')) {
      const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
      assert.ok(at(/^delete element .* ingress-pods/) < at(/^delete chain/), 'the entry before its chain');
      assert.ok(at(/^flush chain/) < at(/^delete set/), 'the rules using the sets before the sets');
    }
  });
}

test('diff: nothing changed, nothing sent; an unchanged set is rendered once (the same object)', () => {
  const planner = new PolicySetPlanner();
  const renderer = new PolicyTableRenderer();
  planner.setCluster(cluster(FROM_BLUE));
  planner.setPods(PODS);
  const a = renderer.def(planner.state());
  const b = renderer.def(planner.state());
  assert.equal(a.sets[0], b.sets[0], 'an unchanged set is the same object');
  const plan = planSync(b, a);
  assert.ok(plan.full === undefined && plan.tx.empty);
});
