// The health check node port servers on the loopback: ports open and close as asked, answers follow
// the reply function at each request, a port in use is reported while the others serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { NodeHealthCheckServers } from './health-check-servers.js';

/** Free TCP ports on the loopback, as the kernel hands them out. */
async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  const held = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    held.push(s);
    out.push((s.address() as { port: number }).port);
  }
  for (const s of held) await new Promise<void>((r) => s.close(() => r()));
  return out;
}

const get = async (port: number) => {
  const r = await fetch(`http://127.0.0.1:${port}/any/path`);
  return { status: r.status, body: await r.text() };
};

test('health check servers: open, answer as the reply says at each request, close', async () => {
  const [a, b] = (await freePorts(2)) as [number, number];
  const servers = new NodeHealthCheckServers('127.0.0.1');
  const local = new Map([
    [a, 1],
    [b, 0],
  ]);
  const reply = (port: number) => {
    const n = local.get(port);
    return n === undefined ? undefined : { status: n > 0 ? 200 : 503, body: `{"localEndpoints": ${n}}` };
  };
  try {
    await servers.serve([a, b], reply);
    assert.deepEqual(
      servers.listening(),
      [a, b].sort((x, y) => x - y),
    );
    assert.deepEqual(await get(a), { status: 200, body: '{"localEndpoints": 1}' });
    assert.equal((await get(b)).status, 503);
    local.set(b, 2);
    assert.equal((await get(b)).status, 200, 'answers follow without reopening');
    await servers.serve([b], reply);
    assert.deepEqual(servers.listening(), [b]);
    await assert.rejects(get(a), 'a port no longer served refuses connections');
  } finally {
    await servers.close();
  }
  assert.deepEqual(servers.listening(), []);
});

test('health check servers: a port in use is reported by number, the others are served', async () => {
  const [a, b] = (await freePorts(2)) as [number, number];
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(a, '127.0.0.1', r));
  const servers = new NodeHealthCheckServers('127.0.0.1');
  try {
    await assert.rejects(
      servers.serve([a, b], () => ({ status: 503, body: '{}' })),
      (err: Error) => err.message.includes(`${a} (`) && err.message.includes('EADDRINUSE'),
    );
    assert.deepEqual(servers.listening(), [b]);
  } finally {
    await servers.close();
    await new Promise<void>((r) => squatter.close(() => r()));
  }
});
