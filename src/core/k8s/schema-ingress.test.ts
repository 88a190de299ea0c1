// Ingress, IngressClass and Secret as the API server validates them: each refusal names its field path and reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from './parse.js';
import type { Ingress, Secret } from './objects.js';
import { problemsOf } from '../../testkit/manifest-problems.js';

const ing = (spec: string, meta = '{name: web, namespace: x}') =>
  `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: ${meta}\nspec: ${spec}\n`;
const path = (p: string) => ing(`{rules: [{host: a.example.com, http: {paths: [${p}]}}]}`);
const be = '{service: {name: web, port: {number: 80}}}';
const secret = (body: string) => `apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: x}\n${body}\n`;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const CRT = b64('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const KEY = b64('-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
const P = 'document 1 (Ingress x/web): ';

const refused: Array<[string, string, string[]]> = [
  [
    'neither rules nor defaultBackend',
    ing('{}'),
    [`${P}spec: either \`defaultBackend\` or \`rules\` must be specified`],
  ],
  [
    'pathType missing',
    path(`{path: /a, backend: ${be}}`),
    [`${P}spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified`],
  ],
  [
    'pathType unknown',
    path(`{path: /a, pathType: Regex, backend: ${be}}`),
    [
      `${P}spec.rules[0].http.paths[0].pathType: unsupported value "Regex" (supported: Exact, Prefix, ImplementationSpecific)`,
    ],
  ],
  [
    'relative Prefix path',
    path(`{path: a, pathType: Prefix, backend: ${be}}`),
    [`${P}spec.rules[0].http.paths[0].path: "a": must be an absolute path`],
  ],
  [
    'Exact path with //',
    path(`{path: /a//b, pathType: Exact, backend: ${be}}`),
    [`${P}spec.rules[0].http.paths[0].path: "/a//b": must not contain '//'`],
  ],
  [
    'Prefix path ending in /..',
    path(`{path: /a/.., pathType: Prefix, backend: ${be}}`),
    [`${P}spec.rules[0].http.paths[0].path: "/a/..": cannot end with '/..'`],
  ],
  [
    'relative ImplementationSpecific path',
    path(`{path: a, pathType: ImplementationSpecific, backend: ${be}}`),
    [`${P}spec.rules[0].http.paths[0].path: "a": must be an absolute path`],
  ],
  [
    'host with upper case',
    ing(`{rules: [{host: A.example.com}]}`),
    [
      `${P}spec.rules[0].host: "A.example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    ],
  ],
  [
    'host an IP address',
    ing(`{rules: [{host: 10.0.0.1}]}`),
    [`${P}spec.rules[0].host: "10.0.0.1": must be a DNS name, not an IP address`],
  ],
  [
    'wildcard not leading',
    ing(`{rules: [{host: "a.*.example.com"}]}`),
    [
      `${P}spec.rules[0].host: "a.*.example.com": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com')`,
    ],
  ],
  [
    'http without paths',
    ing(`{rules: [{host: a.b, http: {paths: []}}]}`),
    [`${P}spec.rules[0].http.paths: Required value`],
  ],
  [
    'backend with port name and number',
    ing(`{defaultBackend: {service: {name: web, port: {number: 80, name: http}}}}`),
    [`${P}spec.defaultBackend.service.port: cannot set both port name & port number`],
  ],
  [
    'backend without a port',
    ing(`{defaultBackend: {service: {name: web}}}`),
    [`${P}spec.defaultBackend.service.port: Required value: port name or number is required`],
  ],
  [
    'backend service name not a DNS-1035 label',
    ing(`{defaultBackend: {service: {name: 1web, port: {number: 80}}}}`),
    [
      `${P}spec.defaultBackend.service.name: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character`,
    ],
  ],
  [
    'backend port out of range',
    ing(`{defaultBackend: {service: {name: web, port: {number: 70000}}}}`),
    [`${P}spec.defaultBackend.service.port.number: 70000: must be between 1 and 65535, inclusive`],
  ],
  [
    'resource backend',
    ing(`{defaultBackend: {resource: {kind: Bucket, name: b}}}`),
    [`${P}spec.defaultBackend.resource: not supported yet by weft (weft's ingress controller routes to Services only)`],
  ],
  [
    'tls host invalid',
    ing(`{defaultBackend: ${be}, tls: [{hosts: ["*.*.x"], secretName: s}]}`),
    [
      `${P}spec.tls[0].hosts[0]: "*.*.x": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com')`,
    ],
  ],
  [
    'class annotation disagrees with ingressClassName',
    ing(
      `{ingressClassName: weft, defaultBackend: ${be}}`,
      '{name: web, namespace: x, annotations: {kubernetes.io/ingress.class: nginx}}',
    ),
    [
      `${P}metadata.annotations[kubernetes.io/ingress.class]: "nginx": must match \`ingressClassName\` when both are specified`,
    ],
  ],
  [
    'status written by apply',
    ing(`{defaultBackend: ${be}}`) + 'status: {loadBalancer: {}}\n',
    [`${P}status: is written by the cluster, not by apply`],
  ],
  [
    'misspelled pathType',
    path(`{path: /a, pahtType: Prefix, backend: ${be}}`),
    [
      `${P}spec.rules[0].http.paths[0].pahtType: unknown field (did you mean "pathType"?)`,
      `${P}spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified`,
    ],
  ],
  [
    'IngressClass without a controller',
    'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: c}\nspec: {}\n',
    ['document 1 (IngressClass c): spec.controller: Required value'],
  ],
  [
    'IngressClass controller not domain-prefixed',
    'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: c}\nspec: {controller: nginx}\n',
    ['document 1 (IngressClass c): spec.controller: "nginx": must be a domain-prefixed path (such as "acme.io/foo")'],
  ],
  [
    'IngressClass parameters',
    'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: c}\nspec: {controller: a.io/b, parameters: {kind: X, name: y}}\n',
    [
      "document 1 (IngressClass c): spec.parameters: not supported yet by weft (weft's ingress controller takes no parameters)",
    ],
  ],
  [
    'tls Secret without tls.key',
    secret(`type: kubernetes.io/tls\ndata: {tls.crt: ${CRT}}`),
    ['document 1 (Secret x/s): data[tls.key]: Required value'],
  ],
  [
    'tls Secret whose certificate is not PEM',
    secret(`type: kubernetes.io/tls\ndata: {tls.crt: ${b64('hello')}, tls.key: ${KEY}}`),
    ['document 1 (Secret x/s): data[tls.crt]: must be a PEM-encoded certificate (-----BEGIN CERTIFICATE-----)'],
  ],
  [
    'Secret value not base64',
    secret('data: {a: "not base64!"}'),
    ['document 1 (Secret x/s): data.a: illegal base64 data'],
  ],
  [
    'Secret key not a config key',
    secret(`data: {"a/b": ${b64('x')}}`),
    [
      `document 1 (Secret x/s): data[a/b]: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`,
    ],
  ],
];

for (const [name, manifest, want] of refused)
  test(`refused: ${name}`, () => assert.deepEqual(problemsOf(manifest), want));

test('an Ingress decodes with defaults: "/" for an empty ImplementationSpecific path, tls and rules lists', () => {
  const [obj] = parseManifest(
    ing(
      `{ingressClassName: weft, rules: [{host: "*.example.com", http: {paths: [{pathType: ImplementationSpecific, backend: {service: {name: web, port: {name: http}}}}]}}]}`,
    ),
  ) as Ingress[];
  assert.deepEqual(obj!.spec, {
    ingressClassName: 'weft',
    tls: [],
    rules: [
      {
        host: '*.example.com',
        http: {
          paths: [
            {
              path: '/',
              pathType: 'ImplementationSpecific',
              backend: { service: { name: 'web', port: { name: 'http' } } },
            },
          ],
        },
      },
    ],
  });
});

test('a tls Secret: stringData merged into data as base64, type kept, immutable kept as written', () => {
  const [obj] = parseManifest(
    secret(
      `type: kubernetes.io/tls\nimmutable: true\ndata: {tls.crt: ${CRT}}\nstringData: {tls.key: "-----BEGIN RSA PRIVATE KEY-----\\nMII\\n-----END RSA PRIVATE KEY-----\\n"}`,
    ),
  ) as Secret[];
  assert.equal(obj!.type, 'kubernetes.io/tls');
  assert.equal(obj!.immutable, true);
  assert.equal(
    Buffer.from(obj!.data['tls.key']!, 'base64').toString(),
    '-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY-----\n',
  );
  assert.equal(obj!.data['tls.crt'], CRT);
});
