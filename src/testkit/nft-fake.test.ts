/**
 * The Nft contract against the fake (the same cases run against real nft in
 * test/nft-contract.test.ts), and the fake's own extras.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NftTx } from '../core/nft/tx.js';
import { runNftContract } from './nft-contract.js';
import { NftFake } from './nft-fake.js';

runNftContract('fake', () => Promise.resolve(new NftFake()));

test('fake: failNext fails one transaction and changes nothing', async () => {
  const fake = new NftFake();
  fake.failNext = 'boom';
  const tx = new NftTx().add({ kind: 'table', family: 'inet', name: 't' });
  await assert.rejects(fake.apply(tx, 'first'), /first: nft: boom/);
  assert.equal(await fake.listTable('inet', 't'), undefined);
  await fake.apply(tx, 'second');
  assert.equal(fake.table('inet', 't')?.name, 't');
  assert.equal(fake.applied.length, 1);
});
