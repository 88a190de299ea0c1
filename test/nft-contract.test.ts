/**
 * The Nft contract (src/testkit/nft-contract.ts) against real nft, in a namespace of its own
 * (prefix weft-nftc-): the same transactions as the fake's unit test, the same outcomes, the
 * same listings through the parser. Both the one-shot `nft -f` adapter and the `nft -i` session
 * are held to it.
 */

import { after, before } from 'node:test';
import { NodeExec } from '../src/adapters/exec.js';
import { NftCommand } from '../src/adapters/nft.js';
import { NftSession } from '../src/adapters/nft-session.js';
import { runNftContract } from '../src/testkit/nft-contract.js';
import { Netns, mustInNs } from './support/netns.js';

const fx = new Netns('weft-nftc-');
let ns = '';
let session: NftSession | undefined;

before(() => {
  ns = fx.add('n');
});
after(() => {
  session?.close();
  fx.cleanup();
});

runNftContract('nft -f (NftCommand)', () => {
  mustInNs(ns, ['nft', 'flush', 'ruleset']);
  return Promise.resolve(new NftCommand(new NodeExec(), fx.path(ns)));
});

runNftContract('nft -i (NftSession)', () => {
  mustInNs(ns, ['nft', 'flush', 'ruleset']);
  session ??= new NftSession(new NodeExec(), { netns: fx.path(ns) });
  return Promise.resolve(session);
});
