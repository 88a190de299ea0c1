/**
 * Strict decoding (issue 16 item 8): what a user writes is either acted on, kept as written, or
 * refused with its path; never dropped silently. One table of refusals (unknown fields at every
 * depth of every kind, network fields weft does not implement yet, status), one of manifests
 * written for a real cluster that must apply with their extra fields kept verbatim, and the
 * API server's size limits with weft's bound on objects per apply.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatFieldPath, MAX_OBJECT_BYTES, MAX_OBJECTS_PER_APPLY, parseManifest } from './parse.js';
import type { EndpointSlice, Namespace, NetworkPolicy, Pod, Service } from './objects.js';
import { problemsOf } from '../../testkit/manifest-problems.js';

const pod = (spec: string, meta = '{name: a, namespace: x}', extra = '') =>
  `apiVersion: v1\nkind: Pod\nmetadata: ${meta}\nspec: ${spec}\n${extra}`;
const c = (fields: string) => pod(`{containers: [{name: c, ${fields}}]}`);
const svc = (spec: string, extra = '') =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: x}\nspec: ${spec}\n${extra}`;
const svcWith = (field: string) => svc(`{selector: {app: web}, ports: [{port: 80}], ${field}}`);
const policy = (spec: string, extra = '') =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec: ${spec}\n${extra}`;
const slice = (body: string) =>
  `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: x}\naddressType: IPv4\n${body}\n`;
const ns = (body: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n${body}\n`;

/** [case, manifest, the exact problem line expected]. */
const refused: Array<[string, string, string]> = [
  // The silent drops of issue 16 item 8, one by one.
  [
    'misspelled metadata.labels',
    pod('{containers: [{name: c}]}', '{name: a, namespace: x, lables: {app: web}}'),
    'document 1 (Pod x/a): metadata.lables: unknown field (did you mean "labels"?)',
  ],
  [
    'misspelled hostNetwork',
    pod('{hostNetwrok: true, containers: [{name: c}]}'),
    'document 1 (Pod x/a): spec.hostNetwrok: unknown field (did you mean "hostNetwork"?)',
  ],
  [
    'misspelled port protocol',
    c('ports: [{containerPort: 53, protcol: UDP}]'),
    'document 1 (Pod x/a): spec.containers[0].ports[0].protcol: unknown field (did you mean "protocol"?)',
  ],
  // Unknown fields at every depth of every kind.
  [
    'unknown top-level field',
    pod('{containers: [{name: c}]}', '{name: a, namespace: x}', 'metdata: {}\n'),
    'document 1 (Pod x/a): metdata: unknown field (did you mean "metadata"?)',
  ],
  [
    'unknown field with no near match',
    pod('{containers: [{name: c}]}', '{name: a, namespace: x, colour: blue}'),
    'document 1 (Pod x/a): metadata.colour: unknown field',
  ],
  ['unknown container field', c('imgae: nginx'), 'spec.containers[0].imgae: unknown field (did you mean "image"?)'],
  [
    'a field of another level (containerPort on the container)',
    c('containerPort: 80'),
    'spec.containers[0].containerPort: unknown field',
  ],
  [
    'unknown Pod spec field',
    pod('{containers: [{name: c}], nodename: n1}'),
    'spec.nodename: unknown field (did you mean "nodeName"?)',
  ],
  ['unknown Namespace field', ns('spek: {}'), 'document 1 (Namespace x): spek: unknown field (did you mean "spec"?)'],
  [
    'unknown Namespace spec field',
    ns('spec: {finalizer: [kubernetes]}'),
    'document 1 (Namespace x): spec.finalizer: unknown field (did you mean "finalizers"?)',
  ],
  [
    'unknown Service spec field',
    svcWith('selecter: {app: web}'),
    'document 1 (Service x/web): spec.selecter: unknown field (did you mean "selector"?)',
  ],
  [
    'unknown Service port field',
    svc('{ports: [{port: 80, targetport: 8080}]}'),
    'spec.ports[0].targetport: unknown field (did you mean "targetPort"?)',
  ],
  [
    'unknown policy spec field',
    policy('{podSelector: {}, ingres: []}'),
    'document 1 (NetworkPolicy x/p): spec.ingres: unknown field (did you mean "ingress"?)',
  ],
  [
    'unknown policy rule field',
    policy('{podSelector: {}, ingress: [{form: []}]}'),
    'spec.ingress[0].form: unknown field (did you mean "from"?)',
  ],
  [
    'unknown policy peer field',
    policy('{podSelector: {}, egress: [{to: [{podselector: {}}]}]}'),
    'spec.egress[0].to[0].podselector: unknown field (did you mean "podSelector"?)',
  ],
  [
    'unknown policy port field',
    policy('{podSelector: {}, ingress: [{ports: [{port: 80, end_port: 90}]}]}'),
    'spec.ingress[0].ports[0].end_port: unknown field (did you mean "endPort"?)',
  ],
  [
    'unknown ipBlock field',
    policy('{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, exept: []}}]}]}'),
    'spec.ingress[0].from[0].ipBlock.exept: unknown field (did you mean "except"?)',
  ],
  [
    'selector typo',
    policy('{podSelector: {matchLabel: {app: web}}}'),
    'spec.podSelector.matchLabel: unknown field (did you mean "matchLabels"?)',
  ],
  [
    'unknown selector requirement field',
    policy('{podSelector: {matchExpressions: [{key: a, operator: Exists, value: []}]}}'),
    'spec.podSelector.matchExpressions[0].value: unknown field (did you mean "values"?)',
  ],
  [
    'unknown EndpointSlice endpoint field',
    slice('endpoints: [{addresses: [10.0.0.1], nodename: n1}]'),
    'document 1 (EndpointSlice x/s): endpoints[0].nodename: unknown field (did you mean "nodeName"?)',
  ],
  [
    'unknown EndpointSlice condition',
    slice('endpoints: [{addresses: [10.0.0.1], conditions: {redy: true}}]'),
    'endpoints[0].conditions.redy: unknown field (did you mean "ready"?)',
  ],
  [
    'unknown EndpointSlice port field',
    slice('ports: [{port: 80, protocl: UDP}]'),
    'ports[0].protocl: unknown field (did you mean "protocol"?)',
  ],
  // Network fields weft does not implement yet: refused with a reason, never believed in force.
  [
    'Service loadBalancerIP',
    svc('{type: LoadBalancer, ports: [{port: 80}], loadBalancerIP: 192.0.2.1}'),
    'spec.loadBalancerIP: not supported yet by weft',
  ],
  [
    'Service loadBalancerClass',
    svc('{type: LoadBalancer, ports: [{port: 80}], loadBalancerClass: example.com/lb}'),
    'spec.loadBalancerClass: not supported yet by weft',
  ],
  [
    'Service allocateLoadBalancerNodePorts',
    svc('{type: LoadBalancer, ports: [{port: 80}], allocateLoadBalancerNodePorts: false}'),
    'spec.allocateLoadBalancerNodePorts: not supported yet by weft',
  ],
  [
    'Service dual-stack ipFamilies',
    svcWith('ipFamilies: [IPv4, IPv6]'),
    'spec.ipFamilies: ["IPv4","IPv6"]: not supported yet by weft',
  ],
  [
    'Service ipFamilyPolicy RequireDualStack',
    svcWith('ipFamilyPolicy: RequireDualStack'),
    'spec.ipFamilyPolicy: "RequireDualStack": not supported yet by weft',
  ],
  [
    'Service clusterIPs other than clusterIP',
    svc('{ports: [{port: 80}], clusterIP: 10.96.0.10, clusterIPs: [10.96.0.11]}'),
    'spec.clusterIPs: must be [spec.clusterIP] (["10.96.0.10"]): not supported yet by weft',
  ],
  [
    'Service status',
    svc('{ports: [{port: 80}]}', 'status: {loadBalancer: {ingress: [{ip: 192.0.2.1}]}}\n'),
    'document 1 (Service x/web): status: is written by the cluster, not by apply',
  ],
  [
    'Pod status',
    pod('{containers: [{name: c}]}', '{name: a, namespace: x}', 'status: {phase: Running, podIP: 10.244.1.5}\n'),
    'document 1 (Pod x/a): status: is written by the node, not by apply',
  ],
  [
    'Namespace status',
    ns('status: {phase: Active}'),
    'document 1 (Namespace x): status: is written by the cluster, not by apply',
  ],
  [
    'NetworkPolicy status',
    policy('{podSelector: {}}', 'status: {}\n'),
    'status: is written by the cluster, not by apply',
  ],
  [
    'container hostIP',
    c('ports: [{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}]'),
    'spec.containers[0].ports[0].hostIP: not supported yet by weft',
  ],
  [
    'hostPort 0',
    c('ports: [{containerPort: 80, hostPort: 0}]'),
    'spec.containers[0].ports[0].hostPort: 0: must be between 1 and 65535, inclusive',
  ],
  [
    'hostPort other than containerPort on a hostNetwork pod',
    pod('{hostNetwork: true, containers: [{name: c, ports: [{containerPort: 80, hostPort: 8080}]}]}'),
    'spec.containers[0].ports[0].hostPort: 8080: must match `containerPort` when `hostNetwork` is true',
  ],
  [
    'container hostIP',
    c('ports: [{containerPort: 80, hostIP: 0.0.0.0}]'),
    'spec.containers[0].ports[0].hostIP: not supported yet by weft',
  ],
  [
    'EndpointSlice hints',
    slice('endpoints: [{addresses: [10.0.0.1], hints: {forZones: [{name: a}]}}]'),
    'endpoints[0].hints: not supported yet by weft',
  ],
  // Kept fields must still be data, and a kept field is not a place to hide anything.
  [
    'List item with an unknown field',
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n', lables: {} } }],
    }),
    'document 1, items[0] (Namespace n): metadata.lables: unknown field (did you mean "labels"?)',
  ],
];

