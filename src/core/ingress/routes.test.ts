/**
 * The Ingress matcher against the specification: the shared table of host/path cases (the lab
 * test sends the same requests through nginx), the conflicts the table reports, and a property:
 * the nginx location choice over the table's keys picks what the specification's own wording
 * (specMatch) picks, for any set of Exact and Prefix paths and any request path.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManifest } from '../k8s/parse.js';
import type { Ingress } from '../k8s/objects.js';
import { buildRouteTable, hostMatches, matchRequest, normalizeHost, selectLocation, specMatch } from './routes.js';
import { ROUTE_CASES, ROUTE_INGRESSES } from '../../testkit/ingress-cases.js';

const ingresses = parseManifest(ROUTE_INGRESSES) as Ingress[];
const table = buildRouteTable(ingresses);

test('the table has at least 40 cases', () => assert.ok(ROUTE_CASES.length >= 40, String(ROUTE_CASES.length)));

for (const c of ROUTE_CASES)
  test(`${c.host} ${c.path} → ${c.want} (${c.why})`, () => {
    const m = matchRequest(table, c.host, c.path);
    const got = m.kind === 'none' ? 404 : m.backend.service;
    assert.equal(got, c.want);
  });

test('zz-shadow loses both of its paths, and says so', () => {
  assert.deepEqual(
    table.conflicts.map((c) => c.ingress),
    ['routes/zz-shadow', 'routes/zz-shadow'],
  );
  assert.match(
    table.conflicts[0]!.message,
    /Exact \/foo on host exact\.example\.com is shadowed by Exact \/foo of routes\/routes/,
  );
});

test('ingress order, not manifest order, decides: the same table from reversed input', () => {
  assert.deepEqual(buildRouteTable([...ingresses].reverse()), table);
});

test('hosts: normalized (case, port, trailing dot) and wildcards of exactly one label', () => {
  const cases: Array<[string, string]> = [
    ['A.Example.COM', 'a.example.com'],
    ['a.example.com:8080', 'a.example.com'],
    ['a.example.com.', 'a.example.com'],
    ['[::1]:80', '[::1]'],
  ];
  for (const [raw, want] of cases) assert.equal(normalizeHost(raw), want, raw);
  const wild: Array<[string, string, boolean]> = [
    ['*.x.io', 'a.x.io', true],
    ['*.x.io', 'x.io', false],
    ['*.x.io', 'a.b.x.io', false],
    ['*.x.io', '.x.io', false],
    ['a.x.io', 'a.x.io', true],
    ['a.x.io', 'b.x.io', false],
  ];
  for (const [rule, host, want] of wild) assert.equal(hostMatches(rule, host), want, `${rule} ${host}`);
});

const segment = fc.constantFrom('a', 'b', 'ab', 'foo', 'fo');
const pathArb = fc
  .tuple(fc.array(segment, { maxLength: 3 }), fc.boolean())
  .map(([segs, slash]) => `/${segs.join('/')}${slash && segs.length > 0 ? '/' : ''}`);

test('property: the location keys choose what the specification chooses (Exact and Prefix)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ path: pathArb, pathType: fc.constantFrom('Exact' as const, 'Prefix' as const) }), {
        minLength: 1,
        maxLength: 6,
      }),
      pathArb,
      (paths, request) => {
        const ing: Ingress = {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: 'p', namespace: 'n', labels: {}, annotations: {} },
          spec: {
            tls: [],
            rules: [
              {
                host: 'h',
                http: {
                  paths: paths.map((p, i) => ({ ...p, backend: { service: { name: `s${i}`, port: { number: 80 } } } })),
                },
              },
            ],
          },
        };
        const vh = buildRouteTable([ing]).hosts[0]!;
        const got = selectLocation(vh, request)?.route.backend.service;
        const want = specMatch(paths, request);
        assert.equal(got, want < 0 ? undefined : `s${want}`, `${JSON.stringify(paths)} ${request}`);
      },
    ),
    { numRuns: 2000 },
  );
});
