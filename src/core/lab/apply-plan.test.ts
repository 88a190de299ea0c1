import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManifestLocated } from '../k8s/parse.js';
import type { Ingress, K8sObject, Pod } from '../k8s/objects.js';
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
    want: /document 2 \(Pod default\/h2\): spec\.containers: host port 80\/TCP is already taken on node n1 by pod default\/h1/,
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
  assert.match(
    problems(() => planDelete(current, located(ns('kube-system')), true))[0]!,
    /namespaces "kube-system" is forbidden: this namespace may not be deleted/,
  );
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

/** Stored pods x/a (spec grace `grace`, if any) and x/b, scheduled, Running unless `phase` says otherwise. */
function gracePods(grace?: number, phase: 'Running' | 'Failed' = 'Running'): Stored[] {
  const spec = `${grace === undefined ? '' : `terminationGracePeriodSeconds: ${grace}, `}containers: [{ name: s }]`;
  const objs = planApply(DEFAULT_NS, NODES, located(ns('x'), pod('x', 'a', spec), pod('x', 'b'))).map((o) =>
    o.kind === 'Pod' ? { ...o, status: { phase } } : o,
  );
  return stored([...DEFAULT_NS.map((s) => s.object), ...objs]);
}
const keys = (plan: { all: Array<{ kind: string; namespace: string; name: string }> }) =>
  plan.all.map((k) => `${k.kind}/${k.namespace}/${k.name}`);
const NOW = Date.parse('2026-12-07T05:00:00Z');

const graceCases: Array<{
  name: string;
  grace?: number;
  flag?: number;
  phase?: 'Running' | 'Failed';
  removed: string[];
  terminating?: { at: string; seconds: number };
}> = [
  { name: 'no flag and no spec field: at once (the lab default)', removed: ['Pod/x/a'] },
  {
    name: "the pod's terminationGracePeriodSeconds",
    grace: 7,
    removed: [],
    terminating: { at: '2026-12-07T05:00:07.000Z', seconds: 7 },
  },
  {
    name: '--grace-period wins over the spec field',
    grace: 7,
    flag: 3,
    removed: [],
    terminating: { at: '2026-12-07T05:00:03.000Z', seconds: 3 },
  },
  { name: '--grace-period 0 is at once, whatever the spec says', grace: 30, flag: 0, removed: ['Pod/x/a'] },
  { name: 'a Failed pod goes at once (no node runs it)', grace: 30, phase: 'Failed', removed: ['Pod/x/a'] },
];

for (const c of graceCases) {
  test(`delete with grace: ${c.name}`, () => {
    const plan = planDelete(gracePods(c.grace, c.phase), located(pod('x', 'a')), false, {
      now: NOW,
      ...(c.flag === undefined ? {} : { gracePeriodSeconds: c.flag }),
    });
    assert.deepEqual(
      plan.named.map((k) => k.name),
      ['a'],
    );
    assert.deepEqual(keys(plan), c.removed);
    assert.deepEqual(
      plan.terminate.map((p) => ({
        name: p.metadata.name,
        at: p.metadata.deletionTimestamp,
        seconds: p.metadata.deletionGracePeriodSeconds,
        status: p.status,
      })),
      c.terminating ? [{ name: 'a', at: c.terminating.at, seconds: c.terminating.seconds, status: undefined }] : [],
    );
  });
}

test('delete with grace: an unscheduled pod goes at once', () => {
  const current = stored([
    ...DEFAULT_NS.map((s) => s.object),
    ...located(pod('default', 'u', 'terminationGracePeriodSeconds: 9, containers: [{ name: s }]')).map((l) => l.object),
  ]);
  const plan = planDelete(current, located(pod('default', 'u')), false, { now: NOW });
  assert.deepEqual(keys(plan), ['Pod/default/u']);
  assert.deepEqual(plan.terminate, []);
});

