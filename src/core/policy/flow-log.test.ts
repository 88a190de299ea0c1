// Flow logging in the policy table (flow-log.ts, policy-table.ts): the rules it renders (as nft
// text, case by case), the prefixes read back into policy names, and the property that matters
// most: over random clusters and policies, logging never changes a verdict (the packet tracer
// over the tables with and without logging, for new and invalid packets, under and over the drop
// limit), and every packet a table drops while under the limit is logged with its isolating
// policies, every new connection a group chain allows is logged with the policy that allowed it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManifest } from '../k8s/parse.js';
import type { NetworkPolicy, Protocol } from '../k8s/objects.js';
import { renderRuleBody } from '../nft/render.js';
import { tracePacket } from '../nft/trace.js';
import type { CtState } from '../nft/values.js';
import { reachVerdict, type ReachPod } from './reach.js';
import type { DirectionVerdict, RuleRef } from './evaluate.js';
import { forwardPath, planLab } from './policy-lab-model.js';
import { planPolicyTable, type PolicySetPod } from './policy-sets.js';
import { policyTableDef } from './policy-table.js';
import {
  allowPrefix,
  DEFAULT_FLOW_LOG,
  dropPrefix,
  FlowPolicyIndex,
  parseFlowPrefix,
  type FlowLogOptions,
} from './flow-log.js';
import { asReachPod, NAMESPACES, NODES, podsArb, policiesArb, policy } from '../../testkit/policy-arbitraries.js';

const LOG: FlowLogOptions = { group: 27, dropRate: 100, dropBurst: 20 };

const localPod = (ns: string, name: string, ip: string, local: boolean): PolicySetPod => ({
  namespace: ns,
  name,
  labels: { pod: name },
  ip,
  ports: [{ containerPort: 80, protocol: 'TCP', name: 'http' }],
  selectable: true,
  local,
});

function groupChainTexts(yaml: string, flowLog: FlowLogOptions | undefined): string[][] {
  const state = planPolicyTable({ namespaces: NAMESPACES, policies: parseManifest(yaml) as NetworkPolicy[] }, [
    localPod('x', 'a', '10.244.1.2', true),
    localPod('y', 'b', '10.244.2.2', false),
  ]);
  const def = policyTableDef(state, flowLog);
  return def.chains.filter((c) => c.name !== 'forward').map((c) => c.rules.map((r) => renderRuleBody(r.exprs)));
}

test('the group chain rules with and without flow logging', () => {
  const denyAll = policy('x', 'deny', 'podSelector: {}\npolicyTypes: [Ingress]');
  const allowB = policy('x', 'allow-b', 'podSelector: {}\ningress: [{ from: [{ namespaceSelector: {} }] }, {}]');
  const cases: Array<{ name: string; yaml: string; flowLog: FlowLogOptions | undefined; want: RegExp[] }> = [
    { name: 'deny all, no logging', yaml: denyAll, flowLog: undefined, want: [/^counter drop$/] },
    {
      name: 'deny all, logged: a limited log before the drop',
      yaml: denyAll,
      flowLog: LOG,
      want: [/^limit rate 100\/second burst 20 packets log group 27 prefix "weft d in-[0-9a-f]+"$/, /^counter drop$/],
    },
    {
      name: 'two allowing rules, no logging',
      yaml: allowB,
      flowLog: undefined,
      want: [/^ip saddr @\S+ return$/, /^return$/, /^counter drop$/],
    },
    {
      name: 'two allowing rules, logged: each allow logged at ct state new before it returns',
      yaml: allowB,
      flowLog: { group: 3, dropRate: 5, dropBurst: 1 },
      want: [
        /^ct state new ip saddr @(\S+) log group 3 prefix "weft a in-[0-9a-f]+ 0"$/,
        /^ip saddr @\S+ return$/,
        /^ct state new log group 3 prefix "weft a in-[0-9a-f]+ 1"$/,
        /^return$/,
        /^limit rate 5\/second burst 1 packets log group 3 prefix "weft d in-[0-9a-f]+"$/,
        /^counter drop$/,
      ],
    },
  ];
  for (const c of cases) {
    const chains = groupChainTexts(c.yaml, c.flowLog);
    assert.equal(chains.length, 1, c.name);
    const rules = chains[0]!;
    assert.equal(rules.length, c.want.length, `${c.name}: ${rules.join(' | ')}`);
    c.want.forEach((re, i) => assert.match(rules[i]!, re, c.name));
  }
});

test('prefixes: written and read back, foreign ones refused', () => {
  const cases: Array<[string, ReturnType<typeof parseFlowPrefix>]> = [
    [dropPrefix('in-0123abcd'), { verdict: 'denied', chain: 'in-0123abcd' }],
    [allowPrefix('eg-ff', 3), { verdict: 'allowed', chain: 'eg-ff', rule: 3 }],
    ['weft a in-1', undefined],
    ['weft a in-1 x', undefined],
    ['weft d', undefined],
    ['weft x in-1', undefined],
    ['other d in-1', undefined],
    ['', undefined],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseFlowPrefix(text), want, JSON.stringify(text));
  for (const p of [dropPrefix('in-0123456789abcdef'), allowPrefix('eg-0123456789abcdef', 999)])
    assert.ok(p.length <= 127, p);
});

