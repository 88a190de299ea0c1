/**
 * The lab kubelet's program life cycle: restartPolicy decisions (kubelet's table), the crash
 * back-off sequence (10 s doubling to 5 min, reset after 10 min of running), the container status
 * each state reports, the pod phase, and properties: the delay never leaves [base, max], and the
 * restart count is exactly the number of starts after the first.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RestartPolicy } from '../k8s/objects.js';
import {
  KUBELET_BACKOFF,
  backoffWithBase,
  newProgram,
  nextBackoff,
  podPhaseOf,
  programExited,
  programFailedToStart,
  programFromStatus,
  programStarted,
  programStatus,
  restartDue,
  shouldRestart,
  type ProgramState,
} from './container-run.js';

const restartTable: Array<[RestartPolicy, number, boolean]> = [
  ['Always', 0, true],
  ['Always', 1, true],
  ['OnFailure', 0, false],
  ['OnFailure', 2, true],
  ['OnFailure', 137, true],
  ['Never', 0, false],
  ['Never', 1, false],
];
for (const [policy, code, want] of restartTable) {
  test(`restartPolicy ${policy}, exit ${code}: ${want ? 'restarted' : 'not restarted'}`, () => {
    assert.equal(shouldRestart(policy, code), want);
  });
}

/** The delays of a program that crashes after `ranMs` each time, `n` times in a row. */
function delays(n: number, ranMs: number, cfg = KUBELET_BACKOFF): number[] {
  let s = newProgram();
  let now = 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = programStarted(s, now);
    now += ranMs;
    s = programExited(s, { exitCode: 1, signal: null }, now, 'Always', cfg);
    assert.equal(s.phase.kind, 'waiting');
    if (s.phase.kind !== 'waiting' || s.phase.restartAt === undefined) throw new Error('not waiting');
    out.push(s.phase.restartAt - now);
    now = s.phase.restartAt;
  }
  return out;
}

