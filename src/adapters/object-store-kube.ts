/**
 * ObjectStore (src/ports/object-store.ts) over a real Kubernetes API server, for the lab's
 * `--api kube` mode: `weft apply/get/delete`, the lab's kubelet (pod runner) and everything else
 * that reads or writes the lab's objects through this port then use the API server exactly as
 * kubectl and kubelet do.
 *
 * - list/get: the API objects decoded by src/core/k8s/from-api.ts (fields weft does not implement
 *   are left out there, and said in the source's log); revision() is a LIST's resourceVersion
 *   (etcd's revision, which moves with every write of any object).
 * - commit: the API has no transaction over several objects, so a commit is what `kubectl apply
 *   --server-side` does: the puts (Namespaces first, several requests at a time), then each delete, every put validated by the API
 *   server first (see commit). Validation is the API server's own: its refusal (a KubeApiError
 *   carrying its Status) is the error. `ifRevision`
 *   (the embedded store's whole-store check) is checked per object: a put or delete of an object
 *   changed after that revision fails with RevisionConflictError before anything is written.
 * - setPodStatus: the status subresource, with the pod's uid as a precondition; removePod: a
 *   delete with grace period 0 and the uid precondition, as kubelet's final delete.
 * - nodes: the Node objects (podCIDR from spec, readiness and message from the Ready condition,
 *   the backend from Flannel's annotation); putNode: kubelet's registration and heartbeat
 *   (src/lab/kube-node-status.ts's reporter); removeNode: a delete of the Node.
 */

import type { K8sKind, K8sObject, ObjectOfKind, PodStatus } from '../core/k8s/objects.js';
import { KIND_INFO } from '../core/k8s/kinds.js';
import { keyOf, RevisionConflictError, type ObjectKey } from '../core/k8s/object-key.js';
import { nodeInfoFromApi, objectFromApi, podStatusToApi, type KubeNodeJson } from '../core/k8s/from-api.js';
import type { Change, CommitAction, NodeInfo, ObjectStore, Stored } from '../ports/object-store.js';
import { KubeApiError, NODE_RESOURCE, resourceOf, resourcePath, type KubeClient, type KubeObject } from './kube-api.js';

/** Server-side apply's content type; JSON is YAML. */
const APPLY_PATCH = 'application/apply-patch+yaml';

/** Requests one commit keeps in flight: a 100-object manifest in a fraction of the time one by one. */
const REQUESTS_IN_FLIGHT = 8;

/** The order a commit writes kinds in (see commit). */
const APPLY_WAVES: ReadonlyArray<(kind: K8sKind) => boolean> = [
  (k) => k === 'Namespace',
  (k) => k === 'IngressClass',
  (k) => k !== 'Namespace' && k !== 'IngressClass',
];

/** Runs `fn` over the items with at most `limit` running at once; rejects with the first failure once all have settled. */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

export class KubeObjectStore implements ObjectStore {
  private readonly clientReady: Promise<KubeClient>;

  constructor(
    /** The client, or its promise (a kubeconfig is read asynchronously; LabClient.open is not). */
    client: KubeClient | Promise<KubeClient>,
    /** kubelet's registration and heartbeat (putNode); absent: putNode is refused (not a kubelet). */
    private readonly reportNode?: (info: NodeInfo) => Promise<void>,
  ) {
    this.clientReady = Promise.resolve(client);
    // A kubeconfig that cannot be read fails the first call that needs it, with its own message.
    this.clientReady.catch(() => undefined);
  }

  async revision(): Promise<number> {
    // One page of one namespace: its resourceVersion is the store's (list() would read every page).
    const l = await (
      await this.clientReady
    ).request<{ metadata: { resourceVersion?: string } }>('GET', `${resourcePath(resourceOf('Namespace'))}?limit=1`);
    return Number(l.metadata.resourceVersion ?? 0);
  }

  list<K extends K8sKind>(kind: K): Promise<Stored<ObjectOfKind<K>>[]>;
  list(): Promise<Stored[]>;
  async list(kind?: K8sKind): Promise<Stored[]> {
    const out: Stored[] = [];
    for (const k of kind ? [kind] : (Object.keys(KIND_INFO) as K8sKind[])) {
      const l = await (await this.clientReady).list(resourceOf(k));
      for (const item of l.items) {
        const r = objectFromApi(k, item);
        if ('stored' in r) out.push(r.stored);
      }
    }
    // In key order within each kind, as the embedded store lists.
    return kind ? out.sort((a, b) => keyCompare(keyOf(a.object), keyOf(b.object))) : out;
  }

