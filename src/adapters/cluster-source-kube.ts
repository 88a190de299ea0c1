/**
 * ClusterSource over the Kubernetes API (src/ports/cluster-source.ts describes the mapping): the
 * agent's cluster cache reads Namespaces, Pods, NetworkPolicies, Services and EndpointSlices from
 * a real API server exactly as an informer does.
 *
 * - list(kind): the kind's LIST across all namespaces (paged, one snapshot); its resourceVersion
 *   is the list's revision. Items are decoded by src/core/k8s/from-api.ts: fields weft refuses in
 *   a manifest but that exist in the cluster are left out and logged once per object version;
 *   an object that cannot be decoded at all is left out and logged as an error.
 * - watch(kinds, from): one API watch per kind from `from`, with bookmarks. The API server orders
 *   events per resource only, so batches are per kind, in that kind's order (all the consumers
 *   rely on: they index per kind). A batch's `revision` is what the port promises, the revision
 *   every kind has been read up to: the least of the kinds' last event or bookmark, so it moves for
 *   a quiet kind only with the server's bookmarks (about once a minute).
 * - A watch the server ends normally (its timeout), a broken connection, an API server that is
 *   restarting (5xx, 429) are not the consumer's business: that kind's watch starts again from
 *   the last version it delivered, with capped backoff, so nothing is missed or repeated. 410 Gone
 *   (RevisionTooOldError) and other API errors (401, 403, 404) end the whole watch through
 *   onError: the consumer lists again, or reports the error and retries.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { namespaceOf, type K8sKind, type ObjectOfKind } from '../core/k8s/objects.js';
import type { Stored } from '../ports/object-store.js';
import type {
  ClusterSource,
  ListResult,
  WatchEvent,
  WatchHandler,
  WatchSubscription,
} from '../ports/cluster-source.js';
import { keyOf, keyText, RevisionTooOldError } from '../core/k8s/object-key.js';
import { objectFromApi } from '../core/k8s/from-api.js';
import { KubeApiError, KubeConnectionError, resourceOf, type KubeClient, type KubeWatch } from './kube-api.js';

export interface KubeClusterSourceOptions {
  /** The client, or how to make it (a kubeconfig read on first use: its errors are the calls' errors). */
  client: KubeClient | (() => Promise<KubeClient>);
  clock: Clock;
  log: Logger;
  /** Backoff of a kind's watch after a broken connection or a server error: first wait and cap (ms). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Asked of the server per watch (it ends the watch after this long; default 300 s, a random share less). */
  watchTimeoutSeconds?: number;
  /** For the timeout's jitter (default Math.random). */
  random?: () => number;
  /**
   * A field selector per kind, on its list and watch: a kubelet may list and watch only the pods
   * bound to its node (`spec.nodeName=NAME`, the Node authorizer's rule).
   */
  fieldSelectors?: Partial<Record<K8sKind, string>>;
}

/** Whether an ended watch is the transport's or the server's passing trouble (retry it here). */
function isTransient(err: Error | undefined): boolean {
  if (err === undefined || err instanceof KubeConnectionError) return true;
  if (err instanceof KubeApiError) return err.code >= 500 || err.code === 429;
  return false;
}

export class KubeClusterSource implements ClusterSource {
  /** The notes last logged per object (key → resourceVersion), so a note is said once per version. */
  private readonly noted = new Map<string, number>();

  constructor(private readonly o: KubeClusterSourceOptions) {}

  private client(): Promise<KubeClient> {
    return typeof this.o.client === 'function' ? this.o.client() : Promise.resolve(this.o.client);
  }

  private decode<K extends K8sKind>(kind: K, raw: unknown): Stored<ObjectOfKind<K>> | undefined {
    const r = objectFromApi(kind, raw);
    if ('problems' in r) {
      this.o.log.error('an object from the API server that weft cannot read is left out', {
        object: r.ref,
        problems: r.problems,
      });
      return undefined;
    }
    if (r.ignored.length > 0) {
      const k = keyText(keyOf(r.stored.object));
      if (this.noted.get(k) !== r.stored.meta.resourceVersion) {
        this.noted.set(k, r.stored.meta.resourceVersion);
        this.o.log.warn('fields weft does not implement are not acted on', { object: k, fields: r.ignored });
      }
    }
    return r.stored;
  }