for (const [name, text, want] of refused) {
  test(`refuses ${name}`, () => {
    const problems = problemsOf(text);
    assert.ok(
      problems.some((p) => p.startsWith(want) || p.includes(`: ${want}`)),
      `want ${JSON.stringify(want)} among:\n${problems.join('\n')}`,
    );
  });
}

test('every unknown field of a document is reported, each with its own path', () => {
  const problems = problemsOf(
    pod(
      '{hostNetwrok: true, containers: [{name: c, ports: [{containerPort: 53, protcol: UDP}]}]}',
      '{name: a, namespace: x, lables: {app: web}}',
    ),
  );
  assert.deepEqual(problems.sort(), [
    'document 1 (Pod x/a): metadata.lables: unknown field (did you mean "labels"?)',
    'document 1 (Pod x/a): spec.containers[0].ports[0].protcol: unknown field (did you mean "protocol"?)',
    'document 1 (Pod x/a): spec.hostNetwrok: unknown field (did you mean "hostNetwork"?)',
  ]);
});

test('an unknown field is reported together with the other problems of the same object', () => {
  const problems = problemsOf(c('ports: [{containerPort: 0, protcol: UDP}]'));
  assert.ok(
    problems.some((p) => p.includes('ports[0].containerPort: 0: must be between 1 and 65535')),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.includes('ports[0].protcol: unknown field')),
    problems.join('\n'),
  );
});

