/**
 * A container's program fields and the pod's restartPolicy as the schema acts on them: command,
 * args, workingDir and env (plain values) kept typed for the lab's kubelet; valueFrom, envFrom,
 * args without a command, relative working directories, bad or duplicate env names and unknown
 * restart policies refused with their paths.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from './parse.js';
import type { Pod } from './objects.js';
import { problemsOf } from '../../testkit/manifest-problems.js';

const pod = (spec: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec: ${spec}\n`;
const container = (fields: string) => pod(`{containers: [{name: c, ${fields}}]}`);
const at = (path: string, message: string) => `document 1 (Pod x/a): spec${path}: ${message}`;

test('command, args, workingDir and env are acted on, typed; restartPolicy absent means Always (not written)', () => {
  const [p] = parseManifest(
    container(
      'command: [python3, -m], args: [http.server, "8000"], workingDir: /tmp, env: [{name: A, value: "1"}, {name: B}]',
    ),
  ) as Pod[];
  assert.deepEqual(p?.spec.containers[0], {
    name: 'c',
    ports: [],
    command: ['python3', '-m'],
    args: ['http.server', '8000'],
    workingDir: '/tmp',
    env: [
      { name: 'A', value: '1' },
      { name: 'B', value: '' },
    ],
  });
  assert.equal(p?.spec.restartPolicy, undefined);
});

for (const policy of ['Always', 'OnFailure', 'Never']) {
  test(`restartPolicy ${policy} is kept typed`, () => {
    const [p] = parseManifest(pod(`{restartPolicy: ${policy}, containers: [{name: c, command: ["true"]}]}`)) as Pod[];
    assert.equal(p?.spec.restartPolicy, policy);
  });
}

const refused: Array<[string, string, string[]]> = [
  [
    'env valueFrom',
    pod(
      '{containers: [{name: c, command: [env], env: [{name: A, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]}]}',
    ),
    [
      at(
        '.containers[0].env[0].valueFrom',
        "not supported yet by weft (the lab's kubelet passes plain values only; give value)",
      ),
    ],
  ],
  [
    'envFrom',
    container('command: [env], envFrom: [{configMapRef: {name: cm}}]'),
    [
      at(
        '.containers[0].envFrom',
        'not supported yet by weft (the lab has no ConfigMaps or Secrets; give env with plain values)',
      ),
    ],
  ],
  [
    'args without a command',
    container('args: [x]'),
    [at('.containers[0].args', 'not supported yet by weft (args need a command: the lab runs no image entrypoint)')],
  ],
  [
    'relative workingDir',
    container('command: [pwd], workingDir: tmp'),
    [at('.containers[0].workingDir', '"tmp": must be an absolute path')],
  ],
  [
    'bad env name',
    container('command: [env], env: [{name: "1 A", value: x}]'),
    [at('.containers[0].env[0].name', '"1 A": must be a valid environment variable name')],
  ],
  [
    'duplicate env name',
    container('command: [env], env: [{name: A, value: x}, {name: A, value: y}]'),
    [at('.containers[0].env[1].name', '"A": duplicate environment variable')],
  ],
  [
    'unknown restartPolicy',
    pod('{restartPolicy: Sometimes, containers: [{name: c}]}'),
    [at('.restartPolicy', 'unsupported value "Sometimes" (supported: Always, OnFailure, Never)')],
  ],
];

for (const [name, text, want] of refused) {
  test(`container refused: ${name}`, () => assert.deepEqual(problemsOf(text), want));
}
