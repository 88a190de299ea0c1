/**
 * The part of the ObjectStore port the ClusterSource contract suite writes through
 * (src/testkit/cluster-source-contract.ts), over a real API server with the admin client, so the
 * suite can run against the Kubernetes source as it runs against the lab store. Test-only: the
 * lab's own API-backed store is the lead's (src/lab/); this one does just what the suite needs.
 *
 * - commit: create, or on 409 replace labels and annotations (and the rest for kinds whose spec
 *   may change; a Pod's spec is immutable); deletes with grace period 0, a missing object ignored.
 *   A container without an image gets one (the API server requires it; the lab does not).
 *   Pods in a namespace made a moment ago are retried until its default ServiceAccount exists.
 * - revision: a consistent LIST's resourceVersion (etcd's current revision).
 * - setPodStatus / removePod: the status subresource, and a delete with a uid precondition.
 * - putNode: a Node object (its writes move the revision; nobody in the suite watches Nodes).
 */

import { namespaceOf, type K8sObject, type PodStatus } from '../../src/core/k8s/objects.js';
import { objectFromApi } from '../../src/core/k8s/from-api.js';
import type { ObjectKey } from '../../src/core/k8s/object-key.js';
import type { Change, CommitAction, NodeInfo, ObjectStore, Stored } from '../../src/ports/object-store.js';
import {
  KubeApiError,
  NODE_RESOURCE,
  resourceOf,
  type KubeClient,
  type KubeObject,
} from '../../src/adapters/kube-api.js';

const ns = (o: K8sObject) => namespaceOf(o) || undefined;

function toApi(o: K8sObject): KubeObject {
  const obj = structuredClone(o) as unknown as KubeObject & { spec?: { containers?: Array<{ image?: string }> } };
  if (o.kind === 'Pod') for (const c of obj.spec?.containers ?? []) c.image ??= 'weft/none';
  return obj;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function put(c: KubeClient, o: K8sObject): Promise<CommitAction> {
  const r = resourceOf(o.kind);
  for (let attempt = 0; ; attempt++) {
    try {
      await c.create(r, toApi(o), ns(o));
      return 'created';
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
      if (err.code === 403 && /serviceaccount .* not found/.test(err.message) && attempt < 100) {
        await sleep(50);
        continue;
      }
      if (err.code !== 409) throw err;
    }
    const cur = await c.get(r, o.metadata.name, ns(o));
    const next = {
      ...(o.kind === 'Pod' ? cur : { ...cur, ...toApi(o) }),
      metadata: { ...cur.metadata, labels: o.metadata.labels, annotations: o.metadata.annotations },
    };
    await c.update(r, next as KubeObject);
    return 'configured';
  }
}

export function kubeContractStore(c: KubeClient): ObjectStore {
  const store: Pick<ObjectStore, 'revision' | 'get' | 'commit' | 'setPodStatus' | 'removePod' | 'putNode'> = {
    async revision() {
      const l = await c.request<{ metadata: { resourceVersion: string } }>('GET', '/api/v1/namespaces?limit=1');
      return Number(l.metadata.resourceVersion);
    },
    async get(key: ObjectKey) {
      const raw = await c.find(resourceOf(key.kind), key.name, key.kind === 'Namespace' ? undefined : key.namespace);
      if (!raw) return undefined;
      const r = objectFromApi(key.kind, raw);
      if ('problems' in r) throw new Error(r.problems.join('; '));
      return r.stored as Stored;
    },
    async commit(change: Change) {
      const out: CommitAction[] = [];
      for (const o of change.put) out.push(await put(c, o));
      for (const k of change.delete) {
        await c
          .delete(resourceOf(k.kind), k.name, k.kind === 'Namespace' ? undefined : k.namespace, {
            gracePeriodSeconds: 0,
          })
          .catch((err: unknown) => {
            if (!(err instanceof KubeApiError && err.code === 404)) throw err;
          });
        out.push('deleted');
      }
      return out;
    },
    async setPodStatus(namespace: string, name: string, uid: string, status: PodStatus | undefined) {
      const cur = await c.find(resourceOf('Pod'), name, namespace);
      if (!cur || cur.metadata.uid !== uid) return false;
      await c.updateStatus(resourceOf('Pod'), { ...cur, status: status ?? {} });
      return true;
    },
    async removePod(namespace: string, name: string, uid: string) {
      try {
        await c.delete(resourceOf('Pod'), name, namespace, { gracePeriodSeconds: 0, preconditions: { uid } });
        return true;
      } catch (err) {
        // 404: no such pod; 409: the precondition (another uid) failed.
        if (err instanceof KubeApiError && (err.code === 404 || err.code === 409)) return false;
        throw err;
      }
    },
    async putNode(n: NodeInfo) {
      const body = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.name, annotations: { 'weft.test/heartbeat': n.heartbeat } },
      };
      try {
        await c.create(NODE_RESOURCE, body);
      } catch (err) {
        if (!(err instanceof KubeApiError && err.code === 409)) throw err;
        await c.patch(NODE_RESOURCE, n.name, { metadata: body.metadata });
      }
    },
  };
  // The suite uses only these methods; the others are not part of what it checks.
  return store as ObjectStore;
}
