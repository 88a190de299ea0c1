/**
 * Tests for parseManifest: the document forms users write (multi-document YAML, JSON, List),
 * the API server's defaults, and one row per rejection asserting the document, object and exact
 * field path in the message, so a user can find the line to fix.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestError, parseManifest } from './parse.js';
import type { EndpointSlice, NetworkPolicy, Pod, Service } from './objects.js';
import { problemsOf } from '../../testkit/manifest-problems.js';

const POD_A = `apiVersion: v1
kind: Pod
metadata:
  name: a
  namespace: x
  labels: {app: web, app.kubernetes.io/name: web}
spec:
  nodeName: node-1
  containers:
  - name: web
    image: nginx
    ports:
    - containerPort: 80
    - {containerPort: 53, protocol: UDP, name: dns}
`;

test('a Pod gets the API server defaults', () => {
  const [pod] = parseManifest(POD_A) as Pod[];
  assert.deepEqual(pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'a', namespace: 'x', labels: { app: 'web', 'app.kubernetes.io/name': 'web' }, annotations: {} },
    spec: {
      nodeName: 'node-1',
      hostNetwork: false,
      containers: [
        {
          name: 'web',
          image: 'nginx',
          ports: [
            { containerPort: 80, protocol: 'TCP' },
            { containerPort: 53, protocol: 'UDP', name: 'dns' },
          ],
        },
      ],
    },
  });
});

test('multi-document YAML keeps order and skips empty documents', () => {
  const text = `---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n${POD_A}---\n# only a comment\n---\n`;
  const objs = parseManifest(text);
  assert.deepEqual(
    objs.map((o) => `${o.kind}/${o.metadata.name}`),
    ['Namespace/x', 'Pod/a'],
  );
});

test('empty text yields no objects', () => {
  assert.deepEqual(parseManifest(''), []);
  assert.deepEqual(parseManifest('# nothing\n'), []);
});

test('JSON object and JSON List', () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'b' }, spec: { containers: [{ name: 'c' }] } };
  const [one] = parseManifest(JSON.stringify(pod)) as Pod[];
  assert.equal(one?.metadata.namespace, 'default');
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: [pod, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1' } }],
  };
  assert.deepEqual(
    parseManifest(JSON.stringify(list, null, 2)).map((o) => o.kind),
    ['Pod', 'Namespace'],
  );
});

test('YAML PodList as kubectl get -o yaml prints it: server fields left to the store, the rest kept as written', () => {
  // (status is refused: see strict.test.ts.)
  const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: p1, namespace: default, uid: 1234, resourceVersion: "5"}
  spec: {containers: [{name: c, image: busybox, command: [sleep, "3600"]}], restartPolicy: Always}
`;
  const [pod] = parseManifest(text) as Pod[];
  assert.deepEqual(pod?.metadata, { name: 'p1', namespace: 'default', labels: {}, annotations: {} });
  assert.deepEqual(pod?.spec, {
    hostNetwork: false,
    containers: [{ name: 'c', image: 'busybox', ports: [], command: ['sleep', '3600'] }],
    restartPolicy: 'Always',
  });
});

test('NetworkPolicy: full spec and policyTypes default', () => {
  const text = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db.allow, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - podSelector: {matchExpressions: [{key: role, operator: In, values: [api]}]}
      namespaceSelector: {}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports:
    - {port: 5432}
    - {protocol: UDP, port: 30000, endPort: 32767}
    - {port: metrics}
  egress:
  - to: [{ipBlock: {cidr: "fd00::/8"}}]
`;
  const [np] = parseManifest(text) as NetworkPolicy[];
  assert.deepEqual(np?.spec.policyTypes, ['Ingress', 'Egress']);
  assert.deepEqual(np?.spec.ingress[0]?.from[0], {
    podSelector: { matchLabels: {}, matchExpressions: [{ key: 'role', operator: 'In', values: ['api'] }] },
    namespaceSelector: { matchLabels: {}, matchExpressions: [] },
  });
  assert.deepEqual(np?.spec.ingress[0]?.ports, [
    { protocol: 'TCP', port: 5432 },
    { protocol: 'UDP', port: 30000, endPort: 32767 },
    { protocol: 'TCP', port: 'metrics' },
  ]);
  assert.deepEqual(np?.spec.egress[0]?.to[0]?.ipBlock, { cidr: 'fd00::/8', except: [] });
});

const policyDefaults: Array<[string, string, string[]]> = [
  ['no spec at all denies ingress to every pod', '', ['Ingress']],
  ['ingress only', 'spec: {podSelector: {}, ingress: [{}]}', ['Ingress']],
  ['explicit Egress only', 'spec: {podSelector: {}, policyTypes: [Egress]}', ['Egress']],
  ['egress rules add Egress', 'spec: {podSelector: {}, egress: [{}]}', ['Ingress', 'Egress']],
];
for (const [name, spec, want] of policyDefaults) {
  test(`NetworkPolicy policyTypes: ${name}`, () => {
    const [np] = parseManifest(
      `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n${spec}\n`,
    ) as NetworkPolicy[];
    assert.deepEqual(np?.spec.policyTypes, want);
  });
}

test('Service defaults: type ClusterIP, targetPort = port, empty selector is no selector', () => {
  const text = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: manual}
spec: {selector: {}, clusterIP: None}
`;
  const [web, manual] = parseManifest(text) as Service[];
  assert.deepEqual(web?.spec, {
    selector: { app: 'web' },
    type: 'ClusterIP',
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' },
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
    ],
    sessionAffinity: 'None',
    internalTrafficPolicy: 'Cluster',
  });
  assert.deepEqual(manual?.spec, {
    type: 'ClusterIP',
    ports: [],
    clusterIP: 'None',
    sessionAffinity: 'None',
    internalTrafficPolicy: 'Cluster',
  });
});

test('Service affinity and traffic policies: the API server defaults, and its refusals', () => {
  const svc = (spec: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: ${spec}\n`;
  const [affinity] = parseManifest(
    svc('{selector: {app: web}, ports: [{port: 80}], sessionAffinity: ClientIP}'),
  ) as Service[];
  assert.deepEqual(affinity?.spec.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
  const [np] = parseManifest(
    svc('{type: NodePort, ports: [{port: 80}], externalTrafficPolicy: Local, internalTrafficPolicy: Local}'),
  ) as Service[];
  assert.equal(np?.spec.externalTrafficPolicy, 'Local');
  assert.equal(np?.spec.internalTrafficPolicy, 'Local');
  const [lb] = parseManifest(svc('{type: LoadBalancer, ports: [{port: 80}]}')) as Service[];
  assert.equal(lb?.spec.externalTrafficPolicy, 'Cluster');
  const [ext] = parseManifest(svc('{type: ExternalName, externalName: db.example.com}')) as Service[];
  assert.deepEqual(ext?.spec, {
    type: 'ExternalName',
    ports: [],
    sessionAffinity: 'None',
    externalName: 'db.example.com',
  });
  for (const [spec, reason] of [
    ['{type: ExternalName}', 'spec.externalName: Required value'],
    ['{type: ExternalName, externalName: Not_A_Name}', 'spec.externalName: "Not_A_Name"'],
    [
      '{ports: [{port: 80}], externalName: db.example.com}',
      'spec.externalName: "db.example.com": may only be set when `type` is \'ExternalName\'',
    ],
    [
      '{ports: [{port: 80}], externalTrafficPolicy: Local}',
      'spec.externalTrafficPolicy: "Local": may only be set for externally-accessible services',
    ],
    [
      '{ports: [{port: 80}], sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}}',
      'spec.sessionAffinityConfig: must not be set unless `sessionAffinity` is ClientIP',
    ],
    [
      '{ports: [{port: 80}], sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}}',
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds: 0: must be greater than 0 and less than or equal to 86400',
    ],
    ['{ports: [{port: 80}], sessionAffinity: Sticky}', 'spec.sessionAffinity'],
    [
      '{type: NodePort, clusterIP: None, ports: [{port: 80}]}',
      'spec.clusterIP: "None": may not be "None" when `type` is \'NodePort\'',
    ],
    [
      '{ports: [{port: 80}], sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSecond: 5}}}',
      'spec.sessionAffinityConfig.clientIP.timeoutSecond: unknown field',
    ],
  ] as const) {
    assert.throws(
      () => parseManifest(svc(spec)),
      (err: Error) => err.message.includes(reason),
      `${spec} → ${reason}`,
    );
  }
});

test('Service externalIPs, loadBalancerSourceRanges, healthCheckNodePort: kept and defaulted as the API server does', () => {
  const svc = (spec: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: ${spec}\n`;
  const [ext] = parseManifest(svc('{ports: [{port: 80}], externalIPs: [192.0.2.9]}')) as Service[];
  assert.deepEqual(ext?.spec.externalIPs, ['192.0.2.9']);
  assert.equal(
    ext?.spec.externalTrafficPolicy,
    'Cluster',
    'a ClusterIP Service with external IPs is externally accessible',
  );
  const [lb] = parseManifest(
    svc(
      '{type: LoadBalancer, ports: [{port: 80}], externalTrafficPolicy: Local, healthCheckNodePort: 31000, loadBalancerSourceRanges: [" 10.99.0.250/32", 10.0.0.0/8]}',
    ),
  ) as Service[];
  assert.equal(lb?.spec.healthCheckNodePort, 31000);
  assert.deepEqual(lb?.spec.loadBalancerSourceRanges, [' 10.99.0.250/32', '10.0.0.0/8'], 'kept as written');
  const [zero] = parseManifest(
    svc('{type: LoadBalancer, ports: [{port: 80}], externalTrafficPolicy: Local, healthCheckNodePort: 0}'),
  ) as Service[];
  assert.equal(zero?.spec.healthCheckNodePort, undefined, '0 means "allocate one"');
  for (const [spec, reason] of [
    [
      '{ports: [{port: 80}], externalIPs: [nope]}',
      'spec.externalIPs[0]: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    ],
    [
      '{ports: [{port: 80}], externalIPs: [0.0.0.0]}',
      'spec.externalIPs[0]: "0.0.0.0": may not be unspecified (0.0.0.0)',
    ],
    [
      '{ports: [{port: 80}], externalIPs: [127.0.0.5]}',
      'spec.externalIPs[0]: "127.0.0.5": may not be in the loopback range (127.0.0.0/8, ::1/128)',
    ],
    [
      '{ports: [{port: 80}], externalIPs: [169.254.1.1]}',
      'spec.externalIPs[0]: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
    ],
    [
      '{ports: [{port: 80}], externalIPs: [224.0.0.5]}',
      'spec.externalIPs[0]: "224.0.0.5": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)',
    ],
    [
      '{ports: [{port: 80}], externalIPs: ["2001:db8::1"]}',
      'spec.externalIPs[0]: "2001:db8::1": must be an IPv4 address',
    ],
    ['{clusterIP: None, externalIPs: [192.0.2.9]}', 'spec.externalIPs: has no effect on a headless Service'],
    [
      '{ports: [{port: 80}], loadBalancerSourceRanges: [10.0.0.0/8]}',
      "spec.loadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
    ],
    [
      '{type: NodePort, ports: [{port: 80}], loadBalancerSourceRanges: [10.0.0.0/8]}',
      "spec.loadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
    ],
    [
      '{type: LoadBalancer, ports: [{port: 80}], loadBalancerSourceRanges: [10.0.0.0/33]}',
      'spec.loadBalancerSourceRanges[0]: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
    ],
    [
      '{type: LoadBalancer, ports: [{port: 80}], healthCheckNodePort: 31000}',
      "spec.healthCheckNodePort: 31000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
    ],
    [
      '{type: NodePort, externalTrafficPolicy: Local, ports: [{port: 80}], healthCheckNodePort: 31000}',
      "spec.healthCheckNodePort: 31000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
    ],
    [
      '{type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 80}], healthCheckNodePort: 70000}',
      'spec.healthCheckNodePort',
    ],
  ] as const) {
    assert.throws(
      () => parseManifest(svc(spec)),
      (err: Error) => err.message.includes(reason),
      `${spec} → ${reason}`,
    );
  }
});

test('DNS fields are acted on: pod hostname and subdomain, endpoint hostname, publishNotReadyAddresses', () => {
  const [p] = parseManifest(
    'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {hostname: web-0, subdomain: web, containers: [{name: c}]}\n',
  ) as Pod[];
  assert.equal(p?.spec.hostname, 'web-0');
  assert.equal(p?.spec.subdomain, 'web');
  const [s] = parseManifest(
    'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: None, publishNotReadyAddresses: true}\n',
  ) as Service[];
  assert.equal(s?.spec.publishNotReadyAddresses, true);
  const [e] = parseManifest(
    'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1], hostname: web-0}]\n',
  ) as EndpointSlice[];
  assert.equal(e?.endpoints[0]?.hostname, 'web-0');
});

test('EndpointSlice', () => {
  const text = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc12, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
endpoints:
- addresses: ["fd00:10:244::5"]
  conditions: {ready: true}
  nodeName: node-2
  targetRef: {kind: Pod, name: a}
ports: [{name: http, port: 8080}]
`;
  const [slice] = parseManifest(text) as EndpointSlice[];
  assert.deepEqual(slice?.endpoints, [
    {
      addresses: ['fd00:10:244::5'],
      conditions: { ready: true },
      nodeName: 'node-2',
      targetRef: { kind: 'Pod', name: 'a' },
    },
  ]);
  assert.deepEqual(slice?.ports, [{ name: 'http', protocol: 'TCP', port: 8080 }]);
  assert.equal(slice?.metadata.labels['kubernetes.io/service-name'], 'web');
});

const pod = (spec: string, meta = '{name: a, namespace: x}') =>
  `apiVersion: v1\nkind: Pod\nmetadata: ${meta}\nspec: ${spec}\n`;
const policy = (spec: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec: ${spec}\n`;
const svc = (spec: string, name = 'web') => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
const slice = (body: string) => `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\n${body}\n`;
const peer = (p: string) => policy(`{podSelector: {}, ingress: [{from: [${p}]}]}`);
const port = (p: string) => policy(`{podSelector: {}, ingress: [{ports: [${p}]}]}`);
const sel = (s: string) => policy(`{podSelector: ${s}}`);

/** [case, manifest, the exact problem expected (one of the reported lines)]. */
const invalid: Array<[string, string, string]> = [
  // document level
  [
    'YAML syntax error',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: [a\n',
    'document 1: YAML syntax error at line 4: ',
  ],
  ['duplicate key', 'kind: Pod\nkind: Pod\n', 'document 1: YAML syntax error at line 2: Map keys must be unique'],
  [
    'unknown kind',
    `${pod('{containers: [{name: c}]}')}---\n${pod('{containers: [{name: c}]}', '{name: b}')}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n`,
    'document 3: unknown kind "Deployment" (supported: Namespace, Pod, NetworkPolicy, Service, EndpointSlice, Ingress, IngressClass, Secret)',
  ],
  ['missing kind', 'apiVersion: v1\nmetadata: {name: a}\n', 'document 1: kind: is required'],
  ['a scalar document', 'just text\n', 'document 1: must be an object with apiVersion, kind and metadata'],
  [
    'apiVersion of another kind',
    'apiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: p}\n',
    'document 1 (NetworkPolicy default/p): apiVersion: "v1" is not valid for NetworkPolicy (want networking.k8s.io/v1)',
  ],
  ['missing apiVersion', 'kind: Pod\nmetadata: {name: a}\n', 'document 1 (Pod default/a): apiVersion: is required'],
  [
    'unknown top-level field',
    `${pod('{containers: [{name: c}]}')}metdata: {}\n`,
    'document 1 (Pod x/a): metdata: unknown field (did you mean "metadata"?)',
  ],
  ['List without items', 'apiVersion: v1\nkind: List\n', 'document 1 (List): items: must be a list'],
  [
    'bad List item',
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Bad' } }],
    }),
    `document 1, items[0] (Namespace Bad): metadata.name: "Bad": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`,
  ],
  // metadata
  ['missing name', pod('{containers: [{name: c}]}', '{namespace: x}'), 'document 1 (Pod): metadata.name: is required'],
  [
    'Pod name with a dot',
    pod('{containers: [{name: c}]}', '{name: a.b}'),
    'document 1 (Pod default/a.b): metadata.name: "a.b": a lowercase RFC 1123 label',
  ],
  ['Pod name too long', pod('{containers: [{name: c}]}', `{name: ${'a'.repeat(64)}}`), 'metadata.name: "aaaa'],
  [
    'bad namespace',
    pod('{containers: [{name: c}]}', '{name: a, namespace: X_Y}'),
    'document 1 (Pod X_Y/a): metadata.namespace: "X_Y": a lowercase RFC 1123 label',
  ],
  [
    'Namespace with a namespace',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}\n',
    'document 1 (Namespace a): metadata.namespace: not allowed on this type',
  ],
  [
    'Service name starting with a digit',
    svc('{ports: [{port: 80}]}', '1web'),
    'document 1 (Service default/1web): metadata.name: "1web": a DNS-1035 label',
  ],
  [
    'label key with two slashes',
    pod('{containers: [{name: c}]}', '{name: a, labels: {a/b/c: x}}'),
    'metadata.labels[a/b/c]: "a/b/c": key a qualified name must consist',
  ],
  [
    'label key name too long',
    pod('{containers: [{name: c}]}', `{name: a, labels: {${'k'.repeat(64)}: x}}`),
    `metadata.labels.${'k'.repeat(64)}: "${'k'.repeat(64)}": key name part must be no more than 63 characters`,
  ],
  [
    'label key prefix not a subdomain',
    pod('{containers: [{name: c}]}', '{name: a, labels: {Example.com/app: x}}'),
    'metadata.labels[Example.com/app]: "Example.com/app": key prefix part a lowercase RFC 1123 subdomain',
  ],
  [
    'label value with a space',
    pod('{containers: [{name: c}]}', '{name: a, labels: {app: "a b"}}'),
    'metadata.labels.app: "a b": a valid label must be an empty string',
  ],
  [
    'label value ending in a dash',
    pod('{containers: [{name: c}]}', '{name: a, labels: {app: web-}}'),
    'metadata.labels.app: "web-": a valid label',
  ],
  [
    'label value too long',
    pod('{containers: [{name: c}]}', `{name: a, labels: {app: ${'v'.repeat(64)}}}`),
    'metadata.labels.app: "vvvv',
  ],
  [
    'label value not a string',
    pod('{containers: [{name: c}]}', '{name: a, labels: {version: 1.0}}'),
    'metadata.labels.version: Expected string, received number',
  ],
  // Pod
  [
    'Pod without spec',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n',
    'document 1 (Pod default/a): spec: Required',
  ],
  [
    'Pod without containers',
    pod('{containers: []}'),
    'document 1 (Pod x/a): spec.containers: must have at least one container',
  ],
  ['container without name', pod('{containers: [{image: x}]}'), 'spec.containers[0].name: is required'],
  [
    'duplicate container name',
    pod('{containers: [{name: c}, {name: c}]}'),
    'spec.containers[1].name: "c": duplicate container name',
  ],
  [
    'containerPort 0',
    pod('{containers: [{name: c, ports: [{containerPort: 0}]}]}'),
    'spec.containers[0].ports[0].containerPort: 0: must be between 1 and 65535, inclusive',
  ],
  [
    'containerPort 65536',
    pod('{containers: [{name: c, ports: [{containerPort: 65536}]}]}'),
    'spec.containers[0].ports[0].containerPort: 65536: must be between 1 and 65535, inclusive',
  ],
  [
    'containerPort as a string',
    pod('{containers: [{name: c, ports: [{containerPort: "80"}]}]}'),
    'spec.containers[0].ports[0].containerPort: must be an integer',
  ],
  [
    'containerPort missing',
    pod('{containers: [{name: c, ports: [{name: http}]}]}'),
    'spec.containers[0].ports[0].containerPort: Required',
  ],
  [
    'bad protocol',
    pod('{containers: [{name: c, ports: [{containerPort: 80, protocol: tcp}]}]}'),
    'spec.containers[0].ports[0].protocol: unsupported value "tcp" (supported: TCP, UDP, SCTP)',
  ],
  [
    'duplicate port in one container',
    pod('{containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 80}]}]}'),
    'document 1 (Pod x/a): spec.containers[0].ports[1].containerPort: duplicate port 80/TCP',
  ],
  [
    'duplicate port across containers',
    pod(
      '{containers: [{name: c, ports: [{containerPort: 80}]}, {name: d, ports: [{containerPort: 80, protocol: TCP}]}]}',
    ),
    'spec.containers[1].ports[0].containerPort: duplicate port 80/TCP',
  ],
  [
    'port name too long',
    pod('{containers: [{name: c, ports: [{containerPort: 80, name: abcdefghijklmnop}]}]}'),
    'spec.containers[0].ports[0].name: "abcdefghijklmnop": must be no more than 15 characters',
  ],
  [
    'port name all digits',
    pod('{containers: [{name: c, ports: [{containerPort: 80, name: "8080"}]}]}'),
    'spec.containers[0].ports[0].name: "8080": must contain at least one letter (a-z)',
  ],
  [
    'port name with double dash',
    pod('{containers: [{name: c, ports: [{containerPort: 80, name: a--b}]}]}'),
    'spec.containers[0].ports[0].name: "a--b": must not contain consecutive hyphens',
  ],
  [
    'port name with leading dash',
    pod('{containers: [{name: c, ports: [{containerPort: 80, name: -ab}]}]}'),
    'spec.containers[0].ports[0].name: "-ab": must contain only alpha-numeric',
  ],
  [
    'duplicate port name',
    pod('{containers: [{name: c, ports: [{containerPort: 80, name: web}, {containerPort: 81, name: web}]}]}'),
    'spec.containers[0].ports[1].name: "web": duplicate port name',
  ],
  [
    'bad nodeName',
    pod('{nodeName: Node_1, containers: [{name: c}]}'),
    'spec.nodeName: "Node_1": a lowercase RFC 1123 subdomain',
  ],
  // NetworkPolicy
  [
    'policyTypes value',
    policy('{podSelector: {}, policyTypes: [Ingress, ingress]}'),
    'document 1 (NetworkPolicy x/p): spec.policyTypes[1]: unsupported value "ingress" (supported: Ingress, Egress)',
  ],
  [
    'three policyTypes',
    policy('{podSelector: {}, policyTypes: [Ingress, Egress, Ingress]}'),
    'spec.policyTypes: may not specify more than two policyTypes',
  ],
  [
    'unknown spec field',
    policy('{podSelector: {}, ingres: []}'),
    'spec.ingres: unknown field (did you mean "ingress"?)',
  ],
  ['empty peer', peer('{}'), 'spec.ingress[0].from[0]: must specify a peer'],
  [
    'ipBlock with podSelector',
    peer('{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}'),
    'spec.ingress[0].from[0]: may not specify both ipBlock and another peer',
  ],
  [
    'ipBlock with namespaceSelector (egress)',
    policy('{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, namespaceSelector: {}}]}]}'),
    'spec.egress[0].to[0]: may not specify both ipBlock and another peer',
  ],
  [
    'ipBlock without cidr',
    peer('{ipBlock: {except: [10.0.0.0/8]}}'),
    'spec.ingress[0].from[0].ipBlock.cidr: is required',
  ],
  [
    'ipBlock bad cidr',
    peer('{ipBlock: {cidr: 10.0.0.0/33}}'),
    'spec.ingress[0].from[0].ipBlock.cidr: "10.0.0.0/33": must be a valid CIDR value',
  ],
  [
    'ipBlock address without prefix',
    peer('{ipBlock: {cidr: 10.0.0.1}}'),
    'spec.ingress[0].from[0].ipBlock.cidr: "10.0.0.1": must be a valid CIDR value',
  ],
  [
    'except not a CIDR',
    peer('{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, bogus]}}'),
    'spec.ingress[0].from[0].ipBlock.except[1]: "bogus": must be a valid CIDR value',
  ],
  [
    'except outside cidr',
    peer('{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}'),
    'spec.ingress[0].from[0].ipBlock.except[0]: "10.1.0.0/24": must be a strict subset of `cidr`',
  ],
  [
    'except equal to cidr',
    peer('{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}'),
    'ipBlock.except[0]: "10.0.0.0/16": must be a strict subset of `cidr`',
  ],
  [
    'except wider than cidr',
    peer('{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/8]}}'),
    'ipBlock.except[0]: "10.0.0.0/8": must be a strict subset of `cidr`',
  ],
  [
    'except of the other family',
    peer('{ipBlock: {cidr: 10.0.0.0/8, except: ["fd00::/64"]}}'),
    'ipBlock.except[0]: "fd00::/64": must be a strict subset of `cidr`',
  ],
  [
    'IPv6 except outside',
    peer('{ipBlock: {cidr: "fd00::/64", except: ["fd01::/96"]}}'),
    'ipBlock.except[0]: "fd01::/96": must be a strict subset of `cidr`',
  ],
  [
    'policy port protocol',
    port('{protocol: ICMP, port: 1}'),
    'spec.ingress[0].ports[0].protocol: unsupported value "ICMP" (supported: TCP, UDP, SCTP)',
  ],
  ['policy port 0', port('{port: 0}'), 'spec.ingress[0].ports[0].port: 0: must be between 1 and 65535, inclusive'],
  [
    'policy port 70000',
    port('{port: 70000}'),
    'spec.ingress[0].ports[0].port: 70000: must be between 1 and 65535, inclusive',
  ],
  [
    'policy port bad name',
    port('{port: HTTP}'),
    'spec.ingress[0].ports[0].port: "HTTP": must contain only alpha-numeric',
  ],
  [
    'endPort without port',
    port('{endPort: 90}'),
    'spec.ingress[0].ports[0].endPort: 90: may not be specified when `port` is not specified',
  ],
  [
    'endPort with named port',
    port('{port: http, endPort: 90}'),
    'spec.ingress[0].ports[0].endPort: 90: may not be specified when `port` is non-numeric',
  ],
  [
    'endPort below port',
    port('{port: 100, endPort: 90}'),
    'spec.ingress[0].ports[0].endPort: 90: must be greater than or equal to `port`',
  ],
  [
    'endPort above 65535',
    port('{port: 100, endPort: 65536}'),
    'spec.ingress[0].ports[0].endPort: 65536: must be between 1 and 65535, inclusive',
  ],
  [
    'egress port',
    policy('{podSelector: {}, egress: [{ports: [{port: 53, protocol: DNS}]}]}'),
    'spec.egress[0].ports[0].protocol: unsupported value "DNS"',
  ],
  [
    'In without values',
    sel('{matchExpressions: [{key: app, operator: In}]}'),
    "spec.podSelector.matchExpressions[0].values: must be specified when `operator` is 'In' or 'NotIn'",
  ],
  [
    'NotIn with empty values',
    sel('{matchExpressions: [{key: app, operator: NotIn, values: []}]}'),
    "spec.podSelector.matchExpressions[0].values: must be specified when `operator` is 'In' or 'NotIn'",
  ],
  [
    'Exists with values',
    sel('{matchExpressions: [{key: app, operator: Exists, values: [a]}]}'),
    "spec.podSelector.matchExpressions[0].values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
  ],
  [
    'unknown operator',
    sel('{matchExpressions: [{key: app, operator: Equals, values: [a]}]}'),
    'spec.podSelector.matchExpressions[0].operator: unsupported value "Equals" (supported: In, NotIn, Exists, DoesNotExist)',
  ],
  [
    'bad expression key',
    sel('{matchExpressions: [{key: "-app", operator: Exists}]}'),
    'spec.podSelector.matchExpressions[0].key: "-app": name part must consist',
  ],
  [
    'bad expression value',
    sel('{matchExpressions: [{key: app, operator: In, values: [ok, "not ok"]}]}'),
    'spec.podSelector.matchExpressions[0].values[1]: "not ok": a valid label',
  ],
  [
    'bad matchLabels value',
    peer('{namespaceSelector: {matchLabels: {team: "a/b"}}}'),
    'spec.ingress[0].from[0].namespaceSelector.matchLabels.team: "a/b": a valid label',
  ],
  [
    'selector typo',
    sel('{matchLabel: {app: web}}'),
    'spec.podSelector.matchLabel: unknown field (did you mean "matchLabels"?)',
  ],
  // Service
  ['Service without ports', svc('{selector: {app: web}}'), 'document 1 (Service default/web): spec.ports: is required'],
  ['Service port 0', svc('{ports: [{port: 0}]}'), 'spec.ports[0].port: 0: must be between 1 and 65535, inclusive'],
  [
    'Service two unnamed ports',
    svc('{ports: [{name: a, port: 80}, {port: 81}]}'),
    'spec.ports[1].name: is required when a Service has more than one port',
  ],
  [
    'Service duplicate port',
    svc('{ports: [{name: a, port: 80}, {name: b, port: 80}]}'),
    'spec.ports[1]: duplicate port 80/TCP',
  ],
  [
    'Service duplicate port name',
    svc('{ports: [{name: a, port: 80}, {name: a, port: 81}]}'),
    'spec.ports[1].name: "a": duplicate port name',
  ],
  [
    'Service targetPort name invalid',
    svc('{ports: [{port: 80, targetPort: "80"}]}'),
    'spec.ports[0].targetPort: "80": must contain at least one letter (a-z)',
  ],
  [
    'Service targetPort too big',
    svc('{ports: [{port: 80, targetPort: 99999}]}'),
    'spec.ports[0].targetPort: 99999: must be between 1 and 65535, inclusive',
  ],
  [
    'Service type',
    svc('{type: Headless, ports: [{port: 80}]}'),
    'spec.type: unsupported value "Headless" (supported: ClusterIP, NodePort, LoadBalancer, ExternalName)',
  ],
  [
    'Service clusterIP',
    svc('{clusterIP: 10.0.0.300, ports: [{port: 80}]}'),
    'spec.clusterIP: "10.0.0.300": must be a valid IP address',
  ],
  [
    'nodePort on ClusterIP',
    svc('{ports: [{port: 80, nodePort: 30080}]}'),
    "spec.ports[0].nodePort: 30080: may not be used when `type` is 'ClusterIP'",
  ],
  // EndpointSlice
  [
    'EndpointSlice addressType',
    slice('addressType: IPv5\nendpoints: []'),
    'document 1 (EndpointSlice default/s): addressType: unsupported value "IPv5" (supported: IPv4, IPv6, FQDN)',
  ],
  ['EndpointSlice missing addressType', slice('endpoints: []'), 'addressType: Required'],
  [
    'EndpointSlice IPv6 address in an IPv4 slice',
    slice('addressType: IPv4\nendpoints: [{addresses: ["fd00::1"]}]'),
    'endpoints[0].addresses[0]: "fd00::1": must be a valid IPv4 address',
  ],
  [
    'EndpointSlice no addresses',
    slice('addressType: IPv4\nendpoints: [{addresses: []}]'),
    'endpoints[0].addresses: must contain at least 1 address',
  ],
  [
    'EndpointSlice port 0',
    slice('addressType: IPv4\nendpoints: []\nports: [{port: 0}]'),
    'ports[0].port: 0: must be between 1 and 65535, inclusive',
  ],
  [
    'EndpointSlice duplicate port name',
    slice('addressType: IPv4\nendpoints: []\nports: [{name: a, port: 1}, {name: a, port: 2}]'),
    'ports[1].name: "a": duplicate port name',
  ],
  [
    'EndpointSlice hostname not a DNS label',
    slice('addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], hostname: web.0}]'),
    'endpoints[0].hostname: "web.0": a lowercase RFC 1123 label',
  ],
  ['Pod hostname not a DNS label', pod('{hostname: Web_0, containers: [{name: c}]}'), 'spec.hostname: "Web_0"'],
  ['Pod subdomain not a DNS label', pod('{subdomain: a.b, containers: [{name: c}]}'), 'spec.subdomain: "a.b"'],
  [
    'Service publishNotReadyAddresses not a boolean',
    svc('{clusterIP: None, publishNotReadyAddresses: "yes"}'),
    'spec.publishNotReadyAddresses: Expected boolean, received string',
  ],
  [
    'EndpointSlice condition type',
    slice('addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: {ready: "yes"}}]'),
    'endpoints[0].conditions.ready: Expected boolean, received string',
  ],
];

for (const [name, text, want] of invalid) {
  test(`rejects ${name}`, () => {
    const problems = problemsOf(text);
    assert.ok(
      problems.some((p) => p.includes(want)),
      `want ${JSON.stringify(want)} among:\n${problems.join('\n')}`,
    );
  });
}

test('every problem in every document is reported, documents numbered from 1', () => {
  const text = `${pod('{containers: [{name: c, ports: [{containerPort: 0}]}]}')}---\n${pod('{containers: []}', '{name: b}')}`;
  const problems = problemsOf(text);
  assert.deepEqual(problems, [
    'document 1 (Pod x/a): spec.containers[0].ports[0].containerPort: 0: must be between 1 and 65535, inclusive',
    'document 2 (Pod default/b): spec.containers: must have at least one container',
  ]);
  assert.throws(
    () => parseManifest(text),
    (e: unknown) => e instanceof ManifestError && e.message === problems.join('\n'),
  );
});