test("back-off: kubelet's 10 s doubling up to 5 min for a program that crashes at once", () => {
  assert.deepEqual(delays(8, 100), [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
});

test('back-off: a program that ran 10 min before it crashed starts over at 10 s', () => {
  assert.deepEqual(delays(3, 600_000), [10_000, 10_000, 10_000]);
  assert.equal(nextBackoff(160_000, 599_999, KUBELET_BACKOFF), 300_000);
  assert.equal(nextBackoff(160_000, 600_000, KUBELET_BACKOFF), 10_000);
});

test('back-off with another base (WEFT_LAB_BACKOFF_MS) scales its ceiling and reset', () => {
  assert.deepEqual(backoffWithBase(200), { baseMs: 200, maxMs: 6_000, resetAfterMs: 12_000 });
  assert.deepEqual(delays(7, 10, backoffWithBase(200)), [200, 400, 800, 1_600, 3_200, 6_000, 6_000]);
});

test('a crashed program waits in CrashLoopBackOff, is due at restartAt, and its restart counts', () => {
  let s = programStarted(newProgram(), 1_000);
  assert.equal(s.restartCount, 0, 'a first start is not a restart');
  s = programExited(s, { exitCode: 3, signal: null }, 2_000, 'OnFailure', KUBELET_BACKOFF);
  assert.deepEqual(s.phase, {
    kind: 'waiting',
    reason: 'CrashLoopBackOff',
    restartAt: 12_000,
    message: 'back-off 10s restarting failed container',
  });
  assert.equal(restartDue(s, 11_999), false);
  assert.equal(restartDue(s, 12_000), true);
  const st = programStatus('c', s, true);
  assert.deepEqual(st, {
    name: 'c',
    ready: false,
    started: false,
    restartCount: 0,
    state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container' } },
    lastState: {
      terminated: {
        exitCode: 3,
        reason: 'Error',
        startedAt: '1970-01-01T00:00:01.000Z',
        finishedAt: '1970-01-01T00:00:02.000Z',
      },
    },
  });
  s = programStarted(s, 12_000);
  assert.equal(s.restartCount, 1);
  assert.deepEqual(programStatus('c', s, true, 'busybox').state, {
    running: { startedAt: '1970-01-01T00:00:12.000Z' },
  });
  assert.equal(programStatus('c', s, true).ready, true);
  assert.equal(programStatus('c', s, false).ready, false, 'a running container is ready only when its probe says so');
});

test('Never: exit 0 is terminated Completed, a signal is Error with 128 + its number', () => {
  const ok = programExited(programStarted(newProgram(), 0), { exitCode: 0, signal: null }, 5, 'Never', KUBELET_BACKOFF);
  assert.deepEqual(programStatus('c', ok, false).state, {
    terminated: {
      exitCode: 0,
      reason: 'Completed',
      startedAt: '1970-01-01T00:00:00.000Z',
      finishedAt: '1970-01-01T00:00:00.005Z',
    },
  });
  const killed = programExited(
    programStarted(newProgram(), 0),
    { exitCode: null, signal: 9 },
    5,
    'Never',
    KUBELET_BACKOFF,
  );
  assert.equal(killed.phase.kind === 'terminated' && killed.phase.exitCode, 137);
  assert.equal(killed.phase.kind === 'terminated' && killed.phase.signal, 9);
  assert.equal(killed.phase.kind === 'terminated' && killed.phase.reason, 'Error');
});

test('a program that cannot start is a failed run: back-off with the reason, or terminated under Never', () => {
  const s = programFailedToStart(newProgram(), 'spawn nosuch ENOENT', 0, 'Always', KUBELET_BACKOFF);
  assert.equal(s.phase.kind === 'waiting' && s.phase.message, 'spawn nosuch ENOENT');
  assert.equal(s.restartCount, 0);
  const again = programFailedToStart(s, 'spawn nosuch ENOENT', 10_000, 'Always', KUBELET_BACKOFF);
  assert.equal(again.restartCount, 1);
  assert.equal(again.phase.kind === 'waiting' && again.phase.restartAt, 30_000);
  const never = programFailedToStart(newProgram(), 'x', 0, 'Never', KUBELET_BACKOFF);
  assert.equal(never.phase.kind, 'terminated');
});

const exitedWith = (code: number, policy: RestartPolicy): ProgramState =>
  programExited(programStarted(newProgram(), 0), { exitCode: code, signal: null }, 1, policy, KUBELET_BACKOFF);

const phaseTable: Array<[string, ProgramState[], string]> = [
  ['one running', [programStarted(newProgram(), 0)], 'Running'],
  ['not started yet', [newProgram()], 'Running'],
  ['waiting to restart', [exitedWith(1, 'Always')], 'Running'],
  ['Never, exit 0', [exitedWith(0, 'Never')], 'Succeeded'],
  ['Never, exit 1', [exitedWith(1, 'Never')], 'Failed'],
  ['OnFailure, exit 0', [exitedWith(0, 'OnFailure')], 'Succeeded'],
  ['one done, one running', [exitedWith(0, 'Never'), programStarted(newProgram(), 0)], 'Running'],
  ['one succeeded, one failed', [exitedWith(0, 'Never'), exitedWith(2, 'Never')], 'Failed'],
];
for (const [name, states, want] of phaseTable) {
  test(`pod phase: ${name} → ${want}`, () => assert.equal(podPhaseOf(states), want));
}

test('property: every delay lies in [base, max]; restartCount = starts - 1', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20_000 }),
      fc.array(fc.record({ ran: fc.integer({ min: 0, max: 2_000_000 }), code: fc.integer({ min: 1, max: 255 }) }), {
        minLength: 1,
        maxLength: 30,
      }),
      (base, runs) => {
        const cfg = backoffWithBase(base);
        let s = newProgram();
        let now = 0;
        for (const r of runs) {
          s = programStarted(s, now);
          now += r.ran;
          s = programExited(s, { exitCode: r.code, signal: null }, now, 'Always', cfg);
          if (s.phase.kind !== 'waiting' || s.phase.restartAt === undefined) return false;
          const d = s.phase.restartAt - now;
          if (d < cfg.baseMs || d > cfg.maxMs) return false;
          if (r.ran >= cfg.resetAfterMs && d !== cfg.baseMs) return false;
          now = s.phase.restartAt;
        }
        return s.restartCount === runs.length - 1;
      },
    ),
  );
});

test('a restarted runner takes programs back: ended ones stay terminated, others restart with their count', () => {
  const done = programFromStatus({
    name: 'c',
    ready: false,
    started: false,
    restartCount: 2,
    state: {
      terminated: {
        exitCode: 0,
        reason: 'Completed',
        startedAt: '1970-01-01T00:00:01.000Z',
        finishedAt: '1970-01-01T00:00:03.000Z',
      },
    },
  });
  assert.deepEqual(done.phase, {
    kind: 'terminated',
    exitCode: 0,
    reason: 'Completed',
    startedAt: 1_000,
    finishedAt: 3_000,
  });
  assert.equal(podPhaseOf([done]), 'Succeeded');
  const looping = programFromStatus({
    name: 'c',
    ready: false,
    started: false,
    restartCount: 4,
    state: { waiting: { reason: 'CrashLoopBackOff' } },
  });
  assert.equal(programStarted(looping, 0).restartCount, 5, 'its next start is a restart');
});
