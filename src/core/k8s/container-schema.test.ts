/**
 * A container's program fields and the pod's restartPolicy as the schema acts on them: command,
 * args, workingDir and env (plain values) kept typed for the lab's kubelet; valueFrom, envFrom,
 * args without a command, relative working directories, bad or duplicate env names and unknown
 * restart policies refused with their paths; dnsPolicy and dnsConfig with the API server's checks.
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

test('dnsPolicy and dnsConfig are acted on, typed', () => {
  const [p] = parseManifest(
    pod(
      '{dnsPolicy: None, dnsConfig: {nameservers: [192.0.2.1], searches: [a.example., b.example], options: [{name: ndots, value: "2"}, {name: edns0}]}, containers: [{name: c}]}',
    ),
  ) as Pod[];
  assert.equal(p?.spec.dnsPolicy, 'None');
  assert.deepEqual(p?.spec.dnsConfig, {
    nameservers: ['192.0.2.1'],
    searches: ['a.example.', 'b.example'],
    options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
  });
});

const dnsRefused: Array<[string, string, string[]]> = [
  [
    'unknown dnsPolicy',
    pod('{dnsPolicy: Cluster, containers: [{name: c}]}'),
    [at('.dnsPolicy', 'unsupported value "Cluster" (supported: ClusterFirst, ClusterFirstWithHostNet, Default, None)')],
  ],
  [
    'None without dnsConfig',
    pod('{dnsPolicy: None, containers: [{name: c}]}'),
    [at('.dnsConfig', 'must provide `dnsConfig` when `dnsPolicy` is None')],
  ],
  [
    'None without a nameserver',
    pod('{dnsPolicy: None, dnsConfig: {searches: [a.example]}, containers: [{name: c}]}'),
    [at('.dnsConfig.nameservers', 'must provide at least one DNS nameserver when `dnsPolicy` is None')],
  ],
  [
    'bad and too many nameservers, a bad search domain, an option without a name, an unknown field',
    pod(
      '{dnsConfig: {nameservers: [192.0.2.1, 192.0.2.2, 192.0.2.3, dns], searches: [Bad_Domain], options: [{value: "1"}], ndots: 5}, containers: [{name: c}]}',
    ),
    [
      at('.dnsConfig.ndots', 'unknown field'),
      at('.dnsConfig.nameservers', 'must not have more than 3 nameservers'),
      at('.dnsConfig.nameservers[3]', '"dns": must be a valid IP address'),
      at(
        '.dnsConfig.searches[0]',
        `"Bad_Domain": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      ),
      at('.dnsConfig.options[0].name', 'must not be empty'),
    ],
  ],
];

for (const [name, text, want] of dnsRefused) {
  test(`pod DNS refused: ${name}`, () => assert.deepEqual(problemsOf(text), want));
}
