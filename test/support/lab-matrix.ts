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

/** Every pod reaches every pod on 80/TCP and 81/UDP. */
export function assertAllConnected(lab: TestLab): void {
  for (const m of probeBoth(lab)) assert.deepEqual(surprises(m), [], `${m.port}/${m.protocol}`);
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
    const udp = lab.probe(['-A', '--port', '81', '--protocol', 'UDP']);
    assert.deepEqual(surprises(udp, s.expect), [], `${name}: 81/UDP`);
  } finally {
    lab.must(['delete', '-f', f]);
  }
  await waitFor('every pod connected again', () =>
    surprises(lab.probe(['-A', '--port', '80', '--protocol', 'TCP'])).length === 0 ? true : undefined,
  );
}
