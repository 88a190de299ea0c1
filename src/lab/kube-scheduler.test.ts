/** The lab scheduler's choice (--api kube): the Ready node with the fewest pods, by name on a tie. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickNode } from './kube-scheduler.js';

const node = (name: string, ready = true) => ({ name, internalIP: '10.99.0.1', ready, heartbeat: '' });

test('the Ready node with the fewest pods; a tie goes to the first name; none Ready: none', () => {
  const nodes = [node('n1'), node('n2'), node('n3', false)];
  assert.equal(pickNode(nodes, new Map()), 'n1');
  assert.equal(pickNode(nodes, new Map([['n1', 1]])), 'n2');
  assert.equal(
    pickNode(
      nodes,
      new Map([
        ['n1', 2],
        ['n2', 2],
      ]),
    ),
    'n1',
  );
  assert.equal(
    pickNode(
      nodes,
      new Map([
        ['n1', 5],
        ['n2', 4],
      ]),
    ),
    'n2',
    'n3 has none but is not Ready',
  );
  assert.equal(pickNode([node('n1', false)], new Map()), undefined);
});
