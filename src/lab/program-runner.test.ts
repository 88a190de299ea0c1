/**
 * PodPrograms with real processes (in the test's own network namespace: no pod namespace, as for
 * a hostNetwork pod) and a 20 ms back-off: a crashing program is restarted and each run's output
 * lands in its log; a log beyond the limit is rotated when the program starts; stop() ends a
 * program that ignores SIGTERM with SIGKILL after the grace period, and its whole process group.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container, RestartPolicy } from '../core/k8s/objects.js';
import { backoffWithBase } from '../core/lab/container-run.js';
import { systemClock } from '../adapters/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProgramRecord } from '../ports/sandbox-store.js';
import { LOG_LIMIT, PodPrograms, containerLogPath } from './program-runner.js';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, with: () => quiet };

function programs(
  command: string[],
  policy: RestartPolicy,
  onChange: (p: PodPrograms) => void = () => undefined,
  inLogDir = false,
) {
  const logDir = mkdtempSync(join(tmpdir(), 'weft-programs-'));
  const records: ProgramRecord[][] = [];
  const container: Container = { name: 'c', ports: [], command, ...(inLogDir ? { workingDir: logDir } : {}) };
  const p: PodPrograms = new PodPrograms({
    key: 't/p',
    podName: 'p',
    containers: [container],
    restartPolicy: policy,
    netnsName: undefined,
    logDir,
    backoff: backoffWithBase(20),
    clock: systemClock,
    log: quiet,
    onChange: () => onChange(p),
    onRecords: (r) => records.push(r),
  });
  return { p, logDir, records, log: containerLogPath(logDir, 'c') };
}

/** Resolves once `check` holds after one of the programs' changes (or rejects after 10 s). */
function changeUntil(check: (p: PodPrograms) => boolean): { onChange: (p: PodPrograms) => void; done: Promise<void> } {
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const timer = setTimeout(() => resolve(), 10_000);
  return {
    onChange: (p) => {
      if (check(p)) {
        clearTimeout(timer);
        resolve();
      }
    },
    done,
  };
}

test('a program that exits 1 is restarted with back-off and every run is logged', async () => {
  let restarts = 0;
  const until = changeUntil((p) => {
    restarts = p.statuses(true, 0)[0]?.restartCount ?? 0;
    return restarts >= 3;
  });
  const t = programs(['sh', '-c', 'echo run; exit 1'], 'Always', until.onChange);
  t.p.start(true);
  await until.done;
  await t.p.stop(1_000);
  assert.ok(restarts >= 3, `restarted ${restarts} times`);
  assert.equal(t.p.phase(), 'Running', 'Always: the pod runs on');
  const runs = readFileSync(t.log, 'utf8')
    .split('\n')
    .filter((l) => l === 'run').length;
  // Every run that ended wrote its line (the last one may have been stopped before it did).
  assert.ok(runs >= restarts, `${runs} runs logged for ${restarts} restarts`);
  rmSync(t.logDir, { recursive: true, force: true });
});

test('Never: one run; exit 0 is Succeeded and the records end empty', async () => {
  const until = changeUntil((p) => p.phase() === 'Succeeded');
  const t = programs(['sh', '-c', 'echo once'], 'Never', until.onChange);
  t.p.start(true);
  await until.done;
  assert.equal(t.p.phase(), 'Succeeded');
  assert.equal(readFileSync(t.log, 'utf8'), 'once\n');
  assert.ok(t.records[0]?.length === 1, 'the running program was recorded');
  assert.deepEqual(t.records.at(-1), [], 'and removed once it exited');
  rmSync(t.logDir, { recursive: true, force: true });
});

test('a log beyond the limit is copied to .1 and truncated when the program starts', async () => {
  const until = changeUntil((p) => p.phase() === 'Succeeded');
  const t = programs(['sh', '-c', 'echo fresh'], 'Never', until.onChange);
  writeFileSync(t.log, Buffer.alloc(LOG_LIMIT + 1, 'x'));
  t.p.start(false);
  await until.done;
  assert.equal(statSync(`${t.log}.1`).size, LOG_LIMIT + 1);
  assert.equal(readFileSync(t.log, 'utf8'), 'fresh\n');
  rmSync(t.logDir, { recursive: true, force: true });
});

test('stop(): a program that ignores SIGTERM, and its children, end with SIGKILL after the grace period', async () => {
  const t = programs(
    ['sh', '-c', 'trap "" TERM; sleep 30 & echo $! > child.pid; while :; do sleep 0.05; done'],
    'Always',
    () => undefined,
    true,
  );
  t.p.start(true);
  // The program writes its child's PID in its working directory (the log directory here).
  const pidFile = join(t.logDir, 'child.pid');
  for (let i = 0; i < 200 && !(existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== ''); i++)
    await new Promise((r) => setTimeout(r, 10));
  const child = Number(readFileSync(pidFile, 'utf8').trim());
  assert.ok(child > 0, 'the program started a child');
  const [record] = t.records.at(-1) ?? [];
  assert.ok(record, 'the program is recorded');
  await t.p.stop(200);
  assert.equal(existsSync(`/proc/${record.pid}`), false, 'the program is gone');
  // The child was in the program's process group: it had the SIGKILL too, and dies (a signal is
  // delivered asynchronously; at most a zombie is left for its new parent to reap).
  const gone = () => {
    const state = existsSync(`/proc/${child}/stat`) ? readFileSync(`/proc/${child}/stat`, 'utf8') : '';
    return state === '' || / Z /.test(state);
  };
  for (let i = 0; i < 200 && !gone(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(gone(), `the child ${child} is gone`);
  rmSync(t.logDir, { recursive: true, force: true });
});
