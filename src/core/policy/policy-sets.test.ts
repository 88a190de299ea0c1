// The shared-set planner: what it builds for the classic cases (sets shared per selector, named
// ports per destination, one verdict-map entry per local pod), and two invariants over random
// clusters: the incremental planner equals planning from scratch after any sequence of pod
// changes, and a small interpreter of the planned state gives reach.ts's verdict for every
// packet. (The nftables tracer test, policy-tracer.test.ts, checks the rendered table likewise.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManifest } from '../k8s/parse.js';
import type { NetworkPolicy, Protocol } from '../k8s/objects.js';
import {
  asReachPod,
  asSetPod,
  ipOf,
  labelsArb,
  NODES,
  podsArb,
  policiesArb,
} from '../../testkit/policy-arbitraries.js';
import type { PolicyCluster } from './evaluate.js';
import { reachAllowed, reachVerdict } from './reach.js';
import {
  elementKey,
  planPolicyTable,
  PolicySetPlanner,
  type PolicySetPod,
  type PolicyTableState,
} from './policy-sets.js';
import { POLICY_OBJECTS } from '../names.js';
import { tryParseIp } from '../net/ip.js';

const PORTS = [
  { containerPort: 80, protocol: 'TCP' as const, name: 'http' },
  { containerPort: 9000, protocol: 'SCTP' as const, name: 'sig' },
  { containerPort: 53, protocol: 'UDP' as const, name: 'dns' },
];
const pod = (
  ns: string,
  name: string,
  ip: string,
  local: boolean,
  extra: Partial<PolicySetPod> = {},
): PolicySetPod => ({ namespace: ns, name, labels: { pod: name }, ip, ports: PORTS, local, ...extra });

