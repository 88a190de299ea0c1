/**
 * The README's main job: `weft demo` runs to completion, shows real traffic between two pods,
 * and leaves no namespace behind.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { listNetns, requireRoot, sh } from './support/netns.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

test('weft demo wires two pods, proves traffic, and cleans up', () => {
  requireRoot();
  const r = sh([process.execPath, CLI, 'demo', '--host-port', '18088'], { timeoutMs: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ping\s+pod-a → pod-b \(10\.244\.0\.\d+\): 3\/3 replies/);
  assert.match(r.stdout, /TCP\s+pod-a → pod-b:80 answered "weft pod-b 80 from 10\.244\.0\.\d+"/);
  assert.match(r.stdout, /UDP\s+pod-a → pod-b:80 answered "hello-from-pod-a"/);
  assert.match(r.stdout, /hostPort\s+node 10\.244\.0\.1:18088 → pod-b:80 answered/);
  assert.deepEqual(
    listNetns().filter((n) => n.startsWith('weft-demo-')),
    [],
  );
});
