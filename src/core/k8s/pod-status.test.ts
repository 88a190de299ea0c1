/**
 * `weft get pods`' STATUS and RESTARTS as kubectl prints them (printPod): Terminating first, then
 * the last non-running container's reason (waiting, terminated, or Signal:N / ExitCode:N), else
 * the phase; restarts summed over containers.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerStatus, Pod, PodStatus } from './objects.js';
import { podRestarts, podStatusReason } from './pod-status.js';

const cs = (name: string, state: ContainerStatus['state'], restartCount = 0): ContainerStatus => ({
  name,
  ready: state.running !== undefined,
  started: state.running !== undefined,
  restartCount,
  state,
});

const pod = (status: PodStatus | undefined, deleting = false): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'a',
    namespace: 'x',
    labels: {},
    annotations: {},
    ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
  },
  spec: { hostNetwork: false, containers: [{ name: 'c', ports: [] }] },
  ...(status ? { status } : {}),
});

const running = { running: { startedAt: 't' } };
const table: Array<[string, Pod, string, number]> = [
  ['no status yet', pod(undefined), 'Pending', 0],
  ['a pod without programs', pod({ phase: 'Running' }), 'Running', 0],
  ['running program', pod({ phase: 'Running', containerStatuses: [cs('c', running, 2)] }), 'Running', 2],
  [
    'crash loop',
    pod({ phase: 'Running', containerStatuses: [cs('c', { waiting: { reason: 'CrashLoopBackOff' } }, 5)] }),
    'CrashLoopBackOff',
    5,
  ],
  [
    'completed',
    pod({
      phase: 'Succeeded',
      containerStatuses: [cs('c', { terminated: { exitCode: 0, reason: 'Completed', finishedAt: 't' } })],
    }),
    'Completed',
    0,
  ],
  [
    'error, after a running one: the last non-running container wins',
    pod({
      phase: 'Failed',
      containerStatuses: [
        cs('a', running, 1),
        cs('b', { terminated: { exitCode: 1, reason: 'Error', finishedAt: 't' } }, 3),
      ],
    }),
    'Error',
    4,
  ],
  [
    'terminated without a reason: the signal',
    pod({
      phase: 'Failed',
      containerStatuses: [cs('c', { terminated: { exitCode: 137, signal: 9, reason: '', finishedAt: 't' } })],
    }),
    'Signal:9',
    0,
  ],
  [
    'terminated without a reason or signal: the exit code',
    pod({
      phase: 'Failed',
      containerStatuses: [cs('c', { terminated: { exitCode: 2, reason: '', finishedAt: 't' } })],
    }),
    'ExitCode:2',
    0,
  ],
  [
    'being deleted',
    pod({ phase: 'Running', containerStatuses: [cs('c', { waiting: { reason: 'CrashLoopBackOff' } }, 1)] }, true),
    'Terminating',
    1,
  ],
];

for (const [name, p, status, restarts] of table) {
  test(`get pods: ${name} → ${status}, ${restarts} restarts`, () => {
    assert.equal(podStatusReason(p), status);
    assert.equal(podRestarts(p), restarts);
  });
}