test('the index names the policies of a chain, and keeps a vanished chain for a while', () => {
  const yaml =
    policy('x', 'deny', 'podSelector: {}\npolicyTypes: [Ingress]') +
    policy('x', 'web', 'podSelector: { matchLabels: { pod: a } }\ningress: [{ ports: [{ port: 81 }] }, {}]');
  const state = planPolicyTable({ namespaces: NAMESPACES, policies: parseManifest(yaml) as NetworkPolicy[] }, [
    localPod('x', 'a', '10.244.1.2', true),
  ]);
  const index = new FlowPolicyIndex(1);
  index.update(state.chains);
  const chain = state.chains[0]!;
  assert.deepEqual(index.decision(dropPrefix(chain.name)), {
    verdict: 'denied',
    direction: 'Ingress',
    policies: ['x/deny', 'x/web'],
  });
  assert.deepEqual(index.decision(allowPrefix(chain.name, 1)), {
    verdict: 'allowed',
    direction: 'Ingress',
    policies: ['x/web'],
    rule: 1,
  });
  assert.equal(index.decision(allowPrefix(chain.name, 9)), undefined, 'no such rule');
  assert.equal(index.decision(dropPrefix('in-unknown')), undefined, 'no such chain');
  index.update([]);
  assert.equal(index.decision(dropPrefix(chain.name))?.verdict, 'denied', 'kept one update');
  index.update([]);
  assert.equal(index.decision(dropPrefix(chain.name))?.verdict, 'denied', 'an unchanged update keeps it');
  const other = planPolicyTable(
    { namespaces: NAMESPACES, policies: parseManifest(policy('x', 'other', 'podSelector: {}')) as NetworkPolicy[] },
    [localPod('x', 'a', '10.244.1.2', true)],
  );
  index.update(other.chains);
  assert.equal(index.decision(dropPrefix(chain.name)), undefined, 'forgotten after `keep` more changes');
  assert.equal(index.decision(dropPrefix(other.chains[0]!.name))?.policies[0], 'x/other');
});

const ref = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

test('property: logging never changes a verdict, and logs every drop under the limit and every allow a policy made', () => {
  const protocols: Array<[number, Protocol]> = [
    [80, 'TCP'],
    [81, 'UDP'],
    [9000, 'SCTP'],
  ];
  fc.assert(
    fc.property(podsArb, policiesArb, (gen, yaml) => {
      const pods: ReachPod[] = gen.map((p, i) => asReachPod(p, i));
      const policies = yaml === '' ? [] : (parseManifest(yaml) as NetworkPolicy[]);
      const plain = planLab(NAMESPACES, policies, pods, NODES);
      const logged = planLab(NAMESPACES, policies, pods, NODES, DEFAULT_FLOW_LOG);
      const indexes = new Map(
        NODES.map((n) => {
          const i = new FlowPolicyIndex();
          i.update(logged.states.get(n)!.chains);
          return [n, i];
        }),
      );
      for (const from of pods)
        for (const to of pods)
          for (const node of forwardPath(from, to))
            for (const [port, protocol] of protocols)
              for (const ctState of ['new', 'invalid'] as CtState[])
                for (const overLimit of [false, true]) {
                  const packet = {
                    family: 4 as const,
                    saddr: from.ip!,
                    daddr: to.ip!,
                    protocol: protocol.toLowerCase(),
                    sport: 40000,
                    dport: port,
                    ctState,
                    overLimit,
                  };
                  const what = `${ref(from)} -> ${ref(to)} ${port}/${protocol} at ${node} (${ctState}${overLimit ? ', over the limit' : ''})`;
                  const a = tracePacket([plain.tables.get(node)!], 'forward', packet);
                  const b = tracePacket([logged.tables.get(node)!], 'forward', packet);
                  assert.equal(b.verdict, a.verdict, what);
                  const logs = b.steps.filter((s) => s.action?.startsWith('log '));
                  const decisions = logs.map((s) => indexes.get(node)!.decision(/prefix "(.*)"/.exec(s.action!)![1]!));
                  assert.ok(
                    decisions.every((d) => d !== undefined),
                    `${what}: a prefix the index cannot read`,
                  );
                  const drops = decisions.filter((d) => d!.verdict === 'denied');
                  const allows = decisions.filter((d) => d!.verdict === 'allowed');
                  // Every group chain a packet passes either allows (return) or drops it.
                  const chainsRun = b.steps.filter((s) => s.action?.startsWith('jump ')).length;
                  if (b.verdict === 'drop') assert.equal(drops.length, overLimit ? 0 : 1, `${what}: drop logs`);
                  else assert.equal(drops.length, 0, `${what}: an accepted packet logged as a drop`);
                  const allowedChains = chainsRun - (b.verdict === 'drop' ? 1 : 0);
                  assert.equal(allows.length, ctState === 'new' ? allowedChains : 0, `${what}: allow logs`);
                  // The policies logged are the ones evaluate.ts names (through reach.ts).
                  const v = reachVerdict(logged.cluster, from, to, port, protocol);
                  if (v.kind !== 'policy') continue;
                  for (const d of decisions) {
                    const side: DirectionVerdict = d!.direction === 'Ingress' ? v.verdict.ingress : v.verdict.egress;
                    if (d!.verdict === 'denied') {
                      assert.equal(side.allowed, false, `${what}: logged denied`);
                      assert.deepEqual(d!.policies, [...side.isolatedBy].sort(), `${what}: isolating policies`);
                    } else {
                      const rules = side.allowedBy.map((r: RuleRef) => `${r.policy}[${r.rule}]`);
                      assert.ok(rules.includes(`${d!.policies[0]}[${d!.rule}]`), `${what}: ${rules.join(' ')}`);
                    }
                  }
                }
    }),
    { numRuns: 150, seed: 1313 },
  );
});