  async get(key: ObjectKey): Promise<Stored | undefined> {
    const raw = await (await this.clientReady).find(resourceOf(key.kind), key.name, key.namespace || undefined);
    if (!raw) return undefined;
    const r = objectFromApi(key.kind, raw);
    if ('problems' in r) throw new Error(`${r.ref}: cannot be read: ${r.problems.join('; ')}`);
    return r.stored;
  }

  async commit(change: Change, ifRevision?: number): Promise<CommitAction[]> {
    const client = await this.clientReady;
    const id = (key: ObjectKey) => `${key.kind}/${key.namespace}/${key.name}`;
    // Every object the commit names, read once (several at a time): the revision check and
    // kubectl's created / configured / unchanged need what is there now.
    const keys = [...change.put.map((o) => keyOf(o)), ...change.delete];
    const current = new Map<string, KubeObject | undefined>();
    const unique = [...new Map(keys.map((k) => [id(k), k])).values()];
    await inParallel(unique, REQUESTS_IN_FLIGHT, async (key) => {
      current.set(id(key), await client.find(resourceOf(key.kind), key.name, key.namespace || undefined));
    });
    if (ifRevision !== undefined)
      for (const key of keys) {
        const rv = Number(current.get(id(key))?.metadata.resourceVersion ?? 0);
        if (rv > ifRevision)
          throw new RevisionConflictError(
            `${key.kind} ${key.namespace}/${key.name} changed after revision ${ifRevision}`,
          );
      }
    // Server-side apply (`kubectl apply --server-side`, field manager "weft"): the fields the
    // manifest names are weft's, the server's defaults and other managers' fields are kept, and a
    // field weft set before and the manifest no longer names is removed. The API server validates
    // every object first (dryRun=All: admission and validation, nothing stored), so a manifest with
    // one bad document is refused whole, as the embedded store's one transaction refuses it. An
    // object in a namespace this commit creates cannot be dry-run (the namespace is not there
    // yet): should its write be refused, what this commit created is deleted again.
    // A pod put with metadata.deletionTimestamp is the start of a graceful deletion (`weft delete`
    // plans it so: src/core/lab/apply-plan.ts). Only the API server sets those fields; its verb for
    // it is DELETE with that grace period (an apply of them is refused as a change of immutable
    // fields).
    const terminations = change.put.filter((o) => o.kind === 'Pod' && o.metadata.deletionTimestamp !== undefined);
    const puts = change.put.filter((o) => !terminations.includes(o));
    const newNamespaces = new Set<string>();
    for (const obj of puts)
      if (obj.kind === 'Namespace' && !current.get(id(keyOf(obj)))) newNamespaces.add(obj.metadata.name);
    // Each apply keeps the index of its put: the actions come back in the order of change.put,
    // terminations included, whatever order they are written in.
    const applies = change.put.flatMap((obj, at) => {
      if (terminations.includes(obj)) return [];
      const key = keyOf(obj);
      const { status: _status, ...body } = obj as K8sObject & { status?: unknown };
      const path = resourcePath(resourceOf(key.kind), { namespace: key.namespace || undefined, name: key.name });
      return [{ key, body, at, path: `${path}?fieldManager=weft&force=true` }];
    });
    await inParallel(
      applies.filter((a) => !newNamespaces.has(a.key.namespace)),
      REQUESTS_IN_FLIGHT,
      (a) => client.request('PATCH', `${a.path}&dryRun=All`, a.body, APPLY_PATCH),
    );
    // Written in waves, each wave's objects several at a time: Namespaces before what they hold,
    // IngressClasses before the Ingresses the default-class admission fills in, then the rest.
    const actions: CommitAction[] = new Array<CommitAction>(change.put.length);
    const created: ObjectKey[] = [];
    for (const wave of APPLY_WAVES) {
      const failures: unknown[] = [];
      await inParallel(
        applies.filter((a) => wave(a.key.kind)),
        REQUESTS_IN_FLIGHT,
        async (a) => {
          if (failures.length > 0) return; // Stop starting more once one failed.
          const before = current.get(id(a.key))?.metadata.resourceVersion;
          try {
            const after = await this.applyOnce(a.path, a.body, newNamespaces.has(a.key.namespace));
            if (before === undefined) created.push(a.key);
            actions[a.at] =
              before === undefined ? 'created' : after.metadata.resourceVersion === before ? 'unchanged' : 'configured';
          } catch (err) {
            failures.push(err);
          }
        },
      );
      if (failures.length > 0) {
        try {
          await this.rollBack(created);
        } catch (err) {
          throw new Error(`${(failures[0] as Error).message}; ${(err as Error).message}`, { cause: failures[0] });
        }
        throw failures[0];
      }
    }
    for (const pod of terminations) {
      const key = keyOf(pod);
      try {
        await client.delete(resourceOf('Pod'), key.name, key.namespace || undefined, {
          gracePeriodSeconds: pod.metadata.deletionGracePeriodSeconds ?? 0,
        });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.code === 404)) throw err;
      }
      actions[change.put.indexOf(pod)] = 'deleted';
    }
    for (const key of change.delete) {
      try {
        // A delete is "gone now", as in the embedded store (a graceful one is a termination above):
        // a pod's own terminationGracePeriodSeconds (30 s by the API server's default) is not waited for.
        await client.delete(
          resourceOf(key.kind),
          key.name,
          key.namespace || undefined,
          key.kind === 'Pod' ? { gracePeriodSeconds: 0 } : {},
        );
      } catch (err) {
        if (!(err instanceof KubeApiError && err.code === 404)) throw err;
      }
      actions.push('deleted');
    }
    return actions;
  }

  /** Deletes what a failed commit created, newest first (the objects in a namespace before it); throws naming what is left. */
  private async rollBack(created: readonly ObjectKey[]): Promise<void> {
    const client = await this.clientReady;
    const left: string[] = [];
    for (const key of [...created].reverse())
      try {
        await client.delete(resourceOf(key.kind), key.name, key.namespace || undefined, { gracePeriodSeconds: 0 });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.code === 404))
          left.push(`${key.kind} ${key.namespace}/${key.name}: ${(err as Error).message}`);
      }
    if (left.length > 0)
      throw new Error(`the commit failed, and what it created could not all be removed: ${left.join('; ')}`);
  }

  /**
   * One apply. In a namespace this commit made, the ServiceAccount admission refuses pods until
   * the controller manager has made the namespace's `default` ServiceAccount (a moment later): that
   * refusal is retried for up to 10 s, as a user applying the manifest again would.
   */
  private async applyOnce(path: string, body: unknown, newNamespace: boolean): Promise<KubeObject> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        return await (await this.clientReady).request<KubeObject>('PATCH', path, body, APPLY_PATCH);
      } catch (err) {
        const waitingForAccount =
          newNamespace &&
          err instanceof KubeApiError &&
          err.code === 403 &&
          /error looking up service account .*not found/.test(err.message);
        if (!waitingForAccount || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async setPodStatus(namespace: string, name: string, uid: string, status: PodStatus | undefined): Promise<boolean> {
    const pod = await (await this.clientReady).find(resourceOf('Pod'), name, namespace);
    if (!pod || pod.metadata.uid !== uid) return false;
    // Clearing a status is what the embedded store does when a pod is torn down; the API keeps
    // a status until the object goes, so there is nothing to write.
    if (!status) return true;
    try {
      await (
        await this.clientReady
      ).updateStatus(resourceOf('Pod'), {
        ...pod,
        status: podStatusToApi(
          status,
          ((pod as { spec?: { containers?: Array<{ name: string }> } }).spec?.containers ?? []).map((c) => c.name),
        ),
      } as KubeObject);
    } catch (err) {
      if (err instanceof KubeApiError && (err.code === 404 || err.code === 409)) return false;
      throw err;
    }
    return true;
  }

  async removePod(namespace: string, name: string, uid: string): Promise<boolean> {
    try {
      await (
        await this.clientReady
      ).delete(resourceOf('Pod'), name, namespace, { gracePeriodSeconds: 0, preconditions: { uid } });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && (err.code === 404 || err.code === 409)) return false;
      throw err;
    }
  }

  async nodes(): Promise<NodeInfo[]> {
    const l = await (await this.clientReady).list<KubeNodeJson>(NODE_RESOURCE);
    return l.items.map(nodeInfoFromApi).sort((a, b) => a.name.localeCompare(b.name));
  }

  async putNode(node: NodeInfo): Promise<void> {
    if (!this.reportNode) throw new Error(`putNode ${node.name}: only a node's kubelet registers its Node`);
    await this.reportNode(node);
  }

  async removeNode(name: string): Promise<boolean> {
    try {
      await (await this.clientReady).delete(NODE_RESOURCE, name);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return false;
      throw err;
    }
  }

  async close(): Promise<void> {
    (await this.clientReady.catch(() => undefined))?.close();
  }
}

function keyCompare(a: ObjectKey, b: ObjectKey): number {
  return a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
}
