/**
 * The ObjectStore port over a real kube-apiserver (src/adapters/object-store-kube.ts), what `weft`
 * and the lab's kubelet use with `--api kube`: a commit creates, leaves alone and replaces objects
 * as `kubectl apply` does, validated by the API server first so a manifest with one bad document
 * changes nothing; a stale `ifRevision` is a conflict; pod status goes through the status
 * subresource only for the pod with that uid; removePod is kubelet's final delete; a pod put with
 * deletionTimestamp is a graceful DELETE and a delete is at once; nodes are the Node objects. A pod in a namespace the same commit makes waits for the controller manager's
 * default ServiceAccount, as the API server's admission requires. One control plane for the file. Skipped (saying why) where the binaries are not
 * built, a failure in CI.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError, KubeClient, loadKubeconfig } from '../src/adapters/kube-api.js';
import { KubeObjectStore } from '../src/adapters/object-store-kube.js';
import { parseManifest } from '../src/core/k8s/parse.js';
import { RevisionConflictError } from '../src/core/k8s/object-key.js';
import type { Pod } from '../src/core/k8s/objects.js';
import { kubeMissing, putNode, TestControlPlane } from './support/kube.js';

const missing = kubeMissing();

const manifest = (text: string) => parseManifest(text);
const NS = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: os}\n';
const pod = (name: string, labels = '{app: a}') =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: os, labels: ${labels}}\nspec: {nodeName: n1, containers: [{name: c, image: weft-lab-echo, ports: [{containerPort: 80}]}]}\n`;

describe('ObjectStore over kube-apiserver', { skip: missing, concurrency: false }, () => {
  const cp = new TestControlPlane();
  let store: KubeObjectStore;

  before(async () => {
    const rec = await cp.start();
    store = new KubeObjectStore(new KubeClient(await loadKubeconfig(rec.adminKubeconfig)));
  });
  after(async () => {
    await store.close();
    await cp.stop();
  });

  test('commit: created, then unchanged, then configured; list and get decode what the API server keeps', async () => {
    const first = manifest([NS, pod('p1'), pod('p2')].join('---\n'));
    assert.deepEqual(await store.commit({ put: first, delete: [] }), ['created', 'created', 'created']);
    assert.deepEqual(await store.commit({ put: first, delete: [] }), ['unchanged', 'unchanged', 'unchanged']);
    const relabelled = manifest(pod('p2', '{app: b}'));
    assert.deepEqual(await store.commit({ put: relabelled, delete: [] }), ['configured']);
    const pods = await store.list('Pod');
    assert.deepEqual(
      pods.map((p) => [p.object.metadata.name, p.object.metadata.labels]),
      [
        ['p1', { app: 'a' }],
        ['p2', { app: 'b' }],
      ],
    );
    const got = await store.get({ kind: 'Pod', namespace: 'os', name: 'p1' });
    assert.equal((got?.object as Pod | undefined)?.spec.nodeName, 'n1');
    assert.ok(got && got.meta.uid.length > 0 && got.meta.resourceVersion > 0);
  });

  test("one document the API server refuses: the API server's reason, and nothing of the manifest written", async () => {
    const bad = manifest(
      [
        pod('p3'),
        'apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: os}\nspec: {clusterIP: 10.1.2.3, ports: [{port: 80}]}\n',
      ].join('---\n'),
    );
    await assert.rejects(
      store.commit({ put: bad, delete: [] }),
      (err: unknown) => err instanceof KubeApiError && err.code === 422 && /spec\.clusterIPs?/.test(err.message),
    );
    assert.equal(await store.get({ kind: 'Pod', namespace: 'os', name: 'p3' }), undefined, 'p3 was not created');
  });

  test('ifRevision older than an object of the commit: RevisionConflictError, nothing written', async () => {
    const before = await store.revision();
    await store.commit({ put: manifest(pod('p1', '{app: c}')), delete: [] });
    await assert.rejects(
      store.commit({ put: manifest(pod('p1', '{app: d}')), delete: [] }, before),
      RevisionConflictError,
    );
    assert.deepEqual((await store.get({ kind: 'Pod', namespace: 'os', name: 'p1' }))?.object.metadata.labels, {
      app: 'c',
    });
  });

  test('pod status through the status subresource for that uid only; removePod is the final delete', async () => {
    const p1 = (await store.get({ kind: 'Pod', namespace: 'os', name: 'p1' }))!;
    const status = {
      phase: 'Running' as const,
      podIP: '10.244.0.7',
      podIPs: [{ ip: '10.244.0.7' }],
      hostIP: '10.99.0.1',
      conditions: [{ type: 'Ready' as const, status: 'True' as const }],
    };
    assert.equal(await store.setPodStatus('os', 'p1', 'not-its-uid', status), false);
    assert.equal(await store.setPodStatus('os', 'p1', p1.meta.uid, status), true);
    const after = (await store.get({ kind: 'Pod', namespace: 'os', name: 'p1' }))!.object as Pod;
    assert.equal(after.status?.phase, 'Running');
    assert.equal(after.status?.podIP, '10.244.0.7');
    assert.equal(await store.removePod('os', 'p1', 'not-its-uid'), false);
    assert.ok(await store.get({ kind: 'Pod', namespace: 'os', name: 'p1' }), 'still there');
    assert.equal(await store.removePod('os', 'p1', p1.meta.uid), true);
    assert.equal(await store.get({ kind: 'Pod', namespace: 'os', name: 'p1' }), undefined);
  });

  test('a pod put with deletionTimestamp (weft delete with a grace period) is a graceful DELETE; a delete is at once', async () => {
    await store.commit({ put: manifest(pod('p5')), delete: [] });
    const p5 = (await store.get({ kind: 'Pod', namespace: 'os', name: 'p5' }))!.object as Pod;
    const terminating = {
      ...p5,
      metadata: {
        ...p5.metadata,
        deletionTimestamp: new Date(Date.now() + 7_000).toISOString(),
        deletionGracePeriodSeconds: 7,
      },
    };
    // Mixed with applies, the actions still come back in the order of the puts.
    const [p6] = manifest(pod('p6'));
    const [p7] = manifest(pod('p7'));
    assert.deepEqual(await store.commit({ put: [p6!, terminating, p7!], delete: [] }), [
      'created',
      'deleted',
      'created',
    ]);
    // No kubelet runs here to finish it: the API server keeps it, terminating with that grace period.
    const after = (await store.get({ kind: 'Pod', namespace: 'os', name: 'p5' }))?.object;
    assert.ok(after?.metadata.deletionTimestamp, 'terminating');
    assert.equal(after?.metadata.deletionGracePeriodSeconds, 7);
    assert.deepEqual(await store.commit({ put: [], delete: [{ kind: 'Pod', namespace: 'os', name: 'p5' }] }), [
      'deleted',
    ]);
    assert.equal(await store.get({ kind: 'Pod', namespace: 'os', name: 'p5' }), undefined, 'gone at once');
  });

  test("nodes are the Node objects: podCIDR, address, readiness; putNode is refused to what is not a node's kubelet", async () => {
    const admin = new KubeClient(await loadKubeconfig(cp.rec!.adminKubeconfig));
    try {
      await putNode(admin, 'n7', { podCIDR: '10.244.7.0/24', internalIP: '10.99.0.7' });
    } finally {
      admin.close();
    }
    const n7 = (await store.nodes()).find((n) => n.name === 'n7');
    assert.deepEqual(
      { podCIDR: n7?.podCIDR, internalIP: n7?.internalIP, ready: n7?.ready },
      { podCIDR: '10.244.7.0/24', internalIP: '10.99.0.7', ready: false },
    );
    await assert.rejects(
      store.putNode({ name: 'n7', internalIP: '10.99.0.7', ready: true, heartbeat: new Date().toISOString() }),
      /only a node's kubelet/,
    );
  });
});
