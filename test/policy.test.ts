/**
 * NetworkPolicy enforced by the agents (nftables), proven with real traffic: the e2e cluster
 * (namespaces x, y, z; pods a, b, c serving 80 and 81 on TCP and UDP) on a 3-node lab, and a
 * table of scenarios. For each, the full matrix from `weft probe` on 80/TCP, 81/TCP and 80/UDP (and
 * 81/UDP where rules name ports or protocols)
 * equals the matrix written in the test, and `weft reach` (computed from the objects alone)
 * gives the same. Policies are removed after each scenario; label changes are undone. The table
 * of scenarios is shared with the tracer test (test/support/policy-scenarios.ts).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { requireRoot } from './support/netns.js';
import { spawn } from 'node:child_process';
import { CLI, EXAMPLES, TestLab } from './support/lab.js';
import { confirmed } from './support/lab-matrix.js';

import { ALL, nsOf, policy, PORTS, SCENARIOS, type Expect, type Proto } from './support/policy-scenarios.js';

describe('NetworkPolicy enforced on a 3-node lab (vxlan)', { timeout: 1_800_000 }, () => {
  requireRoot();
  const lab = new TestLab('tpol');
  const file = (name: string, text: string) => lab.file(name, text);

  before(() => lab.upWithExample());
  after(() => {
    lab.down();
  });

  function matrix(cmd: 'probe' | 'reach', port: number, proto: Proto): Map<string, boolean> {
    const args = [
      cmd,
      '-A',
      '--port',
      String(port),
      '--protocol',
      proto,
      '-o',
      'json',
      ...(cmd === 'probe' ? ['--timeout-ms', '600'] : []),
    ];
    const m = JSON.parse(lab.must(args)) as {
      results: Array<{ from: string; to: string; connected?: boolean; allowed?: boolean }>;
    };
    return new Map(m.results.map((r) => [`${r.from}>${r.to}`, (cmd === 'probe' ? r.connected : r.allowed) ?? false]));
  }

  /** Pairs where the matrix differs from `expect` (which must already say what a pod to itself does). */
  function diff(got: Map<string, boolean>, expect: Expect, port: number, proto: Proto): string[] {
    const out: string[] = [];
    for (const [pair, v] of got) {
      const [from, to] = pair.split('>') as [string, string];
      const want = expect(from, to, port, proto);
      if (v !== want) out.push(`${pair} on ${port}/${proto}: want ${want}, got ${v}`);
    }
    return out;
  }

  /** The probe matrix's differences from `expect`, confirmed (test/support/lab-matrix.ts). */
  function probeDiff(port: number, proto: Proto, expect: Expect): string[] {
    return confirmed(
      () => diff(matrix('probe', port, proto), expect, port, proto),
      (d) => d.endsWith('want false, got true'),
    );
  }

  /**
   * Waits until the probe matrix on the first port equals the expectation (every agent applies
   * rules within a poll), then checks every port with probe and reach. `serves` says which ports
   * a destination serves at all: probe sees only those, reach judges the policies alone.
   */
  async function expectMatrix(
    expect: Expect,
    serves: Expect = ALL,
    ports: Array<[number, Proto]> = PORTS,
  ): Promise<void> {
    const [p0, q0] = PORTS[0]!;
    // A pod can always reach itself (where it serves the port).
    const allowed: Expect = (f, t, port, proto) => f === t || expect(f, t, port, proto);
    const reachable: Expect = (f, t, port, proto) => allowed(f, t, port, proto) && serves(f, t, port, proto);
    const end = Date.now() + 15_000;
    let last: string[] = [];
    for (;;) {
      last = diff(matrix('probe', p0, q0), reachable, p0, q0);
      if (last.length === 0 || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.deepEqual(last, [], 'probe (first port) never matched');
    for (const [port, proto] of ports) {
      assert.deepEqual(diff(matrix('reach', port, proto), allowed, port, proto), [], `reach ${port}/${proto}`);
      if (port !== p0 || proto !== q0)
        assert.deepEqual(probeDiff(port, proto, reachable), [], `probe ${port}/${proto}`);
    }
  }

  const ipOf = (ref: string) =>
    lab.pods().find((p) => `${p.metadata.namespace}/${p.metadata.name}` === ref)!.status.podIP!;

  for (const s of SCENARIOS) {
    test(`scenario: ${s.name}`, async () => {
      const yaml = typeof s.yaml === 'function' ? s.yaml(ipOf) : s.yaml;
      const f = yaml === '' ? undefined : file('policies.yaml', yaml);
      if (f) lab.must(['apply', '-f', f]);
      try {
        await expectMatrix(s.expect, ALL, s.ports);
      } finally {
        if (f) lab.must(['delete', '-f', f]);
      }
    });
  }

  test('scenario: a pod label change takes effect (team=blue on y/a is let in, then removed)', async () => {
    const f = file(
      'label.yaml',
      policy(
        'x',
        'p',
        'podSelector: {}\ningress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { team: blue } } }] }]',
      ),
    );
    lab.must(['apply', '-f', f]);
    try {
      await expectMatrix((_f, t) => nsOf(t) !== 'x');
      lab.must(['label', 'pod', 'a', '-n', 'y', 'team=blue']);
      await expectMatrix((fr, t) => nsOf(t) !== 'x' || fr === 'y/a');
      lab.must(['label', 'pod', 'a', '-n', 'y', 'team-']);
      await expectMatrix((_f, t) => nsOf(t) !== 'x');
    } finally {
      lab.must(['delete', '-f', f]);
    }
  });

  test('scenario: a namespace label change takes effect (role=prod on z)', async () => {
    const f = file(
      'nslabel.yaml',
      policy(
        'x',
        'p',
        'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { role: prod } } }] }]',
      ),
    );
    lab.must(['apply', '-f', f]);
    try {
      await expectMatrix((_f, t) => nsOf(t) !== 'x');
      lab.must(['label', 'namespace', 'z', 'role=prod']);
      await expectMatrix((fr, t) => nsOf(t) !== 'x' || nsOf(fr) === 'z');
    } finally {
      lab.must(['label', 'namespace', 'z', 'role-']);
      lab.must(['delete', '-f', f]);
    }
  });

  test('scenario: a policy changing while traffic runs (allow from y becomes allow from z)', async () => {
    const spec = (ns: string) =>
      `podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: ${ns} } } }] }]`;
    const f = file('change.yaml', policy('x', 'p', spec('y')));
    lab.must(['apply', '-f', f]);
    try {
      await expectMatrix((fr, t) => nsOf(t) !== 'x' || nsOf(fr) === 'y');
      lab.must(['apply', '-f', file('change.yaml', policy('x', 'p', spec('z')))]);
      await expectMatrix((fr, t) => nsOf(t) !== 'x' || nsOf(fr) === 'z');
    } finally {
      lab.must(['delete', '-f', f]);
    }
  });

  test('scenario: a pod created after the policy is isolated as soon as it runs', async () => {
    const f = file('late.yaml', policy('x', 'deny', 'podSelector: { matchLabels: { pod: d } }'));
    const pod = file(
      'd.yaml',
      'apiVersion: v1\nkind: Pod\nmetadata: { name: d, namespace: x, labels: { pod: d } }\nspec: { containers: [{ name: s, ports: [{ containerPort: 80 }, { containerPort: 81 }, { containerPort: 80, protocol: UDP }, { containerPort: 81, protocol: UDP }] }] }\n',
    );
    lab.must(['apply', '-f', f]);
    lab.must(['apply', '-f', pod]);
    try {
      await expectMatrix((_fr, t) => t !== 'x/d');
    } finally {
      lab.must(['delete', '-f', pod]);
      lab.must(['delete', '-f', f]);
    }
  });

  test('the policy examples of examples/policies behave as their names say (probe agrees with reach)', async () => {
    const base = join(EXAMPLES, 'policies', '00-cluster.yaml');
    // What the example pods serve (the x, y, z pods serve everything probed here).
    const served: Record<string, string[]> = {
      'shop/nginx': ['80/TCP'],
      'shop/demo': ['80/TCP'],
      'shop/web': ['80/TCP', '81/TCP'],
      'dev/client': ['80/TCP'],
    };
    const serves: Expect = (_f, t, port, proto) => served[t]?.includes(`${port}/${proto}`) ?? true;
    lab.must(['apply', '-f', base]);
    try {
      const cases: Array<[string, Expect]> = [
        ['deny-all-to-nginx.yaml', (_f, t) => t !== 'shop/nginx'],
        ['allow-demo-to-nginx.yaml', (f, t) => t !== 'shop/nginx' || f === 'shop/demo'],
        ['default-deny-namespace.yaml', (_f, t) => nsOf(t) !== 'shop'],
        ['deny-other-namespaces.yaml', (f, t) => nsOf(t) !== 'shop' || nsOf(f) === 'shop'],
        ['allow-prod-namespaces.yaml', (f, t) => t !== 'shop/nginx' || nsOf(f) === 'shop'],
        ['allow-external-80.yaml', (_f, t, port, proto) => t !== 'shop/web' || (port === 80 && proto === 'TCP')],
      ];
      for (const [name, expect] of cases) {
        const f = join(EXAMPLES, 'policies', name);
        lab.must(['apply', '-f', f]);
        try {
          await expectMatrix(expect, serves);
        } finally {
          lab.must(['delete', '-f', f]);
        }
      }
    } finally {
      lab.must(['delete', '-f', base]);
    }
  });

  test('conntrack: a UDP flow allowed before a deny keeps flowing (replies of allowed flows), a new one is refused; probe uses fresh source ports', async () => {
    const CONNECT = join(dirname(CLI), '..', 'lab', 'connect.js');
    const send = (sport: number) =>
      lab.weft([
        'exec',
        '-n',
        'x',
        'a',
        '--',
        process.execPath,
        CONNECT,
        'udp',
        ipOf('y/c'),
        '80',
        '800',
        `ct-${sport}`,
        String(sport),
      ]).status === 0;
    assert.equal(send(45555), true, 'no policy yet: the flow from source port 45555 is echoed');
    const f = file('ct.yaml', policy('x', 'deny', 'podSelector: {}\npolicyTypes: [Egress]'));
    lab.must(['apply', '-f', f]);
    try {
      await expectMatrix((fr) => nsOf(fr) !== 'x');
      assert.equal(send(45555), true, 'the remembered flow (same 5-tuple) is established: still let through');
      assert.equal(send(45556), false, 'a new flow from x/a is refused');
    } finally {
      lab.must(['delete', '-f', f]);
    }
  });

  test('fail closed: agents killed (kill -9) and restarted; isolated pods stay isolated throughout, allowed traffic flows', async () => {
    const f = file(
      'closed.yaml',
      policy('x', 'p', 'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]'),
    );
    lab.must(['apply', '-f', f]);
    const expect: Expect = (fr, t) => nsOf(t) !== 'x' || nsOf(fr) === 'y';
    try {
      await expectMatrix(expect);
      const rec = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as { nodes: Array<{ agentPid: number }> };
      for (const n of rec.nodes) process.kill(n.agentPid, 'SIGKILL');
      // While no agent runs, and while they start again, every probe must already be exact.
      const withSelf: Expect = (fr, t, p, q) => fr === t || expect(fr, t, p, q);
      assert.deepEqual(probeDiff(80, 'TCP', withSelf), [], 'agents down');
      const restart = spawn(process.execPath, [CLI, 'lab', 'restart-agents', '--name', lab.name], {
        env: lab.env,
        stdio: 'ignore',
      });
      const restarted = new Promise<number | null>((resolve) => restart.on('exit', (code) => resolve(code)));
      let done = false;
      void restarted.then(() => (done = true));
      let rounds = 0;
      while (!done || rounds < 3) {
        assert.deepEqual(probeDiff(80, 'TCP', withSelf), [], `during the restart (round ${rounds})`);
        rounds++;
        // matrix() blocks in spawnSync: let the event loop see the restart command exit.
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(await restarted, 0);
      await expectMatrix(expect);
    } finally {
      lab.must(['delete', '-f', f]);
    }
  });

  test('property: random policies over the nine pods; probe equals reach (seeded)', async () => {
    const sel = fc.oneof(
      fc.constant('{}'),
      fc.constantFrom('a', 'b', 'c').map((p) => `{ matchLabels: { pod: ${p} } }`),
    );
    const nsSel = fc.oneof(
      fc.constant('{}'),
      fc.constantFrom('x', 'y', 'z').map((n) => `{ matchLabels: { ns: ${n} } }`),
    );
    const peer = fc.oneof(
      sel.map((s) => `{ podSelector: ${s} }`),
      nsSel.map((s) => `{ namespaceSelector: ${s} }`),
      fc.tuple(nsSel, sel).map(([n, s]) => `{ namespaceSelector: ${n}, podSelector: ${s} }`),
    );
    const port = fc.constantFrom(
      '',
      '{ port: 80 }',
      '{ port: 81 }',
      '{ port: serve-80-tcp }',
      '{ port: 80, endPort: 81 }',
      '{ port: 80, protocol: UDP }',
    );
    const rule = fc
      .tuple(fc.array(peer, { maxLength: 2 }), port)
      .map(([peers, p]) => `{ from: [${peers.join(', ')}]${p ? `, ports: [${p}]` : ''} }`);
    const pol = fc.tuple(fc.constantFrom('x', 'y', 'z'), sel, fc.array(rule, { maxLength: 2 }), fc.boolean());
    const policies = fc.array(pol, { minLength: 1, maxLength: 3 });
    const samples = fc.sample(policies, { numRuns: 30, seed: 4242 });
    for (const [i, ps] of samples.entries()) {
      const yaml = ps
        .map(([ns, s, rules, egress], j) =>
          policy(
            ns,
            `r${j}`,
            `podSelector: ${s}\npolicyTypes: [${egress ? 'Ingress, Egress' : 'Ingress'}]\ningress: [${rules.join(', ')}]${egress ? `\negress: [${rules.map((r) => r.replace('from:', 'to:')).join(', ')}]` : ''}`,
          ),
        )
        .join('');
      const f = file(`random-${i}.yaml`, yaml);
      lab.must(['apply', '-f', f]);
      try {
        const reach = matrix('reach', 80, 'TCP');
        const expect: Expect = (fr, t) => reach.get(`${fr}>${t}`) ?? false;
        const end = Date.now() + 15_000;
        let d: string[] = [];
        for (;;) {
          d = diff(matrix('probe', 80, 'TCP'), expect, 80, 'TCP');
          if (d.length === 0 || Date.now() > end) break;
          await new Promise((r) => setTimeout(r, 300));
        }
        assert.deepEqual(d, [], `case ${i} (seed 4242):\n${yaml}`);
      } finally {
        lab.must(['delete', '-f', f]);
      }
    }
  });
});
