/**
 * The Nft contract: transactions and the outcome (ok or refused) and listing (through the one
 * parser, src/core/nft/listing.ts) every Nft implementation must give. Run against the fake
 * (src/testkit/nft-fake.test.ts) and against real nft in a namespace (test/nft-contract.test.ts),
 * so the fake cannot drift from the kernel unnoticed.
 *
 * Cases use the kernel's own spellings (`tcp dport`, not `meta l4proto tcp th dport`), since
 * the kernel folds the latter and the fake keeps rules as written.
 */

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTable, type ListedTable } from '../core/nft/listing.js';
import { baseChainOf } from '../core/nft/layout.js';
import {
  accept,
  counter,
  drop,
  inSet,
  jump,
  limit,
  log,
  keyId,
  match,
  prefix,
  range,
  ret,
  vmap,
  type ChainObj,
  type Element,
  type Expr,
  type RuleObj,
  type SetObj,
  type TableDef,
  type TableObj,
} from '../core/nft/model.js';
import { NftTx } from '../core/nft/tx.js';
import type { Nft } from '../ports/nft.js';

/** Gives a fresh Nft with an empty ruleset. */
export type NftMaker = () => Promise<Nft>;

const FAMILY = 'inet' as const;
const NAME = 'c';
const table: TableObj = { kind: 'table', family: FAMILY, name: NAME };
const chain = (name: string, base?: ChainObj['base']): ChainObj => ({
  kind: 'chain',
  family: FAMILY,
  table: NAME,
  name,
  ...(base ? { base } : {}),
});
const setObj = (name: string, s: Omit<SetObj, 'kind' | 'family' | 'table' | 'name'>): SetObj => ({
  kind: 'set',
  family: FAMILY,
  table: NAME,
  name,
  ...s,
});
const ruleObj = (chainName: string, exprs: readonly Expr[], comment?: string, handle?: number): RuleObj => ({
  kind: 'rule',
  family: FAMILY,
  table: NAME,
  chain: chainName,
  exprs,
  ...(comment ? { comment } : {}),
  ...(handle !== undefined ? { handle } : {}),
});
const elems = (set: string, ...elements: Element[]) => ({
  kind: 'element' as const,
  family: FAMILY,
  table: NAME,
  set,
  elements,
});

const FWD = baseChainOf('policyForward');
const PRE = baseChainOf('portmapPrerouting');
const S4: SetObj = setObj('v4', { key: ['ipv4_addr'] });
const I4: SetObj = setObj('i4', { key: ['ipv4_addr'], flags: ['interval'] });
const CI: SetObj = setObj('ci', { key: ['ipv4_addr', 'inet_service'], flags: ['interval'] });
const PM: SetObj = setObj('pm', { key: ['inet_proto', 'inet_service'], value: ['ipv4_addr', 'inet_service'] });
const VM: SetObj = setObj('vm', { key: ['ipv4_addr'], value: 'verdict' });

/** The skeleton most cases start from. */
function skeleton(): NftTx {
  return new NftTx().add(table).add(chain('entry', FWD)).add(chain('pods')).add(S4).add(I4).add(CI).add(PM).add(VM);
}

type Step = { name: string; tx: (now: ListedTable | undefined) => NftTx; ok: boolean };

interface ContractCase {
  name: string;
  steps: Step[];
  /** The table afterwards (normalized: no handles, elements sorted; undefined: no table). */
  expect: (skel: TableDef) => TableDef | undefined;
}

