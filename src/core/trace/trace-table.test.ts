/**
 * The trace table: one nftrace rule per hook for the probe's IP id and protocol, before every
 * other base chain weft has; the model's packet tracer sees it mark that packet and no other.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planFullRebuild } from '../nft/sync.js';
import { tracePacket } from '../nft/trace.js';
import { LAYOUT } from '../nft/layout.js';
import { NftFake } from '../../testkit/nft-fake.js';
import { traceTable } from './trace-table.js';

test('trace table: rendered for nft, loadable, and first at its hooks', async () => {
  const t = traceTable(4242, 'tcp');
  const text = planFullRebuild(t).render();
  assert.match(
    text,
    /add chain ip weft-trace-4242 prerouting \{ type filter hook prerouting priority -350; policy accept; \}/,
  );
  assert.match(text, /add rule ip weft-trace-4242 prerouting ip id 4242 meta l4proto "tcp" meta nftrace set 1/);
  assert.match(text, /add rule ip weft-trace-4242 output ip id 4242 meta l4proto "tcp" meta nftrace set 1/);
  await new NftFake().apply(planFullRebuild(t), 'trace');
  for (const spec of Object.values(LAYOUT))
    if (
      !spec.table.startsWith('weft-trace') &&
      (spec.hook === 'prerouting' || spec.hook === 'output') &&
      spec.family !== 'bridge'
    )
      assert.ok(
        spec.priority > LAYOUT.tracePrerouting.priority,
        `${spec.table} ${spec.chain} runs after the trace mark`,
      );
});

test('trace table: property: exactly the packets with that id and protocol are marked', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 65535 }),
      // Half the packets carry the traced id (the case that matters most), half any other.
      fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 65535 })),
      fc.constantFrom('tcp' as const, 'udp' as const, 'icmp' as const),
      fc.constantFrom('tcp' as const, 'udp' as const, 'icmp' as const),
      (id, other, proto, packetProto) => {
        const packetId = other ?? id;
        const r = tracePacket([traceTable(id, proto)], 'prerouting', {
          family: 4,
          saddr: '10.244.1.2',
          daddr: '10.244.2.3',
          protocol: packetProto,
          sport: 40000,
          dport: 80,
          ipId: packetId,
        });
        const marked = r.steps.some((s) => s.rule === 0);
        assert.equal(marked, id === packetId && proto === packetProto);
      },
    ),
    { numRuns: 300 },
  );
  assert.throws(() => traceTable(0, 'tcp'), /not 1\.\.65535/);
});
