/**
 * The `weft.dev/network` annotation (Docker's `--network=none` for a lab pod): "none" is acted on,
 * any other value and a none pod on the host network are refused with their paths.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from './parse.js';
import type { Pod } from './objects.js';
import { problemsOf } from '../../testkit/manifest-problems.js';
import { noNetworkReason, podNetworkMode } from './pod-network.js';

const pod = (annotations: string, spec = '') =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, annotations: {${annotations}}}\nspec: {${spec} containers: [{name: c}]}\n`;

test('a pod is on the pod network, the host network or none', () => {
  const [plain, none, host] = parseManifest(
    [pod(''), pod('weft.dev/network: none'), pod('', 'hostNetwork: true,')].join('---\n'),
  ) as Pod[];
  assert.equal(podNetworkMode(plain!), 'pod');
  assert.equal(podNetworkMode(none!), 'none');
  assert.equal(podNetworkMode(host!), 'host');
  assert.match(noNetworkReason(none!), /x\/a has no network \(weft\.dev\/network: none\)/);
});

const refused: Array<[string, string, string[]]> = [
  [
    'another value',
    pod('weft.dev/network: bridge'),
    [
      'document 1 (Pod x/a): metadata.annotations[weft.dev/network]: must be "none" (the only network mode weft knows), not "bridge"',
    ],
  ],
  [
    'an empty value',
    pod('weft.dev/network: ""'),
    [
      'document 1 (Pod x/a): metadata.annotations[weft.dev/network]: must be "none" (the only network mode weft knows), not ""',
    ],
  ],
  [
    'none on the host network',
    pod('weft.dev/network: none', 'hostNetwork: true,'),
    ['document 1 (Pod x/a): spec.hostNetwork: must not be true when weft.dev/network is "none"'],
  ],
];
for (const [name, text, want] of refused)
  test(`network annotation refused: ${name}`, () => assert.deepEqual(problemsOf(text), want));
