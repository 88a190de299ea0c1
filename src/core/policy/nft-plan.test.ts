import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../k8s/parse.js';
import type { NetworkPolicy } from '../k8s/objects.js';
import type { PolicyCluster, PolicyPod } from './evaluate.js';
import { planPolicyElements, renderPolicyElements, renderPolicyTable } from './nft-plan.js';

const pod = (ns: string, name: string, ip: string, extra: Partial<PolicyPod> = {}): PolicyPod => ({
  namespace: ns,
  name,
  labels: { pod: name },
  ip,
  ports: [
    { containerPort: 80, protocol: 'TCP', name: 'http' },
    { containerPort: 9000, protocol: 'SCTP', name: 'sig' },
  ],
  ...extra,
});
const XA = pod('x', 'a', '10.244.1.2');
const XB = pod('x', 'b', '10.244.1.3');
const YA = pod('y', 'a', '10.244.2.2');
const HOST = pod('y', 'h', '10.99.0.2', { selectable: false });
const ALL = [XA, XB, YA, HOST];

function cluster(spec: string): PolicyCluster {
  const policies = parseManifest(
    `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p, namespace: x }\nspec:\n${spec.replace(/^/gm, '  ')}\n`,
  ) as NetworkPolicy[];
  return {
    namespaces: new Map([
      ['x', { ns: 'x' }],
      ['y', { ns: 'y' }],
    ]),
    policies,
  };
}

test('no policy: nothing is isolated, no elements', () => {
  const el = planPolicyElements({ namespaces: new Map(), policies: [] }, [XA, XB], ALL);
  assert.deepEqual(el, {
    ingressIsolated: [],
    egressIsolated: [],
    ingressAny: [],
    ingressPorts: [],
    egressAny: [],
    egressPorts: [],
  });
});

test('deny-all ingress: isolated, only the pod itself in its any-set', () => {
  const el = planPolicyElements(cluster('podSelector: {}'), [XA], ALL);
  assert.deepEqual(el.ingressIsolated, ['10.244.1.2']);
  assert.deepEqual(el.ingressAny, ['10.244.1.2 . 10.244.1.2']);
  assert.deepEqual(el.ingressPorts, []);
  assert.deepEqual(el.egressIsolated, []);
});

test('SCTP rules are rendered with the sctp protocol, by number and by name', () => {
  const el = planPolicyElements(
    cluster(
      'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }], ports: [{ protocol: SCTP, port: 9000 }, { protocol: SCTP, port: sig }, { protocol: SCTP, port: 7000, endPort: 7010 }] }]',
    ),
    [XA],
    ALL,
  );
  assert.deepEqual(el.ingressPorts, [
    '10.244.1.2 . 10.244.2.2 . sctp . 7000-7010',
    '10.244.1.2 . 10.244.2.2 . sctp . 9000',
  ]);
  assert.match(
    renderPolicyTable(el).render(),
    /add element inet weft-policy ingress-ports \{ 10\.244\.1\.2 \. 10\.244\.2\.2 \. sctp \. 9000 \}/,
  );
});

test('a hostNetwork pod is matched by no selector, only by an ipBlock holding its address', () => {
  const bySelector = planPolicyElements(
    cluster('podSelector: {}\ningress: [{ from: [{ namespaceSelector: {} }] }]'),
    [XA],
    ALL,
  );
  assert.ok(!bySelector.ingressAny.some((e) => e.includes('10.99.0.2')));
  const byBlock = planPolicyElements(
    cluster('podSelector: {}\ningress: [{ from: [{ ipBlock: { cidr: 10.99.0.0/24 } }] }]'),
    [XA],
    ALL,
  );
  assert.ok(byBlock.ingressAny.includes('10.244.1.2 . 10.99.0.0-10.99.0.255'));
});

test('ipBlock except cuts ranges; overlapping rules become disjoint boxes', () => {
  const el = planPolicyElements(
    cluster(
      'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ ipBlock: { cidr: 10.244.0.0/16, except: [10.244.2.0/24] } }], ports: [{ port: 80 }] }, { from: [{ namespaceSelector: {} }], ports: [{ port: 79, endPort: 81 }] }]',
    ),
    [XA],
    ALL,
  );
  // Port 80: the block minus 10.244.2.0/24, plus every pod (y/a is inside the cut); 79 and 81: the pods only.
  assert.deepEqual(el.ingressPorts, [
    '10.244.1.2 . 10.244.1.2-10.244.1.3 . tcp . 79',
    '10.244.1.2 . 10.244.2.2 . tcp . 79',
    '10.244.1.2 . 10.244.0.0-10.244.1.255 . tcp . 80',
    '10.244.1.2 . 10.244.2.2 . tcp . 80',
    '10.244.1.2 . 10.244.3.0-10.244.255.255 . tcp . 80',
    '10.244.1.2 . 10.244.1.2-10.244.1.3 . tcp . 81',
    '10.244.1.2 . 10.244.2.2 . tcp . 81',
  ]);
});

test('egress named ports resolve on each destination pod; an ipBlock peer cannot match a name', () => {
  const el = planPolicyElements(
    cluster(
      'podSelector: { matchLabels: { pod: a } }\npolicyTypes: [Egress]\negress: [{ to: [{ namespaceSelector: { matchLabels: { ns: y } } }, { ipBlock: { cidr: 192.0.2.0/24 } }], ports: [{ port: http }] }]',
    ),
    [XA],
    ALL,
  );
  assert.deepEqual(el.egressIsolated, ['10.244.1.2']);
  assert.deepEqual(el.egressPorts, ['10.244.1.2 . 10.244.2.2 . tcp . 80']);
});

test('updates touch only the sets: flush each, then add the elements', () => {
  const el = planPolicyElements(cluster('podSelector: {}'), [XA], ALL);
  const text = renderPolicyElements(el).render();
  assert.doesNotMatch(text, /chain|rule|table inet weft-policy \{/);
  assert.match(text, /^flush set inet weft-policy ingress-isolated$/m);
  assert.match(text, /^add element inet weft-policy ingress-isolated \{ 10\.244\.1\.2 \}$/m);
});

test('egress to every peer on a named port resolves on each destination pod (found by the probe/reach property test)', () => {
  const el = planPolicyElements(
    cluster('podSelector: { matchLabels: { pod: a } }\npolicyTypes: [Egress]\negress: [{ ports: [{ port: http }] }]'),
    [XA],
    ALL,
  );
  // The hostNetwork pod (10.99.0.2) is a destination like any other for "every peer".
  assert.deepEqual(el.egressPorts, [
    '10.244.1.2 . 10.99.0.2 . tcp . 80',
    '10.244.1.2 . 10.244.1.2-10.244.1.3 . tcp . 80',
    '10.244.1.2 . 10.244.2.2 . tcp . 80',
  ]);
});
