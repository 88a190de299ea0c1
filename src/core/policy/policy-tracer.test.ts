// Acceptance 2 of issue 10: the packet tracer (src/core/nft/trace.ts) over the policy tables the
// agents would program equals `weft reach` (reach.ts), for every 9-pod scenario of the policy
// suite (test/support/policy-scenarios.ts, proven with real traffic by test/policy.test.ts), the
// sequences of that suite (label changes, a late pod) and the examples/policies cases, and for
// random clusters and policies (fast-check). No root: the tables are planned, not loaded.
//
// The lab as modelled here: the examples/xyz cluster on three nodes, pods spread as the lab's
// scheduler does (fewest pods first, node order on ties), addresses from each node's /24. A
// packet is traced through the forward hook of each node on its path (policy-lab-model.ts) as a
// new connection, and is allowed when every node accepts it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseManifest } from '../k8s/parse.js';
import type { Labels, Namespace, NetworkPolicy, Pod, Protocol } from '../k8s/objects.js';
import type { TableDef } from '../nft/model.js';
import { tracePacket } from '../nft/trace.js';
import { reachAllowed, reachVerdict, type ReachPod } from './reach.js';
import { forwardPath, planLab, type LabModel } from './policy-lab-model.js';
import { ALL_PORTS, nsOf, policy, SCENARIOS, type Expect, type Proto } from '../../../test/support/policy-scenarios.js';
import { asReachPod, NAMESPACES, NODES, podsArb, policiesArb } from '../../testkit/policy-arbitraries.js';

const EXAMPLES = fileURLToPath(new URL('../../../../examples/', import.meta.url));
const LAB_NODES = ['n1', 'n2', 'n3'];

/** The examples' cluster as the lab runs it: namespaces with their name label, pods spread over the nodes. */
function labCluster(file: string): { namespaces: Map<string, Labels>; pods: ReachPod[] } {
  const docs = parseManifest(readFileSync(file, 'utf8'));
  const namespaces = new Map(
    docs
      .filter((o): o is Namespace => o.kind === 'Namespace')
      .map((n) => [n.metadata.name, { ...n.metadata.labels, 'kubernetes.io/metadata.name': n.metadata.name }]),
  );
  const perNode = LAB_NODES.map(() => 0);
  const pods = docs
    .filter((o): o is Pod => o.kind === 'Pod')
    .map((p): ReachPod => {
      const n = perNode.indexOf(Math.min(...perNode));
      perNode[n]!++;
      return {
        namespace: p.metadata.namespace,
        name: p.metadata.name,
        labels: p.metadata.labels,
        ip: `10.244.${n + 1}.${perNode[n]! + 1}`,
        node: LAB_NODES[n]!,
        hostNetwork: p.spec.hostNetwork,
        ports: p.spec.containers.flatMap((c) => c.ports),
      };
    });
  return { namespaces, pods };
}

const ref = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** The verdict of the tables on the packet's path: every node's forward hook must accept it. */
function traced(
  lab: LabModel,
  from: ReachPod,
  to: ReachPod,
  port: number,
  protocol: Protocol,
): { allowed: boolean; why: string } {
  const why: string[] = [];
  for (const node of forwardPath(from, to)) {
    const table: TableDef = lab.tables.get(node)!;
    const r = tracePacket([table], 'forward', {
      family: 4,
      saddr: from.ip!,
      daddr: to.ip!,
      protocol: protocol.toLowerCase(),
      sport: 40000,
      dport: port,
      ctState: 'new',
    });
    why.push(`${node}: ${r.verdict} (${r.steps.map((s) => s.comment ?? `${s.chain}[${s.rule}]`).join(' / ')})`);
    if (r.verdict !== 'accept') return { allowed: false, why: why.join('; ') };
  }
  return { allowed: true, why: why.join('; ') };
}

/** Every ordered pair and port: the tracer's verdict against reach's; returns the differences. */
function compare(
  lab: LabModel,
  ports: ReadonlyArray<readonly [number, Protocol]>,
  expect?: Expect,
  skip?: (from: ReachPod, to: ReachPod) => boolean,
): string[] {
  const out: string[] = [];
  for (const from of lab.pods) {
    for (const to of lab.pods) {
      if (skip?.(from, to)) continue;
      for (const [port, protocol] of ports) {
        const want = reachAllowed(reachVerdict(lab.cluster, from, to, port, protocol));
        const got = traced(lab, from, to, port, protocol);
        if (got.allowed !== want)
          out.push(`${ref(from)} -> ${ref(to)} ${port}/${protocol}: reach ${want}, tracer ${got.allowed}: ${got.why}`);
        if (expect && protocol !== 'SCTP') {
          const wanted = ref(from) === ref(to) || expect(ref(from), ref(to), port, protocol as Proto);
          if (want !== wanted)
            out.push(`${ref(from)} -> ${ref(to)} ${port}/${protocol}: reach ${want}, the scenario says ${wanted}`);
        }
      }
    }
  }
  return out;
}

