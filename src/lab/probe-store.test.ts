/** The probes a lab keeps for `weft ui`: written whole, read back by port and protocol, listed by stamp. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabPaths } from './lab-state.js';
import { probeStamps, readProbe, saveProbe } from './probe-store.js';
import type { KeptProbe } from '../core/lab/dashboard.js';

const probe = (port: number, protocol: 'TCP' | 'UDP', connected: boolean): KeptProbe => ({
  time: 1_000,
  revision: 3,
  port,
  protocol,
  pods: ['x/a'],
  results: [{ from: 'x/a', to: 'x/a', connected }],
});

test('the last probe of each port and protocol is kept and read back; others are not mixed in', () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-probe-store-'));
  try {
    const paths = new LabPaths(root, 'lab');
    assert.deepEqual(probeStamps(paths), [], 'no probe yet');
    assert.equal(readProbe(paths, 80, 'TCP'), undefined);
    saveProbe(paths, probe(80, 'TCP', false));
    saveProbe(paths, probe(80, 'TCP', true));
    saveProbe(paths, probe(80, 'UDP', false));
    assert.deepEqual(readProbe(paths, 80, 'TCP'), probe(80, 'TCP', true), 'the last one');
    assert.deepEqual(readProbe(paths, 80, 'UDP'), probe(80, 'UDP', false));
    assert.equal(readProbe(paths, 81, 'TCP'), undefined);
    assert.deepEqual(
      probeStamps(paths)
        .map((s) => `${s.port}/${s.protocol}`)
        .sort(),
      ['80/TCP', '80/UDP'],
    );
    assert.deepEqual(readdirSync(paths.probeDir).sort(), ['80-TCP.json', '80-UDP.json'], 'no temporary file left');
    writeFileSync(join(paths.probeDir, '81-TCP.json'), '{not json');
    assert.throws(() => readProbe(paths, 81, 'TCP'), /read the kept probe .*81-TCP\.json: /);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