test('delete with grace: a second delete only shortens the deadline; --grace-period 0 forces it', () => {
  const first = planDelete(gracePods(10), located(pod('x', 'a')), false, { now: NOW });
  const marked = gracePods(10).map((s) =>
    s.object.kind === 'Pod' && s.object.metadata.name === 'a' ? { ...s, object: first.terminate[0]! } : s,
  );
  const later = planDelete(marked, located(pod('x', 'a')), false, { now: NOW + 1_000 });
  assert.deepEqual([keys(later), later.terminate], [[], []], 'a longer or equal deadline keeps the first one');
  const shorter = planDelete(marked, located(pod('x', 'a')), false, { now: NOW + 1_000, gracePeriodSeconds: 2 });
  assert.deepEqual(
    shorter.terminate.map((p) => p.metadata.deletionTimestamp),
    ['2026-12-07T05:00:03.000Z'],
  );
  const forced = planDelete(marked, located(pod('x', 'a')), false, { now: NOW + 1_000, gracePeriodSeconds: 0 });
  assert.deepEqual([keys(forced), forced.terminate], [['Pod/x/a'], []]);
});

test("delete with grace: a namespace's pods go at once, a pod of it named too", () => {
  const plan = planDelete(gracePods(10), located(pod('x', 'a'), ns('x')), false, { now: NOW, gracePeriodSeconds: 5 });
  assert.deepEqual(keys(plan).sort(), ['Namespace//x', 'Pod/x/a', 'Pod/x/b']);
  assert.deepEqual(plan.terminate, []);
});

