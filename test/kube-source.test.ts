// The ClusterSource over a real kube-apiserver (src/adapters/cluster-source-kube.ts): the shared
// contract suite (its 'shared' revisions mode, one fresh control plane per case); lists decode
// what the API server returns (status, defaults, fields weft does not implement), watches deliver
// each change once in per-kind order, 410 is RevisionTooOldError, and (acceptance 2 of issue 17)
// the agent's ClusterCache converges to exactly the API server's own list while kube-apiserver is
// killed and restarted under 200 changes. Skipped, with the reason, when Kubernetes is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { systemClock } from '../src/adapters/clock.js';
import { JsonLogger } from '../src/adapters/json-logger.js';
import { KubeClusterSource } from '../src/adapters/cluster-source-kube.js';
import { KubeApiError, KubeClient, loadKubeconfig, resourceOf } from '../src/adapters/kube-api.js';
import { ClusterCache } from '../src/agent/cluster-cache.js';
import { RevisionTooOldError, keyOf, keyText } from '../src/core/k8s/object-key.js';
import { namespaceOf, type K8sKind, type K8sObject } from '../src/core/k8s/objects.js';
import type { ClusterSource, WatchBatch, WatchEvent } from '../src/ports/cluster-source.js';
import { signalProcess } from '../src/adapters/proc.js';
import { adminTls, startApiServer, waitApiServer } from '../src/lab/kube-control-plane.js';
import { createNamespace, kubeMissing, podManifest, TestControlPlane, withKube } from './support/kube.js';
import { kubeContractStore } from './support/kube-object-store.js';
import { runClusterSourceContract } from '../src/testkit/cluster-source-contract.js';

import { waitFor } from './support/cluster.js';

/** A logger that keeps its lines, to check what was said. */
function recordingLog(): { log: JsonLogger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: new JsonLogger((l) => lines.push(JSON.parse(l) as Record<string, unknown>)), lines };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const SYSTEM = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);

function policy(ns: string, name: string, app: string) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: ns },
    spec: { podSelector: { matchLabels: { app } }, ingress: [{ from: [{ podSelector: {} }] }] },
  };
}

test('kube source: lists decode API objects (status, server defaults, a field weft does not implement)', (t) =>
  withKube(t, async ({ admin }) => {
    const { log, lines } = recordingLog();
    const source = new KubeClusterSource({ client: admin, clock: systemClock, log });
    await createNamespace(admin, 'x', { team: 'a' });
    await admin.create(resourceOf('Pod'), podManifest('x', 'b', { app: 'web' }), 'x');
    const a = await admin.create(resourceOf('Pod'), podManifest('x', 'a', { app: 'web' }), 'x');
    await admin.updateStatus(resourceOf('Pod'), {
      ...a,
      status: { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }], qosClass: 'BestEffort' },
    });
    await admin.create(resourceOf('NetworkPolicy'), policy('x', 'p', 'web'), 'x');
    await admin.create(
      resourceOf('Service'),
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'lb', namespace: 'x' },
        spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80 }] },
      },
      'x',
    );

    const pods = await source.list('Pod');
    assert.deepEqual(
      pods.items.map((p) => p.object.metadata.name),
      ['a', 'b'],
      'in key order',
    );
    const pa = pods.items[0]!;
    assert.equal(pa.object.status?.podIP, '10.244.1.5', 'status decoded');
    assert.equal(pa.object.spec.nodeName, 'n1');
    assert.equal(pa.object.spec.containers[0]!.ports[0]!.protocol, 'TCP', 'defaults as the API server has them');
    assert.equal(pa.meta.uid, a.metadata.uid);
    assert.ok(pods.items.every((p) => p.meta.resourceVersion <= pods.revision));

    const namespaces = (await source.list('Namespace')).items.map((n) => n.object.metadata.name);
    assert.deepEqual(
      namespaces.filter((n) => !SYSTEM.has(n)),
      ['x'],
    );
    assert.deepEqual(
      (await source.list('Namespace')).items.find((n) => n.object.metadata.name === 'x')!.object.metadata.labels.team,
      'a',
    );

    const svc = (await source.list('Service')).items.find((s) => s.object.metadata.name === 'lb');
    assert.ok(svc, 'a LoadBalancer Service with a field weft refuses in manifests is still listed');
    assert.equal(svc.object.spec.type, 'LoadBalancer');
    assert.match(svc.object.spec.clusterIP ?? '', /^10\.96\./, 'the ClusterIP the API server allocated');
    const note = lines.find((l) => l.msg === 'fields weft does not implement are not acted on');
    assert.ok(note, 'the left-out field is said');
    assert.match(JSON.stringify(note.fields), /spec\.allocateLoadBalancerNodePorts/);
    assert.equal((await source.list('NetworkPolicy')).items[0]!.object.spec.policyTypes[0], 'Ingress');
  }));