const XYZ = labCluster(`${EXAMPLES}xyz/cluster.yaml`);
const ipOf = (r: string) => XYZ.pods.find((p) => ref(p) === r)!.ip!;
const policiesOf = (yaml: string) => (yaml === '' ? [] : (parseManifest(yaml) as NetworkPolicy[]));
/** The scenario's ports, and SCTP, which no pod serves but a rule may name. */
const withSctp = (ports: ReadonlyArray<readonly [number, Proto]>): Array<readonly [number, Protocol]> => [
  ...ports,
  [80, 'SCTP'],
];

for (const s of SCENARIOS) {
  test(`tracer equals reach: ${s.name}`, () => {
    const yaml = typeof s.yaml === 'function' ? s.yaml(ipOf) : s.yaml;
    const lab = planLab(XYZ.namespaces, policiesOf(yaml), XYZ.pods, LAB_NODES);
    assert.deepEqual(compare(lab, withSctp(s.ports ?? ALL_PORTS), s.expect), []);
  });
}

test('tracer equals reach: the sequences of the suite (a pod label, a namespace label, a changed policy, a late pod)', () => {
  const teamBlue = policy(
    'x',
    'p',
    'podSelector: {}\ningress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { team: blue } } }] }]',
  );
  const relabel = (r: string, labels: Labels) => XYZ.pods.map((p) => (ref(p) === r ? { ...p, labels } : p));
  const prodZ = new Map([...XYZ.namespaces].map(([n, l]) => [n, n === 'z' ? { ...l, role: 'prod' } : l]));
  const lateD: ReachPod = {
    namespace: 'x',
    name: 'd',
    labels: { pod: 'd' },
    ip: '10.244.1.9',
    node: 'n1',
    hostNetwork: false,
    ports: XYZ.pods[0]!.ports,
  };
  const cases: Array<[string, LabModel, Expect]> = [
    [
      'team=blue on y/a',
      planLab(XYZ.namespaces, policiesOf(teamBlue), relabel('y/a', { pod: 'a', team: 'blue' }), LAB_NODES),
      (f, t) => nsOf(t) !== 'x' || f === 'y/a',
    ],
    [
      'role=prod on z',
      planLab(
        prodZ,
        policiesOf(
          policy(
            'x',
            'p',
            'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { role: prod } } }] }]',
          ),
        ),
        XYZ.pods,
        LAB_NODES,
      ),
      (f, t) => nsOf(t) !== 'x' || nsOf(f) === 'z',
    ],
    [
      'allow from z (was y)',
      planLab(
        XYZ.namespaces,
        policiesOf(
          policy('x', 'p', 'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: z } } }] }]'),
        ),
        XYZ.pods,
        LAB_NODES,
      ),
      (f, t) => nsOf(t) !== 'x' || nsOf(f) === 'z',
    ],
    [
      'late pod x/d, denied',
      planLab(
        XYZ.namespaces,
        policiesOf(policy('x', 'deny', 'podSelector: { matchLabels: { pod: d } }')),
        [...XYZ.pods, lateD],
        LAB_NODES,
      ),
      (_f, t) => t !== 'x/d',
    ],
  ];
  for (const [name, lab, expect] of cases) assert.deepEqual(compare(lab, withSctp(ALL_PORTS), expect), [], name);
});

test('tracer equals reach: the examples of examples/policies', () => {
  const shop = labCluster(`${EXAMPLES}policies/00-cluster.yaml`);
  const files = [
    'deny-all-to-nginx.yaml',
    'allow-demo-to-nginx.yaml',
    'default-deny-namespace.yaml',
    'deny-other-namespaces.yaml',
    'allow-prod-namespaces.yaml',
    'allow-external-80.yaml',
  ];
  for (const f of files) {
    const lab = planLab(
      shop.namespaces,
      policiesOf(readFileSync(`${EXAMPLES}policies/${f}`, 'utf8')),
      shop.pods,
      LAB_NODES,
    );
    assert.deepEqual(compare(lab, withSctp(ALL_PORTS)), [], f);
  }
});

test('property: over random clusters and policies the tracer gives evaluate.ts verdict (through reach.ts)', () => {
  fc.assert(
    fc.property(podsArb, policiesArb, (gen, yaml) => {
      const pods = gen.map((p, i) => asReachPod(p, i));
      const lab = planLab(NAMESPACES, policiesOf(yaml), pods, NODES);
      // Left out: a pod's packet to its own node's hostNetwork pod (the known gap in policy-lab-model.ts).
      const out = compare(
        lab,
        [
          [80, 'TCP'],
          [81, 'UDP'],
          [9000, 'SCTP'],
        ],
        undefined,
        (from, to) => !from.hostNetwork && to.hostNetwork && from.node === to.node,
      );
      assert.deepEqual(out, [], yaml);
    }),
    { numRuns: 200, seed: 3030 },
  );
});