// What a manifest written for a real cluster (or `kubectl get -o yaml` of one) carries.
const REAL_POD = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: x
  uid: 0f7e4a2c-1111-2222-3333-444455556666
  resourceVersion: "12345"
  generation: 1
  creationTimestamp: "2026-01-01T00:00:00Z"
  managedFields: [{manager: kubectl, operation: Update}]
  generateName: web-
  labels: {app: web}
  annotations: {team: blue}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-abc, uid: u1, controller: true}]
  finalizers: [example.com/keep]
spec:
  restartPolicy: Always
  serviceAccountName: web
  terminationGracePeriodSeconds: 30
  dnsPolicy: ClusterFirst
  nodeSelector: {disk: ssd}
  tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}]
  volumes: [{name: data, emptyDir: {}}]
  initContainers: [{name: init, image: busybox, command: [sh, -c, "true"]}]
  containers:
  - name: web
    image: nginx:1.27
    imagePullPolicy: IfNotPresent
    command: [nginx]
    args: ["-g", "daemon off;"]
    env: [{name: MODE, value: prod}]
    resources: {limits: {cpu: 500m, memory: 128Mi}}
    volumeMounts: [{name: data, mountPath: /data}]
    readinessProbe: {tcpSocket: {port: http}, periodSeconds: 5}
    livenessProbe: {tcpSocket: {port: 80}}
    securityContext: {runAsNonRoot: true}
    ports:
    - {name: http, containerPort: 80, protocol: TCP}