  async list<K extends K8sKind>(kind: K): Promise<ListResult<K>> {
    const fieldSelector = this.o.fieldSelectors?.[kind];
    const l = await (await this.client()).list(resourceOf(kind), fieldSelector ? { fieldSelector } : {});
    const items = l.items.flatMap((raw) => {
      const s = this.decode(kind, raw);
      return s ? [s] : [];
    });
    const key = (s: Stored) => `${namespaceOf(s.object)}\0${s.object.metadata.name}`;
    items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return { items, revision: Number(l.metadata.resourceVersion) };
  }

  watch<K extends K8sKind>(kinds: readonly K[], fromRevision: number, handler: WatchHandler<K>): WatchSubscription {
    if (kinds.length === 0) throw new Error('watch: no kinds given (watch at least one kind)');
    const o = this.o;
    let stopped = false;
    let ended = false;
    /** Batches are handed over one at a time, whichever kind they come from. */
    let delivery: Promise<void> = Promise.resolve();
    let delivered = fromRevision;
    interface KindWatch {
      kind: K;
      /** The last resourceVersion read (event or bookmark): the next watch starts after it. */
      rv: number;
      w: KubeWatch | undefined;
      timer: TimerHandle | undefined;
      failures: number;
    }
    const state: KindWatch[] = kinds.map((kind) => ({
      kind,
      rv: fromRevision,
      w: undefined,
      timer: undefined,
      failures: 0,
    }));
    const frontier = () => Math.min(...state.map((s) => s.rv));

    const release = async () => {
      for (const s of state) s.timer?.cancel();
      await Promise.all(state.map((s) => s.w?.stop()));
    };
    const end = (err: Error) => {
      if (ended || stopped) return;
      ended = true;
      void release();
      handler.onError(err);
    };
    const deliver = (events: WatchEvent<K>[]): Promise<void> => {
      delivery = delivery.then(async () => {
        if (stopped || ended) return;
        const revision = Math.max(delivered, frontier());
        if (events.length === 0 && revision <= delivered) return;
        delivered = revision;
        try {
          await handler.onBatch({ events, revision });
        } catch (err) {
          end(new Error(`watch ${kinds.join(',')}: handler failed at revision ${revision}`, { cause: err }));
        }
      });
      return delivery;
    };

    const start = (s: KindWatch) => {
      s.timer = undefined;
      if (stopped || ended) return;
      this.client().then(
        (c) => open(c, s),
        (err: unknown) => end(err as Error),
      );
    };
    const open = (client: KubeClient, s: KindWatch) => {
      if (stopped || ended) return;
      const timeout = o.watchTimeoutSeconds ?? 300;
      s.w = client.watch(
        resourceOf(s.kind),
        {
          resourceVersion: String(s.rv),
          allowWatchBookmarks: true,
          ...(o.fieldSelectors?.[s.kind] ? { fieldSelector: o.fieldSelectors[s.kind] } : {}),
          // A share of jitter, so that many agents' watches do not all end and start again at once.
          timeoutSeconds: Math.max(1, Math.round(timeout * (1 - 0.2 * (o.random ?? Math.random)()))),
        },
        {
          onEvent: (e) => {
            const rv = Number(e.object.metadata.resourceVersion);
            if (!Number.isSafeInteger(rv)) {
              end(new Error(`watch ${s.kind}: a ${e.type} event without a numeric resourceVersion`));
              return;
            }
            s.failures = 0;
            if (e.type === 'BOOKMARK') {
              s.rv = Math.max(s.rv, rv);
              return deliver([]);
            }
            if (rv <= s.rv) return; // already delivered (never expected from the server; kept exact anyway)
            s.rv = rv;
            const stored = this.decode(s.kind, e.object);
            if (!stored) return deliver([]);
            return deliver([{ type: e.type, kind: s.kind, object: stored, revision: rv } as WatchEvent<K>]);
          },
          onEnd: (err) => {
            s.w = undefined;
            if (stopped || ended) return;
            if (err instanceof RevisionTooOldError) {
              end(err);
              return;
            }
            if (!isTransient(err)) {
              end(err!);
              return;
            }
            if (err === undefined) {
              start(s); // the server's timeout: go on at once
              return;
            }
            s.failures++;
            const wait = Math.min(o.retryMaxMs ?? 5_000, (o.retryInitialMs ?? 200) * 2 ** Math.min(s.failures - 1, 10));
            o.log.warn('watch interrupted; resuming', {
              kind: s.kind,
              resourceVersion: s.rv,
              attempt: s.failures,
              retryInMs: wait,
              error: err.message,
            });
            s.timer = o.clock.setTimeout(() => start(s), wait);
          },
        },
      );
    };
    for (const s of state) start(s);
    return {
      async stop() {
        stopped = true;
        await release();
        await delivery;
      },
    };
  }
}
