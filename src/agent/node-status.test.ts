import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../testkit/clock-fake.js';
import type { ControllerStatus } from './controller.js';
import { nodeStatusPath, NodeStatusWriter, readNodeStatus, readPolicyApplied } from './node-status.js';

test('the writer writes on change only, atomically; readPolicyApplied reads the policy revision from it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-node-status-'));
  try {
    const clock = new FakeClock();
    let statuses: ControllerStatus[] = [
      {
        name: 'subnet',
        state: 'starting',
        ready: false,
        syncs: 0,
        failures: 3,
        lastError: 'cannot read the network config from the store: connect ECONNREFUSED',
      },
    ];
    const errors: Error[] = [];
    const w = new NodeStatusWriter({
      runDir: dir,
      node: 'n1',
      statuses: () => statuses,
      clock,
      everyMs: 1000,
      onError: (e) => errors.push(e),
    });
    assert.equal(readNodeStatus(dir), undefined, 'no document yet');
    w.start();
    let doc = readNodeStatus(dir)!;
    assert.equal(doc.node, 'n1');
    assert.equal(doc.ready, false);
    assert.equal(doc.controllers[0]!.lastError, 'cannot read the network config from the store: connect ECONNREFUSED');
    assert.equal(readPolicyApplied(dir), undefined, 'no policy controller: nothing applied');
    const first = doc.writtenAt;
    await clock.advance(5_000);
    assert.equal(readNodeStatus(dir)!.writtenAt, first, 'unchanged statuses are not rewritten');
    statuses = [
      { name: 'subnet', state: 'ready', ready: true, syncs: 1, failures: 3, revision: '10.244.1.0/24' },
      {
        name: 'policy',
        state: 'ready',
        ready: true,
        syncs: 1,
        failures: 0,
        revision: '42',
        revisionAt: 1_700_000_123_456,
        lastSyncAt: 1_700_000_123_456,
      },
    ];
    w.write();
    doc = readNodeStatus(dir)!;
    assert.equal(doc.ready, true);
    assert.deepEqual(readPolicyApplied(dir), {
      revision: 42,
      appliedAt: new Date(1_700_000_123_456).toISOString(),
      appliedAtMs: 1_700_000_123_456,
    });
    w.stop();
    assert.deepEqual(readdirSync(dir), ['node-status.json'], 'no temp file left behind');
    assert.deepEqual(errors, []);
    writeFileSync(nodeStatusPath(dir), '{"node": "n1", ');
    assert.throws(() => readNodeStatus(dir), /node-status\.json: not JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
