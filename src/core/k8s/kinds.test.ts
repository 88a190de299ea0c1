// The kinds registry: names kubectl knows, group-qualified messages, and each entry agreeing with its schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_VERSIONS, KIND_INFO, kindNamed, resourceNames, SUPPORTED_KINDS } from './kinds.js';
import { parseManifest } from './parse.js';

test('kindNamed: plural, singular, short name, kind and group-qualified names, any case', () => {
  const cases: Array<[string, string | undefined]> = [
    ['pods', 'Pod'],
    ['Pod', 'Pod'],
    ['po', 'Pod'],
    ['ns', 'Namespace'],
    ['netpol', 'NetworkPolicy'],
    ['networkpolicies.networking.k8s.io', 'NetworkPolicy'],
    ['svc', 'Service'],
    ['endpointslice', 'EndpointSlice'],
    ['endpointslices.discovery.k8s.io', 'EndpointSlice'],
    ['ing', 'Ingress'],
    ['ingresses.networking.k8s.io', 'Ingress'],
    ['ingressclass', 'IngressClass'],
    ['secrets', 'Secret'],
    ['nodes', undefined],
    ['deployments', undefined],
  ];
  for (const [arg, want] of cases) assert.equal(kindNamed(arg), want, arg);
});

test('resourceNames: qualified by the group outside core/v1, as kubectl prints them', () => {
  assert.deepEqual(resourceNames('Pod'), { singular: 'pod', plural: 'pods' });
  assert.deepEqual(resourceNames('NetworkPolicy'), {
    singular: 'networkpolicy.networking.k8s.io',
    plural: 'networkpolicies.networking.k8s.io',
  });
  assert.deepEqual(resourceNames('EndpointSlice'), {
    singular: 'endpointslice.discovery.k8s.io',
    plural: 'endpointslices.discovery.k8s.io',
  });
});

test("every registered kind: its entry names it, its apiVersion is the group's, and its schema decodes a minimal manifest of it", () => {
  const minimal: Record<string, string> = {
    Namespace: 'metadata: { name: x }',
    Pod: 'metadata: { name: a }\nspec: { containers: [{ name: s }] }',
    NetworkPolicy: 'metadata: { name: p }\nspec: { podSelector: {} }',
    Service: 'metadata: { name: s }\nspec: { ports: [{ port: 80 }] }',
    EndpointSlice: 'metadata: { name: e }\naddressType: IPv4\nendpoints: []',
    Ingress: 'metadata: { name: i }\nspec: { defaultBackend: { service: { name: web, port: { number: 80 } } } }',
    IngressClass: 'metadata: { name: weft }\nspec: { controller: weft.dev/ingress }',
    Secret: 'metadata: { name: s }\ndata: {}',
  };
  assert.deepEqual(Object.keys(minimal).sort(), [...SUPPORTED_KINDS].sort(), 'the test covers every kind');
  for (const kind of SUPPORTED_KINDS) {
    const info = KIND_INFO[kind];
    assert.equal(info.kind, kind);
    assert.equal(API_VERSIONS[kind], info.apiVersion);
    assert.equal(info.apiVersion, info.group === '' ? 'v1' : `${info.group}/v1`, kind);
    const [obj] = parseManifest(`apiVersion: ${info.apiVersion}\nkind: ${kind}\n${minimal[kind]}\n`);
    assert.equal(obj?.kind, kind);
    assert.equal(
      info.schema.safeParse(JSON.parse(JSON.stringify(obj))).success,
      true,
      `${kind}: the registry's schema accepts what the parser made`,
    );
    assert.ok(
      info.columns.some((c) => c.name === 'name') && info.columns.some((c) => c.cell === 'age'),
      `${kind}: name and age columns`,
    );
  }
});