test('apply refuses a pod that is being deleted, as the API server does', () => {
  const plan = planDelete(gracePods(10), located(pod('x', 'a')), false, { now: NOW });
  const marked = gracePods(10).map((s) =>
    s.object.kind === 'Pod' && s.object.metadata.name === 'a' ? { ...s, object: plan.terminate[0]! } : s,
  );
  const p = problems(() =>
    planApply(marked, NODES, located(pod('x', 'a', 'terminationGracePeriodSeconds: 10, containers: [{ name: s }]'))),
  );
  assert.deepEqual(p, ['document 1 (Pod x/a): object is being deleted: pods "a" already exists']);
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

// ---- Services: the API server's allocators -------------------------------------------------

function svc(name: string, spec: string): string {
  return `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: ${spec}\n`;
}
const RANGES = { serviceCidr: '10.96.0.0/12', nodePortMin: 30000, nodePortMax: 32767 };
const services = (objects: K8sObject[]) => objects.flatMap((o) => (o.kind === 'Service' ? [o] : []));

test('a Service without clusterIP gets the lowest free address above the static band; one with clusterIP keeps it', () => {
  const out = services(
    planApply(
      DEFAULT_NS,
      NODES,
      located(
        svc('a', '{ports: [{port: 80}]}'),
        svc('b', '{ports: [{port: 80}]}'),
        svc('dns', '{clusterIP: 10.96.0.10, ports: [{port: 53}]}'),
        svc('h', '{clusterIP: None, selector: {app: h}}'),
      ),
      RANGES,
    ),
  );
  assert.deepEqual(
    out.map((s) => [s.metadata.name, s.spec.clusterIP]),
    [
      ['a', '10.96.0.16'],
      ['b', '10.96.0.17'],
      ['dns', '10.96.0.10'],
      ['h', 'None'],
    ],
  );
});

test('a stored ClusterIP is immutable, kept when a re-apply leaves it out, and never given to another Service', () => {
  const first = stored([
    ...DEFAULT_NS.map((s) => s.object),
    ...planApply(DEFAULT_NS, NODES, located(svc('a', '{ports: [{port: 80}]}')), RANGES),
  ]);
  const again = services(
    planApply(first, NODES, located(svc('b', '{ports: [{port: 80}]}'), svc('a', '{ports: [{port: 81}]}')), RANGES),
  );
  assert.deepEqual(
    again.map((s) => [s.metadata.name, s.spec.clusterIP]),
    [
      ['b', '10.96.0.17'],
      ['a', '10.96.0.16'],
    ],
  );
  assert.deepEqual(
    problems(() => planApply(first, NODES, located(svc('a', '{clusterIP: 10.96.0.99, ports: [{port: 80}]}')), RANGES)),
    [
      'document 1 (Service default/a): spec.clusterIP: Invalid value: "10.96.0.99": field is immutable (it is 10.96.0.16)',
    ],
  );
  assert.deepEqual(
    problems(() => planApply(first, NODES, located(svc('c', '{clusterIP: 10.96.0.16, ports: [{port: 80}]}')), RANGES)),
    [
      'document 1 (Service default/c): spec.clusterIPs: Invalid value: ["10.96.0.16"]: failed to allocate IP 10.96.0.16: provided IP is already allocated (to service default/a)',
    ],
  );
});

test('a clusterIP outside the range, or its network or broadcast address, is refused with the range', () => {
  for (const ip of ['10.0.0.1', '10.96.0.0', '10.111.255.255'])
    assert.deepEqual(
      problems(() =>
        planApply(DEFAULT_NS, NODES, located(svc('a', `{clusterIP: ${ip}, ports: [{port: 80}]}`)), RANGES),
      ),
      [
        `document 1 (Service default/a): spec.clusterIPs: Invalid value: ["${ip}"]: failed to allocate IP ${ip}: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12`,
      ],
    );
});

test('NodePorts: allocated from the range per protocol, kept on re-apply, refused when taken or out of range', () => {
  const planned = planApply(
    DEFAULT_NS,
    NODES,
    located(
      svc('a', '{type: NodePort, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}'),
      svc('b', '{type: LoadBalancer, ports: [{port: 80, nodePort: 30080}]}'),
    ),
    RANGES,
  );
  assert.deepEqual(
    services(planned).map((s) => s.spec.ports.map((p) => p.nodePort)),
    [[30000, 30000], [30080]],
  );
  const first = stored([...DEFAULT_NS.map((s) => s.object), ...planned]);
  const again = services(
    planApply(
      first,
      NODES,
      located(svc('a', '{type: NodePort, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}')),
      RANGES,
    ),
  );
  assert.deepEqual(
    again[0]?.spec.ports.map((p) => p.nodePort),
    [30000, 30000],
  );
  assert.deepEqual(
    problems(() =>
      planApply(
        first,
        NODES,
        located(
          svc('c', '{type: NodePort, ports: [{port: 80, nodePort: 30080}]}'),
          svc('d', '{type: NodePort, ports: [{port: 80, nodePort: 8080}]}'),
        ),
        RANGES,
      ),
    ),
    [
      'document 1 (Service default/c): spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated (to service default/b)',
      'document 2 (Service default/d): spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767',
    ],
  );
});

const LB_RANGES = { ...RANGES, lbCidr: '10.99.0.224/30' };
const ingressOf = (s: K8sObject | undefined) => (s?.kind === 'Service' ? s.status?.loadBalancer.ingress : undefined);

test('LoadBalancer: the lowest free pool address in status, kept on re-apply, freed on delete or type change; none free: pending', () => {
  const planned = planApply(
    DEFAULT_NS,
    NODES,
    located(
      svc('a', '{type: LoadBalancer, ports: [{port: 80}]}'),
      svc('b', '{type: LoadBalancer, ports: [{port: 80}]}'),
      svc('np', '{type: NodePort, ports: [{port: 80}]}'),
    ),
    LB_RANGES,
  );
  assert.deepEqual(
    planned.map((s) => ingressOf(s)),
    [[{ ip: '10.99.0.224' }], [{ ip: '10.99.0.225' }], undefined],
  );
  const first = stored([...DEFAULT_NS.map((s) => s.object), ...planned]);
  // Re-applied (in another order): each keeps its own; a new one gets the next free address.
  const again = planApply(
    first,
    NODES,
    located(
      svc('c', '{type: LoadBalancer, ports: [{port: 80}]}'),
      svc('b', '{type: LoadBalancer, ports: [{port: 81}]}'),
    ),
    LB_RANGES,
  );
  assert.deepEqual(
    again.map((s) => ingressOf(s)),
    [[{ ip: '10.99.0.226' }], [{ ip: '10.99.0.225' }]],
  );
  // a stops being a LoadBalancer: its address goes, and is the next one handed out.
  const changed = planApply(first, NODES, located(svc('a', '{type: NodePort, ports: [{port: 80}]}')), LB_RANGES);
  assert.equal(ingressOf(changed[0]), undefined);
  const afterChange = stored([...DEFAULT_NS.map((s) => s.object), changed[0]!, planned[1]!]);
  assert.deepEqual(
    ingressOf(
      planApply(afterChange, NODES, located(svc('d', '{type: LoadBalancer, ports: [{port: 80}]}')), LB_RANGES)[0],
    ),
    [{ ip: '10.99.0.224' }],
  );
  // Deleted: its address is free (the allocator sees only what is stored).
  const withoutA = stored([...DEFAULT_NS.map((s) => s.object), planned[1]!]);
  assert.deepEqual(
    ingressOf(planApply(withoutA, NODES, located(svc('e', '{type: LoadBalancer, ports: [{port: 80}]}')), LB_RANGES)[0]),
    [{ ip: '10.99.0.224' }],
  );
  // A pool of 4 with 5 LoadBalancers: the fifth is stored, pending (no ingress), as a real cluster leaves it.
  const full = planApply(
    DEFAULT_NS,
    NODES,
    located(...['p', 'q', 'r', 's', 't'].map((n) => svc(n, '{type: LoadBalancer, ports: [{port: 80}]}'))),
    LB_RANGES,
  );
  assert.deepEqual(
    full.map((s) => ingressOf(s)?.[0]?.ip),
    ['10.99.0.224', '10.99.0.225', '10.99.0.226', '10.99.0.227', undefined],
  );
});

test('healthCheckNodePort: allocated for LoadBalancer + Local, kept on re-apply, refused when taken, out of range or changed', () => {
  const lbLocal = (name: string, more = '') =>
    svc(name, `{type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 80}]${more}}`);
  const planned = services(
    planApply(DEFAULT_NS, NODES, located(lbLocal('b', ', healthCheckNodePort: 30000'), lbLocal('a')), LB_RANGES),
  );
  assert.deepEqual(
    planned.map((s) => [s.spec.ports[0]?.nodePort, s.spec.healthCheckNodePort]),
    [
      [30001, 30000],
      [30002, 30003],
    ],
    'a given health check port is never handed to a node port',
  );
  const first = stored([...DEFAULT_NS.map((s) => s.object), ...planned]);
  assert.equal(services(planApply(first, NODES, located(lbLocal('a')), LB_RANGES))[0]?.spec.healthCheckNodePort, 30003);
  // Back to Cluster: no health check port; its port is free for others after that is stored.
  const cluster = services(
    planApply(first, NODES, located(svc('a', '{type: LoadBalancer, ports: [{port: 80}]}')), LB_RANGES),
  );
  assert.equal(cluster[0]?.spec.healthCheckNodePort, undefined);
  assert.deepEqual(
    problems(() =>
      planApply(
        first,
        NODES,
        located(
          lbLocal('c', ', healthCheckNodePort: 30003'),
          lbLocal('d', ', healthCheckNodePort: 8080'),
          lbLocal('a', ', healthCheckNodePort: 31000'),
          lbLocal('e', ', healthCheckNodePort: 30002'),
        ),
        LB_RANGES,
      ),
    ),
    [
      'document 1 (Service default/c): spec.healthCheckNodePort: Invalid value: 30003: failed to allocate requested HealthCheck NodePort 30003: provided port is already allocated (to service default/a)',
      'document 2 (Service default/d): spec.healthCheckNodePort: Invalid value: 8080: failed to allocate requested HealthCheck NodePort 8080: provided port is not in the valid range. The range of valid ports is 30000-32767',
      'document 3 (Service default/a): spec.healthCheckNodePort: Invalid value: 31000: cannot change healthCheckNodePort on loadBalancer service with externalTraffic=Local during update',
      'document 4 (Service default/e): spec.healthCheckNodePort: Invalid value: 30002: failed to allocate requested HealthCheck NodePort 30002: provided port is already allocated (to service default/a)',
    ],
  );
});

test('an ExternalName Service gets no cluster IP and no node ports', () => {
  const [s] = services(
    planApply(DEFAULT_NS, NODES, located(svc('x', '{type: ExternalName, externalName: db.example.com}')), RANGES),
  );
  assert.equal(s?.spec.clusterIP, undefined);
});

test('property: every allocated ClusterIP is in the range, outside the static band, and unique', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.subarray([...Array(16).keys()].map((i) => i + 1)),
      (count, picked) => {
        const docs = [
          ...picked.map((i) => svc(`s${i}`, `{clusterIP: 10.96.0.${i + 16}, ports: [{port: 80}]}`)),
          ...Array.from({ length: count }, (_, i) => svc(`d${i}`, '{ports: [{port: 80}]}')),
        ];
        const ips = services(planApply(DEFAULT_NS, NODES, located(...docs), RANGES)).map((s) => s.spec.clusterIP!);
        assert.equal(new Set(ips).size, ips.length);
        for (const ip of ips) assert.match(ip, /^10\.96\.0\.(1[6-9]|[2-9][0-9]|1[0-9][0-9]|2[0-4][0-9])$/);
      },
    ),
  );
});

