// The agent's status server's flow endpoints, through its unix socket and the client weft flows
// uses (status-client.ts): the ring as JSON, follow mode (a flow made after the follow started
// arrives as a JSON line), a clear error when flow logging is off, and a close that does not
// wait for followers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Flow } from '../core/flows/flow.js';
import { startStatusServer, type FlowSource } from './status-server.js';
import { followNodeFlows, getNodeFlows } from './status-client.js';

const flow = (port: number): Flow => ({
  time: 1_000 + port,
  node: 'n1',
  protocol: 'UDP',
  src: { ip: '10.244.1.3', port },
  dst: { ip: '10.244.1.2', port: 53, pod: 'x/dns' },
  verdict: 'denied',
  direction: 'Ingress',
  policies: ['x/deny'],
});

function source(): FlowSource & { emit(f: Flow): void } {
  const kept = [flow(1), flow(2)];
  const followers = new Set<(f: Flow) => void>();
  return {
    node: 'n1',
    capacity: 8,
    list: () => kept,
    follow: (fn) => {
      followers.add(fn);
      return () => followers.delete(fn);
    },
    emit: (f) => {
      for (const fn of followers) fn(f);
    },
  };
}

const health = {
  health: () => ({ ok: true, text: 'ok\n' }),
  metrics: async () => ({ contentType: 'text/plain', text: '' }),
};

test('/flows: the ring as JSON, and follow mode, over the unix socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-status-'));
  const socketPath = join(dir, 'status.sock');
  const flows = source();
  const server = await startStatusServer('127.0.0.1:0', { ...health, flows }, { socketPath });
  try {
    assert.deepEqual(await getNodeFlows(socketPath, 2_000), { node: 'n1', capacity: 8, flows: [flow(1), flow(2)] });
    const got: Flow[] = [];
    const abort = new AbortController();
    const follow = await followNodeFlows(socketPath, (f) => got.push(f), abort.signal);
    flows.emit(flow(3));
    flows.emit(flow(4));
    for (let i = 0; i < 200 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got, [flow(3), flow(4)]);
    // Closing with a follower connected ends its stream.
    await server.close();
    await follow.ended;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('/flows with flow logging off: a 404 that says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-status-'));
  const socketPath = join(dir, 'status.sock');
  const server = await startStatusServer('127.0.0.1:0', health, { socketPath });
  try {
    await assert.rejects(getNodeFlows(socketPath, 2_000), /HTTP 404: flow logging is off on this node/);
    await assert.rejects(getNodeFlows(join(dir, 'none.sock'), 2_000), /read flows from .*none\.sock/);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