function policies(yaml: string): NetworkPolicy[] {
  return parseManifest(yaml) as NetworkPolicy[];
}
function policy(ns: string, name: string, spec: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`;
}
const NAMESPACES = new Map([
  ['x', { ns: 'x' }],
  ['y', { ns: 'y' }],
  ['z', { ns: 'z' }],
]);
const cluster = (yaml: string): PolicyCluster => ({
  namespaces: NAMESPACES,
  policies: yaml === '' ? [] : policies(yaml),
});
const setOf = (s: PolicyTableState, name: string) => s.sets.find((x) => x.name === name);
const keysOf = (s: PolicyTableState, name: string) => setOf(s, name)?.elements.map(elementKey).sort();

test('no policy: nothing isolated, no sets besides an empty self set', () => {
  const s = planPolicyTable(cluster(''), [pod('x', 'a', '10.244.1.2', true)]);
  assert.deepEqual(s.chains, []);
  assert.deepEqual(s.ingressPods, []);
  assert.deepEqual(
    s.sets.map((x) => [x.name, x.elements.length]),
    [[POLICY_OBJECTS.selfSet, 0]],
  );
});

test('one peer set shared by every policy with the same namespaceSelector, one map entry per local pod', () => {
  const yaml = ['x', 'y']
    .map((ns) =>
      policy(ns, 'from-z', 'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: z } } }] }]'),
    )
    .join('');
  const pods = [
    pod('x', 'a', '10.244.1.2', true),
    pod('y', 'a', '10.244.1.3', true),
    pod('z', 'a', '10.244.2.2', false),
    pod('z', 'b', '10.244.2.3', false),
  ];
  const s = planPolicyTable(cluster(yaml), pods);
  const peers = s.sets.filter((x) => x.name.startsWith('peer-'));
  assert.equal(peers.length, 1);
  assert.deepEqual(peers[0]!.elements.map(elementKey).sort(), ['10.244.2.2', '10.244.2.3']);
  assert.deepEqual(s.ingressPods.map((p) => p.addr).sort(), ['10.244.1.2', '10.244.1.3']);
  assert.equal(s.chains.length, 2, 'one chain per group (x/from-z, y/from-z)');
  assert.match(s.chains[0]!.rules[0]!.comment, /^x\/from-z ingress\[0\]$/);
});

test('a podSelector peer alone stays in the policy namespace; hostNetwork pods are in no selector set', () => {
  const yaml = policy(
    'x',
    'p',
    'podSelector: {}\ningress: [{ from: [{ podSelector: {} }] }, { from: [{ namespaceSelector: {} }] }]',
  );
  const pods = [
    pod('x', 'a', '10.244.1.2', true),
    pod('y', 'a', '10.244.2.2', false),
    pod('y', 'h', '10.99.0.2', false, { selectable: false }),
  ];
  const s = planPolicyTable(cluster(yaml), pods);
  const peers = s.sets.filter((x) => x.name.startsWith('peer-')).map((x) => x.elements.map(elementKey).sort());
  assert.deepEqual(peers.sort(), [['10.244.1.2'], ['10.244.1.2', '10.244.2.2']]);
});

test('ipBlock except becomes intervals; ports merge per protocol into one shared port set', () => {
  const yaml = policy(
    'x',
    'p',
    'podSelector: {}\ningress: [{ from: [{ ipBlock: { cidr: 10.0.0.0/8, except: [10.1.0.0/16] } }], ports: [{ port: 80 }, { port: 81, endPort: 90 }, { protocol: SCTP }, { protocol: UDP, port: 53 }] }]',
  );
  const s = planPolicyTable(cluster(yaml), [pod('x', 'a', '10.244.1.2', true)]);
  const block = s.sets.find((x) => x.name.startsWith('block-'))!;
  assert.deepEqual(block.elements.map(elementKey), ['10.0.0.0-10.0.255.255', '10.2.0.0-10.255.255.255']);
  const ports = s.sets.find((x) => x.name.startsWith('ports-'))!;
  assert.deepEqual(ports.elements.map(elementKey), ['tcp . 80-90', 'udp . 53', 'sctp . 0-65535']);
  assert.deepEqual(
    s.chains[0]!.rules[0]!.matches.map((m) => m.match),
    ['saddr', 'proto-port'],
  );
});

test('named ports: on ingress resolved on the local pods, on egress on each destination pod of the peer', () => {
  const other = { ports: [{ containerPort: 8080, protocol: 'TCP' as const, name: 'http' }] };
  const yaml =
    policy('x', 'in', 'podSelector: {}\ningress: [{ ports: [{ port: http }] }]') +
    policy(
      'x',
      'out',
      'podSelector: {}\npolicyTypes: [Egress]\negress: [{ to: [{ namespaceSelector: { matchLabels: { ns: y } } }], ports: [{ port: http }] }]',
    );
  const pods = [
    pod('x', 'a', '10.244.1.2', true),
    pod('x', 'b', '10.244.2.9', false, other),
    pod('y', 'a', '10.244.2.2', false, other),
    pod('y', 'b', '10.244.2.3', false, { ports: [] }),
  ];
  const s = planPolicyTable(cluster(yaml), pods);
  assert.deepEqual(keysOf(s, s.sets.find((x) => x.name.startsWith('named-in-'))!.name), ['10.244.1.2 . tcp . 80']);
  assert.deepEqual(keysOf(s, s.sets.find((x) => x.name.startsWith('named-eg-'))!.name), ['10.244.2.2 . tcp . 8080']);
});

test('the sets of a policy selecting no local pod are not on the node', () => {
  const yaml = policy(
    'y',
    'p',
    'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: z } } }] }]',
  );
  const s = planPolicyTable(cluster(yaml), [
    pod('x', 'a', '10.244.1.2', true),
    pod('y', 'a', '10.244.2.2', false),
    pod('z', 'a', '10.244.3.2', false),
  ]);
  assert.deepEqual(
    s.sets.map((x) => x.name),
    [POLICY_OBJECTS.selfSet],
  );
});

test('a label change moves only that pod: its peer-set element and its group', () => {
  const yaml = policy(
    'x',
    'p',
    'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { team: blue } } }] }]',
  );
  const planner = new PolicySetPlanner();
  planner.setCluster(cluster(yaml));
  planner.setPods([
    pod('x', 'a', '10.244.1.2', true),
    pod('y', 'a', '10.244.2.2', false),
    pod('x', 'b', '10.244.1.3', true),
  ]);
  const peer = () =>
    planner
      .state()
      .sets.find((x) => x.name.startsWith('peer-'))!
      .elements.map(elementKey);
  assert.deepEqual(peer(), []);
  assert.equal(
    planner.setPods([
      pod('x', 'a', '10.244.1.2', true),
      pod('y', 'a', '10.244.2.2', false, { labels: { pod: 'a', team: 'blue' } }),
      pod('x', 'b', '10.244.1.3', true),
    ]),
    1,
  );
  assert.deepEqual(peer(), ['10.244.2.2']);
  // x/b takes pod=a: it joins the group; x/a leaves it (the policy stays, selecting x/b).
  planner.upsertPod(pod('x', 'b', '10.244.1.3', true, { labels: { pod: 'a' } }));
  planner.upsertPod(pod('x', 'a', '10.244.1.2', true, { labels: { pod: 'z' } }));
  assert.deepEqual(
    planner.state().ingressPods.map((p) => p.addr),
    ['10.244.1.3'],
  );
  planner.deletePod('x/b');
  assert.deepEqual(planner.state().chains, []);
  assert.deepEqual(
    planner.state().sets.map((x) => x.name),
    [POLICY_OBJECTS.selfSet],
  );
});

// ---- random clusters (src/testkit/policy-arbitraries.ts) -----------------------------------

function normalize(s: PolicyTableState): unknown {
  return {
    sets: s.sets
      .map((x) => ({ ...x, elements: x.elements.map(elementKey).sort() }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
    chains: [...s.chains].sort((a, b) => (a.name < b.name ? -1 : 1)),
    ingressPods: [...s.ingressPods].sort((a, b) => (a.addr < b.addr ? -1 : 1)),
    egressPods: [...s.egressPods].sort((a, b) => (a.addr < b.addr ? -1 : 1)),
  };
}

test('property: after any sequence of pod changes, the incremental planner equals a plan from scratch', () => {
  fc.assert(
    fc.property(
      podsArb,
      policiesArb,
      fc.array(fc.tuple(fc.nat(8), labelsArb, fc.boolean()), { maxLength: 6 }),
      (gen, yaml, changes) => {
        const c = cluster(yaml);
        const planner = new PolicySetPlanner();
        planner.setCluster(c);
        let pods = gen.map((p, i) => asSetPod(p, i, 'n1'));
        planner.setPods(pods);
        for (const [which, labels, remove] of changes) {
          const i = which % pods.length;
          if (remove && pods.length > 1) {
            planner.deletePod(`${pods[i]!.namespace}/${pods[i]!.name}`);
            pods = pods.filter((_, j) => j !== i);
          } else {
            pods = pods.map((p, j) => (j === i ? { ...p, labels } : p));
            planner.upsertPod(pods[i]!);
          }
          assert.deepEqual(normalize(planner.state()), normalize(planPolicyTable(c, pods)));
        }
      },
    ),
    { numRuns: 300, seed: 1010 },
  );
});

/** Follows a node's planned state for one packet, as the forward chain would (see policy-table.ts). */
function passes(s: PolicyTableState, src: string, dst: string, port: number, protocol: Protocol): boolean {
  const v4 = (a: string) => tryParseIp(a)!.value;
  const inSet = (name: string, key: { addr?: string; proto?: Protocol; port?: number }) => {
    const set = s.sets.find((x) => x.name === name)!;
    return set.elements.some((e) => {
      switch (e.type) {
        case 'addr':
          return e.addr === key.addr;
        case 'addr-interval':
          return v4(key.addr!) >= v4(e.from) && v4(key.addr!) <= v4(e.to);
        case 'proto-port-interval':
          return e.protocol === key.proto && key.port! >= e.from && key.port! <= e.to;
        case 'addr-proto-port':
          return e.addr === key.addr && e.protocol === key.proto && e.port === key.port;
        case 'addr-pair':
          return e.a === src && e.b === dst;
      }
    });
  };
  if (inSet(POLICY_OBJECTS.selfSet, {})) return true;
  const check = (chainName: string | undefined) => {
    if (!chainName) return true;
    const chain = s.chains.find((c) => c.name === chainName)!;
    return chain.rules.some((r) =>
      r.matches.every((m) => {
        if (m.match === 'saddr') return inSet(m.set, { addr: src });
        if (m.match === 'daddr') return inSet(m.set, { addr: dst });
        if (m.match === 'proto-port') return inSet(m.set, { proto: protocol, port });
        return inSet(m.set, { addr: dst, proto: protocol, port });
      }),
    );
  };
  return (
    check(s.egressPods.find((p) => p.addr === src)?.chain) && check(s.ingressPods.find((p) => p.addr === dst)?.chain)
  );
}

test('property: following the planned sets of the nodes on the path gives reach.ts verdict', () => {
  fc.assert(
    fc.property(podsArb, policiesArb, (gen, yaml) => {
      const c = cluster(yaml);
      const states = new Map(
        NODES.map((n) => [
          n,
          planPolicyTable(
            c,
            gen.map((p, i) => asSetPod(p, i, n)),
          ),
        ]),
      );
      for (const [i, from] of gen.entries()) {
        for (const [j, to] of gen.entries()) {
          for (const [port, protocol] of [
            [80, 'TCP'],
            [81, 'UDP'],
            [9000, 'SCTP'],
          ] as const) {
            const want = reachAllowed(reachVerdict(c, asReachPod(from, i), asReachPod(to, j), port, protocol));
            // Which forward hooks the packet passes: a hostNetwork source sends from its node
            // (output hook), a hostNetwork destination is its node (input hook); between the ends
            // of one node nothing is forwarded. Known gap, as before this planner: a pod's
            // traffic to its own node's address meets only the input hook, which this table does
            // not filter, so egress isolation does not cover it; that case is left out here.
            if (!from.host && to.host && from.node === to.node) continue;
            const nodes = new Set<string>();
            if (!from.host) nodes.add(from.node);
            if (!to.host && !(from.host && from.node === to.node)) nodes.add(to.node);
            const got = [...nodes].every((n) => passes(states.get(n)!, ipOf(from, i), ipOf(to, j), port, protocol));
            assert.equal(got, want, `${from.ns}/${from.name} -> ${to.ns}/${to.name} ${port}/${protocol}\n${yaml}`);
          }
        }
      }
    }),
    { numRuns: 300, seed: 2020 },
  );
});
