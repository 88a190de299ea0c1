// processAlive (./proc.ts) against real processes: this one, a child before and after it exits, and
// a PID that cannot exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { processAlive } from './proc.js';

test('processAlive: this process and a running child are alive; an ended child and an impossible PID are not', async () => {
  assert.equal(processAlive(process.pid), true);
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = child.pid!;
  assert.equal(processAlive(pid), true, 'running');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited; // Node has reaped it
  assert.equal(processAlive(pid), false, 'ended');
  assert.equal(processAlive(2 ** 22 + 1), false, 'above pid_max');
});
