/**
 * A pod's resolv.conf: kubelet's choice of base per dnsPolicy and hostNetwork (table), the merge
 * of dnsConfig, the limits, the resolv.conf parser, and a property: whatever a pod asks, the file
 * fits resolv.conf's limits and holds no duplicate.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Pod, PodSpec } from '../k8s/objects.js';
import { parseResolvConfText, podResolvConf, renderResolvConf, type ResolvConf } from './pod-dns.js';

const CLUSTER = { nameservers: ['10.96.0.10'], domain: 'cluster.local' };
const NODE: ResolvConf = { nameservers: ['192.0.2.53', '192.0.2.54'], searches: ['corp.example'], options: ['edns0'] };

function pod(spec: Partial<PodSpec> = {}, namespace = 'x'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace, labels: {}, annotations: {} },
    spec: { hostNetwork: false, containers: [{ name: 'c', ports: [] }], ...spec },
  };
}

test('dnsPolicy and hostNetwork pick the base as kubelet does', () => {
  const cases: Array<{ spec: Partial<PodSpec>; want: 'cluster' | 'node' | 'none' }> = [
    { spec: {}, want: 'cluster' },
    { spec: { dnsPolicy: 'ClusterFirst' }, want: 'cluster' },
    { spec: { dnsPolicy: 'ClusterFirst', hostNetwork: true }, want: 'node' },
    { spec: { dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true }, want: 'cluster' },
    { spec: { dnsPolicy: 'ClusterFirstWithHostNet' }, want: 'cluster' },
    { spec: { dnsPolicy: 'Default' }, want: 'node' },
    { spec: { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'] } }, want: 'none' },
  ];
  for (const c of cases) assert.equal(podResolvConf(pod(c.spec), CLUSTER, NODE).base, c.want, JSON.stringify(c.spec));
  // A cluster without DNS: ClusterFirst falls back to the node's resolv.conf.
  assert.equal(podResolvConf(pod(), { nameservers: [], domain: 'cluster.local' }, NODE).base, 'node');
});

test("ClusterFirst: the kube-dns address, the namespace's search path then the node's domains, ndots:5", () => {
  const r = podResolvConf(pod({}, 'shop'), CLUSTER, NODE);
  assert.equal(
    renderResolvConf(r.conf),
    'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n',
  );
  assert.deepEqual(r.warnings, []);
});

test("Default: the node's resolv.conf as it is", () => {
  assert.deepEqual(podResolvConf(pod({ dnsPolicy: 'Default' }), CLUSTER, NODE).conf, NODE);
});

test('dnsConfig: nameservers and searches appended without duplicates, options replaced by name', () => {
  const r = podResolvConf(
    pod({
      dnsConfig: {
        nameservers: ['10.96.0.10', '192.0.2.9'],
        searches: ['cluster.local', 'extra.example'],
        options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
      },
    }),
    CLUSTER,
    NODE,
  );
  assert.deepEqual(r.conf, {
    nameservers: ['10.96.0.10', '192.0.2.9'],
    searches: ['x.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'extra.example'],
    options: ['ndots:2', 'edns0'],
  });
});

test('dnsPolicy None: only what dnsConfig gives', () => {
  const r = podResolvConf(
    pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['192.0.2.1'], searches: ['a.example'] } }),
    CLUSTER,
    NODE,
  );
  assert.equal(renderResolvConf(r.conf), 'search a.example\nnameserver 192.0.2.1\n');
});

test('limits: at most 3 nameservers and 32 search domains, each cut reported', () => {
  const r = podResolvConf(
    pod({
      dnsConfig: {
        nameservers: ['192.0.2.1', '192.0.2.2', '192.0.2.3'],
        searches: Array.from({ length: 40 }, (_, i) => `d${i}.example`),
      },
    }),
    CLUSTER,
    NODE,
  );
  assert.deepEqual(r.conf.nameservers, ['10.96.0.10', '192.0.2.1', '192.0.2.2']);
  assert.equal(r.conf.searches.length, 32);
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0]!, /nameserver limits were exceeded: 4 given/);
});

test('parseResolvConfText: comments, domain and search (the last wins), several options lines', () => {
  const text =
    '# made by hand\nnameserver 192.0.2.1\nnameserver 192.0.2.2 ; second\ndomain a.example\nsearch b.example c.example\noptions ndots:2\noptions edns0\n';
  assert.deepEqual(parseResolvConfText(text), {
    nameservers: ['192.0.2.1', '192.0.2.2'],
    searches: ['b.example', 'c.example'],
    options: ['ndots:2', 'edns0'],
  });
  assert.deepEqual(parseResolvConfText(renderResolvConf(NODE)), NODE);
});

test('property: the file fits the limits and repeats nothing, whatever the pod asks', () => {
  const label = fc.stringMatching(/^[a-z][a-z0-9]{0,20}$/);
  fc.assert(
    fc.property(
      fc.constantFrom('ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None' as const),
      fc.boolean(),
      fc.array(fc.ipV4(), { maxLength: 6 }),
      fc.array(
        fc.array(label, { minLength: 1, maxLength: 6 }).map((ls) => ls.join('.')),
        { maxLength: 60 },
      ),
      (dnsPolicy, hostNetwork, nameservers, searches) => {
        const { conf } = podResolvConf(
          pod({ dnsPolicy, hostNetwork, dnsConfig: { nameservers, searches } }),
          CLUSTER,
          NODE,
        );
        assert.ok(conf.nameservers.length <= 3);
        assert.ok(conf.searches.length <= 32 && conf.searches.join(' ').length <= 2048);
        assert.equal(new Set(conf.nameservers).size, conf.nameservers.length);
        assert.equal(new Set(conf.searches).size, conf.searches.length);
      },
    ),
  );
});
