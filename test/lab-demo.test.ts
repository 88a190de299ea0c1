/**
 * The README's main job: `weft lab demo` (npm run demo) builds the lab, proves the example
 * cluster's matrix with real traffic, balances the example Services from a pod and from a client
 * outside the cluster, resolves them by name through cluster DNS, and leaves nothing behind.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listNetns, requireRoot, sh } from './support/netns.js';
import { CLI } from './support/lab.js';

test('weft lab demo: 81/81 connected, the Services answer from every backend, from pods and from outside, names resolve; nothing is left', () => {
  requireRoot();
  const root = mkdtempSync(join(tmpdir(), 'weft-labroot-tdemo-'));
  const env = { ...process.env, WEFT_LAB_ROOT: root };
  sh([process.execPath, CLI, 'lab', 'down', '--name', 'tdemo'], { env });
  try {
    const r = sh([process.execPath, CLI, 'lab', 'demo', '--name', 'tdemo'], { env, timeoutMs: 300_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^81\/81 connected$/m);
    assert.match(r.stdout, /^web-lb\s+LoadBalancer\s+10\.96\.\d+\.\d+\s+10\.99\.0\.224\s+80:\d+\/TCP/m);
    // Every row of both Service tables: three answering pods, each with at least one answer, none failed.
    const rows = r.stdout
      .split('\n')
      .filter((l) => /^(web\/\S+|10\.99\.0\.\d+:\S+( \(LB\))?)\s+\d+\s+\d+\s+\d+\s+\d+$/.test(l));
    assert.equal(rows.length, 4 + 4, `4 pod rows and 4 outside rows:\n${r.stdout}`);
    for (const row of rows) {
      const n = row.trim().split(/\s+/).slice(-4).map(Number);
      assert.ok(n.slice(0, 3).every((x) => x > 0) && n[3] === 0, `every backend answers, none fails: ${row}`);
      assert.equal(n[0]! + n[1]! + n[2]!, 30, row);
    }
    // Cluster DNS: the client pod's resolv.conf, and its Service and kube-dns found by name.
    assert.match(r.stdout, /^nameserver 10\.96\.0\.10$/m);
    assert.match(r.stdout, /^10\.96\.\d+\.\d+\s+web\.web\.svc\.cluster\.local$/m);
    assert.match(r.stdout, /^10\.96\.0\.10\s+kube-dns\.kube-system\.svc\.cluster\.local$/m);
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith('weft-lab-tdemo-')),
      [],
    );
  } finally {
    sh([process.execPath, CLI, 'lab', 'down', '--name', 'tdemo'], { env });
    rmSync(root, { recursive: true, force: true });
  }
});