`;

test("a real cluster's Pod applies: what weft does not act on is kept as written, server fields are left to the store", () => {
  const [p] = parseManifest(REAL_POD) as Pod[];
  assert.deepEqual(p?.metadata, {
    name: 'web',
    namespace: 'x',
    labels: { app: 'web' },
    annotations: { team: 'blue' },
    generateName: 'web-',
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'u1', controller: true }],
    finalizers: ['example.com/keep'],
  });
  assert.deepEqual(p?.spec, {
    hostNetwork: false,
    containers: [
      {
        name: 'web',
        image: 'nginx:1.27',
        ports: [{ containerPort: 80, protocol: 'TCP', name: 'http' }],
        imagePullPolicy: 'IfNotPresent',
        command: ['nginx'],
        args: ['-g', 'daemon off;'],
        env: [{ name: 'MODE', value: 'prod' }],
        resources: { limits: { cpu: '500m', memory: '128Mi' } },
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
        readinessProbe: {
          tcpSocket: { port: 'http' },
          initialDelaySeconds: 0,
          timeoutSeconds: 1,
          periodSeconds: 5,
          successThreshold: 1,
          failureThreshold: 3,
        },
        livenessProbe: { tcpSocket: { port: 80 } },
        securityContext: { runAsNonRoot: true },
      },
    ],
    restartPolicy: 'Always',
    serviceAccountName: 'web',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    nodeSelector: { disk: 'ssd' },
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
    initContainers: [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'true'] }],
  });
});

test("a real cluster's Service applies with the default values of fields weft does not implement yet, kept as written", () => {
  const text = svc(`
  selector: {app: web}
  type: ClusterIP
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  sessionAffinity: None
  internalTrafficPolicy: Cluster
  ports: [{name: http, port: 80, targetPort: 8080, appProtocol: http}]`);
  const [s] = parseManifest(text) as Service[];
  assert.deepEqual(s?.spec, {
    selector: { app: 'web' },
    type: 'ClusterIP',
    clusterIP: '10.96.0.10',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, appProtocol: 'http' }],
    clusterIPs: ['10.96.0.10'],
    ipFamilies: ['IPv4'],
    ipFamilyPolicy: 'SingleStack',
    sessionAffinity: 'None',
    internalTrafficPolicy: 'Cluster',
  });
});

test('hostPorts apply: on a hostNetwork pod equal to containerPort (the API server default), on any other pod any port', () => {
  const [q] = parseManifest(c('ports: [{containerPort: 80, hostPort: 8080}]')) as Pod[];
  assert.deepEqual(q?.spec.containers[0]?.ports, [{ containerPort: 80, protocol: 'TCP', hostPort: 8080 }]);
  const [p] = parseManifest(
    pod('{hostNetwork: true, containers: [{name: c, ports: [{containerPort: 80, hostPort: 80, protocol: TCP}]}]}'),
  ) as Pod[];
  assert.deepEqual(p?.spec.containers[0]?.ports, [{ containerPort: 80, protocol: 'TCP', hostPort: 80 }]);
});

test('EndpointSlice and Namespace fields weft does not act on are kept as written', () => {
  const [s] = parseManifest(
    slice(
      'endpoints: [{addresses: [10.0.0.1], hostname: a, zone: z1, targetRef: {kind: Pod, name: a, namespace: x}}]\nports: [{port: 80, appProtocol: http}]',
    ),
  ) as EndpointSlice[];
  assert.deepEqual(s?.endpoints, [
    { addresses: ['10.0.0.1'], hostname: 'a', zone: 'z1', targetRef: { kind: 'Pod', name: 'a', namespace: 'x' } },
  ]);
  assert.deepEqual(s?.ports, [{ protocol: 'TCP', port: 80, appProtocol: 'http' }]);
  const [n] = parseManifest(ns('spec: {finalizers: [kubernetes]}')) as Namespace[];
  assert.deepEqual(n?.spec, { finalizers: ['kubernetes'] });
});

test('NetworkPolicy is modelled whole: every field of the API is acted on, nothing extra is kept', () => {
  const [np] = parseManifest(
    policy(
      '{podSelector: {matchLabels: {app: db}}, policyTypes: [Ingress], ingress: [{from: [{podSelector: {}}], ports: [{port: 5432}]}]}',
    ),
  ) as NetworkPolicy[];
  assert.deepEqual(Object.keys(np ?? {}), ['apiVersion', 'kind', 'metadata', 'spec']);
  assert.deepEqual(Object.keys(np?.spec ?? {}), ['podSelector', 'policyTypes', 'ingress', 'egress']);
});

// The API server's limits and weft's bound on one apply.
const KIB = 1024;
const bigAnnotation = (bytes: number) =>
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: big\n  annotations:\n    note: "${'x'.repeat(bytes)}"\n`;

