/**
 * The checks every backend's lab suite makes on the example cluster (examples/xyz, 9 pods): the
 * 9 × 9 matrix on 80/TCP and 81/UDP measured with real traffic, the pairs that differ from what
 * is expected, and the NetworkPolicy smoke scenarios of the policy suite (a deny, an allow by
 * namespace, an egress deny) applied, checked on both ports, and removed. Shared by
 * test/lab-segments.test.ts, test/lab-bgp.test.ts and test/lab-udp.test.ts.
 */

import assert from 'node:assert/strict';
import type { ProbeJson, TestLab } from './lab.js';
import { waitFor } from './cluster.js';
import { ALL, SCENARIOS, type Expect } from './policy-scenarios.js';

/** The example's 9 × 9 matrix measured on 80/TCP and on 81/UDP. */
export function probeBoth(lab: TestLab, extra: string[] = []): ProbeJson[] {
  return (
    [
      ['80', 'TCP'],
      ['81', 'UDP'],
    ] as const
  ).map(([port, protocol]) => {
    const m = lab.probe(['-A', '--port', port, '--protocol', protocol, ...extra]);
    assert.equal(m.results.length, 81, `${port}/${protocol}`);
    return m;
  });
}

/** The pairs whose outcome is not what `expect` says (a pod always reaches itself), as "from → to on P: ...". */
export function surprises(m: ProbeJson, expect: Expect = ALL): string[] {
  return m.results
    .filter((r) => r.connected !== (r.from === r.to || expect(r.from, r.to, m.port, m.protocol as 'TCP' | 'UDP')))
    .map((r) => `${r.from} → ${r.to} on ${m.port}/${m.protocol}: ${r.connected ? 'connected' : 'not connected'}`);
}

/**
 * The differences one probe run gives (`run`), confirmed: a pair that should connect but did not
 * is probed again (twice more at most) and stays a difference only if it never connects; a leak
 * (`isLeak`: a pair that connected but should not) is a difference at once, from any run. An
 * attempt has a short timeout, and on a starved 2-core machine a source pod's prober can miss it
 * whole; a refused connection never succeeds by chance.
 */
export function confirmed(run: () => string[], isLeak: (difference: string) => boolean): string[] {
  let out = run();
  for (let i = 0; i < 2 && out.some((d) => !isLeak(d)); i++) {
    const again = run();
    out = [...new Set([...out.filter((d) => isLeak(d) || again.includes(d)), ...again.filter(isLeak)])];
  }
  return out;
}

/** surprises() of a probe, confirmed (see confirmed()). */
export function confirmedSurprises(probe: () => ProbeJson, expect: Expect = ALL): string[] {
  return confirmed(
    () => surprises(probe(), expect),
    (s) => s.endsWith(': connected'),
  );
}

/** Every pod reaches every pod on 80/TCP and 81/UDP. */
export function assertAllConnected(lab: TestLab): void {
  for (const [port, protocol] of [
    ['80', 'TCP'],
    ['81', 'UDP'],
  ] as const) {
    const probe = () => {
      const m = lab.probe(['-A', '--port', port, '--protocol', protocol]);
      assert.equal(m.results.length, 81, `${port}/${protocol}`);
      return m;
    };
    assert.deepEqual(confirmedSurprises(probe), [], `${port}/${protocol}`);
  }
}

/** The policy suite's scenarios every backend is checked with. */
export const SMOKE_SCENARIOS = [
  'deny all ingress to x',
  'allow ingress to x from namespace y',
  'deny all egress from x',
] as const;

/**
 * Applies one smoke scenario, waits until 80/TCP shows exactly its verdicts, checks 81/UDP
 * against them too, removes it and waits until every pod is connected again.
 */
export async function policySmoke(lab: TestLab, name: (typeof SMOKE_SCENARIOS)[number]): Promise<void> {
  const s = SCENARIOS.find((x) => x.name === name);
  assert.ok(s && typeof s.yaml === 'string', name);
  const f = lab.file('policy.yaml', s.yaml);
  lab.must(['apply', '-f', f]);
  try {
    await waitFor(`80/TCP matching "${name}"`, () =>
      surprises(lab.probe(['-A', '--port', '80', '--protocol', 'TCP', '--timeout-ms', '600']), s.expect).length === 0
        ? true
        : undefined,
    );
    const udp = () => lab.probe(['-A', '--port', '81', '--protocol', 'UDP']);
    assert.deepEqual(confirmedSurprises(udp, s.expect), [], `${name}: 81/UDP`);
  } finally {
    lab.must(['delete', '-f', f]);
  }
  await waitFor('every pod connected again', () =>
    surprises(lab.probe(['-A', '--port', '80', '--protocol', 'TCP'])).length === 0 ? true : undefined,
  );
}
