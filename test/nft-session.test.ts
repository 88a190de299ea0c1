/**
 * NftSession (one long-lived `nft -i` per agent) against the real kernel, in a namespace of its
 * own (prefix weft-nfts-): transactions land in order and atomically, errors are reported with
 * nft's own words and change nothing, big transactions take the `nft -f` path, listings through
 * the session equal `nft -j list table`'s, and a dead session is replaced.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeExec } from '../src/adapters/exec.js';
import { NftSession } from '../src/adapters/nft-session.js';
import { NftCommand } from '../src/adapters/nft.js';
import type { Part, SetObj } from '../src/core/nft/model.js';
import { NftTx } from '../src/core/nft/tx.js';
import { Netns, mustInNs } from './support/netns.js';

const fx = new Netns('weft-nfts-');
let ns = '';
let session: NftSession;
const set: SetObj = { kind: 'set', family: 'inet', table: 'sess', name: 's', key: ['ipv4_addr'] };

function elements(): string[] {
  const out = mustInNs(ns, ['nft', '-j', 'list', 'set', 'inet', 'sess', 's']);
  const parsed = JSON.parse(out) as { nftables: Array<{ set?: { elem?: string[] } }> };
  return parsed.nftables.find((o) => o.set)?.set?.elem ?? [];
}

function replaceWith(...keys: Part[]): NftTx {
  const tx = new NftTx().flush(set);
  if (keys.length > 0)
    tx.add({ kind: 'element', family: 'inet', table: 'sess', set: 's', elements: keys.map((k) => ({ key: [k] })) });
  return tx;
}

describe('NftSession (nft -i)', () => {
  before(async () => {
    ns = fx.add('n');
    session = new NftSession(new NodeExec(), { netns: fx.path(ns) });
    await session.apply(new NftTx().add({ kind: 'table', family: 'inet', name: 'sess' }).add(set), 'make the table');
  });
  after(() => {
    session.close();
    fx.cleanup();
  });

  test('many transactions land in order, each replacing the set atomically', async () => {
    for (let i = 1; i <= 40; i++) await session.apply(replaceWith(`10.0.0.${i}`, `10.0.1.${i}`), `tx ${i}`);
    assert.deepEqual(elements().sort(), ['10.0.0.40', '10.0.1.40']);
  });

  test('concurrent applies are queued: all land, the last one sent wins', async () => {
    await Promise.all(Array.from({ length: 10 }, (_, i) => session.apply(replaceWith(`10.0.2.${i + 1}`), `tx ${i}`)));
    assert.deepEqual(elements(), ['10.0.2.10']);
  });

  test("a bad transaction is refused with nft's reason and changes nothing; the session goes on", async () => {
    await session.apply(replaceWith('10.0.3.1'), 'good');
    // A prefix in a set without the interval flag: nft refuses the element, and so the batch.
    const bad = { prefix: { addr: '10.0.9.0', len: 24 } };
    await assert.rejects(session.apply(replaceWith('10.0.3.2', bad), 'bad element'), (err: Error) => {
      assert.match(err.message, /^bad element: nft: /);
      assert.match(err.message, /10\.0\.9\.0\/24/);
      return true;
    });
    assert.deepEqual(elements(), ['10.0.3.1'], 'neither the flush nor the good element of the bad transaction applied');
    await session.apply(replaceWith('10.0.3.3'), 'after');
    assert.deepEqual(elements(), ['10.0.3.3']);
  });

  test('a transaction bigger than a line goes through nft -f and lands whole', async () => {
    const ips = Array.from({ length: 6000 }, (_, i) => `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
    await session.apply(replaceWith(...ips), 'big');
    assert.equal(elements().length, 6000);
  });

  test("listings through the session are nft -j list table's, interleaved with transactions; a missing table is undefined", async () => {
    const command = new NftCommand(new NodeExec(), fx.path(ns));
    for (let i = 1; i <= 20; i++) {
      const [, listed] = await Promise.all([
        session.apply(replaceWith(`10.0.5.${i}`), `tx ${i}`),
        session.listTable('inet', 'sess'),
      ]);
      const elems = (listed as Array<{ set?: { elem?: string[] } }>).find((o) => o.set)?.set?.elem;
      assert.deepEqual(elems, [`10.0.5.${i}`], 'queued after the transaction sent before it');
    }
    assert.deepEqual(await session.listTable('inet', 'sess'), await command.listTable('inet', 'sess'));
    assert.equal(await session.listTable('inet', 'nope'), undefined);
    assert.equal(await session.listTable('bridge', 'nope'), undefined);
    await assert.rejects(session.listTable('nofamily', 'x'), /list table nofamily x: nft: /);
    await session.apply(replaceWith('10.0.5.99'), 'after the failed listings');
    assert.deepEqual(elements(), ['10.0.5.99']);
  });

  test('a killed nft -i is replaced by the next transaction', async () => {
    await session.apply(replaceWith('10.0.4.1'), 'before');
    const pid = session.pid;
    assert.ok(pid, 'a session process is running');
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && session.pid === pid; i++) await new Promise((r) => setTimeout(r, 10));
    await session.apply(replaceWith('10.0.4.2'), 'after');
    assert.notEqual(session.pid, pid);
    assert.deepEqual(elements(), ['10.0.4.2']);
  });
});