test('annotations: 256 KiB in total per object is accepted, one byte more is refused naming the limit', () => {
  // Key "note" (4 bytes) + value: the API server counts keys and values (ValidateAnnotationsSize).
  assert.doesNotThrow(() => parseManifest(bigAnnotation(256 * KIB - 4)));
  assert.deepEqual(problemsOf(bigAnnotation(256 * KIB - 3)), [
    'document 1 (Namespace big): metadata.annotations: too long: must have at most 262144 bytes in total (256 KiB), has 262145',
  ]);
});

test('annotation sizes count UTF-8 bytes, as the API server does', () => {
  // "é" is 2 bytes: 131070 of them + the 4-byte key is 262144 bytes; one more is over.
  const text = (n: number) =>
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: big, annotations: {note: "${'é'.repeat(n)}"}}\n`;
  assert.doesNotThrow(() => parseManifest(text(131070)));
  assert.match(problemsOf(text(131071))[0] ?? '', /metadata\.annotations: too long: .* has 262146$/);
});

test('a 20 MB annotation is refused as too large, without echoing it', () => {
  const problems = problemsOf(bigAnnotation(20 * KIB * KIB));
  assert.equal(problems.length, 1);
  assert.match(
    problems[0]!,
    /^document 1 \(Namespace big\): too large: \d+ bytes as JSON; the limit is 3145728 bytes \(3 MiB\) per object$/,
  );
});

test('one object of 3 MiB as JSON is the most the API server takes; the next document is judged on its own', () => {
  assert.equal(MAX_OBJECT_BYTES, 3 * KIB * KIB);
  // A kept field carries the bulk (annotations would hit their own limit first).
  const sized = (name: string, fill: number) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name },
      spec: { finalizers: ['x'.repeat(fill)] },
    });
  const base = sized('n', 0).length;
  const exact = sized('n', MAX_OBJECT_BYTES - base);
  assert.equal(exact.length, MAX_OBJECT_BYTES);
  assert.doesNotThrow(() => parseManifest(exact));
  const problems = problemsOf(
    `${sized('n', MAX_OBJECT_BYTES - base + 1)}\n---\n${ns('lables: {}').replace('name: x', 'name: m')}`,
  );
  assert.deepEqual(problems, [
    `document 1 (Namespace n): too large: ${MAX_OBJECT_BYTES + 1} bytes as JSON; the limit is 3145728 bytes (3 MiB) per object`,
    'document 2 (Namespace m): lables: unknown field',
  ]);
});

test(`a manifest of more than ${MAX_OBJECTS_PER_APPLY} objects is refused, counting List items, and parsing stops there`, () => {
  const doc = (i: number) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: n${i}}\n`;
  const atLimit = Array.from({ length: MAX_OBJECTS_PER_APPLY }, (_, i) => doc(i)).join('---\n');
  assert.equal(parseManifest(atLimit).length, MAX_OBJECTS_PER_APPLY);
  // 141,628 namespaces as in the issue; a bad document far past the bound is never looked at.
  const many = Array.from({ length: 141_628 }, (_, i) => doc(i)).join('---\n') + '---\nkind: Nonsense\n';
  const t0 = Date.now();
  assert.deepEqual(problemsOf(many), [
    `document ${MAX_OBJECTS_PER_APPLY + 1}: too many objects: at most ${MAX_OBJECTS_PER_APPLY} per apply (split the manifest)`,
  ]);
  assert.ok(Date.now() - t0 < 15_000, 'refused without parsing the whole file');
  const list = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: Array.from({ length: MAX_OBJECTS_PER_APPLY + 1 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: `n${i}` },
    })),
  });
  assert.deepEqual(problemsOf(list), [
    `document 1, items[${MAX_OBJECTS_PER_APPLY}]: too many objects: at most ${MAX_OBJECTS_PER_APPLY} per apply (split the manifest)`,
  ]);
});

