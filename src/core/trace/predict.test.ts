/**
 * The model's path beside the kernel's: on the traces recorded in a lab (hops.fixture.json) the
 * model agrees with the kernel when it knows what the lab had (the pods, the deny-all-ingress
 * policy of namespace z), and says where they differ when it is told something else.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NetworkPolicy } from '../k8s/objects.js';
import type { ReachPod } from '../policy/reach.js';
import { hopsOf, type Hop, type SeenNamespace } from './hops.js';
import { predictFor, predictPath, type TraceModel } from './predict.js';

const FIXTURE = fileURLToPath(new URL('../../../../src/core/trace/hops.fixture.json', import.meta.url));
const recorded = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, { source: string; seen: SeenNamespace[] }>;

const pod = (ref: string, node: string, ip: string, labels: Record<string, string> = {}): ReachPod => {
  const [namespace, name] = ref.split('/') as [string, string];
  return { namespace, name, labels, ip, node, hostNetwork: false, ports: [{ containerPort: 80, protocol: 'TCP' }] };
};
// The lab the fixture was recorded in (the addresses as the kernel saw them).
const real = (name: string) => {
  const r = recorded[name]!;
  return hopsOf(r.seen, r.source);
};
const addressOf = (name: string) => real(name).hops.at(-1)!.dst.split(':')[0]!;
const xa = pod('x/a', 'n1', real('pod-to-pod').hops[0]!.first.split(':')[0]!);
const denyIn: NetworkPolicy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'deny-in', namespace: 'z', labels: {}, annotations: {} },
  spec: { podSelector: { matchLabels: {}, matchExpressions: [] }, policyTypes: ['Ingress'], ingress: [], egress: [] },
};
const model = (pods: ReachPod[], policies: NetworkPolicy[], service?: TraceModel['service']): TraceModel => ({
  from: xa,
  pods: [xa, ...pods],
  policy: { namespaces: new Map(), policies },
  ...(service ? { service } : {}),
});

test('predict: the model agrees with the kernel on every recorded trace', () => {
  const zc = pod('z/c', 'n3', addressOf('policy-drop'));
  const za = pod('z/a', 'n1', addressOf('same-node-icmp-drop'));
  const yc = pod('y/c', 'n3', addressOf('pod-to-pod'));
  const [w1Address, w1Port] = real('service').hops.at(-1)!.dst.split(':') as [string, string];
  const w1 = pod('web/w1', 'n1', w1Address);
  const cases: Array<[string, TraceModel, 'tcp' | 'icmp']> = [
    ['policy-drop', model([zc], [denyIn]), 'tcp'],
    ['same-node-icmp-drop', model([za], [denyIn]), 'icmp'],
    ['pod-to-pod', model([yc], [denyIn]), 'tcp'],
    ['service', model([w1], [], { name: 'web/web', candidates: ['10.9.9.9:1', `${w1Address}:${w1Port}`] }), 'tcp'],
  ];
  for (const [name, m, protocol] of cases) {
    const r = real(name);
    const { predicted, differences } = predictFor(r, m, { daddr: '0.0.0.0', port: 80, protocol });
    assert.deepEqual(differences, [], `${name}: ${differences.join('; ')}`);
    assert.deepEqual(
      predicted.hops,
      r.hops.map((h) => h.label),
      name,
    );
  }
});

test('predict: a model that differs from the kernel is reported, not hidden', () => {
  const zc = pod('z/c', 'n3', addressOf('policy-drop'));
  // No policy in the model: it expects delivery where the kernel dropped.
  const none = predictFor(real('policy-drop'), model([zc], []), { daddr: '0.0.0.0', port: 80, protocol: 'tcp' });
  assert.deepEqual(none.predicted.end, { kind: 'delivered', at: 'pod z/c' });
  assert.ok(
    none.differences.some((d) => /^end: the kernel's dropped in node n3, the model's delivered to pod z\/c$/.test(d)),
  );
  assert.ok(none.differences.some((d) => d.startsWith('path: ')));
  // The pod on another node in the model: the path differs.
  const moved = predictFor(real('pod-to-pod'), model([pod('y/c', 'n2', addressOf('pod-to-pod'))], []), {
    daddr: '0.0.0.0',
    port: 80,
    protocol: 'tcp',
  });
  assert.deepEqual(moved.differences, [
    "path: the kernel's pod x/a → node n1 → node n3 → pod y/c, the model's pod x/a → node n1 → node n2 → pod y/c",
  ]);
  // An endpoint the model would never choose.
  const [w1Address] = real('service').hops.at(-1)!.dst.split(':') as [string];
  const svc = predictFor(
    real('service'),
    model([pod('web/w1', 'n1', w1Address)], [], { name: 'web/web', candidates: ['10.9.9.9:1'] }),
    {
      daddr: '0.0.0.0',
      port: 80,
      protocol: 'tcp',
    },
  );
  assert.equal(svc.differences.length, 1);
  assert.match(
    svc.differences[0]!,
    /^service web\/web: the kernel chose .*, not one of the model's endpoints \(10\.9\.9\.9:1\)$/,
  );
});

test('predict: an egress drop is on the sender node; ICMP passes only rules without ports', () => {
  const to = pod('z/c', 'n3', '10.244.3.3');
  const egress: NetworkPolicy = {
    ...denyIn,
    metadata: { ...denyIn.metadata, name: 'no-out', namespace: 'x' },
    spec: { ...denyIn.spec, policyTypes: ['Egress'] },
  };
  const p = predictPath({
    from: xa,
    to,
    port: 80,
    protocol: 'TCP',
    policy: { namespaces: new Map(), policies: [egress] },
  });
  assert.deepEqual(p.hops, ['pod x/a', 'node n1']);
  assert.deepEqual(p.droppedBy, ['x/no-out']);
  const webOnly: NetworkPolicy = {
    ...denyIn,
    spec: { ...denyIn.spec, ingress: [{ from: [], ports: [{ protocol: 'TCP', port: 80 }] }] },
  };
  const policy = { namespaces: new Map(), policies: [webOnly] };
  assert.equal(predictPath({ from: xa, to, port: 80, protocol: 'TCP', policy }).end.kind, 'delivered');
  assert.equal(predictPath({ from: xa, to, port: undefined, protocol: 'ICMP', policy }).end.kind, 'dropped');
});

test('predict: outside to a load-balancer address crosses the gateway to a node that announces it', () => {
  const hop = (label: string, dst: string, ttl: number): Hop => ({
    label,
    first: `10.99.0.250:40000 → ${dst} tcp syn`,
    last: `10.99.0.250:40000 → ${dst} tcp syn`,
    dst,
    src: '10.99.0.250',
    ttl,
    rules: [],
    verdict: 'accept',
  });
  const ingressPod = pod('ingress-weft/weft-ingress-2', 'n2', '10.244.2.4');
  const outside: TraceModel['from'] = {
    namespace: '',
    name: 'outside',
    labels: {},
    ip: '10.99.0.250',
    hostNetwork: true,
    ports: [],
    label: 'outside',
  };
  const through = (entry: string, nexthops = ['10.99.0.1', '10.99.0.2']) => ({
    hops: [
      hop('outside', '10.99.0.224:80', 64),
      {
        ...hop('gateway', '10.99.0.224:80', 63),
        route: { prefix: '10.99.0.224', dev: 'ul0', onlink: false, nexthops },
      },
      hop(`node ${entry}`, '10.244.2.4:80', 62),
      hop('pod ingress-weft/weft-ingress-2', '10.244.2.4:80', 61),
    ],
    end: { kind: 'delivered' as const, at: 'pod ingress-weft/weft-ingress-2' },
  });
  const lbModel: TraceModel = {
    from: outside,
    pods: [ingressPod],
    policy: { namespaces: new Map(), policies: [] },
    service: { name: 'ingress-weft/ingress-weft', candidates: ['10.244.1.4:80', '10.244.2.4:80'] },
    loadBalancer: { gateway: 'gateway', address: '10.99.0.224', nodes: ['n1', 'n2'] },
    nodeAddresses: { '10.99.0.1': 'n1', '10.99.0.2': 'n2', '10.99.0.3': 'n3' },
  };
  const probe = { daddr: '10.99.0.224', port: 80, protocol: 'tcp' as const };
  const ok = predictFor(through('n2'), lbModel, probe);
  assert.deepEqual(ok.differences, []);
  assert.deepEqual(ok.predicted.hops, ['outside', 'gateway', 'node n2', 'pod ingress-weft/weft-ingress-2']);
  // The gateway sent it to a node the model says does not announce the address.
  const wrong = predictFor(through('n3'), lbModel, probe);
  assert.deepEqual(wrong.differences, [
    "path: the kernel's outside → gateway → node n3 → pod ingress-weft/weft-ingress-2, the model's outside → gateway → node n1 → node n2 → pod ingress-weft/weft-ingress-2",
  ]);
  // The gateway's kernel route has a next hop the model does not announce from.
  const extra = predictFor(through('n2', ['10.99.0.1', '10.99.0.2', '10.99.0.3']), lbModel, probe);
  assert.deepEqual(extra.differences, [
    "gateway route to 10.99.0.224: the kernel's next hops are n1, n2, n3, the model's n1, n2",
  ]);
  const unrouted = predictFor(
    through('n2'),
    { ...lbModel, loadBalancer: { ...lbModel.loadBalancer!, nodes: [] } },
    probe,
  );
  assert.ok(unrouted.differences.includes('load balancer 10.99.0.224: the model has no node announcing it'));
});