interface Recorded {
  batches: WatchBatch[];
  errors: Error[];
  events: () => WatchEvent[];
}

function record(source: ClusterSource, kinds: readonly K8sKind[], from: number) {
  const r: Recorded = { batches: [], errors: [], events: () => r.batches.flatMap((b) => b.events) };
  const sub = source.watch(kinds, from, { onBatch: (b) => void r.batches.push(b), onError: (e) => r.errors.push(e) });
  return { r, sub };
}

const summary = (events: readonly WatchEvent[]) =>
  events.map((e) => `${e.type} ${e.kind} ${e.object.object.metadata.name}`);

test('kube source: a watch delivers every change once in per-kind order, status writes included; deletes carry the last state; other kinds deliver nothing', (t) =>
  withKube(t, async ({ admin }) => {
    const source = new KubeClusterSource({ client: admin, clock: systemClock, log: recordingLog().log });
    await createNamespace(admin, 'x');
    const from = (await source.list('Pod')).revision;
    const { r, sub } = record(source, ['Pod'], from);
    const { r: pol, sub: polSub } = record(source, ['NetworkPolicy'], from);
    try {
      const pod = resourceOf('Pod');
      const a = await admin.create(pod, podManifest('x', 'a'), 'x');
      await admin.patch(pod, 'a', { metadata: { labels: { v: '2' } } }, { namespace: 'x' });
      await admin.patch(pod, 'a', { metadata: { labels: { v: '2' } } }, { namespace: 'x' }); // no change: no event
      const cur = await admin.get(pod, 'a', 'x');
      await admin.updateStatus(pod, { ...cur, status: { phase: 'Running', podIP: '10.244.1.7' } });
      await admin.delete(pod, 'a', 'x', { gracePeriodSeconds: 0, preconditions: { uid: a.metadata.uid! } });
      await admin.create(pod, podManifest('x', 'marker'), 'x');
      await waitFor('the marker', () =>
        r.events().some((e) => e.object.object.metadata.name === 'marker') ? true : undefined,
      );
      assert.deepEqual(summary(r.events()), [
        'ADDED Pod a',
        'MODIFIED Pod a',
        'MODIFIED Pod a',
        'MODIFIED Pod a',
        'DELETED Pod a',
        'ADDED Pod marker',
      ]);
      const ev = r.events();
      const st = ev[2]!;
      assert.equal(st.kind === 'Pod' ? st.object.object.status?.podIP : undefined, '10.244.1.7', 'the status write');
      assert.ok(
        ev[3]!.object.object.metadata.deletionTimestamp,
        'the deletion begins (a MODIFIED with deletionTimestamp)',
      );
      const del = ev[4]!;
      assert.deepEqual(del.object.object.metadata.labels, { v: '2' }, 'the last state');
      const revs = ev.map((e) => e.revision);
      assert.ok(
        revs.every((v, i) => i === 0 || v > revs[i - 1]!),
        `revisions increase: ${revs.join(',')}`,
      );
      assert.ok(revs.every((v) => v > from));
      assert.ok(ev.every((e) => e.type === 'DELETED' || e.object.meta.resourceVersion === e.revision));
      assert.ok(
        r.batches.every((b, i) => i === 0 || b.revision >= r.batches[i - 1]!.revision),
        'batch revisions never go back',
      );
      assert.deepEqual(r.errors, []);

      // Resuming from a mid revision repeats nothing before it.
      const mid = revs[1]!;
      const { r: again, sub: againSub } = record(source, ['Pod'], mid);
      await waitFor('the marker again', () =>
        again.events().some((e) => e.object.object.metadata.name === 'marker') ? true : undefined,
      );
      assert.deepEqual(summary(again.events()), summary(ev.slice(2)));
      await againSub.stop();

      // The policy watch saw none of the pods.
      await admin.create(resourceOf('NetworkPolicy'), policy('x', 'pmarker', 'm'), 'x');
      await waitFor('the policy marker', () => (pol.events().length > 0 ? true : undefined));
      assert.deepEqual(summary(pol.events()), ['ADDED NetworkPolicy pmarker']);
    } finally {
      await sub.stop();
      await polSub.stop();
    }
    // After stop() nothing more is delivered.
    const before = r.batches.length;
    const late = await admin.create(resourceOf('Pod'), podManifest('x', 'late'), 'x');
    // From just before late's own revision (other writers move etcd's revision on meanwhile).
    const { r: witness, sub: w } = record(source, ['Pod'], Number(late.metadata.resourceVersion) - 1);
    await waitFor('a witness to see late', () =>
      witness.events().some((e) => e.object.object.metadata.name === 'late') ? true : undefined,
    );
    await w.stop();
    assert.equal(r.batches.length, before, 'nothing after stop()');
  }));

