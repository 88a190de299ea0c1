/**
 * The flow feed of `weft ui` against a fake agent client: the ring read and the live stream
 * merged once, a node that cannot be read named (and read again once it answers), a closed stream
 * followed again, nodes started and stopped by setNodes, and the subscribers told.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowFeed, type FlowClient, type FlowFeedEvent } from './flow-feed.js';
import type { Flow } from '../core/flows/flow.js';

const flow = (time: number, node: string): Flow => ({
  time,
  node,
  protocol: 'TCP',
  src: { ip: '10.244.1.3', port: 40000 + time, pod: 'x/a' },
  dst: { ip: '10.244.2.2', port: 80, pod: 'y/b' },
  verdict: 'denied',
  direction: 'Ingress',
  policies: ['y/deny'],
});

/** A fake agent per socket path: its ring, whether it answers, and the live streams open on it. */
class FakeAgents {
  readonly ring = new Map<string, Flow[]>();
  readonly down = new Map<string, string>();
  readonly streams = new Map<string, { onFlow: (f: Flow) => void; end: () => void; signal: AbortSignal }>();
  follows = 0;

  readonly client: FlowClient = {
    follow: async (path, onFlow, signal) => {
      this.follows++;
      const why = this.down.get(path);
      if (why) throw new Error(`follow flows on ${path}: ${why}`);
      let end = () => {};
      const ended = new Promise<void>((resolve) => (end = resolve));
      signal.addEventListener('abort', () => end());
      this.streams.set(path, { onFlow, end, signal });
      return { ended };
    },
    read: async (path) => ({ node: path, capacity: 10, flows: this.ring.get(path) ?? [] }),
  };

  /** The agent logs a flow: into its ring and onto its open stream. */
  log(path: string, f: Flow): void {
    this.ring.set(path, [...(this.ring.get(path) ?? []), f]);
    const s = this.streams.get(path);
    if (s && !s.signal.aborted) s.onFlow(f);
  }
}

async function until<T>(what: string, check: () => T | undefined): Promise<T> {
  for (const end = Date.now() + 5_000; Date.now() < end; ) {
    const v = check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`never: ${what}`);
}

test('flows kept by the nodes and logged live are merged in time order, each once, subscribers told', async () => {
  const agents = new FakeAgents();
  agents.ring.set('/n1', [flow(1, 'n1'), flow(3, 'n1')]);
  agents.ring.set('/n2', [flow(2, 'n2')]);
  const feed = new FlowFeed({ capacity: 10, client: agents.client, retryMs: 1, log: () => {} });
  const seen: FlowFeedEvent[] = [];
  feed.subscribe((e) => seen.push(e));
  feed.setNodes([
    { node: 'n1', path: '/n1' },
    { node: 'n2', path: '/n2' },
  ]);
  await until('both rings read', () => (feed.list(() => true, 10).length === 3 ? true : undefined));
  agents.log('/n2', flow(4, 'n2'));
  // The ring read again (as after a reconnect) brings nothing twice.
  agents.streams.get('/n1')!.end();
  await until('n1 followed again', () => (agents.follows >= 3 ? true : undefined));
  await until('n1 read again', () => (feed.errors().n1 === undefined ? true : undefined));
  assert.deepEqual(
    feed.list(() => true, 10).map((f) => `${f.time}${f.node}`),
    ['1n1', '2n2', '3n1', '4n2'],
  );
  assert.deepEqual(
    feed.list((f) => f.node === 'n1', 1).map((f) => `${f.time}${f.node}`),
    ['3n1'],
  );
  const told = seen
    .filter((e) => e.kind === 'flow')
    .map((e) => (e.kind === 'flow' ? `${e.flow.time}${e.flow.node}` : ''));
  assert.deepEqual([...told].sort(), ['1n1', '2n2', '3n1', '4n2']);
  feed.stop();
});

test('a node that cannot be read is named with why, and read once it answers; setNodes stops a node', async () => {
  const agents = new FakeAgents();
  agents.down.set('/n2', 'connect ENOENT /n2');
  agents.ring.set('/n2', [flow(5, 'n2')]);
  const lines: string[] = [];
  const feed = new FlowFeed({ capacity: 10, client: agents.client, retryMs: 1, log: (l) => lines.push(l) });
  const errors: Array<Record<string, string>> = [];
  feed.subscribe((e) => (e.kind === 'errors' ? errors.push(e.errors) : undefined));
  feed.setNodes([{ node: 'n2', path: '/n2' }]);
  await until('the error', () => feed.errors().n2);
  assert.deepEqual(feed.errors(), { n2: 'follow flows on /n2: connect ENOENT /n2' });
  assert.deepEqual(errors[0], { n2: 'follow flows on /n2: connect ENOENT /n2' });
  assert.equal(lines.length, 1, 'logged once, not at every retry');
  agents.down.delete('/n2');
  await until('n2 read', () => (feed.list(() => true, 10).length === 1 ? true : undefined));
  assert.deepEqual(feed.errors(), {});
  assert.deepEqual(errors.at(-1), {});
  // Removed from the lab: its stream is aborted and it is not read again.
  const stream = agents.streams.get('/n2')!;
  feed.setNodes([]);
  assert.equal(stream.signal.aborted, true);
  // Nothing to wait for: long enough for many retries (every 1 ms) had the node still been followed.
  const follows = agents.follows;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(agents.follows, follows);
  feed.stop();
});