const ingressClass = (name: string, isDefault: boolean) =>
  `apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: { name: ${name}${isDefault ? ', annotations: { ingressclass.kubernetes.io/is-default-class: "true" }' : ''} }\nspec: { controller: weft.dev/ingress }\n`;
const ingress = (name: string, extra = '') =>
  `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: ${name}, namespace: default }\nspec: { ${extra}defaultBackend: { service: { name: s, port: { number: 80 } } } }\n`;

test('an Ingress without a class gets the default IngressClass on create, and keeps its class and status on update', () => {
  const classes = stored([
    ...DEFAULT_NS.map((s) => s.object),
    ...planApply(DEFAULT_NS, NODES, located(ingressClass('weft', true), ingressClass('other', false))),
  ]);
  const [created] = planApply(classes, NODES, located(ingress('i'))) as Ingress[];
  assert.equal(created!.spec.ingressClassName, 'weft');
  const [named] = planApply(classes, NODES, located(ingress('j', 'ingressClassName: other, '))) as Ingress[];
  assert.equal(named!.spec.ingressClassName, 'other', 'a class given is kept');
  const status: Ingress['status'] = { loadBalancer: { ingress: [{ ip: '10.99.0.224' }] } };
  const withStatus = stored([...classes.map((s) => s.object), { ...created!, status }]);
  const [updated] = planApply(withStatus, NODES, located(ingress('i'))) as Ingress[];
  assert.equal(updated!.spec.ingressClassName, 'weft');
  assert.deepEqual(updated!.status, status, 'status is the controller’s: a re-apply keeps it');
});

test('two default IngressClasses: a classless Ingress is refused, as the API server refuses it', () => {
  const two = stored([
    ...DEFAULT_NS.map((s) => s.object),
    ...planApply(DEFAULT_NS, NODES, located(ingressClass('a', true), ingressClass('b', true))),
  ]);
  assert.deepEqual(
    problems(() => planApply(two, NODES, located(ingress('i')))),
    [
      'document 1 (Ingress default/i): spec.ingressClassName: Forbidden: 2 default IngressClasses were found, only 1 allowed (a, b)',
    ],
  );
  assert.equal((planApply(two, NODES, located(ingress('i', 'ingressClassName: a, '))) as Ingress[]).length, 1);
});
