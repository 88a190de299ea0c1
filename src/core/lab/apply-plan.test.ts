import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManifestLocated } from '../k8s/parse.js';
import type { K8sObject, Pod } from '../k8s/objects.js';
import type { Stored } from '../../ports/object-store.js';
import { ApplyError, planApply, planDelete } from './apply-plan.js';

const NODES = ['n1', 'n2', 'n3'];

function ns(name: string): string {
  return `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${name} }\n`;
}
function pod(
  namespace: string,
  name: string,
  spec = 'containers: [{ name: s, ports: [{ containerPort: 80 }] }]',
): string {
  return `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${namespace} }\nspec: { ${spec} }\n`;
}
function located(...docs: string[]) {
  return parseManifestLocated(docs.join('---\n'));
}
function stored(objects: K8sObject[]): Stored[] {
  return objects.map((object, i) => ({
    object,
    meta: { uid: `u${i}`, resourceVersion: i + 1, creationTimestamp: '2026-01-01T00:00:00Z' },
  }));
}
const DEFAULT_NS = stored(planApply([], NODES, located(ns('default'))));

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApplyError) return err.problems;
    throw err;
  }
  assert.fail('expected an ApplyError');
}

test('pods without nodeName are spread: fewest pods first, node order on ties', () => {
  const out = planApply(DEFAULT_NS, NODES, located(...['a', 'b', 'c', 'd'].map((n) => pod('default', n)))) as Pod[];
  assert.deepEqual(
    out.map((p) => p.spec.nodeName),
    ['n1', 'n2', 'n3', 'n1'],
  );
});

test('stored pods count when spreading new ones', () => {
  const existing = stored([
    ...DEFAULT_NS.map((s) => s.object),
    ...(planApply(DEFAULT_NS, NODES, located(pod('default', 'a'), pod('default', 'b'))) as Pod[]),
  ]);
  const out = planApply(existing, NODES, located(pod('default', 'c'))) as Pod[];
  assert.equal(out[0]!.spec.nodeName, 'n3');
});

test('namespaces get the kubernetes.io/metadata.name label', () => {
  const [n] = planApply([], NODES, located(ns('x')));
  assert.equal(n!.metadata.labels['kubernetes.io/metadata.name'], 'x');
});

test('a namespace created by the same manifest makes its pods valid, in any order', () => {
  const out = planApply(DEFAULT_NS, NODES, located(pod('x', 'a'), ns('x')));
  assert.deepEqual(
    out.map((o) => o.kind),
    ['Pod', 'Namespace'],
  );
});

const refusals: Array<{ name: string; current: Stored[]; docs: string[]; want: RegExp }> = [
  {
    name: 'missing namespace',
    current: DEFAULT_NS,
    docs: [pod('nowhere', 'a')],
    want: /^document 1 \(Pod nowhere\/a\): metadata\.namespace: namespace "nowhere" not found$/,
  },
  {
    name: 'unknown node',
    current: DEFAULT_NS,
    docs: [pod('default', 'a', 'nodeName: n7, containers: [{ name: s }]')],
    want: /spec\.nodeName: node "n7" not found \(nodes: n1, n2, n3\)/,
  },
  {
    name: 'the same object twice',
    current: DEFAULT_NS,
    docs: [pod('default', 'a'), pod('default', 'a')],
    want: /^document 2 \(Pod default\/a\): the same object is already in document 1/,
  },
  {
    name: 'hostNetwork port clash on a pinned node',
    current: DEFAULT_NS,
    docs: [
      pod(
        'default',
        'h1',
        'nodeName: n1, hostNetwork: true, containers: [{ name: s, ports: [{ containerPort: 80 }] }]',
      ),
      pod(
        'default',
        'h2',
        'nodeName: n1, hostNetwork: true, containers: [{ name: s, ports: [{ containerPort: 80 }] }]',
      ),
    ],
    want: /document 2 \(Pod default\/h2\): spec\.containers: hostNetwork port 80\/TCP is already served on node n1 by pod default\/h1/,
  },
];
for (const c of refusals) {
  test(`refused: ${c.name}`, () => {
    const p = problems(() => planApply(c.current, NODES, located(...c.docs)));
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, c.want);
  });
}

test('hostNetwork pods with the same port are scheduled to different nodes, and refused when no node is left', () => {
  const h = (n: string) =>
    pod('default', n, 'hostNetwork: true, containers: [{ name: s, ports: [{ containerPort: 80 }] }]');
  const out = planApply(DEFAULT_NS, NODES, located(h('a'), h('b'), h('c'))) as Pod[];
  assert.deepEqual(out.map((p) => p.spec.nodeName).sort(), NODES);
  const p = problems(() => planApply(DEFAULT_NS, NODES, located(h('a'), h('b'), h('c'), h('d'))));
  assert.match(p[0]!, /document 4 \(Pod default\/d\): spec: no node can run this pod/);
});

test('a stored pod: same spec is kept on its node, labels may change, a spec change is forbidden', () => {
  const first = planApply(DEFAULT_NS, NODES, located(pod('default', 'a'))) as Pod[];
  const current = stored([...DEFAULT_NS.map((s) => s.object), ...first]);
  const relabeled = located(
    pod('default', 'a').replace('namespace: default', 'namespace: default, labels: { app: web }'),
  );
  const again = planApply(current, NODES, relabeled) as Pod[];
  assert.equal(again[0]!.spec.nodeName, first[0]!.spec.nodeName);
  assert.equal(again[0]!.metadata.labels.app, 'web');
  const p = problems(() =>
    planApply(
      current,
      NODES,
      located(pod('default', 'a', 'containers: [{ name: s, ports: [{ containerPort: 81 }] }]')),
    ),
  );
  assert.match(p[0]!, /spec: Forbidden: pod updates may not change fields other than/);
});

test('delete: missing objects are errors unless ignored; the default namespace stays; a namespace takes its objects', () => {
  const objs = planApply(DEFAULT_NS, NODES, located(ns('x'), pod('x', 'a'), pod('x', 'b'), pod('default', 'c')));
  const current = stored([...DEFAULT_NS.map((s) => s.object), ...objs]);
  assert.match(problems(() => planDelete(current, located(pod('x', 'zz')), false))[0]!, /pods "zz" not found/);
  assert.deepEqual(planDelete(current, located(pod('x', 'zz')), true).all, []);
  assert.match(problems(() => planDelete(current, located(ns('default')), false))[0]!, /may not be deleted/);
  const plan = planDelete(current, located(ns('x')), false);
  assert.deepEqual(
    plan.named.map((k) => k.name),
    ['x'],
  );
  assert.deepEqual(plan.all.map((k) => `${k.kind}/${k.namespace}/${k.name}`).sort(), [
    'Namespace//x',
    'Pod/x/a',
    'Pod/x/b',
  ]);
});

test('property: spreading N plain pods over K nodes never differs by more than one pod per node', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 6 }), (n, k) => {
      const nodes = Array.from({ length: k }, (_, i) => `n${i + 1}`);
      const out = planApply(
        DEFAULT_NS,
        nodes,
        located(...Array.from({ length: n }, (_, i) => pod('default', `p${i}`))),
      ) as Pod[];
      const counts = nodes.map((node) => out.filter((p) => p.spec.nodeName === node).length);
      return Math.max(...counts) - Math.min(...counts) <= 1 && counts.reduce((a, b) => a + b, 0) === n;
    }),
  );
});
