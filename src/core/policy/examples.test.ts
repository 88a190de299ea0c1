// The policy examples of examples/policies behave as their names say (computed verdicts; the
// lab tests of the enforcement issue prove the same with real traffic).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseManifest } from '../k8s/parse.js';
import type { Namespace, NetworkPolicy, Pod } from '../k8s/objects.js';
import { evaluate, type PolicyPod } from './evaluate.js';

const DIR = fileURLToPath(new URL('../../../../examples/policies/', import.meta.url));
const load = (f: string) => parseManifest(readFileSync(`${DIR}${f}`, 'utf8'));

const base = load('00-cluster.yaml');
const namespaces = new Map(
  base
    .filter((o): o is Namespace => o.kind === 'Namespace')
    .map((n) => [n.metadata.name, { ...n.metadata.labels, 'kubernetes.io/metadata.name': n.metadata.name }]),
);
const pods: PolicyPod[] = base
  .filter((o): o is Pod => o.kind === 'Pod')
  .map((p, i) => ({
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    labels: p.metadata.labels,
    ip: `10.244.0.${i + 2}`,
    ports: p.spec.containers.flatMap((c) => c.ports),
  }));
const pod = (ref: string) => pods.find((p) => `${p.namespace}/${p.name}` === ref)!;

/** Every ordered pair of distinct pods allowed on port/TCP under the example's policies. */
function allowedPairs(file: string, port = 80): string[] {
  const policies = load(file) as NetworkPolicy[];
  const out: string[] = [];
  for (const f of pods)
    for (const t of pods)
      if (f !== t && evaluate({ namespaces, policies }, f, t, port, 'TCP').allowed)
        out.push(`${f.namespace}/${f.name}>${t.namespace}/${t.name}`);
  return out;
}
const toNginx = (pairs: string[]) =>
  pairs
    .filter((p) => p.endsWith('>shop/nginx'))
    .map((p) => p.split('>')[0])
    .sort();
const others = (pairs: string[]) => pairs.filter((p) => !p.endsWith('>shop/nginx'));
/** 4 pods: 12 ordered pairs, 3 of them to nginx. */
const PAIRS_NOT_TO_NGINX = 9;

test('deny-all-to-nginx: nobody reaches nginx; everything else is untouched', () => {
  const pairs = allowedPairs('deny-all-to-nginx.yaml');
  assert.deepEqual(toNginx(pairs), []);
  assert.equal(others(pairs).length, PAIRS_NOT_TO_NGINX);
});

test('allow-demo-to-nginx: only shop/demo reaches nginx', () => {
  assert.deepEqual(toNginx(allowedPairs('allow-demo-to-nginx.yaml')), ['shop/demo']);
});

test('default-deny-namespace: nothing reaches a pod of shop; dev still reachable', () => {
  const pairs = allowedPairs('default-deny-namespace.yaml');
  assert.deepEqual(
    pairs.filter((p) => p.split('>')[1]!.startsWith('shop/')),
    [],
  );
  assert.deepEqual(pairs.filter((p) => p.endsWith('>dev/client')).sort(), [
    'shop/demo>dev/client',
    'shop/nginx>dev/client',
    'shop/web>dev/client',
  ]);
});

test('deny-other-namespaces: shop pods reach each other; dev/client reaches no shop pod', () => {
  const pairs = allowedPairs('deny-other-namespaces.yaml');
  assert.deepEqual(
    pairs.filter((p) => p.startsWith('dev/client>shop/')),
    [],
  );
  assert.ok(pairs.includes('shop/demo>shop/nginx') && pairs.includes('shop/web>shop/demo'));
});

test('allow-prod-namespaces: nginx is reached from role=prod namespaces only', () => {
  assert.deepEqual(toNginx(allowedPairs('allow-prod-namespaces.yaml')), ['shop/demo', 'shop/web']);
});

test('allow-external-80: web takes port 80 from everyone, and nothing on 81', () => {
  const toWeb = (port: number) => allowedPairs('allow-external-80.yaml', port).filter((p) => p.endsWith('>shop/web'));
  assert.equal(toWeb(80).length, 3);
  assert.deepEqual(toWeb(81), []);
  assert.equal(
    evaluate(
      { namespaces, policies: load('allow-external-80.yaml') as NetworkPolicy[] },
      { ...pod('dev/client'), ip: '192.0.2.7' },
      pod('shop/web'),
      80,
      'TCP',
    ).allowed,
    true,
  );
});