/** Compacts the control plane's etcd up to its current revision (etcd's JSON gateway). */
async function compactEtcd(etcdPort: number): Promise<void> {
  const call = (path: string, body: unknown) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = request(
        { host: '127.0.0.1', port: etcdPort, path, method: 'POST', headers: { 'Content-Type': 'application/json' } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  const st = await call('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
  const rev = (st.header as { revision: string }).revision;
  await call('/v3/kv/compaction', { revision: rev, physical: true });
}

test('kube source: a watch from a compacted revision ends with RevisionTooOldError; a list and a watch from it go on', (t) =>
  withKube(t, async ({ admin, rec }) => {
    const source = new KubeClusterSource({ client: admin, clock: systemClock, log: recordingLog().log });
    await createNamespace(admin, 'x');
    const old = (await source.list('Pod')).revision;
    for (let i = 0; i < 5; i++) await admin.create(resourceOf('Pod'), podManifest('x', `p${i}`), 'x');
    await compactEtcd(rec.etcdPort);
    // A running API server's watch cache still holds the history; a restarted one starts at the compacted store.
    signalProcess(rec.pids.apiserver, 'SIGKILL');
    await waitFor('the API server to exit', () => (alive(rec.pids.apiserver) ? undefined : true));
    startApiServer(rec);
    await waitApiServer(rec, adminTls(rec));
    const { r, sub } = record(source, ['Pod'], 2);
    await waitFor('the error', () => (r.errors.length > 0 ? true : undefined));
    assert.ok(r.errors[0] instanceof RevisionTooOldError, String(r.errors[0]));
    assert.deepEqual(r.events(), []);
    await sub.stop();
    assert.ok(old > 2);
    const list = await source.list('Pod');
    assert.equal(list.items.length, 5);
    const { r: again, sub: s2 } = record(source, ['Pod'], list.revision);
    try {
      await admin.create(resourceOf('Pod'), podManifest('x', 'late'), 'x');
      await waitFor('late', () => (again.events().length > 0 ? true : undefined));
      assert.deepEqual(summary(again.events()), ['ADDED Pod late']);
      assert.deepEqual(again.errors, []);
    } finally {
      await s2.stop();
    }
  }));

test('kube source: an API error other than 410 ends the watch with the server Status (403 for a user without rights)', (t) =>
  withKube(t, async ({ admin }) => {
    // A ServiceAccount with no role at all: every watch is forbidden.
    await admin.create(
      { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'nobody', namespace: 'default' } },
      'default',
    );
    const tok = await admin.request<{ status: { token: string } }>(
      'POST',
      '/api/v1/namespaces/default/serviceaccounts/nobody/token',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    );
    const nobody = new KubeClient({
      server: admin.config.server,
      ...(admin.config.ca ? { ca: admin.config.ca } : {}),
      token: tok.status.token,
      source: 'a token of ServiceAccount default/nobody',
    });
    const source = new KubeClusterSource({ client: nobody, clock: systemClock, log: recordingLog().log });
    await assert.rejects(
      source.list('Pod'),
      (e: unknown) => e instanceof KubeApiError && e.code === 403 && /forbidden/i.test(e.message),
    );
    const { r, sub } = record(source, ['Pod'], 1);
    await waitFor('the error', () => (r.errors.length > 0 ? true : undefined));
    const err = r.errors[0];
    assert.ok(err instanceof KubeApiError && err.status.reason === 'Forbidden', String(err));
    assert.match(err.message, /system:serviceaccount:default:nobody/);
    await sub.stop();
    nobody.close();
  }));

test('kube source + cluster cache: kube-apiserver killed and restarted while 200 objects change; the cache converges to exactly the API server list, nothing applied twice', (t) =>
  withKube(t, async ({ admin, rec }) => {
    const { log, lines } = recordingLog();
    const kinds: K8sKind[] = ['Namespace', 'Pod', 'NetworkPolicy', 'Service'];
    const inner = new KubeClusterSource({
      client: admin,
      clock: systemClock,
      log,
      retryInitialMs: 100,
      retryMaxMs: 1000,
    });
    // Every batch the cache is given, to check that no change is applied twice within a watch.
    const seen: Array<{ kind: K8sKind; key: string; revision: number; session: number }> = [];
    let session = 0;
    const source: ClusterSource = {
      list: (k) => inner.list(k),
      watch: (ks, from, h) => {
        session++;
        const mine = session;
        return inner.watch(ks, from, {
          onBatch: (b) => {
            for (const e of b.events)
              seen.push({ kind: e.kind, key: keyText(keyOf(e.object.object)), revision: e.revision, session: mine });
            return h.onBatch(b);
          },
          onError: (e) => h.onError(e),
        });
      },
    };
    for (const ns of ['a', 'b']) await createNamespace(admin, ns);
    const cache = new ClusterCache({ source, kinds, clock: systemClock, log, retryMs: 200 });
    await cache.start();
    try {
      const pod = resourceOf('Pod');
      let changes = 0;
      let failures = 0;
      const churn = async (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          const ns = i % 2 === 0 ? 'a' : 'b';
          for (;;) {
            try {
              if (i % 5 === 4) {
                await admin.delete(pod, `p${i - 2}`, ns, { gracePeriodSeconds: 0 }).catch((e: unknown) => {
                  if (!(e instanceof KubeApiError && e.code === 404)) throw e;
                });
              } else if (i % 7 === 3) {
                await admin.create(resourceOf('NetworkPolicy'), policy(ns, `np${i}`, `app${i}`), ns);
              } else if (i % 11 === 6) {
                await admin.create(
                  resourceOf('Service'),
                  {
                    apiVersion: 'v1',
                    kind: 'Service',
                    metadata: { name: `s${i}`, namespace: ns },
                    spec: { selector: { app: `app${i}` }, ports: [{ port: 80 }] },
                  },
                  ns,
                );
              } else {
                await admin.create(pod, podManifest(ns, `p${i}`, { i: String(i) }), ns);
              }
              changes++;
              break;
            } catch (err) {
              // While the API server is down: wait for it (the churn goes on once it is back).
              if (err instanceof KubeApiError && err.code !== 503 && err.code !== 500) {
                if (err.code === 409) break; // created before the connection broke
                throw err;
              }
              failures++;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        }
      };
      const firstHalf = churn(0, 100);
      await waitFor('some churn', () => (changes >= 40 ? true : undefined));
      signalProcess(rec.pids.apiserver, 'SIGKILL');
      // The churn goes on against a dead server (it retries), then the server comes back.
      await waitFor('writes to fail', () => (failures > 0 ? true : undefined));
      startApiServer(rec);
      await waitApiServer(rec, adminTls(rec));
      await firstHalf;
      await churn(100, 200);
      // Converged: per kind, the cache holds exactly what the API server lists now.
      const want = async () => {
        const out: string[] = [];
        for (const k of kinds)
          for (const s of (await inner.list(k)).items)
            out.push(`${keyText(keyOf(s.object))}@${s.meta.resourceVersion}`);
        return out.sort();
      };
      const have = () =>
        kinds.flatMap((k) => cache.list(k).map((s) => `${keyText(keyOf(s.object))}@${s.meta.resourceVersion}`)).sort();
      const truth = await waitFor(
        'the cache to converge',
        async () => {
          const w = await want();
          return JSON.stringify(w) === JSON.stringify(have()) ? w : undefined;
        },
        60_000,
        250,
      );
      assert.ok(truth.filter((k) => k.startsWith('Pod/')).length > 50, `objects: ${truth.length}`);
      for (const k of kinds)
        for (const s of (await inner.list(k)).items)
          assert.deepEqual(cache.get(k, namespaceOf(s.object), s.object.metadata.name)?.object, s.object);
      // Nothing twice: within each watch, an object's revisions strictly increase.
      const last = new Map<string, number>();
      for (const e of seen) {
        const id = `${e.session}/${e.kind}/${e.key}`;
        assert.ok((last.get(id) ?? 0) < e.revision, `${id}@${e.revision} applied twice`);
        last.set(id, e.revision);
      }
      const interrupted = lines.filter(
        (l) => l.msg === 'watch interrupted; resuming' || l.msg === 'cluster watch too old; listing again',
      );
      assert.ok(interrupted.length > 0, 'the restart was noticed');
      t.diagnostic(
        `changes ${changes}, watch sessions ${session}, lists ${cache.lists}, interruptions ${interrupted.length}`,
      );
    } finally {
      await cache.stop();
    }
  }));

// The ClusterSource contract suite, as the lab store and the fake run it, against a fresh API server per case.
const missing = kubeMissing();
if (missing) test('kube-apiserver: the ClusterSource contract suite', (t) => t.skip(missing));
else
  runClusterSourceContract('kube-apiserver', async () => {
    const cp = new TestControlPlane();
    const rec = await cp.start();
    const admin = new KubeClient(await loadKubeconfig(rec.adminKubeconfig));
    return {
      store: kubeContractStore(admin),
      source: new KubeClusterSource({ client: admin, clock: systemClock, log: recordingLog().log }),
      revisions: 'shared',
      preexisting: (o: K8sObject) => SYSTEM.has(o.kind === 'Namespace' ? o.metadata.name : namespaceOf(o)),
      compact: async () => {
        await compactEtcd(rec.etcdPort);
        signalProcess(rec.pids.apiserver, 'SIGKILL');
        await waitFor('the API server to exit', () => (alive(rec.pids.apiserver) ? undefined : true));
        startApiServer(rec);
        await waitApiServer(rec, adminTls(rec));
      },
      close: async () => {
        admin.close();
        await cp.stop();
      },
    };
  });
