/** `weft logs`: --tail's last lines and the choice of a pod's container log, with the reasons it refuses. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../core/k8s/objects.js';
import { lastLines, podLogFile } from './pod-logs.js';

const tails: Array<[string, string, number, string]> = [
  ['fewer lines than asked', 'a\nb\n', 5, 'a\nb\n'],
  ['the last two', 'a\nb\nc\n', 2, 'b\nc\n'],
  ['an unfinished last line counts', 'a\nb\nc', 2, 'b\nc'],
  ['zero lines', 'a\n', 0, ''],
  ['empty log', '', 3, ''],
];
for (const [name, text, n, want] of tails) {
  test(`--tail: ${name}`, () => assert.equal(lastLines(text, n), want));
}

const pod = (containers: Pod['spec']['containers']): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'a', namespace: 'x', labels: {}, annotations: {} },
  spec: { hostNetwork: false, containers },
});

test('the only container by default; the first, with a note, among several; -c picks one', () => {
  const one = pod([{ name: 'c', ports: [], command: ['true'] }]);
  assert.deepEqual(podLogFile(one, '/logs', undefined), { file: '/logs/c.log', container: 'c' });
  const two = pod([
    { name: 'a', ports: [], command: ['true'] },
    { name: 'b', ports: [], command: ['true'] },
  ]);
  assert.deepEqual(podLogFile(two, '/logs', undefined), {
    file: '/logs/a.log',
    container: 'a',
    note: 'Defaulted container "a" out of: a, b',
  });
  assert.equal(podLogFile(two, '/logs', 'b').file, '/logs/b.log');
});

test('a container that does not exist, or runs no program, has no log', () => {
  const p = pod([{ name: 'c', ports: [] }]);
  assert.throws(() => podLogFile(p, '/logs', 'z'), /container z is not valid for pod x\/a: choose one of \[c\]/);
  assert.throws(() => podLogFile(p, '/logs', undefined), /container c of pod x\/a runs no program/);
});
