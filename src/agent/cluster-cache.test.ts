// The agent's cluster cache against the in-memory ClusterSource fake: indexes, per-kind wakes, relists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/clock-fake.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { FakeCluster } from '../testkit/cluster-source-fake.js';
import { namespace, pod } from '../testkit/cluster-source-contract.js';
import { nodePodStatus } from '../core/k8s/pod-status.js';
import type { EndpointSlice, K8sKind, K8sObject, NetworkPolicy, Pod, Service } from '../core/k8s/objects.js';
import type { ClusterSource } from '../ports/cluster-source.js';
import { ClusterCache } from './cluster-cache.js';

const flush = async () => {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
};
const ALL: K8sKind[] = ['Namespace', 'Pod', 'NetworkPolicy', 'Service', 'EndpointSlice'];
const onNode = (p: Pod, node: string): Pod => ({ ...p, spec: { ...p.spec, nodeName: node } });
const policy = (ns: string, name: string): NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: ns, labels: {}, annotations: {} },
  spec: { podSelector: { matchLabels: {}, matchExpressions: [] }, policyTypes: ['Ingress'], ingress: [], egress: [] },
});
const service = (ns: string, name: string): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns, labels: {}, annotations: {} },
  spec: { ports: [{ protocol: 'TCP', port: 80, targetPort: 80 }], type: 'ClusterIP', sessionAffinity: 'None' },
});
const slice = (ns: string, name: string, svc: string): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc }, annotations: {} },
  addressType: 'IPv4',
  endpoints: [],
  ports: [],
});

async function withCache(
  body: (c: ClusterCache, store: FakeCluster, clock: FakeClock) => Promise<void>,
  opts: { changeLogLimit?: number; source?: (s: FakeCluster) => ClusterSource } = {},
): Promise<void> {
  const store = new FakeCluster(opts.changeLogLimit === undefined ? {} : { changeLogLimit: opts.changeLogLimit });
  const clock = new FakeClock();
  const cache = new ClusterCache({
    source: opts.source?.(store) ?? store.source(),
    kinds: ALL,
    clock,
    log: new JsonLogger(() => undefined),
  });
  try {
    await body(cache, store, clock);
  } finally {
    await cache.stop();
  }
}

const put = (s: FakeCluster, ...objects: K8sObject[]) => s.commit({ put: objects, delete: [] });
const names = (items: ReadonlyArray<{ object: { metadata: { name: string } } }>) =>
  items.map((i) => i.object.metadata.name).sort();

test('start lists every kind; the indexes answer by node, IP, namespace and service', () =>
  withCache(async (cache, store) => {
    await put(
      store,
      namespace('x'),
      namespace('y'),
      onNode(pod('x', 'a'), 'n1'),
      onNode(pod('x', 'b'), 'n2'),
      onNode(pod('y', 'c'), 'n1'),
    );
    await put(
      store,
      policy('x', 'deny'),
      service('x', 'web'),
      slice('x', 'web-1', 'web'),
      slice('x', 'web-2', 'web'),
      slice('y', 'web-1', 'web'),
    );
    const [a] = (await store.list('Pod')).filter((p) => p.object.metadata.name === 'a');
    await store.setPodStatus('x', 'a', a!.meta.uid, nodePodStatus({ phase: 'Running', podIP: '10.244.1.2' }));
    await cache.start();
    assert.equal(cache.revision(), await store.revision());
    assert.deepEqual(names(cache.list('Namespace')), ['x', 'y']);
    assert.deepEqual(names(cache.podsOnNode('n1')), ['a', 'c']);
    assert.deepEqual(names(cache.podsInNamespace('x')), ['a', 'b']);
    assert.deepEqual(names(cache.podsWithIP('10.244.1.2')), ['a']);
    assert.deepEqual(names(cache.policiesInNamespace('x')), ['deny']);
    assert.deepEqual(cache.policiesInNamespace('y'), []);
    assert.equal(cache.service('x', 'web')?.object.metadata.name, 'web');
    assert.equal(cache.service('y', 'web'), undefined);
    assert.deepEqual(names(cache.slicesOfService('x', 'web')), ['web-1', 'web-2']);
    assert.equal(cache.get('Pod', 'x', 'a')?.object.status?.podIP, '10.244.1.2');
  }));

test('watch events move objects between index entries and deletes remove them', () =>
  withCache(async (cache, store) => {
    await put(store, namespace('x'), onNode(pod('x', 'a'), 'n1'), slice('x', 's1', 'web'));
    await cache.start();
    const [a] = await store.list('Pod');
    await store.setPodStatus('x', 'a', a!.meta.uid, nodePodStatus({ phase: 'Running', podIP: '10.244.1.2' }));
    await flush();
    assert.deepEqual(names(cache.podsWithIP('10.244.1.2')), ['a']);
    await store.setPodStatus('x', 'a', a!.meta.uid, nodePodStatus({ phase: 'Running', podIP: '10.244.1.9' }));
    await put(store, slice('x', 's1', 'api'));
    await flush();
    assert.deepEqual(cache.podsWithIP('10.244.1.2'), [], 'the old IP entry is gone');
    assert.deepEqual(names(cache.podsWithIP('10.244.1.9')), ['a']);
    assert.deepEqual(cache.slicesOfService('x', 'web'), []);
    assert.deepEqual(names(cache.slicesOfService('x', 'api')), ['s1']);
    await store.commit({ put: [], delete: [{ kind: 'Pod', namespace: 'x', name: 'a' }] });
    await flush();
    assert.deepEqual(cache.podsOnNode('n1'), []);
    assert.deepEqual(cache.podsWithIP('10.244.1.9'), []);
    assert.deepEqual(cache.list('Pod'), []);
    assert.equal(cache.revision(), await store.revision());
  }));