// The invariant behind every row above: an unknown key added to any object of a valid manifest,
// at any depth, is refused at exactly its path. Free-form maps (labels, annotations, selectors'
// matchLabels, a Service's selector) take any key and are left out.
const VALID: Record<string, unknown>[] = [
  {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'x', labels: { a: 'b' } },
    spec: { finalizers: ['kubernetes'] },
  },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'a', namespace: 'x', labels: { app: 'web' }, annotations: { note: 'n' } },
    spec: {
      nodeName: 'n1',
      hostNetwork: false,
      containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80, protocol: 'TCP', name: 'http' }] }],
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'x' },
    spec: {
      selector: { app: 'web' },
      type: 'NodePort',
      ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }],
    },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'p', namespace: 'x' },
    spec: {
      podSelector: { matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a'] }] },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            { podSelector: {}, namespaceSelector: { matchLabels: { team: 't' } } },
            { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
          ],
          ports: [{ protocol: 'TCP', port: 80, endPort: 90 }],
        },
      ],
      egress: [
        {
          to: [{ podSelector: { matchExpressions: [{ key: 'k', operator: 'Exists' }] } }],
          ports: [{ port: 'dns', protocol: 'UDP' }],
        },
      ],
    },
  },
  {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 's', namespace: 'x', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true, serving: true }, nodeName: 'n1' }],
    ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
  },
];
const FREE_MAPS = new Set(['labels', 'annotations', 'matchLabels', 'selector']);

/** Paths of every object in the document, where a new key would be a field of the API. */
function objectPaths(value: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(value)) return value.flatMap((v, i) => objectPaths(v, [...path, i]));
  if (typeof value !== 'object' || value === null) return [];
  const last = path[path.length - 1];
  if (typeof last === 'string' && FREE_MAPS.has(last)) return [];
  return [path, ...Object.entries(value).flatMap(([k, v]) => objectPaths(v, [...path, k]))];
}

function withKey(doc: Record<string, unknown>, path: Array<string | number>, key: string): unknown {
  const copy = structuredClone(doc);
  let node: unknown = copy;
  for (const seg of path) node = (node as Record<string | number, unknown>)[seg];
  (node as Record<string, unknown>)[key] = 'surprise';
  return copy;
}

test('property: an unknown key at any depth of any kind is refused at its own path, and the manifests without it parse', () => {
  for (const doc of VALID) assert.doesNotThrow(() => parseManifest(JSON.stringify(doc)), String(doc.kind));
  const cases = VALID.flatMap((doc) => objectPaths(doc).map((path) => ({ doc, path })));
  fc.assert(
    fc.property(fc.constantFrom(...cases), fc.stringMatching(/^[a-z][a-zA-Z]{0,11}$/), ({ doc, path }, name) => {
      const key = `zz${name}`;
      const problems = problemsOf(JSON.stringify(withKey(doc, path, key)));
      const want = `${formatFieldPath([...path, key])}: unknown field`;
      assert.ok(
        problems.length === 1 && problems[0]!.endsWith(`): ${want}`),
        `${doc.kind} at ${formatFieldPath(path) || '(top)'}: want ${want}, got:\n${problems.join('\n')}`,
      );
    }),
    { numRuns: 300 },
  );
});
