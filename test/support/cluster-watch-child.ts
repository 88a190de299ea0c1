/**
 * The child processes of test/cluster-watch.test.ts, one file for both roles:
 *   writer DB ID OPS SEED OUT   random creates, label updates, deletes and pod status writes of
 *                               its own pods (names "wID-…"), plus node heartbeats; appends what
 *                               it changed, in order, to OUT (JSON lines).
 *   consumer DB FROM OUT STOP   watches every kind from revision FROM and appends each event to
 *                               OUT; exits after the batch in which it passed STOP events (0: no
 *                               limit) or saw the parent's end marker (Namespace "end").
 */

import { appendFileSync } from 'node:fs';
import { systemClock } from '../../src/adapters/clock.js';
import { SqliteObjectStore } from '../../src/adapters/object-store-sqlite.js';
import { SqliteClusterSource } from '../../src/adapters/cluster-source-sqlite.js';
import type { Pod } from '../../src/core/k8s/objects.js';
import { ALL_KINDS, LOG_LIMIT, markOf, type ChangeLine } from './cluster-watch-lines.js';

function pod(name: string, seq: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'w', labels: { seq }, annotations: {} },
    spec: { nodeName: 'n1', hostNetwork: false, containers: [{ name: 's', ports: [] }] },
  };
}

async function writer(db: string, id: string, ops: number, seed: number, out: string): Promise<void> {
  const store = new SqliteObjectStore(db, systemClock, { changeLogLimit: LOG_LIMIT });
  // A small LCG: the same seed gives the same run.
  let state = seed >>> 0;
  const rnd = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const live = new Map<string, { uid: string; seq: string; message: string }>();
  const lines: string[] = [];
  const record = (l: ChangeLine) => lines.push(JSON.stringify(l));
  let made = 0;
  for (let i = 0; i < ops; i++) {
    const names = [...live.keys()];
    const r = rnd();
    const seq = `${id}-${i}`;
    if (names.length === 0 || r < 0.35) {
      const name = `w${id}-p${made++}`;
      await store.commit({ put: [pod(name, seq)], delete: [] });
      const s = (await store.get({ kind: 'Pod', namespace: 'w', name }))!;
      live.set(name, { uid: s.meta.uid, seq, message: '' });
      record({ type: 'ADDED', kind: 'Pod', name, mark: `${seq}|` });
      continue;
    }
    const name = names[Math.floor(rnd() * names.length)]!;
    const p = live.get(name)!;
    if (r < 0.6) {
      await store.commit({ put: [pod(name, seq)], delete: [] });
      p.seq = seq;
      record({ type: 'MODIFIED', kind: 'Pod', name, mark: `${p.seq}|${p.message}` });
    } else if (r < 0.85) {
      const ok = await store.setPodStatus('w', name, p.uid, {
        phase: 'Running',
        message: seq,
        podIP: `10.${Number(id) + 1}.${(i >> 8) & 255}.${i & 255}`,
      });
      if (!ok) throw new Error(`writer ${id}: status of ${name} was refused`);
      p.message = seq;
      record({ type: 'MODIFIED', kind: 'Pod', name, mark: `${p.seq}|${p.message}` });
    } else {
      await store.commit({ put: [], delete: [{ kind: 'Pod', namespace: 'w', name }] });
      live.delete(name);
      record({ type: 'DELETED', kind: 'Pod', name, mark: `${p.seq}|${p.message}` });
    }
    // A heartbeat now and then: it must show up nowhere.
    if (i % 50 === 0)
      await store.putNode({
        name: `node-${id}`,
        internalIP: '10.99.0.1',
        ready: true,
        heartbeat: new Date().toISOString(),
      });
  }
  appendFileSync(out, lines.map((l) => `${l}\n`).join(''));
  await store.close();
}

async function consumer(db: string, from: number, out: string, stop: number): Promise<void> {
  const store = new SqliteObjectStore(db, systemClock, { changeLogLimit: LOG_LIMIT });
  const source = new SqliteClusterSource({ store, path: db, clock: systemClock, pollMs: 500 });
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    const sub = source.watch(ALL_KINDS, from, {
      onBatch: (b) => {
        const lines = b.events.map((e) =>
          JSON.stringify({
            type: e.type,
            kind: e.kind,
            name: e.object.object.metadata.name,
            mark: markOf(e.object),
            revision: e.revision,
          } satisfies ChangeLine),
        );
        // One append per batch, then (maybe) exit: a restart resumes from the last line written.
        if (lines.length > 0) appendFileSync(out, lines.map((l) => `${l}\n`).join(''));
        seen += b.events.length;
        const ended = b.events.some((e) => e.kind === 'Namespace' && e.object.object.metadata.name === 'end');
        if (ended || (stop > 0 && seen >= stop)) void sub.stop().then(resolve, reject);
      },
      onError: reject,
    });
  });
  await store.close();
}

const [role, db, ...rest] = process.argv.slice(2);
const run =
  role === 'writer'
    ? writer(db!, rest[0]!, Number(rest[1]), Number(rest[2]), rest[3]!)
    : role === 'consumer'
      ? consumer(db!, Number(rest[0]), rest[1]!, Number(rest[2]))
      : Promise.reject(new Error(`unknown role ${role}`));
run.then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
