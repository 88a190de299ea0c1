/**
 * The readiness probe state machine: kubelet's thresholds (table of result sequences), its timing
 * (initial delay, period, a slow probe delaying the next), the pod-level AND over containers, and
 * a property: readiness is exactly what the latest run of results that reached its threshold says.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PodReadiness, recordResult, startProbe, type ProbeTiming } from './readiness.js';

const timing = (t: Partial<ProbeTiming> = {}): ProbeTiming => ({
  initialDelaySeconds: 0,
  periodSeconds: 10,
  successThreshold: 1,
  failureThreshold: 3,
  ...t,
});

/** The readiness after each result of a sequence ('s' success, 'f' failure), as a string of R / n. */
function readinessAfter(t: ProbeTiming, results: string, initiallyReady = false): string {
  let s = startProbe(t, 0, initiallyReady);
  let out = '';
  for (const r of results) {
    s = recordResult(s, r === 's');
    out += s.ready ? 'R' : 'n';
  }
  return out;
}

const sequences: Array<[string, ProbeTiming, string, string, boolean?]> = [
  ['one success makes it Ready with the defaults', timing(), 'fs', 'nR'],
  ['starts not Ready: failures keep it so', timing(), 'fff', 'nnn'],
  ['three failures in a row (default failureThreshold) make it unready', timing(), 'sffsfff', 'RRRRRRn'],
  ['a success breaks a run of failures', timing(), 'sffsff', 'RRRRRR'],
  ['successThreshold 2 needs two in a row', timing({ successThreshold: 2 }), 'sfss', 'nnnR'],
  ['failureThreshold 1 flips at once', timing({ failureThreshold: 1 }), 'sfs', 'RnR'],
  ['a pod that was Ready stays Ready through fewer failures than the threshold', timing(), 'ff', 'RR', true],
  ['a pod that was Ready goes unready after the threshold', timing(), 'fff', 'RRn', true],
];

for (const [name, t, results, want, initiallyReady] of sequences) {
  test(`readiness: ${name}`, () => assert.equal(readinessAfter(t, results, initiallyReady), want));
}

test('the first probe waits initialDelaySeconds, then one runs every periodSeconds', () => {
  const r = new PodReadiness([{ container: 'c', timing: timing({ initialDelaySeconds: 5, periodSeconds: 2 }) }], 1_000);
  assert.equal(r.ready, false);
  assert.deepEqual(r.due(5_999), []);
  assert.equal(r.nextWakeAt(), 6_000);
  assert.deepEqual(r.due(6_000), ['c']);
  r.begin('c', 6_000);
  assert.deepEqual(r.due(9_000), [], 'a running probe is not started again');
  assert.equal(r.nextWakeAt(), undefined);
  assert.equal(r.finish('c', true), true, 'the pod became Ready');
  assert.equal(r.ready, true);
  assert.equal(r.nextWakeAt(), 8_000);
  assert.deepEqual(r.due(7_999), []);
  assert.deepEqual(r.due(8_000), ['c']);
});

test('a probe slower than its period delays the next one: due as soon as it ends', () => {
  const r = new PodReadiness([{ container: 'c', timing: timing({ periodSeconds: 1 }) }], 0);
  r.begin('c', 0);
  // The probe ends at 3 s, past the 1 s period: the next is due at once, not three times.
  assert.equal(r.finish('c', false), false);
  assert.deepEqual(r.due(3_000), ['c']);
  r.begin('c', 3_000);
  assert.equal(r.nextWakeAt(), undefined);
  r.finish('c', true);
  assert.equal(r.nextWakeAt(), 4_000);
});

test('a pod is Ready when every container is; a pod without probes is Ready at once', () => {
  assert.equal(new PodReadiness([], 0).ready, true);
  const r = new PodReadiness(
    [
      { container: 'a', timing: timing() },
      { container: 'b', timing: timing({ successThreshold: 2 }) },
    ],
    0,
  );
  r.begin('a', 0);
  r.begin('b', 0);
  assert.equal(r.finish('a', true), false, 'a alone does not make the pod Ready');
  assert.equal(r.finish('b', true), false);
  r.begin('b', 10_000);
  assert.equal(r.finish('b', true), true);
  assert.equal(r.ready, true);
  r.begin('a', 10_000);
  r.finish('a', false);
  r.begin('a', 20_000);
  r.finish('a', false);
  r.begin('a', 30_000);
  assert.equal(r.finish('a', false), true, 'a third failure of a makes the pod unready');
  assert.equal(r.ready, false);
});

test('property: readiness is what the latest run that reached its threshold says (the start value before any)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      fc.boolean(),
      fc.array(fc.boolean(), { maxLength: 40 }),
      (successThreshold, failureThreshold, start, results) => {
        const t = timing({ successThreshold, failureThreshold });
        let s = startProbe(t, 0, start);
        results.forEach((ok, i) => {
          s = recordResult(s, ok);
          // Reference: walk back from i to the latest index j whose run ending there reached its threshold.
          let expected = start;
          for (let j = i; j >= 0; j--) {
            const need = results[j] ? successThreshold : failureThreshold;
            let run = 0;
            for (let k = j; k >= 0 && results[k] === results[j]; k--) run++;
            if (run >= need) {
              expected = results[j]!;
              break;
            }
          }
          assert.equal(
            s.ready,
            expected,
            `after ${results
              .slice(0, i + 1)
              .map((r) => (r ? 's' : 'f'))
              .join('')}`,
          );
        });
      },
    ),
  );
});