/** A TableDef without handles, table comment or unreadable list, elements sorted by key. */
export function normalizeTable(t: TableDef | undefined): TableDef | undefined {
  if (!t) return undefined;
  return {
    family: t.family,
    name: t.name,
    chains: [...t.chains]
      .map((c) => ({
        name: c.name,
        ...(c.base ? { base: c.base } : {}),
        ...(c.comment ? { comment: c.comment } : {}),
        rules: c.rules.map((r) => ({ exprs: r.exprs, ...(r.comment ? { comment: r.comment } : {}) })),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    sets: [...t.sets]
      .map((s) => ({
        name: s.name,
        key: s.key,
        ...(s.value !== undefined ? { value: s.value } : {}),
        ...(s.flags && s.flags.length > 0 ? { flags: [...s.flags].sort() } : {}),
        ...(s.timeout !== undefined ? { timeout: s.timeout } : {}),
        ...(s.comment !== undefined ? { comment: s.comment } : {}),
        elements: [...s.elements]
          .map((e) => ({
            key: e.key,
            ...(e.value !== undefined ? { value: e.value } : {}),
            ...(e.comment !== undefined ? { comment: e.comment } : {}),
          }))
          .sort((a, b) => keyId(a.key).localeCompare(keyId(b.key))),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

const SKELETON_DEF: TableDef = {
  family: FAMILY,
  name: NAME,
  chains: [
    { name: 'entry', base: FWD, rules: [] },
    { name: 'pods', rules: [] },
  ],
  sets: [S4, I4, CI, PM, VM].map((s) => ({
    name: s.name,
    key: s.key,
    ...(s.value !== undefined ? { value: s.value } : {}),
    ...(s.flags ? { flags: s.flags } : {}),
    elements: [],
  })),
};

function withSet(t: TableDef, name: string, elements: Element[]): TableDef {
  return { ...t, sets: t.sets.map((s) => (s.name === name ? { ...s, elements } : s)) };
}

function withRules(t: TableDef, chainName: string, rules: { exprs: readonly Expr[]; comment?: string }[]): TableDef {
  return { ...t, chains: t.chains.map((c) => (c.name === chainName ? { ...c, rules } : c)) };
}

const ok = (name: string, tx: (now: ListedTable | undefined) => NftTx): Step => ({ name, tx, ok: true });
const refused = (name: string, tx: (now: ListedTable | undefined) => NftTx): Step => ({ name, tx, ok: false });
const skel = ok('skeleton', () => skeleton());
const handleOf = (now: ListedTable | undefined, chainName: string, index: number): number => {
  const h = now?.chains.find((c) => c.name === chainName)?.rules[index]?.handle;
  if (h === undefined) throw new Error(`contract: no rule ${index} in chain ${chainName}`);
  return h;
};

const RULES = {
  established: [match('ct state', { flags: ['established', 'related'] }), accept] as Expr[],
  isolated: [inSet('ip daddr', 'v4'), jump('pods')] as Expr[],
  ports: [inSet(['ip saddr', 'th dport'], 'ci'), counter, ret] as Expr[],
  svc: [vmap('ip daddr', 'vm')] as Expr[],
  dnat: [{ kind: 'dnat', family: 'ip', to: { key: ['meta l4proto', 'th dport'], map: 'pm' } }] as Expr[],
  tcp: [match('tcp dport', range(80, 90)), match('iifname', 'lo', '!='), drop] as Expr[],
  // The policy table's flow log (src/core/policy/flow-log.ts): a logged allow and a limited drop log.
  logAllow: [match('ct state', { flags: ['new'] }), inSet('ip saddr', 'v4'), log(27, 'weft a in-1f 0')] as Expr[],
  logDrop: [limit(100, 'second', 20), log(27, 'weft d in-1f')] as Expr[],
};

export const NFT_CONTRACT_CASES: ContractCase[] = [
  {
    name: 'a full table reads back as written',
    steps: [
      skel,
      ok('rules and elements', () =>
        new NftTx()
          .add(ruleObj('entry', RULES.established, 'replies'))
          .add(ruleObj('entry', RULES.isolated))
          .add(ruleObj('pods', RULES.ports))
          .add(ruleObj('pods', RULES.svc))
          .add(ruleObj('pods', RULES.tcp))
          .add(ruleObj('pods', RULES.logAllow))
          .add(ruleObj('pods', RULES.logDrop))
          .add(ruleObj('entry', [match('ip saddr', prefix('10.0.0.0', 8)), accept]))
          .add(elems('v4', { key: ['10.0.0.1'], comment: 'pod a' }, { key: ['10.0.0.2'] }))
          .add(elems('ci', { key: [prefix('10.1.0.0', 16), range(80, 90)] }))
          .add(elems('pm', { key: ['tcp', 8080], value: ['10.0.0.5', 80], comment: 'c1/eth0' }))
          .add(chain('leaf'))
          .add(
            elems(
              'vm',
              { key: ['10.0.0.9'], value: { verdict: 'jump', chain: 'leaf' } },
              { key: ['10.0.0.10'], value: { verdict: 'drop' } },
            ),
          ),
      ),
    ],
    expect: (t) => {
      let out = withRules(t, 'entry', [
        { exprs: RULES.established, comment: 'replies' },
        { exprs: RULES.isolated },
        { exprs: [match('ip saddr', prefix('10.0.0.0', 8)), accept] },
      ]);
      out = withRules(out, 'pods', [
        { exprs: RULES.ports },
        { exprs: RULES.svc },
        { exprs: RULES.tcp },
        { exprs: RULES.logAllow },
        { exprs: RULES.logDrop },
      ]);
      out = withSet(out, 'v4', [{ key: ['10.0.0.1'], comment: 'pod a' }, { key: ['10.0.0.2'] }]);
      out = withSet(out, 'ci', [{ key: [prefix('10.1.0.0', 16), range(80, 90)] }]);
      out = withSet(out, 'pm', [{ key: ['tcp', 8080], value: ['10.0.0.5', 80], comment: 'c1/eth0' }]);
      out = { ...out, chains: [...out.chains, { name: 'leaf', rules: [] }] };
      return withSet(out, 'vm', [
        { key: ['10.0.0.10'], value: { verdict: 'drop' } },
        { key: ['10.0.0.9'], value: { verdict: 'jump', chain: 'leaf' } },
      ]);
    },
  },
  {
    name: 'unknown table, chain and set are refused',
    steps: [
      refused('chain in a missing table', () => new NftTx().add(chain('x'))),
      skel,
      refused('rule in a missing chain', () => new NftTx().add(ruleObj('nope', [accept]))),
      refused('element of a missing set', () => new NftTx().add(elems('nope', { key: ['10.0.0.1'] }))),
      refused('lookup in a missing set', () => new NftTx().add(ruleObj('pods', [inSet('ip saddr', 'nope'), accept]))),
      refused('delete a missing table', () => new NftTx().delete({ kind: 'table', family: FAMILY, name: 'nope' })),
      refused('flush a missing chain', () => new NftTx().flush(chain('nope'))),
    ],
    expect: (t) => t,
  },
  {
    name: 'add leaves existing objects alone, create refuses them',
    steps: [
      skel,
      ok('add everything again', () => skeleton()),
      refused('create the table', () => new NftTx().create(table)),
      refused('create a chain', () => new NftTx().create(chain('pods'))),
      refused('create a set', () => new NftTx().create(S4)),
      refused('add a set with another type', () => new NftTx().add({ ...S4, key: ['ipv6_addr'] })),
      refused('add a set with other flags', () => new NftTx().add({ ...S4, flags: ['interval'] })),
      refused('add a regular chain as a base chain', () => new NftTx().add(chain('pods', FWD))),
      refused('add a base chain on another hook', () => new NftTx().add(chain('entry', { ...FWD, hook: 'input' }))),
      ok('add a base chain with another policy', () => new NftTx().add(chain('entry', { ...FWD, policy: 'drop' }))),
    ],
    expect: (t) => ({
      ...t,
      chains: t.chains.map((c) => (c.name === 'entry' ? { ...c, base: { ...FWD, policy: 'drop' } } : c)),
    }),
  },
  {
    name: 'references are checked: jump targets, sets, key types',
    steps: [
      skel,
      refused('jump to a missing chain', () => new NftTx().add(ruleObj('entry', [jump('nope')]))),
      refused('jump to a base chain', () => new NftTx().add(ruleObj('pods', [jump('entry')]))),
      refused('verdict map element jumping to a missing chain', () =>
        new NftTx().add(elems('vm', { key: ['10.0.0.1'], value: { verdict: 'jump', chain: 'nope' } })),
      ),
      refused('IPv6 lookup in an IPv4 set', () => new NftTx().add(ruleObj('pods', [inSet('ip6 saddr', 'v4'), accept]))),
      refused('concatenation of the wrong length', () =>
        new NftTx().add(ruleObj('pods', [inSet(['ip saddr', 'ip daddr'], 'v4'), accept])),
      ),
      refused('vmap on a plain set', () => new NftTx().add(ruleObj('pods', [vmap('ip daddr', 'v4')]))),
      refused('IPv6 element in an IPv4 set', () => new NftTx().add(elems('v4', { key: ['fd00::1'] }))),
      refused('element of the wrong arity', () => new NftTx().add(elems('ci', { key: ['10.0.0.1'] }))),
      refused('map element without a value', () => new NftTx().add(elems('pm', { key: ['tcp', 80] }))),
      refused('set element with a value', () =>
        new NftTx().add(elems('v4', { key: ['10.0.0.1'], value: ['10.0.0.2'] })),
      ),
      refused('a verdict map that leads back into the chain that looks it up', () =>
        new NftTx()
          .add(ruleObj('entry', RULES.isolated))
          .add(ruleObj('pods', RULES.svc))
          .add(elems('vm', { key: ['10.0.0.9'], value: { verdict: 'jump', chain: 'pods' } })),
      ),
      ok('a loop of jumps no base chain reaches (the kernel checks from base chains)', () =>
        new NftTx()
          .add(chain('x'))
          .add(ruleObj('pods', [jump('x')]))
          .add(ruleObj('x', [jump('pods')])),
      ),
      refused('linking that loop to a base chain', () => new NftTx().add(ruleObj('entry', RULES.isolated))),
      ok('breaking the loop', () => new NftTx().flush(chain('pods')).flush(chain('x')).delete(chain('x'))),
      refused('dnat in a chain a filter base chain jumps to', () =>
        new NftTx().add(ruleObj('entry', RULES.isolated)).add(ruleObj('pods', RULES.dnat)),
      ),
      ok('a rule that jumps and looks up; dnat in a nat prerouting chain', () =>
        new NftTx().add(ruleObj('entry', RULES.isolated)).add(chain('pre', PRE)).add(ruleObj('pre', RULES.dnat)),
      ),
      refused('delete a chain something jumps to', () => new NftTx().delete(chain('pods'))),
      refused('delete a set a rule looks up', () => new NftTx().delete(S4)),
      ok('delete a chain with rules that nothing references', () =>
        new NftTx()
          .add(chain('spare'))
          .add(ruleObj('spare', [accept]))
          .delete(chain('spare')),
      ),
      ok('delete the rule that looked a set up, then the set', (now) =>
        new NftTx().delete(ruleObj('entry', [], undefined, handleOf(now, 'entry', 0))).delete(S4),
      ),
    ],
    expect: (t) => ({
      ...t,
      chains: [...t.chains, { name: 'pre', base: PRE, rules: [{ exprs: RULES.dnat }] }],
      sets: t.sets.filter((s) => s.name !== 'v4'),
    }),
  },
  {
    name: 'elements: duplicates, map values, delete',
    steps: [
      skel,
      ok('the same element twice, in one and two operations', () =>
        new NftTx()
          .add(elems('v4', { key: ['10.0.0.1'] }, { key: ['10.0.0.1'] }))
          .add(elems('v4', { key: ['10.0.0.1'] })),
      ),
      refused('create an existing element', () => new NftTx().create(elems('v4', { key: ['10.0.0.1'] }))),
      ok('a map element', () => new NftTx().add(elems('pm', { key: ['udp', 53], value: ['10.0.0.5', 5353] }))),
      ok('the same map element again', () =>
        new NftTx().add(elems('pm', { key: ['udp', 53], value: ['10.0.0.5', 5353] })),
      ),
      refused('the same map key with another value', () =>
        new NftTx().add(elems('pm', { key: ['udp', 53], value: ['10.0.0.6', 5353] })),
      ),
      refused('delete a missing element', () => new NftTx().delete(elems('v4', { key: ['10.9.9.9'] }))),
      ok('delete and re-add in one transaction', () =>
        new NftTx().delete(elems('v4', { key: ['10.0.0.1'] })).add(elems('v4', { key: ['10.0.0.1'] })),
      ),
      ok('protocol numbers list by name', () =>
        new NftTx().add(elems('pm', { key: [6, 443], value: ['10.0.0.7', 443] })),
      ),
    ],
    expect: (t) =>
      withSet(withSet(t, 'v4', [{ key: ['10.0.0.1'] }]), 'pm', [
        { key: ['tcp', 443], value: ['10.0.0.7', 443] },
        { key: ['udp', 53], value: ['10.0.0.5', 5353] },
      ]),
  },
  {
    name: 'intervals: flags required, overlap refused, canonical forms',
    steps: [
      skel,
      refused('a prefix in a set without the interval flag', () =>
        new NftTx().add(elems('v4', { key: [prefix('10.0.0.0', 24)] })),
      ),
      ok('a prefix', () => new NftTx().add(elems('i4', { key: [prefix('10.0.0.0', 24)] }))),
      ok('the same prefix again', () => new NftTx().add(elems('i4', { key: [prefix('10.0.0.0', 24)] }))),
      refused('an address inside it', () => new NftTx().add(elems('i4', { key: ['10.0.0.5'] }))),
      ok('an adjacent prefix', () => new NftTx().add(elems('i4', { key: [prefix('10.0.1.0', 24)] }))),
      ok('a full-length prefix and a range that is a prefix', () =>
        new NftTx().add(elems('i4', { key: [prefix('10.2.0.1', 32)] }, { key: [range('10.3.0.0', '10.3.0.255')] })),
      ),
      refused('delete part of an interval', () => new NftTx().delete(elems('i4', { key: [prefix('10.0.0.0', 25)] }))),
      ok('concatenated interval', () => new NftTx().add(elems('ci', { key: [prefix('10.0.0.0', 24), range(80, 90)] }))),
      refused('overlapping concatenated interval', () => new NftTx().add(elems('ci', { key: ['10.0.0.1', 85] }))),
      ok('disjoint in the second part', () => new NftTx().add(elems('ci', { key: ['10.0.0.1', 91] }))),
    ],
    expect: (t) =>
      withSet(
        withSet(t, 'i4', [
          { key: [prefix('10.0.0.0', 24)] },
          { key: [prefix('10.0.1.0', 24)] },
          { key: ['10.2.0.1'] },
          { key: [prefix('10.3.0.0', 24)] },
        ]),
        'ci',
        [{ key: ['10.0.0.1', 91] }, { key: [prefix('10.0.0.0', 24), range(80, 90)] }],
      ),
  },
  {
    name: 'a failed transaction changes nothing',
    steps: [
      skel,
      ok('one element', () => new NftTx().add(elems('v4', { key: ['10.0.0.1'] }))),
      refused('flush, add, then a bad element', () =>
        new NftTx()
          .flush(S4)
          .add(elems('v4', { key: ['10.0.0.2'] }))
          .add(chain('more'))
          .add(elems('v4', { key: ['bogus'] })),
      ),
      refused('delete the table, then a bad rule', () => new NftTx().delete(table).add(ruleObj('pods', [accept]))),
    ],
    expect: (t) => withSet(t, 'v4', [{ key: ['10.0.0.1'] }]),
  },
  {
    name: 'flush and delete',
    steps: [
      skel,
      ok('fill', () =>
        new NftTx()
          .add(ruleObj('pods', [accept]))
          .add(ruleObj('entry', RULES.isolated))
          .add(elems('v4', { key: ['10.0.0.1'] }))
          .add(elems('i4', { key: [prefix('10.0.0.0', 8)] })),
      ),
      ok('flush a set and a chain', () => new NftTx().flush(S4).flush(chain('pods'))),
      refused('delete an element the flush removed', () => new NftTx().delete(elems('v4', { key: ['10.0.0.1'] }))),
      ok("flush the table: every chain's rules, not the sets", () => new NftTx().flush(table)),
    ],
    expect: (t) => withSet(t, 'i4', [{ key: [prefix('10.0.0.0', 8)] }]),
  },
  {
    name: 'insert, replace and delete rules by handle',
    steps: [
      skel,
      ok('two rules', () =>
        new NftTx()
          .add(ruleObj('pods', [match('ip saddr', '10.0.0.1'), accept]))
          .add(ruleObj('pods', [match('ip saddr', '10.0.0.2'), accept])),
      ),
      ok('insert first', () => new NftTx().insert(ruleObj('pods', [counter, ret], 'first'))),
      ok('insert before the last', (now) =>
        new NftTx().insert(ruleObj('pods', [drop], undefined, handleOf(now, 'pods', 2))),
      ),
      ok('replace the second', (now) =>
        new NftTx().replace(
          ruleObj('pods', [match('ip saddr', '10.0.0.3'), accept], 'replaced', handleOf(now, 'pods', 1)),
        ),
      ),
      refused('replace a missing handle', () => new NftTx().replace(ruleObj('pods', [accept], undefined, 99999))),
      refused('delete a missing handle', () => new NftTx().delete(ruleObj('pods', [], undefined, 99999))),
    ],
    expect: (t) =>
      withRules(t, 'pods', [
        { exprs: [counter, ret], comment: 'first' },
        { exprs: [match('ip saddr', '10.0.0.3'), accept], comment: 'replaced' },
        { exprs: [drop] },
        { exprs: [match('ip saddr', '10.0.0.2'), accept] },
      ]),
  },
  {
    name: 'deleting the table removes everything',
    steps: [
      skel,
      ok('delete it', () => new NftTx().delete(table)),
      refused('delete it again', () => new NftTx().delete(table)),
    ],
    expect: () => undefined,
  },
];

/** Registers the contract's tests for one implementation. */
export function runNftContract(label: string, make: NftMaker): void {
  describe(`Nft contract: ${label}`, () => {
    for (const c of NFT_CONTRACT_CASES) {
      test(c.name, async () => {
        const nft = await make();
        const listed = async () => {
          const objects = await nft.listTable(FAMILY, NAME);
          return objects === undefined ? undefined : parseTable(objects, FAMILY, NAME);
        };
        for (const step of c.steps) {
          const tx = step.tx(await listed());
          let error: Error | undefined;
          try {
            await nft.apply(tx, `contract ${c.name}: ${step.name}`);
          } catch (err) {
            error = err as Error;
          }
          if (step.ok) assert.equal(error, undefined, `${step.name}: expected to succeed, got ${error?.message}`);
          else assert.ok(error, `${step.name}: expected nft to refuse:\n${tx.render()}`);
        }
        const after = await listed();
        assert.deepEqual(after?.unreadable ?? [], [], 'every rule is readable');
        assert.deepEqual(normalizeTable(after), normalizeTable(c.expect(SKELETON_DEF)));
      });
    }
  });
}