test('list is in key order and current through changes, additions and deletions', () =>
  withCache(async (cache, store) => {
    await put(store, namespace('x'), service('x', 'b'), service('x', 'd'));
    await cache.start();
    const listed = () => cache.list('Service').map((s) => `${s.object.metadata.name}:${s.object.spec.ports[0]!.port}`);
    assert.deepEqual(listed(), ['b:80', 'd:80']);
    // A changed object keeps its place and is the new one.
    const changed = service('x', 'd');
    await put(store, { ...changed, spec: { ...changed.spec, ports: [{ protocol: 'TCP', port: 81, targetPort: 80 }] } });
    await flush();
    assert.deepEqual(listed(), ['b:80', 'd:81']);
    await put(store, service('x', 'a'), service('x', 'c'));
    await flush();
    assert.deepEqual(listed(), ['a:80', 'b:80', 'c:80', 'd:81']);
    await store.commit({ put: [], delete: [{ kind: 'Service', namespace: 'x', name: 'b' }] });
    await flush();
    assert.deepEqual(listed(), ['a:80', 'c:80', 'd:81']);
  }));

test('subscribers are woken once per batch, only for their kinds; a node heartbeat wakes nobody', () =>
  withCache(async (cache, store) => {
    await cache.start();
    const woken: Record<string, number> = { policy: 0, services: 0 };
    cache.subscribe(['NetworkPolicy', 'Pod', 'Namespace'], () => woken.policy!++);
    const unsubscribe = cache.subscribe(['Service', 'EndpointSlice'], () => woken.services!++);
    await put(store, namespace('x'), onNode(pod('x', 'a'), 'n1'));
    await flush();
    assert.deepEqual(woken, { policy: 1, services: 0 }, 'one batch, one wake');
    await put(store, service('x', 'web'));
    await flush();
    assert.deepEqual(woken, { policy: 1, services: 1 });
    await store.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't' });
    await flush();
    assert.deepEqual(woken, { policy: 1, services: 1 }, 'heartbeats are not changes');
    unsubscribe();
    await put(store, slice('x', 's', 'web'));
    await flush();
    assert.deepEqual(woken, { policy: 1, services: 1 }, 'unsubscribed');
  }));

test('subscribers learn the keys of the objects a batch changed, deletions included; undefined after a relist', () =>
  withCache(
    async (cache, store) => {
      await put(store, namespace('x'));
      await cache.start();
      const seen: Array<string[] | undefined> = [];
      cache.subscribe(['Service', 'EndpointSlice'], (_kinds, objects) =>
        seen.push(objects?.map((k) => `${k.kind}/${k.namespace}/${k.name}`)),
      );
      await put(store, service('x', 'web'), slice('x', 'web-1', 'web'));
      await flush();
      await store.commit({ put: [], delete: [{ kind: 'Service', namespace: 'x', name: 'web' }] });
      await flush();
      assert.deepEqual(seen, [['Service/x/web', 'EndpointSlice/x/web-1'], ['Service/x/web']]);
      const writes: Array<Promise<unknown>> = [];
      for (let i = 0; i < 20; i++) writes.push(put(store, service('x', `s${i}`)));
      await Promise.all(writes);
      await flush();
      assert.equal(seen.at(-1), undefined, 'a relist names no objects: anything may have changed');
    },
    { changeLogLimit: 5 },
  ));

test('a too-old revision (the log compacted past the cache) makes it list again and wake every subscriber', () =>
  withCache(
    async (cache, store) => {
      await put(store, namespace('x'));
      await cache.start();
      let wakes = 0;
      cache.subscribe(['Service'], () => wakes++);
      // Written without yielding, so the log is compacted before the watch reads it.
      const writes: Array<Promise<unknown>> = [];
      for (let i = 0; i < 20; i++) writes.push(put(store, onNode(pod('x', `p${i}`), 'n1')));
      writes.push(store.commit({ put: [], delete: [{ kind: 'Pod', namespace: 'x', name: 'p0' }] }));
      await Promise.all(writes);
      await flush();
      assert.equal(cache.lists, 2, 'listed again');
      assert.equal(wakes, 1, 'a relist wakes every subscriber (anything may have changed)');
      assert.equal(cache.podsOnNode('n1').length, 19);
      assert.equal(cache.revision(), await store.revision());
      await put(store, onNode(pod('x', 'late'), 'n1'));
      await flush();
      assert.equal(cache.podsOnNode('n1').length, 20, 'and watches again');
    },
    { changeLogLimit: 5 },
  ));

test('another watch error is logged and the watch resumes from the last applied revision after retryMs', () => {
  let failFirst = true;
  return withCache(
    async (cache, store, clock) => {
      await put(store, namespace('x'));
      await cache.start();
      await put(store, onNode(pod('x', 'a'), 'n1'));
      await flush();
      assert.equal(cache.podsOnNode('n1').length, 0, 'the failed watch delivered nothing');
      await clock.advance(1000);
      await flush();
      assert.deepEqual(names(cache.podsOnNode('n1')), ['a'], 'resumed without a relist');
      assert.equal(cache.lists, 1);
    },
    {
      source: (s) => {
        const inner = s.source();
        return {
          list: (kind) => inner.list(kind),
          watch: (kinds, from, handler) => {
            if (!failFirst) return inner.watch(kinds, from, handler);
            failFirst = false;
            queueMicrotask(() => handler.onError(new Error('the store is unreadable')));
            return { stop: async () => undefined };
          },
        };
      },
    },
  );
});
